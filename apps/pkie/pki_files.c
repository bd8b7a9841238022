/* `pkie pki`: reading certificates, keys, CRLs and passwords from files. */
#include "pki_cli.h"

#include "pkie/wipe.h"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX     (16L * 1024 * 1024)
#define PASSWORD_MAX 1024

/* Whole file into memory (bounded). NULL after printing an error. */
static unsigned char *slurp(const char *path, const char *what, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    if (f == NULL) {
        fprintf(stderr, "pkie pki: %s '%s': %s\n", what, path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "pkie pki: %s '%s': cannot read\n", what, path);
        goto out;
    }
    if (*len == 0 || *len > FILE_MAX) {
        fprintf(stderr, "pkie pki: %s '%s': %s\n", what, path,
                *len == 0 ? "empty file" : "file too large");
        goto out;
    }
    buf = malloc((size_t)*len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)*len, f) != (size_t)*len) {
        fprintf(stderr, "pkie pki: %s '%s': cannot read\n", what, path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[*len] = '\0';
out:
    fclose(f);
    return buf;
}

char *pki_cli_password(const char *spec, const char *what)
{
    char *out = NULL;
    if (strncmp(spec, "env:", 4) == 0) {
        const char *v = getenv(spec + 4);
        if (v == NULL) {
            fprintf(stderr, "pkie pki: %s: environment variable '%s' is not set\n", what, spec + 4);
            return NULL;
        }
        out = strdup(v);
    } else if (strncmp(spec, "file:", 5) == 0) {
        long len = 0;
        unsigned char *buf = slurp(spec + 5, what, &len);
        if (buf == NULL)
            return NULL;
        size_t n = strcspn((char *)buf, "\r\n");
        buf[n] = '\0';
        out = strdup((char *)buf);
        pkie_wipe_free(buf, (size_t)len);
    } else if (strncmp(spec, "pass:", 5) == 0) {
        fprintf(stderr,
                "pkie pki: warning: %s pass:... shows the password to other users; "
                "use env: or file:\n",
                what);
        out = strdup(spec + 5);
    } else {
        fprintf(stderr, "pkie pki: %s '%s': expected env:VAR, file:PATH or pass:TEXT\n", what,
                spec);
        return NULL;
    }
    if (out == NULL) {
        fprintf(stderr, "pkie pki: out of memory\n");
        return NULL;
    }
    if (strlen(out) > PASSWORD_MAX || out[0] == '\0') {
        fprintf(stderr, "pkie pki: %s: password %s\n", what,
                out[0] == '\0' ? "is empty" : "is too long");
        pkie_wipe_free_str(out);
        return NULL;
    }
    return out;
}

static int is_pem(const unsigned char *buf, long len)
{
    return len > 10 && strstr((const char *)buf, "-----BEGIN ") != NULL;
}

/* PKCS#12: certificate and key. 0 on success. */
static int read_p12(const unsigned char *buf, long len, const char *pass, X509 **cert,
                    EVP_PKEY **key)
{
    const unsigned char *p = buf;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, len);
    STACK_OF(X509) *ca = NULL;
    int ok;
    if (p12 == NULL)
        return -1;
    ok = PKCS12_parse(p12, pass != NULL ? pass : "", key, cert, &ca);
    PKCS12_free(p12);
    /* without a key, PKCS12_parse returns every certificate in ca: take the first */
    if (ok == 1 && *cert == NULL && sk_X509_num(ca) > 0)
        *cert = sk_X509_shift(ca);
    sk_X509_pop_free(ca, X509_free);
    return ok == 1 && *cert != NULL ? 0 : -2;
}

X509 *pki_cli_read_cert(const char *path, const char *pass, EVP_PKEY **p12_key)
{
    long len = 0;
    unsigned char *buf = slurp(path, "--cert", &len);
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (buf == NULL)
        return NULL;
    if (is_pem(buf, len)) {
        BIO *b = BIO_new_mem_buf(buf, (int)len);
        cert = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        X509 *more = cert != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        if (more != NULL)
            fprintf(stderr,
                    "pkie pki: warning: --cert '%s': only its first certificate is "
                    "imported\n",
                    path);
        X509_free(more);
        BIO_free(b);
    } else {
        const unsigned char *p = buf;
        cert = d2i_X509(NULL, &p, len);
        if (cert != NULL && p != buf + len) {
            X509_free(cert);
            cert = NULL;
        }
        if (cert == NULL) {
            int r = read_p12(buf, len, pass, &cert, &key);
            if (r == -2) {
                fprintf(stderr,
                        "pkie pki: --cert '%s': cannot open the PKCS#12 file (wrong or "
                        "missing --key-pass?)\n",
                        path);
                free(buf);
                ERR_clear_error();
                return NULL;
            }
        }
    }
    free(buf);
    ERR_clear_error();
    if (cert == NULL) {
        fprintf(stderr, "pkie pki: --cert '%s': not a certificate (PEM, DER or PKCS#12)\n", path);
        return NULL;
    }
    if (p12_key != NULL)
        *p12_key = key;
    else
        EVP_PKEY_free(key);
    return cert;
}

EVP_PKEY *pki_cli_read_key(const char *path, const char *pass)
{
    long len = 0;
    unsigned char *buf = slurp(path, "--key", &len);
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *d = NULL;
    int reported = 0;
    if (buf == NULL)
        return NULL;
    d = OSSL_DECODER_CTX_new_for_pkey(&key, NULL, NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
    if (d != NULL && pass != NULL)
        OSSL_DECODER_CTX_set_passphrase(d, (const unsigned char *)pass, strlen(pass));
    const unsigned char *p = buf;
    size_t left = (size_t)len;
    if (d == NULL || OSSL_DECODER_from_data(d, &p, &left) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
        X509 *c = NULL;
        if (!is_pem(buf, len) && read_p12(buf, len, pass, &c, &key) == 0 && key == NULL) {
            fprintf(stderr, "pkie pki: --key '%s': the PKCS#12 file holds no key\n", path);
            reported = 1;
        }
        X509_free(c);
    }
    OSSL_DECODER_CTX_free(d);
    pkie_wipe_free(buf, (size_t)len);
    ERR_clear_error();
    if (key == NULL && !reported)
        fprintf(stderr,
                "pkie pki: --key '%s': cannot read a private key (encrypted? give "
                "--key-pass)\n",
                path);
    return key;
}

X509_CRL *pki_cli_read_crl(const char *path)
{
    long len = 0;
    unsigned char *buf = slurp(path, "CRL", &len);
    X509_CRL *crl = NULL;
    if (buf == NULL)
        return NULL;
    if (is_pem(buf, len)) {
        BIO *b = BIO_new_mem_buf(buf, (int)len);
        crl = b != NULL ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    } else {
        const unsigned char *p = buf;
        crl = d2i_X509_CRL(NULL, &p, len);
        if (crl != NULL && p != buf + len) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    free(buf);
    ERR_clear_error();
    if (crl == NULL)
        fprintf(stderr, "pkie pki: CRL '%s': not a CRL (PEM or DER)\n", path);
    return crl;
}
