/* Reads, writes and shutdown of a TLS session over a non-blocking socket,
 * each bounded by the session's timeout. */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pkie/error.h"
#include "tls_int.h"

long long pkie_tls_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pkie_tls_wait(int fd, int ssl_err, long long deadline_ms)
{
    for (;;) {
        long long left = deadline_ms - pkie_tls_now_ms();
        if (left <= 0)
            return PKIE_ERR(PKIE_ERR_TIMEOUT, "TLS: timed out");
        struct pollfd pfd = {.fd = fd,
                             .events = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return PKIE_ERR(PKIE_ERR_IO, "TLS: poll failed");
    }
}

void pkie_tls_set_timeout(struct pkie_tls_session *s, int timeout_ms)
{
    if (s != NULL)
        s->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
}

static int ready(struct pkie_tls_session *s)
{
    if (s == NULL || s->ssl == NULL || !s->done || s->failed)
        return PKIE_ERR(PKIE_ERR_STATE, "TLS: session not established");
    return 0;
}

ssize_t pkie_tls_read(struct pkie_tls_session *s, void *buf, size_t len)
{
    int rc = ready(s);
    if (rc != 0)
        return rc;
    if (len == 0)
        return PKIE_ERR(PKIE_ERR_ARG, "TLS read of 0 bytes");
    long long deadline = pkie_tls_now_ms() + s->timeout_ms;
    for (;;) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(s->ssl, buf, len, &got) == 1)
            return (ssize_t)got;
        int e = SSL_get_error(s->ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            rc = pkie_tls_wait(s->fd, e, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            return PKIE_ERR(PKIE_ERR_EXIT_CLOSED, "TLS: connection closed without close_notify");
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_TLS, "TLS read failed");
    }
}

ssize_t pkie_tls_write(struct pkie_tls_session *s, const void *buf, size_t len)
{
    int rc = ready(s);
    if (rc != 0)
        return rc;
    long long deadline = pkie_tls_now_ms() + s->timeout_ms;
    size_t off = 0;
    while (off < len) {
        size_t put = 0;
        ERR_clear_error();
        if (SSL_write_ex(s->ssl, (const char *)buf + off, len - off, &put) == 1) {
            off += put;
            continue;
        }
        int e = SSL_get_error(s->ssl, 0);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            rc = pkie_tls_wait(s->fd, e, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_TLS, "TLS write failed");
    }
    return (ssize_t)len;
}

int pkie_tls_shutdown(struct pkie_tls_session *s)
{
    int rc = ready(s);
    if (rc != 0)
        return rc;
    long long deadline = pkie_tls_now_ms() + (s->timeout_ms < 5000 ? s->timeout_ms : 5000);
    for (;;) {
        ERR_clear_error();
        int r = SSL_shutdown(s->ssl);
        if (r == 1)
            return 0;
        if (r == 0)
            continue; /* sent ours; now wait for the peer's */
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            rc = pkie_tls_wait(s->fd, e, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        /* The peer closed the connection after its close_notify or without it. */
        return 0;
    }
}
