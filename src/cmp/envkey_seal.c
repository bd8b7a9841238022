/* Central key envelope, sealed by the CA: SignedData by the KGA, EnvelopedData to the
 * client (see pkie/cmp_envkey.h). */
#include "envkey_local.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

/* SignedData by the KGA over the PKCS#8 encoding of @p key, as bare SignedData DER. */
static int kga_sign(EVP_PKEY *key, const struct pkie_cmp_envkey_kga *kga, uint8_t **sd,
                    size_t *sd_len)
{
    struct pkie_derw w;
    const uint8_t *p8der = NULL;
    size_t p8len = 0;
    pkie_derw_init_secret(&w, 64 * 1024);
    int rc = envkey_key_to_p8(key, &w, &p8der, &p8len);
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
