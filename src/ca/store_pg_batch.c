/* CA store, PostgreSQL backend: group commit of the durable writes of
 * concurrent requests (as the SQLite backend's store_sq_commit.c does). The
 * writes queued while a batch is in flight go to the server as one statement
 * in autocommit: one round trip and one commit (one WAL flush) for all of
 * them, and each caller returns only once that commit is done, so no answer
 * leaves before its write is durable.
 *
 * The statement inserts the nonces with ON CONFLICT DO NOTHING, the
 * certificates of the writes whose nonce went in (also DO NOTHING), updates
 * their transactions and reports, per write, what went in. A write that did
 * not go in whole (a replayed nonce, a transactionID opened twice, a serial
 * collision: all rare) is then run alone by pkie_ca_pg_write_one, which
 * names the constraint that refused it (or succeeds, when what stood in its
 * way was a concurrent transaction that rolled back). The database's
 * constraints stay the arbiters between nodes: DO NOTHING waits for a
 * concurrent insert of the same key to commit or roll back, as a plain
 * insert does. */
#include "store_pg.h"
#include "pkie/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define lib pg_lib()

/* Parameters of one write in the batch statement ($1 is the time). */
enum {
    P_I,
    P_NONCE,
    P_TXID,
    P_SEEN,
    P_OPENS,
    P_SERIAL,
    P_SUBJECT,
    P_DER,
    P_STATUS,
    P_NB,
    P_NA,
    P_CREF,
    P_TXIDN,
    P_REQID,
    P_TXSTATE,
    P_COUNT
};

static const char *const col_type[P_COUNT] = {
    "int4", "bytea", "bytea", "int8", "bool", "text", "text", "bytea",
    "int8", "int8",  "int8",  "text", "int8", "int8", "int8",
};

static char *batch_sql[PG_BATCH_MAX + 1];
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;

/* The batch statements for 2..PG_BATCH_MAX writes (built once). */
static void build_sql(void)
{
    static const char head[] =
        "WITH v(i,nonce,txid,seen,opens,serial,subject,der,status,nb,na,cref,tx_id,req_id,"
        "tx_state) AS (VALUES ";
    static const char tail[] =
        "), n AS (INSERT INTO nonces(nonce,txid,seen,opens) SELECT nonce,txid,seen,opens FROM v "
        "WHERE nonce IS NOT NULL ON CONFLICT DO NOTHING RETURNING nonce), "
        "c AS (INSERT INTO certs(serial,subject,der,status,not_before,not_after,issued_at,"
        "client_ref,tx_id,cert_req_id) SELECT serial,subject,der,status,nb,na,$1,cref,tx_id,"
        "req_id FROM v WHERE serial IS NOT NULL AND (nonce IS NULL OR nonce IN "
        "(SELECT nonce FROM n)) ON CONFLICT DO NOTHING RETURNING serial), "
        "u AS (UPDATE txs SET state=v.tx_state,serial=v.serial,updated=$1 FROM v "
        "WHERE txs.id=v.tx_id AND v.tx_id<>0 AND v.serial IN (SELECT serial FROM c)) "
        "SELECT i,coalesce(nonce IN (SELECT nonce FROM n),false),"
        "coalesce(serial IN (SELECT serial FROM c),false) FROM v";
    for (int k = 2; k <= PG_BATCH_MAX; k++) {
        size_t cap = sizeof(head) + sizeof(tail) + (size_t)k * P_COUNT * 20;
        char *q = malloc(cap);
        if (q == NULL)
            return; /* that size is run write by write */
        size_t off = (size_t)snprintf(q, cap, "%s", head);
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < P_COUNT; j++)
                off += (size_t)snprintf(q + off, cap - off, "%s$%d::%s", j == 0 ? "(" : ",",
                                        2 + i * P_COUNT + j, col_type[j]);
            off += (size_t)snprintf(q + off, cap - off, ")%s", i + 1 < k ? "," : "");
        }
        snprintf(q + off, cap - off, "%s", tail);
        batch_sql[k] = q;
    }
}

/* The parameters of one batch statement. */
struct bargs {
    const char *v[1 + PG_BATCH_MAX * P_COUNT];
    int len[1 + PG_BATCH_MAX * P_COUNT];
    int fmt[1 + PG_BATCH_MAX * P_COUNT];
    char num[1 + PG_BATCH_MAX * P_COUNT][24];
};

static void put_int(struct bargs *b, int at, int64_t x)
{
    snprintf(b->num[at], sizeof(b->num[0]), "%lld", (long long)x);
    b->v[at] = b->num[at];
}

static void put_bin(struct bargs *b, int at, const void *p, size_t len)
{
    b->v[at] = len > 0 ? p : "";
    b->len[at] = (int)len;
    b->fmt[at] = 1;
}

static void add_write(struct bargs *b, int idx, const struct ca_write *w)
{
    const struct pkie_ca_nonce_claim *c = w->claim;
    int o = 1 + idx * P_COUNT; /* NULL (v NULL) unless set below */
    put_int(b, o + P_I, idx);
    if (c != NULL) {
        int opens = c->new_tx && !c->tid_refused && c->txid_len > 0;
        put_bin(b, o + P_NONCE, c->nonce, c->nonce_len);
        put_bin(b, o + P_TXID, c->txid, c->txid_len);
        put_int(b, o + P_SEEN, c->now);
        b->v[o + P_OPENS] = opens ? "t" : "f";
    }
    if (w->serial != NULL) {
        b->v[o + P_SERIAL] = w->serial;
        b->v[o + P_SUBJECT] = w->subject;
        put_bin(b, o + P_DER, w->der, (size_t)w->der_len);
        put_int(b, o + P_STATUS, w->status);
        put_int(b, o + P_NB, w->not_before);
        put_int(b, o + P_NA, w->not_after);
        b->v[o + P_CREF] = w->client_ref != NULL ? w->client_ref : "";
        put_int(b, o + P_TXIDN, w->tx_id);
        put_int(b, o + P_REQID, w->cert_req_id);
        put_int(b, o + P_TXSTATE, w->tx_state);
    }
}

/* Two writes of one batch with the same nonce or serial (the in-flight
 * claims and random serials make it all but impossible): the statement could
 * not tell which one went in, so the later one runs alone. */
static int clashes(struct ca_write **w, int i)
{
    for (int j = 0; j < i; j++) {
        const struct pkie_ca_nonce_claim *a = w[i]->claim, *b = w[j]->claim;
        if (a != NULL && b != NULL && a->nonce_len == b->nonce_len &&
            memcmp(a->nonce, b->nonce, a->nonce_len) == 0)
            return 1;
        if (w[i]->serial != NULL && w[j]->serial != NULL && strcmp(w[i]->serial, w[j]->serial) == 0)
            return 1;
    }
    return 0;
}

static void finish_one(struct ca_write *w, int rc)
{
    w->rc = rc;
    if (rc != 0)
        snprintf(w->msg, sizeof(w->msg), "%s", pkie_err_last()->msg);
}

/* Run @p w alone; @p with_claim: its nonce is still to be written. */
static void run_alone(struct pkie_ca_store *s, struct ca_write *w, int with_claim)
{
    if (!with_claim && w->serial == NULL) {
        finish_one(w, 0);
        return;
    }
    finish_one(w, pkie_ca_pg_write_one(s, w, with_claim ? w->claim : NULL));
}

/* @p k (2..PG_BATCH_MAX) writes in one statement; those not in whole after it
 * run alone. */
static void run_batch(struct pkie_ca_store *s, struct ca_write **w, int k)
{
    struct bargs *b = calloc(1, sizeof(*b));
    PGresult *r = NULL;
    uint8_t nonce_in[PG_BATCH_MAX] = {0}, cert_in[PG_BATCH_MAX] = {0};
    int rc;
    if (b == NULL || batch_sql[k] == NULL) {
        free(b);
        for (int i = 0; i < k; i++)
            run_alone(s, w[i], w[i]->claim != NULL);
        return;
    }
    put_int(b, 0, pkie_ca_now());
    for (int i = 0; i < k; i++)
        add_write(b, i, w[i]);
    struct pg_args a = {1 + k * P_COUNT, b->v, b->len, b->fmt};
    rc = pg_query_slot(s, PG_SQL_COUNT + k, batch_sql[k], &a, &r, NULL, "store certificates");
    free(b);
    if (rc == PKIE_ERR_CA_UNAVAILABLE) {
        for (int i = 0; i < k; i++)
            finish_one(w[i], rc);
        return;
    }
    for (int row = 0; rc == 0 && row < lib->ntuples(r); row++) {
        int64_t i = pg_int(r, row, 0);
        if (i >= 0 && i < k) {
            nonce_in[i] = pg_int(r, row, 1) != 0;
            cert_in[i] = pg_int(r, row, 2) != 0;
        }
    }
    lib->clear(r);
    pkie_err_clear();
    /* rc != 0: another failure (a deadlock between nodes, say): write by write */
    for (int i = 0; i < k; i++) {
        struct pkie_ca_nonce_claim *c = w[i]->claim;
        if (rc == 0 && (c == NULL || nonce_in[i]) && (w[i]->serial == NULL || cert_in[i])) {
            if (c != NULL)
                c->committed = 1;
            finish_one(w[i], 0);
        } else if (rc == 0 && c != NULL && nonce_in[i]) {
            c->committed = 1; /* the nonce is kept: only the certificate again */
            run_alone(s, w[i], 0);
        } else {
            run_alone(s, w[i], c != NULL);
        }
    }
}

/* Commit one batch (the group commit's callback): chunks of up to
 * PG_BATCH_MAX writes, each one statement. */
static void commit_batch(struct pkie_ca_store *s, struct ca_write *batch)
{
    struct ca_write *w[PG_BATCH_MAX], *aside[PG_BATCH_MAX];
    struct ca_write *it = batch; /* the list stays as it is: the group commit walks it after */
    pthread_once(&batch_once, build_sql);
    while (it != NULL) {
        int k = 0, n_aside = 0;
        for (; it != NULL && k + n_aside < PG_BATCH_MAX; it = it->next) {
            w[k] = it;
            if (clashes(w, k))
                aside[n_aside++] = it;
            else
                k++;
        }
        if (k == 1)
            run_alone(s, w[0], w[0]->claim != NULL);
        else if (k > 1)
            run_batch(s, w, k);
        for (int i = 0; i < n_aside; i++)
            run_alone(s, aside[i], aside[i]->claim != NULL);
    }
    pkie_err_clear();
}

int pkie_ca_pg_write(struct pkie_ca_store *s, struct ca_write *w)
{
    /* The unavailability flag is per thread: whoever commits a batch may see
     * other writes' failures; each caller sets it for its own. */
    int had = pkie_ca_store_take_unavailable();
    int rc = pkie_ca_group_write(s, w, commit_batch);
    (void)pkie_ca_store_take_unavailable();
    if (rc == PKIE_ERR_CA_UNAVAILABLE) {
        static const char pre[] = "database unavailable: ";
        const char *m = w->msg;
        if (strncmp(m, pre, sizeof(pre) - 1) == 0)
            m += sizeof(pre) - 1;
        return pkie_ca_store_unavailable("%s", m);
    }
    if (had) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", rc != 0 ? pkie_err_last()->msg : "");
        (void)pkie_ca_store_unavailable("earlier statement");
        if (rc != 0)
            return pkie_err_set(rc, __FILE__, __LINE__, PKIE_NO_OFFSET, "%s", msg);
        pkie_err_clear();
    }
    return rc;
}
