/* CA keys: generation, PKCS#8 encryption at rest, passphrase input. */
#include "ca_internal.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBKDF2_ITER 100000

EVP_PKEY *pkie_ca_key_generate(const char *type)
{
    EVP_PKEY *k = NULL;
    if (type == NULL || strcmp(type, "ec:P-256") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (strcmp(type, "ec:P-384") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    else if (strcmp(type, "ed25519") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if (strncmp(type, "rsa:", 4) == 0) {
        char *end = NULL;
        long bits = strtol(type + 4, &end, 10);
        if (end == type + 4 || *end != '\0' || bits < 2048 || bits > 8192) {
            PKIE_ERR(PKIE_ERR_ARG, "RSA size must be 2048..8192 bits: '%s'", type);
            return NULL;
        }
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else {
        PKIE_ERR(PKIE_ERR_ARG, "unknown key type '%s' (ec:P-256, ec:P-384, rsa:3072, ed25519)",
                 type);
        return NULL;
    }
    if (k == NULL)
        PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "key generation (%s) failed", type);
    return k;
}

char *pkie_ca_key_encrypt(EVP_PKEY *key, const char *pass)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    X509_SIG *sig = NULL;
    X509_ALGOR *alg = NULL;
    BIO *bio = NULL;
    char *out = NULL;
    if (pass == NULL || pass[0] == '\0') {
        PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "a passphrase is required to store a CA key");
        return NULL;
    }
    p8 = EVP_PKEY2PKCS8(key);
    alg = p8 != NULL
              ? PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), PBKDF2_ITER, NULL, 0, NULL, NID_hmacWithSHA256)
              : NULL;
    if (alg == NULL)
        goto err;
    sig = PKCS8_set0_pbe(pass, (int)strlen(pass), p8, alg);
    if (sig == NULL)
        goto err;
    alg = NULL;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PKCS8(bio, sig) != 1)
        goto err;
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    out = malloc((size_t)n + 1);
    if (out == NULL)
        goto err;
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    goto done;
err:
    PKIE_ERR_OSSL(PKIE_ERR_CA_KEYFILE, "cannot encrypt the CA key");
done:
    X509_ALGOR_free(alg);
    X509_SIG_free(sig);
    PKCS8_PRIV_KEY_INFO_free(p8);
    BIO_free(bio);
    return out;
}

EVP_PKEY *pkie_ca_key_decrypt(const char *pem, const char *pass)
{
    if (pass == NULL || pass[0] == '\0') {
        PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "a passphrase is required to use the CA key");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k =
        bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)(uintptr_t)pass) : NULL;
    BIO_free(bio);
    if (k == NULL) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_REASON(e) == EVP_R_BAD_DECRYPT || ERR_GET_LIB(e) == ERR_LIB_PEM ||
            ERR_GET_LIB(e) == ERR_LIB_PKCS12)
            PKIE_ERR_OSSL(PKIE_ERR_CA_PASSWORD, "wrong CA passphrase");
        else
            PKIE_ERR_OSSL(PKIE_ERR_CA_KEYFILE, "cannot decrypt the CA key");
    }
    return k;
}

static char *read_first_line(FILE *f)
{
    char buf[1024];
    if (fgets(buf, sizeof(buf), f) == NULL) {
        PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "passphrase file is empty");
        return NULL;
    }
    size_t n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    char *s = NULL;
    if (n == 0)
        PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "passphrase is empty");
    else if ((s = strdup(buf)) == NULL)
        PKIE_ERR(PKIE_ERR_NOMEM, "passphrase");
    pkie_wipe(buf, sizeof(buf));
    return s;
}

char *pkie_ca_pass_read(const char *pass_file, const char *spec)
{
    if (pass_file != NULL) {
        FILE *f = fopen(pass_file, "r");
        if (f == NULL) {
            PKIE_ERR(PKIE_ERR_IO, "cannot open passphrase file %s: %s", pass_file, strerror(errno));
            return NULL;
        }
        char *s = read_first_line(f);
        fclose(f);
        return s;
    }
    const char *var = "PKIE_CA_PASS";
    if (spec != NULL) {
        if (strncmp(spec, "env:", 4) != 0 || spec[4] == '\0') {
            PKIE_ERR(PKIE_ERR_ARG, "passphrase source must be env:VAR (never the passphrase)");
            return NULL;
        }
        var = spec + 4;
    }
    const char *v = getenv(var);
    if (v == NULL || v[0] == '\0') {
        PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "no passphrase: use --pass-file F or set %s", var);
        return NULL;
    }
    char *s = strdup(v);
    if (s == NULL)
        PKIE_ERR(PKIE_ERR_NOMEM, "passphrase");
    return s;
}
