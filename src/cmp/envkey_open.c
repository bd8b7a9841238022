/* Central key envelope, opened by the client: decryption as the recipientInfos say, the
 * KGA's signature, path and cmKGA, the key (see pkie/cmp_envkey.h). */
#include "envkey_local.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

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
    int rc = ok ? envkey_bio_take(out, plain, plain_len)
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

/* The SignedData @p sd (DER, holding the key) without its certificates field when that holds
 * exactly @p known, into the secret writer @p w: libcrypto's CMS decoder then does not decode
 * that certificate and its public key once more (1.3 M instructions with OpenSSL 3.0's
 * decoders, bench/README.md), and CMS_verify is given @p known to find the signer in. 1 when
 * it does not hold exactly @p known (the SignedData is then used as it is). */
static int strip_known_cert(const uint8_t *sd, size_t len, X509 *known, struct pkie_derw *w,
                            const uint8_t **out, size_t *out_len)
{
    struct pkie_der d, s;
    struct pkie_der_tlv version, algs, encap, certs, one;
    unsigned char *kder = NULL;
    int klen = 0, rc = 1;
    pkie_der_init(&d, sd, len);
    if (known == NULL || pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) != 0 ||
        pkie_der_finish(&d) != 0 || pkie_der_read_tlv(&s, &version) != 0 ||
        pkie_der_read_tlv(&s, &algs) != 0 || pkie_der_read_tlv(&s, &encap) != 0 ||
        pkie_der_read_tlv(&s, &certs) != 0 || certs.tag != PKIE_DER_CTX_C(0)) {
        pkie_err_clear();
        return 1;
    }
    struct pkie_der c;
    pkie_der_init(&c, certs.val, certs.len);
    if (pkie_der_read_tlv(&c, &one) != 0 || !pkie_der_at_end(&c) ||
        (klen = i2d_X509(known, &kder)) <= 0 || (size_t)klen != one.tlv_len ||
        memcmp(kder, one.tlv, one.tlv_len) != 0) {
        pkie_err_clear();
        OPENSSL_free(kder);
        ERR_clear_error();
        return 1;
    }
    OPENSSL_free(kder);
    size_t rest = len - (size_t)(certs.tlv + certs.tlv_len - sd);
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_raw(w, version.tlv, version.tlv_len);
    pkie_derw_raw(w, algs.tlv, algs.tlv_len);
    pkie_derw_raw(w, encap.tlv, encap.tlv_len);
    pkie_derw_raw(w, certs.tlv + certs.tlv_len, rest); /* crls, signerInfos */
    pkie_derw_end(w);
    rc = pkie_derw_finish(w, out, out_len);
    return rc;
}

/* The signature of the SignedData, its signer's path to the trust store and cmKGA EKU.
 * @p given: a certificate to look for the signer in besides the SignedData's (or NULL). */
static int verify_kga(CMS_ContentInfo *sd, const struct pkie_cmp_envkey_trust *trust, X509 *given,
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
    if (given != NULL && !sk_X509_push(untrusted, given))
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
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
    rc = envkey_bio_take(out, content, content_len);
out:
    X509_STORE_CTX_free(vc);
    sk_X509_free(untrusted);
    sk_X509_pop_free(certs, X509_free);
    BIO_free(out);
    return rc;
}

int pkie_cmp_envkey_open(const uint8_t *ek, size_t len, const struct pkie_cmp_envkey_recipient *by,
                         const struct pkie_cmp_envkey_trust *trust, EVP_PKEY **out)
{
    struct pkie_der d;
    struct pkie_der_tlv t;
    uint8_t *plain = NULL, *content = NULL;
    size_t plain_len = 0, content_len = 0;
    CMS_ContentInfo *env = NULL, *sd = NULL;
    struct pkie_derw stripped;
    pkie_derw_init_secret(&stripped, 0);
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
    /* the kari form pkie's CA writes without libcrypto's CMS, the rest with it */
    if (by->cert != NULL && by->key != NULL &&
        (rc = envkey_kari_open(ek, len, by->cert, by->key, &plain, &plain_len)) <= 0) {
        if (rc < 0)
            goto out;
    } else if ((env = envkey_ci_wrap(OID_ENVELOPED_DATA, ek, len)) == NULL ||
               OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
        rc = env == NULL ? pkie_err_last()->code
                         : PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: not an EnvelopedData");
        goto out;
    } else if ((rc = decrypt(env, by, &plain, &plain_len)) != 0)
        goto out;
    /* the KGA certificate verified before, when the SignedData carries just that one */
    X509 *known = trust->verified != NULL ? *trust->verified : NULL;
    const uint8_t *sd_der = plain;
    size_t sd_len = plain_len;
    pkie_derw_init_secret(&stripped, MAX_ENVELOPE);
    if (plain[0] != 0x30 ||
        strip_known_cert(plain, plain_len, known, &stripped, &sd_der, &sd_len) != 0)
        known = NULL;
    if (plain[0] != 0x30 || (sd = envkey_ci_wrap(OID_SIGNED_DATA, sd_der, sd_len)) == NULL ||
        OBJ_obj2nid(CMS_get0_type(sd)) != NID_pkcs7_signed) {
        rc = PKIE_ERR(PKIE_ERR_CMP_DECODE, "central key: envelope content is not a SignedData");
        goto out;
    }
    if ((rc = verify_kga(sd, trust, known, &content, &content_len)) != 0)
        goto out;
    rc = envkey_decode_key(content, content_len, out);
out:
    pkie_derw_free(&stripped);
    envkey_ci_free_secret(sd);
    CMS_ContentInfo_free(env);
    pkie_wipe(plain, plain_len);
    free(plain);
    pkie_wipe(content, content_len);
    free(content);
    ERR_clear_error();
    return rc;
}
