/* Unit tests: the receiver's expiry of partial transfers (rsweep.c): a sweep
 * takes the current generation's directories (a partner a reload adds or
 * moves included) and DIR, removes only what is older than partial_ttl and
 * not in use, sweeps again when kicked and periodically, and ends at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include "rmon.h"
#include "rsweep.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the log, written by the sweeper's thread ------------------------------ */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];

static void sink(enum pkie_log_level level, const char *component, const char *message, void *arg)
{
    (void)level;
    (void)arg;
    pthread_mutex_lock(&log_mu);
    size_t l = strlen(log_text);
    snprintf(log_text + l, sizeof(log_text) - l, "%s: %s\n", component, message);
    pthread_mutex_unlock(&log_mu);
}

static int logged(const char *s)
{
    pthread_mutex_lock(&log_mu);
    int r = strstr(log_text, s) != NULL;
    pthread_mutex_unlock(&log_mu);
    return r;
}

static unsigned logged_count(const char *s)
{
    unsigned n = 0;
    pthread_mutex_lock(&log_mu);
    for (const char *p = log_text; (p = strstr(p, s)) != NULL; p++)
        n++;
    pthread_mutex_unlock(&log_mu);
    return n;
}

/* Wait up to 10 s until @p s is logged @p n times. */
static int log_soon(const char *s, unsigned n)
{
    for (int i = 0; i < 1000; i++) {
        if (logged_count(s) >= n)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* ---- fixture -------------------------------------------------------------- */

struct fx {
    char dir[64];
    atomic_int stop;
    struct pkie_xfer_conf c1, c2; /* generation 1, and 2 as a reload makes it */
    struct rgen g1, g2;
    struct rmon m;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return -1;
    strcpy(x->dir, "/tmp/pkie-rsweep-XXXXXX");
    if (mkdtemp(x->dir) == NULL)
        return -1;
    char t[1024];
    /* generation 1: acme in DIR/acme */
    snprintf(t, sizeof(t),
             "dir = %s\npartial_ttl = 3600\n"
             "partner.acme.subject = CN=a\n",
             x->dir);
    if (pkie_xfer_conf_parse(t, "g1", &x->c1) != 0 || pkie_xfer_partner_dirs_open(&x->c1, 1) != 0)
        return -1;
    /* generation 2: acme moved to DIR/acme2, late added in DIR/late */
    snprintf(t, sizeof(t),
             "dir = %s\npartial_ttl = 3600\n"
             "partner.acme.subject = CN=a\npartner.acme.dir = %s/acme2\n"
             "partner.late.subject = CN=l\npartner.late.dir = %s/late\n",
             x->dir, x->dir, x->dir);
    if (pkie_xfer_conf_parse(t, "g2", &x->c2) != 0 || pkie_xfer_partner_dirs_open(&x->c2, 1) != 0)
        return -1;
    /* the monitor's side of it: the tests hold one reference of each generation */
    atomic_init(&x->stop, 0);
    x->g1.c = &x->c1;
    x->g1.id = 1;
    atomic_init(&x->g1.refs, 1);
    x->g2.c = &x->c2;
    x->g2.id = 2;
    atomic_init(&x->g2.refs, 1);
    x->m.c = &x->c1;
    x->m.stop = &x->stop;
    pthread_mutex_init(&x->m.gen_mu, NULL);
    x->m.gen = &x->g1;
    log_text[0] = '\0';
    pkie_log_set_sink(sink, NULL);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    pkie_log_set_sink(NULL, NULL);
    assert_int_equal(atomic_load(&x->g1.refs), 1); /* every sweep released its generation */
    assert_int_equal(atomic_load(&x->g2.refs), 1);
    pthread_mutex_destroy(&x->m.gen_mu);
    pkie_xfer_conf_free(&x->c1);
    pkie_xfer_conf_free(&x->c2);
    tmptree_remove(x->dir);
    free(x);
    return 0;
}

/* A partial transfer of NAME in DIR/SUB ("" for DIR), its files @p age s old. */
static void fake(struct fx *x, const char *sub, const char *name, uint8_t t, long age)
{
    char hex[2 * PKIE_XFER_TID_LEN + 1], p[512];
    for (int i = 0; i < PKIE_XFER_TID_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", t);
    struct timespec ts[2] = {{.tv_sec = time(NULL) - age}, {.tv_sec = time(NULL) - age}};
    const char *sfx[2] = {"state", "part"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof(p), "%s/%s/.%s.%s.%s", x->dir, sub, name, hex, sfx[k]);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        if (k == 0)
            fprintf(f, "PKIEPART 1 %s 100 0\n", hex);
        else
            fputs("0123456789", f);
        fclose(f);
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
}

/* Files of partial transfers of NAME in DIR/SUB. */
static unsigned present(struct fx *x, const char *sub, const char *name)
{
    char p[512], pre[128];
    snprintf(p, sizeof(p), "%s/%s", x->dir, sub);
    snprintf(pre, sizeof(pre), ".%s.", name);
    DIR *d = opendir(p);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, pre, strlen(pre)) == 0;
    closedir(d);
    return n;
}

/* Wait up to 10 s until NAME's files are gone from DIR/SUB. */
static int gone_soon(struct fx *x, const char *sub, const char *name)
{
    for (int i = 0; i < 1000; i++) {
        if (present(x, sub, name) == 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void swap_gen(struct fx *x, struct rgen *g)
{
    pthread_mutex_lock(&x->m.gen_mu);
    x->m.gen = g;
    pthread_mutex_unlock(&x->m.gen_mu);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_every(void **state)
{
    (void)state;
    assert_int_equal(rsweep_every_ms(60), 15000);
    assert_int_equal(rsweep_every_ms(100), 25000);
    assert_int_equal(rsweep_every_ms(4 * 3600), 3600000);
    assert_int_equal(rsweep_every_ms(7 * 86400), 3600000); /* at most hourly */
    assert_int_equal(rsweep_every_ms(0), 1000);            /* never a busy loop */
}

static void test_generations(void **state)
{
    struct fx *x = *state;
    fake(x, "acme", "old", 1, 7200);
    fake(x, "acme", "fresh", 2, 600); /* within partial_ttl */
    fake(x, "acme", "busy", 3, 7200); /* in use: locked */
    fake(x, "", "legacy", 4, 7200);   /* DIR itself */
    char busy[512];
    snprintf(busy, sizeof(busy), "%s/acme/.busy.%s.state", x->dir,
             "03030303030303030303030303030303");
    int lk = open(busy, O_RDONLY);
    assert_true(lk >= 0);
    assert_int_equal(flock(lk, LOCK_EX), 0);

    struct rsweep s;
    assert_int_equal(rsweep_init(&s, &x->m), 0);
    assert_int_equal(s.every_ms, 900000);
    assert_int_equal(rsweep_start(&s), 0);
    /* the first sweep is done when rsweep_start returns */
    assert_int_equal(present(x, "acme", "old"), 0);
    assert_int_equal(present(x, "", "legacy"), 0);
    assert_int_equal(present(x, "acme", "fresh"), 2);
    assert_int_equal(present(x, "acme", "busy"), 2);
    assert_true(logged("recv: removed 1 partial transfer(s) unchanged for over 3600 s (partner "
                       "acme)"));
    assert_true(logged("removed 1 partial transfer(s) unchanged for over 3600 s (partner -)"));
    assert_int_equal(logged_count("removed"), 2);

    /* a reload: acme moves to DIR/acme2, late comes with DIR/late */
    fake(x, "late", "old2", 5, 7200);
    fake(x, "acme2", "old3", 6, 7200);
    fake(x, "acme2", "fresh2", 7, 60);
    fake(x, "acme", "orphan", 9, 7200); /* DIR/acme: no partner's directory any more */
    swap_gen(x, &x->g2);
    /* nothing before the kick: the next periodic sweep is 15 minutes away */
    usleep(200000);
    assert_int_equal(present(x, "late", "old2"), 2);
    assert_int_equal(present(x, "acme2", "old3"), 2);
    rsweep_kick(&s);
    assert_true(gone_soon(x, "late", "old2"));
    assert_true(gone_soon(x, "acme2", "old3"));
    assert_true(
        log_soon("removed 1 partial transfer(s) unchanged for over 3600 s (partner late)", 1));
    assert_true(
        log_soon("removed 1 partial transfer(s) unchanged for over 3600 s (partner acme)", 2));
    assert_int_equal(present(x, "acme2", "fresh2"), 2);
    assert_int_equal(present(x, "acme", "orphan"), 2);
    assert_int_equal(logged_count("partial expiry"), 0); /* no failure on the way */

    long long t0 = mono_ms();
    rsweep_end(&s);
    assert_true(mono_ms() - t0 < 2000); /* no wait for the 15-minute period */
    close(lk);
}

static void test_periodic(void **state)
{
    struct fx *x = *state;
    struct rsweep s;
    assert_int_equal(rsweep_init(&s, &x->m), 0);
    s.every_ms = 100;
    assert_int_equal(rsweep_start(&s), 0);
    fake(x, "acme", "later", 8, 7200);
    assert_true(gone_soon(x, "acme", "later")); /* no kick: the period */
    rsweep_end(&s);
}

static void test_stop(void **state)
{
    struct fx *x = *state;
    /* the monitor stopping: a sweep ends before its next directory */
    fake(x, "acme", "old", 1, 7200);
    struct rsweep s;
    assert_int_equal(rsweep_init(&s, &x->m), 0);
    atomic_store(&x->stop, 1);
    rsweep_once(&s);
    assert_int_equal(present(x, "acme", "old"), 2);
    atomic_store(&x->stop, 0);
    rsweep_once(&s);
    assert_int_equal(present(x, "acme", "old"), 0);
    rsweep_end(&s); /* never started: frees what init made */
}

static void test_no_dir(void **state)
{
    struct fx *x = *state;
    char p[128];
    snprintf(p, sizeof(p), "%s/missing", x->dir);
    struct pkie_xfer_conf c = x->c1;
    c.dir = p;
    x->m.c = &c;
    struct rsweep s;
    assert_int_equal(rsweep_init(&s, &x->m), PKIE_ERR_XFER_FILE);
    assert_non_null(strstr(pkie_err_last()->msg, "missing"));
    x->m.c = &x->c1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every),
        cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
