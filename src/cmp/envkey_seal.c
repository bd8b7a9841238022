/* Central key envelope, sealed by the CA: SignedData by the KGA, EnvelopedData to the
 * client (see pkie/cmp_envkey.h). */
#include "envkey_local.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/rsa.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_CONTENT_TYPE "1.2.840.113549.1.9.3"
#define OID_MSG_DIGEST   "1.2.840.113549.1.9.4"
#define OID_SIGNING_TIME "1.2.840.113549.1.9.5"

/* One signed attribute { type, SET { value } } with @p value a complete TLV. */
static void signed_attr(struct pkie_derw *w, const char *type, const uint8_t *value, size_t len)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(w, PKIE_DER_OID, type);
    pkie_derw_begin(w, PKIE_DER_SET);
    pkie_derw_raw(w, value, len);
    pkie_derw_end(w);
    pkie_derw_end(w);
}

/* The SignedData of kga_sign for a KGA with an EC key, with the DER writer and EVP instead of
 * libcrypto's CMS (0.6 M instructions, a third of them the signature; bench/README.md), as
 * CMS_sign writes it: version 3, SHA-256, eContent the PKCS#8 key, the KGA certificate and
 * @p kga's chain, one SignerInfo by issuer and serial number with the signed attributes
 * contentType, signingTime and messageDigest, ecdsa-with-SHA256. */
static int kga_sign_ec(const uint8_t *p8, size_t p8len, const struct pkie_cmp_envkey_kga *kga,
                       uint8_t **sd, size_t *sd_len)
{
    uint8_t md[32], ct[16], sig[160];
    size_t ct_len = 0, sig_len = sizeof(sig), sa_len = 0;
    unsigned md_len = 0;
    unsigned char *cert = NULL, *issuer = NULL, *serial = NULL;
    int clen = i2d_X509(kga->cert, &cert);
    int ilen = i2d_X509_NAME(X509_get_issuer_name(kga->cert), &issuer);
    int slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(kga->cert), &serial);
    struct pkie_derw a, w;
    const uint8_t *sa = NULL;
    uint8_t *attrs = NULL;
    pkie_derw_init(&a, 1024);
    pkie_derw_init_secret(&w, 2 * MAX_ENVELOPE);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int rc = PKIE_ERR_CRYPTO;
    /* signed attributes: a SET OF (sorted), signed with its own tag, sent as [0] */
    struct pkie_der_time now = {(int64_t)time(NULL), 0};
    struct pkie_derw v;
    const uint8_t *val = NULL;
    size_t val_len = 0;
    pkie_derw_init(&v, 64);
    if (clen <= 0 || ilen <= 0 || slen <= 0 || mc == NULL ||
        EVP_Digest(p8, p8len, md, &md_len, EVP_sha256(), NULL) != 1 ||
        pkie_der_oid_from_text(OID_AKEY_PACKAGE, ct, sizeof(ct), &ct_len) != 0)
        goto done;
    pkie_derw_begin_set_of(&a, PKIE_DER_SET);
    pkie_derw_oid(&v, PKIE_DER_OID, ct, ct_len);
    if (pkie_derw_finish(&v, &val, &val_len) == 0)
        signed_attr(&a, OID_CONTENT_TYPE, val, val_len);
    pkie_derw_free(&v);
    pkie_derw_init(&v, 64);
    pkie_derw_x509_time(&v, &now);
    if (pkie_derw_finish(&v, &val, &val_len) == 0)
        signed_attr(&a, OID_SIGNING_TIME, val, val_len);
    pkie_derw_free(&v);
    pkie_derw_init(&v, 64);
    pkie_derw_octets(&v, PKIE_DER_OCTET_STRING, md, md_len);
    if (pkie_derw_finish(&v, &val, &val_len) == 0)
        signed_attr(&a, OID_MSG_DIGEST, val, val_len);
    pkie_derw_end(&a);
    if (pkie_derw_finish(&a, &sa, &sa_len) != 0 || (attrs = malloc(sa_len)) == NULL ||
        EVP_DigestSignInit_ex(mc, NULL, "SHA256", NULL, NULL, kga->key, NULL) != 1 ||
        EVP_DigestSign(mc, sig, &sig_len, sa, sa_len) != 1)
        goto done;
    memcpy(attrs, sa, sa_len);
    attrs[0] = 0xA0; /* signedAttrs [0] IMPLICIT */
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 3);
    pkie_derw_begin(&w, PKIE_DER_SET);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_SHA256);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* encapContentInfo */
    pkie_derw_oid(&w, PKIE_DER_OID, ct, ct_len);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0));
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, p8, p8len);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin_set_of(&w, PKIE_DER_CTX_C(0)); /* certificates */
    pkie_derw_raw(&w, cert, (size_t)clen);
    for (int i = 0; i < sk_X509_num(kga->chain); i++) {
        unsigned char *c = NULL;
        int n = i2d_X509(sk_X509_value(kga->chain, i), &c);
        if (n <= 0 || X509_cmp(sk_X509_value(kga->chain, i), kga->cert) == 0) {
            OPENSSL_free(c);
            continue;
        }
        pkie_derw_raw(&w, c, (size_t)n);
        OPENSSL_free(c);
    }
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SET); /* signerInfos */
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 1);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* sid: issuerAndSerialNumber */
    pkie_derw_raw(&w, issuer, (size_t)ilen);
    pkie_derw_raw(&w, serial, (size_t)slen);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_SHA256);
    pkie_derw_end(&w);
    pkie_derw_raw(&w, attrs, sa_len);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_ECDSA_SHA256);
    pkie_derw_end(&w);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, sig, sig_len);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    rc = pkie_derw_steal(&w, sd, sd_len);
done:
    if (rc == PKIE_ERR_CRYPTO)
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "sign the generated key");
    OPENSSL_cleanse(md, sizeof(md));
    free(attrs);
    OPENSSL_free(cert);
    OPENSSL_free(issuer);
    OPENSSL_free(serial);
    EVP_MD_CTX_free(mc);
    pkie_derw_free(&v);
    pkie_derw_free(&a);
    pkie_derw_free(&w);
    return rc;
}

/* SignedData by the KGA over the PKCS#8 encoding of @p key, as bare SignedData DER. */
static int kga_sign(EVP_PKEY *key, const struct pkie_cmp_envkey_kga *kga, uint8_t **sd,
                    size_t *sd_len)
{
    struct pkie_derw w;
    const uint8_t *p8der = NULL;
    size_t p8len = 0;
    pkie_derw_init_secret(&w, 64 * 1024);
    int rc = envkey_key_to_p8(key, &w, &p8der, &p8len);
    if (rc != 0 || EVP_PKEY_get_base_id(kga->key) == EVP_PKEY_EC) {
        if (rc == 0)
            rc = kga_sign_ec(p8der, p8len, kga, sd, sd_len);
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
        rc = envkey_ci_unwrap(ci, sd, sd_len);
    envkey_ci_free_secret(ci);
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
    if (to->cert != NULL && envkey_kari_curve(X509_get0_pubkey(to->cert)) != NULL) {
        rc = envkey_kari_seal(sd, sd_len, to->cert, out, len);
        goto done;
    }
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
    if ((rc = envkey_ci_unwrap(ci, &env, &env_len)) == 0) {
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
