/* Unit tests: the CA's HTTP transport (routing, limits, timeouts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ca_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

static char last_profile[80];
static size_t last_len;

static int echo(void *arg, const char *profile, const uint8_t *req, size_t len, uint8_t **resp,
                size_t *resp_len)
{
    (void)arg;
    snprintf(last_profile, sizeof(last_profile), "%s", profile != NULL ? profile : "(none)");
    last_len = len;
    if (len == 4 && memcmp(req, "fail", 4) == 0)
        return -1;
    *resp = malloc(len + 1);
    memcpy(*resp, req, len);
    *resp_len = len;
    return 0;
}

static int crl(void *arg, uint8_t **der, size_t *len)
{
    (void)arg;
    *der = malloc(3);
    memcpy(*der, "\x30\x01\x00", 3);
    *len = 3;
    return 0;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Read until EOF or timeout; returns bytes read into buf (NUL-terminated). */
static size_t read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (n + 1 < cap && poll(&p, 1, timeout_ms) > 0) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static char *exchange(uint16_t port, const char *request)
{
    static char buf[8192];
    int fd = connect_to(port);
    send_str(fd, request);
    read_all(fd, buf, sizeof(buf), 3000);
    close(fd);
    return buf;
}

struct fx {
    struct pkie_ca_http *h;
    uint16_t port;
};

static int start(void **state, unsigned timeout)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct pkie_ca_http_params p = {
        .listen = "127.0.0.1:0", .threads = 2, .timeout = timeout, .handler = echo, .crl = crl};
    assert_int_equal(pkie_ca_http_start(&p, &f->h), 0);
    f->port = pkie_ca_http_port(f->h);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

/* A 10 s idle timeout: what a test sees within a few seconds is not the timeout
 * (on a loaded machine a close "at once" can take a good part of a second). */
static int setup(void **state)
{
    return start(state, 10);
}

/* A 1 s idle timeout, for the slow client. */
static int setup_short_timeout(void **state)
{
    return start(state, 1);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pkie_ca_http_stop(f->h);
    free(f);
    return 0;
}

static void test_routes(void **state)
{
    struct fx *f = *state;
    char *r = exchange(f->port, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/pkixcmp\r\nContent-Length: 5\r\nConnection: "
                                "close\r\n\r\nhello");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "application/pkixcmp"));
    assert_non_null(strstr(r, "\r\n\r\nhello"));
    assert_string_equal(last_profile, "(none)");
    r = exchange(f->port, "POST /.well-known/cmp/p/tls HTTP/1.1\r\nHost: x\r\nContent-Length: "
                          "2\r\nConnection: close\r\n\r\nab");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_string_equal(last_profile, "tls");
    r = exchange(f->port, "POST /.well-known/cmp/p/../x HTTP/1.1\r\nHost: x\r\nContent-Length: "
                          "2\r\nConnection: close\r\n\r\nab");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    r = exchange(f->port, "GET /crl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "application/pkix-crl"));
    r = exchange(f->port, "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    r = exchange(f->port, "PUT /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: "
                          "close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    r = exchange(f->port, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 2\r\nConnection: close\r\n\r\nab");
    assert_non_null(strstr(r, "HTTP/1.1 415"));
    r = exchange(f->port, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: "
                          "close\r\n\r\nfail");
    assert_non_null(strstr(r, "HTTP/1.1 500"));
}

static void test_too_large_by_header(void **state)
{
    struct fx *f = *state;
    /* The 413 arrives although no body byte was sent. */
    int fd = connect_to(f->port);
    send_str(fd, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n");
    char buf[2048];
    read_all(fd, buf, sizeof(buf), 3000);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    /* exactly 1 MiB is accepted */
    fd = connect_to(f->port);
    send_str(fd, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\nConnection: "
                 "close\r\n\r\n");
    char *body = calloc(1, 1 << 20);
    memset(body, 'a', 1 << 20);
    size_t off = 0;
    while (off < (1u << 20)) {
        ssize_t w = send(fd, body + off, (1u << 20) - off, MSG_NOSIGNAL);
        assert_true(w > 0);
        off += (size_t)w;
    }
    free(body);
    read_all(fd, buf, 64, 5000);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_int_equal(last_len, 1 << 20);
}

static void test_too_large_chunked(void **state)
{
    struct fx *f = *state;
    /* No Content-Length: 17 chunks of 64 KiB (> 1 MiB) and never the final chunk.
     * The server must give up on the connection by itself (not wait for the end,
     * not call the handler). */
    last_len = 0;
    int fd = connect_to(f->port);
    send_str(fd, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[65536 + 16];
    int n = snprintf(chunk, sizeof(chunk), "10000\r\n");
    memset(chunk + n, 'b', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    size_t clen = (size_t)n + 65536 + 2;
    for (int i = 0; i < 17; i++)
        if (send(fd, chunk, clen, MSG_NOSIGNAL) <= 0)
            break;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char buf[2048];
    read_all(fd, buf, sizeof(buf), 5000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    /* closed by the server because of the size: before our 5 s and well
     * before its 10 s idle timeout */
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms < 4000);
    assert_null(strstr(buf, "HTTP/1.1 200"));
    assert_int_equal(last_len, 0);
}

static void test_slow_client_times_out(void **state)
{
    struct fx *f = *state;
    int fd = connect_to(f->port);
    send_str(fd, "POST /pkix/ HTTP/1.1\r\nHost: x\r\n");
    time_t t0 = time(NULL);
    char buf[256];
    read_all(fd, buf, sizeof(buf), 5000); /* returns when the server closes */
    time_t dt = time(NULL) - t0;
    close(fd);
    assert_true(dt <= 4);
    /* the server still answers others */
    char *r = exchange(f->port, "POST /pkix/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\nok");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
}

static void test_bad_listen(void **state)
{
    (void)state;
    struct pkie_ca_http *h = NULL;
    struct pkie_ca_http_params p = {.listen = "nonsense", .handler = echo};
    assert_int_equal(pkie_ca_http_start(&p, &h), PKIE_ERR_ARG);
    p.listen = "127.0.0.1:99999";
    assert_int_equal(pkie_ca_http_start(&p, &h), PKIE_ERR_ARG);
    p.listen = "127.0.0.1:0";
    p.tls_cert = "/nonexistent";
    assert_int_equal(pkie_ca_http_start(&p, &h), PKIE_ERR_ARG);
    p.tls_key = "/nonexistent";
    assert_int_equal(pkie_ca_http_start(&p, &h), PKIE_ERR_IO);
    assert_null(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_by_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_times_out, setup_short_timeout, teardown),
        cmocka_unit_test(test_bad_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
