/* CA store, SQLite backend: one database file (WAL, synchronous=FULL), a
 * write connection and a read connection, each behind its mutex. */
#include "ca_internal.h"
#include "store_sq.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Schema migrations: step i takes the schema from version i to i+1 (see
 * docs/ca.md, "Store schema"); version 1 is the first released schema. */
static const char *const migrations[PKIE_CA_SCHEMA_VERSION] = {
    [0] = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB);"
          "CREATE TABLE IF NOT EXISTS ca(name TEXT PRIMARY KEY, cert BLOB NOT NULL, key_pem TEXT);"
          "CREATE TABLE IF NOT EXISTS clients(ref TEXT PRIMARY KEY, secret BLOB NOT NULL,"
          " subject_pattern TEXT NOT NULL, san_pattern TEXT NOT NULL, profile TEXT NOT NULL,"
          " manual INTEGER NOT NULL, created INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS txs(id INTEGER PRIMARY KEY AUTOINCREMENT, txid BLOB NOT NULL,"
          " state INTEGER NOT NULL, client_ref TEXT NOT NULL, subject TEXT NOT NULL,"
          " reason TEXT NOT NULL DEFAULT '', serial TEXT NOT NULL DEFAULT '',"
          " created INTEGER NOT NULL, updated INTEGER NOT NULL, request BLOB);"
          "CREATE INDEX IF NOT EXISTS txs_txid ON txs(txid);"
          "CREATE INDEX IF NOT EXISTS txs_state ON txs(state);"
          "CREATE TABLE IF NOT EXISTS certs(serial TEXT PRIMARY KEY, subject TEXT NOT NULL,"
          " der BLOB NOT NULL, status INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT -1,"
          " not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL,"
          " revoked_at INTEGER NOT NULL DEFAULT 0, client_ref TEXT NOT NULL DEFAULT '',"
          " tx_id INTEGER NOT NULL DEFAULT 0, cert_req_id INTEGER NOT NULL DEFAULT 0);"
          "CREATE INDEX IF NOT EXISTS certs_status ON certs(status);"
          "CREATE INDEX IF NOT EXISTS certs_tx ON certs(tx_id);",
    [1] = "CREATE TABLE IF NOT EXISTS nonces(nonce BLOB PRIMARY KEY, txid BLOB NOT NULL,"
          " seen INTEGER NOT NULL);"
          "CREATE INDEX IF NOT EXISTS nonces_txid ON nonces(txid);"
          "CREATE INDEX IF NOT EXISTS nonces_seen ON nonces(seen);"
          "CREATE TABLE IF NOT EXISTS tx_nonces(txid BLOB PRIMARY KEY, nonce BLOB NOT NULL,"
          " seen INTEGER NOT NULL);",
    /* clients granted central key generation (a CA of the first central key
     * generation builds may have made it on first use already) */
    [2] = "CREATE TABLE IF NOT EXISTS client_keygen(ref TEXT PRIMARY KEY, allow INTEGER NOT NULL);",
};

int pkie_ca_db_err(struct pkie_ca_store *s, const char *what)
{
    return PKIE_ERR(PKIE_ERR_CA_DB, "%s: %s", what, sqlite3_errmsg(s->db));
}

int pkie_ca_db_exec(struct pkie_ca_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = PKIE_ERR(PKIE_ERR_CA_DB, "%s", msg != NULL ? msg : "sqlite error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

#define CLIENT_COLS "ref,secret,subject_pattern,san_pattern,profile,manual,created"

static const char *const sql_text[CA_SQL_COUNT] = {
    [CA_SQL_BEGIN] = "BEGIN IMMEDIATE",
    [CA_SQL_COMMIT] = "COMMIT",
    [CA_SQL_ROLLBACK] = "ROLLBACK",
    [CA_SQL_SAVEPOINT] = "SAVEPOINT one",
    [CA_SQL_RELEASE] = "RELEASE one",
    [CA_SQL_ROLLBACK_TO] = "ROLLBACK TO one",
    [CA_SQL_NONCE_INSERT] = "INSERT INTO nonces(nonce,txid,seen) VALUES(?,?,?)",
    [CA_SQL_NONCE_SEEN] = "SELECT EXISTS(SELECT 1 FROM nonces WHERE nonce=?1),"
                          " ?2 AND EXISTS(SELECT 1 FROM nonces WHERE txid=?3 AND nonce<>?1)",
    [CA_SQL_CERT_INSERT] = "INSERT INTO certs(serial,subject,der,status,not_before,not_after,"
                           "issued_at,client_ref,tx_id,cert_req_id) VALUES(?,?,?,?,?,?,?,?,?,?)",
    [CA_SQL_TX_ISSUED] = "UPDATE txs SET state=?,serial=?,updated=? WHERE id=?",
    [CA_SQL_TX_CREATE] = "INSERT INTO txs(txid,state,client_ref,subject,created,updated,"
                         "request) VALUES(?,?,?,?,?,?,?)",
    [CA_SQL_TX_SET_STATE] = "UPDATE txs SET state=?1,updated=?2,reason=coalesce(?3,reason) "
                            "WHERE id=?4 AND (?5<0 OR state=?5)",
    [CA_SQL_TX_BY_ID] = "SELECT " CA_TX_COLS " FROM txs WHERE id=?",
    [CA_SQL_TX_BY_TXID] = "SELECT " CA_TX_COLS " FROM txs WHERE txid=? ORDER BY id DESC LIMIT 1",
    [CA_SQL_TXNONCE_SET] = "INSERT OR REPLACE INTO tx_nonces(txid,nonce,seen) VALUES(?,?,?)",
    [CA_SQL_TXNONCE_GET] = "SELECT nonce FROM tx_nonces WHERE txid=?",
    [CA_SQL_CLIENT_GET] = "SELECT " CLIENT_COLS " FROM clients WHERE ref=?",
    [CA_SQL_CERT_GET] = "SELECT " CA_CERT_COLS " FROM certs WHERE serial=?",
};

static sqlite3_stmt *stmt_get(sqlite3 *db, sqlite3_stmt **cache, enum ca_sql id)
{
    if (cache[id] == NULL && sqlite3_prepare_v3(db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                                &cache[id], NULL) != SQLITE_OK) {
        PKIE_ERR(PKIE_ERR_CA_DB, "prepare: %s", sqlite3_errmsg(db));
        cache[id] = NULL;
    }
    return cache[id];
}

sqlite3_stmt *pkie_ca_stmt(struct pkie_ca_store *s, enum ca_sql id)
{
    return stmt_get(s->db, s->wst, id);
}

sqlite3_stmt *pkie_ca_stmt_r(struct pkie_ca_store *s, enum ca_sql id)
{
    return stmt_get(s->rdb, s->rst, id);
}

void pkie_ca_stmt_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

int pkie_ca_db_run(struct pkie_ca_store *s, enum ca_sql id)
{
    sqlite3_stmt *st = pkie_ca_stmt(s, id);
    if (st == NULL)
        return pkie_err_last()->code;
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE || r == SQLITE_ROW ? 0 : pkie_ca_db_err(s, sql_text[id]);
    pkie_ca_stmt_done(st);
    return rc;
}

int pkie_ca_db_prepare_r(struct pkie_ca_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->rdb, sql, -1, st, NULL) != SQLITE_OK)
        return PKIE_ERR(PKIE_ERR_CA_DB, "prepare: %s", sqlite3_errmsg(s->rdb));
    return 0;
}

int pkie_ca_db_prepare(struct pkie_ca_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return pkie_ca_db_err(s, "prepare");
    return 0;
}

static int meta_get_blob(struct pkie_ca_store *s, const char *key, uint8_t *out, size_t cap,
                         size_t *len)
{
    sqlite3_stmt *st = NULL;
    int rc = pkie_ca_db_prepare(s, "SELECT value FROM meta WHERE key=?", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > cap)
            rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "meta %s too long", key);
        else {
            if (n > 0)
                memcpy(out, sqlite3_column_blob(st, 0), n);
            *len = n;
        }
    } else if (r == SQLITE_DONE)
        rc = PKIE_ERR(PKIE_ERR_NOT_FOUND, "meta %s missing", key);
    else
        rc = pkie_ca_db_err(s, "meta");
    sqlite3_finalize(st);
    return rc;
}

static int meta_put_blob(struct pkie_ca_store *s, const char *key, const void *v, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = pkie_ca_db_prepare(s, "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, v, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = pkie_ca_db_err(s, "meta write");
    sqlite3_finalize(st);
    return rc;
}

/* The schema version: the schema_version table, or for a version 1
 * database the meta row "schema" it kept before; 0 for an empty database. */
static int schema_version(struct pkie_ca_store *s, int *v)
{
    sqlite3_stmt *st = NULL;
    uint8_t old[8];
    size_t n = 0;
    *v = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT version FROM schema_version", -1, &st, NULL) ==
        SQLITE_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            *v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return r == SQLITE_ROW ? 0 : PKIE_ERR(PKIE_ERR_CA_SCHEMA, "schema_version is empty");
    }
    if (meta_get_blob(s, "schema", old, sizeof(old), &n) == 0 && n == 1)
        *v = old[0];
    pkie_err_clear();
    return 0;
}

/* Bring the schema to PKIE_CA_SCHEMA_VERSION, one step per migration, all in
 * one write transaction (another process opening meanwhile waits for it). */
static int migrate(struct pkie_ca_store *s, const char *path, int create)
{
    int v = 0;
    int rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
    if (rc != 0)
        return rc;
    if ((rc = schema_version(s, &v)) != 0)
        goto out;
    if (v == 0 && !create) {
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "%s is not a pkie CA database", path);
        goto out;
    }
    if (v > PKIE_CA_SCHEMA_VERSION) {
        rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "schema version %d, this pkie knows up to %d", v,
                      PKIE_CA_SCHEMA_VERSION);
        goto out;
    }
    if (v == PKIE_CA_SCHEMA_VERSION)
        goto out;
    for (int i = v; rc == 0 && i < PKIE_CA_SCHEMA_VERSION; i++)
        rc = pkie_ca_db_exec(s, migrations[i]);
    if (rc == 0)
        rc = pkie_ca_db_exec(s, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT "
                                "NULL); DELETE FROM schema_version; DELETE FROM meta WHERE "
                                "key='schema'");
    if (rc == 0) {
        char sql[96];
        snprintf(sql, sizeof(sql), "INSERT INTO schema_version(version) VALUES(%d)",
                 PKIE_CA_SCHEMA_VERSION);
        rc = pkie_ca_db_exec(s, sql);
    }
out:
    if (rc == 0)
        return pkie_ca_db_exec(s, "COMMIT");
    pkie_ca_db_exec(s, "ROLLBACK");
    return rc;
}

int pkie_ca_sq_open(struct pkie_ca_store *s, const char *path, int create)
{
    int rc;
    s->ops = &pkie_ca_sqlite_ops;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK)
        return PKIE_ERR(create ? PKIE_ERR_CA_DB : PKIE_ERR_CA_NOT_INIT, "cannot open %s: %s", path,
                        s->db != NULL ? sqlite3_errmsg(s->db) : "no memory");
    sqlite3_busy_timeout(s->db, 10000);
    rc = pkie_ca_db_exec(
        s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    if (rc == 0 && (rc = migrate(s, path, create)) != 0 && rc == PKIE_ERR_CA_DB && !create)
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "%s is not a pkie CA database", path);
    if (rc != 0)
        return rc;
    if (sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        return PKIE_ERR(PKIE_ERR_CA_DB, "cannot open %s for reading", path);
    sqlite3_busy_timeout(s->rdb, 10000);
    return 0;
}

static void sq_close(struct pkie_ca_store *s)
{
    for (int i = 0; i < CA_SQL_COUNT; i++) {
        sqlite3_finalize(s->wst[i]);
        sqlite3_finalize(s->rst[i]);
    }
    sqlite3_close_v2(s->rdb);
    sqlite3_close_v2(s->db);
}

static int sq_check(struct pkie_ca_store *s)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "PRAGMA integrity_check", &st);
    if (rc == 0) {
        if (sqlite3_step(st) != SQLITE_ROW)
            rc = pkie_ca_db_err(s, "integrity_check");
        else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
            rc = PKIE_ERR(PKIE_ERR_CA_DB, "integrity_check: %s", sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int sq_meta_get(struct pkie_ca_store *s, const char *key, uint8_t *out, size_t cap,
                       size_t *len)
{
    return meta_get_blob(s, key, out, cap, len);
}

static int sq_dek_put(struct pkie_ca_store *s, const uint8_t *salt, size_t slen,
                      const uint8_t *wrapped, size_t wlen)
{
    int rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
    if (rc == 0)
        rc = meta_put_blob(s, "dek_salt", salt, slen);
    if (rc == 0)
        rc = meta_put_blob(s, "dek", wrapped, wlen);
    if (rc == 0)
        rc = pkie_ca_db_exec(s, "COMMIT");
    else
        pkie_ca_db_exec(s, "ROLLBACK");
    return rc;
}

/* ---- CA credentials ------------------------------------------------------ */

static int sq_put_ca(struct pkie_ca_store *s, const char *name, const uint8_t *cert,
                     size_t cert_len, const char *key_pem)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc =
        pkie_ca_db_prepare(s, "INSERT OR REPLACE INTO ca(name,cert,key_pem) VALUES(?,?,?)", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, cert, (int)cert_len, SQLITE_STATIC);
        if (key_pem != NULL)
            sqlite3_bind_text(st, 3, key_pem, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "store CA credential");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int sq_get_ca(struct pkie_ca_store *s, const char *name, uint8_t **der, size_t *der_len,
                     char **pem)
{
    sqlite3_stmt *st = NULL;
    *der = NULL;
    *pem = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "SELECT cert,key_pem FROM ca WHERE name=?", &st);
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "no CA credential '%s'", name);
        goto out;
    }
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const unsigned char *k = sqlite3_column_text(st, 1);
    *der = malloc(n > 0 ? n : 1);
    *pem = k != NULL ? strdup((const char *)k) : NULL;
    if (*der == NULL || (k != NULL && *pem == NULL)) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "CA credential");
        goto out;
    }
    if (n > 0)
        memcpy(*der, sqlite3_column_blob(st, 0), n);
    *der_len = n;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        free(*der);
        *der = NULL;
        pkie_wipe_free_str(*pem);
        *pem = NULL;
    }
    return rc;
}

/* ---- clients ------------------------------------------------------------- */

static int sq_client_insert(struct pkie_ca_store *s, const struct pkie_ca_client *c,
                            const uint8_t *blob, size_t blob_len, int64_t now)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(
        s,
        "INSERT INTO clients(ref,secret,subject_pattern,san_pattern,profile,manual,created)"
        " VALUES(?,?,?,?,?,?,?)",
        &st);
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, c->ref, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, (int)blob_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->subject_pattern, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->san_pattern, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->profile, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, c->manual);
    sqlite3_bind_int64(st, 7, now);
    int r = sqlite3_step(st);
    if (r == SQLITE_CONSTRAINT)
        rc = PKIE_ERR(PKIE_ERR_EXISTS, "client '%s' already registered", c->ref);
    else if (r != SQLITE_DONE)
        rc = pkie_ca_db_err(s, "add client");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void client_row(sqlite3_stmt *st, struct pkie_ca_client *c)
{
    pkie_ca_copy_text(c->ref, sizeof(c->ref), sqlite3_column_text(st, 0));
    pkie_ca_copy_text(c->subject_pattern, sizeof(c->subject_pattern), sqlite3_column_text(st, 2));
    pkie_ca_copy_text(c->san_pattern, sizeof(c->san_pattern), sqlite3_column_text(st, 3));
    pkie_ca_copy_text(c->profile, sizeof(c->profile), sqlite3_column_text(st, 4));
    c->manual = sqlite3_column_int(st, 5);
    c->created = sqlite3_column_int64(st, 6);
}

static int sq_client_get(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c,
                         uint8_t *blob, size_t cap, size_t *blob_len)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->rmu);
    int rc = 0;
    if ((st = pkie_ca_stmt_r(s, CA_SQL_CLIENT_GET)) == NULL) {
        rc = pkie_err_last()->code;
        goto out;
    }
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT, "unknown client reference '%.64s'", ref);
        goto out;
    }
    client_row(st, c);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    if (n > cap) {
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "client '%s': secret record malformed", c->ref);
        goto out;
    }
    if (n > 0)
        memcpy(blob, sqlite3_column_blob(st, 1), n);
    *blob_len = n;
out:
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

static int sq_client_remove(struct pkie_ca_store *s, const char *ref)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "DELETE FROM clients WHERE ref=?", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "remove client");
        else if (sqlite3_changes(s->db) == 0)
            rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT, "unknown client reference '%.64s'", ref);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int sq_client_list(struct pkie_ca_store *s,
                          int (*cb)(void *arg, const struct pkie_ca_client *c), void *arg)
{
    sqlite3_stmt *st = NULL;
    struct pkie_ca_client c;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "SELECT " CLIENT_COLS " FROM clients ORDER BY ref", &st);
    int r;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&c, 0, sizeof(c));
        client_row(st, &c);
        rc = cb(arg, &c);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

const struct ca_store_ops pkie_ca_sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .check = sq_check,
    .meta_get = sq_meta_get,
    .dek_put = sq_dek_put,
    .put_ca = sq_put_ca,
    .get_ca = sq_get_ca,
    .client_insert = sq_client_insert,
    .client_get = sq_client_get,
    .client_remove = sq_client_remove,
    .keygen_set = pkie_ca_sq_keygen_set,
    .keygen_get = pkie_ca_sq_keygen_get,
    .client_list = sq_client_list,
    .write = pkie_ca_sq_write,
    .cert_set_status = pkie_ca_sq_cert_set_status,
    .cert_get = pkie_ca_sq_cert_get,
    .cert_iter = pkie_ca_sq_cert_iter,
    .cert_count = pkie_ca_sq_cert_count,
    .revoked_count = pkie_ca_sq_revoked_count,
    .tx_create = pkie_ca_sq_tx_create,
    .tx_get = pkie_ca_sq_tx_get,
    .tx_set_state = pkie_ca_sq_tx_set_state,
    .tx_list = pkie_ca_sq_tx_list,
    .tx_expire = pkie_ca_sq_tx_expire,
    .nonce_seen = pkie_ca_sq_nonce_seen,
    .nonce_purge = pkie_ca_sq_nonce_purge,
    .txnonce_set = pkie_ca_sq_txnonce_set,
    .txnonce_check = pkie_ca_sq_txnonce_check,
    .next_crl_number = pkie_ca_sq_next_crl_number,
};
