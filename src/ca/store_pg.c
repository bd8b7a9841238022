/* CA store, PostgreSQL backend: a pool of libpq connections (opened on
 * demand, reopened after the server went away), statements prepared per
 * connection, the schema and its migrations, and the small tables (meta, CA
 * credentials, clients, nonces, CRL number). Every statement runs in
 * autocommit or in one explicit statement (CTEs), with synchronous_commit
 * on: it returns only once durable. Several CA nodes may share the database;
 * the constraints (primary keys, the partial unique index nonces_opens)
 * arbitrate between them. */
#include "store_pg.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/wipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL         16         /* connections per process, opened on demand */
#define WAIT_SECS    5          /* longest wait for a pooled connection */
#define MIGRATE_LOCK 0x706b6965 /* advisory lock key serialising schema migrations */

struct pg_conn {
    PGconn *c;
    int busy;
    unsigned epoch;             /* pool epoch when connected */
    int used;                   /* ran a statement since it connected */
    uint8_t prepared[PG_SLOTS]; /* the fixed statements, then the batch writes by size */
};

struct ca_pg {
    const struct pkie_pq *pq;
    char *conninfo;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned epoch; /* bumped when a connection finds the server gone: all older ones reconnect */
    struct pg_conn conns[POOL];
};

#define CERT_COLS   CA_CERT_COLS
#define TX_COLS     CA_TX_COLS
#define CLIENT_COLS "ref,secret,subject_pattern,san_pattern,profile,manual,created"

static const char *const pg_text[PG_SQL_COUNT] = {
    [PG_META_GET] = "SELECT value FROM meta WHERE key=$1",
    [PG_CA_PUT] = "INSERT INTO ca(name,cert,key_pem) VALUES($1,$2,$3) ON CONFLICT(name) DO UPDATE "
                  "SET cert=excluded.cert,key_pem=excluded.key_pem",
    [PG_CA_GET] = "SELECT cert,key_pem FROM ca WHERE name=$1",
    [PG_CLIENT_INSERT] = "INSERT INTO clients(" CLIENT_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7)",
    [PG_CLIENT_GET] = "SELECT " CLIENT_COLS " FROM clients WHERE ref=$1",
    [PG_CLIENT_AHEAD] = "SELECT " CLIENT_COLS ",EXISTS(SELECT 1 FROM nonces WHERE nonce=$2), "
                        "$3::boolean AND EXISTS(SELECT 1 FROM nonces WHERE txid=$4 AND nonce<>$2), "
                        "CASE WHEN $3::boolean THEN (SELECT state FROM txs WHERE txid=$4 "
                        "ORDER BY id DESC LIMIT 1) END FROM clients WHERE ref=$1",
    [PG_CLIENT_REMOVE] = "DELETE FROM clients WHERE ref=$1",
    [PG_CLIENT_LIST] = "SELECT " CLIENT_COLS " FROM clients ORDER BY ref",
    [PG_WRITE_NONCE] = "INSERT INTO nonces(nonce,txid,seen,opens) VALUES($1,$2,$3,$4)",
    [PG_WRITE_CERT] =
        "WITH c AS (INSERT INTO certs(serial,subject,der,status,not_before,not_after,issued_at,"
        "client_ref,tx_id,cert_req_id) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING tx_id) "
        "UPDATE txs SET state=$11,serial=$1,updated=$7 WHERE id=(SELECT tx_id FROM c)",
    [PG_WRITE_BOTH] =
        "WITH n AS (INSERT INTO nonces(nonce,txid,seen,opens) VALUES($12,$13,$14,$15)), "
        "c AS (INSERT INTO certs(serial,subject,der,status,not_before,not_after,issued_at,"
        "client_ref,tx_id,cert_req_id) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING tx_id) "
        "UPDATE txs SET state=$11,serial=$1,updated=$7 WHERE id=(SELECT tx_id FROM c)",
    [PG_CERT_REVOKE] = "UPDATE certs SET status=$1,reason=$2,revoked_at=$3 WHERE serial=$4 AND "
                       "status<>2",
    [PG_CERT_CONFIRM] = "UPDATE certs SET status=$1,reason=$2,revoked_at=$3 WHERE serial=$4 AND "
                        "status=0",
    [PG_CERT_STATUS] = "SELECT status FROM certs WHERE serial=$1",
    [PG_CERT_GET] = "SELECT " CERT_COLS " FROM certs WHERE serial=$1",
    [PG_CERT_ALL] = "SELECT " CERT_COLS " FROM certs ORDER BY seq",
    [PG_CERT_REVOKED] = "SELECT " CERT_COLS " FROM certs WHERE status=2 ORDER BY seq",
    [PG_CERT_TX] = "SELECT " CERT_COLS " FROM certs WHERE tx_id=$1 ORDER BY cert_req_id",
    [PG_CERT_COUNT] = "SELECT count(*) FROM certs",
    [PG_REVOKED_COUNT] = "SELECT count(*) FROM certs WHERE status=2",
    [PG_TX_CREATE] = "INSERT INTO txs(txid,state,client_ref,subject,created,updated,request) "
                     "VALUES($1,$2,$3,$4,$5,$5,$6) RETURNING id",
    [PG_TX_BY_ID] = "SELECT " TX_COLS " FROM txs WHERE id=$1",
    [PG_TX_BY_TXID] = "SELECT " TX_COLS " FROM txs WHERE txid=$1 ORDER BY id DESC LIMIT 1",
    [PG_TX_SET_STATE] = "UPDATE txs SET state=$1,updated=$2,reason=coalesce($3,reason) "
                        "WHERE id=$4 AND ($5<0 OR state=$5)",
    [PG_TX_LIST] = "SELECT " TX_COLS " FROM txs WHERE $1<0 OR state=$1 ORDER BY id",
    [PG_TX_EXPIRE] =
        "WITH t AS (UPDATE txs SET state=CASE state WHEN 3 THEN 4 ELSE 5 END,updated=$1,"
        "reason=CASE state WHEN 3 THEN 'no certConf' ELSE 'expired' END "
        "WHERE state IN (0,1,3) AND updated<$2 RETURNING id,state), "
        "c AS (UPDATE certs SET status=2,reason=5,revoked_at=$1 WHERE status=0 AND tx_id IN "
        "(SELECT id FROM t WHERE state=4)) SELECT count(*) FROM t",
    [PG_NONCE_SEEN] = "SELECT EXISTS(SELECT 1 FROM nonces WHERE nonce=$1), $2::boolean AND "
                      "EXISTS(SELECT 1 FROM nonces WHERE txid=$3 AND nonce<>$1), $2::boolean, "
                      "CASE WHEN $2::boolean THEN (SELECT state FROM txs WHERE txid=$3 "
                      "ORDER BY id DESC LIMIT 1) END",
    [PG_NONCE_PURGE] = "WITH n AS (DELETE FROM nonces WHERE seen<$1 RETURNING 1), "
                       "t AS (DELETE FROM tx_nonces WHERE seen<$1) SELECT count(*) FROM n",
    [PG_TXNONCE_SET] = "INSERT INTO tx_nonces(txid,nonce,seen) VALUES($1,$2,$3) ON CONFLICT(txid) "
                       "DO UPDATE SET nonce=excluded.nonce,seen=excluded.seen",
    [PG_TXNONCE_GET] = "SELECT nonce FROM tx_nonces WHERE txid=$1",
    [PG_CRL_NEXT] = "INSERT INTO counters(name,value) VALUES('crl_number',1) ON CONFLICT(name) "
                    "DO UPDATE SET value=counters.value+1 RETURNING value",
    [PG_KEYGEN_SET] =
        "INSERT INTO client_keygen(ref,allow) VALUES($1,$2::int8<>0) ON CONFLICT(ref) "
        "DO UPDATE SET allow=EXCLUDED.allow",
    [PG_KEYGEN_GET] =
        "SELECT (CASE WHEN allow THEN 1 ELSE 0 END)::int8 FROM client_keygen WHERE ref=$1",
};

/* Schema migrations, the same versions as the SQLite backend's (see
 * docs/ca.md, "Store schema"): step i takes version i to i+1. */
static const char *const migrations[PKIE_CA_SCHEMA_VERSION] = {
    [0] = "CREATE TABLE meta(key text PRIMARY KEY, value bytea);"
          "CREATE TABLE ca(name text PRIMARY KEY, cert bytea NOT NULL, key_pem text);"
          "CREATE TABLE clients(ref text PRIMARY KEY, secret bytea NOT NULL,"
          " subject_pattern text NOT NULL, san_pattern text NOT NULL, profile text NOT NULL,"
          " manual bigint NOT NULL, created bigint NOT NULL);"
          "CREATE TABLE txs(id bigserial PRIMARY KEY, txid bytea NOT NULL, state bigint NOT NULL,"
          " client_ref text NOT NULL, subject text NOT NULL, reason text NOT NULL DEFAULT '',"
          " serial text NOT NULL DEFAULT '', created bigint NOT NULL, updated bigint NOT NULL,"
          " request bytea);"
          "CREATE INDEX txs_txid ON txs(txid);"
          "CREATE INDEX txs_state ON txs(state);"
          "CREATE TABLE certs(seq bigserial NOT NULL, serial text PRIMARY KEY,"
          " subject text NOT NULL, der bytea NOT NULL, status bigint NOT NULL,"
          " reason bigint NOT NULL DEFAULT -1, not_before bigint NOT NULL,"
          " not_after bigint NOT NULL, issued_at bigint NOT NULL,"
          " revoked_at bigint NOT NULL DEFAULT 0, client_ref text NOT NULL DEFAULT '',"
          " tx_id bigint NOT NULL DEFAULT 0, cert_req_id bigint NOT NULL DEFAULT 0);"
          "CREATE INDEX certs_status ON certs(status);"
          "CREATE INDEX certs_tx ON certs(tx_id);"
          "CREATE TABLE counters(name text PRIMARY KEY, value bigint NOT NULL);",
    [1] = "CREATE TABLE nonces(nonce bytea PRIMARY KEY, txid bytea NOT NULL, seen bigint NOT NULL,"
          " opens boolean NOT NULL DEFAULT false);"
          "CREATE UNIQUE INDEX nonces_opens ON nonces(txid) WHERE opens;"
          "CREATE INDEX nonces_txid ON nonces(txid);"
          "CREATE INDEX nonces_seen ON nonces(seen);"
          "CREATE TABLE tx_nonces(txid bytea PRIMARY KEY, nonce bytea NOT NULL,"
          " seen bigint NOT NULL);",
    [2] = "CREATE TABLE client_keygen(ref text PRIMARY KEY, allow boolean NOT NULL);",
};

static const struct pkie_pq *lib;

const struct pkie_pq *pg_lib(void)
{
    return lib;
}

/* ---- parameters and columns ---------------------------------------------- */

void pgp_text(struct pgp *p, const char *v)
{
    if (p->n >= PGP_MAX)
        abort(); /* a statement of ours with more parameters than PGP_MAX */
    p->v[p->n] = v;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

void pgp_int(struct pgp *p, int64_t v)
{
    if (p->n >= PGP_MAX)
        abort();
    snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)v);
    pgp_text(p, p->num[p->n]);
}

void pgp_bin(struct pgp *p, const void *v, size_t len)
{
    if (p->n >= PGP_MAX)
        abort();
    p->v[p->n] = len > 0 ? v : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = 1;
}

int64_t pg_int(const PGresult *r, int row, int col)
{
    const unsigned char *v = (const unsigned char *)lib->getvalue(r, row, col);
    int n = lib->getlength(r, row, col);
    uint64_t x = 0;
    if (lib->getisnull(r, row, col) || n > 8)
        return 0;
    for (int i = 0; i < n; i++)
        x = x << 8 | v[i];
    if (n > 0 && n < 8 && (v[0] & 0x80) != 0) /* sign-extend int2/int4 */
        x |= ~(uint64_t)0 << (8 * n);
    return (int64_t)x;
}

void pg_str(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    int n = lib->getisnull(r, row, col) ? 0 : lib->getlength(r, row, col);
    if ((size_t)n >= cap)
        n = (int)cap - 1;
    if (n > 0)
        memcpy(dst, lib->getvalue(r, row, col), (size_t)n);
    dst[n] = '\0';
}

int pg_blob(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (lib->getisnull(r, row, col))
        return 0;
    size_t n = (size_t)lib->getlength(r, row, col);
    *out = malloc(n > 0 ? n : 1);
    if (*out == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "database value");
    if (n > 0)
        memcpy(*out, lib->getvalue(r, row, col), n);
    *len = n;
    return 0;
}

/* ---- the pool -------------------------------------------------------------- */

/* A failed connection attempt or a server gone away (SQLSTATE class 08,
 * admin shutdown, crash shutdown, starting up) makes the database
 * unavailable; anything else is a database error. */
static int classify(PGconn *c, const PGresult *r, const char *what)
{
    const char *state = r != NULL ? lib->resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r != NULL ? lib->resultErrorMessage(r) : lib->errorMessage(c);
    char m[200];
    snprintf(m, sizeof(m), "%s", msg != NULL && msg[0] != '\0' ? msg : "no answer");
    m[strcspn(m, "\n")] = '\0';
    if (c == NULL || lib->status(c) != CONNECTION_OK || state == NULL ||
        strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return pkie_ca_store_unavailable("%s: %s", what, m);
    return PKIE_ERR(PKIE_ERR_CA_DB, "%s: %s (SQLSTATE %s)", what, m, state);
}

static PGconn *connect_db(struct ca_pg *pg)
{
    /* Defaults first, so that the user's string overrides them: a request
     * meets an outage within 5 s (connect: libpq's minimum of 2 s; TCP data
     * unacknowledged for 2.5 s breaks the connection). */
    const char *const keys[] = {"connect_timeout", "tcp_user_timeout", "fallback_application_name",
                                "dbname", NULL};
    const char *const vals[] = {"2", "2500", "pkie-ca", pg->conninfo, NULL};
    PGconn *c = lib->connectdbParams(keys, vals, 1);
    if (c == NULL || lib->status(c) != CONNECTION_OK) {
        classify(c, NULL, "connect");
        lib->finish(c);
        return NULL;
    }
    /* durable answers: every commit waits for its WAL flush */
    PGresult *r = lib->exec(c, "SET synchronous_commit TO on; SET client_min_messages TO warning");
    int ok = lib->resultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        classify(c, r, "session setup");
    lib->clear(r);
    if (!ok) {
        lib->finish(c);
        return NULL;
    }
    return c;
}

static int acquire(struct ca_pg *pg, struct pg_conn **out)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_SECS;
    pthread_mutex_lock(&pg->mu);
    for (;;) {
        struct pg_conn *pick = NULL;
        for (int i = 0; i < POOL; i++) /* a live idle connection first */
            if (!pg->conns[i].busy && (pick == NULL || (pick->c == NULL && pg->conns[i].c != NULL)))
                pick = &pg->conns[i];
        if (pick != NULL) {
            pick->busy = 1;
            PGconn *stale = pick->c != NULL && pick->epoch != pg->epoch ? pick->c : NULL;
            if (stale != NULL)
                pick->c = NULL;
            unsigned epoch = pg->epoch;
            pthread_mutex_unlock(&pg->mu);
            if (stale != NULL)
                lib->finish(stale); /* connected before the server went away */
            if (pick->c == NULL) {
                pick->epoch = epoch;
                pick->used = 0;
                memset(pick->prepared, 0, sizeof(pick->prepared));
                pick->c = connect_db(pg);
                if (pick->c == NULL) {
                    pthread_mutex_lock(&pg->mu);
                    pick->busy = 0;
                    pthread_cond_signal(&pg->cv);
                    pthread_mutex_unlock(&pg->mu);
                    return pkie_err_last()->code;
                }
            }
            *out = pick;
            return 0;
        }
        if (pthread_cond_timedwait(&pg->cv, &pg->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&pg->mu);
            return pkie_ca_store_unavailable("no database connection free for %d s", WAIT_SECS);
        }
    }
}

static void release(struct ca_pg *pg, struct pg_conn *pc, int gone)
{
    if (pc->c != NULL && (gone || lib->status(pc->c) != CONNECTION_OK)) {
        lib->finish(pc->c); /* reconnected by the next user */
        pc->c = NULL;
    }
    pthread_mutex_lock(&pg->mu);
    if (gone && pc->epoch == pg->epoch)
        pg->epoch++; /* the others were connected to the same server: reconnect them too */
    pc->busy = 0;
    pthread_cond_signal(&pg->cv);
    pthread_mutex_unlock(&pg->mu);
}

/* Run statement @p slot (text @p sql) on @p pc: prepared on first use on
 * this connection. */
static int run_on(struct pg_conn *pc, int slot, const char *sql, const struct pg_args *a,
                  PGresult **res, char *conflict, const char *what)
{
    char name[16];
    snprintf(name, sizeof(name), "s%d", slot);
    if (!pc->prepared[slot]) {
        PGresult *r = lib->prepare(pc->c, name, sql, 0, NULL);
        int ok = r != NULL && lib->resultStatus(r) == PGRES_COMMAND_OK;
        int rc = ok ? 0 : classify(pc->c, r, what);
        lib->clear(r);
        if (!ok)
            return rc;
        pc->prepared[slot] = 1;
    }
    PGresult *r = lib->execPrepared(pc->c, name, a->n, a->v, a->len, a->fmt, 1);
    ExecStatusType st = r != NULL ? lib->resultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res != NULL)
            *res = r;
        else
            lib->clear(r);
        return 0;
    }
    const char *state = r != NULL ? lib->resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int rc;
    if (state != NULL && strcmp(state, "23505") == 0) {
        const char *cn = lib->resultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
        if (conflict != NULL)
            snprintf(conflict, 64, "%s", cn != NULL ? cn : "");
        rc = PKIE_ERR(PKIE_ERR_EXISTS, "%s: duplicate (%s)", what, cn != NULL ? cn : "?");
    } else {
        rc = classify(pc->c, r, what);
    }
    lib->clear(r);
    return rc;
}

int pg_query(struct pkie_ca_store *s, enum pg_sql id, const struct pgp *p, PGresult **res,
             char *conflict, const char *what)
{
    struct pg_args a = {0};
    if (p != NULL)
        a = (struct pg_args){p->n, p->v, p->len, p->fmt};
    return pg_query_slot(s, (int)id, pg_text[id], &a, res, conflict, what);
}

int pg_query_slot(struct pkie_ca_store *s, int slot, const char *sql, const struct pg_args *a,
                  PGresult **res, char *conflict, const char *what)
{
    struct pg_conn *pc = NULL;
    if (res != NULL)
        *res = NULL;
    int rc = acquire(s->pg, &pc);
    if (rc != 0)
        return rc;
    int fresh = !pc->used;
    pc->used = 1;
    rc = run_on(pc, slot, sql, a, res, conflict, what);
    if (rc == PKIE_ERR_CA_UNAVAILABLE && !fresh) {
        /* A pooled connection may have outlived its server (restarted):
         * once more on a new connection. A statement the old server had
         * committed before the connection broke is refused by its
         * constraints on the second run (a nonce seen, a serial used). */
        release(s->pg, pc, 1);
        pkie_err_clear();
        (void)pkie_ca_store_take_unavailable();
        if ((rc = acquire(s->pg, &pc)) != 0)
            return rc;
        pc->used = 1;
        rc = run_on(pc, slot, sql, a, res, conflict, what);
    }
    release(s->pg, pc, rc == PKIE_ERR_CA_UNAVAILABLE);
    return rc;
}

/* Run @p sql (no parameters, several statements allowed) on @p pc. */
static int exec_on(struct pg_conn *pc, const char *sql, const char *what)
{
    PGresult *r = lib->exec(pc->c, sql);
    ExecStatusType st = r != NULL ? lib->resultStatus(r) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : classify(pc->c, r, what);
    lib->clear(r);
    return rc;
}

/* ---- open, schema, close --------------------------------------------------- */

/* Passwords come from libpq's usual places (~/.pgpass, PGPASSFILE,
 * PGPASSWORD), never from the command line where ps(1) shows them. */
static int check_conninfo(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *o = lib->conninfoParse(conninfo, &err);
    if (o == NULL) {
        int rc = PKIE_ERR(PKIE_ERR_ARG, "malformed PostgreSQL connection string: %s",
                          err != NULL ? err : "out of memory");
        lib->freemem(err);
        return rc;
    }
    int rc = 0;
    for (PQconninfoOption *x = o; x->keyword != NULL; x++)
        if (strcmp(x->keyword, "password") == 0 && x->val != NULL && x->val[0] != '\0')
            rc = PKIE_ERR(PKIE_ERR_ARG, "a password in the connection string is refused: put it "
                                        "in ~/.pgpass or the file PGPASSFILE names");
    lib->conninfoFree(o);
    return rc;
}

static int migrate(struct pkie_ca_store *s, struct pg_conn *pc, int create)
{
    char sql[160];
    PGresult *r = NULL;
    int v = 0;
    snprintf(sql, sizeof(sql),
             "BEGIN; SELECT pg_advisory_xact_lock(%d);"
             " CREATE TABLE IF NOT EXISTS schema_version(version integer NOT NULL)",
             MIGRATE_LOCK);
    int rc = exec_on(pc, sql, "schema");
    if (rc != 0)
        return rc;
    r = lib->execParams(pc->c, "SELECT version FROM schema_version", 0, NULL, NULL, NULL, NULL, 1);
    if (r == NULL || lib->resultStatus(r) != PGRES_TUPLES_OK)
        rc = classify(pc->c, r, "schema version");
    else if (lib->ntuples(r) > 0)
        v = (int)pg_int(r, 0, 0);
    lib->clear(r);
    (void)s;
    if (rc == 0 && v == 0 && !create)
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "the database holds no pkie CA (run pkie ca init)");
    if (rc == 0 && v > PKIE_CA_SCHEMA_VERSION)
        rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "schema version %d, this pkie knows up to %d", v,
                      PKIE_CA_SCHEMA_VERSION);
    for (int i = v; rc == 0 && i < PKIE_CA_SCHEMA_VERSION; i++)
        rc = exec_on(pc, migrations[i], "schema migration");
    if (rc == 0 && v < PKIE_CA_SCHEMA_VERSION) {
        snprintf(sql, sizeof(sql),
                 "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d)",
                 PKIE_CA_SCHEMA_VERSION);
        rc = exec_on(pc, sql, "schema version");
    }
    if (rc == 0)
        return exec_on(pc, "COMMIT", "schema");
    exec_on(pc, "ROLLBACK", "schema");
    return rc;
}

static void pg_close(struct pkie_ca_store *s)
{
    struct ca_pg *pg = s->pg;
    if (pg == NULL)
        return;
    for (int i = 0; i < POOL; i++)
        if (pg->conns[i].c != NULL)
            lib->finish(pg->conns[i].c);
    pthread_mutex_destroy(&pg->mu);
    pthread_cond_destroy(&pg->cv);
    free(pg->conninfo);
    free(pg);
    s->pg = NULL;
}

int pkie_ca_pg_open(struct pkie_ca_store *s, const char *conninfo, int create)
{
    struct pg_conn *pc = NULL;
    if ((lib = pkie_pq()) == NULL)
        return pkie_err_last()->code;
    int rc = check_conninfo(conninfo);
    if (rc != 0)
        return rc;
    struct ca_pg *pg = calloc(1, sizeof(*pg));
    if (pg == NULL || (pg->conninfo = strdup(conninfo)) == NULL) {
        free(pg);
        return PKIE_ERR(PKIE_ERR_NOMEM, "store");
    }
    pg->pq = lib;
    pthread_mutex_init(&pg->mu, NULL);
    pthread_cond_init(&pg->cv, NULL);
    s->pg = pg;
    s->ops = &pkie_ca_pg_ops;
    if ((rc = acquire(pg, &pc)) != 0)
        return rc;
    rc = migrate(s, pc, create);
    release(pg, pc, 0);
    return rc;
}

static int pg_check(struct pkie_ca_store *s)
{
    PGresult *r = NULL;
    int rc = pg_query(s, PG_CERT_COUNT, NULL, &r, NULL, "check");
    lib->clear(r);
    if (rc != 0)
        return rc;
    /* the constraints several nodes rely on */
    static const char *const need[] = {"certs_pkey", "nonces_pkey", "nonces_opens",
                                       "tx_nonces_pkey", "counters_pkey"};
    struct pg_conn *pc = NULL;
    if ((rc = acquire(s->pg, &pc)) != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < sizeof(need) / sizeof(need[0]); i++) {
        const char *v[1] = {need[i]};
        r = lib->execParams(pc->c, "SELECT 1 FROM pg_indexes WHERE indexname=$1", 1, NULL, v, NULL,
                            NULL, 1);
        if (r == NULL || lib->resultStatus(r) != PGRES_TUPLES_OK)
            rc = classify(pc->c, r, "check");
        else if (lib->ntuples(r) != 1)
            rc = PKIE_ERR(PKIE_ERR_CA_DB, "index %s is missing", need[i]);
        lib->clear(r);
    }
    release(s->pg, pc, 0);
    return rc;
}

/* ---- meta, CA credentials, clients ------------------------------------------ */

static int pg_meta_get(struct pkie_ca_store *s, const char *key, uint8_t *out, size_t cap,
                       size_t *len)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_text(&p, key);
    int rc = pg_query(s, PG_META_GET, &p, &r, NULL, "meta");
    if (rc != 0)
        return rc;
    if (lib->ntuples(r) != 1)
        rc = PKIE_ERR(PKIE_ERR_NOT_FOUND, "meta %s missing", key);
    else if ((size_t)lib->getlength(r, 0, 0) > cap)
        rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "meta %s too long", key);
    else {
        *len = (size_t)lib->getlength(r, 0, 0);
        memcpy(out, lib->getvalue(r, 0, 0), *len);
    }
    lib->clear(r);
    return rc;
}

/* The data key is written once: of two nodes unlocking a new store at once,
 * the second one's insert fails and it unwraps the first one's key. */
static int pg_dek_put(struct pkie_ca_store *s, const uint8_t *salt, size_t slen,
                      const uint8_t *wrapped, size_t wlen)
{
    struct pg_conn *pc = NULL;
    const char *v[2] = {(const char *)salt, (const char *)wrapped};
    int len[2] = {(int)slen, (int)wlen}, fmt[2] = {1, 1};
    int rc = acquire(s->pg, &pc);
    if (rc != 0)
        return rc;
    PGresult *r = lib->execParams(pc->c,
                                  "WITH a AS (INSERT INTO meta(key,value) VALUES('dek_salt',$1)) "
                                  "INSERT INTO meta(key,value) VALUES('dek',$2)",
                                  2, NULL, v, len, fmt, 1);
    if (r == NULL || lib->resultStatus(r) != PGRES_COMMAND_OK)
        rc = classify(pc->c, r, "store data key");
    lib->clear(r);
    release(s->pg, pc, 0);
    return rc;
}

static int pg_put_ca(struct pkie_ca_store *s, const char *name, const uint8_t *cert,
                     size_t cert_len, const char *key_pem)
{
    struct pgp p = {0};
    pgp_text(&p, name);
    pgp_bin(&p, cert, cert_len);
    pgp_text(&p, key_pem);
    return pg_query(s, PG_CA_PUT, &p, NULL, NULL, "store CA credential");
}

static int pg_get_ca(struct pkie_ca_store *s, const char *name, uint8_t **der, size_t *der_len,
                     char **pem)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    *der = NULL;
    *pem = NULL;
    pgp_text(&p, name);
    int rc = pg_query(s, PG_CA_GET, &p, &r, NULL, "CA credential");
    if (rc != 0)
        return rc;
    if (lib->ntuples(r) != 1)
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "no CA credential '%s'", name);
    else if ((rc = pg_blob(r, 0, 0, der, der_len)) == 0 && !lib->getisnull(r, 0, 1) &&
             (*pem = strdup(lib->getvalue(r, 0, 1))) == NULL)
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "CA credential");
    lib->clear(r);
    if (rc != 0) {
        free(*der);
        *der = NULL;
    }
    return rc;
}

static int pg_client_insert(struct pkie_ca_store *s, const struct pkie_ca_client *c,
                            const uint8_t *blob, size_t blob_len, int64_t now)
{
    struct pgp p = {0};
    pgp_text(&p, c->ref);
    pgp_bin(&p, blob, blob_len);
    pgp_text(&p, c->subject_pattern);
    pgp_text(&p, c->san_pattern);
    pgp_text(&p, c->profile);
    pgp_int(&p, c->manual);
    pgp_int(&p, now);
    int rc = pg_query(s, PG_CLIENT_INSERT, &p, NULL, NULL, "add client");
    if (rc == PKIE_ERR_EXISTS)
        rc = PKIE_ERR(PKIE_ERR_EXISTS, "client '%s' already registered", c->ref);
    return rc;
}

static void client_row(const PGresult *r, int row, struct pkie_ca_client *c)
{
    pg_str(r, row, 0, c->ref, sizeof(c->ref));
    pg_str(r, row, 2, c->subject_pattern, sizeof(c->subject_pattern));
    pg_str(r, row, 3, c->san_pattern, sizeof(c->san_pattern));
    pg_str(r, row, 4, c->profile, sizeof(c->profile));
    c->manual = (int)pg_int(r, row, 5);
    c->created = pg_int(r, row, 6);
}

/* With @p a, the stored-nonce lookup of the request comes in the same round
 * trip (columns 7..9, as pg_nonce_seen's). */
static int pg_client_get_ahead(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c,
                               uint8_t *blob, size_t cap, size_t *blob_len, struct pkie_ca_ahead *a)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_text(&p, ref);
    if (a != NULL) {
        pgp_bin(&p, a->nonce, a->nonce_len);
        pgp_text(&p, a->new_tx ? "t" : "f");
        pgp_bin(&p, a->txid, a->txid_len);
    }
    int rc = pg_query(s, a != NULL ? PG_CLIENT_AHEAD : PG_CLIENT_GET, &p, &r, NULL, "client");
    if (rc != 0)
        return rc;
    if (lib->ntuples(r) != 1) {
        rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT, "unknown client reference '%.64s'", ref);
    } else {
        client_row(r, 0, c);
        size_t n = (size_t)lib->getlength(r, 0, 1);
        if (n > cap)
            rc = PKIE_ERR(PKIE_ERR_CA_DB, "client '%s': secret record malformed", c->ref);
        else {
            memcpy(blob, lib->getvalue(r, 0, 1), n);
            *blob_len = n;
        }
        pkie_wipe(lib->getvalue(r, 0, 1), n);
        if (a != NULL) {
            a->what = pg_int(r, 0, 7) ? 1 : pg_int(r, 0, 8) ? 2 : 0;
            a->tx_known = a->new_tx;
            a->tx_state = lib->getisnull(r, 0, 9) ? -1 : (int)pg_int(r, 0, 9);
            a->done = 1;
        }
    }
    lib->clear(r);
    return rc;
}

static int pg_client_get(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c,
                         uint8_t *blob, size_t cap, size_t *blob_len)
{
    return pg_client_get_ahead(s, ref, c, blob, cap, blob_len, NULL);
}

static int pg_client_remove(struct pkie_ca_store *s, const char *ref)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_text(&p, ref);
    int rc = pg_query(s, PG_CLIENT_REMOVE, &p, &r, NULL, "remove client");
    if (rc == 0 && strcmp(lib->cmdTuples(r), "0") == 0)
        rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT, "unknown client reference '%.64s'", ref);
    lib->clear(r);
    return rc;
}

static int pg_keygen_set(struct pkie_ca_store *s, const char *ref, int allow)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_text(&p, ref);
    pgp_int(&p, allow ? 1 : 0);
    int rc = pg_query(s, PG_KEYGEN_SET, &p, &r, NULL, "client_keygen");
    lib->clear(r);
    return rc;
}

static int pg_keygen_get(struct pkie_ca_store *s, const char *ref, int *allow)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_text(&p, ref);
    *allow = 0;
    int rc = pg_query(s, PG_KEYGEN_GET, &p, &r, NULL, "client_keygen");
    if (rc == 0 && lib->ntuples(r) == 1)
        *allow = pg_int(r, 0, 0) != 0;
    lib->clear(r);
    return rc;
}

static int pg_client_list(struct pkie_ca_store *s,
                          int (*cb)(void *arg, const struct pkie_ca_client *c), void *arg)
{
    PGresult *r = NULL;
    struct pkie_ca_client c;
    int rc = pg_query(s, PG_CLIENT_LIST, NULL, &r, NULL, "list clients");
    for (int i = 0; rc == 0 && i < lib->ntuples(r); i++) {
        memset(&c, 0, sizeof(c));
        client_row(r, i, &c);
        rc = cb(arg, &c);
    }
    lib->clear(r);
    return rc;
}

/* ---- nonces, CRL number ---------------------------------------------------- */

/* With a new transaction's claim, the latest transaction with its
 * transactionID comes in the same round trip (pkie_ca_store_tx_latest_state). */
static int pg_nonce_seen(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c, int *what)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    *what = 0;
    pgp_bin(&p, c->nonce, c->nonce_len);
    pgp_text(&p, c->new_tx ? "t" : "f");
    pgp_bin(&p, c->txid, c->txid_len);
    int rc = pg_query(s, PG_NONCE_SEEN, &p, &r, NULL, "nonce lookup");
    if (rc == 0) {
        *what = pg_int(r, 0, 0) ? 1 : pg_int(r, 0, 1) ? 2 : 0;
        c->tx_known = pg_int(r, 0, 2) != 0;
        c->tx_state = lib->getisnull(r, 0, 3) ? -1 : (int)pg_int(r, 0, 3);
    }
    lib->clear(r);
    return rc;
}

static int pg_nonce_purge(struct pkie_ca_store *s, int64_t before, int *n)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_int(&p, before);
    int rc = pg_query(s, PG_NONCE_PURGE, &p, &r, NULL, "nonce purge");
    if (rc == 0 && n != NULL)
        *n = (int)pg_int(r, 0, 0);
    lib->clear(r);
    return rc;
}

static int pg_txnonce_set(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                          const uint8_t *nonce, size_t nonce_len, int64_t now)
{
    struct pgp p = {0};
    pgp_bin(&p, txid, txid_len);
    pgp_bin(&p, nonce, nonce_len);
    pgp_int(&p, now);
    return pg_query(s, PG_TXNONCE_SET, &p, NULL, NULL, "tx nonce");
}

static int pg_txnonce_check(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                            const uint8_t *recip, size_t recip_len)
{
    PGresult *r = NULL;
    struct pgp p = {0};
    pgp_bin(&p, txid, txid_len);
    int rc = pg_query(s, PG_TXNONCE_GET, &p, &r, NULL, "tx nonce lookup");
    if (rc == 0 && lib->ntuples(r) == 1) {
        size_t nl = (size_t)lib->getlength(r, 0, 0);
        if (recip == NULL || recip_len != nl || memcmp(recip, lib->getvalue(r, 0, 0), nl) != 0)
            rc = PKIE_ERR(PKIE_ERR_CMP_RECIPNONCE,
                          "recipNonce is not the senderNonce of our last answer");
    }
    lib->clear(r);
    return rc;
}

/* One row per number, incremented under its row lock: numbers strictly
 * increase across every node, and no two CRLs get the same one. */
static int pg_next_crl_number(struct pkie_ca_store *s, int64_t *n)
{
    PGresult *r = NULL;
    int rc = pg_query(s, PG_CRL_NEXT, NULL, &r, NULL, "crl number");
    if (rc == 0)
        *n = pg_int(r, 0, 0);
    lib->clear(r);
    return rc;
}

const struct ca_store_ops pkie_ca_pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .check = pg_check,
    .meta_get = pg_meta_get,
    .dek_put = pg_dek_put,
    .put_ca = pg_put_ca,
    .get_ca = pg_get_ca,
    .client_insert = pg_client_insert,
    .client_get = pg_client_get,
    .client_get_ahead = pg_client_get_ahead,
    .client_remove = pg_client_remove,
    .keygen_set = pg_keygen_set,
    .keygen_get = pg_keygen_get,
    .client_list = pg_client_list,
    .write = pkie_ca_pg_write,
    .cert_set_status = pkie_ca_pg_cert_set_status,
    .cert_get = pkie_ca_pg_cert_get,
    .cert_iter = pkie_ca_pg_cert_iter,
    .cert_count = pkie_ca_pg_cert_count,
    .revoked_count = pkie_ca_pg_revoked_count,
    .tx_create = pkie_ca_pg_tx_create,
    .tx_get = pkie_ca_pg_tx_get,
    .tx_set_state = pkie_ca_pg_tx_set_state,
    .tx_list = pkie_ca_pg_tx_list,
    .tx_expire = pkie_ca_pg_tx_expire,
    .nonce_seen = pg_nonce_seen,
    .nonce_purge = pg_nonce_purge,
    .txnonce_set = pg_txnonce_set,
    .txnonce_check = pg_txnonce_check,
    .next_crl_number = pg_next_crl_number,
};
