/* What the client does with the extraCerts of responses beyond validating the
 * response itself: keeping them for later messages (PKIE_CMP_OPT_NO_CACHE_EXTRACERTS)
 * and the 3GPP TS 33.310 trust anchor taken from an ip's extraCerts
 * (PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS). See docs/cmp-client.md. */
#include "client_internal.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <string.h>

int cmp_keep_extracerts(struct pkie_cmp_ctx *ctx, STACK_OF(X509) *certs)
{
    if (ctx->opt[PKIE_CMP_OPT_NO_CACHE_EXTRACERTS] || sk_X509_num(certs) <= 0)
        return 0;
    if (ctx->extracerts_kept == NULL && (ctx->extracerts_kept = sk_X509_new_null()) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "kept extraCerts");
    /* newest first, without duplicates, bounded: the oldest fall off the end */
    for (int i = sk_X509_num(certs) - 1; i >= 0; i--) {
        X509 *x = sk_X509_value(certs, i);
        int dup = 0;
        for (int k = 0; !dup && k < sk_X509_num(ctx->extracerts_kept); k++)
            dup = X509_cmp(sk_X509_value(ctx->extracerts_kept, k), x) == 0;
        if (dup)
            continue;
        if (!X509_up_ref(x))
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "X509_up_ref");
        if (!sk_X509_unshift(ctx->extracerts_kept, x)) {
            X509_free(x);
            return PKIE_ERR(PKIE_ERR_NOMEM, "kept extraCerts");
        }
        while (sk_X509_num(ctx->extracerts_kept) > PKIE_CMP_KEPT_EXTRACERTS_MAX)
            X509_free(sk_X509_pop(ctx->extracerts_kept));
    }
    return 0;
}

/* The certificate of the CertResponse with certReqId 0 of an ip (as OpenSSL's
 * OSSL_CMP_CERTREQID), NULL when there is none. */
static X509 *ip_new_cert(const struct pkie_cmp_msg *m)
{
    const struct pkie_cmp_certrep *r = &m->body.u.certRep;
    for (size_t k = 0; k < r->response_count; k++) {
        const struct pkie_cmp_certresp *cr = &r->response[k];
        if (cr->certReqId != 0 || !cr->has_certifiedKeyPair ||
            cr->certifiedKeyPair.certOrEncCert_type != PKIE_CMP_CERTIFICATE)
            continue;
        const unsigned char *p = cr->certifiedKeyPair.certOrEncCert.p;
        size_t len = cr->certifiedKeyPair.certOrEncCert.len;
        X509 *x = len <= 0x7fffffff ? d2i_X509(NULL, &p, (long)len) : NULL;
        if (x != NULL && p != cr->certifiedKeyPair.certOrEncCert.p + len) {
            X509_free(x);
            x = NULL;
        }
        return x;
    }
    return NULL;
}

int cmp_ta_in_ip(struct pkie_cmp_ctx *ctx, const struct pkie_cmp_msg *m, struct pkie_cmp_vctx *v)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *extra = sk_X509_new_null();
    X509 *newcert = NULL;
    X509_STORE_CTX *vc = NULL;
    int rc, n_ta = 0;
    if (store == NULL || extra == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "trust store");
        goto out;
    }
    for (size_t i = 0; i < m->extraCerts_count; i++) {
        X509 *x = cmp_certcache_get1(&ctx->certcache, m->extraCerts[i].p, m->extraCerts[i].len);
        if (x == NULL) {
            rc = pkie_err_last()->code;
            goto out;
        }
        if (!sk_X509_push(extra, x)) {
            X509_free(x);
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "extraCerts");
            goto out;
        }
        if (X509_self_signed(x, 1) == 1) { /* self-issued and its signature verifies */
            if (!X509_STORE_add_cert(store, x)) {
                rc = PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "trust store");
                goto out;
            }
            n_ta++;
        }
    }
    if (n_ta == 0) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                      "ta_in_ip_extracerts: no self-signed certificate in the ip's extraCerts");
        goto out;
    }
    struct pkie_cmp_vctx v2 = *v;
    v2.trusted = store;
    v2.signer = NULL;
    if ((rc = pkie_cmp_msg_validate(m, &v2)) < 0)
        goto out;
    X509_free(v->signer);
    v->signer = v2.signer;
    /* the newly enrolled certificate must chain to the same anchors */
    if ((newcert = ip_new_cert(m)) == NULL) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                      "ta_in_ip_extracerts: no new certificate for certReqId 0 in the ip");
        goto out;
    }
    STACK_OF(X509) *keep_in = ctx->extracerts_in;
    ctx->extracerts_in = extra; /* this ip's extraCerts as intermediates */
    vc = cmp_verify_new(ctx, store, newcert);
    ctx->extracerts_in = keep_in;
    if (vc == NULL) {
        ERR_clear_error();
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                      "ta_in_ip_extracerts: the new certificate does not chain to a self-signed "
                      "certificate of the ip's extraCerts");
        goto out;
    }
    X509_free(ctx->ta_ip_signer);
    X509_STORE_free(ctx->ta_ip_store);
    if (!X509_up_ref(v->signer)) {
        ctx->ta_ip_signer = NULL;
        ctx->ta_ip_store = NULL;
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "X509_up_ref");
        goto out;
    }
    ctx->ta_ip_signer = v->signer;
    ctx->ta_ip_store = store;
    store = NULL;
    char name[256];
    X509_NAME_oneline(X509_get_subject_name(v->signer), name, sizeof(name));
    pkie_log_warn("cmp",
                  "ta_in_ip_extracerts: trusting the ip of %s through a self-signed "
                  "certificate of its extraCerts (not authenticated: trust on first use)",
                  name);
    rc = 0;
out:
    if (rc < 0 && v->signer != NULL) {
        X509_free(v->signer);
        v->signer = NULL;
    }
    X509_STORE_CTX_free(vc);
    X509_free(newcert);
    sk_X509_pop_free(extra, X509_free);
    X509_STORE_free(store);
    return rc;
}
