/* Central key envelope: the private key as PKCS#8 / OneAsymmetricKey, both ways. */
#include "envkey_local.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <string.h>

/* PKCS#8 PrivateKeyInfo of an EC key of a named curve, without OpenSSL's encoders
 * (EVP_PKEY2PKCS8 costs 0.24 ms in OpenSSL 3.0): { 0, { id-ecPublicKey, curve },
 * ECPrivateKey { 1, d, [1] publicKey } }, as EVP_PKEY2PKCS8 writes it. 1: not such a key. */
static int ec_to_p8(EVP_PKEY *key, struct pkie_derw *w)
{
    char group[32];
    uint8_t priv[66], pub[1 + 2 * 66];
    size_t pub_len = 0, bytes;
    const char *oid;
    BIGNUM *d = NULL;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) != 1)
        return 1;
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        oid = "1.2.840.10045.3.1.7";
        bytes = 32;
    } else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
        oid = "1.3.132.0.34";
        bytes = 48;
    } else
        return 1;
    int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
             BN_bn2binpad(d, priv, (int)bytes) == (int)bytes &&
             EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
                                             &pub_len) == 1;
    BN_clear_free(d);
    int rc = ok ? 0 : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode the generated key");
    if (rc == 0) {
        struct pkie_derw eck; /* ECPrivateKey (RFC 5915), the privateKey OCTET STRING */
        const uint8_t *e = NULL;
        size_t elen = 0;
        pkie_derw_init_secret(&eck, 1024);
        pkie_derw_begin(&eck, PKIE_DER_SEQUENCE);
        pkie_derw_int64(&eck, PKIE_DER_INTEGER, 1);
        pkie_derw_octets(&eck, PKIE_DER_OCTET_STRING, priv, bytes);
        pkie_derw_begin(&eck, PKIE_DER_CTX_C(1));
        pkie_derw_bit_string(&eck, PKIE_DER_BIT_STRING, pub, pub_len, 0);
        pkie_derw_end(&eck);
        pkie_derw_end(&eck);
        if ((rc = pkie_derw_finish(&eck, &e, &elen)) == 0) {
            pkie_derw_begin(w, PKIE_DER_SEQUENCE);
            pkie_derw_int64(w, PKIE_DER_INTEGER, 0);
            pkie_derw_begin(w, PKIE_DER_SEQUENCE);
            pkie_derw_oid_text(w, PKIE_DER_OID, "1.2.840.10045.2.1");
            pkie_derw_oid_text(w, PKIE_DER_OID, oid);
            pkie_derw_end(w);
            pkie_derw_octets(w, PKIE_DER_OCTET_STRING, e, elen);
            pkie_derw_end(w);
        }
        pkie_derw_free(&eck);
    }
    OPENSSL_cleanse(priv, sizeof(priv));
    return rc;
}

/* The PKCS#8 encoding of @p key into a secret writer (wiped when freed). */
int envkey_key_to_p8(EVP_PKEY *key, struct pkie_derw *w, const uint8_t **der, size_t *len)
{
    int rc = ec_to_p8(key, w);
    if (rc == 0)
        return pkie_derw_finish(w, der, len);
    if (rc < 0)
        return rc;
    unsigned char *p8der = NULL;
    int p8len = 0;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    if (p8 != NULL)
        p8len = i2d_PKCS8_PRIV_KEY_INFO(p8, &p8der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (p8len <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode the generated key");
    rc = pkie_derw_raw(w, p8der, (size_t)p8len);
    OPENSSL_clear_free(p8der, (size_t)p8len);
    return rc == 0 ? pkie_derw_finish(w, der, len) : rc;
}

/* Is @p pub (an encoded point) priv * G on curve @p name, with 0 < priv < order? What
 * EVP_PKEY_pairwise_check establishes (a valid public key, a private key in range, the pair),
 * at one fixed-base multiplication: that function also multiplies the public key by the order,
 * which on these curves of cofactor 1 proves nothing more than the point being on the curve
 * (0.76 of its 0.85 M instructions, bench/README.md). */
/* The groups of ec_pair_ok, made once (0.14 M instructions each time otherwise) and shared
 * read-only by the client's threads: P-256, P-384, P-521. */
static EC_GROUP *pair_groups[3];
static pthread_once_t pair_groups_once = PTHREAD_ONCE_INIT;

static void pair_groups_init(void)
{
    static const int nids[3] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
    for (size_t i = 0; i < 3; i++)
        pair_groups[i] = EC_GROUP_new_by_curve_name(nids[i]);
}

static int ec_pair_ok(const char *name, const uint8_t *priv, size_t priv_len, const uint8_t *pub,
                      size_t pub_len)
{
    size_t i = strcmp(name, "P-256") == 0 ? 0 : strcmp(name, "P-384") == 0 ? 1 : 2;
    const EC_GROUP *g =
        pthread_once(&pair_groups_once, pair_groups_init) == 0 ? pair_groups[i] : NULL;
    EC_POINT *want = g != NULL ? EC_POINT_new(g) : NULL, *got = g != NULL ? EC_POINT_new(g) : NULL;
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *d = BN_secure_new();
    int ok = 0;
    if (want != NULL && got != NULL && bn != NULL && d != NULL) {
        BN_set_flags(d, BN_FLG_CONSTTIME);
        ok = BN_bin2bn(priv, (int)priv_len, d) != NULL && !BN_is_zero(d) &&
             BN_cmp(d, EC_GROUP_get0_order(g)) < 0 &&
             EC_POINT_oct2point(g, got, pub, pub_len, bn) == 1 && /* on the curve */
             EC_POINT_mul(g, want, d, NULL, NULL, bn) == 1 && EC_POINT_cmp(g, want, got, bn) == 0;
    }
    BN_clear_free(d);
    BN_CTX_free(bn);
    EC_POINT_free(got);
    EC_POINT_free(want);
    return ok;
}

/* An EC private key of a named curve from its PKCS#8 fields, without OpenSSL's decoders
 * (EVP_PKCS82PKEY costs 1.6 ms in OpenSSL 3.0, this 0.5): AlgorithmIdentifier parameters
 * @p curve_oid, privateKey the ECPrivateKey DER with its publicKey, into *out. 1 when not of
 * this form (the caller then uses libcrypto's decoder); an error when the public key is not
 * the private key's (pub = priv * G, ec_pair_ok). */
static int ec_from_p8(const uint8_t *curve_oid, size_t curve_len, const uint8_t *eck,
                      size_t eck_len, EVP_PKEY **out)
{
    static const struct {
        const char *oid, *name;
        size_t bytes;
    } curves[] = {{"1.2.840.10045.3.1.7", "P-256", 32},
                  {"1.3.132.0.34", "P-384", 48},
                  {"1.3.132.0.35", "P-521", 66}};
    struct pkie_der d, s, pubw;
    const uint8_t *priv = NULL, *pub = NULL;
    size_t priv_len = 0, pub_len = 0;
    int64_t version = 0;
    unsigned unused = 0;
    const char *name = NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        uint8_t want[16];
        size_t n = 0;
        if (pkie_der_oid_from_text(curves[i].oid, want, sizeof(want), &n) == 0 &&
            pkie_der_oid_equal(curve_oid, curve_len, want, n)) {
            name = curves[i].name;
            bytes = curves[i].bytes;
        }
    }
    pkie_der_init(&d, eck, eck_len);
    int present = 0;
    if (name == NULL || pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) != 0 ||
        pkie_der_finish(&d) != 0 || pkie_der_read_int64(&s, PKIE_DER_INTEGER, &version) != 0 ||
        version != 1 || pkie_der_read_octets(&s, PKIE_DER_OCTET_STRING, &priv, &priv_len) != 0 ||
        priv_len != bytes || (pkie_der_peek_is(&s, PKIE_DER_CTX_C(0)) && pkie_der_skip(&s) != 0) ||
        pkie_der_enter_optional(&s, PKIE_DER_CTX_C(1), &pubw, &present) != 0 || !present ||
        pkie_der_read_bit_string(&pubw, PKIE_DER_BIT_STRING, &pub, &pub_len, &unused) != 0 ||
        unused != 0 || pkie_der_finish(&pubw) != 0 || pkie_der_finish(&s) != 0) {
        pkie_err_clear();
        return 1;
    }
    if (!ec_pair_ok(name, priv, priv_len, pub, pub_len))
        return PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE,
                             "central key: the %s private key does not "
                             "match its public key",
                             name);
    uint8_t native[66];
    for (size_t i = 0; i < bytes; i++) /* OSSL_PARAM BNs are native-endian */
        native[i] = priv[bytes - 1 - i];
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)name, 0),
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, bytes),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)pub, pub_len),
        OSSL_PARAM_construct_end(),
    };
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_cleanse(native, sizeof(native));
    if (k == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "central key: unusable %s key", name);
    *out = k;
    return 0;
}

/* A key from libcrypto's decoders: its public key must be the private key's (as ec_pair_ok
 * checks for the form decoded here), where libcrypto can check it. */
static int pair_checked(EVP_PKEY **key)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, *key, NULL);
    int ok = c != NULL ? EVP_PKEY_pairwise_check(c) : 0;
    EVP_PKEY_CTX_free(c);
    if (ok == 1 || ok == -2) /* -2: not offered for this key type */
        return 0;
    EVP_PKEY_free(*key);
    *key = NULL;
    return PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE,
                         "central key: the private key does not match its public key");
}

/* OneAsymmetricKey (PKCS#8 PrivateKeyInfo, version 0 or 1); 1 when not one. */
static int decode_p8(const uint8_t *p, size_t len, EVP_PKEY **out)
{
    struct pkie_der d, s, alg;
    const uint8_t *oid = NULL, *param = NULL, *key = NULL;
    size_t oid_len = 0, param_len = 0, key_len = 0;
    int64_t version = -1;
    uint8_t ec_oid[16];
    size_t ec_len = 0;
    pkie_der_init(&d, p, len);
    if (pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) == 0 &&
        pkie_der_read_int64(&s, PKIE_DER_INTEGER, &version) == 0 && version == 0 &&
        pkie_der_enter(&s, PKIE_DER_SEQUENCE, &alg) == 0 &&
        pkie_der_read_oid(&alg, PKIE_DER_OID, &oid, &oid_len) == 0 &&
        pkie_der_read_oid(&alg, PKIE_DER_OID, &param, &param_len) == 0 &&
        pkie_der_finish(&alg) == 0 &&
        pkie_der_read_octets(&s, PKIE_DER_OCTET_STRING, &key, &key_len) == 0 &&
        pkie_der_finish(&s) == 0 && pkie_der_finish(&d) == 0 &&
        pkie_der_oid_from_text("1.2.840.10045.2.1", ec_oid, sizeof(ec_oid), &ec_len) == 0 &&
        pkie_der_oid_equal(oid, oid_len, ec_oid, ec_len)) {
        int rc = ec_from_p8(param, param_len, key, key_len, out);
        if (rc <= 0)
            return rc;
    }
    pkie_err_clear();
    /* other key types, attributes, version 1: libcrypto's decoder */
    const unsigned char *q = p;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)len);
    int whole = p8 != NULL && q == p + len;
    if (whole)
        *out = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (!whole)
        return 1;
    return *out != NULL ? pair_checked(out)
                        : PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "central key: unusable key");
}

/* OneAsymmetricKey, or an AsymmetricKeyPackage holding exactly one. */
int envkey_decode_key(const uint8_t *p, size_t len, EVP_PKEY **out)
{
    struct pkie_der d, s;
    struct pkie_der_tlv first;
    pkie_der_init(&d, p, len);
    int rc = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s);
    if (rc == 0 && (rc = pkie_der_finish(&d)) == 0 && (rc = pkie_der_read_tlv(&s, &first)) == 0 &&
        first.tag == PKIE_DER_SEQUENCE) {
        /* AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey */
        if (!pkie_der_at_end(&s))
            return PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: more than one key in the package");
        p = first.tlv;
        len = first.tlv_len;
    }
    if (rc != 0)
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: content is no private key");
    rc = decode_p8(p, len, out);
    if (rc <= 0)
        return rc;
    /* OpenSSL 3.5's own server sends i2d_PrivateKey's type-specific form (RFC 5915
     * ECPrivateKey, RFC 8017 RSAPrivateKey) instead of a OneAsymmetricKey: accepted too */
    ERR_clear_error();
    const unsigned char *q = p;
    *out = d2i_AutoPrivateKey(NULL, &q, (long)len);
    if (*out != NULL && q != p + len) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return *out != NULL
               ? pair_checked(out)
               : PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "central key: content is no private key");
}
