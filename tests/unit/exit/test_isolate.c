/* Unit tests: exit isolation (isolate.c, helper.c, sandbox.c and the task
 * call of runtime.c) with the adversarial test exit: what the helper holds,
 * the session area round trip, a crash, the restart with StartTask, lost
 * sessions, the back-off, a deadline, pki.exit.user, and pkie_tls_stop(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"
#include "tls_int.h"

static char lib[4096], trig[64];

static long long ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void trigger(uint32_t phase)
{
    FILE *f = fopen(trig, "w");
    assert_non_null(f);
    fprintf(f, "%u\n", phase);
    fclose(f);
}

/* A runtime and task with the adversarial exit in MODE. */
static struct pkie_tls_task *start(const char *mode, const char *timeout, const char *user,
                                   struct pkie_tls_runtime **rt)
{
    struct pkie_tls_conf c = {0};
    char conf[256];
    snprintf(conf, sizeof(conf), "%s %s", mode, trig);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.type", "exit"), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.libpath", lib), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.conf", conf), 0);
    if (timeout != NULL)
        assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.timeout", timeout), 0);
    if (user != NULL)
        assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.user", user), 0);
    assert_int_equal(pkie_tls_runtime_open(&c, rt), 0);
    pkie_tls_conf_free(&c);
    struct pkie_tls_task *t = NULL;
    assert_int_equal(pkie_tls_task_start(*rt, 1, &t), 0);
    assert_int_equal(t->mask, CFTPKIE_MASK_ALL);
    assert_int_equal(t->area_size, 16);
    return t;
}

static int call(struct pkie_tls_task *t, uint64_t ref, uint8_t *area, uint32_t phase)
{
    t->z->host_session_ref = ref;
    t->z->session_area = area;
    return pkie_tls_task_call(t, phase);
}

static void test_conf(void **state)
{
    (void)state;
    struct pkie_tls_conf c = {0};
    assert_int_equal(c.exit_isolation, PKIE_TLS_EXIT_PROCESS); /* the default */
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.isolation", "none"), 0);
    assert_int_equal(c.exit_isolation, PKIE_TLS_EXIT_NONE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.isolation", "process"), 0);
    assert_int_equal(c.exit_isolation, PKIE_TLS_EXIT_PROCESS);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.isolation", "thread"), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.timeout", "30"), 0);
    assert_int_equal(c.exit_timeout_s, 30);
    const char *bad[] = {"0", "-1", "3601", "10s", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.timeout", bad[i]), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.user", ""), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.user", "nobody"), 0);
    assert_string_equal(c.exit_user, "nobody");
    pkie_tls_conf_free(&c);
    /* an unknown user fails at startup */
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.type", "exit"), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.libpath", lib), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.user", "no-such-user-pkie"), 0);
    struct pkie_tls_runtime *rt = NULL;
    assert_int_equal(pkie_tls_runtime_open(&c, &rt), PKIE_ERR_EXIT_CONF);
    pkie_tls_conf_free(&c);
}

static void test_helper_holds_little(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("fds", NULL, NULL, &rt);
    uint8_t area[16] = {0};
    trigger(CFTPKIE_START_HANDSHAKE);
    assert_int_equal(call(t, 1, area, CFTPKIE_START_HANDSHAKE), CFTPKIE_ERROR);
    /* stdin, stdout, stderr and the channel: nothing of the host */
    assert_string_equal(t->z->error_text, "fds=0,1,2,3");
    /* the private area went there and back */
    assert_int_equal(area[0], 1);
    assert_int_equal(call(t, 1, area, CFTPKIE_GET_CERTIFICATE), CFTPKIE_NOT_HANDLED);
    assert_int_equal(area[0], 2);
    /* the host's copy of a pointer field is its own */
    assert_ptr_equal(t->z->session_area, area);
    assert_int_equal(call(t, 1, area, CFTPKIE_END_SESSION), CFTPKIE_NOT_HANDLED);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

static void test_crash_restart_backoff(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("segv", NULL, NULL, &rt);
    uint8_t a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
    assert_int_equal(call(t, 1, a1, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    assert_int_equal(call(t, 2, a2, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    unsigned long spawns = pkie_exit_helper_spawns();
    trigger(CFTPKIE_CHECK_CERTIFICATE);
    assert_int_equal(call(t, 1, a1, CFTPKIE_CHECK_CERTIFICATE), CFTPKIE_ERROR);
    assert_non_null(strstr(t->z->error_text, "killed by signal 11 (SIGSEGV)"));
    assert_null(t->h);
    /* session 2 was seen by the dead helper: lost, fails closed; its
     * EndSession is not called */
    assert_int_equal(call(t, 2, a2, CFTPKIE_CRYPT_DATA), CFTPKIE_ERROR);
    assert_int_equal(call(t, 2, a2, CFTPKIE_END_SESSION), CFTPKIE_NOT_HANDLED);
    assert_int_equal(pkie_exit_helper_spawns(), spawns);
    /* session 3: a new helper, StartTask again, at once (first failure) */
    assert_int_equal(call(t, 3, a3, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    assert_int_equal(pkie_exit_helper_spawns(), spawns + 1);
    assert_int_equal(a3[0], 1);
    /* session 2 stays lost in the new helper, which never saw it */
    assert_int_equal(call(t, 2, a2, CFTPKIE_HANDSHAKE_DONE), CFTPKIE_ERROR);
    assert_non_null(strstr(t->z->error_text, "the exit helper that started this session failed"));
    assert_int_equal(call(t, 2, a2, CFTPKIE_END_SESSION), CFTPKIE_NOT_HANDLED);
    assert_int_equal(a2[0], 1);
    assert_non_null(t->h);
    /* a second failure in a row: the next restart waits */
    trigger(CFTPKIE_GET_CA_LIST);
    assert_int_equal(call(t, 3, a3, CFTPKIE_GET_CA_LIST), CFTPKIE_ERROR);
    long long t0 = ms();
    assert_int_equal(call(t, 4, a3, CFTPKIE_START_HANDSHAKE), CFTPKIE_ERROR);
    assert_non_null(strstr(t->z->error_text, "next restart in"));
    while (call(t, 5, a3, CFTPKIE_START_HANDSHAKE) != CFTPKIE_NOT_HANDLED) {
        assert_true(ms() - t0 < 5000);
        usleep(20 * 1000);
    }
    assert_true(ms() - t0 >= 90);
    assert_int_equal(call(t, 5, a3, CFTPKIE_END_SESSION), CFTPKIE_NOT_HANDLED);
    assert_int_equal(t->failures, 0); /* a session ended well */
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

static void test_deadline(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("loop", "1", NULL, &rt);
    uint8_t a[16] = {0};
    trigger(CFTPKIE_CRYPT_DATA);
    assert_int_equal(call(t, 1, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    long long t0 = ms();
    assert_int_equal(call(t, 1, a, CFTPKIE_CRYPT_DATA), CFTPKIE_ERROR);
    long long dt = ms() - t0;
    assert_true(dt >= 990 && dt < 4000);
    assert_non_null(strstr(t->z->error_text, "no answer within 1000 ms"));
    assert_int_equal(call(t, 2, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

/* The log lines of the posted EndSession tests. */
static char logged[4096];
static void keep_log(enum pkie_log_level level, const char *component, const char *message,
                     void *arg)
{
    (void)level;
    (void)component;
    (void)arg;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof(logged) - n, "%s\n", message);
}

static void end_session(struct pkie_tls_task *t, uint64_t ref, uint8_t *area)
{
    t->z->host_session_ref = ref;
    t->z->session_area = area;
    if (!pkie_tls_task_post_end(t)) /* as pkie_tls_session_end does */
        pkie_tls_task_call(t, CFTPKIE_END_SESSION);
}

/* Tick @p t until @p done holds, at most @p limit_ms. */
static void tick_until(struct pkie_tls_task *t, int (*done)(const struct pkie_tls_task *),
                       long long limit_ms)
{
    long long t0 = ms();
    for (;;) {
        pkie_tls_task_tick(t);
        if (done(t))
            return;
        assert_true(ms() - t0 < limit_ms);
        usleep(10 * 1000);
    }
}

static int settled(const struct pkie_tls_task *t)
{
    return !pkie_exit_helper_pending(t->h);
}

static int helper_gone(const struct pkie_tls_task *t)
{
    return t->h == NULL;
}

/* EndSession posted (pkie_tls_task_async_end): the task does not wait for
 * it; an exit that crashes in it is found at the next call, logged with the
 * session it ended, and the helper restarted for the next session. */
static void test_posted_end_crash(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("segv", NULL, NULL, &rt);
    pkie_tls_task_async_end(t, 1);
    uint8_t a1[16] = {0}, a2[16] = {0};
    logged[0] = '\0';
    pkie_log_set_sink(keep_log, NULL);
    assert_int_equal(call(t, 1, a1, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    /* an EndSession that answers: taken before the next call */
    end_session(t, 1, a1);
    assert_true(pkie_exit_helper_pending(t->h));
    assert_int_equal(call(t, 2, a2, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    assert_false(pkie_exit_helper_pending(t->h));
    assert_int_equal(logged[0], '\0');
    /* one that crashes */
    unsigned long spawns = pkie_exit_helper_spawns();
    trigger(CFTPKIE_END_SESSION);
    long long t0 = ms();
    end_session(t, 2, a2);
    assert_true(ms() - t0 < 500); /* not waited for */
    assert_non_null(t->h);
    uint8_t a3[16] = {0};
    assert_int_equal(call(t, 3, a3, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    pkie_log_set_sink(NULL, NULL);
    assert_non_null(
        strstr(logged, "phase EndSession: task 1 session 2: channel closed: helper pid"));
    assert_non_null(strstr(logged, "killed by signal 11 (SIGSEGV)"));
    assert_int_equal(pkie_exit_helper_spawns(), spawns + 1);
    assert_int_equal(t->failures, 1);
    /* a posted EndSession that answers ends the back-off, as a called one */
    end_session(t, 3, a3);
    tick_until(t, settled, 5000);
    assert_int_equal(t->failures, 0);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

/* An exit that hangs in a posted EndSession is killed at the deadline by the
 * idle task's ticks, not only when the next session comes; the next session
 * gets a new helper. */
static void test_posted_end_deadline(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("loop", "1", NULL, &rt);
    pkie_tls_task_async_end(t, 1);
    uint8_t a[16] = {0};
    logged[0] = '\0';
    pkie_log_set_sink(keep_log, NULL);
    assert_int_equal(call(t, 1, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    trigger(CFTPKIE_END_SESSION);
    long long t0 = ms();
    end_session(t, 1, a);
    assert_true(ms() - t0 < 500);
    tick_until(t, helper_gone, 5000);
    long long dt = ms() - t0;
    pkie_log_set_sink(NULL, NULL);
    assert_true(dt >= 990 && dt < 4000);
    assert_non_null(strstr(
        logged, "phase EndSession: task 1 session 1: no answer within 1000 ms (helper killed)"));
    assert_int_equal(call(t, 2, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    assert_non_null(t->h);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

/* An exit that lies in a posted EndSession (an error text without its end):
 * the host reads no further than the text's capacity, logs the error with
 * the phase, and the helper serves the next session. */
static void test_posted_end_lie(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("lie", NULL, NULL, &rt);
    pkie_tls_task_async_end(t, 1);
    uint8_t a[16] = {0};
    logged[0] = '\0';
    pkie_log_set_sink(keep_log, NULL);
    assert_int_equal(call(t, 1, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    unsigned long spawns = pkie_exit_helper_spawns();
    trigger(CFTPKIE_END_SESSION);
    end_session(t, 1, a);
    tick_until(t, settled, 5000);
    pkie_log_set_sink(NULL, NULL);
    assert_non_null(strstr(logged, "phase EndSession: error (error text not terminated)"));
    assert_int_equal(call(t, 2, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_NOT_HANDLED);
    assert_int_equal(pkie_exit_helper_spawns(), spawns); /* the same helper */
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

static void test_user(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || pw == NULL) {
        /* not root: the key is refused at startup instead */
        struct pkie_tls_conf c = {0};
        pkie_tls_conf_apply(&c, "pki.type", "exit");
        pkie_tls_conf_apply(&c, "pki.exit.libpath", lib);
        pkie_tls_conf_apply(&c, "pki.exit.user", "root");
        struct pkie_tls_runtime *rt = NULL;
        assert_int_equal(pkie_tls_runtime_open(&c, &rt), PKIE_ERR_EXIT_CONF);
        pkie_tls_conf_free(&c);
        return;
    }
    if (access(lib, R_OK) != 0)
        return;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("uid", NULL, "nobody", &rt);
    uint8_t a[16] = {0};
    trigger(CFTPKIE_START_HANDSHAKE);
    assert_int_equal(call(t, 1, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_ERROR);
    char want[64];
    snprintf(want, sizeof(want), "uid=%u gid=%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
    assert_string_equal(t->z->error_text, want);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

static void *stop_later(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    pkie_tls_stop();
    return NULL;
}

/* Last: the stop is process-wide and for good. */
static void test_stop(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = start("sleep", "60", NULL, &rt);
    uint8_t a[16] = {0};
    trigger(CFTPKIE_START_HANDSHAKE);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_later, NULL), 0);
    long long t0 = ms();
    assert_int_equal(call(t, 1, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_ERROR);
    assert_true(ms() - t0 < 5000);
    pthread_join(th, NULL);
    assert_true(pkie_tls_stopping());
    assert_non_null(strstr(t->z->error_text, "stopping"));
    /* no restart once stopping */
    assert_int_equal(call(t, 2, a, CFTPKIE_START_HANDSHAKE), CFTPKIE_ERROR);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

int main(void)
{
    pkie_log_set_level(PKIE_LOG_ERROR);
    /* In a sanitizer build the helpers (started with this environment) must
     * die of their own signal, as in a normal build. */
    const char *ao = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof(opts), "%s%shandle_segv=0:handle_abort=0:detect_leaks=0", ao ? ao : "",
             ao && ao[0] ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    const char *b = getenv("PKIE_BUILD_DIR");
    snprintf(lib, sizeof(lib), "%s/tests/exits/exit_adversarial.so", b ? b : ".");
    snprintf(trig, sizeof(trig), "/tmp/pkie-isolate-%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_helper_holds_little),
        cmocka_unit_test(test_crash_restart_backoff),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_posted_end_crash),
        cmocka_unit_test(test_posted_end_deadline),
        cmocka_unit_test(test_posted_end_lie),
        cmocka_unit_test(test_user),
        cmocka_unit_test(test_stop),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(trig);
    return rc;
}
