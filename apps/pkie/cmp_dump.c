/* `pkie cmp dump [--json] [--secret SPEC] [--trusted FILE] [--untrusted FILE] FILE...`:
 * decode DER or PEM CMP messages, print them, check that re-encoding gives
 * the same bytes and, when asked, verify their protection. */
#include "cmp_dump.h"

#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: pkie cmp dump [--json] [--secret SPEC] [--trusted FILE] [--untrusted FILE] "
          "FILE...\n\n"
          "Decode CMP messages (DER, or PEM with one or more blocks), print them as a tree\n"
          "(or JSON lines with --json), check that re-encoding gives the same bytes and,\n"
          "with --secret or --trusted, validate the protection.\n\n"
          "  --json            one JSON object per message\n"
          "  --secret SPEC     shared secret for MAC protection: pass:TEXT, env:VAR, file:PATH\n"
          "  --trusted FILE    PEM trust anchors for signature protection\n"
          "  --untrusted FILE  PEM intermediate certificates (extraCerts are used too)\n"
          "  --help            this help\n\n"
          "Exit status 0 when every message decodes, round-trips and (if asked) verifies.\n",
          out);
}

/* Secret from pass:, env: or file: (first line). Returns malloc'd bytes. */
static uint8_t *load_secret(const char *spec, size_t *len)
{
    const char *v = NULL;
    char *buf = NULL;
    if (strncmp(spec, "pass:", 5) == 0) {
        v = spec + 5;
    } else if (strncmp(spec, "env:", 4) == 0) {
        v = getenv(spec + 4);
        if (v == NULL) {
            fprintf(stderr, "pkie cmp dump: environment variable %s not set\n", spec + 4);
            return NULL;
        }
    } else if (strncmp(spec, "file:", 5) == 0) {
        FILE *f = fopen(spec + 5, "r");
        if (f == NULL) {
            fprintf(stderr, "pkie cmp dump: cannot read %s\n", spec + 5);
            return NULL;
        }
        buf = calloc(1, 4096);
        if (buf == NULL || fgets(buf, 4096, f) == NULL) {
            fclose(f);
            free(buf);
            fprintf(stderr, "pkie cmp dump: cannot read %s\n", spec + 5);
            return NULL;
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        v = buf;
    } else {
        fprintf(stderr, "pkie cmp dump: --secret must be pass:, env: or file: (got '%s')\n", spec);
        return NULL;
    }
    *len = strlen(v);
    uint8_t *out = malloc(*len + 1);
    if (out != NULL)
        memcpy(out, v, *len + 1);
    if (buf != NULL)
        pkie_wipe_free(buf, 4096);
    return out;
}

static STACK_OF(X509) *load_certs(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL)
        return NULL;
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *c;
    while (sk != NULL && (c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, c))
            X509_free(c);
    BIO_free(b);
    ERR_clear_error();
    if (sk != NULL && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

struct opts {
    int json;
    const uint8_t *secret;
    size_t secret_len;
    X509_STORE *trusted;
    STACK_OF(X509) *untrusted;
};

/* Report a failure for @p label. */
static void report_error(const struct opts *o, const char *label, const char *what)
{
    char buf[1024];
    pkie_err_format(buf, sizeof(buf));
    if (o->json) {
        fputs("{\"file\":", stdout);
        json_str(stdout, label);
        fputs(",\"ok\":false,\"error\":", stdout);
        char msg[1200];
        snprintf(msg, sizeof(msg), "%s: %s", what, buf);
        json_str(stdout, msg);
        fputs("}\n", stdout);
    }
    fprintf(stderr, "pkie cmp dump: %s: %s: %s\n", label, what, buf);
}

/* Decode, print, round-trip and verify one message. 0 when all is well. */
static int dump_one(const struct opts *o, const char *label, const uint8_t *der, size_t len)
{
    struct pkie_cmp_msg *m = NULL;
    uint8_t *re = NULL;
    size_t re_len = 0;
    int status = 0;
    if (pkie_cmp_msg_decode(der, len, NULL, &m) != 0) {
        report_error(o, label, "decode failed");
        return 1;
    }
    int same =
        pkie_cmp_msg_encode(m, &re, &re_len) == 0 && re_len == len && memcmp(re, der, len) == 0;
    free(re);
    const char *verdict = "not checked";
    char vbuf[600];
    if (o->secret != NULL || o->trusted != NULL) {
        struct pkie_cmp_vctx v;
        memset(&v, 0, sizeof(v));
        v.secret = o->secret;
        v.secret_len = o->secret_len;
        v.trusted = o->trusted;
        v.untrusted = o->untrusted;
        v.max_skew = -1;
        if (pkie_cmp_msg_validate(m, &v) == 0) {
            verdict =
                pkie_cmp_protection_is_mac(m) == 1 ? "verified (MAC)" : "verified (signature)";
            X509_free(v.signer);
        } else {
            const struct pkie_error *e = pkie_err_last();
            snprintf(vbuf, sizeof(vbuf), "FAILED: %s: %s", pkie_err_name(e->code), e->msg);
            verdict = vbuf;
            status = 1;
        }
    }
    if (!same)
        status = 1;
    if (o->json) {
        fputs("{\"file\":", stdout);
        json_str(stdout, label);
        fprintf(stdout, ",\"ok\":%s,\"length\":%zu,\"roundtrip\":%s,\"protection\":",
                status ? "false" : "true", len, same ? "true" : "false");
        json_str(stdout, verdict);
        fputs(",\"message\":", stdout);
        cmp_print_msg(stdout, m, 1);
        fputs("}\n", stdout);
    } else {
        printf("== %s (%zu bytes)\n", label, len);
        cmp_print_msg(stdout, m, 0);
        printf("re-encoding: %s\n", same ? "identical" : "DIFFERENT");
        printf("protection: %s\n", verdict);
    }
    if (!same)
        fprintf(stderr, "pkie cmp dump: %s: re-encoding differs from the input\n", label);
    if (status && !o->json && o->secret == NULL && o->trusted == NULL)
        status = 1;
    if (strncmp(verdict, "FAILED", 6) == 0)
        fprintf(stderr, "pkie cmp dump: %s: protection %s\n", label, verdict);
    pkie_cmp_msg_free(m);
    return status;
}

static int dump_file(const struct opts *o, const char *path)
{
    size_t len = 0;
    BIO *b = BIO_new_file(path, "rb");
    if (b == NULL) {
        fprintf(stderr, "pkie cmp dump: cannot open %s\n", path);
        return 1;
    }
    /* Read it whole (bounded) to tell PEM from DER. */
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    int n;
    while (buf != NULL && (n = BIO_read(b, buf + len, (int)(cap - len))) > 0) {
        len += (size_t)n;
        if (len == cap) {
            if (cap >= PKIE_CMP_DEFAULT_MAX_MSG_LEN * 4) {
                fprintf(stderr, "pkie cmp dump: %s: file too large\n", path);
                free(buf);
                BIO_free(b);
                return 1;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    BIO_free(b);
    if (buf == NULL) {
        fprintf(stderr, "pkie cmp dump: %s: out of memory\n", path);
        return 1;
    }
    int status = 0;
    if (len >= 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
        BIO *mem = BIO_new_mem_buf(buf, (int)len);
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;
        int count = 0;
        while (mem != NULL && PEM_read_bio(mem, &name, &header, &data, &dlen) == 1) {
            char label[4200];
            snprintf(label, sizeof(label), "%s[%d]", path, count++);
            status |= dump_one(o, label, data, (size_t)dlen);
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_free(data);
        }
        ERR_clear_error();
        BIO_free(mem);
        if (count == 0) {
            fprintf(stderr, "pkie cmp dump: %s: no PEM block\n", path);
            status = 1;
        }
    } else {
        status = dump_one(o, path, buf, len);
    }
    free(buf);
    return status;
}

int pkie_cmp_dump_main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof(o));
    uint8_t *secret = NULL;
    STACK_OF(X509) *anchors = NULL;
    int status = 1, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto done;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--secret") == 0 || strcmp(a, "--trusted") == 0 ||
                   strcmp(a, "--untrusted") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pkie cmp dump: %s needs a value\n", a);
                goto done;
            }
            const char *val = argv[++i];
            if (strcmp(a, "--secret") == 0) {
                pkie_wipe_free(secret, secret ? o.secret_len + 1 : 0);
                if ((secret = load_secret(val, &o.secret_len)) == NULL)
                    goto done;
                o.secret = secret;
            } else if (strcmp(a, "--trusted") == 0) {
                sk_X509_pop_free(anchors, X509_free);
                if ((anchors = load_certs(val)) == NULL) {
                    fprintf(stderr, "pkie cmp dump: no certificate in %s\n", val);
                    goto done;
                }
            } else {
                sk_X509_pop_free(o.untrusted, X509_free);
                if ((o.untrusted = load_certs(val)) == NULL) {
                    fprintf(stderr, "pkie cmp dump: no certificate in %s\n", val);
                    goto done;
                }
            }
        } else {
            fprintf(stderr, "pkie cmp dump: unknown option '%s'\n", a);
            goto done;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "pkie cmp dump: no FILE given (see pkie cmp dump --help)\n");
        goto done;
    }
    if (anchors != NULL) {
        o.trusted = X509_STORE_new();
        for (int k = 0; o.trusted != NULL && k < sk_X509_num(anchors); k++)
            X509_STORE_add_cert(o.trusted, sk_X509_value(anchors, k));
    }
    status = 0;
    for (; i < argc; i++)
        status |= dump_file(&o, argv[i]);
done:
    if (secret != NULL)
        pkie_wipe_free(secret, o.secret_len + 1);
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(o.untrusted, X509_free);
    X509_STORE_free(o.trusted);
    return status ? 1 : 0;
}
