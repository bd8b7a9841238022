/* Centrally generated keys: the EnvelopedData of a CertifiedKeyPair (see pkie/cmp_envkey.h),
 * sealed by the CA and opened by the client, on libcrypto's CMS (OpenSSL 3.0 API). */
#include "pkie/cmp_envkey.h"
#include "pkie/der.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define OID_SIGNED_DATA    "1.2.840.113549.1.7.2"
#define OID_ENVELOPED_DATA "1.2.840.113549.1.7.3"
#define OID_DATA           "1.2.840.113549.1.7.1"
#define OID_AKEY_PACKAGE   "2.16.840.1.101.2.1.2.78.5" /* id-ct-KP-aKeyPackage (RFC 5958) */
#define MAX_ENVELOPE       (256u * 1024)               /* EncryptedKey and its content */

/* ---- ContentInfo <-> the bare SignedData / EnvelopedData ---------------------------- */

/* A CMS ContentInfo of type @p oid around @p tlv, whose first (tag) byte is read as 0x30
 * (the EncryptedKey carries the EnvelopedData as [0] IMPLICIT). */
static CMS_ContentInfo *ci_wrap(const char *oid, const uint8_t *tlv, size_t len)
{
    struct pkie_derw w;
    const uint8_t *der = NULL;
    size_t n = 0;
    CMS_ContentInfo *ci = NULL;
    uint8_t *copy = len > 0 ? malloc(len) : NULL;
    if (copy == NULL) {
        PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
        return NULL;
    }
    memcpy(copy, tlv, len);
    copy[0] = 0x30;
    pkie_derw_init_secret(&w, 2 * MAX_ENVELOPE);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, oid);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0));
    pkie_derw_raw(&w, copy, len);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    if (pkie_derw_finish(&w, &der, &n) == 0) {
        const unsigned char *p = der;
        ci = d2i_CMS_ContentInfo(NULL, &p, (long)n);
        if (ci != NULL && p != der + n) {
            CMS_ContentInfo_free(ci);
            ci = NULL;
        }
        if (ci == NULL)
            PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "%s unreadable",
                          strcmp(oid, OID_SIGNED_DATA) == 0 ? "SignedData" : "EnvelopedData");
    }
    pkie_derw_free(&w);
    pkie_wipe(copy, len);
    free(copy);
    return ci;
}

/* The content [0] of a ContentInfo encoding: the bare SignedData / EnvelopedData, malloc'd. */
static int ci_unwrap(CMS_ContentInfo *ci, uint8_t **out, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(ci, &der);
    struct pkie_der d, s, c;
    struct pkie_der_tlv t;
    int rc;
    if (n <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode CMS");
    pkie_der_init(&d, der, (size_t)n);
    if ((rc = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s)) == 0 && (rc = pkie_der_skip(&s)) == 0 &&
        (rc = pkie_der_enter(&s, PKIE_DER_CTX_C(0), &c)) == 0 &&
        (rc = pkie_der_read_tlv(&c, &t)) == 0) {
        if ((*out = malloc(t.tlv_len)) == NULL)
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
        else {
            memcpy(*out, t.tlv, t.tlv_len);
            *len = t.tlv_len;
        }
    }
    OPENSSL_clear_free(der, (size_t)n);
    return rc;
}

/* The bytes written to a memory BIO, malloc'd (the BIO is cleared when freed). */
static int bio_take(BIO *b, uint8_t **out, size_t *len)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n <= 0 || (size_t)n > MAX_ENVELOPE)
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "envelope content of %ld bytes", n);
    if ((*out = malloc((size_t)n)) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
    memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* ---- seal (the CA) ------------------------------------------------------------------- */

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
static int key_to_p8(EVP_PKEY *key, struct pkie_derw *w, const uint8_t **der, size_t *len)
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

/* SignedData by the KGA over the PKCS#8 encoding of @p key, as bare SignedData DER. */
static int kga_sign(EVP_PKEY *key, const struct pkie_cmp_envkey_kga *kga, uint8_t **sd,
                    size_t *sd_len)
{
    struct pkie_derw w;
    const uint8_t *p8der = NULL;
    size_t p8len = 0;
    pkie_derw_init_secret(&w, 64 * 1024);
    int rc = key_to_p8(key, &w, &p8der, &p8len);
    if (rc != 0) {
        pkie_derw_free(&w);
        return rc;
    }
    BIO *in = BIO_new_mem_buf(p8der, (int)p8len);
    ASN1_OBJECT *ct = OBJ_txt2obj(OID_AKEY_PACKAGE, 1);
    /* signed attributes (content type, message digest, signing time) as RFC 5652 wants for a
     * content type other than id-data; no S/MIME capabilities */
    unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    CMS_ContentInfo *ci = CMS_sign(NULL, NULL, kga->chain, NULL, flags);
    if (in == NULL || ct == NULL || ci == NULL || CMS_set1_eContentType(ci, ct) != 1 ||
        CMS_add1_signer(ci, kga->cert, kga->key, NULL, CMS_BINARY | CMS_NOSMIMECAP) == NULL ||
        CMS_final(ci, in, NULL, CMS_BINARY) != 1)
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "sign the generated key");
    else
        rc = ci_unwrap(ci, sd, sd_len);
    if (ci != NULL) {
        ASN1_OCTET_STRING **pos = CMS_get0_content(ci);
        if (pos != NULL && *pos != NULL)
            OPENSSL_cleanse((*pos)->data, (size_t)(*pos)->length);
    }
    CMS_ContentInfo_free(ci);
    ASN1_OBJECT_free(ct);
    BIO_free(in);
    pkie_derw_free(&w);
    return rc;
}

/* RFC 9481 choices for the recipient: RSAES-OAEP with SHA-256 (ktri), the SHA-256 KDF (kari). */
static int tune_recipient(CMS_ContentInfo *ci)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(ci);
    CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, 0);
    EVP_PKEY_CTX *pctx = ri != NULL ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
    if (pctx == NULL)
        return 0;
    switch (CMS_RecipientInfo_type(ri)) {
    case CMS_RECIPINFO_TRANS:
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
    case CMS_RECIPINFO_AGREE:
        /* the KDF type stays unset: libcrypto sets X9.63 itself and refuses a preset one */
        return EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0;
    default:
        return 1;
    }
}

int pkie_cmp_envkey_seal(EVP_PKEY *key, const struct pkie_cmp_envkey_kga *kga,
                         const struct pkie_cmp_envkey_recipient *to, uint8_t **out, size_t *len)
{
    uint8_t *sd = NULL;
    size_t sd_len = 0;
    CMS_ContentInfo *ci = NULL;
    BIO *in = NULL;
    STACK_OF(X509) *rcpt = NULL;
    unsigned char *pass = NULL;
    *out = NULL;
    int id = to->cert != NULL ? EVP_PKEY_get_base_id(X509_get0_pubkey(to->cert)) : EVP_PKEY_NONE;
    if (to->cert != NULL ? id != EVP_PKEY_RSA && id != EVP_PKEY_EC
                         : to->secret == NULL || to->secret_len == 0)
        return PKIE_ERR(PKIE_ERR_ARG, "no recipient for the generated key: %s",
                        to->cert != NULL ? "the client's certificate has neither an RSA nor an "
                                           "EC key"
                                         : "no certificate and no secret");
    int rc = kga_sign(key, kga, &sd, &sd_len);
    if (rc != 0)
        return rc;
    rc = PKIE_ERR_CRYPTO;
    unsigned flags = CMS_BINARY | CMS_PARTIAL;
    in = BIO_new_mem_buf(sd, (int)sd_len);
    if (in == NULL)
        goto err;
    if (to->cert != NULL) {
        if ((rcpt = sk_X509_new_null()) == NULL || !sk_X509_push(rcpt, to->cert) ||
            (ci = CMS_encrypt(rcpt, NULL, EVP_aes_256_cbc(), flags | CMS_KEY_PARAM)) == NULL ||
            !tune_recipient(ci))
            goto err;
    } else {
        if ((pass = OPENSSL_memdup(to->secret, to->secret_len)) == NULL ||
            (ci = CMS_EnvelopedData_create(EVP_aes_256_cbc())) == NULL ||
            CMS_set_detached(ci, 0) != 1) /* as CMS_encrypt does: the content inside */
            goto err;
        /* the recipient info owns (and clears) pass once added */
        if (CMS_add0_recipient_password(ci, PKIE_CMP_ENVKEY_PWRI_ITER, NID_id_alg_PWRI_KEK,
                                        NID_hmacWithSHA256, pass, (ossl_ssize_t)to->secret_len,
                                        NULL) == NULL)
            goto err;
        pass = NULL;
    }
    if (CMS_set1_eContentType(ci, OBJ_nid2obj(NID_pkcs7_signed)) != 1 ||
        CMS_final(ci, in, NULL, CMS_BINARY) != 1)
        goto err;
    uint8_t *env = NULL;
    size_t env_len = 0;
    if ((rc = ci_unwrap(ci, &env, &env_len)) == 0) {
        env[0] = 0xA0; /* envelopedData [0] IMPLICIT of EncryptedKey */
        *out = env;
        *len = env_len;
    }
    goto done;
err:
    rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "envelope the generated key");
done:
    if (pass != NULL)
        OPENSSL_clear_free(pass, to->secret_len);
    sk_X509_free(rcpt);
    CMS_ContentInfo_free(ci);
    BIO_free(in);
    pkie_wipe(sd, sd_len);
    free(sd);
    return rc;
}

/* ---- open (the client) --------------------------------------------------------------- */

static int decrypt(CMS_ContentInfo *env, const struct pkie_cmp_envkey_recipient *by,
                   uint8_t **plain, size_t *plain_len)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(env);
    int kinds = 0;
    for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++)
        kinds |= 1 << CMS_RecipientInfo_type(sk_CMS_RecipientInfo_value(ris, i));
    BIO *out = BIO_new(BIO_s_mem());
    int ok = 0;
    const char *how = NULL;
    if (out == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
    if ((kinds & (1 << CMS_RECIPINFO_PASS)) && by->secret != NULL && by->secret_len > 0) {
        how = "password (pwri) with the MAC secret";
        unsigned char *pw = OPENSSL_memdup(by->secret, by->secret_len);
        /* CMS uses pw for this call only (it resets the recipient's pointer) */
        ok = pw != NULL && CMS_decrypt_set1_password(env, pw, (ossl_ssize_t)by->secret_len) == 1 &&
             CMS_decrypt(env, NULL, NULL, NULL, out, CMS_BINARY) == 1;
        OPENSSL_clear_free(pw, by->secret_len);
    } else if ((kinds & ((1 << CMS_RECIPINFO_TRANS) | (1 << CMS_RECIPINFO_AGREE))) &&
               by->cert != NULL && by->key != NULL) {
        how = (kinds & (1 << CMS_RECIPINFO_AGREE)) ? "key agreement (kari) with the client's key"
                                                   : "key transport (ktri) with the client's key";
        ok = CMS_decrypt(env, by->key, by->cert, NULL, out, CMS_BINARY) == 1;
    } else {
        BIO_free(out);
        return PKIE_ERR(PKIE_ERR_CRYPTO,
                        "central key: no recipientInfo this client can use (kinds 0x%x; %s)", kinds,
                        by->cert != NULL ? "have a certificate" : "have a secret");
    }
    int rc = ok ? bio_take(out, plain, plain_len)
                : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "central key: cannot decrypt by %s", how);
    BIO_free(out);
    return rc;
}

static int has_cmkga(X509 *x)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    int found = 0;
    for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
        found |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_cmKGA;
    EXTENDED_KEY_USAGE_free(eku);
    return found;
}

/* The signature of the SignedData, its signer's path to the trust store and cmKGA EKU. */
static int verify_kga(CMS_ContentInfo *sd, const struct pkie_cmp_envkey_trust *trust,
                      uint8_t **content, size_t *content_len)
{
    BIO *out = BIO_new(BIO_s_mem());
    STACK_OF(X509) *certs = CMS_get1_certs(sd);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    int rc = 0;
    if (out == NULL || untrusted == NULL || vc == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(trust->untrusted); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(trust->untrusted, i)))
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
    for (int i = 0; i < sk_X509_num(certs); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(certs, i)))
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
    if (rc != 0)
        goto out;
    /* the signature with the signer certificate the SignedData names; its path below */
    if (CMS_verify(sd, untrusted, NULL, NULL, out, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "central key: KGA signature does not verify");
        goto out;
    }
    STACK_OF(X509) *signers = CMS_get0_signers(sd);
    X509 *kga = sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : NULL;
    sk_X509_free(signers);
    if (kga == NULL) {
        rc = PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: the SignedData must have one signer");
        goto out;
    }
    if (trust->verified != NULL && *trust->verified != NULL &&
        X509_cmp(*trust->verified, kga) == 0 &&
        X509_cmp_current_time(X509_get0_notAfter(kga)) > 0 &&
        X509_cmp_current_time(X509_get0_notBefore(kga)) < 0) {
        /* verified before against the same trust store (the caller's promise) */
    } else if (trust->trusted == NULL ||
               X509_STORE_CTX_init(vc, trust->trusted, kga, untrusted) != 1 ||
               X509_verify_cert(vc) != 1) {
        rc = PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED,
                      "central key: KGA certificate does not chain to the trust store (%s)",
                      trust->trusted == NULL
                          ? "no trust store"
                          : X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
        goto out;
    }
    if (!has_cmkga(kga)) {
        rc = PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED,
                      "central key: signer certificate lacks extendedKeyUsage id-kp-cmKGA");
        goto out;
    }
    if (trust->verified != NULL && *trust->verified != kga && X509_up_ref(kga) == 1) {
        X509_free(*trust->verified);
        *trust->verified = kga;
    }
    const ASN1_OBJECT *ct = CMS_get0_eContentType(sd);
    char oid[64] = "";
    OBJ_obj2txt(oid, sizeof(oid), ct, 1);
    if (strcmp(oid, OID_AKEY_PACKAGE) != 0 && strcmp(oid, OID_DATA) != 0) {
        rc = PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: SignedData content type %s", oid);
        goto out;
    }
    rc = bio_take(out, content, content_len);
out:
    X509_STORE_CTX_free(vc);
    sk_X509_free(untrusted);
    sk_X509_pop_free(certs, X509_free);
    BIO_free(out);
    return rc;
}

/* An EC private key of a named curve from its PKCS#8 fields, without OpenSSL's decoders
 * (EVP_PKCS82PKEY costs 1.6 ms in OpenSSL 3.0, this 0.5): AlgorithmIdentifier parameters
 * @p curve_oid, privateKey the ECPrivateKey DER with its publicKey. NULL when not of this form
 * (the caller then uses libcrypto's decoder); the pair is checked (pub = priv * G). */
static EVP_PKEY *ec_from_p8(const uint8_t *curve_oid, size_t curve_len, const uint8_t *eck,
                            size_t eck_len)
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
        return NULL;
    }
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
    EVP_PKEY_CTX *check = k != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL) : NULL;
    if (k != NULL && (check == NULL || EVP_PKEY_pairwise_check(check) != 1)) {
        EVP_PKEY_free(k); /* a public key that is not the private key's */
        k = NULL;
    }
    EVP_PKEY_CTX_free(check);
    return k;
}

/* OneAsymmetricKey (PKCS#8 PrivateKeyInfo, version 0 or 1). */
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
        pkie_der_oid_equal(oid, oid_len, ec_oid, ec_len) &&
        (*out = ec_from_p8(param, param_len, key, key_len)) != NULL)
        return 0;
    pkie_err_clear();
    /* other key types, attributes, version 1: libcrypto's decoder */
    const unsigned char *q = p;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)len);
    int whole = p8 != NULL && q == p + len;
    if (whole)
        *out = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (!whole)
        return -1;
    return *out != NULL ? 0 : PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "central key: unusable key");
}

/* OneAsymmetricKey, or an AsymmetricKeyPackage holding exactly one. */
static int decode_key(const uint8_t *p, size_t len, EVP_PKEY **out)
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
    if (rc >= 0)
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
               ? 0
               : PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "central key: content is no private key");
}

int pkie_cmp_envkey_open(const uint8_t *ek, size_t len, const struct pkie_cmp_envkey_recipient *by,
                         const struct pkie_cmp_envkey_trust *trust, EVP_PKEY **out)
{
    struct pkie_der d;
    struct pkie_der_tlv t;
    uint8_t *plain = NULL, *content = NULL;
    size_t plain_len = 0, content_len = 0;
    CMS_ContentInfo *env = NULL, *sd = NULL;
    *out = NULL;
    if (ek == NULL || len == 0 || len > MAX_ENVELOPE)
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: EncryptedKey of %zu bytes", len);
    pkie_der_init(&d, ek, len);
    int rc = pkie_der_read_tlv(&d, &t);
    if (rc == 0)
        rc = pkie_der_finish(&d);
    if (rc != 0)
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: EncryptedKey is not one DER element");
    if (t.tag == PKIE_DER_SEQUENCE)
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "central key: EncryptedValue is not accepted "
                                              "(RFC 9483 requires EnvelopedData)");
    if (t.tag != PKIE_DER_CTX_C(0))
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: EncryptedKey tag 0x%02x", ek[0]);
    ERR_clear_error();
    if ((env = ci_wrap(OID_ENVELOPED_DATA, ek, len)) == NULL ||
        OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
        rc = env == NULL ? pkie_err_last()->code
                         : PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: not an EnvelopedData");
        goto out;
    }
    if ((rc = decrypt(env, by, &plain, &plain_len)) != 0)
        goto out;
    if (plain[0] != 0x30 || (sd = ci_wrap(OID_SIGNED_DATA, plain, plain_len)) == NULL ||
        OBJ_obj2nid(CMS_get0_type(sd)) != NID_pkcs7_signed) {
        rc = PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: envelope content is not a SignedData");
        goto out;
    }
    if ((rc = verify_kga(sd, trust, &content, &content_len)) != 0)
        goto out;
    rc = decode_key(content, content_len, out);
out:
    if (sd != NULL) {
        ASN1_OCTET_STRING **pos = CMS_get0_content(sd);
        if (pos != NULL && *pos != NULL)
            OPENSSL_cleanse((*pos)->data, (size_t)(*pos)->length);
    }
    CMS_ContentInfo_free(sd);
    CMS_ContentInfo_free(env);
    pkie_wipe(plain, plain_len);
    free(plain);
    pkie_wipe(content, content_len);
    free(content);
    ERR_clear_error();
    return rc;
}
