/* Issuance: certificate construction and serials (the policy is in policy.c). */
#include "ca_internal.h"
#include "pkie/error.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <string.h>

ASN1_INTEGER *pkie_ca_serial_new(void)
{
    uint8_t r[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    do {
        if (RAND_bytes(r, sizeof(r)) != 1) {
            PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "random serial");
            return NULL;
        }
        BN_free(bn);
        bn = BN_bin2bn(r, sizeof(r), NULL);
    } while (bn != NULL && BN_is_zero(bn));
    if (bn != NULL)
        ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (ai == NULL)
        PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "serial");
    return ai;
}

static int add_ext_conf(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "extension %s", OBJ_nid2sn(nid));
}

static const EVP_MD *sign_md(EVP_PKEY *key)
{
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
        return NULL;
    if (EVP_PKEY_get_bits(key) >= 384 && id == EVP_PKEY_EC)
        return EVP_sha384();
    return EVP_sha256();
}

X509 *pkie_ca_issue_cert(const struct pkie_ca_issuer *iss, const struct pkie_ca_profile *prof,
                         const struct pkie_ca_request *req)
{
    X509 *x = X509_new();
    ASN1_INTEGER *serial = pkie_ca_serial_new();
    X509V3_CTX ctx;
    int64_t now = pkie_ca_now();
    int64_t nb = req->not_before > now ? req->not_before : now;
    int64_t na = nb + prof->validity;
    int64_t iss_end = pkie_ca_asn1_time_secs(X509_get0_notAfter(iss->cert));
    int has_ku = 0;
    if (x == NULL || serial == NULL)
        goto err;
    if (req->not_after != 0 && req->not_after < na)
        na = req->not_after;
    if (iss_end != 0 && na > iss_end)
        na = iss_end;
    if (na <= nb) {
        PKIE_ERR(PKIE_ERR_CA_POLICY_VALIDITY, "no validity left (issuer expires)");
        goto err_quiet;
    }
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(iss->cert)) != 1 ||
        X509_set_subject_name(x, req->subject) != 1 ||
        (req->spki != NULL ? pkie_ca_x509_set_spki(x, req->spki, req->spki_len) != 0
                           : X509_set_pubkey(x, req->pubkey) != 1) ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL)
        goto err;
    X509V3_set_ctx(&ctx, iss->cert, x, NULL, NULL, 0);
    if (add_ext_conf(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext_conf(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
        add_ext_conf(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
        goto err_quiet;
    for (int i = 0; i < sk_X509_EXTENSION_num(req->exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(req->exts, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
        if (nid == NID_key_usage)
            has_ku = 1;
        if (nid == NID_subject_alt_name || nid == NID_key_usage || nid == NID_ext_key_usage)
            if (X509_add_ext(x, e, -1) != 1)
                goto err;
    }
    if (!has_ku) {
        char ku[96];
        snprintf(ku, sizeof(ku), "critical,digitalSignature%s",
                 EVP_PKEY_get_base_id(req->pubkey) == EVP_PKEY_RSA ? ",keyEncipherment" : "");
        if (add_ext_conf(x, &ctx, NID_key_usage, ku) != 0)
            goto err_quiet;
    }
    if (iss->crl_url != NULL) {
        char dp[600];
        snprintf(dp, sizeof(dp), "URI:%s", iss->crl_url);
        if (add_ext_conf(x, &ctx, NID_crl_distribution_points, dp) != 0)
            goto err_quiet;
    }
    if (X509_sign(x, iss->key, sign_md(iss->key)) <= 0)
        goto err;
    ASN1_INTEGER_free(serial);
    return x;
err:
    PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "cannot build the certificate");
err_quiet:
    ASN1_INTEGER_free(serial);
    X509_free(x);
    return NULL;
}

X509 *pkie_ca_enroll(struct pkie_ca_store *s, const struct pkie_ca_issuer *iss,
                     const struct pkie_ca_client *client, const struct pkie_ca_profile *prof,
                     const struct pkie_ca_request *req, int status, int64_t tx_id,
                     int64_t cert_req_id, int tx_state)
{
    if (pkie_ca_policy_check(client, prof, req) != 0)
        return NULL;
    for (int attempt = 0; attempt < 8; attempt++) {
        X509 *x = pkie_ca_issue_cert(iss, prof, req);
        if (x == NULL)
            return NULL;
        int rc = pkie_ca_store_cert_insert_claim(s, x, status, client != NULL ? client->ref : "",
                                                 tx_id, cert_req_id, tx_state, req->nonce);
        if (rc == 0)
            return x;
        X509_free(x);
        if (rc != PKIE_ERR_EXISTS)
            return NULL;
    }
    PKIE_ERR(PKIE_ERR_CA_SERIAL, "8 serial collisions in a row");
    return NULL;
}
