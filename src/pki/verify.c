/* Chain verification against the snapshot: pkie_pki_verify_chain (TLS peer
 * chains, trust anchors from the profile) and pkie_pki_check (a certificate of
 * the base, anchors = all its roots). Touches no file; thread-safe. */
#include "pki_int.h"

#include "pkie/error.h"

#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALERT_BAD_CERTIFICATE     42
#define ALERT_CERTIFICATE_REVOKED 44
#define ALERT_CERTIFICATE_EXPIRED 45
#define ALERT_CERTIFICATE_UNKNOWN 46
#define ALERT_UNKNOWN_CA          48
#define ALERT_ACCESS_DENIED       49
#define ALERT_INTERNAL_ERROR      80
#define DEFAULT_DEPTH             4

int pki_alert_for_x509_error(int x509_err, int *code)
{
    switch (x509_err) {
    case X509_V_ERR_CERT_REVOKED:
        *code = PKIE_ERR_PKI_CERT_REVOKED;
        return ALERT_CERTIFICATE_REVOKED;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED:
        *code = PKIE_ERR_PKI_CERT_EXPIRED;
        return ALERT_CERTIFICATE_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        *code = PKIE_ERR_PKI_CERT_UNKNOWN_CA;
        return ALERT_UNKNOWN_CA;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_NON_CA:
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
    case X509_V_ERR_EC_KEY_EXPLICIT_PARAMS:
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
    case X509_V_ERR_INVALID_POLICY_EXTENSION:
    case X509_V_ERR_NO_EXPLICIT_POLICY:
        *code = PKIE_ERR_PKI_CERT_BAD;
        return ALERT_BAD_CERTIFICATE;
    default:
        *code = PKIE_ERR_PKI_CERT_UNKNOWN;
        return ALERT_CERTIFICATE_UNKNOWN;
    }
}

/* CRLs are checked for every issuer the base has one of; an issuer without a
 * CRL in the base is not an error. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return 1;
    }
    return ok;
}

/*
 * Verify @leaf with @untrusted helpers. @anchors: trusted stack (partial chains
 * allowed) or NULL to use the snapshot's store (roots only end a chain).
 */
static int run_verify(struct pkie_pki *pki, X509 *leaf, STACK_OF(X509) *untrusted,
                      STACK_OF(X509) *anchors, int depth, int purpose, int *alert, char *detail,
                      size_t cap)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc;
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, pki->store, leaf, untrusted)) {
        X509_STORE_CTX_free(ctx);
        *alert = ALERT_INTERNAL_ERROR;
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "X509_STORE_CTX");
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    unsigned long flags = 0;
    if (anchors != NULL) {
        X509_STORE_CTX_set0_trusted_stack(ctx, anchors);
        flags |= X509_V_FLAG_PARTIAL_CHAIN;
    }
    if (sk_X509_CRL_num(pki->crls) > 0) {
        X509_STORE_CTX_set0_crls(ctx, pki->crls);
        X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    }
    X509_VERIFY_PARAM_set_flags(param, flags);
    X509_VERIFY_PARAM_set_depth(param, depth);
    /* the whole chain is checked for the purpose, as OpenSSL's TLS does */
    if (purpose != 0 && !X509_STORE_CTX_set_purpose(ctx, purpose)) {
        X509_STORE_CTX_free(ctx);
        *alert = ALERT_INTERNAL_ERROR;
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "X509_STORE_CTX_set_purpose");
    }
    int ok = X509_verify_cert(ctx);
    if (ok == 1) {
        rc = 0;
        *alert = 0;
        if (detail != NULL && cap > 0)
            snprintf(detail, cap, "ok");
    } else {
        int err = X509_STORE_CTX_get_error(ctx);
        int edepth = X509_STORE_CTX_get_error_depth(ctx);
        if (err == X509_V_OK) /* failure without a verification error */
            err = X509_V_ERR_UNSPECIFIED;
        *alert = pki_alert_for_x509_error(err, &rc);
        if (detail != NULL && cap > 0)
            snprintf(detail, cap, "%s (depth %d)", X509_verify_cert_error_string(err), edepth);
        rc = PKIE_ERR(rc, "chain refused at depth %d: %s (alert %d)", edepth,
                      X509_verify_cert_error_string(err), *alert);
    }
    X509_STORE_CTX_free(ctx);
    return rc;
}

static int dn_filters_accept(const struct pkie_pki_profile *prof, X509 *leaf, int *alert)
{
    if (prof->n_dn_filters == 0)
        return 0;
    char *subject = pki_name_text(X509_get_subject_name(leaf));
    if (subject == NULL) {
        *alert = ALERT_BAD_CERTIFICATE;
        return PKIE_ERR_OSSL(PKIE_ERR_PKI_CERT_BAD, "peer subject unreadable");
    }
    for (size_t i = 0; i < prof->n_dn_filters; i++)
        if (prof->dn_filters != NULL && prof->dn_filters[i] != NULL &&
            pki_dn_match(prof->dn_filters[i], subject)) {
            free(subject);
            return 0;
        }
    *alert = ALERT_ACCESS_DENIED;
    int rc =
        PKIE_ERR(PKIE_ERR_PKI_CERT_DENIED, "peer subject '%.160s' matches no DN filter", subject);
    free(subject);
    return rc;
}

int pkie_pki_verify_chain(struct pkie_pki *pki, const struct pkie_pki_profile *prof,
                          STACK_OF(X509) *peer_chain, int *alert)
{
    STACK_OF(X509) *anchors = NULL, *untrusted = NULL;
    int rc, dummy;
    if (alert == NULL)
        alert = &dummy;
    *alert = ALERT_INTERNAL_ERROR;
    if (pki == NULL || prof == NULL || peer_chain == NULL || sk_X509_num(peer_chain) < 1 ||
        sk_X509_value(peer_chain, 0) == NULL || (prof->n_ca_ids > 0 && prof->ca_ids == NULL) ||
        prof->peer_role < PKIE_PKI_PEER_ANY || prof->peer_role > PKIE_PKI_PEER_SERVER)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_verify_chain: missing pki, profile or chain");
    int n_peer = sk_X509_num(peer_chain);
    if (n_peer > PKIE_PKI_CHAIN_MAX + 1) {
        *alert = ALERT_BAD_CERTIFICATE;
        return PKIE_ERR(PKIE_ERR_PKI_CERT_BAD, "peer chain of %d certificates", n_peer);
    }
    anchors = sk_X509_new_reserve(NULL, (int)prof->n_ca_ids);
    untrusted = sk_X509_new_reserve(NULL, n_peer + sk_X509_num(pki->inters));
    if (anchors == NULL || untrusted == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "verify stacks");
        goto out;
    }
    for (size_t i = 0; i < prof->n_ca_ids; i++) {
        const struct pki_ent *e = pki_find(pki, prof->ca_ids[i]);
        if (e != NULL && e->pub.type != PKIE_PKI_USER)
            sk_X509_push(anchors, e->pub.cert); /* reserved: cannot fail */
    }
    for (int i = 1; i < n_peer; i++)
        sk_X509_push(untrusted, sk_X509_value(peer_chain, i));
    for (int i = 0; i < sk_X509_num(pki->inters); i++)
        sk_X509_push(untrusted, sk_X509_value(pki->inters, i));
    int depth = prof->verify_depth < 0 ? DEFAULT_DEPTH : prof->verify_depth;
    if (depth > PKIE_PKI_CHAIN_MAX)
        depth = PKIE_PKI_CHAIN_MAX;
    int purpose = prof->peer_role == PKIE_PKI_PEER_CLIENT   ? X509_PURPOSE_SSL_CLIENT
                  : prof->peer_role == PKIE_PKI_PEER_SERVER ? X509_PURPOSE_SSL_SERVER
                                                            : 0;
    X509 *leaf = sk_X509_value(peer_chain, 0);
    if ((rc = run_verify(pki, leaf, untrusted, anchors, depth, purpose, alert, NULL, 0)) != 0)
        goto out;
    /* role unknown: the leaf must at least be fit for one side of TLS */
    if (purpose == 0 && X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1 &&
        X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0) != 1) {
        *alert = ALERT_BAD_CERTIFICATE;
        rc = PKIE_ERR(PKIE_ERR_PKI_CERT_BAD,
                      "peer certificate not usable for TLS client or server authentication");
        goto out;
    }
    rc = dn_filters_accept(prof, leaf, alert);
out:
    sk_X509_free(anchors);
    sk_X509_free(untrusted);
    return rc;
}

int pkie_pki_check(struct pkie_pki *pki, const char *id, int *alert, char *detail, size_t cap)
{
    int dummy;
    if (alert == NULL)
        alert = &dummy;
    *alert = ALERT_INTERNAL_ERROR;
    if (detail != NULL && cap > 0)
        detail[0] = '\0';
    if (pki == NULL || id == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_check: NULL argument");
    const struct pki_ent *e = pki_find(pki, id);
    if (e == NULL)
        return PKIE_ERR(PKIE_ERR_PKI_UNKNOWN_ID, "no certificate with id '%s'", id);
    return run_verify(pki, e->pub.cert, pki->inters, NULL, PKIE_PKI_CHAIN_MAX, 0, alert, detail,
                      cap);
}
