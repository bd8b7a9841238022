/* Unit tests: the catalog's writer thread (catalog_queue.c: deep copies,
 * order across threads, the count and delay triggers, draining at stop, a
 * bad record in a group) and the startup replay of audit lines without rows
 * (catalog.c, audit_line.c: rows identical to the live ones, a resumed
 * transfer merged, bad and cut lines counted, the strict string decoder). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit_line.h"
#include "catalog.h"
#include "catalog_fx.h"
#include "catalog_queue.h"
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_bad_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_merge, setup, teardown),
        cmocka_unit_test(test_str_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
