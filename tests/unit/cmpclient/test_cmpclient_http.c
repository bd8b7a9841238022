/* Unit tests of the CMP client's HTTP transfer (src/cmp/client/http.c, on
 * libcrypto's HTTP client) against a tiny HTTP server thread on 127.0.0.1
 * that answers with canned responses: success, keep-alive reuse (and a
 * server that closes a kept-alive connection while idle), keep-alive
 * required, HTTP status, redirections refused, Content-Type (wrong, missing,
 * with parameters), size bound (streamed and announced), malformed answers
 * (status line, headers, Content-Length, body that is not DER, truncated
 * body, overlong line), message and total timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/cmp.h"
#include "pkie/error.h"
#include "responder.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode {
    OK,
    NOT_FOUND,
    HTML,
    HUGE_STREAM,
    HUGE_DECLARED,
    SLOW,
    CANNED,     /* write srv.canned, then close */
    IDLE_CLOSE, /* OK with keep-alive, but close after each response (as OpenSSL's mock) */
    HTTP10,     /* OK as HTTP/1.0 without keep-alive */
};

struct srv {
    int lfd, port;
    enum mode mode;
    int max_requests; /* handled before the thread ends */
    int connections, requests;
    const char *canned; /* CANNED: the raw answer */
    size_t canned_len;
    char last_request[2048];
    pthread_t th;
};

/* TLS tests: the server's context (NULL: plain HTTP) and the connection
 * being served (one server thread at a time). */
static SSL_CTX *srv_tls;
static SSL *srv_ssl;

static int read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    long clen = -1;
    char *body = NULL;
    while (n + 1 < cap) {
        ssize_t r = srv_ssl != NULL ? SSL_read(srv_ssl, buf + n, (int)(cap - 1 - n))
                                    : read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = '\0';
        if (body == NULL && (body = strstr(buf, "\r\n\r\n")) != NULL) {
            body += 4;
            char *cl = strcasestr(buf, "Content-Length:");
            clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (body != NULL && (long)(n - (size_t)(body - buf)) >= clen)
            return 0;
    }
    return -1;
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = srv_ssl != NULL ? SSL_write(srv_ssl, c, (int)n)
                                    : send(fd, c, n, MSG_NOSIGNAL); /* the client may have gone */
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

#define PKIXCMP_5 "Content-Type: application/pkixcmp\r\nContent-Length: 5\r\n\r\n"

/* The header block @p head, then the 5 bytes of @p body when not NULL. */
static void answer(int fd, const char *head, const char *body)
{
    write_all(fd, head, strlen(head));
    if (body != NULL)
        write_all(fd, body, 5);
}

static void *serve(void *arg)
{
    struct srv *s = arg;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE); /* SSL_write to a client that has gone */
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    while (s->requests < s->max_requests) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        s->connections++;
        if (srv_tls != NULL) {
            srv_ssl = SSL_new(srv_tls);
            SSL_set_fd(srv_ssl, fd);
            if (SSL_accept(srv_ssl) <= 0) {
                SSL_free(srv_ssl);
                srv_ssl = NULL;
                close(fd);
                continue;
            }
        }
        while (s->requests < s->max_requests &&
               read_request(fd, s->last_request, sizeof(s->last_request)) == 0) {
            s->requests++;
            char hdr[256];
            static const char body[] = "\x30\x03\x02\x01\x05"; /* some DER */
            switch (s->mode) {
            case CANNED:
                write_all(fd, s->canned, s->canned_len);
                break;
            case HTTP10:
                answer(fd, "HTTP/1.0 200 OK\r\n" PKIXCMP_5, body);
                break;
            case OK:
            case IDLE_CLOSE:
                answer(fd, "HTTP/1.1 200 OK\r\n" PKIXCMP_5, body);
                break;
            case NOT_FOUND:
                answer(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", NULL);
                break;
            case HTML:
                answer(fd,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n",
                       body);
                break;
            case HUGE_DECLARED:
                answer(fd,
                       "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                       "Content-Length: 100000000\r\n\r\n",
                       NULL);
                break;
            case HUGE_STREAM: { /* no Content-Length: a DER SEQUENCE of 16 MiB */
                snprintf(hdr, sizeof(hdr),
                         "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                         "Connection: close\r\n\r\n");
                write_all(fd, hdr, strlen(hdr));
                static const unsigned char seq[] = {0x30, 0x84, 0x01, 0x00, 0x00, 0x00};
                write_all(fd, seq, sizeof(seq));
                char chunk[4096];
                memset(chunk, 0x30, sizeof(chunk));
                for (int i = 0; i < 64; i++) /* 256 KiB, until the client hangs up */
                    if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) <= 0)
                        break;
                break;
            }
            case SLOW: { /* never answer: wait until the client gives up */
                char b;
                while (read(fd, &b, 1) > 0)
                    ;
                break;
            }
            }
            if (s->mode == HUGE_STREAM || s->mode == SLOW || s->mode == CANNED ||
                s->mode == IDLE_CLOSE || s->mode == HTTP10)
                break;
        }
        if (srv_ssl != NULL) {
            SSL_shutdown(srv_ssl);
            SSL_free(srv_ssl);
            srv_ssl = NULL;
        }
        close(fd);
    }
    return NULL;
}

static void srv_start(struct srv *s, enum mode mode, int max_requests)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->max_requests = max_requests;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(listen(s->lfd, 4), 0);
    pthread_create(&s->th, NULL, serve, s);
}

static void srv_stop(struct srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    close(s->lfd);
    pthread_join(s->th, NULL);
}

static struct pkie_cmp_ctx *client(const struct srv *s, const char *path)
{
    struct pkie_cmp_ctx *c = pkie_cmp_ctx_new();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    assert_int_equal(pkie_cmp_ctx_set_server(c, url), 0);
    pkie_cmp_ctx_set_proxy(c, ""); /* never a proxy from the environment */
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MSG_TIMEOUT, 5);
    return c;
}

static const uint8_t req[] = {0x30, 0x00};

/* @p n transfers that must each bring back the server's 5-byte answer */
static void transfers_ok(struct pkie_cmp_ctx *c, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t *rsp = NULL;
        size_t len = 0;
        assert_int_equal(pkie_cmp_http_transfer(c, req, sizeof(req), &rsp, &len, NULL), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(rsp, "\x30\x03\x02\x01\x05", 5);
        free(rsp);
    }
}

static void test_ok_and_keep_alive(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, OK, 3);
    struct pkie_cmp_ctx *c = client(&s, "/pkix/alias");
    transfers_ok(c, 3);
    srv_stop(&s);
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.connections, 1); /* one kept-alive connection */
    /* HTTP/1.0 with keep-alive, as libcrypto's client (and openssl cmp) send it */
    assert_non_null(strstr(s.last_request, "POST /pkix/alias HTTP/1.0"));
    assert_non_null(strcasestr(s.last_request, "Connection: keep-alive"));
    assert_non_null(strcasestr(s.last_request, "Content-Type: application/pkixcmp"));
    assert_null(strcasestr(s.last_request, "Expect:"));
    pkie_cmp_ctx_free(c);
}

static void test_keep_alive_off(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, OK, 2);
    struct pkie_cmp_ctx *c = client(&s, "");
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_KEEP_ALIVE, 0);
    transfers_ok(c, 2);
    srv_stop(&s);
    assert_int_equal(s.connections, 2);
    assert_non_null(strcasestr(s.last_request, "Connection: close"));
    assert_null(strcasestr(s.last_request, "keep-alive"));
    pkie_cmp_ctx_free(c);
}

/* A server that says keep-alive but closes the connection after each
 * answer (OpenSSL's mock does after each transaction): the next request
 * goes out again on a new connection, once. */
static void test_idle_close_reconnects(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, IDLE_CLOSE, 3);
    struct pkie_cmp_ctx *c = client(&s, "");
    transfers_ok(c, 3);
    srv_stop(&s);
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.connections, 3);
    pkie_cmp_ctx_free(c);
}

/* A refused connection fails at once, not after the message timeout
 * (libcrypto's own connect loop would retry until then). */
static void test_connect_refused(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct pkie_cmp_ctx *c = pkie_cmp_ctx_new();
    assert_int_equal(pkie_cmp_ctx_set_server(c, url), 0);
    pkie_cmp_ctx_set_proxy(c, "");
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MSG_TIMEOUT, 20);
    uint8_t *rsp = NULL;
    size_t len = 0;
    time_t t0 = time(NULL);
    assert_int_equal(pkie_cmp_http_transfer(c, req, sizeof(req), &rsp, &len, NULL),
                     PKIE_ERR_CMP_CLIENT_CONNECT);
    assert_true(time(NULL) - t0 <= 5);
    assert_non_null(strstr(pkie_err_last()->msg, "cannot connect"));
    close(fd); /* bound, never listening: refused */
    pkie_cmp_ctx_free(c);
}

/* Through a plain HTTP proxy the request line carries the absolute URI;
 * no_proxy naming the server bypasses the proxy. */
static void test_proxy(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, OK, 2);
    char proxy[64];
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", s.port);
    struct pkie_cmp_ctx *c = pkie_cmp_ctx_new();
    assert_int_equal(pkie_cmp_ctx_set_server(c, "http://cmp.test:8080/pkix/"), 0);
    assert_int_equal(pkie_cmp_ctx_set_proxy(c, proxy), 0);
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MSG_TIMEOUT, 5);
    transfers_ok(c, 1);
    assert_non_null(strstr(s.last_request, "POST http://cmp.test:8080/pkix/ HTTP/1.0"));
    assert_non_null(strcasestr(s.last_request, "Host: cmp.test"));
    pkie_cmp_ctx_free(c);

    /* the proxy refuses connections; no_proxy sends the request directly */
    c = client(&s, "/direct");
    assert_int_equal(pkie_cmp_ctx_set_proxy(c, "http://127.0.0.1:1"), 0);
    assert_int_equal(pkie_cmp_ctx_set_no_proxy(c, "other.test, 127.0.0.1"), 0);
    transfers_ok(c, 1);
    assert_non_null(strstr(s.last_request, "POST /direct HTTP/1.0"));
    pkie_cmp_ctx_free(c);
    srv_stop(&s);
}

/* ---- HTTPS ---------------------------------------------------------------- */

/* A server certificate for 127.0.0.1 and cmp.test, self-signed; its PEM in
 * @p pem (the client's tls_trusted). */
/* (tpki_cert of responder.c, with the subjectAltName added and signed again) */
static void tls_setup(char *pem, size_t cap)
{
    EVP_PKEY *k = tpki_key();
    X509 *x = tpki_cert("tls", k, NULL, k, 0);
    X509V3_CTX v;
    X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
    X509_EXTENSION *e =
        X509V3_EXT_conf_nid(NULL, &v, NID_subject_alt_name, "IP:127.0.0.1,DNS:cmp.test");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    snprintf(pem, cap, "%s/pkie_http_tls_XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(pem);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_true(PEM_write_X509(f, x) == 1);
    fclose(f);
    srv_tls = SSL_CTX_new(TLS_server_method());
    assert_true(SSL_CTX_use_certificate(srv_tls, x) == 1 &&
                SSL_CTX_use_PrivateKey(srv_tls, k) == 1);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void tls_teardown(const char *pem)
{
    SSL_CTX_free(srv_tls);
    srv_tls = NULL;
    unlink(pem);
}

static struct pkie_cmp_ctx *tls_client(const struct srv *s, const char *pem, const char *host)
{
    struct pkie_cmp_ctx *c = pkie_cmp_ctx_new();
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/pkix/", s->port);
    assert_int_equal(pkie_cmp_ctx_set_server(c, url), 0);
    pkie_cmp_ctx_set_proxy(c, "");
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MSG_TIMEOUT, 5);
    assert_int_equal(pkie_cmp_ctx_set_tls_trusted(c, pem, host), 0);
    return c;
}

/* HTTPS: one kept-alive TLS connection; a server that closes it while idle
 * gets the request again over a new one; a wrong host name is refused. */
static void test_tls(void **state)
{
    (void)state;
    char pem[256];
    tls_setup(pem, sizeof(pem));
    struct srv s;
    srv_start(&s, OK, 3);
    struct pkie_cmp_ctx *c = tls_client(&s, pem, NULL);
    transfers_ok(c, 3);
    pkie_cmp_ctx_free(c);
    srv_stop(&s);
    assert_int_equal(s.connections, 1);

    srv_start(&s, IDLE_CLOSE, 3);
    c = tls_client(&s, pem, "cmp.test");
    transfers_ok(c, 3);
    pkie_cmp_ctx_free(c);
    srv_stop(&s);
    assert_int_equal(s.connections, 3);

    srv_start(&s, OK, 1);
    c = tls_client(&s, pem, "other.test");
    uint8_t *rsp = NULL;
    size_t len = 0;
    assert_int_equal(pkie_cmp_http_transfer(c, req, sizeof(req), &rsp, &len, NULL),
                     PKIE_ERR_CMP_CLIENT_TLS);
    assert_null(rsp);
    pkie_cmp_ctx_free(c);
    srv_stop(&s);
    tls_teardown(pem);
}

/* keep_alive 2: an answer without keep-alive is an error */
static void test_keep_alive_required(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, HTTP10, 1);
    struct pkie_cmp_ctx *c = client(&s, "");
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_KEEP_ALIVE, 2);
    uint8_t *rsp = NULL;
    size_t len = 0;
    assert_int_equal(pkie_cmp_http_transfer(c, req, sizeof(req), &rsp, &len, NULL),
                     PKIE_ERR_CMP_CLIENT_HTTP);
    assert_null(rsp);
    srv_stop(&s);
    pkie_cmp_ctx_free(c);
}

/* One request against a server in @p mode (CANNED: answering @p raw);
 * the transfer must fail with @p code and give no response. */
static void expect_error_raw(enum mode mode, const char *raw, size_t raw_len, int code,
                             int max_resp)
{
    struct srv s;
    srv_start(&s, mode, 1);
    s.canned = raw;
    s.canned_len = raw_len;
    struct pkie_cmp_ctx *c = client(&s, "");
    if (max_resp > 0)
        pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MAX_RESP_SIZE, max_resp);
    if (mode == SLOW)
        pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MSG_TIMEOUT, 1);
    uint8_t *rsp = NULL;
    size_t len = 0;
    time_t t0 = time(NULL);
    int rc = pkie_cmp_http_transfer(c, req, sizeof(req), &rsp, &len, NULL);
    if (rc != code)
        fprintf(stderr, "answer %.40s: got %d (%s), expected %d\n", raw != NULL ? raw : "-", rc,
                pkie_err_last()->msg, code);
    assert_int_equal(rc, code);
    assert_null(rsp);
    if (mode == SLOW)
        assert_true(time(NULL) - t0 <= 2);
    pkie_cmp_ctx_free(c);
    srv_stop(&s);
}

static void expect_error(enum mode mode, int code, int max_resp)
{
    expect_error_raw(mode, NULL, 0, code, max_resp);
}

#define CANNED_ERROR(raw, code) expect_error_raw(CANNED, raw, sizeof(raw) - 1, code, 0)

static void test_http_errors(void **state)
{
    (void)state;
    expect_error(NOT_FOUND, PKIE_ERR_CMP_CLIENT_HTTP_STATUS, 0);
    expect_error(HTML, PKIE_ERR_CMP_CLIENT_CONTENT_TYPE, 0);
    expect_error(HUGE_DECLARED, PKIE_ERR_LIMIT, 0);
    expect_error(HUGE_STREAM, PKIE_ERR_LIMIT, 65536);
    expect_error(SLOW, PKIE_ERR_TIMEOUT, 0);
}

/* Hostile and malformed answers: each refused with a specific error. */
static void test_malformed_answers(void **state)
{
    (void)state;
    /* redirections are refused for POST (no Location followed) */
    CANNED_ERROR("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\n"
                 "Content-Length: 0\r\n\r\n",
                 PKIE_ERR_CMP_CLIENT_HTTP_STATUS);
    CANNED_ERROR("HTTP/1.1 301 Moved\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n",
                 PKIE_ERR_CMP_CLIENT_HTTP_STATUS);
    CANNED_ERROR("HTTP/1.1 500 Internal Server Error\r\n\r\n", PKIE_ERR_CMP_CLIENT_HTTP_STATUS);
    /* Content-Type missing, or not exactly application/pkixcmp */
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n\x30\x03\x02\x01\x05",
                 PKIE_ERR_CMP_CLIENT_CONTENT_TYPE);
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp-poll\r\n"
                 "Content-Length: 5\r\n\r\n\x30\x03\x02\x01\x05",
                 PKIE_ERR_CMP_CLIENT_CONTENT_TYPE);
    /* not HTTP at all, a bad status line, a bad header block */
    CANNED_ERROR("SSH-2.0-OpenSSH_9.2\r\n\r\n", PKIE_ERR_CMP_CLIENT_HTTP);
    CANNED_ERROR("HTTP/1.0 2000 OK\r\n\r\n", PKIE_ERR_CMP_CLIENT_HTTP_STATUS);
    CANNED_ERROR("HTTP/2 200\r\n\r\n", PKIE_ERR_CMP_CLIENT_HTTP);
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                 "Content-Length: 5x\r\n\r\n\x30\x03\x02\x01\x05",
                 PKIE_ERR_CMP_CLIENT_HTTP);
    /* the body: not DER, indefinite length, length against Content-Length,
     * cut short */
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                 "Content-Length: 5\r\n\r\n<html",
                 PKIE_ERR_CMP_CLIENT_HTTP);
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n\r\n"
                 "\x30\x80\x02\x01\x05\x00\x00",
                 PKIE_ERR_CMP_CLIENT_HTTP);
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                 "Content-Length: 9\r\n\r\n\x30\x03\x02\x01\x05",
                 PKIE_ERR_CMP_CLIENT_HTTP);
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n\r\n"
                 "\x30\x10\x02\x01\x05",
                 PKIE_ERR_CMP_CLIENT_HTTP);
    CANNED_ERROR("HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                 "Content-Length: 0\r\n\r\n",
                 PKIE_ERR_CMP_CLIENT_HTTP);
    /* no answer at all, and an overlong header line */
    CANNED_ERROR("", PKIE_ERR_CMP_CLIENT_HTTP);
    static char longline[40000];
    int n = snprintf(longline, sizeof(longline), "HTTP/1.0 200 OK\r\nX-Long: ");
    memset(longline + n, 'a', sizeof(longline) - (size_t)n - 1);
    expect_error_raw(CANNED, longline, strlen(longline), PKIE_ERR_CMP_CLIENT_HTTP, 0);
}

/* The response bound holds against a Content-Length over the bound and a
 * DER length over it, with the bound set low. */
static void test_size_bound(void **state)
{
    (void)state;
    static const char declared[] = "HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                                   "Content-Length: 100\r\n\r\n";
    expect_error_raw(CANNED, declared, sizeof(declared) - 1, PKIE_ERR_LIMIT, 64);
    static const char der[] = "HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n\r\n"
                              "\x30\x82\x01\x00\x02\x01";
    expect_error_raw(CANNED, der, sizeof(der) - 1, PKIE_ERR_LIMIT, 64);
}

static void test_total_timeout_cuts_message(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, SLOW, 1);
    struct pkie_cmp_ctx *c = client(&s, "");
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MSG_TIMEOUT, 0); /* unlimited per message */
    pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_TOTAL_TIMEOUT, 1);
    pkie_cmp_ctx_set_ref(c, (const uint8_t *)"r", 1);
    pkie_cmp_ctx_set_secret(c, (const uint8_t *)"s", 1);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pkie_cmp_ctx_set_newkey(c, k);
    time_t t0 = time(NULL);
    assert_null(pkie_cmp_exec_ir(c));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_TIMEOUT);
    assert_true(time(NULL) - t0 <= 2);
    EVP_PKEY_free(k);
    pkie_cmp_ctx_free(c);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_and_keep_alive),
        cmocka_unit_test(test_keep_alive_off),
        cmocka_unit_test(test_idle_close_reconnects),
        cmocka_unit_test(test_keep_alive_required),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_proxy),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_malformed_answers),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_total_timeout_cuts_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
