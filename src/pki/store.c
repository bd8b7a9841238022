/* The PKI base file: SQLite schema, password verifier, and the writable handle. */
#include "pki_int.h"

#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char schema_sql[] =
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE meta(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE cert("
    " id TEXT PRIMARY KEY,"
    " type TEXT NOT NULL CHECK(type IN ('root','inter','user')),"
    " der BLOB NOT NULL,"
    " subject TEXT NOT NULL,"
    " issuer TEXT NOT NULL,"
    " serial TEXT NOT NULL,"
    " not_before TEXT NOT NULL,"
    " not_after TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));"
    "CREATE TABLE key("
    " cert_id TEXT PRIMARY KEY REFERENCES cert(id) ON DELETE CASCADE,"
    " algorithm TEXT NOT NULL,"
    " kdf_iter INTEGER NOT NULL,"
    " pkcs8_enc BLOB NOT NULL);"
    "CREATE TABLE crl("
    " id INTEGER PRIMARY KEY,"
    " issuer TEXT NOT NULL UNIQUE,"
    " this_update TEXT NOT NULL,"
    " next_update TEXT,"
    " der BLOB NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));";

int pki_db_err(sqlite3 *db, int rc, const char *what)
{
    int prim = rc & 0xff;
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB || prim == SQLITE_FORMAT)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "%s: %s", what, msg);
    if (prim == SQLITE_NOMEM)
        return PKIE_ERR(PKIE_ERR_NOMEM, "%s: %s", what, msg);
    return PKIE_ERR(PKIE_ERR_PKI_DB, "%s: %s", what, msg);
}

static int exec_sql(sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : pki_db_err(db, rc, what);
}

/* A regular file of ours (or root's) that group and others cannot access. */
static int private_file(const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return PKIE_ERR(PKIE_ERR_PKI_PERM, "%s: not a regular file", path);
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return PKIE_ERR(PKIE_ERR_PKI_PERM, "%s: owned by uid %u, not by this user", path,
                        (unsigned)st->st_uid);
    if ((st->st_mode & 077) != 0)
        return PKIE_ERR(PKIE_ERR_PKI_PERM, "%s: mode %03o, must not be accessible to group/others",
                        path, (unsigned)(st->st_mode & 0777));
    return 0;
}

/* Create the file 0600 if missing; refuse anything but a private regular file. */
static int prepare_file(const char *path, int create)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT)
            return PKIE_ERR(PKIE_ERR_IO, "%s: %s", path, strerror(errno));
        if (!create)
            return PKIE_ERR(PKIE_ERR_NOT_FOUND, "%s: no such PKI base", path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return PKIE_ERR(PKIE_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        /* the umask can only remove bits; make sure of 0600 anyway */
        if (fchmod(fd, 0600) != 0) {
            close(fd);
            return PKIE_ERR(PKIE_ERR_IO, "%s: chmod: %s", path, strerror(errno));
        }
        close(fd);
        return 0;
    }
    int rc = private_file(path, &st);
    /* SQLite replays a WAL it finds at open: its side files must be ours too */
    static const char *const side[] = {"-wal", "-shm"};
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        char sp[PATH_MAX];
        if (snprintf(sp, sizeof(sp), "%s%s", path, side[i]) >= (int)sizeof(sp))
            return PKIE_ERR(PKIE_ERR_ARG, "%s: path too long", path);
        if (lstat(sp, &st) != 0) {
            if (errno != ENOENT)
                return PKIE_ERR(PKIE_ERR_IO, "%s: %s", sp, strerror(errno));
            continue;
        }
        rc = private_file(sp, &st);
    }
    return rc;
}

static int table_exists(sqlite3 *db, const char *name, int *exists)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return pki_db_err(db, rc, "reading the schema");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return pki_db_err(db, rc, "reading the schema");
    *exists = rc == SQLITE_ROW;
    return 0;
}

static int check_schema(sqlite3 *db, int create)
{
    int has_version = 0, has_any = 0, rc;
    if ((rc = table_exists(db, "schema_version", &has_version)) != 0)
        return rc;
    if (!has_version) {
        sqlite3_stmt *st = NULL;
        int r = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
        if (r != SQLITE_OK)
            return pki_db_err(db, r, "reading the schema");
        r = sqlite3_step(st);
        has_any = r == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
        sqlite3_finalize(st);
        if (r != SQLITE_ROW)
            return pki_db_err(db, r, "reading the schema");
        if (has_any || !create)
            return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "not a PKI base (no schema_version table)");
        if ((rc = exec_sql(db, "BEGIN IMMEDIATE", "creating the schema")) != 0)
            return rc;
        if ((rc = exec_sql(db, schema_sql, "creating the schema")) != 0 ||
            (rc = exec_sql(db, "INSERT INTO schema_version(version) VALUES (1)",
                           "creating the schema")) != 0 ||
            (rc = exec_sql(db, "COMMIT", "creating the schema")) != 0) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        return 0;
    }
    sqlite3_stmt *st = NULL;
    int r = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL);
    if (r != SQLITE_OK)
        return pki_db_err(db, r, "reading the schema version");
    r = sqlite3_step(st);
    int version = r == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    int extra = r == SQLITE_ROW && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return pki_db_err(db, r, "reading the schema version");
    if (version < 0 || extra)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "schema_version table must hold one row");
    if (version != PKI_SCHEMA_VERSION)
        return PKIE_ERR(PKIE_ERR_PKI_SCHEMA, "schema version %d, this program knows %d", version,
                        PKI_SCHEMA_VERSION);
    return 0;
}

static int integrity_check(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return pki_db_err(db, rc, "integrity check");
    rc = sqlite3_step(st);
    int ok = rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    char first[128] = "";
    if (rc == SQLITE_ROW && !ok && sqlite3_column_text(st, 0) != NULL)
        snprintf(first, sizeof(first), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return pki_db_err(db, rc, "integrity check");
    if (!ok)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "integrity check failed: %s", first);
    return 0;
}

int pki_db_open(const char *path, int create, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc;
    *out = NULL;
    if (path == NULL || *path == '\0')
        return PKIE_ERR(PKIE_ERR_ARG, "no PKI base file given");
    if ((rc = prepare_file(path, create)) != 0)
        return rc;
    int r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (r != SQLITE_OK) {
        rc = pki_db_err(db, r, path);
        goto err;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    /* The first statement reads the header: a file that is not SQLite fails here. */
    if ((rc = exec_sql(db, "PRAGMA foreign_keys=ON", "enabling foreign keys")) != 0 ||
        (rc = exec_sql(db, "PRAGMA secure_delete=ON", "enabling secure delete")) != 0 ||
        (rc = exec_sql(db, "PRAGMA journal_mode=WAL", "enabling WAL")) != 0 ||
        (rc = integrity_check(db)) != 0 || (rc = check_schema(db, create)) != 0)
        goto err;
    *out = db;
    return 0;
err:
    sqlite3_close(db);
    if (pkie_err_last()->code == rc) { /* name the file in the message */
        char msg[sizeof(pkie_err_last()->msg)];
        snprintf(msg, sizeof(msg), "%s", pkie_err_last()->msg);
        if (strncmp(msg, path, strlen(path)) != 0)
            rc = PKIE_ERR(rc, "%s: %s", path, msg);
    }
    return rc;
}

static int meta_get(sqlite3 *db, const char *name, unsigned char *buf, size_t cap, size_t *len,
                    int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name=?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return pki_db_err(db, rc, "reading meta");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *found = 0;
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (n < 0 || (size_t)n > cap) {
            sqlite3_finalize(st);
            return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "meta %s: %d bytes", name, n);
        }
        if (n > 0)
            memcpy(buf, p, (size_t)n);
        *len = (size_t)n;
        *found = 1;
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : pki_db_err(db, rc, "reading meta");
}

static int meta_put(sqlite3 *db, const char *name, const void *val, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return pki_db_err(db, rc, "writing meta");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, val, (int)len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : pki_db_err(db, rc, "writing meta");
}

int pki_password_check(sqlite3 *db, const char *password, int set_if_none, unsigned iter,
                       int *checked)
{
    int dummy;
    if (checked == NULL)
        checked = &dummy;
    *checked = 0;
    unsigned char salt[PKI_PWCHECK_SALT], check[PKI_PWCHECK_LEN], got[PKI_PWCHECK_LEN];
    unsigned char iterbuf[4];
    size_t salt_len = 0, check_len = 0, iter_len = 0;
    int f1, f2, f3, rc;
    if (strlen(password) > PKI_PASSWORD_MAX)
        return PKIE_ERR(PKIE_ERR_LIMIT, "password longer than %d bytes", PKI_PASSWORD_MAX);
    if ((rc = meta_get(db, "pw_salt", salt, sizeof(salt), &salt_len, &f1)) != 0 ||
        (rc = meta_get(db, "pw_check", check, sizeof(check), &check_len, &f2)) != 0 ||
        (rc = meta_get(db, "pw_iter", iterbuf, sizeof(iterbuf), &iter_len, &f3)) != 0)
        return rc;
    if (!f1 && !f2 && !f3) {
        if (!set_if_none)
            return 0; /* no key was ever stored: nothing to check against */
        if (RAND_bytes(salt, sizeof(salt)) != 1)
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "RAND_bytes");
        if ((rc = pki_pbkdf2(password, salt, sizeof(salt), iter, check, sizeof(check))) != 0)
            return rc;
        iterbuf[0] = (unsigned char)(iter >> 24);
        iterbuf[1] = (unsigned char)(iter >> 16);
        iterbuf[2] = (unsigned char)(iter >> 8);
        iterbuf[3] = (unsigned char)iter;
        /* the caller holds a write transaction: no other writer can race us here */
        rc = meta_put(db, "pw_salt", salt, sizeof(salt));
        if (rc == 0)
            rc = meta_put(db, "pw_iter", iterbuf, sizeof(iterbuf));
        if (rc == 0)
            rc = meta_put(db, "pw_check", check, sizeof(check));
        pkie_wipe(check, sizeof(check));
        *checked = rc == 0;
        return rc;
    }
    if (!f1 || !f2 || !f3 || salt_len != sizeof(salt) || check_len != sizeof(check) ||
        iter_len != sizeof(iterbuf))
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "password check record incomplete");
    unsigned stored_iter = (unsigned)iterbuf[0] << 24 | (unsigned)iterbuf[1] << 16 |
                           (unsigned)iterbuf[2] << 8 | iterbuf[3];
    if (stored_iter < 1000 || stored_iter > 100000000u)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "password check: iteration count %u", stored_iter);
    if ((rc = pki_pbkdf2(password, salt, sizeof(salt), stored_iter, got, sizeof(got))) != 0)
        return rc;
    int same = pkie_memeq_ct(got, check, sizeof(got)) == 0; /* 0 = equal */
    pkie_wipe(got, sizeof(got));
    if (!same)
        return PKIE_ERR(PKIE_ERR_PKI_PASSWORD, "the password does not open this PKI base");
    *checked = 1;
    return 0;
}

int pkie_pki_store_open(const char *path, const char *password, int create,
                        struct pkie_pki_store **out)
{
    struct pkie_pki_store *st = NULL;
    int rc;
    if (out == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_store_open: out is NULL");
    *out = NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "store handle");
    st->kdf_iter = PKIE_PKI_KDF_ITER_DEFAULT;
    if ((rc = pki_db_open(path, create, &st->db)) != 0)
        goto err;
    if (password != NULL) {
        /* the verifier is created with the first key (pkie_pki_store_add) */
        if ((rc = pki_password_check(st->db, password, 0, 0, &st->pw_checked)) != 0)
            goto err;
        st->password = strdup(password);
        if (st->password == NULL) {
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "password copy");
            goto err;
        }
    }
    *out = st;
    return 0;
err:
    pkie_pki_store_close(st);
    return rc;
}

void pkie_pki_store_close(struct pkie_pki_store *st)
{
    if (st == NULL)
        return;
    if (st->db != NULL)
        sqlite3_close(st->db);
    pkie_wipe_free_str(st->password);
    free(st);
}

int pkie_pki_store_set_kdf_iter(struct pkie_pki_store *st, unsigned iter)
{
    if (st == NULL || iter < PKIE_PKI_KDF_ITER_MIN || iter > 100000000u)
        return PKIE_ERR(PKIE_ERR_ARG, "KDF iteration count %u out of range (%u..100000000)", iter,
                        PKIE_PKI_KDF_ITER_MIN);
    st->kdf_iter = iter;
    return 0;
}
