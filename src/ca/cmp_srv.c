/* CMP server engine: open, authenticate, dispatch, protect the answer. */
#include "cmp_srv.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/wipe.h"

#include <stdlib.h>
#include <string.h>

#define COMP "ca"

static int der_of(X509 *x, uint8_t **der, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(x, &p);
    if (n <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode certificate");
    *der = p;
    *len = (size_t)n;
    return 0;
}

int pkie_ca_server_open(const struct pkie_ca_server_params *p, struct pkie_ca_server **out)
{
    struct pkie_ca_server *srv = calloc(1, sizeof(*srv));
    int rc;
    *out = NULL;
    if (srv == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "server");
    pthread_mutex_init(&srv->crl_mu, NULL);
    srv->check_after = p->check_after > 0 ? p->check_after : 1;
    srv->tx_timeout = p->tx_timeout > 0 ? p->tx_timeout : 300;
    srv->max_skew = p->max_skew == 0 ? 600 : p->max_skew;
    srv->crl_dirty = 1;
    if (p->crl_url != NULL && (srv->crl_url = strdup(p->crl_url)) == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "server");
        goto err;
    }
    if ((rc = pkie_ca_dir_open_db(p->dir, p->db, p->pass, &srv->store)) != 0 ||
        (rc = pkie_ca_store_get_ca(srv->store, PKIE_CA_ROOT, NULL, &srv->root, NULL)) != 0 ||
        (rc = pkie_ca_store_get_ca(srv->store, PKIE_CA_ISSUER, p->pass, &srv->issuer,
                                   &srv->issuer_key)) != 0 ||
        (rc = pkie_ca_store_get_ca(srv->store, PKIE_CA_SIGNER, p->pass, &srv->signer,
                                   &srv->signer_key)) != 0 ||
        (rc = pkie_ca_kga_ensure(srv->store, p->pass, srv->issuer, srv->issuer_key, &srv->kga,
                                 &srv->kga_key)) != 0)
        goto err;
    srv->chain = sk_X509_new_null();
    srv->trusted = X509_STORE_new();
    if (srv->chain == NULL || srv->trusted == NULL || !sk_X509_push(srv->chain, srv->issuer) ||
        (X509_up_ref(srv->issuer), 0) ||
        (X509_cmp(srv->issuer, srv->root) != 0 &&
         (!sk_X509_push(srv->chain, srv->root) || (X509_up_ref(srv->root), 0))) ||
        X509_STORE_add_cert(srv->trusted, srv->root) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "trust store");
        goto err;
    }
    if ((rc = der_of(srv->issuer, &srv->issuer_der, &srv->issuer_der_len)) != 0 ||
        (rc = der_of(srv->root, &srv->root_der, &srv->root_der_len)) != 0)
        goto err;
    *out = srv;
    return 0;
err:
    pkie_ca_server_close(srv);
    return rc;
}

void pkie_ca_server_close(struct pkie_ca_server *srv)
{
    if (srv == NULL)
        return;
    pkie_ca_store_close(srv->store);
    X509_free(srv->root);
    X509_free(srv->issuer);
    X509_free(srv->signer);
    EVP_PKEY_free(srv->issuer_key);
    EVP_PKEY_free(srv->signer_key);
    X509_free(srv->kga);
    EVP_PKEY_free(srv->kga_key);
    sk_X509_pop_free(srv->chain, X509_free);
    X509_STORE_free(srv->trusted);
    OPENSSL_free(srv->issuer_der);
    OPENSSL_free(srv->root_der);
    free(srv->crl_url);
    free(srv->crl_der);
    pthread_mutex_destroy(&srv->crl_mu);
    free(srv);
}

struct pkie_ca_store *pkie_ca_server_store(struct pkie_ca_server *srv)
{
    return srv->store;
}

int pkie_ca_server_expire(struct pkie_ca_server *srv, int *n)
{
    int rc = pkie_ca_store_tx_expire(srv->store, srv->tx_timeout, n);
    if (rc == 0 && *n > 0)
        srv_crl_dirty(srv);
    /* A replay older than this is refused by the messageTime check (when the
     * request carries one) or belongs to a transaction that has expired. */
    int64_t skew = srv->max_skew > 0 ? srv->max_skew : 600;
    if (rc == 0)
        rc =
            pkie_ca_store_nonce_purge(srv->store, pkie_ca_now() - 2 * skew - srv->tx_timeout, NULL);
    return rc;
}

/* ---- authentication ---------------------------------------------------------------------- */

/* The certificate verified as signer must be one this CA issued and has not revoked;
 * its owner's registration gives the policy. */
static int check_signer(struct srv_req *r)
{
    char hex[48];
    struct pkie_ca_cert rec;
    unsigned char *der = NULL;
    int rc = pkie_ca_serial_hex(X509_get0_serialNumber(r->signer), hex, sizeof(hex));
    if (rc != 0)
        return PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, "signer serial");
    if (X509_NAME_cmp(X509_get_issuer_name(r->signer), X509_get_subject_name(r->srv->issuer)) != 0)
        return PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, "signer not issued by this CA");
    if (pkie_ca_store_cert_get(r->srv->store, hex, 1, &rec) != 0)
        return PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, "signer %s not issued by this CA", hex);
    int n = i2d_X509(r->signer, &der);
    int same = n > 0 && (size_t)n == rec.der_len && memcmp(der, rec.der, rec.der_len) == 0;
    OPENSSL_free(der);
    if (!same)
        rc =
            PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, "signer %s differs from the issued one", hex);
    else if (rec.status == PKIE_CA_CERT_REVOKED)
        rc = PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, "signer %s is revoked", hex);
    else if (rec.client_ref[0] != '\0' &&
             pkie_ca_store_client_get(r->srv->store, rec.client_ref, &r->client) == 0)
        r->have_client = 1;
    pkie_ca_cert_clear(&rec);
    if (rc == 0)
        pkie_err_clear(); /* a refusal keeps its reason for the statusString */
    return rc;
}

/* ir, cr, kur and p10cr open a transaction */
static int opens_tx(int t)
{
    return t == PKIE_CMP_BODY_IR || t == PKIE_CMP_BODY_CR || t == PKIE_CMP_BODY_KUR ||
           t == PKIE_CMP_BODY_P10CR;
}

static int authenticate(struct srv_req *r)
{
    const struct pkie_cmp_msg *m = r->m;
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.max_skew = r->srv->max_skew;
    v.check_critical_ext = 1;
    int is_mac = pkie_cmp_protection_is_mac(m);
    if (is_mac < 0)
        return is_mac;
    if (is_mac) {
        const struct pkie_cmp_bytes *kid = &m->header.senderKID;
        char ref[PKIE_CA_REF_MAX + 1];
        if (kid->p == NULL || kid->len == 0 || kid->len > PKIE_CA_REF_MAX ||
            memchr(kid->p, 0, kid->len) != NULL)
            return PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT,
                            "MAC protection without a usable senderKID");
        memcpy(ref, kid->p, kid->len);
        ref[kid->len] = '\0';
        r->ahead = (struct pkie_ca_ahead){.nonce = m->header.senderNonce.p,
                                          .nonce_len = m->header.senderNonce.len,
                                          .txid = m->header.transactionID.p,
                                          .txid_len = m->header.transactionID.len,
                                          .new_tx = opens_tx(m->body.type)};
        if (pkie_ca_store_client_get_ahead(r->srv->store, ref, &r->client, &r->ahead) != 0)
            return PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT, "unknown reference '%s'", ref);
        r->have_client = 1;
        v.secret = r->client.secret;
        v.secret_len = r->client.secret_len;
    } else {
        v.trusted = r->srv->trusted;
        v.untrusted = r->srv->chain;
    }
    int rc = pkie_cmp_msg_validate(m, &v);
    if (rc != 0)
        return rc;
    r->is_mac = is_mac;
    if (!is_mac) {
        r->signer = v.signer;
        if ((rc = check_signer(r)) != 0)
            return rc;
    }
    return 0;
}

/* Replay protection: the senderNonce of every authenticated request is kept
 * (durably) for nonce_retention(); a request repeating one is refused, and so is
 * a new transaction (ir, cr, kur, p10cr) whose transactionID was already used.
 * The nonce is claimed here and written in the same commit as the request's
 * certificate (or alone before the answer leaves): one fsync per enrollment. */
static int claim_nonce(struct srv_req *r)
{
    const struct pkie_cmp_header *h = &r->m->header;
    return pkie_ca_store_nonce_claim_ahead(
        r->srv->store, &r->nonce, h->senderNonce.p, h->senderNonce.len, h->transactionID.p,
        h->transactionID.len, opens_tx(r->m->body.type), pkie_ca_now(), &r->ahead);
}

/* An answer that the client follows up in the same transaction (certConf after
 * ip/cp/kup without implicit confirmation, pollReq after waiting or pollRep):
 * its senderNonce must come back as the follow-up's recipNonce. */
static int remember_answer_nonce(struct srv_req *r)
{
    int t = r->resp->body.type;
    if (r->implicit || (t != PKIE_CMP_BODY_IP && t != PKIE_CMP_BODY_CP && t != PKIE_CMP_BODY_KUP &&
                        t != PKIE_CMP_BODY_POLLREP))
        return 0;
    const struct pkie_cmp_header *h = &r->resp->header;
    if (h->transactionID.len == 0 || h->senderNonce.len == 0)
        return 0;
    return pkie_ca_store_txnonce_set(r->srv->store, h->transactionID.p, h->transactionID.len,
                                     h->senderNonce.p, h->senderNonce.len, pkie_ca_now());
}

static int failbit_for(int err)
{
    switch (err) {
    case PKIE_ERR_CA_UNKNOWN_CLIENT:
        return PKIE_CMP_FI_signerNotTrusted;
    case PKIE_ERR_CA_POLICY_SUBJECT:
    case PKIE_ERR_CA_POLICY_SAN:
    case PKIE_ERR_CA_POLICY_VALIDITY:
        return PKIE_CMP_FI_badCertTemplate;
    case PKIE_ERR_CA_POLICY_KEY:
        return PKIE_CMP_FI_badAlg;
    case PKIE_ERR_CA_POLICY_EXT:
        return PKIE_CMP_FI_unacceptedExtension;
    case PKIE_ERR_CA_POLICY_PROFILE:
        return PKIE_CMP_FI_notAuthorized;
    default:
        return pkie_cmp_err_failinfo(err);
    }
}

int pkie_ca_server_handle(struct pkie_ca_server *srv, const char *profile, const uint8_t *req,
                          size_t len, uint8_t **out, size_t *out_len)
{
    struct srv_req r;
    struct pkie_cmp_msg *m = NULL;
    char why[300];
    int failbit = PKIE_CMP_FI_systemFailure;
    memset(&r, 0, sizeof(r));
    r.srv = srv;
    r.is_mac = -1;
    *out = NULL;
    int rc = pkie_cmp_msg_decode(req, len, NULL, &m);
    if (rc != 0) {
        failbit = PKIE_CMP_FI_badDataFormat;
        goto error;
    }
    r.m = m;
    if ((rc = authenticate(&r)) != 0) {
        failbit = failbit_for(rc);
        r.is_mac = -1; /* cannot answer with a MAC we could not verify */
        goto error;
    }
    if ((rc = claim_nonce(&r)) != 0 ||
        ((m->body.type == PKIE_CMP_BODY_CERTCONF || m->body.type == PKIE_CMP_BODY_POLLREQ) &&
         (rc = pkie_ca_store_txnonce_check(srv->store, m->header.transactionID.p,
                                           m->header.transactionID.len, m->header.recipNonce.p,
                                           m->header.recipNonce.len)) != 0)) {
        failbit = pkie_cmp_err_failinfo(rc);
        goto error;
    }
    /* the profile: the path's (/.well-known/cmp/p/NAME), else the request's certProfile
     * (generalInfo, RFC 9483 4.1.1), else the client's own; a client registered with a
     * profile gets only that one */
    char asked[PKIE_CA_PROFILE_MAX + 1] = "";
    const struct pkie_cmp_freetext *cp = &m->header.certProfile;
    if (cp->count > 0) {
        if (cp->count > 1 || cp->strs[0].len == 0 || cp->strs[0].len > PKIE_CA_PROFILE_MAX ||
            memchr(cp->strs[0].p, 0, cp->strs[0].len) != NULL) {
            rc = PKIE_ERR(PKIE_ERR_CA_POLICY_PROFILE, "certProfile: one name of 1..%d bytes",
                          PKIE_CA_PROFILE_MAX);
            failbit = PKIE_CMP_FI_badRequest;
            goto error;
        }
        memcpy(asked, cp->strs[0].p, cp->strs[0].len);
        if (profile != NULL && strcmp(profile, asked) != 0) {
            rc = PKIE_ERR(PKIE_ERR_CA_POLICY_PROFILE,
                          "certProfile '%s' differs from the path's profile '%s'", asked, profile);
            failbit = PKIE_CMP_FI_badRequest;
            goto error;
        }
        if (profile == NULL)
            profile = asked;
    }
    const char *pname = profile != NULL ? profile : (r.have_client ? r.client.profile : NULL);
    r.profile = pkie_ca_profile_find(pname);
    if (r.profile == NULL || (profile != NULL && r.have_client && r.client.profile[0] != '\0' &&
                              strcmp(profile, r.client.profile) != 0)) {
        rc = PKIE_ERR(PKIE_ERR_CA_POLICY_PROFILE, "profile '%s' not available to this client",
                      pname != NULL ? pname : "");
        failbit = PKIE_CMP_FI_notAuthorized;
        goto error;
    }
    switch (m->body.type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_P10CR:
        rc = srv_certreq(&r, &failbit);
        break;
    case PKIE_CMP_BODY_POLLREQ:
        rc = srv_pollreq(&r, &failbit);
        break;
    case PKIE_CMP_BODY_CERTCONF:
        rc = srv_certconf(&r, &failbit);
        break;
    case PKIE_CMP_BODY_RR:
        rc = srv_rr(&r, &failbit);
        break;
    case PKIE_CMP_BODY_GENM:
        rc = srv_genm(&r, &failbit);
        break;
    case PKIE_CMP_BODY_ERROR:
        rc = srv_error_msg(&r, &failbit);
        break;
    default:
        rc = PKIE_ERR(PKIE_ERR_CMP_BODY_NOT_ALLOWED, "%s not served here",
                      pkie_cmp_body_name(m->body.type));
        failbit = PKIE_CMP_FI_badRequest;
        break;
    }
    if (rc != 0)
        goto error;
    if ((rc = remember_answer_nonce(&r)) != 0 ||
        (rc = pkie_ca_store_nonce_commit(srv->store, &r.nonce)) != 0) {
        failbit = PKIE_CMP_FI_systemUnavail;
        goto error;
    }
    rc = srv_resp_finish(&r, out, out_len);
    if (rc == 0)
        goto done;
    failbit = PKIE_CMP_FI_systemFailure;
error:
    /* the database could not be reached (whatever error the step made of it) */
    if (rc == PKIE_ERR_CA_UNAVAILABLE || pkie_ca_store_unavailable_seen())
        failbit = PKIE_CMP_FI_systemUnavail;
    snprintf(why, sizeof(why), "%s",
             pkie_err_last()->msg[0] != '\0' ? pkie_err_last()->msg : pkie_strerror(rc));
    pkie_log_info(COMP, "%s refused: %s (%s)", m != NULL ? pkie_cmp_body_name(m->body.type) : "?",
                  why, pkie_cmp_failinfo_name(failbit));
    r.implicit = 0;
    if (r.is_mac == 0 && r.signer == NULL)
        r.is_mac = -1;
    /* a refused request's nonce is kept too (when it was claimed) */
    if (pkie_ca_store_nonce_commit(srv->store, &r.nonce) != 0)
        pkie_log_warn(COMP, "nonce of a refused request not stored: %s", pkie_err_last()->msg);
    if (srv_resp_error(&r, failbit, why) != 0 || srv_resp_finish(&r, out, out_len) != 0) {
        rc = pkie_err_last()->code != 0 ? pkie_err_last()->code : PKIE_ERR_INTERNAL;
        goto cleanup;
    }
done:
    rc = 0;
cleanup:
    pkie_metrics_ca_request(m ? pkie_cmp_body_name(m->body.type) : "invalid",
                            srv_outcome(r.resp, rc));
    pkie_ca_store_nonce_release(srv->store, &r.nonce);
    pkie_cmp_msg_free(r.resp);
    pkie_cmp_msg_free(m);
    X509_free(r.signer);
    pkie_wipe(&r.client, sizeof(r.client));
    return rc;
}
