/* CA store: SQLite database (WAL, synchronous=FULL) behind one mutex. */
#include "ca_internal.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEK_ITER  100000
#define GCM_NONCE 12
#define GCM_TAG   16

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB);"
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
    "CREATE INDEX IF NOT EXISTS certs_tx ON certs(tx_id);";

int64_t pkie_ca_now(void)
{
    return (int64_t)time(NULL);
}

int64_t pkie_ca_asn1_time_secs(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

int pkie_ca_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    int rc = 0;
    if (hex == NULL || BN_is_negative(bn))
        rc = PKIE_ERR(PKIE_ERR_ARG, "serial number not representable");
    else
        rc = pkie_ca_serial_canon(hex, buf, cap); /* BN_bn2hex pads to whole octets */
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

int pkie_ca_serial_canon(const char *in, char *buf, size_t cap)
{
    size_t n = 0;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    while (*in == '0' || *in == ':')
        in++;
    for (; *in != '\0'; in++) {
        char c = *in;
        if (c == ':')
            continue;
        if (c >= 'a' && c <= 'f')
            c = (char)(c - 'a' + 'A');
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return PKIE_ERR(PKIE_ERR_ARG, "serial '%s' is not hexadecimal", in);
        if (n + 2 > cap)
            return PKIE_ERR(PKIE_ERR_ARG, "serial too long");
        buf[n++] = c;
    }
    if (n == 0) {
        if (cap < 2)
            return PKIE_ERR(PKIE_ERR_ARG, "serial too long");
        buf[n++] = '0';
    }
    buf[n] = '\0';
    return 0;
}

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

int pkie_ca_store_open(const char *path, int create, struct pkie_ca_store **out)
{
    struct pkie_ca_store *s = calloc(1, sizeof(*s));
    int rc;
    *out = NULL;
    if (s == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "store");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_mutex_init(&s->gc_mu, NULL);
    pthread_mutex_init(&s->nc_mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        rc = PKIE_ERR(create ? PKIE_ERR_CA_DB : PKIE_ERR_CA_NOT_INIT, "cannot open %s: %s", path,
                      s->db != NULL ? sqlite3_errmsg(s->db) : "no memory");
        goto err;
    }
    sqlite3_busy_timeout(s->db, 10000);
    rc = pkie_ca_db_exec(
        s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    if (rc != 0)
        goto err;
    if (create) {
        rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
        if (rc != 0)
            goto err;
        rc = pkie_ca_db_exec(s, schema_sql);
        if (rc == 0) {
            uint8_t v = PKIE_CA_SCHEMA_VERSION;
            uint8_t buf[8];
            size_t n;
            if (meta_get_blob(s, "schema", buf, sizeof(buf), &n) != 0)
                rc = meta_put_blob(s, "schema", &v, 1);
            pkie_err_clear();
        }
        if (rc == 0)
            rc = pkie_ca_db_exec(s, "COMMIT");
        if (rc != 0) {
            pkie_ca_db_exec(s, "ROLLBACK");
            goto err;
        }
    }
    uint8_t ver[8];
    size_t vlen = 0;
    rc = meta_get_blob(s, "schema", ver, sizeof(ver), &vlen);
    if (rc != 0) {
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "%s is not a pkie CA database", path);
        goto err;
    }
    if (vlen != 1 || ver[0] != PKIE_CA_SCHEMA_VERSION) {
        rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "schema version %u, expected %u", vlen == 1 ? ver[0] : 0u,
                      PKIE_CA_SCHEMA_VERSION);
        goto err;
    }
    /* Added after schema 1 without changing it: older databases get the table here. */
    if ((rc = pkie_ca_store_nonce_init(s)) != 0)
        goto err;
    if (sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "cannot open %s for reading", path);
        goto err;
    }
    sqlite3_busy_timeout(s->rdb, 10000);
    *out = s;
    return 0;
err:
    pkie_ca_store_close(s);
    return rc;
}

void pkie_ca_store_close(struct pkie_ca_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < CA_SQL_COUNT; i++) {
        sqlite3_finalize(s->wst[i]);
        sqlite3_finalize(s->rst[i]);
    }
    sqlite3_close_v2(s->rdb);
    sqlite3_close_v2(s->db);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rmu);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_mutex_destroy(&s->nc_mu);
    pkie_wipe(s->dek, sizeof(s->dek));
    free(s);
}

int pkie_ca_store_check(struct pkie_ca_store *s)
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

/* ---- data key ------------------------------------------------------------ */

static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c != NULL, n = 0;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1;
    ok = ok && (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1);
    ok = ok && (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + len, &n) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int pkie_ca_store_unlock(struct pkie_ca_store *s, const char *pass)
{
    uint8_t salt[16], wrapped[GCM_NONCE + DEK_LEN + GCM_TAG], kek[32];
    size_t slen = 0, wlen = 0;
    int rc;
    if (pass == NULL || pass[0] == '\0')
        return PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "a CA passphrase is required");
    pthread_mutex_lock(&s->mu);
    int have = meta_get_blob(s, "dek_salt", salt, sizeof(salt), &slen) == 0 &&
               meta_get_blob(s, "dek", wrapped, sizeof(wrapped), &wlen) == 0;
    pkie_err_clear();
    if (!have) {
        if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(s->dek, DEK_LEN) != 1 ||
            RAND_bytes(wrapped, GCM_NONCE) != 1) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "random");
            goto out;
        }
        slen = sizeof(salt);
    } else if (slen != sizeof(salt) || wlen != sizeof(wrapped)) {
        rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "data key record malformed");
        goto out;
    }
    if (PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, (int)slen, DEK_ITER, EVP_sha256(),
                          sizeof(kek), kek) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PBKDF2");
        goto out;
    }
    if (!have) {
        if (gcm(1, kek, wrapped, NULL, 0, s->dek, DEK_LEN, wrapped + GCM_NONCE,
                wrapped + GCM_NONCE + DEK_LEN) != 0) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "wrap data key");
            goto out;
        }
        rc = pkie_ca_db_exec(s, "BEGIN IMMEDIATE");
        if (rc == 0)
            rc = meta_put_blob(s, "dek_salt", salt, sizeof(salt));
        if (rc == 0)
            rc = meta_put_blob(s, "dek", wrapped, sizeof(wrapped));
        if (rc == 0)
            rc = pkie_ca_db_exec(s, "COMMIT");
        else
            pkie_ca_db_exec(s, "ROLLBACK");
        if (rc != 0)
            goto out;
    } else if (gcm(0, kek, wrapped, NULL, 0, wrapped + GCM_NONCE, DEK_LEN, s->dek,
                   wrapped + GCM_NONCE + DEK_LEN) != 0) {
        pkie_wipe(s->dek, sizeof(s->dek));
        rc = PKIE_ERR(PKIE_ERR_CA_PASSWORD, "wrong CA passphrase");
        goto out;
    }
    s->unlocked = 1;
    rc = 0;
out:
    pkie_wipe(kek, sizeof(kek));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- CA credentials ------------------------------------------------------ */

int pkie_ca_store_put_ca(struct pkie_ca_store *s, const char *name, const uint8_t *cert,
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

int pkie_ca_store_get_ca(struct pkie_ca_store *s, const char *name, const char *pass, X509 **cert,
                         EVP_PKEY **key)
{
    sqlite3_stmt *st = NULL;
    *cert = NULL;
    if (key != NULL)
        *key = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_prepare(s, "SELECT cert,key_pem FROM ca WHERE name=?", &st);
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "no CA credential '%s'", name);
        goto out;
    }
    const unsigned char *p = sqlite3_column_blob(st, 0);
    *cert = d2i_X509(NULL, &p, sqlite3_column_bytes(st, 0));
    if (*cert == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CA_DB, "CA certificate '%s' unreadable", name);
        goto out;
    }
    if (key != NULL) {
        const char *pem = (const char *)sqlite3_column_text(st, 1);
        if (pem == NULL) {
            rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "no key for CA credential '%s'", name);
            goto out;
        }
        *key = pkie_ca_key_decrypt(pem, pass);
        if (*key == NULL) {
            rc = pkie_err_last()->code;
            goto out;
        }
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        X509_free(*cert);
        *cert = NULL;
    }
    return rc;
}

/* ---- clients ------------------------------------------------------------- */

int pkie_ca_store_client_add(struct pkie_ca_store *s, const struct pkie_ca_client *c)
{
    uint8_t blob[GCM_NONCE + PKIE_CA_SECRET_MAX + GCM_TAG];
    sqlite3_stmt *st = NULL;
    int rc;
    if (c->secret_len == 0 || c->secret_len > PKIE_CA_SECRET_MAX || c->ref[0] == '\0')
        return PKIE_ERR(PKIE_ERR_ARG, "client reference and secret (1..%d bytes) required",
                        PKIE_CA_SECRET_MAX);
    pthread_mutex_lock(&s->mu);
    if (!s->unlocked) {
        rc = PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "store is locked");
        goto out;
    }
    if (RAND_bytes(blob, GCM_NONCE) != 1 ||
        gcm(1, s->dek, blob, (const uint8_t *)c->ref, strlen(c->ref), c->secret, c->secret_len,
            blob + GCM_NONCE, blob + GCM_NONCE + c->secret_len) != 0) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encrypt client secret");
        goto out;
    }
    rc = pkie_ca_db_prepare(
        s,
        "INSERT INTO clients(ref,secret,subject_pattern,san_pattern,profile,manual,created)"
        " VALUES(?,?,?,?,?,?,?)",
        &st);
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, c->ref, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, (int)(GCM_NONCE + c->secret_len + GCM_TAG), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->subject_pattern, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->san_pattern, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->profile, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, c->manual);
    sqlite3_bind_int64(st, 7, pkie_ca_now());
    int r = sqlite3_step(st);
    if (r == SQLITE_CONSTRAINT)
        rc = PKIE_ERR(PKIE_ERR_EXISTS, "client '%s' already registered", c->ref);
    else if (r != SQLITE_DONE)
        rc = pkie_ca_db_err(s, "add client");
out:
    sqlite3_finalize(st);
    pkie_wipe(blob, sizeof(blob));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void pkie_ca_copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? (const char *)src : "");
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

int pkie_ca_store_client_get(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c)
{
    sqlite3_stmt *st = NULL;
    memset(c, 0, sizeof(*c));
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
    if (!s->unlocked) {
        rc = PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "store is locked");
        goto out;
    }
    const uint8_t *blob = sqlite3_column_blob(st, 1);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    if (n < GCM_NONCE + GCM_TAG + 1 || n > GCM_NONCE + GCM_TAG + PKIE_CA_SECRET_MAX) {
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "client '%s': secret record malformed", c->ref);
        goto out;
    }
    uint8_t tag[GCM_TAG];
    c->secret_len = n - GCM_NONCE - GCM_TAG;
    memcpy(tag, blob + GCM_NONCE + c->secret_len, GCM_TAG);
    if (gcm(0, s->dek, blob, (const uint8_t *)c->ref, strlen(c->ref), blob + GCM_NONCE,
            c->secret_len, c->secret, tag) != 0) {
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "client '%s': secret does not decrypt", c->ref);
        goto out;
    }
out:
    pkie_ca_stmt_done(st);
    pthread_mutex_unlock(&s->rmu);
    if (rc != 0)
        pkie_wipe(c, sizeof(*c));
    return rc;
}

int pkie_ca_store_client_remove(struct pkie_ca_store *s, const char *ref)
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

int pkie_ca_store_client_list(struct pkie_ca_store *s,
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
