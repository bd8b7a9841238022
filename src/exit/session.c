/*
 * TLS sessions: the phases of a session wired into OpenSSL's callbacks.
 *   StartHandshake    pkie_tls_session_handshake, before the first record
 *   GetCAList         client hello callback (server): CertificateRequest names
 *   GetCertificate    certificate callback (server always, client when asked)
 *   CryptData         the opaque key's sign callback (opaque.c)
 *   CheckCertificate  the certificate verification callback (replaces chain
 *                     verification)
 *   HandshakeAlert    info callback, alerts sent and received before the end
 *   HandshakeDone     after the handshake
 *   EndSession        pkie_tls_session_end, always
 * What the exit does not handle is done with the internal PKI base (pki.h).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/tls_alert.h"
#include "pkie/wipe.h"
#include "tls_int.h"

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
    ex_index = SSL_get_ex_new_index(0, "pkie session", NULL, NULL, NULL);
}

int pkie_tls_ex_index(void)
{
    pthread_once(&ex_once, ex_init);
    return ex_index;
}

static struct pkie_tls_session *session_of(const SSL *ssl)
{
    return SSL_get_ex_data(ssl, pkie_tls_ex_index());
}

static const char *exit_name(const struct pkie_tls_session *s)
{
    return pkie_tls_runtime_exit_name(s->t->rt);
}

void pkie_tls_session_fail(struct pkie_tls_session *s, uint32_t phase, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!s->failed) {
        s->failed = 1;
        snprintf(s->fail_msg, sizeof(s->fail_msg), "exit %s phase %s: %s", exit_name(s),
                 pkie_exit_phase_name(phase), msg);
    }
    pkie_log_error("exit", "exit %s phase %s: task %u session %llu refused: %s", exit_name(s),
                   pkie_exit_phase_name(phase), s->t->task_id, (unsigned long long)s->ref, msg);
}

int pkie_tls_wants(const struct pkie_tls_session *s, uint32_t phase)
{
    if (s->t->z == NULL || (s->t->mask & CFTPKIE_PHASE_BIT(phase)) == 0)
        return 0;
    if (s->alert_called && phase != CFTPKIE_END_SESSION)
        return 0;
    return 1;
}

void pkie_tls_profile_view(struct pkie_tls_session *s, struct pkie_pki_profile *p)
{
    memset(p, 0, sizeof(*p));
    /* the peer's chain must fit its side of TLS */
    p->peer_role = s->is_server ? PKIE_PKI_PEER_CLIENT : PKIE_PKI_PEER_SERVER;
    for (uint32_t i = 0; i < s->prof.n_ca_ids; i++)
        s->ca_ptrs[i] = s->prof.ca_ids[i];
    for (uint32_t i = 0; i < s->prof.n_dn_filters; i++)
        s->dn_ptrs[i] = s->prof.dn_filters[i];
    p->cert_id = s->prof.cert_id;
    p->ca_ids = s->ca_ptrs;
    p->n_ca_ids = s->prof.n_ca_ids;
    p->verify_depth = s->prof.verify_depth;
    p->dn_filters = s->dn_ptrs;
    p->n_dn_filters = s->prof.n_dn_filters;
}

static void put_profile(struct pkicom *z, const struct pkie_exit_profile *d)
{
    memcpy(z->cert_id, d->cert_id, sizeof(z->cert_id));
    z->n_ca_ids = d->n_ca_ids;
    memcpy(z->ca_ids, d->ca_ids, sizeof(z->ca_ids));
    z->verify_depth = d->verify_depth;
    z->n_dn_filters = d->n_dn_filters;
    memcpy(z->dn_filters, d->dn_filters, sizeof(z->dn_filters));
}

/*
 * The one place a call is prepared. The task's pkicom is shared by every
 * session of the task, whose handshakes interleave: the session's own inputs
 * (refs, private area, flags, partner, peer address and ports, SNI, the
 * profile in force) are restored, and the outputs of @p phase reset so that
 * an exit which answers HANDLED without filling them leaves nothing of an
 * earlier call. The phase's specific inputs are set by the caller before
 * (they are never outputs of the same phase).
 */
static void prepare_call(struct pkie_tls_session *s, uint32_t phase)
{
    struct pkicom *z = s->t->z;
    z->host_task_ref = s->t->task_id;
    z->host_session_ref = s->ref;
    z->exit_session_ref = s->exit_ref;
    z->session_area = s->area;
    z->flags = s->is_server ? CFTPKIE_F_SERVER : 0;
    memcpy(z->partner_id, s->partner_id, sizeof(z->partner_id));
    memcpy(z->peer_addr, s->peer_addr, sizeof(z->peer_addr));
    z->peer_port = s->peer_port;
    z->local_port = s->local_port;
    memcpy(z->sni, s->sni, sizeof(z->sni));
    put_profile(z, &s->prof);
    switch (phase) {
    case CFTPKIE_START_HANDSHAKE:
        z->exit_session_ref = 0; /* out; the profile is in/out */
        break;
    case CFTPKIE_GET_CA_LIST:
        z->ca_names_count = 0;
        break;
    case CFTPKIE_GET_CERTIFICATE:
        z->chain_count = 0;
        break;
    case CFTPKIE_CHECK_CERTIFICATE:
        z->accept = 0;
        z->alert_code = 0;
        break;
    case CFTPKIE_CRYPT_DATA:
        z->sig_len = 0;
        z->key_len = 0;
        break;
    case CFTPKIE_HANDSHAKE_DONE:
        memset(z->global_area, 0, sizeof(z->global_area));
        break;
    default: /* HandshakeAlert, EndSession: no output */
        break;
    }
}

/* Call the exit for a prepared phase, counted. Returns the normalised answer. */
static int call_prepared(struct pkie_tls_session *s, uint32_t phase)
{
    int rc = pkie_tls_task_call(s->t, phase);
    pkie_metrics_exit_call(pkie_exit_phase_name(phase), rc);
    return rc;
}

/* Call the exit for a session phase (prepare_call, then the call). */
static int call_phase(struct pkie_tls_session *s, uint32_t phase)
{
    prepare_call(s, phase);
    return call_prepared(s, phase);
}

static void put_sigalgs(struct pkie_tls_session *s)
{
    struct pkicom *z = s->t->z;
    int n = SSL_get_sigalgs(s->ssl, -1, NULL, NULL, NULL, NULL, NULL);
    z->n_sigalgs = 0;
    for (int i = 0; i < n && z->n_sigalgs < CFTPKIE_SIGALGS_MAX; i++) {
        unsigned char rsig = 0, rhash = 0;
        SSL_get_sigalgs(s->ssl, i, NULL, NULL, NULL, &rsig, &rhash);
        z->sigalgs[z->n_sigalgs++] = (uint16_t)((rhash << 8) | rsig);
    }
}

/* ---- GetCAList (server, from the client hello callback) ------------------- */

static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
    (void)arg;
    struct pkie_tls_session *s = session_of(ssl);
    if (s == NULL)
        return SSL_CLIENT_HELLO_SUCCESS;
    STACK_OF(X509_NAME) *names = NULL;
    if (pkie_tls_wants(s, CFTPKIE_GET_CA_LIST)) {
        int rc = call_phase(s, CFTPKIE_GET_CA_LIST);
        if (rc == CFTPKIE_ERROR) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CA_LIST, "error: %s", s->t->z->error_text);
            goto fail;
        }
        if (rc == CFTPKIE_HANDLED && pkie_exit_check_ca_names(s->t->z, &names) != 0) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CA_LIST, "invalid answer: %s",
                                  pkie_err_last()->msg);
            goto fail;
        }
    }
    if (names == NULL && s->prof.n_ca_ids > 0) {
        struct pkie_pki_profile p;
        pkie_tls_profile_view(s, &p);
        if (s->t->rt->pki == NULL) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CA_LIST, "no internal PKI base");
            goto fail;
        }
        if (pkie_pki_get_ca_names(s->t->rt->pki, p.ca_ids, p.n_ca_ids, &names) != 0) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CA_LIST, "internal PKI: %s", pkie_err_last()->msg);
            goto fail;
        }
    }
    if (names != NULL)
        SSL_set_client_CA_list(ssl, names); /* takes ownership */
    return SSL_CLIENT_HELLO_SUCCESS;
fail:
    *al = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
}

/* ---- CryptData (opaque key callback) -------------------------------------- */

static uint32_t md_code(const EVP_MD *md)
{
    if (md == NULL)
        return CFTPKIE_MD_NONE;
    if (EVP_MD_is_a(md, "SHA1"))
        return CFTPKIE_MD_SHA1;
    if (EVP_MD_is_a(md, "SHA2-256"))
        return CFTPKIE_MD_SHA256;
    if (EVP_MD_is_a(md, "SHA2-384"))
        return CFTPKIE_MD_SHA384;
    return CFTPKIE_MD_SHA512;
}

static int session_sign(void *arg, const struct pkie_exit_sign_req *req, uint8_t *sig,
                        size_t *sig_len)
{
    struct pkie_tls_task *t = arg;
    struct pkie_tls_session *s = t->cur;
    if (s == NULL)
        return PKIE_ERR(PKIE_ERR_STATE, "opaque key used outside a handshake");
    struct pkicom *z = t->z;
    if (s->failed)
        return PKIE_ERR_STATE;
    if (req->tbs_len > sizeof(z->data)) {
        pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA, "%zu bytes to sign over capacity",
                              req->tbs_len);
        return PKIE_ERR_LIMIT;
    }
    int rc = CFTPKIE_NOT_HANDLED;
    if (pkie_tls_wants(s, CFTPKIE_CRYPT_DATA)) {
        z->sign_alg = req->alg;
        z->sign_digest = md_code(req->md);
        z->data_len = (uint32_t)req->tbs_len;
        memcpy(z->data, req->tbs, req->tbs_len);
        put_sigalgs(s);
        rc = call_phase(s, CFTPKIE_CRYPT_DATA);
        if (rc == CFTPKIE_ERROR) {
            pkie_wipe(z->key, sizeof(z->key));
            pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA, "error: %s", z->error_text);
            return PKIE_ERR_EXIT_PHASE;
        }
        if (rc == CFTPKIE_HANDLED) {
            if (pkie_exit_check_signature_cached(z, s->leaf_pub, req, sig, sig_len, &t->keycache,
                                                 &t->verifier) != 0) {
                pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA, "invalid answer: %s",
                                      pkie_err_last()->msg);
                return PKIE_ERR_EXIT_ANSWER;
            }
            return 0;
        }
        pkie_wipe(z->key, sizeof(z->key));
    }
    /* Not handled: the internal base signs with the key of cert_id; the
     * signature must verify with the leaf we sent. */
    if (s->t->rt->pki == NULL) {
        pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA, "not handled and no internal PKI base");
        return PKIE_ERR_EXIT_NO_BASE;
    }
    int pad = req->alg == CFTPKIE_SIGN_RSA_PSS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
    if (pkie_pki_sign(s->t->rt->pki, s->prof.cert_id, req->md, pad, req->tbs, req->tbs_len, sig,
                      sig_len) != 0) {
        pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA, "internal PKI: %s", pkie_err_last()->msg);
        return PKIE_ERR_PKI_SIGN;
    }
    if (pkie_exit_verify_sig_with(&t->verifier, s->leaf_pub, req, sig, *sig_len) != 0) {
        pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA,
                              "key of %s does not match the leaf certificate sent",
                              s->prof.cert_id);
        return PKIE_ERR_EXIT_ANSWER;
    }
    return 0;
}

/* ---- GetCertificate (certificate callback) -------------------------------- */

/* The exit's chain: the task's cached parse when the bytes are the same as
 * last time, else validated (pkie_exit_check_chain) and cached. */
static int exit_chain(struct pkie_tls_task *t, STACK_OF(X509) **chain)
{
    struct pkicom *z = t->z;
    *chain = NULL;
    if (t->chain != NULL && z->chain_count == t->chain_count &&
        memcmp(z->chain_len, t->chain_lens, sizeof(t->chain_lens[0]) * t->chain_count) == 0 &&
        memcmp(z->chain, t->chain_der, t->chain_der_len) == 0) {
        *chain = X509_chain_up_ref(t->chain);
        return *chain != NULL ? 0 : PKIE_ERR(PKIE_ERR_NOMEM, "chain");
    }
    int rc = pkie_exit_check_chain(z, chain);
    if (rc != 0)
        return rc;
    size_t total = 0;
    for (uint32_t i = 0; i < z->chain_count; i++)
        total += z->chain_len[i];
    uint8_t *der = malloc(total);
    STACK_OF(X509) *copy = X509_chain_up_ref(*chain);
    if (der == NULL || copy == NULL) { /* no cache this time */
        free(der);
        sk_X509_pop_free(copy, X509_free);
        return 0;
    }
    memcpy(der, z->chain, total);
    free(t->chain_der);
    sk_X509_pop_free(t->chain, X509_free);
    t->chain_der = der;
    t->chain_der_len = total;
    t->chain_count = z->chain_count;
    memset(t->chain_lens, 0, sizeof(t->chain_lens));
    memcpy(t->chain_lens, z->chain_len, sizeof(t->chain_lens[0]) * z->chain_count);
    t->chain = copy;
    return 0;
}

/* An opaque key for @p pub signing through the task's current session; the
 * task keeps the last one and reuses it for the same public key. */
static EVP_PKEY *task_opaque_key(struct pkie_tls_task *t, EVP_PKEY *pub)
{
    if (t->opq_key == NULL || (t->opq_pub != pub && EVP_PKEY_eq(t->opq_pub, pub) != 1)) {
        EVP_PKEY *k = pkie_opaque_key_new(pub, session_sign, t);
        if (k == NULL)
            return NULL;
        EVP_PKEY_free(t->opq_key);
        EVP_PKEY_free(t->opq_pub);
        t->opq_key = k;
        t->opq_pub = pub;
        EVP_PKEY_up_ref(pub);
    }
    EVP_PKEY_up_ref(t->opq_key);
    return t->opq_key;
}

static int cert_cb(SSL *ssl, void *arg)
{
    (void)arg;
    struct pkie_tls_session *s = session_of(ssl);
    if (s == NULL || s->failed)
        return 0;
    struct pkie_tls_runtime *rt = s->t->rt;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    int want_sign = pkie_tls_wants(s, CFTPKIE_CRYPT_DATA);
    int rc = CFTPKIE_NOT_HANDLED;
    if (pkie_tls_wants(s, CFTPKIE_GET_CERTIFICATE)) {
        struct pkicom *z = s->t->z;
        if (!s->is_server)
            pkie_exit_put_ca_names(z, SSL_get0_peer_CA_list(ssl));
        else
            z->ca_names_count = 0;
        put_sigalgs(s);
        rc = call_phase(s, CFTPKIE_GET_CERTIFICATE);
        if (rc == CFTPKIE_ERROR) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE, "error: %s", z->error_text);
            goto fail;
        }
        if (rc == CFTPKIE_HANDLED && exit_chain(s->t, &chain) != 0) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE, "invalid answer: %s",
                                  pkie_err_last()->msg);
            goto fail;
        }
    }
    if (rc != CFTPKIE_HANDLED || !want_sign) {
        /* The internal base: the chain of cert_id, and its key unless the exit signs. */
        STACK_OF(X509) *ichain = NULL;
        if (rt->pki == NULL) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE, "no internal PKI base");
            goto fail;
        }
        if (pkie_pki_get_chain(rt->pki, s->prof.cert_id, &ichain, want_sign ? NULL : &key) != 0) {
            pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE, "internal PKI, id %s: %s",
                                  s->prof.cert_id, pkie_err_last()->msg);
            goto fail;
        }
        if (chain == NULL)
            chain = ichain;
        else
            sk_X509_pop_free(ichain, X509_free);
    }
    X509 *leaf = sk_X509_value(chain, 0);
    EVP_PKEY *pub = leaf != NULL ? X509_get0_pubkey(leaf) : NULL;
    if (pub == NULL) {
        pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE, "leaf has no usable public key");
        goto fail;
    }
    EVP_PKEY_free(s->leaf_pub);
    s->leaf_pub = pub;
    EVP_PKEY_up_ref(pub);
    if (want_sign) {
        key = task_opaque_key(s->t, pub);
        if (key == NULL) {
            pkie_tls_session_fail(s, CFTPKIE_CRYPT_DATA, "%s", pkie_err_last()->msg);
            goto fail;
        }
    } else if (rc == CFTPKIE_HANDLED && EVP_PKEY_eq(pub, key) != 1) {
        /* (a chain and key both from the base match: the base checks it at
         * import, and SSL_use_cert_and_key checks again) */
        pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE,
                              "the leaf of the chain does not match the key of %s",
                              s->prof.cert_id);
        goto fail;
    }
    pkie_metrics_cert(rc == CFTPKIE_HANDLED ? "exit" : s->prof.cert_id, leaf);
    X509 *l = sk_X509_shift(chain);
    int ok = SSL_use_cert_and_key(ssl, l, key, chain, 1);
    X509_free(l);
    if (ok != 1) {
        char e[160];
        ERR_error_string_n(ERR_peek_last_error(), e, sizeof(e));
        pkie_tls_session_fail(s, CFTPKIE_GET_CERTIFICATE, "chain not usable: %s", e);
        goto fail;
    }
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return 1;
fail:
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return 0;
}

/* ---- CheckCertificate (replaces chain verification) ----------------------- */

/* The X509 verification error libssl turns into alert @p alert. */
static int alert_to_x509err(int alert)
{
    switch (alert) {
    case 43:
        return X509_V_ERR_INVALID_PURPOSE;
    case 44:
        return X509_V_ERR_CERT_REVOKED;
    case 45:
        return X509_V_ERR_CERT_HAS_EXPIRED;
    case 46:
        return X509_V_ERR_SUBJECT_ISSUER_MISMATCH;
    case 48:
        return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    case 51:
        return X509_V_ERR_CERT_SIGNATURE_FAILURE;
    case 80:
        return X509_V_ERR_OUT_OF_MEM;
    default:
        return X509_V_ERR_CERT_REJECTED; /* 42 */
    }
}

/* An alert of the handshake: the first one is the session's; the exit hears
 * of it once (HandshakeAlert), after which no handshake phase is called. */
static void note_alert(struct pkie_tls_session *s, int level, int code, int sent)
{
    if (s->alert < 0) {
        s->alert = code;
        s->alert_sent = sent;
    }
    if (!pkie_tls_wants(s, CFTPKIE_HANDSHAKE_ALERT))
        return;
    struct pkicom *z = s->t->z;
    z->alert_level = (uint32_t)level;
    z->alert_code = (uint32_t)code;
    z->alert_direction = sent ? CFTPKIE_ALERT_SENT : CFTPKIE_ALERT_RECEIVED;
    call_phase(s, CFTPKIE_HANDSHAKE_ALERT); /* no output; its answer changes nothing */
    s->alert_called = 1;
}

#define ALERT_ACCESS_DENIED 49
/* A private extension number for the TLS 1.3 NewSessionTicket hook (never
 * sent: its callback adds nothing or fails the handshake). */
#define EXT_DENY_HOOK       0xfe7d

/* Refuse the peer with access_denied (49), which libssl never sends for a
 * verification failure (see pkie_tls_peer_check_fn). s->fail_msg is set.
 * Returns the verify callback's answer. */
static int deny_access(struct pkie_tls_session *s, SSL *ssl, X509_STORE_CTX *xs)
{
    s->denied = 1;
    s->failed = 1;
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    if (!s->is_server) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    if (SSL_version(ssl) == TLS1_3_VERSION) {
        /* Our writes are encrypted by now, and libssl chooses the alerts of
         * a verification failure: let the handshake run to the client's
         * Finished, where the NewSessionTicket hook fails it with 49. */
        SSL_set_num_tickets(ssl, 1);
        return 1;
    }
    /* TLS 1.2: our side is still in plaintext (no ChangeCipherSpec sent):
     * the fatal access_denied record goes first; libssl's own alert after it
     * is never read by the peer. */
    static const unsigned char rec[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, ALERT_ACCESS_DENIED};
    (void)send(s->fd, rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT);
    note_alert(s, 2, ALERT_ACCESS_DENIED, 1);
    X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
    return 0;
}

/* The chain is accepted: the host's partner check decides (alert 49 when it
 * refuses). Returns the verify callback's answer. */
static int partner_check(struct pkie_tls_session *s, SSL *ssl, X509_STORE_CTX *xs, X509 *leaf)
{
    char why[256] = "";
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    if (s->peer_check == NULL || s->peer_check(s->peer_check_arg, leaf, why, sizeof(why)) == 0)
        return 1;
    snprintf(s->fail_msg, sizeof(s->fail_msg), "partner check: %s", why[0] ? why : "refused");
    pkie_log_info("tls", "task %u session %llu: peer refused by the partner check: %s",
                  s->t->task_id, (unsigned long long)s->ref, why);
    return deny_access(s, ssl, xs);
}

static int deny_hook_add(SSL *ssl, unsigned int ext_type, unsigned int context,
                         const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
                         int *al, void *arg)
{
    (void)ext_type, (void)context, (void)out, (void)outlen, (void)x, (void)chainidx, (void)arg;
    struct pkie_tls_session *s = session_of(ssl);
    if (s == NULL || !s->denied)
        return 0; /* nothing added */
    *al = ALERT_ACCESS_DENIED;
    return -1;
}

static int verify_cb(X509_STORE_CTX *xs, void *arg)
{
    (void)arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct pkie_tls_session *s = ssl != NULL ? session_of(ssl) : NULL;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xs);
    int alert = 80;
    if (s == NULL || s->failed || chain == NULL || sk_X509_num(chain) < 1)
        goto refuse;
    X509 *leaf = sk_X509_value(chain, 0);
    if (s->peer_leaf == NULL && X509_up_ref(leaf))
        s->peer_leaf = leaf;
    int rc = CFTPKIE_NOT_HANDLED;
    if (pkie_tls_wants(s, CFTPKIE_CHECK_CERTIFICATE)) {
        struct pkicom *z = s->t->z;
        if (pkie_exit_put_peer_chain(z, chain, 0) != 0) {
            alert = 42;
            pkie_tls_session_fail(s, CFTPKIE_CHECK_CERTIFICATE, "peer chain too large");
            goto refuse;
        }
        rc = call_phase(s, CFTPKIE_CHECK_CERTIFICATE);
        if (rc == CFTPKIE_ERROR) {
            pkie_tls_session_fail(s, CFTPKIE_CHECK_CERTIFICATE, "error: %s", z->error_text);
            goto refuse;
        }
        if (rc == CFTPKIE_HANDLED) {
            int accept;
            if (pkie_exit_check_verdict(z, &accept, &alert) != 0) {
                alert = 80;
                pkie_tls_session_fail(s, CFTPKIE_CHECK_CERTIFICATE, "invalid answer: %s",
                                      pkie_err_last()->msg);
                goto refuse;
            }
            if (!accept) {
                pkie_log_info("exit",
                              "exit %s phase CheckCertificate: task %u session %llu: "
                              "peer refused by the exit (alert %d)",
                              exit_name(s), s->t->task_id, (unsigned long long)s->ref, alert);
                snprintf(s->fail_msg, sizeof(s->fail_msg),
                         "exit %s phase CheckCertificate: peer refused (alert %d)", exit_name(s),
                         alert);
                s->failed = 1;
                goto refuse;
            }
            return partner_check(s, ssl, xs, leaf);
        }
    }
    if (s->t->rt->pki == NULL) {
        pkie_tls_session_fail(s, CFTPKIE_CHECK_CERTIFICATE, "no internal PKI base");
        goto refuse;
    }
    struct pkie_pki_profile p;
    pkie_tls_profile_view(s, &p);
    if (pkie_pki_verify_chain(s->t->rt->pki, &p, chain, &alert) != 0) {
        pkie_log_info("exit", "internal PKI: task %u session %llu: peer refused (alert %d): %s",
                      s->t->task_id, (unsigned long long)s->ref, alert, pkie_err_last()->msg);
        snprintf(s->fail_msg, sizeof(s->fail_msg), "internal PKI: peer refused (alert %d): %s",
                 alert, pkie_err_last()->msg);
        s->failed = 1;
        if (alert == ALERT_ACCESS_DENIED) /* the profile's DN filters */
            return deny_access(s, ssl, xs);
        goto refuse;
    }
    return partner_check(s, ssl, xs, leaf);
refuse:
    X509_STORE_CTX_set_error(xs, alert_to_x509err(alert));
    return 0;
}

/* ---- HandshakeAlert (info callback) --------------------------------------- */

static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_ALERT) == 0)
        return;
    struct pkie_tls_session *s = session_of(ssl);
    if (s == NULL || s->done)
        return;
    note_alert(s, (ret >> 8) & 0xff, ret & 0xff, (where & SSL_CB_WRITE) != 0);
}

int pkie_tls_ctx_callbacks(SSL_CTX *ctx)
{
    if (pkie_tls_ex_index() < 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SSL ex_data index");
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, NULL);
    SSL_CTX_set_cert_cb(ctx, cert_cb, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_cb, NULL);
    SSL_CTX_set_info_callback(ctx, info_cb);
    if (!SSL_CTX_add_custom_ext(ctx, EXT_DENY_HOOK, SSL_EXT_TLS1_3_NEW_SESSION_TICKET,
                                deny_hook_add, NULL, NULL, NULL, NULL))
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "TLS 1.3 partner refusal hook");
    return 0;
}

/* ---- the session ----------------------------------------------------------- */

static int copy_profile(struct pkie_tls_session *s, const struct pkie_pki_profile *p)
{
    struct pkie_exit_profile *d = &s->prof;
    if (p->cert_id != NULL && strlen(p->cert_id) >= sizeof(d->cert_id))
        return PKIE_ERR(PKIE_ERR_ARG, "profile: certificate id too long");
    snprintf(d->cert_id, sizeof(d->cert_id), "%s", p->cert_id ? p->cert_id : "");
    if (p->n_ca_ids > CFTPKIE_CA_IDS_MAX || p->n_dn_filters > CFTPKIE_DN_FILTERS_MAX)
        return PKIE_ERR(PKIE_ERR_LIMIT, "profile: more than %u CA ids or DN filters",
                        CFTPKIE_CA_IDS_MAX);
    d->n_ca_ids = (uint32_t)p->n_ca_ids;
    for (size_t i = 0; i < p->n_ca_ids; i++) {
        if (p->ca_ids[i] == NULL || strlen(p->ca_ids[i]) >= sizeof(d->ca_ids[i]))
            return PKIE_ERR(PKIE_ERR_ARG, "profile: bad CA id");
        snprintf(d->ca_ids[i], sizeof(d->ca_ids[i]), "%s", p->ca_ids[i]);
    }
    d->n_dn_filters = (uint32_t)p->n_dn_filters;
    for (size_t i = 0; i < p->n_dn_filters; i++) {
        if (p->dn_filters[i] == NULL || strlen(p->dn_filters[i]) >= sizeof(d->dn_filters[i]))
            return PKIE_ERR(PKIE_ERR_ARG, "profile: bad DN filter");
        snprintf(d->dn_filters[i], sizeof(d->dn_filters[i]), "%s", p->dn_filters[i]);
    }
    d->verify_depth = p->verify_depth > 0 ? p->verify_depth : 4;
    if (d->verify_depth > (int32_t)CFTPKIE_CHAIN_MAX)
        d->verify_depth = CFTPKIE_CHAIN_MAX;
    return 0;
}

static int start_handshake(struct pkie_tls_session *s)
{
    struct pkicom *z = s->t->z;
    if (s->t->area_size > 0) {
        s->area = calloc(1, s->t->area_size);
        if (s->area == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "session area");
    }
    s->start_called = 1;
    s->exit_ref = 0;
    int rc = call_phase(s, CFTPKIE_START_HANDSHAKE);
    if (rc == CFTPKIE_ERROR) {
        pkie_tls_session_fail(s, CFTPKIE_START_HANDSHAKE, "error: %s", z->error_text);
        return PKIE_ERR_EXIT_PHASE;
    }
    s->exit_ref = z->exit_session_ref;
    if (rc == CFTPKIE_HANDLED) {
        struct pkie_exit_profile np;
        if (pkie_exit_check_profile(z, &np) != 0) {
            pkie_tls_session_fail(s, CFTPKIE_START_HANDSHAKE, "invalid answer: %s",
                                  pkie_err_last()->msg);
            return PKIE_ERR_EXIT_ANSWER;
        }
        s->prof = np; /* later phases see the profile in force */
    }
    return 0;
}

static void handshake_done(struct pkie_tls_session *s)
{
    SSL *ssl = s->ssl;
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    snprintf(s->version, sizeof(s->version), "%s", SSL_get_version(ssl));
    snprintf(s->cipher, sizeof(s->cipher), "%s", c ? SSL_CIPHER_get_name(c) : "");
    s->done = 1;
    if (!pkie_tls_wants(s, CFTPKIE_HANDSHAKE_DONE))
        return;
    struct pkicom *z = s->t->z;
    z->tls_version = (uint32_t)SSL_version(ssl);
    z->cipher_id = c ? (uint32_t)SSL_CIPHER_get_protocol_id(c) : 0;
    snprintf(z->cipher_name, sizeof(z->cipher_name), "%s", s->cipher);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *peer = SSL_get0_peer_certificate(ssl);
    z->peer_count = 0;
    if (sk != NULL && peer != NULL && sk_X509_push(sk, peer))
        pkie_exit_put_peer_chain(z, sk, 1);
    sk_X509_free(sk);
    int rc = call_phase(s, CFTPKIE_HANDSHAKE_DONE);
    if (rc == CFTPKIE_ERROR) {
        pkie_tls_session_fail(s, CFTPKIE_HANDSHAKE_DONE, "error: %s", z->error_text);
        return;
    }
    if (rc == CFTPKIE_HANDLED)
        memcpy(s->global, z->global_area, sizeof(s->global));
}

static int handshake_error(struct pkie_tls_session *s, int ssl_ret)
{
    int e = SSL_get_error(s->ssl, ssl_ret);
    char alert[64] = "";
    if (s->alert >= 0)
        snprintf(alert, sizeof(alert), " (alert %d %s, %s)", s->alert,
                 pkie_tls_alert_name(s->alert), s->alert_sent ? "sent" : "received");
    if (s->failed)
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_HANDSHAKE, "%s%s", s->fail_msg, alert);
    if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_HANDSHAKE, "handshake: connection closed by the peer%s",
                             alert);
    return PKIE_ERR_OSSL(PKIE_ERR_EXIT_HANDSHAKE, "handshake failed%s", alert);
}

int pkie_tls_session_begin(struct pkie_tls_task *t, int fd, const struct pkie_tls_session_params *p,
                           int timeout_ms, struct pkie_tls_session **out)
{
    if (t == NULL || out == NULL || p == NULL || fd < 0)
        return PKIE_ERR(PKIE_ERR_ARG, "session: bad argument");
    struct pkie_tls_session *s = calloc(1, sizeof(*s));
    *out = s;
    if (s == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "session");
    s->t = t;
    s->fd = fd;
    s->alert = -1;
    s->is_server = p->is_server ? 1 : 0;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    s->ref = ++t->next_session;
    s->peer_check = p->peer_check;
    s->peer_check_arg = p->peer_check_arg;
    snprintf(s->partner_id, sizeof(s->partner_id), "%s", p->partner_id ? p->partner_id : "");
    snprintf(s->peer_addr, sizeof(s->peer_addr), "%s", p->peer_addr ? p->peer_addr : "");
    s->peer_port = p->peer_port;
    s->local_port = p->local_port;
    snprintf(s->sni, sizeof(s->sni), "%s", !p->is_server && p->sni ? p->sni : "");
    t->cur = s;
    int rc = copy_profile(s, &p->profile);
    if (rc != 0)
        return rc;
    if (pkie_tls_wants(s, CFTPKIE_START_HANDSHAKE)) {
        rc = start_handshake(s);
        if (rc != 0)
            return PKIE_ERR(PKIE_ERR_EXIT_PHASE, "%s", s->fail_msg);
    }
    s->ssl = SSL_new(t->rt->ctx);
    if (s->ssl == NULL || !SSL_set_ex_data(s->ssl, pkie_tls_ex_index(), s) ||
        !SSL_set_fd(s->ssl, fd))
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SSL_new");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return PKIE_ERR(PKIE_ERR_IO, "session: cannot make the socket non-blocking");
    if (s->is_server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (s->sni[0] != '\0') {
            if (p->sni != NULL && strlen(p->sni) >= sizeof(s->sni))
                return PKIE_ERR(PKIE_ERR_ARG, "SNI longer than %zu", sizeof(s->sni) - 1);
            if (!SSL_set_tlsext_host_name(s->ssl, s->sni))
                return PKIE_ERR_OSSL(PKIE_ERR_ARG, "SNI %s", s->sni);
        }
    }
    return 0;
}

int pkie_tls_session_step(struct pkie_tls_session *s)
{
    if (s == NULL || s->ssl == NULL)
        return PKIE_ERR(PKIE_ERR_STATE, "session: not begun");
    if (s->done)
        return s->failed ? PKIE_ERR(PKIE_ERR_EXIT_PHASE, "%s", s->fail_msg) : PKIE_TLS_STEP_DONE;
    s->t->cur = s; /* the opaque key signs for the session being driven */
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    if (r != 1) {
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            return PKIE_TLS_STEP_WANT_READ;
        if (e == SSL_ERROR_WANT_WRITE)
            return PKIE_TLS_STEP_WANT_WRITE;
        return handshake_error(s, r);
    }
    if (s->denied) /* no ticket hook ran (TLS 1.3 without tickets): refused all the same */
        return PKIE_ERR(PKIE_ERR_EXIT_HANDSHAKE, "%s (no alert could be sent)", s->fail_msg);
    handshake_done(s);
    if (s->failed)
        return PKIE_ERR(PKIE_ERR_EXIT_PHASE, "%s", s->fail_msg);
    return PKIE_TLS_STEP_DONE;
}

int pkie_tls_session_handshake(struct pkie_tls_task *t, int fd,
                               const struct pkie_tls_session_params *p, int timeout_ms,
                               struct pkie_tls_session **out)
{
    int rc = pkie_tls_session_begin(t, fd, p, timeout_ms, out);
    if (rc != 0)
        return rc;
    struct pkie_tls_session *s = *out;
    long long deadline = pkie_tls_now_ms() + s->timeout_ms;
    for (;;) {
        rc = pkie_tls_session_step(s);
        if (rc <= 0)
            return rc;
        rc = pkie_tls_wait(
            fd, rc == PKIE_TLS_STEP_WANT_WRITE ? SSL_ERROR_WANT_WRITE : SSL_ERROR_WANT_READ,
            deadline);
        if (rc != 0)
            return rc;
    }
}

void pkie_tls_session_end(struct pkie_tls_session *s)
{
    if (s == NULL)
        return;
    struct pkie_tls_task *t = s->t;
    if (t != NULL && t->z != NULL &&
        (s->start_called || (t->mask & CFTPKIE_PHASE_BIT(CFTPKIE_END_SESSION)) != 0)) {
        prepare_call(s, CFTPKIE_END_SESSION);
        if (!pkie_tls_task_post_end(t)) /* not posted: called and waited for */
            call_prepared(s, CFTPKIE_END_SESSION);
        t->z->session_area = NULL;
    }
    SSL_free(s->ssl);
    if (t != NULL && t->cur == s)
        t->cur = NULL;
    EVP_PKEY_free(s->leaf_pub);
    X509_free(s->peer_leaf);
    if (s->area != NULL)
        pkie_wipe_free(s->area, t->area_size);
    free(s);
}

X509 *pkie_tls_peer_cert(struct pkie_tls_session *s)
{
    return s != NULL && s->ssl != NULL && s->done ? SSL_get0_peer_certificate(s->ssl) : NULL;
}

X509 *pkie_tls_seen_cert(struct pkie_tls_session *s)
{
    return s != NULL ? s->peer_leaf : NULL;
}

int pkie_tls_denied(struct pkie_tls_session *s)
{
    return s != NULL && s->denied;
}

const uint8_t *pkie_tls_global_area(struct pkie_tls_session *s)
{
    return s->global;
}

const char *pkie_tls_version(struct pkie_tls_session *s)
{
    return s != NULL ? s->version : "";
}

const char *pkie_tls_cipher(struct pkie_tls_session *s)
{
    return s != NULL ? s->cipher : "";
}

int pkie_tls_alert_sent(struct pkie_tls_session *s)
{
    return s != NULL && s->alert >= 0 && s->alert_sent;
}

int pkie_tls_alert(struct pkie_tls_session *s)
{
    return s != NULL ? s->alert : -1;
}
