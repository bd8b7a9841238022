/* Helpers shared by the CMP unit tests. */
#include "cmp_test_util.h"
#include "pkie/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8192;
            uint8_t *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

const char *tu_data(const char *rel)
{
    static char path[4096];
    const char *base = getenv("PKIE_TEST_DATA");
    snprintf(path, sizeof(path), "%s/%s", base ? base : "tests/data", rel);
    return path;
}

X509 *tu_cert(const char *rel)
{
    FILE *f = fopen(tu_data(rel), "r");
    if (f == NULL)
        return NULL;
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return c;
}

EVP_PKEY *tu_key(const char *rel)
{
    FILE *f = fopen(tu_data(rel), "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

X509_STORE *tu_store(const char *rel)
{
    X509 *c = tu_cert(rel);
    if (c == NULL)
        return NULL;
    X509_STORE *s = X509_STORE_new();
    X509_STORE_add_cert(s, c);
    X509_free(c);
    return s;
}

EVP_PKEY *tu_genkey(const char *kind)
{
    if (strcmp(kind, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (strncmp(kind, "P-", 2) == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", kind);
    return EVP_PKEY_Q_keygen(NULL, NULL, kind);
}

X509 *tu_selfsigned(EVP_PKEY *key, const char *cn)
{
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600 * 24);
    X509_NAME *n = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, n);
    X509_set_pubkey(c, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
    int is_ed = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448");
    X509_sign(c, key, is_ed ? NULL : EVP_sha256());
    return c;
}

struct pkie_cmp_msg *tu_roundtrip(const struct pkie_cmp_msg *m, uint8_t **der, size_t *len)
{
    assert_int_equal(pkie_cmp_msg_encode(m, der, len), 0);
    struct pkie_cmp_msg *d = NULL;
    int r = pkie_cmp_msg_decode(*der, *len, NULL, &d);
    if (r != 0) {
        char buf[512];
        fprintf(stderr, "decode: %s\n", pkie_err_format(buf, sizeof(buf)));
    }
    assert_int_equal(r, 0);
    uint8_t *again;
    size_t again_len;
    assert_int_equal(pkie_cmp_msg_encode(d, &again, &again_len), 0);
    assert_int_equal(again_len, *len);
    assert_memory_equal(again, *der, *len);
    free(again);
    return d;
}
