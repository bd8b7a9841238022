/* CA store, PostgreSQL backend: issued certificates, transactions and the
 * durable write of a request (its nonce, its certificate and its transaction
 * update in one statement, so one commit; store_pg_batch.c commits several
 * of them at once). */
#include "store_pg.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <string.h>

#define lib pg_lib()

/* Nonce conflicts: a replay (nonces_pkey), or a second request opening a
 * transaction with the same transactionID (nonces_opens), from any node. */
static int nonce_conflict(const char *constraint)
{
    if (strcmp(constraint, "nonces_opens") == 0)
        return PKIE_ERR(PKIE_ERR_CMP_TID_IN_USE, "transactionID already used");
    return PKIE_ERR(PKIE_ERR_CMP_NONCE_REPLAY, "senderNonce seen before");
}

int pkie_ca_pg_write_one(struct pkie_ca_store *s, struct ca_write *w, struct pkie_ca_nonce_claim *c)
{
    struct pgp p = {0};
    char conflict[64] = "";
    int opens = c != NULL && c->new_tx && !c->tid_refused && c->txid_len > 0;
    enum pg_sql id = w->serial == NULL ? PG_WRITE_NONCE : c != NULL ? PG_WRITE_BOTH : PG_WRITE_CERT;
    if (w->serial != NULL) {
        pgp_text(&p, w->serial);
        pgp_text(&p, w->subject);
        pgp_bin(&p, w->der, (size_t)w->der_len);
        pgp_int(&p, w->status);
        pgp_int(&p, w->not_before);
        pgp_int(&p, w->not_after);
        pgp_int(&p, pkie_ca_now());
        pgp_text(&p, w->client_ref != NULL ? w->client_ref : "");
        pgp_int(&p, w->tx_id);
        pgp_int(&p, w->cert_req_id);
        pgp_int(&p, w->tx_state);
    }
    if (c != NULL) {
        pgp_bin(&p, c->nonce, c->nonce_len);
        pgp_bin(&p, c->txid, c->txid_len);
        pgp_int(&p, c->now);
        pgp_text(&p, opens ? "t" : "f");
    }
    int rc = pg_query(s, id, &p, NULL, conflict, "store certificate");
    if (rc == PKIE_ERR_EXISTS && strncmp(conflict, "nonces", 6) == 0)
        return nonce_conflict(conflict);
    if (rc == PKIE_ERR_EXISTS) {
        /* a serial collision: the nonce is kept all the same (as the SQLite
         * backend does), the caller draws another serial */
        if (c != NULL && !c->committed) {
            struct pgp q = {0};
            pgp_bin(&q, c->nonce, c->nonce_len);
            pgp_bin(&q, c->txid, c->txid_len);
            pgp_int(&q, c->now);
            pgp_text(&q, opens ? "t" : "f");
            int nrc = pg_query(s, PG_WRITE_NONCE, &q, NULL, conflict, "store nonce");
            if (nrc == PKIE_ERR_EXISTS)
                return nonce_conflict(conflict);
            if (nrc != 0)
                return nrc;
            c->committed = 1;
        }
        return PKIE_ERR(PKIE_ERR_EXISTS, "serial %s already used", w->serial);
    }
    if (rc == 0 && c != NULL)
        c->committed = 1;
    return rc;
}

static int cert_row(const PGresult *r, int row, int with_der, struct pkie_ca_cert *c)
{
    memset(c, 0, sizeof(*c));
    pg_str(r, row, 0, c->serial, sizeof(c->serial));
    pg_str(r, row, 1, c->subject, sizeof(c->subject));
    c->status = (int)pg_int(r, row, 2);
    c->reason = (int)pg_int(r, row, 3);
    c->not_before = pg_int(r, row, 4);
    c->not_after = pg_int(r, row, 5);
    c->issued_at = pg_int(r, row, 6);
    c->revoked_at = pg_int(r, row, 7);
    pg_str(r, row, 8, c->client_ref, sizeof(c->client_ref));
    c->tx_id = pg_int(r, row, 9);
    c->cert_req_id = pg_int(r, row, 10);
    return with_der ? pg_blob(r, row, 11, &c->der, &c->der_len) : 0;
}

int pkie_ca_pg_cert_set_status(struct pkie_ca_store *s, const char *canon, int status, int reason)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    int revoke = status == PKIE_CA_CERT_REVOKED;
    pgp_int(&p, status);
    pgp_int(&p, revoke ? reason : -1);
    pgp_int(&p, revoke ? pkie_ca_now() : 0);
    pgp_text(&p, canon);
    int rc =
        pg_query(s, revoke ? PG_CERT_REVOKE : PG_CERT_CONFIRM, &p, &r, NULL, "update certificate");
    int changed = rc == 0 && strcmp(lib->cmdTuples(r), "0") != 0;
    lib->clear(r);
    if (rc != 0 || changed)
        return rc;
    struct pgp q = {0};
    pgp_text(&q, canon);
    if ((rc = pg_query(s, PG_CERT_STATUS, &q, &r, NULL, "certificate status")) != 0)
        return rc;
    int exists = lib->ntuples(r) == 1;
    int cur = exists ? (int)pg_int(r, 0, 0) : -1;
    lib->clear(r);
    if (!exists)
        return PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CERT, "no certificate with serial %s", canon);
    if (cur == PKIE_CA_CERT_REVOKED)
        return PKIE_ERR(PKIE_ERR_CA_REVOKED, "certificate %s is already revoked", canon);
    return PKIE_ERR(PKIE_ERR_STATE, "certificate %s is not awaiting confirmation", canon);
}

int pkie_ca_pg_cert_get(struct pkie_ca_store *s, const char *canon, int with_der,
                        struct pkie_ca_cert *c)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_text(&p, canon);
    int rc = pg_query(s, PG_CERT_GET, &p, &r, NULL, "certificate");
    if (rc == 0)
        rc = lib->ntuples(r) == 1
                 ? cert_row(r, 0, with_der, c)
                 : PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CERT, "no certificate with serial %s", canon);
    lib->clear(r);
    return rc;
}

int pkie_ca_pg_cert_iter(struct pkie_ca_store *s, enum ca_cert_iter which, int64_t tx_id,
                         int with_der, int (*cb)(void *arg, const struct pkie_ca_cert *c),
                         void *arg)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    struct pkie_ca_cert c;
    if (which == CA_ITER_TX)
        pgp_int(&p, tx_id);
    int rc = pg_query(s,
                      which == CA_ITER_TX        ? PG_CERT_TX
                      : which == CA_ITER_REVOKED ? PG_CERT_REVOKED
                                                 : PG_CERT_ALL,
                      &p, &r, NULL, "certificates");
    for (int i = 0; rc == 0 && i < lib->ntuples(r); i++) {
        rc = cert_row(r, i, with_der, &c);
        if (rc == 0)
            rc = cb(arg, &c);
        pkie_ca_cert_clear(&c);
    }
    lib->clear(r);
    return rc;
}

static int count(struct pkie_ca_store *s, enum pg_sql id, int64_t *n)
{
    PGresult *r = NULL;
    int rc = pg_query(s, id, NULL, &r, NULL, "count");
    if (rc == 0)
        *n = pg_int(r, 0, 0);
    lib->clear(r);
    return rc;
}

int pkie_ca_pg_cert_count(struct pkie_ca_store *s, int64_t *n)
{
    return count(s, PG_CERT_COUNT, n);
}

int pkie_ca_pg_revoked_count(struct pkie_ca_store *s, int64_t *n)
{
    return count(s, PG_REVOKED_COUNT, n);
}

/* ---- transactions -------------------------------------------------------- */

static int tx_row(const PGresult *r, int row, int with_req, struct pkie_ca_tx *t)
{
    memset(t, 0, sizeof(*t));
    t->id = pg_int(r, row, 0);
    size_t n = (size_t)lib->getlength(r, row, 1);
    if (n > sizeof(t->txid))
        n = sizeof(t->txid);
    memcpy(t->txid, lib->getvalue(r, row, 1), n);
    t->txid_len = n;
    t->state = (int)pg_int(r, row, 2);
    pg_str(r, row, 3, t->client_ref, sizeof(t->client_ref));
    pg_str(r, row, 4, t->subject, sizeof(t->subject));
    pg_str(r, row, 5, t->reason, sizeof(t->reason));
    pg_str(r, row, 6, t->serial, sizeof(t->serial));
    t->created = pg_int(r, row, 7);
    t->updated = pg_int(r, row, 8);
    if (!with_req || lib->getlength(r, row, 9) == 0)
        return 0;
    return pg_blob(r, row, 9, &t->request, &t->request_len);
}

int pkie_ca_pg_tx_create(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len, int state,
                         const char *client_ref, const char *subject, const uint8_t *request,
                         size_t request_len, int64_t *id)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_bin(&p, txid, txid_len);
    pgp_int(&p, state);
    pgp_text(&p, client_ref);
    pgp_text(&p, subject);
    pgp_int(&p, pkie_ca_now());
    if (request != NULL)
        pgp_bin(&p, request, request_len);
    else
        pgp_text(&p, NULL);
    int rc = pg_query(s, PG_TX_CREATE, &p, &r, NULL, "create transaction");
    if (rc == 0 && id != NULL)
        *id = pg_int(r, 0, 0);
    lib->clear(r);
    return rc;
}

int pkie_ca_pg_tx_get(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                      struct pkie_ca_tx *t)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    if (id > 0)
        pgp_int(&p, id);
    else
        pgp_bin(&p, txid, txid_len);
    int rc = pg_query(s, id > 0 ? PG_TX_BY_ID : PG_TX_BY_TXID, &p, &r, NULL, "transaction");
    if (rc == 0)
        rc = lib->ntuples(r) == 1 ? tx_row(r, 0, 1, t)
                                  : PKIE_ERR(PKIE_ERR_CA_UNKNOWN_TX, "no such transaction");
    lib->clear(r);
    return rc;
}

int pkie_ca_pg_tx_set_state(struct pkie_ca_store *s, int64_t id, int from, int state,
                            const char *reason)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_int(&p, state);
    pgp_int(&p, pkie_ca_now());
    pgp_text(&p, reason);
    pgp_int(&p, id);
    pgp_int(&p, from);
    int rc = pg_query(s, PG_TX_SET_STATE, &p, &r, NULL, "update transaction");
    if (rc == 0 && strcmp(lib->cmdTuples(r), "0") == 0)
        rc = PKIE_ERR(PKIE_ERR_STATE, "transaction %lld is not in the expected state",
                      (long long)id);
    lib->clear(r);
    return rc;
}

int pkie_ca_pg_tx_list(struct pkie_ca_store *s, int state,
                       int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    struct pkie_ca_tx t;
    pgp_int(&p, state);
    int rc = pg_query(s, PG_TX_LIST, &p, &r, NULL, "list transactions");
    for (int i = 0; rc == 0 && i < lib->ntuples(r); i++) {
        rc = tx_row(r, i, 0, &t);
        if (rc == 0)
            rc = cb(arg, &t);
    }
    lib->clear(r);
    return rc;
}

/* One statement: the transactions expire and the unconfirmed certificates of
 * the abandoned ones are revoked together, whichever node runs it. */
int pkie_ca_pg_tx_expire(struct pkie_ca_store *s, int64_t max_age, int *n)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    int64_t now = pkie_ca_now();
    pgp_int(&p, now);
    pgp_int(&p, now - max_age);
    int rc = pg_query(s, PG_TX_EXPIRE, &p, &r, NULL, "expire transactions");
    if (rc == 0)
        *n = (int)pg_int(r, 0, 0);
    lib->clear(r);
    return rc;
}
