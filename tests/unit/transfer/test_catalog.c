/* Unit tests: the transfer catalog (catalog.c): TIME parsing, one record per
 * transfer over several sessions, refused sessions, filters, show of an
 * unknown id, purge bounds, lossless escaping of odd names, damaged and
 * foreign files refused, the audit hook and its replay of lines without rows,
 * the configuration's default path (the writer thread and the replay in
 * detail: test_catalog_queue.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog.h"
#include "catalog_fx.h"
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
        cmocka_unit_test_setup_teardown(test_conf_and_place, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
