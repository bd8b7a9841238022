/*
 * The sd_notify protocol without libsystemd (docs/architecture.md, "Running
 * under systemd"): each message is one datagram of "KEY=VALUE" lines sent to
 * the AF_UNIX SOCK_DGRAM socket named by $NOTIFY_SOCKET, an absolute path or
 * an abstract name written with a leading '@'. Anything else (a relative
 * path, a vsock: address, a name longer than sun_path) is refused with a log
 * line naming the value. Without $NOTIFY_SOCKET every function does nothing
 * and returns 0, so the callers need no "under systemd?" test.
 *
 * The variable is read at each message and left set: the only child pkie
 * runs is its exit helper (/proc/self/exe re-executed), and the units say
 * NotifyAccess=main, so systemd ignores whatever a child would send.
 *
 * Thread-safe: every message opens its own socket (SOCK_CLOEXEC).
 */
#ifndef PKIE_SDNOTIFY_H
#define PKIE_SDNOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

/* Parse a $NOTIFY_SOCKET value into @p sa / @p len ('@' becomes the leading
 * NUL of an abstract name). 0, or PKIE_ERR_CONF_VALUE with a message naming
 * what is wrong. */
int pkie_sd_addr(const char *value, struct sockaddr_un *sa, socklen_t *len);

/* Send @p msg (one or more "KEY=VALUE" lines) to $NOTIFY_SOCKET.
 * 1 sent, 0 no $NOTIFY_SOCKET, < 0 a pkie_err (logged as a warning the first
 * time, then at debug level: a missing socket must not flood the log). */
int pkie_sd_notify(const char *msg);
/* "READY=1" with an optional STATUS line (@p status NULL: none). */
int pkie_sd_ready(const char *status);
/* "STATUS=" + printf-style text; a newline in it ends the text. */
int pkie_sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "RELOADING=1" and "MONOTONIC_USEC=" (CLOCK_MONOTONIC now, in µs): systemd
 * 253+ requires the timestamp with Type=notify-reload; older ones ignore it. */
int pkie_sd_reloading(void);
/* "STOPPING=1". */
int pkie_sd_stopping(void);
/* "WATCHDOG=1". */
int pkie_sd_watchdog(void);

/* The watchdog interval asked for by the service manager, in µs: the value
 * of $WATCHDOG_USEC when it is a positive decimal number and $WATCHDOG_PID is
 * unset or this process's pid; else 0 (no watchdog). A malformed value is
 * logged and gives 0. */
long long pkie_sd_watchdog_usec(void);
/* The same from the values given (NULL: unset) for process @p self. */
long long pkie_sd_watchdog_parse(const char *usec, const char *pid, long long self);

/* Keep-alive pacing for a loop that proves liveness: WATCHDOG=1 at half the
 * interval. The loop calls pkie_sd_pacer_tick on each turn and waits at most
 * pkie_sd_pacer_wait_ms. */
struct pkie_sd_pacer {
    long long every_ms; /* 0: no watchdog */
    long long next_ms;  /* CLOCK_MONOTONIC ms of the next keep-alive */
};
/* From pkie_sd_watchdog_usec(); sends the first keep-alive at the first tick. */
void pkie_sd_pacer_init(struct pkie_sd_pacer *p);
/* Send WATCHDOG=1 if due at @p now_ms (CLOCK_MONOTONIC); 1 if sent, else 0. */
int pkie_sd_pacer_tick(struct pkie_sd_pacer *p, long long now_ms);
/* @p max_ms, or less so that the next keep-alive is not late. */
int pkie_sd_pacer_wait_ms(const struct pkie_sd_pacer *p, long long now_ms, int max_ms);

#endif
