/* CA store, SQLite backend: group commit of the durable writes of concurrent requests (an
 * issued certificate with its transaction update, the senderNonce of the
 * request). Whoever finds no batch in progress commits every queued write in
 * one SQLite transaction, so that one fsync (synchronous=FULL) serves them
 * all; each caller returns only once its own write is durable, so its answer
 * never leaves before. */
#include "ca_internal.h"
#include "store_sq.h"
#include "pkie/error.h"

#include <stdio.h>
#include <string.h>

enum { WAKE_DONE = 1, WAKE_LEAD = 2 };

/* Insert one certificate (and update its transaction) inside the open SQLite
 * transaction, under a savepoint so that a serial collision undoes only it. */
static int insert_cert(struct pkie_ca_store *s, struct ca_write *it, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int rc = pkie_ca_db_run(s, CA_SQL_SAVEPOINT);
    if (rc != 0)
        return rc;
    if ((st = pkie_ca_stmt(s, CA_SQL_CERT_INSERT)) == NULL) {
        rc = pkie_err_last()->code;
        goto undo;
    }
    sqlite3_bind_text(st, 1, it->serial, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, it->subject, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, it->der, it->der_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, it->status);
    sqlite3_bind_int64(st, 5, it->not_before);
    sqlite3_bind_int64(st, 6, it->not_after);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_text(st, 8, it->client_ref != NULL ? it->client_ref : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, it->tx_id);
    sqlite3_bind_int64(st, 10, it->cert_req_id);
    int r = sqlite3_step(st);
    pkie_ca_stmt_done(st);
    if (r == SQLITE_CONSTRAINT) {
        rc = PKIE_ERR(PKIE_ERR_EXISTS, "serial %s already used", it->serial);
        goto undo;
    }
    if (r != SQLITE_DONE) {
        rc = pkie_ca_db_err(s, "insert certificate");
        goto undo;
    }
    if (it->tx_id > 0) {
        if ((st = pkie_ca_stmt(s, CA_SQL_TX_ISSUED)) == NULL) {
            rc = pkie_err_last()->code;
            goto undo;
        }
        sqlite3_bind_int(st, 1, it->tx_state);
        sqlite3_bind_text(st, 2, it->serial, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, it->tx_id);
        r = sqlite3_step(st);
        pkie_ca_stmt_done(st);
        if (r != SQLITE_DONE) {
            rc = pkie_ca_db_err(s, "update transaction");
            goto undo;
        }
    }
    return pkie_ca_db_run(s, CA_SQL_RELEASE);
undo:
    pkie_ca_db_run(s, CA_SQL_ROLLBACK_TO);
    pkie_ca_db_run(s, CA_SQL_RELEASE);
    return rc;
}

/* One write inside the open transaction: the nonce first (a replay found
 * here fails the write, certificate included), then the certificate. */
static int write_one(struct pkie_ca_store *s, struct ca_write *it, int64_t now)
{
    if (it->claim != NULL) {
        int rc = pkie_ca_nonce_insert(s, it->claim);
        if (rc != 0)
            return rc;
        it->nonce_kept = 1;
    }
    return it->serial != NULL ? insert_cert(s, it, now) : 0;
}

/* Commit one batch: a single SQLite transaction (one fsync) for every queued write. */
static void commit_batch(struct pkie_ca_store *s, struct ca_write *batch)
{
    int64_t now = pkie_ca_now();
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_run(s, CA_SQL_BEGIN);
    for (struct ca_write *it = batch; it != NULL; it = it->next) {
        if (rc != 0) {
            it->rc = rc;
            continue;
        }
        it->rc = write_one(s, it, now);
        if (it->rc != 0)
            snprintf(it->msg, sizeof(it->msg), "%s", pkie_err_last()->msg);
    }
    if (rc == 0 && (rc = pkie_ca_db_run(s, CA_SQL_COMMIT)) != 0)
        pkie_ca_db_run(s, CA_SQL_ROLLBACK);
    for (struct ca_write *it = batch; it != NULL; it = it->next) {
        if (rc != 0) {
            it->rc = rc;
            it->nonce_kept = 0;
            snprintf(it->msg, sizeof(it->msg), "%s", pkie_err_last()->msg);
        } else if (it->nonce_kept) {
            it->claim->committed = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    pkie_err_clear();
}

/* Tell @p it's waiter what to do (WAKE_DONE, WAKE_LEAD). The waiter sleeps
 * on its own mutex, not on gc_mu: woken, it runs at once instead of queueing
 * for a lock the committer still holds. @p it may be gone once this returns. */
static void post(struct ca_write *it, int what)
{
    pthread_mutex_lock(&it->mu);
    it->wake = what;
    pthread_cond_signal(&it->cv);
    pthread_mutex_unlock(&it->mu);
}

/* Queue @p me and return once the batch holding it is committed (or failed).
 * The first writer to find no commit in progress commits all queued writes
 * with @p commit; when it is done it wakes that batch's writers and hands the
 * next batch to one writer queued meanwhile (gc_busy stays set across the
 * hand-over). Shared by both backends (the PostgreSQL one: store_pg_batch.c). */
int pkie_ca_group_write(struct pkie_ca_store *s, struct ca_write *me,
                        void (*commit)(struct pkie_ca_store *s, struct ca_write *batch))
{
    struct ca_write *batch = NULL;
    pthread_mutex_init(&me->mu, NULL);
    pthread_cond_init(&me->cv, NULL);
    me->wake = 0;
    pthread_mutex_lock(&s->gc_mu);
    me->next = s->gc_head;
    s->gc_head = me;
    int lead = !s->gc_busy;
    if (lead) {
        batch = s->gc_head;
        s->gc_head = NULL;
        s->gc_busy = 1;
    }
    pthread_mutex_unlock(&s->gc_mu);
    if (!lead) {
        pthread_mutex_lock(&me->mu);
        while (me->wake == 0)
            pthread_cond_wait(&me->cv, &me->mu);
        pthread_mutex_unlock(&me->mu);
        if (me->wake == WAKE_LEAD) { /* the queue (with me in it) is mine to commit */
            pthread_mutex_lock(&s->gc_mu);
            batch = s->gc_head;
            s->gc_head = NULL;
            pthread_mutex_unlock(&s->gc_mu);
            lead = 1;
        }
    }
    if (lead) {
        commit(s, batch);
        pthread_mutex_lock(&s->gc_mu);
        struct ca_write *next = s->gc_head; /* stays queued: its head takes it over */
        if (next == NULL)
            s->gc_busy = 0;
        pthread_mutex_unlock(&s->gc_mu);
        for (struct ca_write *it = batch, *nx; it != NULL; it = nx) {
            nx = it->next;
            if (it != me)
                post(it, WAKE_DONE);
        }
        if (next != NULL)
            post(next, WAKE_LEAD);
    }
    pthread_cond_destroy(&me->cv);
    pthread_mutex_destroy(&me->mu);
    if (me->rc != 0)
        return pkie_err_set(me->rc, __FILE__, __LINE__, PKIE_NO_OFFSET, "%s", me->msg);
    return 0;
}

int pkie_ca_sq_write(struct pkie_ca_store *s, struct ca_write *me)
{
    return pkie_ca_group_write(s, me, commit_batch);
}
