/* TLS sessions as transfer streams, peer certificate details, sockets. */
#include "tlsio.h"

#include "pkie/error.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Reads wait in slices so that a stop request is seen within one slice. */
#define SLICE_MS 500

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TLS alert received after the handshake (in TLS 1.3 the server's verdict on
 * the client certificate comes then) shows as OpenSSL reason 1000 + alert. */
static int alert_from_ossl(const char *text)
{
    for (const char *p = strstr(text, "error:"); p != NULL; p = strstr(p + 6, "error:")) {
        char *end = NULL;
        unsigned long e = strtoul(p + 6, &end, 16);
        if (end == p + 14 && *end == ':') {
            unsigned long reason = e & 0x7fffffUL;
            if (reason >= 1000 && reason < 1256)
                return (int)(reason - 1000);
        }
    }
    return -1;
}

static int stream_error(struct xfer_tls_stream *st, const char *what)
{
    const struct pkie_error *e = pkie_err_last();
    int code = e->code;
    char msg[sizeof(e->msg)], ossl[sizeof(e->openssl)];
    snprintf(msg, sizeof(msg), "%s", e->msg);
    snprintf(ossl, sizeof(ossl), "%s", e->openssl);
    int alert = alert_from_ossl(ossl);
    if (alert >= 0) {
        st->alert = alert;
        return PKIE_ERR(PKIE_ERR_XFER_TLS, "TLS %s: the peer sent alert %d (%s)", what, alert,
                        pkie_tls_alert_name(alert));
    }
    if (code == PKIE_ERR_EXIT_CLOSED)
        return PKIE_ERR(PKIE_ERR_XFER_CLOSED, "TLS %s: connection closed", what);
    return PKIE_ERR(PKIE_ERR_XFER_TLS, "TLS %s: %s%s%s", what, msg, ossl[0] ? " " : "", ossl);
}

static ssize_t tls_stream_read(void *ctx, void *buf, size_t len)
{
    struct xfer_tls_stream *st = ctx;
    long long start = mono_ms();
    for (;;) {
        ssize_t n = pkie_tls_read(st->s, buf, len);
        if (n >= 0)
            return n;
        if ((int)n != PKIE_ERR_TIMEOUT)
            return stream_error(st, "read");
        if (st->stop != NULL && atomic_load(st->stop))
            return PKIE_ERR(PKIE_ERR_XFER_SHUTDOWN, "stopping");
        if (mono_ms() - start >= st->idle_ms)
            return PKIE_ERR(PKIE_ERR_TIMEOUT, "peer silent for %lld ms", st->idle_ms);
    }
}

static ssize_t tls_stream_write(void *ctx, const void *buf, size_t len)
{
    struct xfer_tls_stream *st = ctx;
    if (st->stop != NULL)
        pkie_tls_set_timeout(st->s, (int)st->idle_ms);
    ssize_t n = pkie_tls_write(st->s, buf, len);
    if (st->stop != NULL)
        pkie_tls_set_timeout(st->s, SLICE_MS);
    if (n < 0)
        return stream_error(st, "write");
    return n;
}

void xfer_tls_stream_init(struct xfer_tls_stream *st, struct pkie_tls_session *s,
                          const atomic_int *stop, long long idle_ms)
{
    st->s = s;
    st->stop = stop;
    st->alert = -1;
    st->idle_ms = idle_ms > 0 ? idle_ms : 300000;
    st->io.read = tls_stream_read;
    st->io.write = tls_stream_write;
    st->io.ctx = st;
    /* Short slices only where a stop flag must be noticed. */
    pkie_tls_set_timeout(s, stop != NULL ? SLICE_MS : (int)st->idle_ms);
}

static char *name_text(const X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *p = NULL;
        long len = BIO_get_mem_data(b, &p);
        if (len >= 0)
            out = strndup(p ? p : "", (size_t)len);
    }
    BIO_free(b);
    return out;
}

char *xfer_dn_text(const X509_NAME *n)
{
    return name_text(n);
}

void xfer_peer_info_fill(struct xfer_peer_info *pi, struct pkie_tls_session *s)
{
    X509 *cert = pkie_tls_seen_cert(s); /* also for a refused session */
    if (cert != NULL) {
        pi->subject = name_text(X509_get_subject_name(cert));
        pi->issuer = name_text(X509_get_issuer_name(cert));
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        if (bn != NULL) {
            char *h = BN_bn2hex(bn);
            if (h != NULL) {
                pi->serial = strdup(h);
                OPENSSL_free(h);
            }
            BN_free(bn);
        }
    }
    memcpy(pi->global_area, pkie_tls_global_area(s), sizeof(pi->global_area));
    pi->peer.subject = pi->subject;
    pi->peer.issuer = pi->issuer;
    pi->peer.serial = pi->serial;
    pi->peer.tls_version = pkie_tls_version(s);
    pi->peer.cipher = pkie_tls_cipher(s);
    pi->peer.global_area = pi->global_area;
}

void xfer_peer_info_free(struct xfer_peer_info *pi)
{
    free(pi->subject);
    free(pi->issuer);
    free(pi->serial);
    memset(pi, 0, sizeof(*pi));
}

int xfer_split_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return PKIE_ERR(PKIE_ERR_ARG, "bad address %s (expected [v6]:port)", s);
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return PKIE_ERR(PKIE_ERR_ARG, "bad address %s (expected host:port)", s);
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hcap || strlen(colon + 1) == 0 || strlen(colon + 1) >= pcap)
        return PKIE_ERR(PKIE_ERR_ARG, "bad address %s (expected host:port)", s);
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static void tune(int fd)
{
    int one = 1, buf = 4 << 20;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

void xfer_socket_tune(int fd)
{
    tune(fd);
}

int xfer_listen(const char *hostport, int backlog, int *out)
{
    char host[256], port[32];
    int rc = xfer_split_hostport(hostport, host, sizeof(host), port, sizeof(port));
    if (rc != 0)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &ai);
    if (g != 0)
        return PKIE_ERR(PKIE_ERR_ARG, "listen %s: %s", hostport, gai_strerror(g));
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_IO, "listen %s: %s", hostport, strerror(e));
    *out = fd;
    return 0;
}

int xfer_connect(const char *host, const char *port, int timeout_ms, int *out)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0)
        return PKIE_ERR(PKIE_ERR_IO, "%s:%s: %s", host, port, gai_strerror(g));
    int fd = -1, e = ETIMEDOUT;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        tune(fd);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (poll(&p, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            e = soerr ? soerr : ETIMEDOUT;
        } else {
            e = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_IO, "connect %s:%s: %s", host, port, strerror(e));
    *out = fd;
    return 0;
}

void xfer_addr_text(const struct sockaddr_storage *ss, char *host, size_t hcap, uint16_t *port)
{
    host[0] = '\0';
    *port = 0;
    if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, (socklen_t)hcap, NULL, 0,
                    NI_NUMERICHOST) != 0)
        snprintf(host, hcap, "?");
    if (ss->ss_family == AF_INET)
        *port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    else if (ss->ss_family == AF_INET6)
        *port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}
