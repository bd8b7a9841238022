/* CA store, SQLite backend: issued certificates, transactions and the CRL number. */
#include "ca_internal.h"
#include "store_sq.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <string.h>

#define CERT_COLS CA_CERT_COLS

static int cert_row(sqlite3_stmt *st, int with_der, struct pkie_ca_cert *c)
{
    memset(c, 0, sizeof(*c));
    pkie_ca_copy_text(c->serial, sizeof(c->serial), sqlite3_column_text(st, 0));
    pkie_ca_copy_text(c->subject, sizeof(c->subject), sqlite3_column_text(st, 1));
    c->status = sqlite3_column_int(st, 2);
    c->reason = sqlite3_column_int(st, 3);
    c->not_before = sqlite3_column_int64(st, 4);
    c->not_after = sqlite3_column_int64(st, 5);
    c->issued_at = sqlite3_column_int64(st, 6);
    c->revoked_at = sqlite3_column_int64(st, 7);
    pkie_ca_copy_text(c->client_ref, sizeof(c->client_ref), sqlite3_column_text(st, 8));
    c->tx_id = sqlite3_column_int64(st, 9);
    c->cert_req_id = sqlite3_column_int64(st, 10);
    if (with_der) {
        size_t n = (size_t)sqlite3_column_bytes(st, 11);
        c->der = malloc(n > 0 ? n : 1);
        if (c->der == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "certificate");
        if (n > 0)
            memcpy(c->der, sqlite3_column_blob(st, 11), n);
        c->der_len = n;
    }
    return 0;
}

int pkie_ca_sq_cert_set_status(struct pkie_ca_store *s, const char *canon, int status, int reason)
{
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&s->mu);
    rc = pkie_ca_db_prepare(s,
                            status == PKIE_CA_CERT_REVOKED
                                ? "UPDATE certs SET status=?,reason=?,revoked_at=? WHERE serial=? "
                                  "AND status<>2"
                                : "UPDATE certs SET status=?,reason=?,revoked_at=? WHERE serial=? "
                                  "AND status=0",
                            &st);
    if (rc == 0) {
        sqlite3_bind_int(st, 1, status);
        sqlite3_bind_int(st, 2, status == PKIE_CA_CERT_REVOKED ? reason : -1);
        sqlite3_bind_int64(st, 3, status == PKIE_CA_CERT_REVOKED ? pkie_ca_now() : 0);
        sqlite3_bind_text(st, 4, canon, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "update certificate");
        else if (sqlite3_changes(s->db) == 0) {
            sqlite3_stmt *q = NULL;
            int exists = 0, cur = -1;
            if (pkie_ca_db_prepare(s, "SELECT status FROM certs WHERE serial=?", &q) == 0) {
                sqlite3_bind_text(q, 1, canon, -1, SQLITE_STATIC);
                if (sqlite3_step(q) == SQLITE_ROW) {
                    exists = 1;
                    cur = sqlite3_column_int(q, 0);
                }
            }
            sqlite3_finalize(q);
            if (!exists)
                rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CERT, "no certificate with serial %s", canon);
            else if (cur == PKIE_CA_CERT_REVOKED)
                rc = PKIE_ERR(PKIE_ERR_CA_REVOKED, "certificate %s is already revoked", canon);
            else
                rc = PKIE_ERR(PKIE_ERR_STATE, "certificate %s is not awaiting confirmation", canon);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_sq_cert_get(struct pkie_ca_store *s, const char *canon, int with_der,
                        struct pkie_ca_cert *c)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    memset(c, 0, sizeof(*c));
    pthread_mutex_lock(&s->rmu);
    if ((st = pkie_ca_stmt_r(s, CA_SQL_CERT_GET)) == NULL)
        rc = pkie_err_last()->code;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = cert_row(st, with_der, c);
        else
            rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CERT, "no certificate with serial %s", canon);
    }
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

static int cert_iter(struct pkie_ca_store *s, const char *sql, int64_t bind, int with_der,
                     int (*cb)(void *arg, const struct pkie_ca_cert *c), void *arg)
{
    sqlite3_stmt *st = NULL;
    struct pkie_ca_cert c;
    int r;
    pthread_mutex_lock(&s->rmu);
    int rc = pkie_ca_db_prepare_r(s, sql, &st);
    if (rc == 0 && bind >= 0)
        sqlite3_bind_int64(st, 1, bind);
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        rc = cert_row(st, with_der, &c);
        if (rc == 0)
            rc = cb(arg, &c);
        pkie_ca_cert_clear(&c);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

int pkie_ca_sq_cert_iter(struct pkie_ca_store *s, enum ca_cert_iter which, int64_t tx_id,
                         int with_der, int (*cb)(void *arg, const struct pkie_ca_cert *c),
                         void *arg)
{
    if (which == CA_ITER_TX)
        return cert_iter(s, "SELECT " CERT_COLS " FROM certs WHERE tx_id=? ORDER BY cert_req_id",
                         tx_id, with_der, cb, arg);
    return cert_iter(s,
                     which == CA_ITER_REVOKED ? "SELECT " CERT_COLS
                                                " FROM certs WHERE status=2 ORDER BY rowid"
                                              : "SELECT " CERT_COLS " FROM certs ORDER BY rowid",
                     -1, with_der, cb, arg);
}

static int count(struct pkie_ca_store *s, const char *sql, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->rmu);
    int rc = pkie_ca_db_prepare_r(s, sql, &st);
    if (rc == 0) {
        if (sqlite3_step(st) == SQLITE_ROW)
            *n = sqlite3_column_int64(st, 0);
        else
            rc = PKIE_ERR(PKIE_ERR_CA_DB, "count");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

int pkie_ca_sq_cert_count(struct pkie_ca_store *s, int64_t *n)
{
    return count(s, "SELECT count(*) FROM certs", n);
}

int pkie_ca_sq_revoked_count(struct pkie_ca_store *s, int64_t *n)
{
    return count(s, "SELECT count(*) FROM certs WHERE status=2", n);
}

/* ---- transactions -------------------------------------------------------- */

#define TX_COLS CA_TX_COLS

static int tx_row(sqlite3_stmt *st, int with_req, struct pkie_ca_tx *t)
{
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    if (n > sizeof(t->txid))
        n = sizeof(t->txid);
    if (n > 0)
        memcpy(t->txid, sqlite3_column_blob(st, 1), n);
    t->txid_len = n;
    t->state = sqlite3_column_int(st, 2);
    pkie_ca_copy_text(t->client_ref, sizeof(t->client_ref), sqlite3_column_text(st, 3));
    pkie_ca_copy_text(t->subject, sizeof(t->subject), sqlite3_column_text(st, 4));
    pkie_ca_copy_text(t->reason, sizeof(t->reason), sqlite3_column_text(st, 5));
    pkie_ca_copy_text(t->serial, sizeof(t->serial), sqlite3_column_text(st, 6));
    t->created = sqlite3_column_int64(st, 7);
    t->updated = sqlite3_column_int64(st, 8);
    n = (size_t)sqlite3_column_bytes(st, 9);
    if (with_req && n > 0) {
        t->request = malloc(n);
        if (t->request == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "transaction");
        memcpy(t->request, sqlite3_column_blob(st, 9), n);
        t->request_len = n;
    }
    return 0;
}

int pkie_ca_sq_tx_create(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len, int state,
                         const char *client_ref, const char *subject, const uint8_t *request,
                         size_t request_len, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    if (txid_len == 0 || txid_len > 64)
        return PKIE_ERR(PKIE_ERR_ARG, "transactionID must have 1..64 bytes");
    int64_t now = pkie_ca_now();
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if ((st = pkie_ca_stmt(s, CA_SQL_TX_CREATE)) == NULL)
        rc = pkie_err_last()->code;
    if (rc == 0) {
        sqlite3_bind_blob(st, 1, txid, (int)txid_len, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, state);
        sqlite3_bind_text(st, 3, client_ref != NULL ? client_ref : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, subject != NULL ? subject : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now);
        if (request != NULL)
            sqlite3_bind_blob(st, 7, request, (int)request_len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "create transaction");
        else if (id != NULL)
            *id = sqlite3_last_insert_rowid(s->db);
    }
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_sq_tx_get(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                      struct pkie_ca_tx *t)
{
    sqlite3_stmt *st = NULL;
    memset(t, 0, sizeof(*t));
    pthread_mutex_lock(&s->rmu);
    int rc = 0;
    if ((st = pkie_ca_stmt_r(s, id > 0 ? CA_SQL_TX_BY_ID : CA_SQL_TX_BY_TXID)) == NULL)
        rc = pkie_err_last()->code;
    if (rc == 0) {
        if (id > 0)
            sqlite3_bind_int64(st, 1, id);
        else
            sqlite3_bind_blob(st, 1, txid, (int)txid_len, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = tx_row(st, 1, t);
        else
            rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_TX, "no such transaction");
    }
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

int pkie_ca_sq_tx_set_state(struct pkie_ca_store *s, int64_t id, int from, int state,
                            const char *reason)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if ((st = pkie_ca_stmt(s, CA_SQL_TX_SET_STATE)) == NULL)
        rc = pkie_err_last()->code;
    if (rc == 0) {
        sqlite3_bind_int(st, 1, state);
        sqlite3_bind_int64(st, 2, pkie_ca_now());
        if (reason != NULL)
            sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, id);
        sqlite3_bind_int(st, 5, from);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "update transaction");
        else if (sqlite3_changes(s->db) == 0)
            rc = PKIE_ERR(PKIE_ERR_STATE, "transaction %lld is not in the expected state",
                          (long long)id);
    }
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_sq_tx_list(struct pkie_ca_store *s, int state,
                       int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg)
{
    sqlite3_stmt *st = NULL;
    struct pkie_ca_tx t;
    int r;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "SELECT " TX_COLS " FROM txs WHERE ?1<0 OR state=?1 ORDER BY id",
                                &st);
    if (rc == 0)
        sqlite3_bind_int(st, 1, state);
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        rc = tx_row(st, 0, &t);
        if (rc == 0)
            rc = cb(arg, &t);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_sq_tx_expire(struct pkie_ca_store *s, int64_t max_age, int *n)
{
    int64_t now = pkie_ca_now(), limit = now - max_age;
    char sql[512];
    *n = 0;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
    if (rc != 0)
        goto out;
    /* Unconfirmed certificates of abandoned transactions must not be used. */
    snprintf(sql, sizeof(sql),
             "UPDATE certs SET status=2,reason=5,revoked_at=%lld WHERE status=0 AND tx_id IN "
             "(SELECT id FROM txs WHERE state=3 AND updated<%lld)",
             (long long)now, (long long)limit);
    rc = pkie_ca_db_exec(s, sql);
    if (rc == 0) {
        snprintf(sql, sizeof(sql),
                 "UPDATE txs SET state=CASE state WHEN 3 THEN 4 ELSE 5 END,updated=%lld,"
                 "reason=CASE state WHEN 3 THEN 'no certConf' ELSE 'expired' END "
                 "WHERE state IN (0,1,3) AND updated<%lld",
                 (long long)now, (long long)limit);
        rc = pkie_ca_db_exec(s, sql);
        *n = sqlite3_changes(s->db);
    }
    if (rc == 0)
        rc = pkie_ca_db_exec(s, "COMMIT");
    else
        pkie_ca_db_exec(s, "ROLLBACK");
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_sq_next_crl_number(struct pkie_ca_store *s, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
    if (rc != 0)
        goto out;
    rc = pkie_ca_db_exec(s, "INSERT OR IGNORE INTO meta(key,value) VALUES('crl_number',0);"
                            "UPDATE meta SET value=value+1 WHERE key='crl_number'");
    if (rc == 0)
        rc = pkie_ca_db_prepare(s, "SELECT value FROM meta WHERE key='crl_number'", &st);
    if (rc == 0) {
        if (sqlite3_step(st) == SQLITE_ROW)
            *n = sqlite3_column_int64(st, 0);
        else
            rc = pkie_ca_db_err(s, "crl number");
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = pkie_ca_db_exec(s, "COMMIT");
    else
        pkie_ca_db_exec(s, "ROLLBACK");
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}
