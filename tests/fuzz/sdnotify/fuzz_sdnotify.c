/* libFuzzer target for the sd_notify environment parsers (src/common/sdnotify.c).
 *
 * The input, cut at its first NUL, is tried as $NOTIFY_SOCKET
 * (pkie_sd_addr) and as $WATCHDOG_USEC / $WATCHDOG_PID
 * (pkie_sd_watchdog_parse). Checks (abort() on violation): an accepted
 * address is AF_UNIX, starts with '/' (a path, NUL-terminated within
 * sun_path) or is abstract (leading NUL) and its length covers exactly the
 * name; a refused one is PKIE_ERR_CONF_VALUE; the watchdog interval is 0 or
 * the decimal value of the input, and 0 when WATCHDOG_PID is another pid. */
#include "pkie/error.h"
#include "pkie/log.h"
#include "sdnotify.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(const char *s)
{
    struct sockaddr_un sa;
    socklen_t len = 0;
    int rc = pkie_sd_addr(s, &sa, &len);
    size_t n = strlen(s), base = offsetof(struct sockaddr_un, sun_path);
    if (rc != 0) {
        if (rc != PKIE_ERR_CONF_VALUE)
            abort();
        return;
    }
    if (sa.sun_family != AF_UNIX || n == 0)
        abort();
    if (s[0] == '/') {
        if (len != base + n + 1 || n >= sizeof(sa.sun_path) || sa.sun_path[n] != '\0' ||
            memcmp(sa.sun_path, s, n) != 0)
            abort();
    } else if (s[0] == '@') {
        if (n < 2 || len != base + n || n > sizeof(sa.sun_path) || sa.sun_path[0] != '\0' ||
            memcmp(sa.sun_path + 1, s + 1, n - 1) != 0)
            abort();
    } else {
        abort();
    }
}

static void check_watchdog(const char *s)
{
    long long v = pkie_sd_watchdog_parse(s, NULL, 42);
    if (v < 0 || (v > 0 && strtoll(s, NULL, 10) != v))
        abort();
    if (v > 0 && pkie_sd_watchdog_parse(s, "43", 42) != 0)
        abort();
    /* the same text as a pid: accepted only when it is ours */
    v = pkie_sd_watchdog_parse("1000000", s, 42);
    if (v != 0 && (v != 1000000 || strtoll(s, NULL, 10) != 42))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        pkie_log_set_level(PKIE_LOG_ERROR);
        once = 1;
    }
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_addr(s);
    check_watchdog(s);
    free(s);
    return 0;
}
