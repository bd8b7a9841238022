/* Unit tests of the central key generation envelope (pkie/cmp_envkey.h): sealed by the CA's
 * code and opened by the client's, with each recipient kind; and what the client must refuse:
 * a wrong recipient key or secret, a tampered envelope, a signer without id-kp-cmKGA or not
 * chained to the trust store, an EncryptedValue, garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp_test_util.h"
#include "pkie/cmp_envkey.h"
#include "pkie/error.h"

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t SECRET[] = "kga-secret";

static EVP_PKEY *ca_key, *kga_key, *ec_key, *ec_key2, *rsa_key, *newkey;
static X509 *ca_cert, *kga_cert, *nokga_cert, *ec_cert, *rsa_cert, *other_ca;
static X509_STORE *store;

/* A certificate for @p key signed by @p ikey/@p issuer (NULL: self-signed CA), with
 * extendedKeyUsage @p eku (NULL: none). */
static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, const char *eku)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    static long serial = 1;
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                            issuer == NULL ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (eku != NULL) {
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, issuer != NULL ? ikey : key, EVP_sha256());
    X509_NAME_free(n);
    return x;
}

static int setup(void **state)
{
    (void)state;
    ca_key = tu_genkey("P-256");
    kga_key = tu_genkey("P-256");
    ec_key = tu_genkey("P-256");
    ec_key2 = tu_genkey("P-256");
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    newkey = tu_genkey("P-256");
    ca_cert = mkcert(ca_key, "root", NULL, NULL, NULL);
    other_ca = mkcert(ec_key2, "other root", NULL, NULL, NULL);
    kga_cert = mkcert(kga_key, "kga", ca_cert, ca_key, "1.3.6.1.5.5.7.3.32");
    nokga_cert = mkcert(kga_key, "not a kga", ca_cert, ca_key, "1.3.6.1.5.5.7.3.27");
    ec_cert = mkcert(ec_key, "ec client", ca_cert, ca_key, "clientAuth");
    rsa_cert = mkcert(rsa_key, "rsa client", ca_cert, ca_key, "clientAuth");
    store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_cert);
    return ca_cert && kga_cert && ec_cert && rsa_cert && rsa_key ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    X509_STORE_free(store);
    X509 *certs[] = {ca_cert, other_ca, kga_cert, nokga_cert, ec_cert, rsa_cert};
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
        X509_free(certs[i]);
    EVP_PKEY *keys[] = {ca_key, kga_key, ec_key, ec_key2, rsa_key, newkey};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        EVP_PKEY_free(keys[i]);
    return 0;
}

static uint8_t *seal(X509 *signer, X509 *to_cert, const uint8_t *secret, size_t *len)
{
    struct pkie_cmp_envkey_kga kga = {signer, kga_key, NULL};
    struct pkie_cmp_envkey_recipient to = {to_cert, NULL, secret,
                                           secret != NULL ? strlen((const char *)secret) : 0};
    uint8_t *ek = NULL;
    assert_int_equal(pkie_cmp_envkey_seal(newkey, &kga, &to, &ek, len), 0);
    assert_int_equal(ek[0], 0xA0);
    return ek;
}

static int open_by(const uint8_t *ek, size_t len, X509 *cert, EVP_PKEY *key, const uint8_t *secret,
                   EVP_PKEY **out)
{
    struct pkie_cmp_envkey_recipient by = {cert, key, secret,
                                           secret != NULL ? strlen((const char *)secret) : 0};
    struct pkie_cmp_envkey_trust trust = {store, NULL, NULL};
    return pkie_cmp_envkey_open(ek, len, &by, &trust, out);
}

static void roundtrip(X509 *cert, EVP_PKEY *key, const uint8_t *secret)
{
    size_t len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *ek = seal(kga_cert, cert, secret, &len);
    assert_int_equal(open_by(ek, len, cert, key, secret, &got), 0);
    assert_non_null(got);
    assert_int_equal(EVP_PKEY_eq(got, newkey), 1);
    EVP_PKEY_free(got);
    free(ek);
}

static void test_kari_ec(void **state)
{
    (void)state;
    roundtrip(ec_cert, ec_key, NULL);
}

static void test_ktri_rsa(void **state)
{
    (void)state;
    roundtrip(rsa_cert, rsa_key, NULL);
}

static void test_pwri_secret(void **state)
{
    (void)state;
    roundtrip(NULL, NULL, SECRET);
}

static void test_wrong_recipient_key(void **state)
{
    (void)state;
    size_t len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *ek = seal(kga_cert, ec_cert, NULL, &len);
    /* the right certificate with another key: the agreement gives another KEK */
    assert_int_equal(open_by(ek, len, ec_cert, ec_key2, NULL, &got), PKIE_ERR_CRYPTO);
    assert_null(got);
    /* the RSA client's credentials: no recipientInfo for it */
    assert_int_equal(open_by(ek, len, rsa_cert, rsa_key, NULL, &got), PKIE_ERR_CRYPTO);
    /* a secret where a certificate was the recipient */
    assert_int_equal(open_by(ek, len, NULL, NULL, SECRET, &got), PKIE_ERR_CRYPTO);
    free(ek);
    ek = seal(kga_cert, NULL, SECRET, &len);
    assert_int_equal(open_by(ek, len, NULL, NULL, (const uint8_t *)"wrong", &got), PKIE_ERR_CRYPTO);
    assert_null(got);
    free(ek);
    ek = seal(kga_cert, rsa_cert, NULL, &len);
    EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_int_equal(open_by(ek, len, rsa_cert, rsa2, NULL, &got), PKIE_ERR_CRYPTO);
    assert_null(got);
    EVP_PKEY_free(rsa2);
    free(ek);
}

static void test_tampered(void **state)
{
    (void)state;
    size_t len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *ek = seal(kga_cert, ec_cert, NULL, &len);
    /* every byte of the last 64 (the encrypted content) flipped in turn: never a key */
    for (size_t i = len - 64; i < len; i++) {
        ek[i] ^= 0x01;
        assert_int_not_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), 0);
        assert_null(got);
        ek[i] ^= 0x01;
    }
    /* truncated */
    assert_int_equal(open_by(ek, len - 1, ec_cert, ec_key, NULL, &got), PKIE_ERR_CMP_DECODE);
    /* EncryptedValue alternative (a SEQUENCE) */
    ek[0] = 0x30;
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), PKIE_ERR_UNSUPPORTED);
    ek[0] = 0xA1;
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), PKIE_ERR_CMP_DECODE);
    ek[0] = 0xA0;
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), 0);
    EVP_PKEY_free(got);
    free(ek);
}

static void test_signer_without_cmkga(void **state)
{
    (void)state;
    size_t len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *ek = seal(nokga_cert, ec_cert, NULL, &len);
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got),
                     PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_non_null(strstr(pkie_err_last()->msg, "cmKGA"));
    assert_null(got);
    free(ek);
}

static void test_signer_not_trusted(void **state)
{
    (void)state;
    size_t len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *ek = seal(kga_cert, ec_cert, NULL, &len);
    X509_STORE *other = X509_STORE_new();
    X509_STORE_add_cert(other, other_ca);
    struct pkie_cmp_envkey_recipient by = {ec_cert, ec_key, NULL, 0};
    struct pkie_cmp_envkey_trust trust = {other, NULL, NULL};
    assert_int_equal(pkie_cmp_envkey_open(ek, len, &by, &trust, &got),
                     PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    trust.trusted = NULL;
    assert_int_equal(pkie_cmp_envkey_open(ek, len, &by, &trust, &got),
                     PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_null(got);
    X509_STORE_free(other);
    free(ek);
}

static void test_verified_cache(void **state)
{
    (void)state;
    size_t len = 0;
    EVP_PKEY *got = NULL;
    X509 *verified = NULL;
    uint8_t *ek = seal(kga_cert, ec_cert, NULL, &len);
    struct pkie_cmp_envkey_recipient by = {ec_cert, ec_key, NULL, 0};
    struct pkie_cmp_envkey_trust trust = {store, NULL, &verified};
    assert_int_equal(pkie_cmp_envkey_open(ek, len, &by, &trust, &got), 0);
    assert_non_null(verified);
    assert_int_equal(X509_cmp(verified, kga_cert), 0);
    EVP_PKEY_free(got);
    got = NULL;
    /* the same KGA again: accepted from the cache */
    assert_int_equal(pkie_cmp_envkey_open(ek, len, &by, &trust, &got), 0);
    EVP_PKEY_free(got);
    got = NULL;
    free(ek);
    /* another signer is verified in full: without cmKGA refused, the cache kept */
    ek = seal(nokga_cert, ec_cert, NULL, &len);
    assert_int_equal(pkie_cmp_envkey_open(ek, len, &by, &trust, &got),
                     PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_null(got);
    assert_int_equal(X509_cmp(verified, kga_cert), 0);
    X509_free(verified);
    free(ek);
}

/* An EncryptedKey made by libcrypto's CMS alone, in another form than pkie's CA writes (a
 * SignedData by CMS_sign with the chain, an EnvelopedData by CMS_encrypt with @p cipher to
 * the EC client): opened through libcrypto's CMS by the client. @p p8 the content. */
static uint8_t *lib_envelope(const uint8_t *p8, size_t p8len, const EVP_CIPHER *cipher,
                             int sha256kdf, size_t *len)
{
    STACK_OF(X509) *chain = sk_X509_new_null(), *to = sk_X509_new_null();
    sk_X509_push(chain, ca_cert);
    sk_X509_push(to, ec_cert);
    BIO *in = BIO_new_mem_buf(p8, (int)p8len);
    CMS_ContentInfo *sd = CMS_sign(NULL, NULL, chain, NULL, CMS_BINARY | CMS_PARTIAL);
    assert_non_null(sd);
    ASN1_OBJECT *ct = OBJ_txt2obj("2.16.840.1.101.2.1.2.78.5", 1);
    assert_int_equal(CMS_set1_eContentType(sd, ct), 1);
    ASN1_OBJECT_free(ct);
    assert_non_null(CMS_add1_signer(sd, kga_cert, kga_key, NULL, CMS_BINARY));
    assert_int_equal(CMS_final(sd, in, NULL, CMS_BINARY), 1);
    unsigned char *sdder = NULL;
    int sdlen = i2d_CMS_ContentInfo(sd, &sdder);
    assert_true(sdlen > 0);
    /* the bare SignedData: the ContentInfo's [0] contents */
    const unsigned char *q = sdder;
    long clen = 0;
    int tag = 0, cls = 0;
    ASN1_get_object(&q, &clen, &tag, &cls, sdlen); /* ContentInfo SEQUENCE */
    ASN1_get_object(&q, &clen, &tag, &cls, sdlen); /* contentType */
    q += clen;
    ASN1_get_object(&q, &clen, &tag, &cls, sdlen - (q - sdder)); /* [0] */
    BIO *sdin = BIO_new_mem_buf(q, (int)clen);
    CMS_ContentInfo *env = CMS_encrypt(to, NULL, cipher, CMS_BINARY | CMS_PARTIAL | CMS_KEY_PARAM);
    assert_non_null(env);
    if (sha256kdf) /* dhSinglePass-stdDH-sha256kdf-scheme, as pkie's CA writes (else SHA-1) */
        assert_true(
            EVP_PKEY_CTX_set_ecdh_kdf_md(CMS_RecipientInfo_get0_pkey_ctx(sk_CMS_RecipientInfo_value(
                                             CMS_get0_RecipientInfos(env), 0)),
                                         EVP_sha256()) > 0);
    assert_int_equal(CMS_set1_eContentType(env, OBJ_nid2obj(NID_pkcs7_signed)), 1);
    assert_int_equal(CMS_final(env, sdin, NULL, CMS_BINARY), 1);
    unsigned char *envder = NULL;
    int envlen = i2d_CMS_ContentInfo(env, &envder);
    q = envder;
    ASN1_get_object(&q, &clen, &tag, &cls, envlen);
    ASN1_get_object(&q, &clen, &tag, &cls, envlen);
    q += clen;
    ASN1_get_object(&q, &clen, &tag, &cls, envlen - (q - envder)); /* [0] */
    const unsigned char *ed = q;
    ASN1_get_object(&q, &clen, &tag, &cls, envlen - (ed - envder)); /* EnvelopedData */
    *len = (size_t)(q - ed) + (size_t)clen;
    uint8_t *ek = malloc(*len);
    memcpy(ek, ed, *len);
    ek[0] = 0xA0;
    OPENSSL_free(envder);
    OPENSSL_free(sdder);
    CMS_ContentInfo_free(env);
    CMS_ContentInfo_free(sd);
    BIO_free(sdin);
    BIO_free(in);
    sk_X509_free(chain);
    sk_X509_free(to);
    return ek;
}

/* PKCS#8 of a P-256 key with private key @p priv_of and public key @p pub_of. */
static uint8_t *p8_of(EVP_PKEY *priv_of, EVP_PKEY *pub_of, size_t *len)
{
    BIGNUM *d = NULL;
    uint8_t priv[32], pub[65];
    size_t pub_len = 0;
    assert_int_equal(EVP_PKEY_get_bn_param(priv_of, "priv", &d), 1);
    assert_int_equal(BN_bn2binpad(d, priv, 32), 32);
    BN_clear_free(d);
    assert_int_equal(EVP_PKEY_get_octet_string_param(pub_of, "pub", pub, sizeof(pub), &pub_len), 1);
    assert_int_equal(pub_len, 65);
    /* { 0, { id-ecPublicKey, prime256v1 }, OCTET STRING { 1, priv, [1] BIT STRING pub } } */
    static const uint8_t head[] = {0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06,
                                   0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                                   0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                                   0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20};
    static const uint8_t mid[] = {0xa1, 0x44, 0x03, 0x42, 0x00};
    *len = sizeof(head) + 32 + sizeof(mid) + 65;
    uint8_t *p = malloc(*len);
    memcpy(p, head, sizeof(head));
    memcpy(p + sizeof(head), priv, 32);
    memcpy(p + sizeof(head) + 32, mid, sizeof(mid));
    memcpy(p + sizeof(head) + 32 + sizeof(mid), pub, 65);
    return p;
}

/* Envelopes libcrypto's CMS wrote: the chain in the SignedData, AES-128-CBC and the SHA-1 KDF
 * (opened by libcrypto's CMS in the client), and AES-256-CBC with the SHA-256 KDF (the form
 * the client reads itself: libcrypto's writer against pkie's reader). */
static void test_kari_libcrypto_form(void **state)
{
    (void)state;
    size_t p8len = 0, len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *p8 = p8_of(newkey, newkey, &p8len);
    for (int form = 0; form < 2; form++) {
        uint8_t *ek =
            lib_envelope(p8, p8len, form ? EVP_aes_256_cbc() : EVP_aes_128_cbc(), form, &len);
        assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), 0);
        assert_int_equal(EVP_PKEY_eq(got, newkey), 1);
        EVP_PKEY_free(got);
        got = NULL;
        assert_int_equal(open_by(ek, len, ec_cert, ec_key2, NULL, &got), PKIE_ERR_CRYPTO);
        assert_null(got);
        free(ek);
    }
    free(p8);
}

/* A private key whose public key is another key's: refused (not handed to another decoder). */
static void test_key_pair_mismatch(void **state)
{
    (void)state;
    size_t p8len = 0, len = 0;
    EVP_PKEY *got = NULL;
    uint8_t *p8 = p8_of(newkey, ec_key2, &p8len);
    uint8_t *ek = lib_envelope(p8, p8len, EVP_aes_256_cbc(), 1, &len);
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), PKIE_ERR_CMP_DECODE);
    assert_non_null(strstr(pkie_err_last()->msg, "does not match"));
    assert_null(got);
    free(ek);
    /* the same as a bare ECPrivateKey (the form OpenSSL 3.5's server sends), read by
     * libcrypto's decoder: refused as well */
    uint8_t eck[2 + 119];
    static const uint8_t head[] = {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20};
    static const uint8_t curve[] = {0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    memcpy(eck, head, sizeof(head));
    memcpy(eck + 7, p8 + 36, 32);                    /* the private key */
    memcpy(eck + 39, curve, sizeof(curve));          /* parameters [0] */
    memcpy(eck + 51, p8 + 36 + 32, p8len - 36 - 32); /* [1] publicKey */
    assert_int_equal(51 + p8len - 68, sizeof(eck));
    ek = lib_envelope(eck, sizeof(eck), EVP_aes_256_cbc(), 1, &len);
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), PKIE_ERR_CMP_DECODE);
    assert_non_null(strstr(pkie_err_last()->msg, "does not match"));
    assert_null(got);
    free(ek);
    free(p8);
}

/* A KGA with an RSA key: the SignedData by libcrypto's CMS_sign. */
static void test_rsa_kga(void **state)
{
    (void)state;
    X509 *rkga = mkcert(rsa_key, "rsa kga", ca_cert, ca_key, "1.3.6.1.5.5.7.3.32");
    struct pkie_cmp_envkey_kga kga = {rkga, rsa_key, NULL};
    struct pkie_cmp_envkey_recipient to = {ec_cert, NULL, NULL, 0};
    uint8_t *ek = NULL;
    size_t len = 0;
    EVP_PKEY *got = NULL;
    assert_int_equal(pkie_cmp_envkey_seal(newkey, &kga, &to, &ek, &len), 0);
    assert_int_equal(open_by(ek, len, ec_cert, ec_key, NULL, &got), 0);
    assert_int_equal(EVP_PKEY_eq(got, newkey), 1);
    EVP_PKEY_free(got);
    free(ek);
    X509_free(rkga);
}

static void test_seal_arguments(void **state)
{
    (void)state;
    struct pkie_cmp_envkey_kga kga = {kga_cert, kga_key, NULL};
    struct pkie_cmp_envkey_recipient none = {NULL, NULL, NULL, 0};
    uint8_t *ek = NULL;
    size_t len = 0;
    assert_int_equal(pkie_cmp_envkey_seal(newkey, &kga, &none, &ek, &len), PKIE_ERR_ARG);
    /* an Ed25519 certificate can be neither a ktri nor a kari recipient */
    EVP_PKEY *ed = tu_genkey("ED25519");
    X509 *edc = mkcert(ed, "ed client", ca_cert, ca_key, NULL);
    struct pkie_cmp_envkey_recipient to = {edc, NULL, NULL, 0};
    assert_int_equal(pkie_cmp_envkey_seal(newkey, &kga, &to, &ek, &len), PKIE_ERR_ARG);
    assert_null(ek);
    X509_free(edc);
    EVP_PKEY_free(ed);
}

static void test_garbage(void **state)
{
    (void)state;
    EVP_PKEY *got = NULL;
    static const uint8_t junk[][8] = {
        {0xA0, 0x00}, {0xA0, 0x03, 0x02, 0x01, 0x00}, {0xA0, 0x80, 0x00, 0x00}, {0x04, 0x00}};
    static const size_t lens[] = {2, 5, 4, 2};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        assert_int_not_equal(open_by(junk[i], lens[i], ec_cert, ec_key, NULL, &got), 0);
        assert_null(got);
    }
    assert_int_equal(open_by(NULL, 0, ec_cert, ec_key, NULL, &got), PKIE_ERR_CMP_DECODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kari_ec),
        cmocka_unit_test(test_ktri_rsa),
        cmocka_unit_test(test_pwri_secret),
        cmocka_unit_test(test_wrong_recipient_key),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_signer_without_cmkga),
        cmocka_unit_test(test_signer_not_trusted),
        cmocka_unit_test(test_verified_cache),
        cmocka_unit_test(test_kari_libcrypto_form),
        cmocka_unit_test(test_key_pair_mismatch),
        cmocka_unit_test(test_rsa_kga),
        cmocka_unit_test(test_seal_arguments),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
