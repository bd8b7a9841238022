/* Centrally generated keys: the EnvelopedData of a CertifiedKeyPair (see pkie/cmp_envkey.h),
 * sealed by the CA and opened by the client, on libcrypto's CMS (OpenSSL 3.0 API). */
#include "pkie/cmp_envkey.h"
#include "pkie/der.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/cms.h>
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

/* SignedData by the KGA over the PKCS#8 encoding of @p key, as bare SignedData DER. */
static int kga_sign(EVP_PKEY *key, const struct pkie_cmp_envkey_kga *kga, uint8_t **sd,
                    size_t *sd_len)
{
    unsigned char *p8der = NULL;
    int p8len = 0;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    if (p8 != NULL)
        p8len = i2d_PKCS8_PRIV_KEY_INFO(p8, &p8der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (p8len <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode the generated key");
    int rc = PKIE_ERR_CRYPTO;
    BIO *in = BIO_new_mem_buf(p8der, p8len);
    ASN1_OBJECT *ct = OBJ_txt2obj(OID_AKEY_PACKAGE, 1);
    unsigned flags = CMS_BINARY | CMS_PARTIAL;
    CMS_ContentInfo *ci = CMS_sign(NULL, NULL, kga->chain, NULL, flags);
    if (in == NULL || ct == NULL || ci == NULL || CMS_set1_eContentType(ci, ct) != 1 ||
        CMS_add1_signer(ci, kga->cert, kga->key, NULL, CMS_BINARY) == NULL ||
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
    OPENSSL_clear_free(p8der, (size_t)p8len);
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
    if (trust->trusted == NULL || X509_STORE_CTX_init(vc, trust->trusted, kga, untrusted) != 1 ||
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
    const unsigned char *q = p;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)len);
    if (p8 != NULL && q == p + len) {
        *out = EVP_PKCS82PKEY(p8);
        PKCS8_PRIV_KEY_INFO_free(p8);
        return *out != NULL ? 0 : PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "central key: unusable key");
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    /* OpenSSL 3.5's own server sends i2d_PrivateKey's type-specific form (RFC 5915
     * ECPrivateKey, RFC 8017 RSAPrivateKey) instead of a OneAsymmetricKey: accepted too */
    ERR_clear_error();
    q = p;
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
