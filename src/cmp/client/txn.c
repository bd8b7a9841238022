/* CMP client transactions: exchange and validation of each message, and the
 * ir/cr/p10cr/kur (with polling and confirmation), rr and genm flows. */
#include "client_internal.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIT(t) PKIE_CMP_BODY_BIT(t)

/* Outcome of the certificate request driver (start_certreq, drive): positive
 * values, so that they can never be taken for an error code (pkie_err codes
 * are negative, and PKIE_ERR_NOMEM is -1, the "waiting" of the public
 * pkie_cmp_try_certreq). */
enum cmp_txn_state {
    CMP_TXN_DONE = 1,    /* certificates received and confirmed */
    CMP_TXN_WAITING = 2, /* the server said 'waiting'; poll again later */
};

/* A response that openssl cmp's -unprotected_errors lets through without
 * (valid) protection: error, negative ip/cp/kup and rp, pkiConf. */
static int is_negative(const struct pkie_cmp_msg *m)
{
    switch (m->body.type) {
    case PKIE_CMP_BODY_ERROR:
    case PKIE_CMP_BODY_PKICONF:
        return 1;
    case PKIE_CMP_BODY_IP:
    case PKIE_CMP_BODY_CP:
    case PKIE_CMP_BODY_KUP:
        for (size_t i = 0; i < m->body.u.certRep.response_count; i++)
            if (m->body.u.certRep.response[i].status.status != PKIE_CMP_REJECTION)
                return 0;
        return m->body.u.certRep.response_count > 0;
    case PKIE_CMP_BODY_RP:
        for (size_t i = 0; i < m->body.u.rp.status_count; i++)
            if (m->body.u.rp.status[i].status != PKIE_CMP_REJECTION)
                return 0;
        return m->body.u.rp.status_count > 0;
    default:
        return 0;
    }
}

static int is_protection_error(int rc)
{
    return rc <= -240 && rc >= -279; /* the protection range of cmp.def */
}

static int certs_from(struct cmp_certcache *cache, STACK_OF(X509) **dst,
                      const struct pkie_cmp_bytes *certs, size_t n)
{
    sk_X509_pop_free(*dst, X509_free);
    *dst = NULL;
    if (n == 0)
        return 0;
    if ((*dst = sk_X509_new_null()) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "certificates");
    for (size_t i = 0; i < n; i++) {
        X509 *x = cmp_certcache_get1(cache, certs[i].p, certs[i].len);
        if (x == NULL)
            return pkie_err_last()->code;
        if (!sk_X509_push(*dst, x)) {
            X509_free(x);
            return PKIE_ERR(PKIE_ERR_NOMEM, "certificates");
        }
    }
    return 0;
}

/* A store that trusts exactly @p cert (a pinned server certificate). */
static X509_STORE *pin_store(X509 *cert)
{
    X509_STORE *s = X509_STORE_new();
    if (s == NULL || !X509_STORE_add_cert(s, cert) ||
        !X509_STORE_set_flags(s, X509_V_FLAG_PARTIAL_CHAIN)) {
        X509_STORE_free(s);
        PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "pinned server certificate");
        return NULL;
    }
    return s;
}

/* The intermediates for validating a response: the extraCerts kept from earlier
 * responses first (as OpenSSL prepends them to its untrusted list), then -untrusted. */
static int untrusted_for(const struct pkie_cmp_ctx *ctx, STACK_OF(X509) **out)
{
    *out = NULL;
    if (sk_X509_num(ctx->extracerts_kept) <= 0)
        return 0;
    if ((*out = sk_X509_dup(ctx->extracerts_kept)) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "untrusted certificates");
    for (int i = 0; i < sk_X509_num(ctx->untrusted); i++)
        if (!sk_X509_push(*out, sk_X509_value(ctx->untrusted, i))) {
            sk_X509_free(*out);
            *out = NULL;
            return PKIE_ERR(PKIE_ERR_NOMEM, "untrusted certificates");
        }
    return 0;
}

static int validate(struct pkie_cmp_ctx *ctx, const struct pkie_cmp_msg *m, uint32_t allowed)
{
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    X509_STORE *pinned = NULL;
    STACK_OF(X509) *unt = NULL;
    v.secret = ctx->secret;
    v.secret_len = ctx->secret_len;
    v.trusted = ctx->trusted;
    if (ctx->srvcert != NULL) {
        if ((pinned = pin_store(ctx->srvcert)) == NULL)
            return pkie_err_last()->code;
        v.trusted = pinned;
    }
    int rc = untrusted_for(ctx, &unt);
    if (rc < 0) {
        X509_STORE_free(pinned);
        return rc;
    }
    v.untrusted = unt != NULL ? unt : ctx->untrusted;
    v.expected_sender = ctx->expected_sender;
    if (v.expected_sender == NULL && ctx->srvcert != NULL)
        v.expected_sender = X509_get_subject_name(ctx->srvcert);
    v.expected_transactionID.p = ctx->transaction_id;
    v.expected_transactionID.len = ctx->transaction_id_len;
    v.expected_recipNonce.p = ctx->sender_nonce;
    v.expected_recipNonce.len = ctx->sender_nonce_len;
    v.allowed_bodies = allowed | BIT(PKIE_CMP_BODY_ERROR);
    v.max_skew = ctx->opt[PKIE_CMP_OPT_MAX_SKEW] > 0 ? ctx->opt[PKIE_CMP_OPT_MAX_SKEW] : -1;
    rc = pkie_cmp_msg_validate(m, &v);
    if (rc < 0 && is_protection_error(rc) && ctx->ta_ip_signer != NULL && ctx->srvcert == NULL) {
        /* the signer of an ip accepted with ta_in_ip_extracerts, for the rest of the
         * transaction (as OpenSSL reuses its validated server certificate) */
        X509_STORE *ta = pin_store(ctx->ta_ip_signer);
        if (ta == NULL) {
            rc = pkie_err_last()->code;
        } else {
            struct pkie_cmp_vctx v2 = v;
            v2.trusted = ta;
            v2.signer = NULL;
            rc = pkie_cmp_msg_validate(m, &v2);
            X509_STORE_free(ta);
            X509_free(v.signer);
            v.signer = v2.signer;
        }
    }
    if (rc < 0 && is_protection_error(rc) && ctx->opt[PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS] &&
        m->body.type == PKIE_CMP_BODY_IP && ctx->srvcert == NULL && m->extraCerts_count > 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", pkie_err_last()->msg);
        int rc2 = cmp_ta_in_ip(ctx, m, &v);
        if (rc2 < 0)
            pkie_log_info("cmp", "ta_in_ip_extracerts did not help: %s", pkie_err_last()->msg);
        else
            rc = 0;
        if (rc2 < 0)
            rc = PKIE_ERR(rc, "%s", why); /* report the normal validation's failure */
    }
    if (rc < 0 && is_protection_error(rc) && ctx->opt[PKIE_CMP_OPT_UNPROTECTED_ERRORS] &&
        is_negative(m)) {
        char why[300];
        snprintf(why, sizeof(why), "%s", pkie_err_last()->msg);
        struct pkie_cmp_msg copy = *m; /* the same message, seen without protection */
        copy.header.protectionAlg.p = NULL;
        copy.header.protectionAlg.len = 0;
        copy.protection.p = NULL;
        copy.protection.len = 0;
        v.allow_unprotected = 1;
        X509_free(v.signer);
        v.signer = NULL;
        rc = pkie_cmp_msg_validate(&copy, &v);
        if (rc == 0)
            pkie_log_warn("cmp", "accepting %s without valid protection (%s)",
                          pkie_cmp_body_name(m->body.type), why);
    }
    X509_STORE_free(pinned);
    sk_X509_free(unt);
    if (rc == 0 && v.signer != NULL && !ctx->opt[PKIE_CMP_OPT_IGNORE_KEYUSAGE]) {
        uint32_t ku = X509_get_key_usage(v.signer); /* UINT32_MAX: no extension */
        if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE))
            rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                          "server signer certificate does not allow digitalSignature");
    }
    if (rc == 0 && v.signer != NULL) {
        X509_free(ctx->validated_srvcert);
        ctx->validated_srvcert = v.signer;
        v.signer = NULL;
    }
    X509_free(v.signer);
    return rc;
}

int cmp_send_receive(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *req, uint32_t expected,
                     struct pkie_cmp_msg **rsp, uint8_t **buf)
{
    uint8_t *der = NULL, *in = NULL;
    size_t der_len = 0, in_len = 0;
    struct pkie_cmp_msg *m = NULL;
    *rsp = NULL;
    *buf = NULL;
    int rc = cmp_req_protect_encode(ctx, req, &der, &der_len);
    if (rc < 0)
        goto err;
    rc = cmp_ctx_exchange(ctx, der, der_len, &in, &in_len);
    free(der);
    der = NULL;
    if (rc < 0)
        goto err;
    struct pkie_cmp_decode_opts o;
    memset(&o, 0, sizeof(o));
    o.limits.max_msg_len = (size_t)ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE];
    rc = pkie_cmp_msg_decode(in, in_len, &o, &m);
    if (rc < 0)
        goto err;
    rc = validate(ctx, m, expected);
    if (rc < 0)
        goto err;
    /* the next request answers this one */
    if (m->header.senderNonce.len > sizeof(ctx->recip_nonce)) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "senderNonce too long");
        goto err;
    }
    memcpy(ctx->recip_nonce, m->header.senderNonce.p, m->header.senderNonce.len);
    ctx->recip_nonce_len = m->header.senderNonce.len;
    ctx->have_recip_nonce = 1;
    /* as OpenSSL's extraCertsIn (-extracertsout): those of the last response that is no
     * pollRep or pkiConf; kept for later messages unless -no_cache_extracerts */
    STACK_OF(X509) *got = NULL;
    if ((rc = certs_from(&ctx->certcache, &got, m->extraCerts, m->extraCerts_count)) < 0 ||
        (rc = cmp_keep_extracerts(ctx, got)) < 0) {
        sk_X509_pop_free(got, X509_free);
        goto err;
    }
    if (m->body.type != PKIE_CMP_BODY_POLLREP && m->body.type != PKIE_CMP_BODY_PKICONF) {
        sk_X509_pop_free(ctx->extracerts_in, X509_free);
        ctx->extracerts_in = got;
    } else {
        sk_X509_pop_free(got, X509_free);
    }
    if (m->body.type == PKIE_CMP_BODY_ERROR) {
        const struct pkie_cmp_errormsg *e = &m->body.u.error;
        cmp_ctx_record_status(ctx, &e->pKIStatusInfo);
        char st[512], code[40] = "";
        if (e->has_errorCode)
            snprintf(code, sizeof(code), "; errorCode: %lld", (long long)e->errorCode);
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_ERROR_MSG, "server error: %s%s",
                      pkie_cmp_ctx_snprint_status(ctx, st, sizeof(st)), code);
        goto err;
    }
    if (!(expected & BIT(m->body.type))) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNEXPECTED, "unexpected %s",
                      pkie_cmp_body_name(m->body.type));
        goto err;
    }
    *rsp = m;
    *buf = in;
    return 0;
err:
    free(der);
    pkie_cmp_msg_free(m);
    free(in);
    return rc;
}

/* ---- certificate requests ------------------------------------------------- */

static int rsp_type_for(int req_type)
{
    /* the client's command numbers are the request body types */
    return req_type == PKIE_CMP_IR || req_type == PKIE_CMP_CR || req_type == PKIE_CMP_P10CR ||
                   req_type == PKIE_CMP_KUR
               ? pkie_cmp_body_answer(req_type)
               : -1;
}

static int req_index(const struct pkie_cmp_ctx *ctx, int64_t id)
{
    for (size_t i = 0; i < ctx->n_req; i++)
        if (ctx->req_ids[i] == id)
            return (int)i;
    /* p10cr: RFC 9810 says -1, OpenSSL 3.0 uses 0 */
    if (ctx->n_req == 1 && ctx->pending_type == PKIE_CMP_P10CR && (id == -1 || id == 0))
        return 0;
    return -1;
}

static EVP_PKEY *requested_key(const struct pkie_cmp_ctx *ctx, size_t i)
{
    if (ctx->pending_type == PKIE_CMP_P10CR)
        return ctx->p10csr != NULL ? X509_REQ_get0_pubkey(ctx->p10csr) : NULL;
    if (ctx->n_tmpls > 0)
        return i < ctx->n_tmpls ? cmp_template_key(ctx, &ctx->tmpls[i]) : NULL;
    return cmp_template_key(ctx, &ctx->cur);
}

/* Take in a CertRepMessage: certificates, waiting and rejected requests. */
static int take_certrep(struct pkie_cmp_ctx *ctx, const struct pkie_cmp_msg *m)
{
    const struct pkie_cmp_certrep *r = &m->body.u.certRep;
    int rc;
    if (r->response_count == 0)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "%s without any CertResponse",
                        pkie_cmp_body_name(m->body.type));
    if (r->caPubs_count > 0 &&
        (rc = certs_from(&ctx->certcache, &ctx->capubs, r->caPubs, r->caPubs_count)) < 0)
        return rc;
    for (size_t k = 0; k < r->response_count; k++) {
        const struct pkie_cmp_certresp *cr = &r->response[k];
        int i = req_index(ctx, cr->certReqId);
        if (i < 0)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "CertResponse for unknown certReqId %lld",
                            (long long)cr->certReqId);
        cmp_ctx_record_status(ctx, &cr->status);
        switch (cr->status.status) {
        case PKIE_CMP_ACCEPTED:
        case PKIE_CMP_GRANTED_WITH_MODS:
            break;
        case PKIE_CMP_WAITING:
            ctx->waiting[i] = 1;
            continue;
        case PKIE_CMP_REJECTION: {
            char st[512];
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_REJECTED, "request %lld rejected: %s",
                            (long long)cr->certReqId,
                            pkie_cmp_ctx_snprint_status(ctx, st, sizeof(st)));
        }
        default:
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "PKIStatus %lld in %s",
                            (long long)cr->status.status, pkie_cmp_body_name(m->body.type));
        }
        if (!cr->has_certifiedKeyPair)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "no certificate in a positive response");
        if (cr->certifiedKeyPair.certOrEncCert_type != PKIE_CMP_CERTIFICATE)
            return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "encrypted certificates are not supported");
        const unsigned char *p = cr->certifiedKeyPair.certOrEncCert.p;
        size_t len = cr->certifiedKeyPair.certOrEncCert.len;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != cr->certifiedKeyPair.certOrEncCert.p + len) {
            X509_free(x);
            return PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_PROTOCOL, "bad certificate in response");
        }
        X509_free(ctx->got[i]);
        ctx->got[i] = x;
        ctx->req_ids[i] = cr->certReqId;
        ctx->waiting[i] = 0;
        if ((rc = cmp_ckg_take(ctx, (size_t)i, &cr->certifiedKeyPair)) < 0)
            return rc;
    }
    return 0;
}

static int any_waiting(const struct pkie_cmp_ctx *ctx, int64_t *ids, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < ctx->n_req; i++)
        if (ctx->waiting[i])
            ids[(*n)++] = ctx->req_ids[i];
    return *n > 0;
}

/* All certificates are in: check them, confirm, and publish the results. */
static int finish_enrollment(struct pkie_cmp_ctx *ctx, int implicit_granted)
{
    int rc, fail_info = 0;
    const char *text = NULL;
    for (size_t i = 0; i < ctx->n_req; i++) {
        if (ctx->got[i] == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "no response for certReqId %lld",
                            (long long)ctx->req_ids[i]);
        int fi = 0;
        EVP_PKEY *want = ctx->central_keygen ? ctx->ckg_got[i] : requested_key(ctx, i);
        if (want != NULL && EVP_PKEY_eq(X509_get0_pubkey(ctx->got[i]), want) != 1) {
            fi = 1 << PKIE_CMP_FI_incorrectData;
            text = ctx->central_keygen
                       ? "centrally generated key does not match the new certificate"
                       : "public key in new certificate does not match the requested key";
        }
        if (ctx->certconf != NULL)
            fi = ctx->certconf(ctx, ctx->got[i], fi, &text);
        fail_info |= fi;
    }
    if (!implicit_granted && !ctx->opt[PKIE_CMP_OPT_DISABLE_CONFIRM]) {
        struct pkie_cmp_msg *req = cmp_req_new(ctx, PKIE_CMP_BODY_CERTCONF), *rsp = NULL;
        uint8_t *buf = NULL;
        if (req == NULL)
            return pkie_err_last()->code;
        rc = cmp_req_fill_certconf(ctx, req, ctx->n_req, ctx->got, ctx->req_ids, fail_info, text);
        if (rc == 0)
            rc = cmp_send_receive(ctx, req, BIT(PKIE_CMP_BODY_PKICONF), &rsp, &buf);
        pkie_cmp_msg_free(req);
        pkie_cmp_msg_free(rsp);
        free(buf);
        if (rc < 0)
            return rc;
    }
    if (fail_info != 0)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CERTCONF, "new certificate rejected by the client%s%s",
                        text != NULL ? ": " : "", text != NULL ? text : "");
    sk_X509_pop_free(ctx->new_certs, X509_free);
    if ((ctx->new_certs = sk_X509_new_null()) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "new certificates");
    for (size_t i = 0; i < ctx->n_req; i++) {
        if (!sk_X509_push(ctx->new_certs, ctx->got[i]))
            return PKIE_ERR(PKIE_ERR_NOMEM, "new certificates");
        ctx->got[i] = NULL;
    }
    cmp_build_new_chain(ctx, sk_X509_value(ctx->new_certs, 0));
    return cmp_ckg_publish(ctx);
}

/* Continue from a response: poll while waiting (sleeping when @p sleep_ok),
 * then finish. Returns CMP_TXN_DONE, CMP_TXN_WAITING (not sleeping) or a
 * negative error. */
static int drive(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, uint8_t *buf, int sleep_ok,
                 int *check_after)
{
    int rc;
    int implicit_granted = 0;
    for (;;) {
        if (m->body.type == ctx->rsp_body_type) {
            implicit_granted = ctx->opt[PKIE_CMP_OPT_IMPLICIT_CONFIRM] && m->header.implicitConfirm;
            rc = take_certrep(ctx, m);
            if (rc < 0)
                goto out;
        } else if (m->body.type == PKIE_CMP_BODY_POLLREP) {
            const struct pkie_cmp_pollrep *pr = &m->body.u.pollRep;
            int64_t after = 0;
            for (size_t i = 0; i < pr->count; i++) {
                if (req_index(ctx, pr->entries[i].certReqId) < 0) {
                    rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "pollRep for unknown certReqId");
                    goto out;
                }
                if (pr->entries[i].checkAfter < 0 || pr->entries[i].checkAfter > 86400 * 366) {
                    rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "checkAfter out of range");
                    goto out;
                }
                if (pr->entries[i].checkAfter > after)
                    after = pr->entries[i].checkAfter;
            }
            long left = cmp_ctx_time_left(ctx);
            if (left >= 0 && after >= left) {
                rc = PKIE_ERR(PKIE_ERR_TIMEOUT,
                              "polling: checkAfter %lld s exceeds the %ld s left of the total "
                              "timeout",
                              (long long)after, left);
                goto out;
            }
            if (!sleep_ok) {
                if (check_after != NULL)
                    *check_after = (int)after;
                ctx->pending = 1;
                rc = CMP_TXN_WAITING;
                goto out;
            }
            pkie_log_info("cmp", "waiting %lld s before polling again", (long long)after);
            if (after > 0)
                sleep((unsigned)after);
        }
        pkie_cmp_msg_free(m);
        free(buf);
        m = NULL;
        buf = NULL;
        int64_t ids[64];
        size_t n;
        if (!any_waiting(ctx, ids, &n))
            break;
        struct pkie_cmp_msg *req = cmp_req_new(ctx, PKIE_CMP_BODY_POLLREQ);
        if (req == NULL)
            return pkie_err_last()->code;
        rc = cmp_req_fill_pollreq(req, ids, n);
        if (rc == 0)
            rc = cmp_send_receive(
                ctx, req, BIT(PKIE_CMP_BODY_POLLREP) | BIT((unsigned)ctx->rsp_body_type), &m, &buf);
        pkie_cmp_msg_free(req);
        if (rc < 0)
            return rc;
    }
    ctx->pending = 0;
    rc = finish_enrollment(ctx, implicit_granted);
    return rc < 0 ? rc : CMP_TXN_DONE;
out:
    pkie_cmp_msg_free(m);
    free(buf);
    return rc;
}

static int start_certreq(struct pkie_cmp_ctx *ctx, int req_type, int sleep_ok, int *check_after)
{
    int rsp_type = rsp_type_for(req_type);
    if (rsp_type < 0)
        return PKIE_ERR(PKIE_ERR_ARG, "request type %d is not ir, cr, p10cr or kur", req_type);
    cmp_txn_start(ctx);
    ctx->pending_type = req_type;
    ctx->rsp_body_type = rsp_type;
    ctx->n_req = req_type == PKIE_CMP_P10CR ? 1 : (ctx->n_tmpls > 0 ? ctx->n_tmpls : 1);
    for (size_t i = 0; i < ctx->n_req; i++)
        ctx->req_ids[i] = req_type == PKIE_CMP_P10CR ? -1 : (int64_t)i;
    struct pkie_cmp_msg *req = cmp_req_new(ctx, req_type), *m = NULL;
    uint8_t *buf = NULL;
    if (req == NULL)
        return pkie_err_last()->code;
    int rc = cmp_req_fill_certreq(ctx, req, req_type);
    if (rc == 0)
        rc = cmp_send_receive(ctx, req, BIT((unsigned)rsp_type), &m, &buf);
    pkie_cmp_msg_free(req);
    if (rc < 0)
        return rc;
    return drive(ctx, m, buf, sleep_ok, check_after);
}

static X509 *exec_certreq(struct pkie_cmp_ctx *ctx, int req_type)
{
    if (ctx == NULL) {
        PKIE_ERR(PKIE_ERR_ARG, "NULL context");
        return NULL;
    }
    int rc = start_certreq(ctx, req_type, 1, NULL);
    if (rc < 0) {
        cmp_txn_forget(ctx);
        return NULL;
    }
    return pkie_cmp_ctx_get_new_cert(ctx);
}

X509 *pkie_cmp_exec_ir(struct pkie_cmp_ctx *ctx)
{
    return exec_certreq(ctx, PKIE_CMP_IR);
}

X509 *pkie_cmp_exec_cr(struct pkie_cmp_ctx *ctx)
{
    return exec_certreq(ctx, PKIE_CMP_CR);
}

X509 *pkie_cmp_exec_p10cr(struct pkie_cmp_ctx *ctx)
{
    return exec_certreq(ctx, PKIE_CMP_P10CR);
}

X509 *pkie_cmp_exec_kur(struct pkie_cmp_ctx *ctx)
{
    return exec_certreq(ctx, PKIE_CMP_KUR);
}

static int abort_pending(struct pkie_cmp_ctx *ctx)
{
    struct pkie_cmp_msg *req = cmp_req_new(ctx, PKIE_CMP_BODY_ERROR), *m = NULL;
    uint8_t *buf = NULL;
    if (req == NULL)
        return pkie_err_last()->code;
    int rc = cmp_req_fill_error(req, PKIE_CMP_REJECTION, 0, "polling aborted by the client");
    if (rc == 0)
        rc = cmp_send_receive(ctx, req, BIT(PKIE_CMP_BODY_PKICONF), &m, &buf);
    pkie_cmp_msg_free(req);
    pkie_cmp_msg_free(m);
    free(buf);
    return rc;
}

int pkie_cmp_try_certreq(struct pkie_cmp_ctx *ctx, int req_type, int *check_after)
{
    if (ctx == NULL) {
        PKIE_ERR(PKIE_ERR_ARG, "NULL context");
        return 0;
    }
    int rc;
    if (!ctx->pending) {
        rc = start_certreq(ctx, req_type, 0, check_after);
    } else if (req_type != ctx->pending_type) {
        PKIE_ERR(PKIE_ERR_STATE, "a %s request is pending; cannot continue with type %d",
                 pkie_cmp_body_name(ctx->pending_type), req_type);
        return 0;
    } else if (check_after != NULL && *check_after < 0) {
        rc = abort_pending(ctx);
        cmp_txn_forget(ctx);
        return rc < 0 ? 0 : 1;
    } else {
        int64_t ids[64];
        size_t n;
        any_waiting(ctx, ids, &n);
        struct pkie_cmp_msg *req = cmp_req_new(ctx, PKIE_CMP_BODY_POLLREQ), *m = NULL;
        uint8_t *buf = NULL;
        if (req == NULL) {
            cmp_txn_forget(ctx);
            return 0;
        }
        rc = cmp_req_fill_pollreq(req, ids, n);
        if (rc == 0)
            rc = cmp_send_receive(
                ctx, req, BIT(PKIE_CMP_BODY_POLLREP) | BIT((unsigned)ctx->rsp_body_type), &m, &buf);
        pkie_cmp_msg_free(req);
        if (rc == 0)
            rc = drive(ctx, m, buf, 0, check_after);
    }
    if (rc == CMP_TXN_WAITING)
        return -1;
    if (rc < 0) {
        cmp_txn_forget(ctx);
        return 0;
    }
    return 1;
}

/* ---- general messages ----------------------------------------------------- */

struct pkie_cmp_genm_itavs *pkie_cmp_exec_genm(struct pkie_cmp_ctx *ctx)
{
    if (ctx == NULL) {
        PKIE_ERR(PKIE_ERR_ARG, "NULL context");
        return NULL;
    }
    cmp_txn_start(ctx);
    struct pkie_cmp_msg *req = cmp_req_new(ctx, PKIE_CMP_BODY_GENM), *m = NULL;
    uint8_t *buf = NULL;
    struct pkie_cmp_genm_itavs *out = NULL;
    if (req == NULL)
        return NULL;
    int rc = cmp_req_fill_genm(ctx, req);
    if (rc == 0)
        rc = cmp_send_receive(ctx, req, BIT(PKIE_CMP_BODY_GENP), &m, &buf);
    pkie_cmp_msg_free(req);
    if (rc < 0)
        goto out;
    if ((out = calloc(1, sizeof(*out))) == NULL) {
        PKIE_ERR(PKIE_ERR_NOMEM, "genp");
        goto out;
    }
    for (size_t i = 0; i < m->body.u.genm.count; i++) {
        const struct pkie_cmp_itav *it = &m->body.u.genm.itav[i];
        char oid[PKIE_DER_OID_TEXT_MAX];
        if (pkie_der_oid_to_text(it->type.p, it->type.len, oid, sizeof(oid)) < 0 ||
            cmp_itavs_add(out, oid, it->value.p, it->value.len) < 0) {
            pkie_cmp_genm_itavs_free(out);
            out = NULL;
            goto out;
        }
    }
out:
    pkie_cmp_msg_free(m);
    free(buf);
    cmp_txn_forget(ctx);
    return out;
}
