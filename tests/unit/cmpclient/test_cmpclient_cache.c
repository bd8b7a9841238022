/* Unit tests of the CMP client's caches (src/cmp/client/certcache.c): a
 * cached certificate is only ever handed out for the exact same bytes, bad
 * encodings are refused and not remembered, eviction and the SPKI cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "certcache.h"
#include "pkie/error.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *key1, *key2;

/* DER of a fresh self-signed certificate with common name @p cn. */
static unsigned char *cert_der(EVP_PKEY *key, const char *cn, int *len)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
    X509_set_issuer_name(x, n);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    *len = i2d_X509(x, &der);
    assert_true(*len > 0);
    X509_free(x);
    return der;
}

static int setup(void **state)
{
    (void)state;
    key1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    key2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return key1 == NULL || key2 == NULL;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key1);
    EVP_PKEY_free(key2);
    return 0;
}

static void test_hit_needs_same_bytes(void **state)
{
    (void)state;
    struct cmp_certcache c;
    memset(&c, 0, sizeof(c));
    int la, lb;
    unsigned char *a = cert_der(key1, "a", &la), *b = cert_der(key1, "b", &lb);
    X509 *x1 = cmp_certcache_get1(&c, a, (size_t)la);
    assert_non_null(x1);
    /* the same bytes at another address: the same certificate */
    unsigned char *a2 = malloc((size_t)la);
    memcpy(a2, a, (size_t)la);
    X509 *x2 = cmp_certcache_get1(&c, a2, (size_t)la);
    assert_ptr_equal(x1, x2);
    assert_int_equal(c.hits, 1);
    assert_int_equal(c.misses, 1);
    /* one changed byte (in the signature): decoded on its own */
    a2[la - 1] ^= 1;
    X509 *x3 = cmp_certcache_get1(&c, a2, (size_t)la);
    assert_non_null(x3);
    assert_ptr_not_equal(x3, x1);
    assert_int_equal(c.misses, 2);
    X509 *y = cmp_certcache_get1(&c, b, (size_t)lb);
    assert_non_null(y);
    assert_ptr_not_equal(y, x1);
    assert_int_equal(X509_cmp(y, x1) != 0, 1);
    /* references: the cache keeps its own */
    X509_free(x1);
    X509_free(x2);
    X509_free(x3);
    X509_free(y);
    X509 *x4 = cmp_certcache_get1(&c, a, (size_t)la);
    assert_non_null(x4);
    assert_int_equal(c.hits, 2);
    X509_free(x4);
    cmp_certcache_clear(&c);
    assert_int_equal(c.hits, 0);
    OPENSSL_free(a);
    OPENSSL_free(b);
    free(a2);
}

static void test_bad_encodings(void **state)
{
    (void)state;
    struct cmp_certcache c;
    memset(&c, 0, sizeof(c));
    int la;
    unsigned char *a = cert_der(key1, "a", &la);
    unsigned char *longer = malloc((size_t)la + 1);
    memcpy(longer, a, (size_t)la);
    longer[la] = 0;
    /* trailing byte after the certificate */
    assert_null(cmp_certcache_get1(&c, longer, (size_t)la + 1));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_PROTOCOL);
    /* truncated */
    assert_null(cmp_certcache_get1(&c, a, (size_t)la - 1));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_PROTOCOL);
    /* empty */
    assert_null(cmp_certcache_get1(&c, a, 0));
    assert_null(cmp_certcache_get1(&c, NULL, 10));
    /* not a certificate at all */
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    assert_null(cmp_certcache_get1(&c, junk, sizeof(junk)));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_PROTOCOL);
    /* nothing bad was remembered: the good prefix is a miss, then a hit */
    assert_int_equal(c.misses, 0);
    X509 *x = cmp_certcache_get1(&c, a, (size_t)la);
    assert_non_null(x);
    assert_int_equal(c.misses, 1);
    assert_null(cmp_certcache_get1(&c, longer, (size_t)la + 1)); /* a cached prefix is no hit */
    assert_int_equal(c.hits, 0);
    X509_free(x);
    cmp_certcache_clear(&c);
    OPENSSL_free(a);
    free(longer);
}

static void test_eviction_and_no_cache(void **state)
{
    (void)state;
    struct cmp_certcache c;
    memset(&c, 0, sizeof(c));
    unsigned char *der[CMP_CERTCACHE_N + 1];
    int len[CMP_CERTCACHE_N + 1];
    for (int i = 0; i <= CMP_CERTCACHE_N; i++) {
        char cn[16];
        snprintf(cn, sizeof(cn), "c%d", i);
        der[i] = cert_der(key2, cn, &len[i]);
        X509_free(cmp_certcache_get1(&c, der[i], (size_t)len[i]));
    }
    assert_int_equal(c.misses, CMP_CERTCACHE_N + 1);
    /* the first one was replaced by the last, the second is still there */
    X509_free(cmp_certcache_get1(&c, der[1], (size_t)len[1]));
    assert_int_equal(c.hits, 1);
    X509_free(cmp_certcache_get1(&c, der[0], (size_t)len[0]));
    assert_int_equal(c.misses, CMP_CERTCACHE_N + 2);
    cmp_certcache_clear(&c);
    /* without a cache every call decodes */
    X509 *p = cmp_certcache_get1(NULL, der[0], (size_t)len[0]);
    X509 *q = cmp_certcache_get1(NULL, der[0], (size_t)len[0]);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    assert_int_equal(X509_cmp(p, q), 0);
    X509_free(p);
    X509_free(q);
    for (int i = 0; i <= CMP_CERTCACHE_N; i++)
        OPENSSL_free(der[i]);
}

static void test_spki(void **state)
{
    (void)state;
    struct cmp_spkicache s;
    memset(&s, 0, sizeof(s));
    const uint8_t *d1, *d2, *d3;
    size_t l1, l2, l3;
    assert_int_equal(cmp_spkicache_get0(&s, key1, &d1, &l1), 0);
    unsigned char *ref = NULL;
    int rl = i2d_PUBKEY(key1, &ref);
    assert_int_equal((int)l1, rl);
    assert_memory_equal(d1, ref, l1);
    OPENSSL_free(ref);
    assert_int_equal(cmp_spkicache_get0(&s, key1, &d2, &l2), 0);
    assert_ptr_equal(d1, d2); /* not encoded again */
    assert_int_equal(cmp_spkicache_get0(&s, key2, &d3, &l3), 0);
    ref = NULL;
    rl = i2d_PUBKEY(key2, &ref);
    assert_int_equal((int)l3, rl);
    assert_memory_equal(d3, ref, l3); /* another key: its own encoding */
    OPENSSL_free(ref);
    cmp_spkicache_clear(&s);
    assert_null(s.key);
}

static EVP_PKEY *rsa_pss(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    if (c != NULL && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(c, 1024) > 0)
        EVP_PKEY_keygen(c, &k);
    EVP_PKEY_CTX_free(c);
    return k;
}

/* The encoding built from the key's parameters (named EC curves, or RSA's
 * modulus and exponent) is i2d_PUBKEY's, byte for byte; other keys
 * (RSA-PSS, EdDSA) take i2d_PUBKEY itself. */
static void test_spki_kinds(void **state)
{
    (void)state;
    EVP_PKEY *keys[] = {
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "brainpoolP256r1"),
        EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1031), /* odd size */
        rsa_pss(),                                          /* i2d_PUBKEY's own */
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),       /* made compressed below */
    };
    size_t last = sizeof(keys) / sizeof(keys[0]) - 1;
    assert_true(EVP_PKEY_set_utf8_string_param(
        keys[last], OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_non_null(keys[i]);
        struct cmp_spkicache s;
        memset(&s, 0, sizeof(s));
        const uint8_t *d;
        size_t l;
        assert_int_equal(cmp_spkicache_get0(&s, keys[i], &d, &l), 0);
        unsigned char *ref = NULL;
        int rl = i2d_PUBKEY(keys[i], &ref);
        assert_true(rl > 0);
        assert_int_equal((int)l, rl);
        assert_memory_equal(d, ref, l);
        OPENSSL_free(ref);
        cmp_spkicache_clear(&s);
        EVP_PKEY_free(keys[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_needs_same_bytes),
        cmocka_unit_test(test_bad_encodings),
        cmocka_unit_test(test_eviction_and_no_cache),
        cmocka_unit_test(test_spki),
        cmocka_unit_test(test_spki_kinds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
