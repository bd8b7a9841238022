/* Central key envelope, sealed by the CA: SignedData by the KGA, EnvelopedData to the
 * client (see pkie/cmp_envkey.h). */
#include "envkey_local.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <limits.h>
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

/* kari (RFC 5652 6.2.2, RFC 5753): a recipient certificate's EC key on one of these curves of
 * cofactor 1, where a point that decodes (on the curve, as X509 decoding checks) is a valid
 * public key; libcrypto's CMS_encrypt validates it once more by multiplying it by the order
 * (0.68 M instructions of its 1.5 M, bench/README.md). NULL: another key (CMS_encrypt). */
static const char *kari_curve(EVP_PKEY *pub)
{
    static const char *const prime_order[] = {"prime256v1", "P-256",     "secp384r1",
                                              "P-384",      "secp521r1", "P-521"};
    char group[32];
    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) != 1)
        return NULL;
    for (size_t i = 0; i < sizeof(prime_order) / sizeof(prime_order[0]); i++)
        if (strcmp(group, prime_order[i]) == 0)
            return prime_order[i];
    return NULL;
}

#define OID_EC_PUBKEY   "1.2.840.10045.2.1"
#define OID_ECDH_SHA256 "1.3.132.1.11.1"          /* dhSinglePass-stdDH-sha256kdf-scheme */
#define OID_AES256_WRAP "2.16.840.1.101.3.4.1.45" /* id-aes256-wrap */
#define OID_AES256_CBC  "2.16.840.1.101.3.4.1.42"

/* The key-encryption key of dhSinglePass-stdDH-sha256kdf-scheme with id-aes256-wrap: the
 * ANSI X9.63 KDF with SHA-256 over Z and the ECC-CMS-SharedInfo (RFC 5753 7.2: keyInfo
 * id-aes256-wrap without parameters, no entityUInfo, suppPubInfo the KEK length in bits), one
 * block. */
static int kari_kek(const uint8_t *z, size_t zlen, uint8_t kek[32])
{
    static const uint8_t counter[4] = {0, 0, 0, 1}, bits[4] = {0, 0, 1, 0};
    struct pkie_derw w;
    const uint8_t *si = NULL;
    size_t si_len = 0;
    pkie_derw_init(&w, 256);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_AES256_WRAP);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(2));
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, bits, sizeof(bits));
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok = pkie_derw_finish(&w, &si, &si_len) == 0 && md != NULL &&
             EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, z, zlen) == 1 &&
             EVP_DigestUpdate(md, counter, 4) == 1 && EVP_DigestUpdate(md, si, si_len) == 1 &&
             EVP_DigestFinal_ex(md, kek, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    pkie_derw_free(&w);
    return ok;
}

/* One-shot symmetric encryption of @p in into @p out (room for inlen + 16 + 8). */
static int cipher(const EVP_CIPHER *c, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
                  size_t inlen, uint8_t *out, size_t *outlen)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int a = 0, b = 0;
    if (x != NULL)
        EVP_CIPHER_CTX_set_flags(x, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int ok = x != NULL && inlen <= INT_MAX / 2 && EVP_EncryptInit_ex(x, c, NULL, key, iv) == 1 &&
             EVP_EncryptUpdate(x, out, &a, in, (int)inlen) == 1 &&
             EVP_EncryptFinal_ex(x, out + a, &b) == 1;
    EVP_CIPHER_CTX_free(x);
    *outlen = (size_t)a + (size_t)b;
    return ok;
}

/* The EnvelopedData (as [0] IMPLICIT, the EncryptedKey) of @p sd to @p cert's EC key by
 * kari, as CMS_encrypt with tune_recipient writes it: an ephemeral key on the recipient's
 * curve, dhSinglePass-stdDH-sha256kdf-scheme, id-aes256-wrap, the recipient by issuer and
 * serial number, the content in AES-256-CBC. */
static int seal_kari(const uint8_t *sd, size_t sd_len, X509 *cert, uint8_t **out, size_t *len)
{
    EVP_PKEY *peer = X509_get0_pubkey(cert), *eph = NULL;
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL), *dc = NULL;
    uint8_t z[66], kek[32], cek[32], iv[16], wrapped[40], pub[1 + 2 * 66];
    size_t zlen = sizeof(z), wlen = 0, pub_len = 0, clen = 0;
    unsigned char *issuer = NULL, *serial = NULL;
    uint8_t *enc = malloc(sd_len + 16);
    struct pkie_derw w;
    pkie_derw_init(&w, 2 * MAX_ENVELOPE);
    int ilen = i2d_X509_NAME(X509_get_issuer_name(cert), &issuer);
    int slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &serial);
    int rc = PKIE_ERR_CRYPTO;
    if (enc == NULL || kc == NULL || ilen <= 0 || slen <= 0 || EVP_PKEY_keygen_init(kc) != 1 ||
        EVP_PKEY_keygen(kc, &eph) != 1 ||
        EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &pub_len) !=
            1 ||
        (dc = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
        EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer_ex(dc, peer, 0) != 1 ||
        EVP_PKEY_derive(dc, z, &zlen) != 1 || !kari_kek(z, zlen, kek) ||
        RAND_priv_bytes(cek, sizeof(cek)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
        !cipher(EVP_aes_256_wrap(), kek, NULL, cek, sizeof(cek), wrapped, &wlen) ||
        !cipher(EVP_aes_256_cbc(), cek, iv, sd, sd_len, enc, &clen)) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "envelope the generated key (kari)");
        goto done;
    }
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0)); /* EnvelopedData */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 2);
    pkie_derw_begin(&w, PKIE_DER_SET);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(1)); /* KeyAgreeRecipientInfo */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 3);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0)); /* originator: originatorKey [1] */
    pkie_derw_begin(&w, PKIE_DER_CTX_C(1));
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_EC_PUBKEY); /* parameters absent: the recipient's */
    pkie_derw_end(&w);
    pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, pub, pub_len, 0);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* keyEncryptionAlgorithm */
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_ECDH_SHA256);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_AES256_WRAP);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* recipientEncryptedKeys */
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* rid: issuerAndSerialNumber */
    pkie_derw_raw(&w, issuer, (size_t)ilen);
    pkie_derw_raw(&w, serial, (size_t)slen);
    pkie_derw_end(&w);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, wrapped, wlen);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* encryptedContentInfo */
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_SIGNED_DATA);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_AES256_CBC);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, iv, sizeof(iv));
    pkie_derw_end(&w);
    pkie_derw_octets(&w, PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 0, 0), enc, clen);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    rc = pkie_derw_steal(&w, out, len);
done:
    OPENSSL_cleanse(z, sizeof(z));
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_cleanse(cek, sizeof(cek));
    free(enc); /* ciphertext */
    OPENSSL_free(issuer);
    OPENSSL_free(serial);
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_CTX_free(kc);
    EVP_PKEY_free(eph);
    pkie_derw_free(&w);
    return rc;
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
    if (to->cert != NULL && kari_curve(X509_get0_pubkey(to->cert)) != NULL) {
        rc = seal_kari(sd, sd_len, to->cert, out, len);
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
