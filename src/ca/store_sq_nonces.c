/* CA store, SQLite backend: the stored senderNonces (store_nonces.c holds
 * the claims of requests in flight) and the answer nonces of transactions. */
#include "ca_internal.h"
#include "store_sq.h"
#include "pkie/error.h"

#include <stdio.h>
#include <string.h>

#define NONCE_MAX PKIE_CA_NONCE_MAX /* longer ones are refused (RFC 9810 asks for 128 bits) */

/* Insert the claimed nonce inside the open transaction (store_sq_commit.c); the
 * primary key refuses a replay here too. Its transactionID was checked when
 * it was claimed: every request with the same transactionID was then either
 * in flight or committed, and is seen (a later check would also count the
 * nonce of a request refused because of this one, kept as it is). */
int pkie_ca_nonce_insert(struct pkie_ca_store *s, const struct pkie_ca_nonce_claim *c)
{
    sqlite3_stmt *st = pkie_ca_stmt(s, CA_SQL_NONCE_INSERT);
    int step;
    if (st == NULL)
        return pkie_err_last()->code;
    sqlite3_bind_blob(st, 1, c->nonce, (int)c->nonce_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, c->txid, (int)c->txid_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    step = sqlite3_step(st);
    pkie_ca_stmt_done(st);
    if ((step & 0xff) == SQLITE_CONSTRAINT)
        return PKIE_ERR(PKIE_ERR_CMP_NONCE_REPLAY, "senderNonce seen before");
    if (step != SQLITE_DONE)
        return pkie_ca_db_err(s, "nonce insert");
    return 0;
}

/* The committed nonces on the read connection: 1 when @p c's nonce was seen,
 * 2 when (new_tx) another nonce carried its transactionID, 0 neither. */
int pkie_ca_sq_nonce_seen(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c, int *what)
{
    int rc = 0;
    *what = 0;
    pthread_mutex_lock(&s->rmu);
    sqlite3_stmt *st = pkie_ca_stmt_r(s, CA_SQL_NONCE_SEEN);
    if (st == NULL) {
        rc = pkie_err_last()->code;
    } else {
        sqlite3_bind_blob(st, 1, c->nonce, (int)c->nonce_len, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, c->new_tx);
        sqlite3_bind_blob(st, 3, c->txid, (int)c->txid_len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW)
            rc = PKIE_ERR(PKIE_ERR_CA_DB, "nonce lookup: %s", sqlite3_errmsg(s->rdb));
        else
            *what = sqlite3_column_int(st, 0) ? 1 : sqlite3_column_int(st, 1) ? 2 : 0;
        pkie_ca_stmt_done(st);
    }
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

int pkie_ca_sq_nonce_purge(struct pkie_ca_store *s, int64_t before, int *n)
{
    char sql[128];
    int count = 0;
    snprintf(sql, sizeof(sql), "DELETE FROM nonces WHERE seen<%lld", (long long)before);
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_exec(s, sql);
    if (rc == 0) {
        count = sqlite3_changes(s->db);
        snprintf(sql, sizeof(sql), "DELETE FROM tx_nonces WHERE seen<%lld", (long long)before);
        rc = pkie_ca_db_exec(s, sql);
    }
    pthread_mutex_unlock(&s->mu);
    if (n != NULL)
        *n = count;
    return rc;
}

int pkie_ca_sq_txnonce_set(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                           const uint8_t *nonce, size_t nonce_len, int64_t now)
{
    sqlite3_stmt *st = NULL;
    if (txid == NULL || txid_len == 0 || txid_len > NONCE_MAX || nonce == NULL || nonce_len == 0 ||
        nonce_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_ARG, "transactionID or nonce");
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if ((st = pkie_ca_stmt(s, CA_SQL_TXNONCE_SET)) == NULL)
        rc = pkie_err_last()->code;
    if (rc == 0) {
        sqlite3_bind_blob(st, 1, txid, (int)txid_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, nonce, (int)nonce_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "tx nonce");
    }
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_sq_txnonce_check(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                             const uint8_t *recip, size_t recip_len)
{
    sqlite3_stmt *st = NULL;
    if (txid == NULL || txid_len == 0 || txid_len > NONCE_MAX)
        return 0; /* no transaction to speak of: the body handler refuses it */
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if ((st = pkie_ca_stmt(s, CA_SQL_TXNONCE_GET)) == NULL)
        rc = pkie_err_last()->code;
    if (rc == 0) {
        sqlite3_bind_blob(st, 1, txid, (int)txid_len, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            const void *n = sqlite3_column_blob(st, 0);
            size_t nl = (size_t)sqlite3_column_bytes(st, 0);
            if (recip == NULL || recip_len != nl || n == NULL || memcmp(recip, n, nl) != 0)
                rc = PKIE_ERR(PKIE_ERR_CMP_RECIPNONCE,
                              "recipNonce is not the senderNonce of our last answer");
        } else if (step != SQLITE_DONE) {
            rc = pkie_ca_db_err(s, "tx nonce lookup");
        }
    }
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
