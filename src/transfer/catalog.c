/* The transfer catalog in SQLite (catalog.h, docs/catalog.md). */
#include "catalog.h"

#include "audit_line.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { ST_FIND, ST_UPDATE, ST_INSERT, ST_META, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_N };

struct pkie_xfer_catalog {
    sqlite3 *db;
    char dir[4];            /* "in" / "out" ("" for read-only / admin use) */
    sqlite3_stmt *st[ST_N]; /* the writer's statements, prepared once */
};

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER);"
    "CREATE TABLE IF NOT EXISTS transfers("
    " seq INTEGER PRIMARY KEY,"
    " tid TEXT,"
    " direction TEXT NOT NULL CHECK(direction IN ('in','out')),"
    " partner TEXT, peer_subject TEXT, peer_serial TEXT,"
    " file TEXT, size INTEGER,"
    " bytes TEXT NOT NULL, resume_offsets TEXT NOT NULL,"
    " started INTEGER NOT NULL, ended INTEGER NOT NULL,"
    " result TEXT NOT NULL, error TEXT, sha256 TEXT,"
    " tls_version TEXT, cipher TEXT, global_area TEXT,"
    " audit_end INTEGER);" /* the audit file's size after this row's line */
    "CREATE INDEX IF NOT EXISTS transfers_tid ON transfers(tid, direction);";

static const char *const write_sql[ST_N] = {
    [ST_FIND] = "SELECT seq FROM transfers WHERE tid = ?1 AND direction = ?2 AND partner IS ?3"
                " AND result <> 'ok' ORDER BY seq DESC LIMIT 1",
    [ST_UPDATE] = "UPDATE transfers SET peer_subject = ?1, peer_serial = ?2, file = ?3, size = ?4,"
                  " bytes = json_insert(bytes, '$[#]', ?5),"
                  " resume_offsets = json_insert(resume_offsets, '$[#]', ?6), ended = ?7,"
                  " result = ?8, error = ?9, sha256 = ?10, tls_version = ?11, cipher = ?12,"
                  " global_area = ?13, audit_end = ?18 WHERE seq = ?14",
    [ST_INSERT] = "INSERT INTO transfers(peer_subject, peer_serial, file, size, bytes,"
                  " resume_offsets, ended, result, error, sha256, tls_version, cipher,"
                  " global_area, tid, direction, partner, started, audit_end)"
                  " VALUES(?1, ?2, ?3, ?4, CASE WHEN ?5 IS NULL THEN '[]' ELSE json_array(?5) END,"
                  " CASE WHEN ?6 IS NULL THEN '[]' ELSE json_array(?6) END,"
                  " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    [ST_META] = "INSERT INTO meta(key, value) VALUES('audit_end', ?1), ('audit_checked_at', ?2)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

static int db_err(sqlite3 *db, const char *what)
{
    return PKIE_ERR(PKIE_ERR_IO, "catalog: %s: %s", what, db ? sqlite3_errmsg(db) : "no memory");
}

int64_t pkie_xfer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pkie_xfer_catalog_close(struct pkie_xfer_catalog *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c);
}

/* Create the schema in an empty database, or check the version of an existing one. */
static int schema(struct pkie_xfer_catalog *c, const char *path, int writable)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                " AND name = 'schema_version'",
                                -1, &st, NULL);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog %s: not a database (%s)", path,
                        sqlite3_errmsg(c->db));
    if (rc != SQLITE_OK)
        return db_err(c->db, path);
    rc = sqlite3_step(st);
    int have = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog %s: not a database (%s)", path,
                        sqlite3_errmsg(c->db));
    if (have < 0)
        return db_err(c->db, path);
    if (have == 0) {
        sqlite3_stmt *n = NULL;
        int tables = -1;
        if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master", -1, &n, NULL) ==
                SQLITE_OK &&
            sqlite3_step(n) == SQLITE_ROW)
            tables = sqlite3_column_int(n, 0);
        sqlite3_finalize(n);
        if (tables != 0)
            return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog %s: a database, but not a pkie catalog",
                            path);
        if (!writable)
            return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog %s: empty (no schema)", path);
        /* IF NOT EXISTS: two writers starting at once both get through */
        char *emsg = NULL;
        static const char fmt[] = "BEGIN IMMEDIATE;%s"
                                  "INSERT INTO schema_version(version) SELECT %d"
                                  " WHERE NOT EXISTS (SELECT 1 FROM schema_version);COMMIT;";
        size_t fl = sizeof(fmt) + strlen(schema_sql) + 16;
        char *full = malloc(fl);
        if (full == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "catalog");
        snprintf(full, fl, fmt, schema_sql, PKIE_XFER_CATALOG_SCHEMA);
        rc = sqlite3_exec(c->db, full, NULL, NULL, &emsg);
        free(full);
        if (rc != SQLITE_OK) {
            int e = PKIE_ERR(PKIE_ERR_IO, "catalog %s: creating the schema: %s", path,
                             emsg ? emsg : sqlite3_errmsg(c->db));
            sqlite3_free(emsg);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
        return 0;
    }
    int version = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version != PKIE_XFER_CATALOG_SCHEMA)
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED,
                        "catalog %s: schema version %d, this pkie reads version %d", path, version,
                        PKIE_XFER_CATALOG_SCHEMA);
    return 0;
}

/* mode: 0 read-only, 1 writer, 2 admin (read-write, no direction). */
static int open_db(const char *path, int mode, const char *dir, struct pkie_xfer_catalog **out)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return PKIE_ERR(PKIE_ERR_ARG, "catalog: no path");
    struct stat sb;
    if (mode != 1 && stat(path, &sb) != 0) {
        if (errno == ENOENT)
            return PKIE_ERR(PKIE_ERR_NOT_FOUND, "catalog %s does not exist", path);
        return PKIE_ERR(PKIE_ERR_IO, "catalog %s: %s", path, strerror(errno));
    }
    if (mode == 1) {
        /* create it ourselves so that its mode is 0640 (SQLite gives the -wal
         * and -shm files the mode of the database) */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
        if (fd < 0) {
            int e = errno;
            return PKIE_ERR(PKIE_ERR_IO, "catalog %s: %s%s", path, strerror(e),
                            e == EROFS || e == EACCES || e == EPERM
                                ? " (set catalog = PATH in a writable directory, e.g. the "
                                  "service's state directory, or catalog = none)"
                                : "");
        }
        int ok = fstat(fd, &sb) == 0;
        close(fd);
        if (!ok)
            return PKIE_ERR(PKIE_ERR_IO, "catalog %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return PKIE_ERR(PKIE_ERR_IO, "catalog %s: not a regular file", path);
    if (mode != 0 && (sb.st_mode & S_IWOTH))
        return PKIE_ERR(PKIE_ERR_PERM, "catalog %s: writable by others (mode %04o): refused", path,
                        (unsigned)(sb.st_mode & 07777));
    struct pkie_xfer_catalog *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "catalog");
    if (dir != NULL)
        snprintf(c->dir, sizeof(c->dir), "%s", dir);
    int flags = (mode == 0 ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_NOFOLLOW;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        rc = PKIE_ERR(PKIE_ERR_IO, "catalog %s: %s", path,
                      c->db ? sqlite3_errmsg(c->db) : "no memory");
        pkie_xfer_catalog_close(c);
        return rc;
    }
    sqlite3_extended_result_codes(c->db, 0);
    sqlite3_busy_timeout(c->db, PKIE_XFER_CATALOG_BUSY_MS);
    char *emsg = NULL;
    if (mode != 0 && sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                                  NULL, NULL, &emsg) != SQLITE_OK) {
        int nadb = sqlite3_errcode(c->db) == SQLITE_NOTADB;
        rc = nadb ? PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog %s: not a database (%s)", path,
                             emsg ? emsg : "")
                  : PKIE_ERR(PKIE_ERR_IO, "catalog %s: %s", path, emsg ? emsg : "");
        sqlite3_free(emsg);
        pkie_xfer_catalog_close(c);
        return rc;
    }
    if ((rc = schema(c, path, mode != 0)) != 0) {
        pkie_xfer_catalog_close(c);
        return rc;
    }
    if (mode == 1)
        for (int i = 0; i < ST_N; i++)
            if (sqlite3_prepare_v3(c->db, write_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
                                   NULL) != SQLITE_OK) {
                rc = db_err(c->db, "preparing statements");
                pkie_xfer_catalog_close(c);
                return rc;
            }
    *out = c;
    return 0;
}

int pkie_xfer_catalog_dir_check(const char *path, const char *dir)
{
    if (path == NULL || dir == NULL)
        return 0;
    char *copy = strdup(path);
    if (copy == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "catalog");
    char *slash = strrchr(copy, '/');
    const char *parent = slash == NULL ? "." : slash == copy ? "/" : (*slash = '\0', copy);
    char *rp = realpath(parent, NULL), *rd = realpath(dir, NULL);
    int rc = 0;
    if (rp == NULL || rd == NULL) {
        rc = PKIE_ERR(PKIE_ERR_IO, "catalog %s: directory %s: %s", path, rp ? dir : parent,
                      strerror(errno));
    } else {
        size_t n = strlen(rd);
        if (strncmp(rp, rd, n) == 0 && (rp[n] == '\0' || rp[n] == '/' || n == 1))
            rc = PKIE_ERR(PKIE_ERR_CONF_VALUE,
                          "catalog %s lies in the destination directory %s: put it outside "
                          "(docs/catalog.md)",
                          path, dir);
    }
    free(rp);
    free(rd);
    free(copy);
    return rc;
}

int pkie_xfer_catalog_open(const char *path, const char *dir, struct pkie_xfer_catalog **out)
{
    if (dir == NULL || (strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0))
        return PKIE_ERR(PKIE_ERR_ARG, "catalog: direction must be in or out");
    return open_db(path, 1, dir, out);
}

int pkie_xfer_catalog_open_ro(const char *path, struct pkie_xfer_catalog **out)
{
    return open_db(path, 0, NULL, out);
}

int pkie_xfer_catalog_open_admin(const char *path, struct pkie_xfer_catalog **out)
{
    return open_db(path, 2, NULL, out);
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Bind the columns shared by UPDATE and INSERT (?1 .. ?13) from @p ev. */
static void bind_common(sqlite3_stmt *st, const struct pkie_xfer_catalog_event *ev, int64_t now)
{
    const struct pkie_xfer_peer *p = ev->file ? ev->file->peer : ev->refusal->peer;
    const struct pkie_xfer_peer empty = {0};
    if (p == NULL)
        p = &empty;
    char sha[65], ga[129];
    bind_str(st, 1, p->subject);
    bind_str(st, 2, p->serial);
    if (ev->file != NULL) {
        const struct pkie_xfer_audit_rec *r = ev->file;
        size_t n = r->file == NULL ? 0 : r->file_len ? r->file_len : strlen(r->file);
        if (r->file == NULL)
            sqlite3_bind_null(st, 3);
        else
            sqlite3_bind_text(st, 3, r->file, (int)n, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)r->size);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)r->bytes);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)r->resume_offset);
        bind_str(st, 8, r->result ? r->result : "failed");
        bind_str(st, 9, r->error);
        bind_str(st, 10, r->sha256 ? pkie_xfer_hex(r->sha256, 32, sha) : NULL);
    } else {
        for (int i = 3; i <= 6; i++)
            sqlite3_bind_null(st, i);
        bind_str(st, 8, "refused");
        bind_str(st, 9, ev->refusal->reason ? ev->refusal->reason : "refused");
        sqlite3_bind_null(st, 10);
    }
    sqlite3_bind_int64(st, 7, now);
    /* null for a refused session (docs/catalog.md): its audit line has none,
     * and the startup replay must give the same row */
    const struct pkie_xfer_peer *tp = ev->file ? p : &empty;
    bind_str(st, 11, tp->tls_version);
    bind_str(st, 12, tp->cipher);
    bind_str(st, 13, tp->global_area ? pkie_xfer_hex(tp->global_area, 64, ga) : NULL);
}

static int step_done(struct pkie_xfer_catalog *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_err(c->db, what);
}

/* The statements of one event, inside the transaction. */
static int put_rows(struct pkie_xfer_catalog *c, const struct pkie_xfer_catalog_event *ev,
                    int64_t audit_end, int64_t now)
{
    const struct pkie_xfer_peer *p = ev->file ? ev->file->peer : ev->refusal->peer;
    const char *partner = p ? p->partner : NULL;
    const char *dir = c->dir;
    char tid[2 * PKIE_XFER_TID_LEN + 1];
    int64_t seq = -1;
    if (ev->refusal != NULL)
        dir = ev->refusal->side && strcmp(ev->refusal->side, "sender") == 0 ? "out" : "in";
    if (ev->file != NULL && ev->file->tid != NULL) {
        pkie_xfer_hex(ev->file->tid, PKIE_XFER_TID_LEN, tid);
        sqlite3_stmt *f = c->st[ST_FIND];
        bind_str(f, 1, tid);
        bind_str(f, 2, dir);
        bind_str(f, 3, partner);
        int rc = sqlite3_step(f);
        if (rc == SQLITE_ROW)
            seq = sqlite3_column_int64(f, 0);
        sqlite3_reset(f);
        sqlite3_clear_bindings(f);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_err(c->db, "looking the transfer up");
    }
    int rc;
    if (seq >= 0) {
        sqlite3_stmt *u = c->st[ST_UPDATE];
        bind_common(u, ev, now);
        sqlite3_bind_int64(u, 14, seq);
        if (audit_end >= 0)
            sqlite3_bind_int64(u, 18, audit_end);
        rc = step_done(c, u, "updating the record");
    } else {
        sqlite3_stmt *in = c->st[ST_INSERT];
        bind_common(in, ev, now);
        bind_str(in, 14, ev->file && ev->file->tid ? tid : NULL);
        bind_str(in, 15, dir);
        bind_str(in, 16, partner);
        int64_t dur = ev->file                       ? (int64_t)ev->file->duration_ms
                      : ev->refusal->duration_ms > 0 ? ev->refusal->duration_ms
                                                     : 0;
        sqlite3_bind_int64(in, 17, now - dur);
        if (audit_end >= 0)
            sqlite3_bind_int64(in, 18, audit_end);
        rc = step_done(c, in, "inserting the record");
    }
    return rc;
}

static int valid_event(const struct pkie_xfer_catalog_event *ev)
{
    return ev != NULL && (ev->file == NULL) != (ev->refusal == NULL);
}

/* End the transaction begun by the caller after its statements returned
 * @p rc: meta's audit_end := @p meta_end (when not negative) and commit, or
 * roll back. */
static int end_tx(struct pkie_xfer_catalog *c, int rc, int64_t meta_end)
{
    if (rc == 0 && meta_end >= 0) {
        sqlite3_bind_int64(c->st[ST_META], 1, (sqlite3_int64)meta_end);
        sqlite3_bind_int64(c->st[ST_META], 2, pkie_xfer_now_ms());
        rc = step_done(c, c->st[ST_META], "recording the audit offset");
    }
    if (rc == 0)
        rc = step_done(c, c->st[ST_COMMIT], "commit");
    if (rc != 0 && !sqlite3_get_autocommit(c->db))
        (void)step_done(c, c->st[ST_ROLLBACK], "rollback");
    return rc;
}

/* @p n items in one transaction (and meta's audit_end := @p meta_end when it
 * is not negative). */
static int put_tx(struct pkie_xfer_catalog *c, const struct pkie_xfer_catalog_item *it, size_t n,
                  int64_t meta_end)
{
    int rc = step_done(c, c->st[ST_BEGIN], "begin");
    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = valid_event(it[i].ev) ? put_rows(c, it[i].ev, it[i].audit_end, it[i].ended_ms)
                                   : PKIE_ERR(PKIE_ERR_ARG, "catalog: no event");
    return end_tx(c, rc, meta_end);
}

size_t pkie_xfer_catalog_put_many(struct pkie_xfer_catalog *c,
                                  const struct pkie_xfer_catalog_item *it, size_t n)
{
    if (c == NULL || n == 0)
        return 0;
    if (c->st[ST_BEGIN] == NULL) {
        pkie_log_error("catalog", "catalog not opened for writing: %zu record(s) lost", n);
        return n;
    }
    if (put_tx(c, it, n, -1) == 0)
        return 0;
    /* one bad record loses only itself: each alone */
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        if (put_tx(c, &it[i], 1, -1) != 0) {
            failed++;
            pkie_log_error("catalog", "catalog write failed: %s", pkie_err_last()->msg);
        }
    return failed;
}

int pkie_xfer_catalog_put(struct pkie_xfer_catalog *c, const struct pkie_xfer_catalog_event *ev,
                          int64_t audit_end)
{
    if (c == NULL)
        return 0;
    if (c->st[ST_BEGIN] == NULL || !valid_event(ev))
        return PKIE_ERR(PKIE_ERR_ARG, "catalog: not opened for writing, or no event");
    struct pkie_xfer_catalog_item it = {
        .ev = ev, .audit_end = audit_end, .ended_ms = pkie_xfer_now_ms()};
    return put_tx(c, &it, 1, -1);
}

static int prep(struct pkie_xfer_catalog *c, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog: corrupted (%s)", sqlite3_errmsg(c->db));
    return rc == SQLITE_OK ? 0 : db_err(c->db, "query");
}

/* The newest row's audit_end and its ended (-1, INT64_MIN: none; rows keep
 * it, so a commit writes no extra page), and meta's (the previous check's or
 * purge's). Scans the rows: startup and purge only. */
static int last_audit_end(struct pkie_xfer_catalog *c, int64_t *end, int64_t *at, int64_t *mend,
                          int64_t *mat)
{
    *end = *mend = -1;
    *at = *mat = INT64_MIN;
    sqlite3_stmt *st = NULL;
    int rc = prep(c,
                  "SELECT audit_end, ended FROM transfers WHERE audit_end IS NOT NULL"
                  " ORDER BY ended DESC, seq DESC LIMIT 1",
                  &st);
    if (rc != 0)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *end = sqlite3_column_int64(st, 0);
        *at = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return db_err(c->db, "reading the audit offset");
    rc = prep(c,
              "SELECT m.value, t.value FROM meta m, meta t WHERE m.key = 'audit_end'"
              " AND t.key = 'audit_checked_at'",
              &st);
    if (rc != 0)
        return rc;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *mend = sqlite3_column_int64(st, 0);
        *mat = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : db_err(c->db, "reading the audit offset");
}

int pkie_xfer_catalog_replay_buf(struct pkie_xfer_catalog *c, const char *buf, size_t len,
                                 int64_t base, int64_t meta_end,
                                 struct pkie_xfer_catalog_replay *out)
{
    if (c == NULL || c->st[ST_BEGIN] == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "catalog: not opened for writing");
    sqlite3_stmt *ps = NULL;
    int rc = prep(c, pkie_xfer_audit_line_sql, &ps);
    if (rc == 0)
        rc = step_done(c, c->st[ST_BEGIN], "begin");
    size_t off = 0;
    while (rc == 0 && off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (nl == NULL) {
            out->cut = 1; /* a line cut at the end: never replayed */
            break;
        }
        size_t ll = (size_t)(nl - (buf + off));
        int64_t end = base + (int64_t)(off + ll + 1);
        struct pkie_xfer_audit_line l;
        int e = pkie_xfer_audit_line_parse(ps, buf + off, ll, &l);
        if (e == 0)
            e = put_rows(c, &l.ev, end, l.time_ms);
        pkie_xfer_audit_line_free(&l);
        if (e == 0) {
            out->replayed++;
        } else {
            if (out->bad++ < 10)
                pkie_log_warn("catalog", "audit line at offset %" PRId64 " not replayed: %s",
                              base + (int64_t)off, pkie_err_last()->msg);
            if (out->first_bad < 0)
                out->first_bad = base + (int64_t)off;
        }
        off += ll + 1;
    }
    sqlite3_finalize(ps);
    rc = end_tx(c, rc, meta_end);
    if (rc != 0)
        out->replayed = 0;
    return rc;
}

int pkie_xfer_catalog_replay(struct pkie_xfer_catalog *c, int audit_fd, int64_t cap,
                             struct pkie_xfer_catalog_replay *out)
{
    *out = (struct pkie_xfer_catalog_replay){.from = -1, .first_bad = -1};
    struct stat sb;
    if (c == NULL || audit_fd < 0)
        return 0;
    if (c->st[ST_BEGIN] == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "catalog: not opened for writing");
    if (fstat(audit_fd, &sb) != 0)
        return PKIE_ERR(PKIE_ERR_IO, "audit file: %s", strerror(errno));
    int64_t end, at, mend, mat;
    int rc = last_audit_end(c, &end, &at, &mend, &mat);
    if (rc != 0)
        return rc;
    /* the last commit's end: the newest row's, unless meta (a previous
     * replay, or a purge) is newer; in the same millisecond, the larger
     * (a file only grows between two of them) */
    int64_t recorded = mat > at ? mend : mat < at ? end : (mend > end ? mend : end);
    int64_t size = (int64_t)sb.st_size;
    out->from = recorded;
    out->size = size;
    if (recorded == size)
        return 0;
    if (recorded > size)
        out->shorter = recorded - size;
    else if (recorded >= 0 && size - recorded > cap)
        out->skipped = size - recorded;
    if (recorded < 0 || recorded > size || out->skipped > 0)
        /* nothing recorded yet (the lines before this catalog are history),
         * rotated, or too much: start from here */
        return put_tx(c, NULL, 0, size);
    size_t n = (size_t)(size - recorded);
    char *buf = malloc(n);
    if (buf == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "catalog: reading the audit file");
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(audit_fd, buf + got, n - got, (off_t)(recorded + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < n) {
        free(buf);
        return PKIE_ERR(PKIE_ERR_IO, "audit file: cannot read %zu bytes at %" PRId64 ": %s", n,
                        recorded, strerror(errno));
    }
    rc = pkie_xfer_catalog_replay_buf(c, buf, n, recorded, size, out);
    free(buf);
    return rc;
}

/* ---- reading ------------------------------------------------------------- */

#define ROW_COLS                                                                                   \
    "seq, coalesce(tid, 'session-' || seq), direction, partner, peer_subject, peer_serial, file,"  \
    " size, bytes, resume_offsets, started, ended, result, error, sha256, tls_version, cipher,"    \
    " global_area"

static const char *col(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL
                                                     : (const char *)sqlite3_column_text(st, i);
}

static int walk(struct pkie_xfer_catalog *c, sqlite3_stmt *st, pkie_xfer_catalog_fn fn, void *arg,
                unsigned *n)
{
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pkie_xfer_catalog_row r = {
            .seq = sqlite3_column_int64(st, 0),
            .id = col(st, 1),
            .direction = col(st, 2),
            .partner = col(st, 3),
            .peer_subject = col(st, 4),
            .peer_serial = col(st, 5),
            .file = col(st, 6),
            .size = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 7),
            .bytes = col(st, 8),
            .resume_offsets = col(st, 9),
            .started_ms = sqlite3_column_int64(st, 10),
            .ended_ms = sqlite3_column_int64(st, 11),
            .result = col(st, 12),
            .error = col(st, 13),
            .sha256 = col(st, 14),
            .tls_version = col(st, 15),
            .cipher = col(st, 16),
            .global_area = col(st, 17),
        };
        r.file_len = r.file ? (size_t)sqlite3_column_bytes(st, 6) : 0;
        (*n)++;
        int u = fn(arg, &r);
        if (u != 0) {
            sqlite3_finalize(st);
            return u;
        }
    }
    int ok = rc == SQLITE_DONE;
    int e = ok ? 0 : db_err(c->db, "reading");
    if (!ok && (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB))
        e = PKIE_ERR(PKIE_ERR_UNSUPPORTED, "catalog: corrupted (%s)", sqlite3_errmsg(c->db));
    sqlite3_finalize(st);
    return e;
}

int pkie_xfer_catalog_list(struct pkie_xfer_catalog *c, const struct pkie_xfer_catalog_filter *f,
                           pkie_xfer_catalog_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(c,
                  "SELECT " ROW_COLS " FROM transfers WHERE (?1 IS NULL OR partner = ?1)"
                  " AND (?2 IS NULL OR result = ?2) AND ended >= ?3 ORDER BY seq",
                  &st);
    if (rc != 0)
        return rc;
    bind_str(st, 1, f ? f->partner : NULL);
    bind_str(st, 2, f ? f->result : NULL);
    sqlite3_bind_int64(st, 3, f ? f->since_ms : INT64_MIN);
    unsigned n;
    return walk(c, st, fn, arg, &n);
}

int pkie_xfer_catalog_show(struct pkie_xfer_catalog *c, const char *id, pkie_xfer_catalog_fn fn,
                           void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(c,
                  "SELECT " ROW_COLS " FROM transfers WHERE coalesce(tid, 'session-' || seq) = ?1"
                  " ORDER BY seq DESC LIMIT 1",
                  &st);
    if (rc != 0)
        return rc;
    bind_str(st, 1, id);
    unsigned n;
    rc = walk(c, st, fn, arg, &n);
    if (rc == 0 && n == 0)
        return PKIE_ERR(PKIE_ERR_NOT_FOUND, "no record with id %s", id);
    return rc;
}

int pkie_xfer_catalog_purge(struct pkie_xfer_catalog *c, int64_t before_ms, uint64_t *removed)
{
    *removed = 0;
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(c->db, "purge: begin");
    /* the last commit's audit_end goes to meta when it is newer than what
     * meta holds: the startup replay still knows it after every row is gone */
    int64_t end = -1, at = INT64_MIN, mend = -1, mat = INT64_MIN;
    int rc = last_audit_end(c, &end, &at, &mend, &mat);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && end >= 0 && at >= mat) {
        rc = prep(c,
                  "INSERT INTO meta(key, value) VALUES('audit_end', ?1), ('audit_checked_at', ?2)"
                  " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  &st);
        if (rc == 0) {
            sqlite3_bind_int64(st, 1, end);
            sqlite3_bind_int64(st, 2, at);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(c->db, "purge: meta");
            sqlite3_finalize(st);
        }
    }
    if (rc == 0 && (rc = prep(c, "DELETE FROM transfers WHERE ended < ?1", &st)) == 0) {
        sqlite3_bind_int64(st, 1, before_ms);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(c->db, "purge");
        sqlite3_finalize(st);
    }
    if (rc == 0) {
        *removed = (uint64_t)sqlite3_changes64(c->db);
        if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = db_err(c->db, "purge: commit");
    }
    if (rc != 0) {
        *removed = 0;
        if (!sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

/* A JSON string (or null): escaped by the audit's escaper, one source of
 * truth for the lossless form (\u0000, \udcXX). */
static int put_str(FILE *out, const char *s, size_t n)
{
    if (s == NULL)
        return fputs("null", out) < 0 ? PKIE_ERR(PKIE_ERR_IO, "output") : 0;
    char *b = NULL;
    size_t l = 0, cap = 0;
    int rc = pkie_xfer_json_escape(&b, &l, &cap, s, n);
    if (rc == 0 && (fputc('"', out) == EOF || fwrite(b, 1, l, out) != l || fputc('"', out) == EOF))
        rc = PKIE_ERR(PKIE_ERR_IO, "output");
    free(b);
    return rc;
}

/* A JSON array kept by SQLite's json functions: emitted as is when it is one
 * (digits, commas, brackets), else null. */
static int put_array(FILE *out, const char *a)
{
    int ok = a != NULL && a[0] == '[';
    for (const char *p = a; ok && *p; p++)
        ok = (*p >= '0' && *p <= '9') || *p == ',' || *p == '[' || *p == ']';
    return fputs(ok ? a : "null", out) < 0 ? PKIE_ERR(PKIE_ERR_IO, "output") : 0;
}

int pkie_xfer_catalog_row_json(const struct pkie_xfer_catalog_row *r, FILE *out)
{
    char st[32], en[32];
    pkie_xfer_time_format(r->started_ms, st);
    pkie_xfer_time_format(r->ended_ms, en);
    struct {
        const char *key;
        const char *v;
        size_t n;
    } s1[] = {
        {"id", r->id, 0},
        {"direction", r->direction, 0},
        {"partner", r->partner, 0},
        {"peer_subject", r->peer_subject, 0},
        {"peer_serial", r->peer_serial, 0},
        {"file", r->file, r->file_len},
    };
    int rc = fputc('{', out) == EOF ? PKIE_ERR(PKIE_ERR_IO, "output") : 0;
    for (size_t i = 0; rc == 0 && i < sizeof(s1) / sizeof(s1[0]); i++) {
        fprintf(out, "%s\"%s\":", i ? "," : "", s1[i].key);
        rc = put_str(out, s1[i].v, s1[i].v ? (s1[i].n ? s1[i].n : strlen(s1[i].v)) : 0);
    }
    if (rc != 0)
        return rc;
    if (r->size >= 0)
        fprintf(out, ",\"size\":%" PRId64, r->size);
    else
        fputs(",\"size\":null", out);
    fputs(",\"bytes\":", out);
    rc = put_array(out, r->bytes);
    if (rc == 0) {
        fputs(",\"resume_offsets\":", out);
        rc = put_array(out, r->resume_offsets);
    }
    if (rc == 0)
        fprintf(out, ",\"started\":\"%s\",\"ended\":\"%s\"", st, en);
    struct {
        const char *key;
        const char *v;
    } s2[] = {
        {"result", r->result},           {"error", r->error},   {"sha256", r->sha256},
        {"tls_version", r->tls_version}, {"cipher", r->cipher}, {"global_area", r->global_area},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(s2) / sizeof(s2[0]); i++) {
        fprintf(out, ",\"%s\":", s2[i].key);
        rc = put_str(out, s2[i].v, s2[i].v ? strlen(s2[i].v) : 0);
    }
    if (rc == 0 && fputc('}', out) == EOF)
        rc = PKIE_ERR(PKIE_ERR_IO, "output");
    return rc;
}

/* ---- TIME ---------------------------------------------------------------- */

void pkie_xfer_time_format(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, 32, "invalid");
        return;
    }
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    size_t n = strlen(tmp);
    n = n < 31 ? n : 31;
    memcpy(out, tmp, n);
    out[n] = '\0';
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Exactly @p n digits at *p: their value, or -1. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    return v;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    const char *p = s;
    int y = digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: expected YYYY-MM-DD", s);
    int mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad month", s);
    int d = digits(&p, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad day of the month", s);
    if (y < 1970)
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: before 1970", s);
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400;
    int64_t ms = 0;
    if (*p == '\0') {
        *out = secs * 1000;
        return 0;
    }
    if (*p != 'T' && *p != 't' && *p != ' ')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: expected T after the date", s);
    p++;
    int h = digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad hour", s);
    int mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad minute", s);
    int se = digits(&p, 2);
    if (se < 0 || se > 60)
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad second", s);
    if (*p == '.') {
        p++;
        int nd = 0, scale = 100;
        for (; *p >= '0' && *p <= '9'; p++, nd++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (nd == 0 || nd > 9)
            return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad fraction of a second", s);
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || *p++ != ':')
            return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad offset hour", s);
        int om = digits(&p, 2);
        if (om < 0 || om > 59)
            return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: bad offset minute", s);
        off = sign * (oh * 3600 + om * 60);
    } else {
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: expected Z or an offset (+hh:mm)", s);
    }
    if (*p != '\0')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: trailing characters", s);
    secs += h * 3600 + mi * 60 + se - off;
    *out = secs * 1000 + ms;
    return 0;
}

int pkie_xfer_time_parse(const char *s, int64_t now_ms, int64_t *out)
{
    if (s == NULL || s[0] == '\0')
        return PKIE_ERR(PKIE_ERR_ARG, "TIME: empty");
    size_t n = strlen(s);
    if (n > 64)
        return PKIE_ERR(PKIE_ERR_ARG, "TIME: too long");
    if (n >= 5 && s[4] == '-')
        return parse_rfc3339(s, out);
    /* a duration: digits and one unit */
    int64_t v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 12)
            return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: duration too long", s);
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0 || i + 1 != n)
        return PKIE_ERR(PKIE_ERR_ARG,
                        "TIME %s: expected RFC 3339 (2026-12-03T22:15:00Z) or a duration (7d, "
                        "12h, 30m, 45s)",
                        s);
    int64_t unit;
    switch (s[i]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: unit must be s, m, h, d or w", s);
    }
    const int64_t max_s = 100LL * 366 * 86400;
    if (v > max_s / unit)
        return PKIE_ERR(PKIE_ERR_ARG, "TIME %s: more than 100 years", s);
    *out = now_ms - v * unit * 1000;
    return 0;
}
