/* Runtime calls on the snapshot: GetCertificate, GetCAList, CryptData.
 * They read only immutable data and are safe from many threads. */
#include "pki_int.h"

#include "pkie/error.h"

#include <openssl/rsa.h>

#include <string.h>

int pkie_pki_get_chain(struct pkie_pki *pki, const char *cert_id, STACK_OF(X509) **chain,
                       EVP_PKEY **key)
{
    STACK_OF(X509) *out = NULL;
    if (chain != NULL)
        *chain = NULL;
    if (key != NULL)
        *key = NULL;
    if (pki == NULL || cert_id == NULL || chain == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_get_chain: NULL argument");
    const struct pki_ent *e = pki_find(pki, cert_id);
    if (e == NULL)
        return PKIE_ERR(PKIE_ERR_PKI_UNKNOWN_ID, "no certificate with id '%s'", cert_id);
    if (key != NULL && e->key == NULL)
        return PKIE_ERR(PKIE_ERR_PKI_NO_KEY, "%s: %s", cert_id,
                        e->pub.has_key ? "base opened without the PKI password"
                                       : "no private key in the base");
    out = X509_chain_up_ref(e->chain);
    if (out == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "chain copy");
    if (key != NULL) {
        if (!EVP_PKEY_up_ref(e->key)) {
            sk_X509_pop_free(out, X509_free);
            return PKIE_ERR_OSSL(PKIE_ERR_INTERNAL, "key reference");
        }
        *key = e->key;
    }
    *chain = out;
    return 0;
}

int pkie_pki_get_ca_names(struct pkie_pki *pki, const char *const *ids, size_t n,
                          STACK_OF(X509_NAME) **names)
{
    STACK_OF(X509_NAME) *out = NULL;
    int rc;
    if (names != NULL)
        *names = NULL;
    if (pki == NULL || names == NULL || (n > 0 && ids == NULL))
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_get_ca_names: NULL argument");
    out = sk_X509_NAME_new_reserve(NULL, (int)n);
    if (out == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "CA names");
    for (size_t i = 0; i < n; i++) {
        const struct pki_ent *e = pki_find(pki, ids[i]);
        if (e == NULL) {
            rc = PKIE_ERR(PKIE_ERR_PKI_UNKNOWN_ID, "no CA with id '%s'",
                          ids[i] != NULL ? ids[i] : "(null)");
            goto err;
        }
        if (e->pub.type == PKIE_PKI_USER) {
            rc = PKIE_ERR(PKIE_ERR_PKI_TYPE, "'%s' is not a CA certificate", ids[i]);
            goto err;
        }
        X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(e->pub.cert));
        if (nm == NULL || !sk_X509_NAME_push(out, nm)) {
            X509_NAME_free(nm);
            rc = PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "CA name");
            goto err;
        }
    }
    *names = out;
    return 0;
err:
    sk_X509_NAME_pop_free(out, X509_NAME_free);
    return rc;
}

static int sign_message(EVP_PKEY *key, const unsigned char *tbs, size_t tbs_len, unsigned char *sig,
                        size_t *sig_len)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int rc = 0;
    if (m == NULL || EVP_DigestSignInit(m, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(m, sig, sig_len, tbs, tbs_len) != 1)
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_SIGN, "signature (%s)", EVP_PKEY_get0_type_name(key));
    EVP_MD_CTX_free(m);
    return rc;
}

int pkie_pki_sign(struct pkie_pki *pki, const char *cert_id, const EVP_MD *md, int rsa_padding,
                  const unsigned char *tbs, size_t tbs_len, unsigned char *sig, size_t *sig_len)
{
    EVP_PKEY_CTX *c = NULL;
    int rc;
    if (pki == NULL || cert_id == NULL || sig_len == NULL || (tbs == NULL && tbs_len > 0))
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_sign: NULL argument");
    const struct pki_ent *e = pki_find(pki, cert_id);
    if (e == NULL)
        return PKIE_ERR(PKIE_ERR_PKI_UNKNOWN_ID, "no certificate with id '%s'", cert_id);
    if (e->key == NULL)
        return PKIE_ERR(PKIE_ERR_PKI_NO_KEY, "%s: no private key available", cert_id);
    EVP_PKEY *key = e->key;
    if (sig == NULL) {
        int max = EVP_PKEY_get_size(key);
        if (max <= 0)
            return PKIE_ERR_OSSL(PKIE_ERR_PKI_SIGN, "%s: key size", cert_id);
        *sig_len = (size_t)max;
        return 0;
    }
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
        return sign_message(key, tbs, tbs_len, sig, sig_len);

    if (md == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "%s: a digest is required for %s", cert_id,
                        EVP_PKEY_get0_type_name(key));
    if (tbs_len != (size_t)EVP_MD_get_size(md))
        return PKIE_ERR(PKIE_ERR_ARG, "%s: %zu bytes to sign, %s digest has %d", cert_id, tbs_len,
                        EVP_MD_get0_name(md), EVP_MD_get_size(md));
    int is_rsa = id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS;
    if (is_rsa && rsa_padding != RSA_PKCS1_PADDING && rsa_padding != RSA_PKCS1_PSS_PADDING)
        return PKIE_ERR(PKIE_ERR_ARG, "%s: RSA padding %d not supported", cert_id, rsa_padding);
    if (id == EVP_PKEY_RSA_PSS && rsa_padding != RSA_PKCS1_PSS_PADDING)
        return PKIE_ERR(PKIE_ERR_ARG, "%s: an RSA-PSS key signs with PSS only", cert_id);
    c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (c == NULL || EVP_PKEY_sign_init(c) != 1 || EVP_PKEY_CTX_set_signature_md(c, md) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_SIGN, "%s: sign init", cert_id);
        goto out;
    }
    if (is_rsa) {
        if (EVP_PKEY_CTX_set_rsa_padding(c, rsa_padding) != 1 ||
            (rsa_padding == RSA_PKCS1_PSS_PADDING &&
             (EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) != 1 ||
              EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) != 1))) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_SIGN, "%s: RSA parameters", cert_id);
            goto out;
        }
    }
    if (EVP_PKEY_sign(c, sig, sig_len, tbs, tbs_len) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_SIGN, "%s: signature", cert_id);
        goto out;
    }
    rc = 0;
out:
    EVP_PKEY_CTX_free(c);
    return rc;
}
