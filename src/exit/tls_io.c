/* Reads, writes and shutdown of a TLS session over a non-blocking socket,
 * each bounded by the session's timeout. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

#include <openssl/bio.h>
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

/* With pkie_tls_coalesce_writes, the write BIO is a buffer in front of the
 * socket: push out what it holds before the caller waits for anything. */
static int flush_coalesced(struct pkie_tls_session *s, long long deadline)
{
    BIO *w = SSL_get_wbio(s->ssl);
    if (w == NULL || BIO_method_type(w) != BIO_TYPE_BUFFER)
        return 0;
    for (;;) {
        ERR_clear_error();
        if (BIO_flush(w) > 0)
            return 0;
        if (!BIO_should_retry(w))
            return PKIE_ERR_OSSL(PKIE_ERR_EXIT_TLS, "TLS write failed");
        int rc = pkie_tls_wait(s->fd, SSL_ERROR_WANT_WRITE, deadline);
        if (rc != 0)
            return rc;
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
    rc = flush_coalesced(s, deadline);
    if (rc != 0)
        return rc;
    return (ssize_t)len;
}

int pkie_tls_coalesce_writes(struct pkie_tls_session *s, size_t bytes)
{
    int rc = ready(s);
    if (rc != 0)
        return rc;
    if (bytes < 16384 || bytes > INT_MAX)
        return PKIE_ERR(PKIE_ERR_ARG, "TLS write buffer of %zu bytes", bytes);
    BIO *w = SSL_get_wbio(s->ssl);
    if (w == NULL)
        return PKIE_ERR(PKIE_ERR_STATE, "TLS: no socket BIO");
    if (BIO_method_type(w) == BIO_TYPE_BUFFER)
        return BIO_set_write_buffer_size(w, (long)bytes) == 1
                   ? 0
                   : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "TLS write buffer");
    BIO *b = BIO_new(BIO_f_buffer());
    if (b == NULL || BIO_set_write_buffer_size(b, (long)bytes) != 1 || !BIO_up_ref(w)) {
        BIO_free(b);
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "TLS write buffer");
    }
    /* The SSL object gives up its reference to the socket BIO as write BIO;
     * the one taken above now belongs to the buffer's chain. */
    SSL_set0_wbio(s->ssl, BIO_push(b, w));
    return 0;
}

int pkie_tls_close_notify(struct pkie_tls_session *s)
{
    int rc = ready(s);
    if (rc != 0)
        return rc;
    long long deadline = pkie_tls_now_ms() + (s->timeout_ms < 5000 ? s->timeout_ms : 5000);
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl); /* queues and writes ours; the peer's is not awaited */
    (void)flush_coalesced(s, deadline);
    return 0;
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
        if (flush_coalesced(s, deadline) != 0)
            return 0; /* as below: the peer is gone */
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
