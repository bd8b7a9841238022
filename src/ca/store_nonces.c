/* CA store, both backends: the senderNonces claimed by requests in flight
 * (checked against each other here, against the stored ones through the
 * backend) and the durable writes that carry them: a request's nonce is
 * written with its first durable write, before its answer leaves. */
#include "ca_internal.h"
#include "pkie/error.h"

#include <stdio.h>
#include <string.h>

#define NONCE_MAX PKIE_CA_NONCE_MAX /* longer ones are refused (RFC 9810 asks for 128 bits) */

static void unlink_claim(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c)
{
    for (struct pkie_ca_nonce_claim **pp = &s->nc_head; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    c->next = NULL;
    c->active = 0;
}

int pkie_ca_store_nonce_claim(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c,
                              const uint8_t *nonce, size_t nonce_len, const uint8_t *txid,
                              size_t txid_len, int new_tx, int64_t now)
{
    return pkie_ca_store_nonce_claim_ahead(s, c, nonce, nonce_len, txid, txid_len, new_tx, now,
                                           NULL);
}

/* @p a was read for this very claim */
static int ahead_fits(const struct pkie_ca_ahead *a, const struct pkie_ca_nonce_claim *c)
{
    return a != NULL && a->done && !a->new_tx == !c->new_tx && a->nonce_len == c->nonce_len &&
           memcmp(a->nonce, c->nonce, c->nonce_len) == 0 && a->txid_len == c->txid_len &&
           (c->txid_len == 0 || memcmp(a->txid, c->txid, c->txid_len) == 0);
}

int pkie_ca_store_nonce_claim_ahead(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c,
                                    const uint8_t *nonce, size_t nonce_len, const uint8_t *txid,
                                    size_t txid_len, int new_tx, int64_t now,
                                    const struct pkie_ca_ahead *a)
{
    memset(c, 0, sizeof(*c));
    if (nonce == NULL || nonce_len == 0 || nonce_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_CMP_SENDER_NONCE, "senderNonce of %zu bytes", nonce_len);
    if (txid_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_CMP_TID_MISSING, "transactionID of %zu bytes", txid_len);
    memcpy(c->nonce, nonce, nonce_len);
    c->nonce_len = nonce_len;
    if (txid_len > 0)
        memcpy(c->txid, txid, txid_len);
    c->txid_len = txid_len;
    c->new_tx = new_tx;
    c->now = now;
    /* Requests in flight first: a claim is registered before the database is
     * asked, and leaves only after its commit, so of two requests with the
     * same nonce the second sees the first here or in the database. */
    int tid_used = 0;
    pthread_mutex_lock(&s->nc_mu);
    for (const struct pkie_ca_nonce_claim *o = s->nc_head; o != NULL; o = o->next) {
        if (o->nonce_len == nonce_len && memcmp(o->nonce, nonce, nonce_len) == 0) {
            pthread_mutex_unlock(&s->nc_mu);
            return PKIE_ERR(PKIE_ERR_CMP_NONCE_REPLAY, "senderNonce seen before");
        }
        if (new_tx && o->txid_len == txid_len && memcmp(o->txid, c->txid, txid_len) == 0)
            tid_used = 1;
    }
    c->next = s->nc_head;
    s->nc_head = c;
    c->active = 1;
    pthread_mutex_unlock(&s->nc_mu);
    int what = 0, rc = 0;
    if (ahead_fits(a, c)) {
        what = a->what;
        c->tx_known = a->tx_known;
        c->tx_state = a->tx_state;
    } else {
        rc = s->ops->nonce_seen(s, c, &what);
    }
    if (rc == 0 && what == 1)
        rc = PKIE_ERR(PKIE_ERR_CMP_NONCE_REPLAY, "senderNonce seen before");
    if (rc != 0) {
        pkie_ca_store_nonce_release(s, c);
        return rc;
    }
    if (tid_used || what == 2) { /* refused, but the nonce is still to be kept */
        c->tid_refused = 1;
        return PKIE_ERR(PKIE_ERR_CMP_TID_IN_USE, "transactionID already used");
    }
    return 0;
}

void pkie_ca_store_nonce_release(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c)
{
    if (c == NULL || !c->active)
        return;
    pthread_mutex_lock(&s->nc_mu);
    unlink_claim(s, c);
    pthread_mutex_unlock(&s->nc_mu);
}

int pkie_ca_store_nonce_remember(struct pkie_ca_store *s, const uint8_t *nonce, size_t nonce_len,
                                 const uint8_t *txid, size_t txid_len, int new_tx, int64_t now)
{
    struct pkie_ca_nonce_claim c;
    int rc = pkie_ca_store_nonce_claim(s, &c, nonce, nonce_len, txid, txid_len, new_tx, now);
    if (c.active) {
        int crc = pkie_ca_store_nonce_commit(s, &c);
        pkie_ca_store_nonce_release(s, &c);
        if (rc == 0)
            rc = crc;
        else if (crc == 0) /* re-raise the refusal (the commit cleared the record) */
            rc = PKIE_ERR(rc, "transactionID already used");
    }
    return rc;
}

static struct pkie_ca_nonce_claim *pending(struct pkie_ca_nonce_claim *c)
{
    return c != NULL && c->active && !c->committed ? c : NULL;
}

int pkie_ca_store_cert_insert(struct pkie_ca_store *s, X509 *cert, int status,
                              const char *client_ref, int64_t tx_id, int64_t cert_req_id,
                              int tx_state)
{
    return pkie_ca_store_cert_insert_claim(s, cert, status, client_ref, tx_id, cert_req_id,
                                           tx_state, NULL);
}

int pkie_ca_store_cert_insert_claim(struct pkie_ca_store *s, X509 *cert, int status,
                                    const char *client_ref, int64_t tx_id, int64_t cert_req_id,
                                    int tx_state, struct pkie_ca_nonce_claim *claim)
{
    char serial[48], subject[512];
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    if (len <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode certificate");
    int rc = pkie_ca_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
    if (rc == 0 && pkie_ca_name_text(X509_get_subject_name(cert), subject, sizeof(subject)) != 0)
        snprintf(subject, sizeof(subject), "?");
    if (rc != 0) {
        OPENSSL_free(der);
        return rc;
    }
    struct ca_write me = {
        .claim = pending(claim),
        .serial = serial,
        .subject = subject,
        .client_ref = client_ref,
        .der = der,
        .der_len = len,
        .status = status,
        .tx_state = tx_state,
        .not_before = pkie_ca_asn1_time_secs(X509_get0_notBefore(cert)),
        .not_after = pkie_ca_asn1_time_secs(X509_get0_notAfter(cert)),
        .tx_id = tx_id,
        .cert_req_id = cert_req_id,
    };
    rc = s->ops->write(s, &me);
    OPENSSL_free(der);
    return rc;
}

int pkie_ca_store_nonce_commit(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *claim)
{
    struct ca_write me = {.claim = pending(claim)};
    if (me.claim == NULL)
        return 0;
    return s->ops->write(s, &me);
}

int pkie_ca_store_tx_latest_state(struct pkie_ca_store *s, const struct pkie_ca_nonce_claim *c,
                                  const uint8_t *txid, size_t txid_len, int *state)
{
    struct pkie_ca_tx t;
    *state = -1;
    if (c != NULL && c->active && c->tx_known && c->txid_len == txid_len &&
        (txid_len == 0 || memcmp(c->txid, txid, txid_len) == 0)) {
        *state = c->tx_state;
        return 0;
    }
    int rc = pkie_ca_store_tx_get(s, 0, txid, txid_len, &t);
    if (rc == PKIE_ERR_CA_UNKNOWN_TX) {
        pkie_err_clear();
        return 0;
    }
    if (rc == 0)
        *state = t.state;
    pkie_ca_tx_clear(&t);
    return rc;
}

int pkie_ca_store_nonce_purge(struct pkie_ca_store *s, int64_t before, int *n)
{
    return s->ops->nonce_purge(s, before, n);
}

int pkie_ca_store_txnonce_set(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                              const uint8_t *nonce, size_t nonce_len, int64_t now)
{
    if (txid == NULL || txid_len == 0 || txid_len > NONCE_MAX || nonce == NULL || nonce_len == 0 ||
        nonce_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_ARG, "transactionID or nonce");
    return s->ops->txnonce_set(s, txid, txid_len, nonce, nonce_len, now);
}

int pkie_ca_store_txnonce_check(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                                const uint8_t *recip, size_t recip_len)
{
    if (txid == NULL || txid_len == 0 || txid_len > NONCE_MAX)
        return 0; /* no transaction to speak of: the body handler refuses it */
    return s->ops->txnonce_check(s, txid, txid_len, recip, recip_len);
}
