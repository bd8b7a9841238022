/* Unit tests: the PKCS#11 exit's CryptData planning (mechanism, DigestInfo,
 * PSS parameters), the raw r||s to DER conversion against OpenSSL's encoder,
 * and the CKR names (exits/pkcs11/sign.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cftpkie.h"
#include "p11x.h"

static char err[256];

static void test_ecdsa_plan(void **state)
{
    (void)state;
    uint8_t d[48] = {1};
    struct p11x_sign_plan p;
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ECDSA, CFTPKIE_MD_SHA384, d, 48, CKK_EC, &p,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(p.mech, CKM_ECDSA);
    assert_ptr_equal(p.input, d);
    assert_int_equal(p.input_len, 48);
    assert_int_equal(p.ecdsa_der, 1);
}

/* The DigestInfo built for CKM_RSA_PKCS is exactly what OpenSSL encodes. */
static void test_pkcs1_digest_info(void **state)
{
    (void)state;
    const struct {
        uint32_t md;
        const char *name;
        size_t len;
    } mds[] = {{CFTPKIE_MD_SHA1, "SHA1", 20},
               {CFTPKIE_MD_SHA256, "SHA256", 32},
               {CFTPKIE_MD_SHA384, "SHA384", 48},
               {CFTPKIE_MD_SHA512, "SHA512", 64}};
    for (size_t i = 0; i < 4; i++) {
        uint8_t d[64];
        assert_int_equal(RAND_bytes(d, (int)mds[i].len), 1);
        struct p11x_sign_plan p;
        assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_RSA_PKCS1, mds[i].md, d, mds[i].len,
                                           CKK_RSA, &p, err, sizeof(err)),
                         0);
        assert_int_equal(p.mech, CKM_RSA_PKCS);
        assert_int_equal(p.ecdsa_der, 0);
        /* OpenSSL's DigestInfo for the same digest */
        X509_SIG *sig = X509_SIG_new();
        X509_ALGOR *alg;
        ASN1_OCTET_STRING *oct;
        X509_SIG_getm(sig, &alg, &oct);
        assert_int_equal(X509_ALGOR_set0(alg, OBJ_txt2obj(mds[i].name, 0), V_ASN1_NULL, NULL), 1);
        assert_int_equal(ASN1_OCTET_STRING_set(oct, d, (int)mds[i].len), 1);
        unsigned char *der = NULL;
        int dl = i2d_X509_SIG(sig, &der);
        assert_true(dl > 0);
        assert_int_equal(p.input_len, (size_t)dl);
        assert_memory_equal(p.input, der, (size_t)dl);
        OPENSSL_free(der);
        X509_SIG_free(sig);
    }
}

static void test_pss_params(void **state)
{
    (void)state;
    uint8_t d[64] = {0};
    struct p11x_sign_plan p;
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_RSA_PSS, CFTPKIE_MD_SHA256, d, 32, CKK_RSA, &p,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(p.mech, CKM_RSA_PKCS_PSS);
    assert_int_equal(p.pss.hashAlg, CKM_SHA256);
    assert_int_equal(p.pss.mgf, CKG_MGF1_SHA256);
    assert_int_equal(p.pss.sLen, 32);
    assert_int_equal(p.input_len, 32);
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_RSA_PSS, CFTPKIE_MD_SHA512, d, 64, CKK_RSA, &p,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(p.pss.hashAlg, CKM_SHA512);
    assert_int_equal(p.pss.mgf, CKG_MGF1_SHA512);
    assert_int_equal(p.pss.sLen, 64);
}

static void test_ed25519_plan(void **state)
{
    (void)state;
    uint8_t m[300] = {0};
    struct p11x_sign_plan p;
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ED25519, CFTPKIE_MD_NONE, m, sizeof(m),
                                       CKK_EC_EDWARDS, &p, err, sizeof(err)),
                     0);
    assert_int_equal(p.mech, CKM_EDDSA);
    assert_int_equal(p.input_len, sizeof(m));
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ED25519, CFTPKIE_MD_SHA256, m, 32,
                                       CKK_EC_EDWARDS, &p, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "expected none"));
}

static void test_plan_refusals(void **state)
{
    (void)state;
    uint8_t d[64] = {0};
    struct p11x_sign_plan p;
    /* algorithm and key type mismatch */
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ECDSA, CFTPKIE_MD_SHA256, d, 32, CKK_RSA, &p,
                                       err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "needs an EC key, the token key is RSA"));
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_RSA_PSS, CFTPKIE_MD_SHA256, d, 32, CKK_EC, &p,
                                       err, sizeof(err)),
                     -1);
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ED25519, CFTPKIE_MD_NONE, d, 32, CKK_EC, &p,
                                       err, sizeof(err)),
                     -1);
    /* unknown algorithm, unknown digest, no digest */
    assert_int_equal(p11x_sign_prepare(9, CFTPKIE_MD_SHA256, d, 32, CKK_EC, &p, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "unsupported signature algorithm 9"));
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ECDSA, 7, d, 32, CKK_EC, &p, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "unsupported digest 7"));
    assert_int_equal(
        p11x_sign_prepare(CFTPKIE_SIGN_ECDSA, CFTPKIE_MD_NONE, d, 32, CKK_EC, &p, err, sizeof(err)),
        -1);
    /* a data length that is not the digest's */
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_RSA_PKCS1, CFTPKIE_MD_SHA256, d, 31, CKK_RSA,
                                       &p, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "31 bytes of data for a SHA-256 digest (expected 32)"));
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_RSA_PSS, CFTPKIE_MD_SHA384, d, 64, CKK_RSA, &p,
                                       err, sizeof(err)),
                     -1);
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ECDSA, CFTPKIE_MD_SHA256, d, 0, CKK_EC, &p, err,
                                       sizeof(err)),
                     -1);
    assert_int_equal(p11x_sign_prepare(CFTPKIE_SIGN_ECDSA, CFTPKIE_MD_SHA256, NULL, 32, CKK_EC, &p,
                                       err, sizeof(err)),
                     -1);
}

/* Compare with OpenSSL's i2d_ECDSA_SIG for r||s of @h bytes each. */
static void check_der(const uint8_t *raw, size_t h)
{
    uint8_t out[300];
    size_t ol = 0;
    assert_int_equal(p11x_ecdsa_der(raw, 2 * h, out, sizeof(out), &ol), 0);
    ECDSA_SIG *s = ECDSA_SIG_new();
    assert_non_null(s);
    BIGNUM *r = BN_bin2bn(raw, (int)h, NULL), *ss = BN_bin2bn(raw + h, (int)h, NULL);
    assert_int_equal(ECDSA_SIG_set0(s, r, ss), 1);
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(s, &der);
    assert_true(dl > 0);
    assert_int_equal(ol, (size_t)dl);
    assert_memory_equal(out, der, (size_t)dl);
    /* and it reads back */
    const unsigned char *pp = out;
    ECDSA_SIG *back = d2i_ECDSA_SIG(NULL, &pp, (long)ol);
    assert_non_null(back);
    assert_ptr_equal(pp, out + ol);
    ECDSA_SIG_free(back);
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
}

static void test_ecdsa_der_matches_openssl(void **state)
{
    (void)state;
    const size_t sizes[] = {32, 48, 66, 1, 64, 132};
    uint8_t raw[264];
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t h = sizes[k];
        for (int i = 0; i < 50; i++) {
            assert_int_equal(RAND_bytes(raw, (int)(2 * h)), 1);
            if (i % 5 == 1)
                raw[0] |= 0x80; /* r needs a 0x00 pad */
            if (i % 5 == 2)
                raw[h] &= 0x7f;
            if (i % 5 == 3 && h > 2)
                raw[0] = 0, raw[1] = 0; /* leading zeros dropped */
            if (i % 5 == 4)
                memset(raw + h, 0, h); /* s = 0 encodes as 02 01 00 */
            check_der(raw, h);
        }
    }
}

static void test_ecdsa_der_refusals(void **state)
{
    (void)state;
    uint8_t raw[300] = {0x80}, out[300];
    size_t ol = 0;
    assert_int_equal(p11x_ecdsa_der(raw, 0, out, sizeof(out), &ol), -1);
    assert_int_equal(p11x_ecdsa_der(raw, 63, out, sizeof(out), &ol), -1);
    assert_int_equal(p11x_ecdsa_der(raw, 266, out, sizeof(out), &ol), -1);
    assert_int_equal(p11x_ecdsa_der(NULL, 64, out, sizeof(out), &ol), -1);
    /* no room: 64 bytes of 0x80.. need 2 + 2 * (2 + 1 + 32) = 72 */
    memset(raw, 0x80, 64);
    assert_int_equal(p11x_ecdsa_der(raw, 64, out, 71, &ol), -1);
    assert_int_equal(p11x_ecdsa_der(raw, 64, out, 72, &ol), 0);
    assert_int_equal(ol, 72);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(p11x_rv_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
    assert_string_equal(p11x_rv_name(CKR_OK), "CKR_OK");
    assert_string_equal(p11x_rv_name(CKR_VENDOR_DEFINED | 5), "CKR_VENDOR_DEFINED");
    assert_string_equal(p11x_rv_name(0x7777), "CKR_?");
    assert_string_equal(p11x_mech_name(CKM_RSA_PKCS_PSS), "CKM_RSA_PKCS_PSS");
    assert_string_equal(p11x_mech_name(CKM_SHA256), "CKM_?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecdsa_plan),         cmocka_unit_test(test_pkcs1_digest_info),
        cmocka_unit_test(test_pss_params),         cmocka_unit_test(test_ed25519_plan),
        cmocka_unit_test(test_plan_refusals),      cmocka_unit_test(test_ecdsa_der_matches_openssl),
        cmocka_unit_test(test_ecdsa_der_refusals), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
