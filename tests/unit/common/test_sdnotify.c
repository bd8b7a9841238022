/* Unit tests: the sd_notify protocol (src/common/sdnotify.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "sdnotify.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A datagram socket bound at @p name ('@': abstract); returns its fd. */
static int listener(const char *name)
{
    struct sockaddr_un sa;
    socklen_t len;
    assert_int_equal(pkie_sd_addr(name, &sa, &len), 0);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    return fd;
}

/* The next datagram on @p fd (within 5 s), NUL-terminated. */
static void take(int fd, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
}

static int nothing_pending(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static void test_unset_does_nothing(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(pkie_sd_notify("READY=1"), 0);
    assert_int_equal(pkie_sd_ready("x"), 0);
    assert_int_equal(pkie_sd_status("%d sessions", 3), 0);
    assert_int_equal(pkie_sd_reloading(), 0);
    assert_int_equal(pkie_sd_stopping(), 0);
    assert_int_equal(pkie_sd_watchdog(), 0);
}

static void test_abstract(void **state)
{
    (void)state;
    char name[64], buf[512];
    snprintf(name, sizeof(name), "@pkie-sdnotify-test-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(pkie_sd_ready("listening on 127.0.0.1:1"), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1\nSTATUS=listening on 127.0.0.1:1");
    /* a newline cannot smuggle another key in */
    assert_int_equal(pkie_sd_status("%d sessions\nREADY=1", 2), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STATUS=2 sessions");
    assert_int_equal(pkie_sd_ready("a\nSTOPPING=1"), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1\nSTATUS=a");
    assert_int_equal(pkie_sd_stopping(), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STOPPING=1");
    assert_int_equal(pkie_sd_watchdog(), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "WATCHDOG=1");
    assert_true(nothing_pending(fd));
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_path_and_reloading(void **state)
{
    (void)state;
    char dir[] = "/tmp/pkie-sdnotify-XXXXXX", path[128], buf[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pkie_sd_reloading(), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    take(fd, buf, sizeof(buf));
    unsigned long long us = 0;
    char extra = 0;
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%c", &us, &extra), 1);
    unsigned long long lo = (unsigned long long)t0.tv_sec * 1000000ULL + t0.tv_nsec / 1000;
    unsigned long long hi = (unsigned long long)t1.tv_sec * 1000000ULL + t1.tv_nsec / 1000;
    assert_true(us >= lo && us <= hi);
    close(fd);
    unlink(path);
    /* the listener gone: an error, not a crash or a signal */
    assert_true(pkie_sd_notify("READY=1") < 0);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_bad_values(void **state)
{
    (void)state;
    struct sockaddr_un sa;
    socklen_t len;
    const char *bad[] = {"", "@", "relative/notify", "notify", "vsock:2:1234", "./x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pkie_sd_addr(bad[i], &sa, &len), PKIE_ERR_CONF_VALUE);
        setenv("NOTIFY_SOCKET", bad[i], 1);
        assert_int_equal(pkie_sd_notify("READY=1"), PKIE_ERR_CONF_VALUE);
    }
    assert_non_null(strstr(pkie_err_last()->msg, "absolute path"));
    /* sun_path holds 108 bytes: a path of 107 + NUL fits, 108 does not; an
     * abstract name has no NUL: '@' + 107 fits, '@' + 108 does not */
    char v[200];
    size_t cap = sizeof(sa.sun_path);
    memset(v, 'a', sizeof(v));
    v[0] = '/';
    v[cap - 1] = '\0';
    assert_int_equal(pkie_sd_addr(v, &sa, &len), 0);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + cap);
    v[cap - 1] = 'a';
    v[cap] = '\0';
    assert_int_equal(pkie_sd_addr(v, &sa, &len), PKIE_ERR_CONF_VALUE);
    setenv("NOTIFY_SOCKET", v, 1);
    assert_int_equal(pkie_sd_notify("READY=1"), PKIE_ERR_CONF_VALUE);
    v[0] = '@';
    assert_int_equal(pkie_sd_addr(v, &sa, &len), 0);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + cap);
    v[cap] = 'a';
    v[cap + 1] = '\0';
    assert_int_equal(pkie_sd_addr(v, &sa, &len), PKIE_ERR_CONF_VALUE);
    /* a path nobody listens on */
    setenv("NOTIFY_SOCKET", "/nonexistent-pkie-dir/notify", 1);
    assert_int_equal(pkie_sd_notify("READY=1"), PKIE_ERR_IO);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(pkie_sd_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "2000000", 1);
    assert_int_equal(pkie_sd_watchdog_usec(), 2000000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(pkie_sd_watchdog_usec(), 2000000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(pkie_sd_watchdog_usec(), 0);
    setenv("WATCHDOG_PID", "x1", 1);
    assert_int_equal(pkie_sd_watchdog_usec(), 0);
    unsetenv("WATCHDOG_PID");
    const char *bad[] = {"", "0", "-5", "+5", "12s", "abc", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        assert_int_equal(pkie_sd_watchdog_usec(), 0);
    }
    unsetenv("WATCHDOG_USEC");
}

static void test_pacer(void **state)
{
    (void)state;
    char name[64], buf[64];
    snprintf(name, sizeof(name), "@pkie-sdnotify-pacer-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    struct pkie_sd_pacer p;
    unsetenv("WATCHDOG_USEC");
    pkie_sd_pacer_init(&p);
    assert_int_equal(pkie_sd_pacer_tick(&p, 1000), 0);
    assert_int_equal(pkie_sd_pacer_wait_ms(&p, 1000, 200), 200);
    assert_true(nothing_pending(fd));
    setenv("WATCHDOG_USEC", "2000000", 1); /* 2 s: a keep-alive every second */
    pkie_sd_pacer_init(&p);
    assert_int_equal(pkie_sd_pacer_wait_ms(&p, 5000, 200), 0);
    assert_int_equal(pkie_sd_pacer_tick(&p, 5000), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "WATCHDOG=1");
    assert_int_equal(pkie_sd_pacer_tick(&p, 5500), 0);
    assert_int_equal(pkie_sd_pacer_wait_ms(&p, 5500, 200), 200);
    assert_int_equal(pkie_sd_pacer_wait_ms(&p, 5900, 200), 100);
    assert_true(nothing_pending(fd));
    assert_int_equal(pkie_sd_pacer_tick(&p, 6000), 1);
    take(fd, buf, sizeof(buf));
    assert_string_equal(buf, "WATCHDOG=1");
    unsetenv("WATCHDOG_USEC");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

int main(void)
{
    pkie_log_set_level(PKIE_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset_does_nothing), cmocka_unit_test(test_abstract),
        cmocka_unit_test(test_path_and_reloading), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_watchdog_env),       cmocka_unit_test(test_pacer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
