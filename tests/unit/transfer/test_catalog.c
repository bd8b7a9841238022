/* Unit tests: the transfer catalog (catalog.c): TIME parsing, one record per
 * transfer over several sessions, refused sessions, filters, show of an
 * unknown id, purge bounds, lossless escaping of odd names, damaged and
 * foreign files refused, the audit hook, the writer thread's group commit
 * (copies, order across threads, the count and delay triggers, draining, a
 * bad record in a group), the startup replay of audit lines without rows
 * (identical rows, a resumed transfer merged, bad and cut lines), the strict
 * string decoder, the configuration's default path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit_line.h"
#include "catalog.h"
#include "catalog_queue.h"
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char db[128];
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "/tmp/pkie-cat-XXXXXX");
    if (x == NULL || mkdtemp(x->dir) == NULL)
        return -1;
    snprintf(x->db, sizeof(x->db), "%s/t.catalog", x->dir);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
    if (system(cmd) != 0)
        return -1;
    free(x);
    return 0;
}

static void test_time_parse(void **state)
{
    (void)state;
    const int64_t now = 1764800000000; /* 2025-12-03T22:13:20Z */
    int64_t t = 0;
    assert_int_equal(pkie_xfer_time_parse("2026-12-03T22:15:11Z", now, &t), 0);
    assert_int_equal(t, 1796336111000);
    assert_int_equal(pkie_xfer_time_parse("2026-12-03t23:15:11.250+01:00", now, &t), 0);
    assert_int_equal(t, 1796336111250);
    assert_int_equal(pkie_xfer_time_parse("2026-12-03T21:45:11-00:30", now, &t), 0);
    assert_int_equal(t, 1796336111000);
    assert_int_equal(pkie_xfer_time_parse("1970-01-01", now, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(pkie_xfer_time_parse("2024-02-29T00:00:00Z", now, &t), 0);
    assert_int_equal(pkie_xfer_time_parse("7d", now, &t), 0);
    assert_int_equal(t, now - 7 * 86400000LL);
    assert_int_equal(pkie_xfer_time_parse("12h", now, &t), 0);
    assert_int_equal(t, now - 12 * 3600000LL);
    assert_int_equal(pkie_xfer_time_parse("30m", now, &t), 0);
    assert_int_equal(t, now - 30 * 60000LL);
    assert_int_equal(pkie_xfer_time_parse("45s", now, &t), 0);
    assert_int_equal(t, now - 45000);
    assert_int_equal(pkie_xfer_time_parse("2w", now, &t), 0);
    assert_int_equal(t, now - 14 * 86400000LL);
    assert_int_equal(pkie_xfer_time_parse("0s", now, &t), 0);
    assert_int_equal(t, now);
    char f[32];
    pkie_xfer_time_format(1796336111250, f);
    assert_string_equal(f, "2026-12-03T22:15:11.250Z");
    assert_int_equal(pkie_xfer_time_parse(f, now, &t), 0);
    assert_int_equal(t, 1796336111250);

    const char *bad[] = {"",
                         "7",
                         "d",
                         "7x",
                         "-7d",
                         "+7d",
                         "7 d",
                         "7dd",
                         " 7d",
                         "7D",
                         "99999999999999d",
                         "36600d0",
                         "40000d",
                         "2023-02-29",
                         "2100-02-29T00:00:00Z",
                         "2026-13-01",
                         "2026-00-10",
                         "2026-04-31",
                         "2026-12-03T25:00:00Z",
                         "2026-12-03T22:60:00Z",
                         "2026-12-03T22:15:61Z",
                         "2026-12-03T22:15:00",
                         "2026-12-03T22:15:00Zjunk",
                         "2026-12-03T22:15:00.Z",
                         "2026-12-03T22:15:00.1234567890Z",
                         "2026-12-03T22:15:00+1:00",
                         "2026-12-03T22:15:00+24:00",
                         "2026-12-03X22:15:00Z",
                         "2026-1-03",
                         "1969-12-31T23:59:59Z",
                         "yyyy-mm-dd",
                         "2026-12-03T22:15Z",
                         "2026-12-03T22:15:00Z\n",
                         "123456789012345678901234567890123456789012345678901234567890abcdefg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        if (pkie_xfer_time_parse(bad[i], now, &t) != PKIE_ERR_ARG)
            fail_msg("TIME \"%s\" accepted", bad[i]);
        assert_int_equal(t, 42);
    }
    assert_int_equal(pkie_xfer_time_parse(NULL, now, &t), PKIE_ERR_ARG);
}

static const uint8_t tid_a[16] = {0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static struct pkie_xfer_peer peer(const char *partner)
{
    static const uint8_t ga[64] = {0xde, 0xad};
    struct pkie_xfer_peer p = {.partner = partner,
                               .addr = "127.0.0.1:1",
                               .subject = "CN=s1,O=t",
                               .issuer = "CN=root",
                               .serial = "0A",
                               .tls_version = "TLSv1.3",
                               .cipher = "TLS_AES_128_GCM_SHA256",
                               .global_area = ga};
    return p;
}

static int put_file(struct pkie_xfer_catalog *c, const struct pkie_xfer_peer *p, const uint8_t *tid,
                    const char *name, size_t nlen, uint64_t bytes, uint64_t resume,
                    const char *result)
{
    static const uint8_t sha[32] = {0x11};
    struct pkie_xfer_audit_rec r = {.peer = p,
                                    .file = name,
                                    .file_len = nlen,
                                    .tid = tid,
                                    .size = 1000,
                                    .bytes = bytes,
                                    .resume_offset = resume,
                                    .sha256 = strcmp(result, "ok") == 0 ? sha : NULL,
                                    .duration_ms = 5,
                                    .result = result,
                                    .error = strcmp(result, "ok") == 0 ? NULL : "XFER_CLOSED: x"};
    struct pkie_xfer_catalog_event ev = {.file = &r};
    return pkie_xfer_catalog_put(c, &ev, -1);
}

/* Collect rows as JSON text (one per line) and count them. */
struct coll {
    char *buf;
    size_t len;
    FILE *f;
    unsigned n;
    int64_t last_ended;
};

static int collect(void *arg, const struct pkie_xfer_catalog_row *r)
{
    struct coll *c = arg;
    c->n++;
    c->last_ended = r->ended_ms;
    int rc = pkie_xfer_catalog_row_json(r, c->f);
    fputc('\n', c->f);
    return rc;
}

static void coll_open(struct coll *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

static void coll_close(struct coll *c)
{
    fclose(c->f);
    free(c->buf);
}

static void test_records(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_catalog_open(x->db, "sideways", &c), PKIE_ERR_ARG);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    struct stat sb;
    assert_int_equal(stat(x->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777 & ~0640, 0); /* never more than 0640 */
    struct pkie_xfer_peer acme = peer("acme"), beta = peer("beta");
    /* one transfer over two sessions: one record */
    assert_int_equal(put_file(c, &acme, tid_a, "f1", 0, 100, 0, "interrupted"), 0);
    assert_int_equal(put_file(c, &acme, tid_a, "f1", 0, 900, 100, "ok"), 0);
    /* the same id again after ok: a new record; another partner: its own */
    assert_int_equal(put_file(c, &acme, tid_a, "f1", 0, 0, 0, "refused"), 0);
    assert_int_equal(put_file(c, &beta, tid_a, "f1", 0, 7, 0, "failed"), 0);
    /* a refused session */
    struct pkie_xfer_refusal rf = {
        .peer = &acme, .side = "receiver", .alert = 48, .reason = "bad cert", .duration_ms = -1};
    assert_int_equal(
        pkie_xfer_catalog_put(c, &(struct pkie_xfer_catalog_event){.refusal = &rf}, -1), 0);
    /* neither or both events: refused */
    struct pkie_xfer_catalog_event none = {0};
    assert_int_equal(pkie_xfer_catalog_put(c, &none, -1), PKIE_ERR_ARG);
    pkie_xfer_catalog_close(c);

    assert_int_equal(pkie_xfer_catalog_open_ro(x->db, &c), 0);
    struct coll k;
    coll_open(&k);
    struct pkie_xfer_catalog_filter all = {.since_ms = INT64_MIN};
    assert_int_equal(pkie_xfer_catalog_list(c, &all, collect, &k), 0);
    fflush(k.f);
    assert_int_equal(k.n, 4);
    assert_non_null(strstr(k.buf, "{\"id\":\"aa0102030405060708090a0b0c0d0e0f\",\"direction\":"
                                  "\"in\",\"partner\":\"acme\",\"peer_subject\":\"CN=s1,O=t\","
                                  "\"peer_serial\":\"0A\",\"file\":\"f1\",\"size\":1000,"
                                  "\"bytes\":[100,900],\"resume_offsets\":[0,100],"));
    assert_non_null(strstr(k.buf, "\"result\":\"ok\",\"error\":null,\"sha256\":\"11000000"));
    assert_non_null(strstr(k.buf, "\"global_area\":\"dead0000"));
    assert_non_null(strstr(k.buf, "\"bytes\":[0],\"resume_offsets\":[0]"));
    assert_non_null(strstr(k.buf, "{\"id\":\"session-4\",\"direction\":\"in\",\"partner\":"
                                  "\"acme\",\"peer_subject\":\"CN=s1,O=t\",\"peer_serial\":"
                                  "\"0A\",\"file\":null,\"size\":null,\"bytes\":[],"
                                  "\"resume_offsets\":[]"));
    assert_non_null(strstr(k.buf, "\"result\":\"refused\",\"error\":\"bad cert\""));
    coll_close(&k);

    /* filters */
    coll_open(&k);
    struct pkie_xfer_catalog_filter fb = {.partner = "beta", .since_ms = INT64_MIN};
    assert_int_equal(pkie_xfer_catalog_list(c, &fb, collect, &k), 0);
    assert_int_equal(k.n, 1);
    coll_close(&k);
    coll_open(&k);
    struct pkie_xfer_catalog_filter fr = {.result = "refused", .since_ms = INT64_MIN};
    assert_int_equal(pkie_xfer_catalog_list(c, &fr, collect, &k), 0);
    assert_int_equal(k.n, 2);
    coll_close(&k);
    coll_open(&k);
    struct pkie_xfer_catalog_filter fs = {.since_ms = pkie_xfer_now_ms() + 60000};
    assert_int_equal(pkie_xfer_catalog_list(c, &fs, collect, &k), 0);
    assert_int_equal(k.n, 0);
    coll_close(&k);

    /* show: the newest record of an id; unknown ids */
    coll_open(&k);
    assert_int_equal(pkie_xfer_catalog_show(c, "aa0102030405060708090a0b0c0d0e0f", collect, &k), 0);
    fflush(k.f);
    assert_int_equal(k.n, 1);
    assert_non_null(strstr(k.buf, "\"partner\":\"beta\""));
    coll_close(&k);
    coll_open(&k);
    assert_int_equal(pkie_xfer_catalog_show(c, "session-4", collect, &k), 0);
    assert_int_equal(k.n, 1);
    assert_int_equal(pkie_xfer_catalog_show(c, "session-5", collect, &k), PKIE_ERR_NOT_FOUND);
    assert_int_equal(pkie_xfer_catalog_show(c, "ffffffffffffffffffffffffffffffff", collect, &k),
                     PKIE_ERR_NOT_FOUND);
    assert_int_equal(pkie_xfer_catalog_show(c, "' OR 1=1 --", collect, &k), PKIE_ERR_NOT_FOUND);
    assert_int_equal(k.n, 1);
    coll_close(&k);
    /* read-only: a writer's call fails */
    assert_int_equal(put_file(c, &acme, tid_a, "f1", 0, 1, 0, "ok"), PKIE_ERR_ARG);
    pkie_xfer_catalog_close(c);
}

static void test_purge_bounds(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_catalog *c = NULL;
    uint64_t n = 99;
    assert_int_equal(pkie_xfer_catalog_open_admin(x->db, &c), PKIE_ERR_NOT_FOUND);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "out", &c), 0);
    assert_int_equal(pkie_xfer_catalog_purge(c, INT64_MAX, &n), 0); /* empty */
    assert_int_equal(n, 0);
    struct pkie_xfer_peer p = peer("acme");
    assert_int_equal(put_file(c, &p, tid_a, "one", 0, 1000, 0, "ok"), 0);
    struct coll k;
    coll_open(&k);
    struct pkie_xfer_catalog_filter all = {.since_ms = INT64_MIN};
    assert_int_equal(pkie_xfer_catalog_list(c, &all, collect, &k), 0);
    int64_t ended = k.last_ended;
    coll_close(&k);
    /* strictly before: a record that ended at TIME stays */
    assert_int_equal(pkie_xfer_catalog_purge(c, INT64_MIN, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pkie_xfer_catalog_purge(c, ended, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pkie_xfer_catalog_purge(c, ended + 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pkie_xfer_catalog_purge(c, INT64_MAX, &n), 0);
    assert_int_equal(n, 0);
    pkie_xfer_catalog_close(c);
}

static void test_escaping(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    struct pkie_xfer_peer p = peer("we\"ird\\");
    /* NUL, a byte that is not UTF-8, a newline, a quote, ESC, valid UTF-8 */
    const char name[] = "a\0b\xe9\n\"\x1b\xc3\xa9";
    assert_int_equal(put_file(c, &p, tid_a, name, sizeof(name) - 1, 1, 0, "ok"), 0);
    pkie_xfer_catalog_close(c);
    assert_int_equal(pkie_xfer_catalog_open_ro(x->db, &c), 0);
    struct coll k;
    coll_open(&k);
    assert_int_equal(pkie_xfer_catalog_show(c, "aa0102030405060708090a0b0c0d0e0f", collect, &k), 0);
    fflush(k.f);
    assert_non_null(strstr(k.buf, "\"file\":\"a\\u0000b\\udce9\\n\\\"\\u001b\xc3\xa9\""));
    assert_non_null(strstr(k.buf, "\"partner\":\"we\\\"ird\\\\\""));
    /* the audit formats the same name the same way: one escaper */
    struct pkie_xfer_audit_rec r = {.peer = &p, .file = name, .file_len = sizeof(name) - 1};
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(pkie_xfer_audit_format(&r, &line, &len), 0);
    assert_non_null(strstr(line, "\"file\":\"a\\u0000b\\udce9\\n\\\"\\u001b\xc3\xa9\""));
    free(line);
    coll_close(&k);
    pkie_xfer_catalog_close(c);
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void test_damaged(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_catalog *c = NULL;
    char p[192];
    /* missing: read-only and admin opens do not create */
    assert_int_equal(pkie_xfer_catalog_open_ro(x->db, &c), PKIE_ERR_NOT_FOUND);
    assert_int_equal(access(x->db, F_OK), -1);
    /* garbage */
    char junk[8192];
    memset(junk, 'J', sizeof(junk));
    write_file(x->db, junk, sizeof(junk), 0600);
    assert_int_equal(pkie_xfer_catalog_open_ro(x->db, &c), PKIE_ERR_UNSUPPORTED);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), PKIE_ERR_UNSUPPORTED);
    assert_null(c);
    /* empty file: read-only has no schema */
    write_file(x->db, "", 0, 0600);
    assert_int_equal(pkie_xfer_catalog_open_ro(x->db, &c), PKIE_ERR_UNSUPPORTED);
    /* another application's database */
    snprintf(p, sizeof(p), "%s/other.db", x->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pkie_xfer_catalog_open(p, "in", &c), PKIE_ERR_UNSUPPORTED);
    /* a newer schema */
    unlink(x->db);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    pkie_xfer_catalog_close(c);
    assert_int_equal(sqlite3_open(x->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pkie_xfer_catalog_open_ro(x->db, &c), PKIE_ERR_UNSUPPORTED);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), PKIE_ERR_UNSUPPORTED);
    /* world-writable: refused for writing */
    unlink(x->db);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    pkie_xfer_catalog_close(c);
    assert_int_equal(chmod(x->db, 0666), 0);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), PKIE_ERR_PERM);
    assert_int_equal(pkie_xfer_catalog_open_admin(x->db, &c), PKIE_ERR_PERM);
    assert_int_equal(chmod(x->db, 0600), 0);
    /* a symbolic link is not followed */
    snprintf(p, sizeof(p), "%s/link.catalog", x->dir);
    assert_int_equal(symlink(x->db, p), 0);
    assert_int_equal(pkie_xfer_catalog_open(p, "in", &c), PKIE_ERR_IO);
    /* records, then every page after the first overwritten: reading fails */
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    struct pkie_xfer_peer pe = peer("acme");
    for (int i = 0; i < 50; i++) {
        uint8_t t[16] = {(uint8_t)i, 1};
        assert_int_equal(put_file(c, &pe, t, "some file name", 0, 1000, 0, "ok"), 0);
    }
    pkie_xfer_catalog_close(c); /* the last connection: WAL checkpointed into the file */
    struct stat sb;
    assert_int_equal(stat(x->db, &sb), 0);
    assert_true(sb.st_size > 4096);
    int fd = open(x->db, O_WRONLY);
    assert_true(fd >= 0);
    for (off_t o = 4096; o < sb.st_size; o += (off_t)sizeof(junk))
        assert_true(pwrite(fd, junk, sizeof(junk), o) > 0);
    close(fd);
    int rc = pkie_xfer_catalog_open_ro(x->db, &c);
    if (rc == 0) {
        struct coll k;
        coll_open(&k);
        struct pkie_xfer_catalog_filter all = {.since_ms = INT64_MIN};
        rc = pkie_xfer_catalog_list(c, &all, collect, &k);
        coll_close(&k);
        pkie_xfer_catalog_close(c);
    }
    assert_int_not_equal(rc, 0);
}

/* Every row of @p path as JSON lines (a read-only connection: it sees what
 * the writer committed). */
static unsigned rows_json(const char *path, char **out)
{
    struct pkie_xfer_catalog *c = NULL;
    struct coll k;
    coll_open(&k);
    unsigned n = 0;
    if (pkie_xfer_catalog_open_ro(path, &c) == 0) {
        struct pkie_xfer_catalog_filter all = {.since_ms = INT64_MIN};
        assert_int_equal(pkie_xfer_catalog_list(c, &all, collect, &k), 0);
        pkie_xfer_catalog_close(c);
        n = k.n;
    }
    fclose(k.f);
    if (out != NULL)
        *out = k.buf;
    else
        free(k.buf);
    return n;
}

static void test_audit_hook(void **state)
{
    struct fx *x = *state;
    char ap[192];
    snprintf(ap, sizeof(ap), "%s/audit.log", x->dir);
    struct pkie_xfer_audit *a = NULL;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    pkie_xfer_audit_set_catalog(a, c);
    struct pkie_xfer_peer p = peer("acme");
    struct pkie_xfer_audit_rec r = {
        .peer = &p, .file = "f", .tid = tid_a, .size = 3, .bytes = 3, .result = "ok"};
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    struct pkie_xfer_refusal rf = {.peer = &p, .side = "receiver", .alert = -1, .reason = "no"};
    assert_int_equal(pkie_xfer_audit_refusal(a, &rf), 0);
    /* the sender's files: a row without an audit line */
    uint8_t t2[16] = {2};
    r.tid = t2;
    assert_int_equal(pkie_xfer_audit_catalog(a, &r), 0);
    pkie_xfer_audit_close(a); /* drains the writer */
    assert_int_equal(rows_json(x->db, NULL), 3);
    /* a line whose row was lost (written by a sink without catalog): the
     * next sink with the catalog replays it */
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    uint8_t t3[16] = {3};
    r.tid = t3;
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    pkie_xfer_audit_close(a);
    assert_int_equal(rows_json(x->db, NULL), 3);
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    pkie_xfer_audit_set_catalog(a, c);
    assert_int_equal(rows_json(x->db, NULL), 4);
    pkie_xfer_audit_close(a);
    /* the catalog agrees with the audit file: nothing to replay */
    int fd = open(ap, O_RDWR | O_APPEND);
    assert_true(fd >= 0);
    struct pkie_xfer_catalog_replay st;
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st), 0);
    assert_int_equal(st.replayed + st.bad + (uint64_t)st.shorter + (uint64_t)st.skipped, 0);
    /* a line the catalog lacks that is no audit line: counted, recorded once */
    const char line[] = "{\"result\":\"ok\"}\n";
    assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st), 0);
    assert_int_equal(st.replayed, 0);
    assert_int_equal(st.bad, 1);
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st), 0);
    assert_int_equal(st.bad, 0);
    /* over the cap: not read, recorded */
    assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 4, &st), 0);
    assert_int_equal(st.skipped, (int64_t)sizeof(line) - 1);
    assert_int_equal(st.bad, 0);
    /* rotated: shorter */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st), 0);
    assert_true(st.shorter > 0);
    close(fd);
    assert_int_equal(rows_json(x->db, NULL), 4);
    /* a purge of every row keeps the last commit's end for the replay (a
     * commit after the replay: times are in milliseconds) */
    usleep(3000);
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    pkie_xfer_audit_set_catalog(a, c);
    r.tid = tid_a;
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    pkie_xfer_audit_close(a);
    uint64_t purged = 0;
    assert_int_equal(pkie_xfer_catalog_purge(c, INT64_MAX, &purged), 0);
    assert_int_equal(purged, 5);
    fd = open(ap, O_RDWR | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st), 0);
    assert_int_equal(st.replayed + st.bad, 0);
    assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st), 0);
    assert_int_equal(st.bad, 1);
    close(fd);
    pkie_xfer_catalog_close(c);
    /* a sink without an audit file (a sender with a catalog only) */
    assert_int_equal(pkie_xfer_audit_open(NULL, &a), 0);
    pkie_xfer_audit_set_catalog(a, NULL);
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    assert_int_equal(pkie_xfer_audit_catalog(a, &r), 0);
    pkie_xfer_audit_close(a);
}

/* ---- the writer thread --------------------------------------------------- */

#define PER_THREAD 300

struct pusher {
    struct pkie_xfer_audit *a;
    int id;
    int rc;
};

/* Write PER_THREAD sessions whose every buffer is overwritten right after
 * the call: the queue must hold copies. */
static void *push_many(void *arg)
{
    struct pusher *u = arg;
    for (int i = 0; i < PER_THREAD && u->rc == 0; i++) {
        char name[64], partner[32], subject[32], err[32];
        uint8_t tid[16] = {(uint8_t)u->id, (uint8_t)(i >> 8), (uint8_t)i}, sha[32] = {7};
        uint8_t ga[64] = {(uint8_t)i};
        int n = snprintf(name, sizeof(name), "t%d-%04d\n", u->id, i);
        name[n] = '\0'; /* a NUL inside the name */
        name[n + 1] = 'x';
        snprintf(partner, sizeof(partner), "p%d", u->id);
        snprintf(subject, sizeof(subject), "CN=t%d", u->id);
        snprintf(err, sizeof(err), "E: %d", i);
        struct pkie_xfer_peer p = {.partner = partner, .subject = subject, .global_area = ga};
        struct pkie_xfer_audit_rec r = {.peer = &p,
                                        .file = name,
                                        .file_len = (size_t)n + 2,
                                        .tid = tid,
                                        .size = (uint64_t)i,
                                        .bytes = (uint64_t)i,
                                        .sha256 = i % 2 ? sha : NULL,
                                        .result = i % 2 ? "ok" : "failed",
                                        .error = i % 2 ? NULL : err};
        u->rc = i % 3 ? pkie_xfer_audit_write(u->a, &r) : pkie_xfer_audit_catalog(u->a, &r);
        memset(name, 'X', sizeof(name));
        memset(partner, 'X', sizeof(partner) - 1);
        memset(subject, 'X', sizeof(subject) - 1);
        memset(err, 'X', sizeof(err) - 1);
        memset(tid, 0xee, sizeof(tid));
        memset(sha, 0xee, sizeof(sha));
        memset(ga, 0xee, sizeof(ga));
    }
    return NULL;
}

static void test_queue_threads(void **state)
{
    struct fx *x = *state;
    char ap[192];
    snprintf(ap, sizeof(ap), "%s/audit.log", x->dir);
    struct pkie_xfer_audit *a = NULL;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    pkie_xfer_audit_set_catalog(a, c);
    struct pusher u[2] = {{a, 1, 0}, {a, 2, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, push_many, &u[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(u[i].rc, 0);
    }
    pkie_xfer_audit_close(a); /* drains */
    pkie_xfer_catalog_close(c);
    char *all = NULL;
    assert_int_equal(rows_json(x->db, &all), 2 * PER_THREAD);
    assert_null(strstr(all, "XX"));
    assert_null(strstr(all, "eeee"));
    /* complete, and in each thread's order */
    for (int t = 1; t <= 2; t++) {
        const char *at = all;
        for (int i = 0; i < PER_THREAD; i++) {
            char want[512];
            snprintf(want, sizeof(want),
                     "\"id\":\"%02x%02x%02x00000000000000000000000000\",\"direction\":\"in\","
                     "\"partner\":\"p%d\",\"peer_subject\":\"CN=t%d\",\"peer_serial\":null,"
                     "\"file\":\"t%d-%04d\\n\\u0000x\",\"size\":%d,\"bytes\":[%d],",
                     t, i >> 8, i & 0xff, t, t, t, i, i, i);
            const char *hit = strstr(at, want);
            if (hit == NULL)
                fail_msg("thread %d row %d missing or out of order: %s", t, i, want);
            at = hit + 1;
            const char *eol = strchr(hit, '\n');
            snprintf(want, sizeof(want), "\"error\":%s%d%s",
                     i % 2 ? "null" : "\"E: ", i % 2 ? 0 : i, i % 2 ? "" : "\"");
            if (i % 2)
                snprintf(want, sizeof(want), "\"error\":null,\"sha256\":\"07000000");
            char *e = strstr(hit, want);
            if (e == NULL || e > eol)
                fail_msg("thread %d row %d: %s", t, i, want);
            snprintf(want, sizeof(want), "\"global_area\":\"%02x000000", i & 0xff);
            e = strstr(hit, want);
            if (e == NULL || e > eol)
                fail_msg("thread %d row %d: %s", t, i, want);
        }
    }
    free(all);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll the catalog (another connection) until it holds @p want rows. */
static int wait_rows(const char *db, unsigned want, int64_t deadline_ms)
{
    int64_t until = mono_ms() + deadline_ms;
    while (rows_json(db, NULL) < want) {
        if (mono_ms() > until)
            return 0;
        usleep(5000);
    }
    return 1;
}

static void test_queue_triggers(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_audit *a = NULL;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_audit_open(NULL, &a), 0);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "out", &c), 0);
    pkie_xfer_audit_set_catalog(a, c);
    struct pkie_xfer_peer p = peer("acme");
    struct pkie_xfer_audit_rec r = {.peer = &p, .file = "f", .tid = tid_a, .result = "ok"};
    /* one event: committed by the timer, without close (100 ms; wide margin
     * for a loaded machine) */
    int64_t t0 = mono_ms();
    assert_int_equal(pkie_xfer_audit_catalog(a, &r), 0);
    assert_true(wait_rows(x->db, 1, 10000));
    assert_true(mono_ms() - t0 >= 90); /* not before its delay */
    /* a full batch: committed without waiting for close */
    for (int i = 0; i < 64; i++) {
        uint8_t t[16] = {9, (uint8_t)i};
        r.tid = t;
        assert_int_equal(pkie_xfer_audit_catalog(a, &r), 0);
    }
    assert_true(wait_rows(x->db, 65, 10000));
    pkie_xfer_audit_close(a);
    /* the queue alone, with a delay no test waits for: only the count
     * commits; a lone event waits for its delay or for stop */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct pkie_xfer_catq *q = NULL;
    assert_int_equal(pkie_xfer_catq_start(c, &lock, 8, 3600 * 1000, &q), 0);
    struct pkie_xfer_catalog_event ev = {.file = &r};
    for (int i = 0; i < 8; i++) {
        uint8_t t[16] = {10, (uint8_t)i};
        r.tid = t;
        assert_int_equal(pkie_xfer_catq_push(q, &ev, -1, 1000 + i), 0);
    }
    assert_true(wait_rows(x->db, 65 + 8, 10000));
    uint8_t t9[16] = {11};
    r.tid = t9;
    assert_int_equal(pkie_xfer_catq_push(q, &ev, -1, 2000), 0);
    usleep(300 * 1000); /* not a synchronisation: nothing may happen */
    assert_int_equal(rows_json(x->db, NULL), 65 + 8);
    struct pkie_xfer_catalog_event none = {0};
    assert_int_equal(pkie_xfer_catq_push(q, &none, -1, 0), PKIE_ERR_ARG);
    pkie_xfer_catq_stop(q); /* drains */
    assert_int_equal(rows_json(x->db, NULL), 65 + 9);
    pkie_xfer_catalog_close(c);
}

static void test_batch_bad_record(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    /* a record the database refuses (another connection adds the trigger) */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(x->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER bad BEFORE INSERT ON transfers WHEN"
                                  " NEW.file = 'bad' BEGIN SELECT RAISE(ABORT, 'bad record'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct pkie_xfer_peer p = peer("acme");
    uint8_t t[3][16] = {{1}, {2}, {3}};
    struct pkie_xfer_audit_rec r[3] = {
        {.peer = &p, .file = "good1", .tid = t[0], .result = "ok"},
        {.peer = &p, .file = "bad", .tid = t[1], .result = "ok"},
        {.peer = &p, .file = "good2", .tid = t[2], .result = "ok"},
    };
    struct pkie_xfer_catalog_event ev[4] = {{.file = &r[0]}, {.file = &r[1]}, {.file = &r[2]}, {0}};
    struct pkie_xfer_catalog_item it[4];
    for (int i = 0; i < 4; i++)
        it[i] = (struct pkie_xfer_catalog_item){&ev[i], -1, 1000 + i};
    assert_int_equal(pkie_xfer_catalog_put_many(c, it, 3), 1);
    assert_int_equal(pkie_xfer_catalog_put_many(c, &it[3], 1), 1); /* no event */
    char *all = NULL;
    assert_int_equal(rows_json(x->db, &all), 2);
    assert_non_null(strstr(all, "\"good1\""));
    assert_non_null(strstr(all, "\"good2\""));
    assert_null(strstr(all, "\"bad\""));
    free(all);
    pkie_xfer_catalog_close(c);
}

/* ---- replay -------------------------------------------------------------- */

static const char odd1[] = "a\0b\xff\"q\\\n\xc3\xa9\xc3(\x7f";
static const char odd2[] = "\x80\x80 \t\r\x01";
static const uint8_t tid_r[16] = {0x77, 1};

/* The sessions of the replay tests, written by the real audit writer. */
static void write_sessions(struct pkie_xfer_audit *a)
{
    static const uint8_t ga[64] = {0x5a, 0xa5}, sha[32] = {0x33};
    struct pkie_xfer_peer p = {.partner = "we\"ird",
                               .addr = "10.0.0.1:5",
                               .subject = "CN=x\\,y,O=\xc3\xa9",
                               .issuer = "CN=i",
                               .serial = "01FF",
                               .tls_version = "TLSv1.3",
                               .cipher = "TLS_AES_256_GCM_SHA384",
                               .global_area = ga};
    struct pkie_xfer_audit_rec r = {.peer = &p,
                                    .file = odd1,
                                    .file_len = sizeof(odd1) - 1,
                                    .tid = tid_r,
                                    .size = 5000,
                                    .bytes = 1200,
                                    .duration_ms = 40,
                                    .result = "interrupted",
                                    .error = "XFER_CLOSED: peer \"gone\""};
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    /* the same transfer resumed: one record */
    r.resume_offset = 1200;
    r.bytes = 3800;
    r.sha256 = sha;
    r.result = "ok";
    r.error = NULL;
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    struct pkie_xfer_refusal rf = {.peer = &p,
                                   .side = "receiver",
                                   .alert = 42,
                                   .alert_sent = 1,
                                   .reason = "bad cert",
                                   .duration_ms = 12};
    assert_int_equal(pkie_xfer_audit_refusal(a, &rf), 0);
    struct pkie_xfer_peer anon = {.addr = "10.0.0.2:6"};
    struct pkie_xfer_refusal rf2 = {
        .peer = &anon, .side = "receiver", .alert = -1, .duration_ms = -1};
    assert_int_equal(pkie_xfer_audit_refusal(a, &rf2), 0);
    struct pkie_xfer_audit_rec r2 = {.peer = NULL,
                                     .file = odd2,
                                     .file_len = sizeof(odd2) - 1,
                                     .size = 1,
                                     .result = "refused",
                                     .error = "XFER_EXISTS: x"};
    assert_int_equal(pkie_xfer_audit_write(a, &r2), 0);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void test_replay(void **state)
{
    struct fx *x = *state;
    char ap[192], bp[192], db2[192], db3[192];
    snprintf(ap, sizeof(ap), "%s/audit.log", x->dir);
    snprintf(bp, sizeof(bp), "%s/audit2.log", x->dir);
    snprintf(db2, sizeof(db2), "%s/replayed.catalog", x->dir);
    snprintf(db3, sizeof(db3), "%s/crashed.catalog", x->dir);
    /* live: every row through the writer */
    struct pkie_xfer_audit *a = NULL;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    pkie_xfer_audit_set_catalog(a, c);
    write_sessions(a);
    pkie_xfer_audit_close(a);
    pkie_xfer_catalog_close(c);
    char *live = NULL;
    assert_int_equal(rows_json(x->db, &live), 4);
    /* the same lines replayed into an empty catalog: identical rows */
    size_t n = 0;
    char *text = slurp(ap, &n);
    assert_int_equal(pkie_xfer_catalog_open(db2, "in", &c), 0);
    struct pkie_xfer_catalog_replay st = {.first_bad = -1};
    assert_int_equal(pkie_xfer_catalog_replay_buf(c, text, n, 0, -1, &st), 0);
    assert_int_equal(st.replayed, 5);
    assert_int_equal(st.bad, 0);
    pkie_xfer_catalog_close(c);
    char *rep = NULL;
    assert_int_equal(rows_json(db2, &rep), 4);
    assert_string_equal(rep, live);
    free(rep);
    free(text);

    /* a crash: the rows after the first were still queued (removed here
     * after the live run), then garbage, lines the writer never writes, and
     * a line cut at the end */
    assert_int_equal(pkie_xfer_audit_open(bp, &a), 0);
    assert_int_equal(pkie_xfer_catalog_open(db3, "in", &c), 0);
    pkie_xfer_audit_set_catalog(a, c);
    struct pkie_xfer_peer p = peer("acme");
    struct pkie_xfer_audit_rec first = {.peer = &p, .file = "first", .tid = tid_a, .result = "ok"};
    assert_int_equal(pkie_xfer_audit_write(a, &first), 0);
    write_sessions(a);
    pkie_xfer_audit_close(a);
    char *live3 = NULL;
    assert_int_equal(rows_json(db3, &live3), 5);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db3, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM transfers WHERE seq > 1", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(rows_json(db3, NULL), 1);
    int fd = open(bp, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    static const char junk[] =
        "not json\n"
        "\n"
        "[1,2]\n"
        "{\"time\":\"2026-12-04T01:02:03.004Z\",\"file\":\"\\ud800\",\"size\":1,\"bytes\":1,"
        "\"resume_offset\":0,\"duration_ms\":0,\"result\":\"ok\"}\n"
        "{\"time\":\"5s\",\"size\":1,\"bytes\":1,\"resume_offset\":0,\"duration_ms\":0,"
        "\"result\":\"ok\"}\n"
        "{\"time\":\"2026-12-04T01:02:03.004Z\",\"size\":-1,\"bytes\":1,\"resume_offset\":0,"
        "\"duration_ms\":0,\"result\":\"ok\"}\n"
        "{\"time\":\"2026-12-04T01:02:03.004Z\",\"transfer_id\":\"abc\",\"size\":1,\"bytes\":1,"
        "\"resume_offset\":0,\"duration_ms\":0,\"result\":\"ok\"}\n"
        "{\"time\":\"2026-12-04T01:02:03.004Z\",\"size\":1,\"bytes\":1,\"resume_offset\":0,"
        "\"duration_ms\":0,\"result\":\"ok\"";
    assert_int_equal(write(fd, junk, sizeof(junk) - 1), (ssize_t)(sizeof(junk) - 1));
    close(fd);
    /* the restart replays */
    fd = open(bp, O_RDONLY);
    assert_true(fd >= 0);
    struct pkie_xfer_catalog_replay st2;
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st2), 0);
    assert_int_equal(st2.replayed, 5);
    assert_int_equal(st2.bad, 7);
    assert_int_equal(st2.cut, 1);
    assert_true(st2.first_bad > st2.from);
    /* a second start replays nothing */
    assert_int_equal(pkie_xfer_catalog_replay(c, fd, 1 << 20, &st2), 0);
    assert_int_equal(st2.replayed + st2.bad, 0);
    assert_int_equal(pkie_xfer_audit_open(bp, &a), 0);
    pkie_xfer_audit_set_catalog(a, c); /* the service's path: also nothing */
    pkie_xfer_audit_close(a);
    pkie_xfer_catalog_close(c);
    close(fd);
    /* the replayed rows are the live ones (their times are the lines') */
    char *crashed = NULL;
    assert_int_equal(rows_json(db3, &crashed), 5);
    assert_string_equal(crashed, live3);
    free(crashed);
    free(live3);
    free(live);
}

/* A resumed transfer whose first session's row committed and whose second
 * session's row was lost: the replayed session joins the same record. */
static void test_replay_merge(void **state)
{
    struct fx *x = *state;
    char ap[192];
    snprintf(ap, sizeof(ap), "%s/audit.log", x->dir);
    struct pkie_xfer_audit *a = NULL;
    struct pkie_xfer_catalog *c = NULL;
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    assert_int_equal(pkie_xfer_catalog_open(x->db, "in", &c), 0);
    pkie_xfer_audit_set_catalog(a, c);
    struct pkie_xfer_peer p = peer("acme");
    struct pkie_xfer_audit_rec r = {.peer = &p,
                                    .file = "m",
                                    .tid = tid_r,
                                    .size = 10,
                                    .bytes = 4,
                                    .result = "interrupted",
                                    .error = "E: cut"};
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    pkie_xfer_audit_close(a);
    /* the second session's line without its row */
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    r.resume_offset = 4;
    r.bytes = 6;
    r.result = "ok";
    r.error = NULL;
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    pkie_xfer_audit_close(a);
    assert_int_equal(pkie_xfer_audit_open(ap, &a), 0);
    pkie_xfer_audit_set_catalog(a, c);
    pkie_xfer_audit_close(a);
    pkie_xfer_catalog_close(c);
    char *all = NULL;
    assert_int_equal(rows_json(x->db, &all), 1);
    assert_non_null(strstr(all, "\"bytes\":[4,6],\"resume_offsets\":[0,4]"));
    assert_non_null(strstr(all, "\"result\":\"ok\",\"error\":null"));
    free(all);
}

static void test_str_decode(void **state)
{
    (void)state;
    struct {
        const char *in;
        const char *out;
        size_t n;
    } ok[] = {
        {"\"\"", "", 0},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\\udcff\\udc80\"", "\xff\x80", 2},
        {"\"\\\"\\\\\\n\\r\\t\\u001b\\u007f\"", "\"\\\n\r\t\x1b\x7f", 7},
        {"\"\xc3\xa9\xe2\x82\xac\"", "\xc3\xa9\xe2\x82\xac", 5},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *o = NULL;
        size_t n = 0;
        const char *e = ok[i].in + strlen(ok[i].in);
        if (pkie_xfer_audit_str_decode(ok[i].in, e, &o, &n) != 0)
            fail_msg("refused %s", ok[i].in);
        assert_int_equal(n, ok[i].n);
        assert_memory_equal(o, ok[i].out, n);
        free(o);
    }
    const char *bad[] = {
        "\"\\ud800\"", "\"\\udc7f\"", "\"\\u000a\"", "\"\\u0041\"",      "\"\\u00e9\"", "\"\\/\"",
        "\"\\b\"",     "\"\\u00\"",   "\"\\uDCFF\"", "\"\xff\"",         "\"\xc3\"",    "\"a",
        "\"\x01\"",    "\"\\",        "x",           "\"\xed\xb3\xbf\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *o = (char *)1;
        size_t n = 9;
        const char *e = bad[i] + strlen(bad[i]);
        if (pkie_xfer_audit_str_decode(bad[i], e, &o, &n) != PKIE_ERR_ARG)
            fail_msg("accepted %s", bad[i]);
        assert_null(o);
    }
}

static void test_conf_and_place(void **state)
{
    struct fx *x = *state;
    char conf[192], in[192], cat[256];
    snprintf(in, sizeof(in), "%s/in", x->dir);
    assert_int_equal(mkdir(in, 0700), 0);
    snprintf(conf, sizeof(conf), "%s/recv.conf", x->dir);
    char text[512];
    int n = snprintf(text, sizeof(text), "dir = %s\n", in);
    write_file(conf, text, (size_t)n, 0600);
    struct pkie_xfer_conf c;
    assert_int_equal(pkie_xfer_conf_load(conf, &c), 0);
    snprintf(cat, sizeof(cat), "%s/recv.catalog", x->dir);
    assert_string_equal(c.catalog, cat);
    assert_int_equal(pkie_xfer_catalog_dir_check(c.catalog, c.dir), 0);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("catalog = none\n", "t", &c), 0);
    assert_null(c.catalog);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("catalog = \"\"\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("", "t", &c), 0);
    assert_null(c.catalog); /* from text: no file to stand beside */
    pkie_xfer_conf_free(&c);
    /* never inside the destination */
    snprintf(cat, sizeof(cat), "%s/x.catalog", in);
    assert_int_equal(pkie_xfer_catalog_dir_check(cat, in), PKIE_ERR_CONF_VALUE);
    snprintf(cat, sizeof(cat), "%s/sub/../x.catalog", in);
    snprintf(text, sizeof(text), "%s/sub", in);
    assert_int_equal(mkdir(text, 0700), 0);
    assert_int_equal(pkie_xfer_catalog_dir_check(cat, in), PKIE_ERR_CONF_VALUE);
    snprintf(cat, sizeof(cat), "%s/sub/x.catalog", in);
    assert_int_equal(pkie_xfer_catalog_dir_check(cat, in), PKIE_ERR_CONF_VALUE);
    snprintf(cat, sizeof(cat), "%s/in2/x.catalog", x->dir); /* a sibling whose name extends */
    snprintf(text, sizeof(text), "%s/in2", x->dir);
    assert_int_equal(mkdir(text, 0700), 0);
    assert_int_equal(pkie_xfer_catalog_dir_check(cat, in), 0);
    snprintf(cat, sizeof(cat), "%s/nodir/x.catalog", x->dir);
    assert_int_equal(pkie_xfer_catalog_dir_check(cat, in), PKIE_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test_setup_teardown(test_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_bad_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_merge, setup, teardown),
        cmocka_unit_test(test_str_decode),
        cmocka_unit_test_setup_teardown(test_conf_and_place, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
