/* CA store: senderNonces of accepted requests, for replay and transactionID reuse detection. */
#include "ca_internal.h"
#include "pkie/error.h"

#include <stdio.h>
#include <string.h>

#define NONCE_MAX 64 /* longer nonces are refused (RFC 9810 asks for 128 bits) */

int pkie_ca_store_nonce_init(struct pkie_ca_store *s)
{
    return pkie_ca_db_exec(s, "CREATE TABLE IF NOT EXISTS nonces(nonce BLOB PRIMARY KEY,"
                              " txid BLOB NOT NULL, seen INTEGER NOT NULL);"
                              "CREATE INDEX IF NOT EXISTS nonces_txid ON nonces(txid);"
                              "CREATE INDEX IF NOT EXISTS nonces_seen ON nonces(seen);"
                              "CREATE TABLE IF NOT EXISTS tx_nonces(txid BLOB PRIMARY KEY,"
                              " nonce BLOB NOT NULL, seen INTEGER NOT NULL);");
}

/* One nonce waiting for the group commit. */
struct nonce_item {
    const uint8_t *nonce, *txid;
    size_t nonce_len, txid_len;
    int new_tx;
    int64_t now;
    int rc;   /* result, valid once done */
    int done; /* the batch holding it was committed (or failed) */
    struct nonce_item *next;
};

/* Insert one nonce (and check its transactionID) inside the open transaction. */
static int remember_one(struct pkie_ca_store *s, struct nonce_item *it)
{
    sqlite3_stmt *st = NULL;
    int rc, step;
    if ((rc = pkie_ca_db_prepare(s, "INSERT INTO nonces(nonce,txid,seen) VALUES(?,?,?)", &st)) != 0)
        return rc;
    sqlite3_bind_blob(st, 1, it->nonce, (int)it->nonce_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, it->txid, (int)it->txid_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, it->now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((step & 0xff) == SQLITE_CONSTRAINT)
        return PKIE_ERR(PKIE_ERR_CMP_NONCE_REPLAY, "senderNonce seen before");
    if (step != SQLITE_DONE)
        return pkie_ca_db_err(s, "nonce insert");
    if (!it->new_tx)
        return 0;
    /* A request that opens a transaction must bring a transactionID not seen yet
     * (the nonce is kept even so: the request was authenticated). */
    if ((rc = pkie_ca_db_prepare(s, "SELECT 1 FROM nonces WHERE txid=? AND nonce<>? LIMIT 1",
                                 &st)) != 0)
        return rc;
    sqlite3_bind_blob(st, 1, it->txid, (int)it->txid_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, it->nonce, (int)it->nonce_len, SQLITE_STATIC);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step == SQLITE_ROW)
        return PKIE_ERR(PKIE_ERR_CMP_TID_IN_USE, "transactionID already used");
    if (step != SQLITE_DONE)
        return pkie_ca_db_err(s, "nonce lookup");
    return 0;
}

/* Commit a batch in one SQLite transaction (one fsync). Error texts are per
 * thread, so each waiter re-raises its own from its code. */
static void commit_batch(struct pkie_ca_store *s, struct nonce_item *head)
{
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
    for (struct nonce_item *it = head; it != NULL; it = it->next)
        it->rc = rc != 0 ? rc : remember_one(s, it);
    if (rc == 0 && (rc = pkie_ca_db_exec(s, "COMMIT")) != 0)
        pkie_ca_db_exec(s, "ROLLBACK");
    if (rc != 0)
        for (struct nonce_item *it = head; it != NULL; it = it->next)
            it->rc = rc;
    pthread_mutex_unlock(&s->mu);
    pkie_err_clear();
}

int pkie_ca_store_nonce_remember(struct pkie_ca_store *s, const uint8_t *nonce, size_t nonce_len,
                                 const uint8_t *txid, size_t txid_len, int new_tx, int64_t now)
{
    if (nonce == NULL || nonce_len == 0 || nonce_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_CMP_SENDER_NONCE, "senderNonce of %zu bytes", nonce_len);
    if (txid_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_CMP_TID_MISSING, "transactionID of %zu bytes", txid_len);
    struct nonce_item me = {
        nonce, txid != NULL ? txid : (const uint8_t *)"", nonce_len, txid_len, new_tx, now, 0, 0,
        NULL};
    /* Group commit: the first thread to find no batch in progress commits
     * everything queued; the others wait for their batch. */
    pthread_mutex_lock(&s->nc_mu);
    me.next = s->nc_head;
    s->nc_head = &me;
    while (!me.done) {
        if (s->nc_busy) {
            pthread_cond_wait(&s->nc_cond, &s->nc_mu);
            continue;
        }
        struct nonce_item *batch = s->nc_head;
        s->nc_head = NULL;
        s->nc_busy = 1;
        pthread_mutex_unlock(&s->nc_mu);
        commit_batch(s, batch);
        pthread_mutex_lock(&s->nc_mu);
        for (struct nonce_item *it = batch; it != NULL; it = it->next)
            it->done = 1;
        s->nc_busy = 0;
        pthread_cond_broadcast(&s->nc_cond);
    }
    pthread_mutex_unlock(&s->nc_mu);
    switch (me.rc) {
    case 0:
        return 0;
    case PKIE_ERR_CMP_NONCE_REPLAY:
        return PKIE_ERR(me.rc, "senderNonce seen before");
    case PKIE_ERR_CMP_TID_IN_USE:
        return PKIE_ERR(me.rc, "transactionID already used");
    default:
        return PKIE_ERR(me.rc, "remembering the senderNonce failed");
    }
}

int pkie_ca_store_nonce_purge(struct pkie_ca_store *s, int64_t before, int *n)
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

int pkie_ca_store_txnonce_set(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                              const uint8_t *nonce, size_t nonce_len, int64_t now)
{
    sqlite3_stmt *st = NULL;
    if (txid == NULL || txid_len == 0 || txid_len > NONCE_MAX || nonce == NULL || nonce_len == 0 ||
        nonce_len > NONCE_MAX)
        return PKIE_ERR(PKIE_ERR_ARG, "transactionID or nonce");
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(
        s, "INSERT OR REPLACE INTO tx_nonces(txid,nonce,seen) VALUES(?,?,?)", &st);
    if (rc == 0) {
        sqlite3_bind_blob(st, 1, txid, (int)txid_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, nonce, (int)nonce_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "tx nonce");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_store_txnonce_check(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                                const uint8_t *recip, size_t recip_len)
{
    sqlite3_stmt *st = NULL;
    if (txid == NULL || txid_len == 0 || txid_len > NONCE_MAX)
        return 0; /* no transaction to speak of: the body handler refuses it */
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "SELECT nonce FROM tx_nonces WHERE txid=?", &st);
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
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
