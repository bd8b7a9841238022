/* Loading credentials and saving results for `pkie cmp`: pass phrase
 * sources, certificates, keys, CSRs, CRLs (PEM or DER), and names. */
#include "cmp_client.h"
#include "cmp_client_fastload.h"
#include "pkie/wipe.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/ui.h>

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

/* One pass phrase source as OpenSSL's app_passwd reads it; NULL after a
 * one-line reason. */
static char *pass_source(const char *src)
{
    if (strncmp(src, "pass:", 5) == 0)
        return strdup(src + 5);
    if (strncmp(src, "env:", 4) == 0) {
        const char *v = getenv(src + 4);
        if (v == NULL) {
            fprintf(stderr, "pkie cmp: No environment variable %s\n", src + 4);
            return NULL;
        }
        return strdup(v);
    }
    FILE *f = NULL;
    if (strncmp(src, "file:", 5) == 0) {
        f = fopen(src + 5, "r");
    } else if (strncmp(src, "fd:", 3) == 0) {
        int fd = atoi(src + 3);
        int d = fd >= 0 ? dup(fd) : -1;
        f = d >= 0 ? fdopen(d, "r") : NULL;
        if (f == NULL && d >= 0)
            close(d);
    } else if (strcmp(src, "stdin") == 0) {
        f = stdin;
    } else {
        const char *colon = strchr(src, ':');
        if (colon == NULL || colon - src > 4)
            fprintf(stderr, "pkie cmp: Invalid password argument, missing ':' within the first 5 "
                            "chars\n");
        else
            fprintf(stderr, "pkie cmp: Invalid password argument, starting with \"%.*s\"\n",
                    (int)(colon - src + 1), src);
        return NULL;
    }
    if (f == NULL) {
        fprintf(stderr, "pkie cmp: Can't open %s: %s\n", src, strerror(errno));
        return NULL;
    }
    char line[1024]; /* APP_PASS_LEN */
    char *r = NULL;
    if (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        r = strdup(line);
    } else {
        fprintf(stderr, "pkie cmp: Error reading password from %s\n", src);
    }
    if (f != stdin)
        fclose(f);
    pkie_wipe(line, sizeof(line));
    return r;
}

char *cmpc_get_pass(const char *src, const char *what)
{
    char *r = pass_source(src);
    if (r == NULL) {
        /* as OpenSSL 3's get_passwd: the argument itself is the pass phrase */
        fprintf(stderr,
                "pkie cmp: Error getting password for %s\n"
                "pkie cmp: Trying plain input string (better precede with 'pass:')\n",
                what);
        r = strdup(src);
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

/* Load what is asked for from one file or URI through OSSL_STORE, as
 * OpenSSL's apps do (load_key_certs_crls): PEM, DER, PKCS#12, encrypted
 * PKCS#8, with @p pass for whatever is encrypted (never a prompt). A private
 * key, a public key, the first certificate, or all certificates (appended
 * to *certs). 0, or -1 after a one-line error unless @p quiet. */
static int store_load(const char *uri, const char *pass, const char *what, int quiet,
                      EVP_PKEY **pkey, EVP_PKEY **pubkey, X509 **cert, STACK_OF(X509) **certs)
{
    /* the common unencrypted formats without OpenSSL's decoders
     * (cmp_client_fastload.c): exactly what OSSL_STORE would load, or
     * nothing and OSSL_STORE decides */
    if (pkey != NULL && pubkey == NULL && cert == NULL && certs == NULL &&
        (*pkey = cmpc_fast_key(uri)) != NULL)
        return 0;
    if (pkey == NULL && pubkey == NULL && (cert != NULL) != (certs != NULL)) {
        STACK_OF(X509) *sk = certs != NULL ? *certs : sk_X509_new_null();
        int ok = sk != NULL && cmpc_fast_certs(uri, sk);
        if (ok && cert != NULL) {
            *cert = sk_X509_shift(sk);
            sk_X509_pop_free(sk, X509_free);
        } else if (cert != NULL) {
            sk_X509_free(sk);
        }
        if (ok)
            return 0;
    }
    int expect = pkey != NULL                    ? OSSL_STORE_INFO_PKEY
                 : pubkey != NULL                ? OSSL_STORE_INFO_PUBKEY
                 : cert != NULL || certs != NULL ? OSSL_STORE_INFO_CERT
                                                 : 0;
    if (pkey != NULL && (cert != NULL || certs != NULL))
        expect = 0; /* several kinds */
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pem_pass_cb, 0);
    OSSL_STORE_CTX *sc = NULL;
    int ncerts = 0, failed = 0;
    ERR_set_mark();
    if (ui != NULL)
        sc = OSSL_STORE_open_ex(uri, NULL, NULL, ui, pass_arg(pass), NULL, NULL, NULL);
    if (sc == NULL || (expect > 0 && !OSSL_STORE_expect(sc, expect))) {
        failed = 1;
        goto end;
    }
    while ((pkey != NULL || pubkey != NULL || cert != NULL || certs != NULL) &&
           !OSSL_STORE_eof(sc)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(sc);
        if (info == NULL)
            continue; /* an object of another kind, or one that does not decode */
        int ok = 1;
        switch (OSSL_STORE_INFO_get_type(info)) {
        case OSSL_STORE_INFO_PKEY:
            if (pkey != NULL) {
                ok = (*pkey = OSSL_STORE_INFO_get1_PKEY(info)) != NULL;
                pkey = ok ? NULL : pkey;
            } else if (pubkey != NULL) { /* a private key holds the public key */
                ok = (*pubkey = OSSL_STORE_INFO_get1_PUBKEY(info)) != NULL;
                pubkey = ok ? NULL : pubkey;
            }
            break;
        case OSSL_STORE_INFO_PUBKEY:
            if (pubkey != NULL) {
                ok = (*pubkey = OSSL_STORE_INFO_get1_PUBKEY(info)) != NULL;
                pubkey = ok ? NULL : pubkey;
            }
            break;
        case OSSL_STORE_INFO_CERT:
            if (cert != NULL) {
                ok = (*cert = OSSL_STORE_INFO_get1_CERT(info)) != NULL;
                cert = ok ? NULL : cert;
            } else if (certs != NULL) {
                X509 *x = OSSL_STORE_INFO_get1_CERT(info);
                ok = x != NULL && X509_add_cert(*certs, x, X509_ADD_FLAG_DEFAULT);
                if (!ok)
                    X509_free(x);
            }
            ncerts += ok;
            break;
        default:
            break; /* other objects are skipped */
        }
        OSSL_STORE_INFO_free(info);
        if (!ok) {
            failed = 1;
            break;
        }
    }
end:
    OSSL_STORE_close(sc);
    UI_destroy_method(ui);
    if (ncerts > 0)
        certs = NULL; /* a chain may be empty once the first certificate is read */
    if ((failed || pkey != NULL || pubkey != NULL || cert != NULL || certs != NULL) && quiet) {
        ERR_pop_to_mark();
        return -1;
    }
    if (failed || pkey != NULL || pubkey != NULL || cert != NULL || certs != NULL) {
        unsigned long e = ERR_peek_last_error();
        char why[256] = "";
        if (e != 0)
            ERR_error_string_n(e, why, sizeof(why));
        fprintf(stderr, "pkie cmp: %s: could not load %s from '%s'%s%s\n", what,
                pkey != NULL     ? "private key"
                : pubkey != NULL ? "public key"
                                 : "certificate",
                uri, e != 0 ? ": " : "", why);
        ERR_pop_to_mark();
        return -1;
    }
    ERR_pop_to_mark();
    return 0;
}

/* ", " separated lists of URIs, as openssl cmp's next_item splits them */
typedef int (*each_uri_fn)(const char *uri, void *arg);

static int for_each_uri(const char *list, each_uri_fn fn, void *arg)
{
    char *copy = strdup(list);
    if (copy == NULL) {
        fprintf(stderr, "pkie cmp: out of memory\n");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *f = strtok_r(copy, ", ", &save); rc == 0 && f != NULL;
         f = strtok_r(NULL, ", ", &save))
        rc = fn(f, arg);
    free(copy);
    return rc;
}

struct certs_arg {
    STACK_OF(X509) *sk;
    const char *pass, *what;
};

static int load_certs_one(const char *uri, void *arg)
{
    struct certs_arg *a = arg;
    return store_load(uri, a->pass, a->what, 0, NULL, NULL, NULL, &a->sk);
}

STACK_OF(X509) *cmpc_load_certs(const char *files, const char *pass, const char *what)
{
    struct certs_arg a = {sk_X509_new_null(), pass, what};
    if (a.sk == NULL || for_each_uri(files, load_certs_one, &a) < 0) {
        sk_X509_pop_free(a.sk, X509_free);
        return NULL;
    }
    return a.sk;
}

X509 *cmpc_load_cert(const char *file, const char *pass, const char *what)
{
    X509 *x = NULL;
    return store_load(file, pass, what, 0, NULL, NULL, &x, NULL) == 0 ? x : NULL;
}

int cmpc_load_cert_chain(const char *file, const char *pass, const char *what, X509 **cert,
                         STACK_OF(X509) **chain)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    *cert = NULL;
    *chain = NULL;
    if (sk == NULL || store_load(file, pass, what, 0, NULL, NULL, NULL, &sk) < 0) {
        sk_X509_pop_free(sk, X509_free);
        return -1;
    }
    *cert = sk_X509_shift(sk);
    *chain = sk;
    return 0;
}

EVP_PKEY *cmpc_load_key(const char *file, const char *pass, int allow_pub, const char *what)
{
    EVP_PKEY *k = NULL;
    /* a private key, else (if allowed) a public key */
    if (store_load(file, pass, what, allow_pub, &k, NULL, NULL, NULL) == 0)
        return k;
    return allow_pub && store_load(file, pass, what, 0, NULL, &k, NULL, NULL) == 0 ? k : NULL;
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
        if (OBJ_txt2nid(type) == NID_undef) {
            /* as openssl's parse_name: warned about and skipped */
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: warning: %s: Skipping unknown attribute \"%s\" in '%s'\n",
                    what, type, text);
        } else if (!X509_NAME_add_entry_by_txt(n, type, MBSTRING_UTF8, (const unsigned char *)val,
                                               -1, -1, set)) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: %s: bad value for '%s' in '%s'\n", what, type, text);
            goto err;
        } else {
            set = next == '+' ? -1 : 0; /* -1: the next attribute joins this RDN */
        }
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
