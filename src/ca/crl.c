/* CRL generation from the store's revoked certificates. */
#include "ca_internal.h"
#include "pkie/error.h"

#include <openssl/bn.h>

struct crl_build {
    X509_CRL *crl;
    int failed;
};

static int add_revoked(void *arg, const struct pkie_ca_cert *c)
{
    struct crl_build *b = arg;
    X509_REVOKED *r = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)c->revoked_at);
    ASN1_ENUMERATED *reason = NULL;
    int ok = r != NULL && when != NULL && BN_hex2bn(&bn, c->serial) > 0 &&
             (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
             X509_REVOKED_set_serialNumber(r, serial) == 1 &&
             X509_REVOKED_set_revocationDate(r, when) == 1;
    /* reasonCode is omitted for unspecified (RFC 5280 5.3.1). */
    if (ok && c->reason > 0 && c->reason <= 10 && c->reason != 7) {
        reason = ASN1_ENUMERATED_new();
        ok = reason != NULL && ASN1_ENUMERATED_set(reason, c->reason) == 1 &&
             X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0) == 1;
    }
    if (ok && X509_CRL_add0_revoked(b->crl, r) == 1)
        r = NULL;
    else
        b->failed = 1;
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_REVOKED_free(r);
    return b->failed ? PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "CRL entry %s", c->serial) : 0;
}

X509_CRL *pkie_ca_crl_build(struct pkie_ca_store *s, const struct pkie_ca_issuer *iss,
                            int64_t next_update_secs)
{
    struct crl_build b = {X509_CRL_new(), 0};
    ASN1_TIME *last = NULL, *next = NULL;
    ASN1_INTEGER *num = NULL;
    X509V3_CTX ctx;
    X509_EXTENSION *aki = NULL;
    int64_t n = 0, now = pkie_ca_now();
    if (b.crl == NULL)
        goto err;
    if (pkie_ca_store_next_crl_number(s, &n) != 0)
        goto quiet;
    last = ASN1_TIME_set(NULL, (time_t)now);
    next = ASN1_TIME_set(NULL, (time_t)(now + next_update_secs));
    num = ASN1_INTEGER_new();
    if (last == NULL || next == NULL || num == NULL || ASN1_INTEGER_set_int64(num, n) != 1 ||
        X509_CRL_set_version(b.crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(b.crl, X509_get_subject_name(iss->cert)) != 1 ||
        X509_CRL_set1_lastUpdate(b.crl, last) != 1 || X509_CRL_set1_nextUpdate(b.crl, next) != 1 ||
        X509_CRL_add1_ext_i2d(b.crl, NID_crl_number, num, 0, 0) != 1)
        goto err;
    X509V3_set_ctx(&ctx, iss->cert, NULL, NULL, b.crl, 0);
    aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (aki == NULL || X509_CRL_add_ext(b.crl, aki, -1) != 1)
        goto err;
    if (pkie_ca_store_cert_list(s, 1, add_revoked, &b) != 0)
        goto quiet;
    X509_CRL_sort(b.crl);
    int id = EVP_PKEY_get_base_id(iss->key);
    const EVP_MD *md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : EVP_sha256();
    if (X509_CRL_sign(b.crl, iss->key, md) <= 0)
        goto err;
    goto done;
err:
    PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "cannot build the CRL");
quiet:
    X509_CRL_free(b.crl);
    b.crl = NULL;
done:
    X509_EXTENSION_free(aki);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    return b.crl;
}
