/* Loading credentials and saving results for `pkie cmp`: pass phrase
 * sources, certificates, keys, CSRs, CRLs (PEM or DER), and names. */
#include "cmp_client.h"
#include "pkie/wipe.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILE (16u << 20)

static void ossl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "unrecognised content");
    ERR_clear_error();
}

unsigned char *cmpc_read_file(const char *file, size_t max, size_t *len, const char *what)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "pkie cmp: %s: cannot open '%s': %s\n", what, file, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            if (cap >= max) {
                fprintf(stderr, "pkie cmp: %s: '%s' is larger than %zu bytes\n", what, file, max);
                free(buf);
                buf = NULL;
                break;
            }
            cap *= 2;
            unsigned char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                fprintf(stderr, "pkie cmp: %s: read error on '%s'\n", what, file);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    if (buf != NULL)
        *len = n;
    return buf;
}

char *cmpc_get_pass(const char *src, const char *what)
{
    char *r = NULL;
    if (strncmp(src, "pass:", 5) == 0) {
        r = strdup(src + 5);
    } else if (strncmp(src, "env:", 4) == 0) {
        const char *v = getenv(src + 4);
        if (v == NULL) {
            fprintf(stderr, "pkie cmp: %s: environment variable '%s' is not set\n", what, src + 4);
            return NULL;
        }
        r = strdup(v);
    } else if (strncmp(src, "file:", 5) == 0 || strncmp(src, "fd:", 3) == 0 ||
               strcmp(src, "stdin") == 0) {
        FILE *f;
        if (src[0] == 'f' && src[1] == 'i')
            f = fopen(src + 5, "r");
        else if (src[0] == 'f')
            f = fdopen(dup(atoi(src + 3)), "r");
        else
            f = stdin;
        if (f == NULL) {
            fprintf(stderr, "pkie cmp: %s: cannot open '%s': %s\n", what, src, strerror(errno));
            return NULL;
        }
        char line[4096];
        if (fgets(line, sizeof(line), f) == NULL)
            line[0] = '\0';
        if (f != stdin)
            fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        r = strdup(line);
        pkie_wipe(line, sizeof(line));
    } else {
        fprintf(stderr,
                "pkie cmp: %s: invalid pass phrase source (use pass:, env:, file:, fd: "
                "or stdin)\n",
                what);
        return NULL;
    }
    if (r == NULL)
        fprintf(stderr, "pkie cmp: out of memory\n");
    return r;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *p = u;
    if (p == NULL)
        return -1;
    int n = (int)strlen(p);
    if (n > size)
        n = size;
    memcpy(buf, p, (size_t)n);
    return n;
}

/* OpenSSL's callback argument is a void *: the pass phrase is not modified. */
static void *pass_arg(const char *pass)
{
    union {
        const char *c;
        void *v;
    } u = {pass};
    return u.v;
}

static int is_pem(const unsigned char *p, size_t n)
{
    static const char tag[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof(tag) - 1 <= n && i < 4096; i++)
        if (memcmp(p + i, tag, sizeof(tag) - 1) == 0)
            return 1;
    return 0;
}

static int load_certs_file(const char *file, STACK_OF(X509) *sk, const char *pass, const char *what)
{
    size_t n;
    unsigned char *data = cmpc_read_file(file, MAX_FILE, &n, what);
    if (data == NULL)
        return -1;
    int count = 0;
    if (is_pem(data, n)) {
        BIO *b = BIO_new_mem_buf(data, (int)n);
        X509 *x;
        while (b != NULL && (x = PEM_read_bio_X509(b, NULL, pem_pass_cb, pass_arg(pass))) != NULL) {
            if (!sk_X509_push(sk, x)) {
                X509_free(x);
                break;
            }
            count++;
        }
        BIO_free(b);
        ERR_clear_error(); /* the end of the file */
    } else {
        const unsigned char *p = data;
        X509 *x = d2i_X509(NULL, &p, (long)n);
        if (x != NULL && sk_X509_push(sk, x))
            count++;
        else
            X509_free(x);
    }
    free(data);
    if (count == 0) {
        char why[256];
        ossl_reason(why, sizeof(why));
        fprintf(stderr, "pkie cmp: %s: no certificate in '%s' (%s)\n", what, file, why);
        return -1;
    }
    return 0;
}

STACK_OF(X509) *cmpc_load_certs(const char *files, const char *pass, const char *what)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    char *copy = strdup(files);
    if (sk == NULL || copy == NULL) {
        fprintf(stderr, "pkie cmp: out of memory\n");
        goto err;
    }
    char *save = NULL;
    for (char *f = strtok_r(copy, ", ", &save); f != NULL; f = strtok_r(NULL, ", ", &save))
        if (load_certs_file(f, sk, pass, what) < 0)
            goto err;
    free(copy);
    return sk;
err:
    free(copy);
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

X509 *cmpc_load_cert(const char *file, const char *pass, const char *what)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL || load_certs_file(file, sk, pass, what) < 0) {
        sk_X509_pop_free(sk, X509_free);
        return NULL;
    }
    X509 *x = sk_X509_shift(sk);
    sk_X509_pop_free(sk, X509_free);
    return x;
}

EVP_PKEY *cmpc_load_key(const char *file, const char *pass, int allow_pub, const char *what)
{
    size_t n;
    unsigned char *data = cmpc_read_file(file, MAX_FILE, &n, what);
    if (data == NULL)
        return NULL;
    EVP_PKEY *k = NULL;
    if (is_pem(data, n)) {
        BIO *b = BIO_new_mem_buf(data, (int)n);
        if (b != NULL)
            k = PEM_read_bio_PrivateKey(b, NULL, pem_pass_cb, pass_arg(pass));
        if (k == NULL && allow_pub && b != NULL && BIO_reset(b) == 1)
            k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        k = d2i_AutoPrivateKey(NULL, &p, (long)n);
        if (k == NULL && allow_pub) {
            p = data;
            k = d2i_PUBKEY(NULL, &p, (long)n);
        }
    }
    pkie_wipe(data, n);
    free(data);
    if (k == NULL) {
        char why[256];
        ossl_reason(why, sizeof(why));
        fprintf(stderr, "pkie cmp: %s: cannot load key from '%s' (%s)\n", what, file, why);
    }
    ERR_clear_error();
    return k;
}

X509_REQ *cmpc_load_csr(const char *file, const char *what)
{
    size_t n;
    unsigned char *data = cmpc_read_file(file, MAX_FILE, &n, what);
    if (data == NULL)
        return NULL;
    X509_REQ *r = NULL;
    if (is_pem(data, n)) {
        BIO *b = BIO_new_mem_buf(data, (int)n);
        if (b != NULL)
            r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        r = d2i_X509_REQ(NULL, &p, (long)n);
    }
    free(data);
    if (r == NULL) {
        char why[256];
        ossl_reason(why, sizeof(why));
        fprintf(stderr, "pkie cmp: %s: cannot load CSR from '%s' (%s)\n", what, file, why);
    }
    return r;
}

X509_CRL *cmpc_load_crl(const char *file, const char *what)
{
    size_t n;
    unsigned char *data = cmpc_read_file(file, MAX_FILE, &n, what);
    if (data == NULL)
        return NULL;
    X509_CRL *c = NULL;
    if (is_pem(data, n)) {
        BIO *b = BIO_new_mem_buf(data, (int)n);
        if (b != NULL)
            c = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        c = d2i_X509_CRL(NULL, &p, (long)n);
    }
    free(data);
    if (c == NULL) {
        char why[256];
        ossl_reason(why, sizeof(why));
        fprintf(stderr, "pkie cmp: %s: cannot load CRL from '%s' (%s)\n", what, file, why);
    }
    return c;
}

X509_STORE *cmpc_load_store(const char *files, const char *what)
{
    STACK_OF(X509) *sk = cmpc_load_certs(files, NULL, what);
    if (sk == NULL)
        return NULL;
    X509_STORE *st = X509_STORE_new();
    for (int i = 0; st != NULL && i < sk_X509_num(sk); i++)
        if (!X509_STORE_add_cert(st, sk_X509_value(sk, i))) {
            X509_STORE_free(st);
            st = NULL;
        }
    sk_X509_pop_free(sk, X509_free);
    if (st == NULL)
        fprintf(stderr, "pkie cmp: %s: cannot build trust store\n", what);
    return st;
}

X509_NAME *cmpc_parse_name(const char *text, const char *what)
{
    size_t len = strlen(text);
    if (len == 0 || len > 4096) {
        fprintf(stderr, "pkie cmp: %s: empty or too long name\n", what);
        return NULL;
    }
    /* openssl also accepts "CN=x, O=y" without the leading slash */
    int slash = text[0] == '/';
    char *buf = malloc(len + 1);
    X509_NAME *n = X509_NAME_new();
    if (buf == NULL || n == NULL)
        goto err;
    const char *p = text + (slash ? 1 : 0);
    int set = 0;
    while (*p != '\0') {
        /* type */
        size_t tl = 0;
        while (*p != '\0' && *p != '=')
            buf[tl++] = *p++;
        buf[tl] = '\0';
        if (*p != '=') {
            fprintf(stderr, "pkie cmp: %s: missing '=' after '%s' in '%s'\n", what, buf, text);
            goto err;
        }
        p++;
        char *type = buf;
        char *val = buf + tl + 1;
        size_t vl = 0;
        char next = '\0';
        while (*p != '\0') {
            if (*p == '\\' && p[1] != '\0') {
                val[vl++] = p[1];
                p += 2;
                continue;
            }
            if ((slash && *p == '/') || (!slash && *p == ',') || *p == '+') {
                next = *p++;
                break;
            }
            val[vl++] = *p++;
        }
        val[vl] = '\0';
        while (!slash && *type == ' ')
            type++;
        if (!X509_NAME_add_entry_by_txt(n, type, MBSTRING_UTF8, (const unsigned char *)val, -1, -1,
                                        set)) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: %s: unknown attribute type '%s' in '%s'\n", what, type,
                    text);
            goto err;
        }
        set = next == '+' ? -1 : 0; /* -1: the next attribute joins this RDN */
        while (!slash && *p == ' ')
            p++;
    }
    free(buf);
    return n;
err:
    free(buf);
    X509_NAME_free(n);
    return NULL;
}

int cmpc_save_bytes(const char *file, const unsigned char *p, size_t len, const char *what)
{
    FILE *f = fopen(file, "wb");
    if (f == NULL || (len > 0 && fwrite(p, 1, len, f) != len)) {
        fprintf(stderr, "pkie cmp: %s: cannot write '%s': %s\n", what, file, strerror(errno));
        if (f != NULL)
            fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "pkie cmp: %s: cannot write '%s': %s\n", what, file, strerror(errno));
        return -1;
    }
    return 0;
}

int cmpc_save_certs(const char *file, STACK_OF(X509) *certs, int der, const char *what)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b != NULL;
    for (int i = 0; ok && i < sk_X509_num(certs); i++) {
        if (der) {
            ok = i2d_X509_bio(b, sk_X509_value(certs, i));
            break; /* DER holds one certificate */
        }
        ok = PEM_write_bio_X509(b, sk_X509_value(certs, i));
    }
    char *p = NULL;
    long n = ok ? BIO_get_mem_data(b, &p) : -1;
    int rc = n >= 0 ? cmpc_save_bytes(file, (unsigned char *)p, (size_t)n, what) : -1;
    if (n < 0)
        fprintf(stderr, "pkie cmp: %s: cannot encode certificates\n", what);
    BIO_free(b);
    return rc;
}
