/* The sd_notify protocol without libsystemd (sdnotify.h). */
#include "sdnotify.h"

#include "pkie/error.h"
#include "pkie/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP "sdnotify"
#define MSG_CAP  2048

int pkie_sd_addr(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
    if (value == NULL || value[0] == '\0')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "NOTIFY_SOCKET is empty");
    size_t n = strlen(value);
    if (value[0] != '/' && value[0] != '@')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                        "NOTIFY_SOCKET \"%.200s\": not an absolute path nor an abstract '@' name "
                        "(only AF_UNIX datagram sockets are supported)",
                        value);
    if (value[0] == '@' && n == 1)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "NOTIFY_SOCKET \"@\": empty abstract name");
    /* a path needs its terminating NUL; an abstract name has none */
    if (n + (value[0] == '/') > sizeof(sa->sun_path))
        return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                        "NOTIFY_SOCKET: %zu bytes, longer than a socket address (%zu)", n,
                        sizeof(sa->sun_path) - (value[0] == '/'));
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, value, n);
    if (value[0] == '@')
        sa->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (value[0] == '/'));
    return 0;
}

static atomic_int warned;

static int failed(int rc)
{
    if (atomic_exchange(&warned, 1) == 0)
        pkie_log_warn(LOG_COMP, "%s (further failures logged at debug level)",
                      pkie_err_last()->msg);
    else
        pkie_log_debug(LOG_COMP, "%s", pkie_err_last()->msg);
    return rc;
}

int pkie_sd_notify(const char *msg)
{
    const char *v = getenv("NOTIFY_SOCKET");
    if (v == NULL)
        return 0;
    struct sockaddr_un sa;
    socklen_t len = 0;
    int rc = pkie_sd_addr(v, &sa, &len);
    if (rc != 0)
        return failed(rc);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failed(PKIE_ERR(PKIE_ERR_IO, "NOTIFY_SOCKET: socket: %s", strerror(errno)));
    size_t n = strlen(msg);
    ssize_t w;
    do
        w = sendto(fd, msg, n, MSG_NOSIGNAL, (const struct sockaddr *)&sa, len);
    while (w < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (w < 0)
        return failed(PKIE_ERR(PKIE_ERR_IO, "NOTIFY_SOCKET %.200s: %s", v, strerror(e)));
    if ((size_t)w != n)
        return failed(PKIE_ERR(PKIE_ERR_IO, "NOTIFY_SOCKET %.200s: short send", v));
    return 1;
}

/* "STATUS=" + text up to its first newline (one line per key). */
__attribute__((format(printf, 3, 0))) static void status_line(char *buf, size_t cap,
                                                              const char *fmt, va_list ap)
{
    int k = snprintf(buf, cap, "STATUS=");
    vsnprintf(buf + k, cap - (size_t)k, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
}

int pkie_sd_ready(const char *status)
{
    if (status == NULL)
        return pkie_sd_notify("READY=1");
    char buf[MSG_CAP];
    int k = snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
    if (k > 0 && (size_t)k < sizeof(buf))
        buf[8 + strcspn(buf + 8, "\n")] = '\0';
    return pkie_sd_notify(buf);
}

int pkie_sd_status(const char *fmt, ...)
{
    char buf[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    status_line(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return pkie_sd_notify(buf);
}

int pkie_sd_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[96];
    snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return pkie_sd_notify(buf);
}

int pkie_sd_stopping(void)
{
    return pkie_sd_notify("STOPPING=1");
}

int pkie_sd_watchdog(void)
{
    return pkie_sd_notify("WATCHDOG=1");
}

/* A positive decimal number without sign or junk, else -1. */
static long long parse_pos(const char *s)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > (unsigned long long)1 << 62)
        return -1;
    return (long long)v;
}

long long pkie_sd_watchdog_parse(const char *usec, const char *pid, long long self)
{
    if (usec == NULL)
        return 0;
    long long v = parse_pos(usec);
    if (v < 0) {
        pkie_log_warn(LOG_COMP, "WATCHDOG_USEC \"%.40s\" is not a positive number: no watchdog",
                      usec);
        return 0;
    }
    if (pid != NULL) {
        long long p = parse_pos(pid);
        if (p < 0) {
            pkie_log_warn(LOG_COMP, "WATCHDOG_PID \"%.40s\" is not a pid: no watchdog", pid);
            return 0;
        }
        if (p != self)
            return 0; /* meant for another process */
    }
    return v;
}

long long pkie_sd_watchdog_usec(void)
{
    return pkie_sd_watchdog_parse(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"),
                                  (long long)getpid());
}

void pkie_sd_pacer_init(struct pkie_sd_pacer *p)
{
    long long usec = pkie_sd_watchdog_usec();
    p->every_ms = usec > 0 ? usec / 2000 : 0;
    if (usec > 0 && p->every_ms == 0)
        p->every_ms = 1;
    p->next_ms = 0;
}

int pkie_sd_pacer_tick(struct pkie_sd_pacer *p, long long now_ms)
{
    if (p->every_ms <= 0 || now_ms < p->next_ms)
        return 0;
    p->next_ms = now_ms + p->every_ms;
    return pkie_sd_watchdog() > 0;
}

int pkie_sd_pacer_wait_ms(const struct pkie_sd_pacer *p, long long now_ms, int max_ms)
{
    if (p->every_ms <= 0)
        return max_ms;
    long long left = p->next_ms - now_ms;
    if (left < 0)
        left = 0;
    return left < max_ms ? (int)left : max_ms;
}
