/* Unit tests: the metrics registry, its text exposition, pkie's hooks and the
 * /metrics endpoint (include/pkie/metrics.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/metrics.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *render(struct pkie_metrics *r)
{
    char *t = NULL;
    size_t l = 0;
    assert_int_equal(pkie_metrics_write(r, &t, &l), 0);
    assert_int_equal(strlen(t), l);
    return t;
}

static void assert_has(const char *text, const char *line)
{
    if (strstr(text, line) == NULL)
        fail_msg("missing <%s> in:\n%s", line,
                 strstr(text, "# HELP pkie_cert") ? strstr(text, "# HELP pkie_cert") : text);
}

static void test_escape(void **state)
{
    (void)state;
    char b[64];
    size_t l = 0;
    const char in[] = "a\\b\"c\nd\xc3\xa9";
    assert_int_equal(pkie_metrics_escape_value(b, sizeof(b), &l, in, strlen(in)), 0);
    assert_string_equal(b, "a\\\\b\\\"c\\nd\xc3\xa9");
    assert_int_equal(l, strlen(b));
    /* bytes that are not UTF-8 (a lone continuation, a cut sequence, an
     * overlong form) become U+FFFD; carriage return and tab stay */
    l = 0;
    const char bad[] = "\x80x\xc3\xc0\xafy\r\t";
    assert_int_equal(pkie_metrics_escape_value(b, sizeof(b), &l, bad, strlen(bad)), 0);
    assert_string_equal(b, "\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy\r\t");
    /* does not fit */
    l = 0;
    assert_int_equal(pkie_metrics_escape_value(b, 4, &l, "\"\"\"", 3), PKIE_ERR_LIMIT);
}

static void test_counter_text(void **state)
{
    (void)state;
    struct pkie_metrics *r;
    struct pkie_metric *c, *g;
    static const char *const labels[] = {"partner", "result"};
    const struct pkie_metric_def dc = {.name = "t_transfers_total",
                                       .help = "Help with \\ and\nnewline.",
                                       .type = PKIE_METRIC_COUNTER,
                                       .labels = labels,
                                       .n_labels = 2};
    const struct pkie_metric_def dg = {.name = "t_pending", .help = "h", .type = PKIE_METRIC_GAUGE};
    assert_int_equal(pkie_metrics_new(&r), 0);
    assert_int_equal(pkie_metrics_family(r, &dc, &c), 0);
    assert_int_equal(pkie_metrics_family(r, &dg, &g), 0);
    char *t = render(r);
    /* an empty labelled family: HELP and TYPE only; one without labels: 0 */
    assert_string_equal(t, "# HELP t_transfers_total Help with \\\\ and\\nnewline.\n"
                           "# TYPE t_transfers_total counter\n"
                           "# HELP t_pending h\n# TYPE t_pending gauge\nt_pending 0\n"
                           "# HELP pkie_metrics_series_dropped_total Updates dropped: their "
                           "family was at its bound of label sets.\n"
                           "# TYPE pkie_metrics_series_dropped_total counter\n"
                           "pkie_metrics_series_dropped_total 0\n");
    free(t);
    const char *v1[] = {"acme \"x\"\n", "ok"};
    const char *v2[] = {NULL, "failed"};
    assert_int_equal(pkie_metric_add(c, v1, 2), 0);
    assert_int_equal(pkie_metric_add(c, v1, 3), 0);
    assert_int_equal(pkie_metric_add(c, v2, 1), 0);
    assert_int_equal(pkie_metric_gauge_add(g, NULL, 2.5), 0);
    assert_int_equal(pkie_metric_gauge_add(g, NULL, -1), 0);
    /* the wrong operation for the type */
    assert_int_equal(pkie_metric_gauge_set(c, v1, 1), PKIE_ERR_ARG);
    assert_int_equal(pkie_metric_add(g, NULL, 1), PKIE_ERR_ARG);
    assert_int_equal(pkie_metric_observe(c, v1, 1), PKIE_ERR_ARG);
    /* label values are required for a labelled family */
    assert_int_equal(pkie_metric_add(c, NULL, 1), PKIE_ERR_ARG);
    t = render(r);
    assert_has(t, "\nt_transfers_total{partner=\"acme \\\"x\\\"\\n\",result=\"ok\"} 5\n");
    assert_has(t, "\nt_transfers_total{partner=\"\",result=\"failed\"} 1\n");
    assert_has(t, "\nt_pending 1.5\n");
    free(t);
    /* integral values print as integers, whatever their trailing zeros (a
     * Unix time ending in 0 once came out as 1.79894567e+09); past 2^53 and
     * for fractions, the shortest text that reads back */
    static const struct {
        double v;
        const char *text;
    } nums[] = {{1798945670, "\nt_pending 1798945670\n"},
                {-20, "\nt_pending -20\n"},
                {-0.0, "\nt_pending 0\n"},
                {9007199254740992.0, "\nt_pending 9007199254740992\n"},
                {1e20, "\nt_pending 1e+20\n"},
                {0.1, "\nt_pending 0.1\n"},
                {1798945670.5, "\nt_pending 1798945670.5\n"}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        assert_int_equal(pkie_metric_gauge_set(g, NULL, nums[i].v), 0);
        t = render(r);
        assert_has(t, nums[i].text);
        free(t);
    }
    assert_int_equal(pkie_metric_series(c), 2);
    assert_int_equal(pkie_metric_remove(c, v2), 0);
    assert_int_equal(pkie_metric_series(c), 1);
    assert_int_equal(pkie_metric_remove(c, v2), 0); /* none: still 0 */
    pkie_metric_clear(c);
    assert_int_equal(pkie_metric_series(c), 0);
    pkie_metrics_free(r);
}

static void test_histogram(void **state)
{
    (void)state;
    struct pkie_metrics *r;
    struct pkie_metric *h;
    static const char *const labels[] = {"dir"};
    static const double b[] = {0.1, 1, 2.5};
    const struct pkie_metric_def d = {.name = "t_duration_seconds",
                                      .help = "h",
                                      .type = PKIE_METRIC_HISTOGRAM,
                                      .labels = labels,
                                      .n_labels = 1,
                                      .buckets = b,
                                      .n_buckets = 3};
    assert_int_equal(pkie_metrics_new(&r), 0);
    assert_int_equal(pkie_metrics_family(r, &d, &h), 0);
    const char *v[] = {"in"};
    /* le is inclusive: 0.1 counts in le="0.1"; 1e9 only in +Inf */
    double obs[] = {0.05, 0.1, 0.7, 2.5, 1e9};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(pkie_metric_observe(h, v, obs[i]), 0);
    assert_int_equal(pkie_metric_observe(h, v, NAN), PKIE_ERR_ARG);
    char *t = render(r);
    assert_has(t, "# TYPE t_duration_seconds histogram\n"
                  "t_duration_seconds_bucket{dir=\"in\",le=\"0.1\"} 2\n"
                  "t_duration_seconds_bucket{dir=\"in\",le=\"1\"} 3\n"
                  "t_duration_seconds_bucket{dir=\"in\",le=\"2.5\"} 4\n"
                  "t_duration_seconds_bucket{dir=\"in\",le=\"+Inf\"} 5\n"
                  "t_duration_seconds_sum{dir=\"in\"} 1000000003.35\n"
                  "t_duration_seconds_count{dir=\"in\"} 5\n");
    free(t);
    pkie_metrics_free(r);
}

static void test_bad_defs(void **state)
{
    (void)state;
    struct pkie_metrics *r;
    struct pkie_metric *m;
    static const char *const le[] = {"le"};
    static const char *const under[] = {"__x"};
    static const char *const dup[] = {"a", "a"};
    static const char *const bad[] = {"a-b"};
    static const char *const five[] = {"a", "b", "c", "d", "e"};
    static const double down[] = {1, 0.5};
    static const double nan_b[] = {NAN};
    const struct pkie_metric_def defs[] = {
        {.name = "t_no_suffix", .type = PKIE_METRIC_COUNTER},
        {.name = "1abc", .type = PKIE_METRIC_GAUGE},
        {.name = "a b", .type = PKIE_METRIC_GAUGE},
        {.name = NULL, .type = PKIE_METRIC_GAUGE},
        {.name = "t_g", .type = (enum pkie_metric_type)7},
        {.name = "t_h",
         .type = PKIE_METRIC_HISTOGRAM,
         .labels = le,
         .n_labels = 1,
         .buckets = down,
         .n_buckets = 1},
        {.name = "t_g", .type = PKIE_METRIC_GAUGE, .labels = under, .n_labels = 1},
        {.name = "t_g", .type = PKIE_METRIC_GAUGE, .labels = dup, .n_labels = 2},
        {.name = "t_g", .type = PKIE_METRIC_GAUGE, .labels = bad, .n_labels = 1},
        {.name = "t_g", .type = PKIE_METRIC_GAUGE, .labels = five, .n_labels = 5},
        {.name = "t_h", .type = PKIE_METRIC_HISTOGRAM, .buckets = down, .n_buckets = 2},
        {.name = "t_h", .type = PKIE_METRIC_HISTOGRAM, .buckets = nan_b, .n_buckets = 1},
        {.name = "t_h", .type = PKIE_METRIC_HISTOGRAM},
        {.name = "t_g", .type = PKIE_METRIC_GAUGE, .buckets = down, .n_buckets = 1},
    };
    assert_int_equal(pkie_metrics_new(&r), 0);
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (pkie_metrics_family(r, &defs[i], &m) != PKIE_ERR_ARG)
            fail_msg("definition %zu accepted", i);
    const struct pkie_metric_def ok = {.name = "t:ok_total", .type = PKIE_METRIC_COUNTER};
    assert_int_equal(pkie_metrics_family(r, &ok, &m), 0);
    assert_int_equal(pkie_metrics_family(r, &ok, &m), PKIE_ERR_ARG); /* twice */
    pkie_metrics_free(r);
}

static void test_bound(void **state)
{
    (void)state;
    struct pkie_metrics *r;
    struct pkie_metric *c;
    static const char *const labels[] = {"partner"};
    const struct pkie_metric_def d = {.name = "t_total",
                                      .help = "h",
                                      .type = PKIE_METRIC_COUNTER,
                                      .labels = labels,
                                      .n_labels = 1,
                                      .max_series = 3};
    assert_int_equal(pkie_metrics_new(&r), 0);
    assert_int_equal(pkie_metrics_family(r, &d, &c), 0);
    char name[32];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        const char *v[] = {name};
        assert_int_equal(pkie_metric_add(c, v, 1), i < 3 ? 0 : PKIE_ERR_LIMIT);
    }
    const char *v0[] = {"p0"};
    assert_int_equal(pkie_metric_add(c, v0, 1), 0); /* a known set still counts */
    assert_int_equal(pkie_metric_series(c), 3);
    assert_int_equal(pkie_metrics_dropped(r), 7);
    char *t = render(r);
    assert_has(t, "t_total{partner=\"p0\"} 2\n");
    assert_null(strstr(t, "p3"));
    assert_has(t, "\npkie_metrics_series_dropped_total 7\n");
    free(t);
    /* a value longer than PKIE_METRICS_VALUE_MAX is cut before a character */
    pkie_metric_clear(c);
    char *longv = malloc(PKIE_METRICS_VALUE_MAX + 8);
    memset(longv, 'a', PKIE_METRICS_VALUE_MAX - 1);
    memcpy(longv + PKIE_METRICS_VALUE_MAX - 1, "\xc3\xa9zz", 5);
    const char *vl[] = {longv};
    assert_int_equal(pkie_metric_add(c, vl, 1), 0);
    assert_int_equal(pkie_metric_add(c, vl, 1), 0); /* the same set, cut the same way */
    assert_int_equal(pkie_metric_series(c), 1);
    t = render(r);
    char *q = strstr(t, "t_total{partner=\"");
    assert_non_null(q);
    q += strlen("t_total{partner=\"");
    assert_int_equal(strcspn(q, "\""), PKIE_METRICS_VALUE_MAX - 1);
    assert_string_equal(strchr(q, '"'), "\"} 2\n# HELP pkie_metrics_series_dropped_total Updates "
                                        "dropped: their family was at its bound of label "
                                        "sets.\n# TYPE pkie_metrics_series_dropped_total "
                                        "counter\npkie_metrics_series_dropped_total 7\n");
    free(t);
    free(longv);
    pkie_metrics_free(r);
}

/* ---- concurrency ---- */

#define THREADS 8
#define ROUNDS  20000

struct conc {
    struct pkie_metric *c, *h;
    struct pkie_metrics *r;
    int id;
};

static void *worker(void *arg)
{
    struct conc *w = arg;
    static const char *const names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < ROUNDS; i++) {
        const char *v[] = {names[(i + w->id) % 4]};
        pkie_metric_add(w->c, v, 1);
        pkie_metric_observe(w->h, v, (double)(i % 3));
        if (w->id == 0 && i % 2000 == 0) { /* a scrape while the others count */
            char *t = NULL;
            size_t l;
            pkie_metrics_write(w->r, &t, &l);
            free(t);
        }
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    struct pkie_metrics *r;
    struct pkie_metric *c, *h;
    static const char *const labels[] = {"k"};
    static const double b[] = {0.5, 1.5};
    const struct pkie_metric_def dc = {
        .name = "t_total", .type = PKIE_METRIC_COUNTER, .labels = labels, .n_labels = 1};
    const struct pkie_metric_def dh = {.name = "t_seconds",
                                       .type = PKIE_METRIC_HISTOGRAM,
                                       .labels = labels,
                                       .n_labels = 1,
                                       .buckets = b,
                                       .n_buckets = 2};
    assert_int_equal(pkie_metrics_new(&r), 0);
    assert_int_equal(pkie_metrics_family(r, &dc, &c), 0);
    assert_int_equal(pkie_metrics_family(r, &dh, &h), 0);
    pthread_t th[THREADS];
    struct conc w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct conc){c, h, r, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    char *t = render(r);
    char line[128];
    for (int k = 0; k < 4; k++) {
        snprintf(line, sizeof(line), "t_total{k=\"%c\"} %d\n", 'a' + k, THREADS * ROUNDS / 4);
        assert_has(t, line);
        snprintf(line, sizeof(line), "t_seconds_count{k=\"%c\"} %d\n", 'a' + k,
                 THREADS * ROUNDS / 4);
        assert_has(t, line);
    }
    free(t);
    pkie_metrics_free(r);
}

/* ---- listen addresses ---- */

static void test_listen_check(void **state)
{
    (void)state;
    static const struct {
        const char *a;
        int loopback;
    } good[] = {{"127.0.0.1:9464", 1}, {"localhost:1", 1},  {"127.8.9.10:0", 1},
                {"[::1]:9464", 1},     {"0.0.0.0:9464", 0}, {"10.1.2.3:65535", 0},
                {"[::]:80", 0}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int lo = -1;
        if (pkie_metrics_listen_check(good[i].a, &lo) != 0)
            fail_msg("%s refused", good[i].a);
        assert_int_equal(lo, good[i].loopback);
    }
    static const char *const bad[] = {
        "9464",         "host.example:9464", "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:-1", "[::1:80",           ":80",        "127.0.0.1:80x",
        "*:9464",       "127.0.0.1: 80",     "",           "[::1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pkie_metrics_listen_check(bad[i], NULL) != PKIE_ERR_ARG)
            fail_msg("%s accepted", bad[i]);
    assert_int_equal(pkie_metrics_listen_check(NULL, NULL), PKIE_ERR_ARG);
}

/* ---- pkie's hooks ---- */

static X509 *make_cert(const char *cn, long serial, long days)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"pkie \"t\"", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    EVP_PKEY_free(k);
    return x;
}

static double not_after(const X509 *x)
{
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
    return (double)timegm(&tm);
}

static void test_hooks(void **state)
{
    (void)state;
    /* off: nothing happens, the registry does not exist */
    pkie_metrics_transfer("acme", "in", "ok", 10, 5);
    assert_null(pkie_metrics_default());
    assert_int_equal(pkie_metrics_init(PKIE_METRICS_TRANSFER), 0);
    assert_int_equal(pkie_metrics_init(PKIE_METRICS_TRANSFER), PKIE_ERR_STATE);
    pkie_metrics_transfer("acme", "in", "ok", 1000, 1500);
    pkie_metrics_transfer("acme", "in", "ok", 24, 20);
    pkie_metrics_transfer("acme", "in", "refused", 0, 0);
    pkie_metrics_handshake_failure(42);
    pkie_metrics_handshake_failure(-1);
    pkie_metrics_session("handshaking", 1);
    pkie_metrics_session("handshaking", 1);
    pkie_metrics_session("handshaking", -1);
    pkie_metrics_exit_call("GetCertificate", 0);
    pkie_metrics_exit_call("GetCertificate", 1);
    pkie_metrics_exit_call("GetCertificate", 2);
    pkie_metrics_ca_request("ir", "accepted"); /* a family of another set: ignored */
    X509 *a = make_cert("recv\xc3\xa9", 0x1234, 30), *b = make_cert("recv", 0x99, 60);
    pkie_metrics_cert("recv", a);
    pkie_metrics_cert("recv", a); /* the same again */
    char *t = render(pkie_metrics_default());
    assert_has(t, "pkie_transfers_total{partner=\"acme\",direction=\"in\",result=\"ok\"} 2\n");
    assert_has(t, "pkie_transfers_total{partner=\"acme\",direction=\"in\",result=\"refused\"} 1\n");
    assert_has(t, "pkie_transfer_bytes_total{partner=\"acme\",direction=\"in\"} 1024\n");
    assert_has(t, "pkie_transfer_duration_seconds_count{partner=\"acme\",direction=\"in\"} 2\n");
    assert_has(t, "pkie_transfer_duration_seconds_bucket{partner=\"acme\",direction=\"in\","
                  "le=\"0.025\"} 1\n");
    assert_has(t, "pkie_transfer_duration_seconds_bucket{partner=\"acme\",direction=\"in\","
                  "le=\"2.5\"} 2\n");
    assert_has(t, "pkie_transfer_duration_seconds_sum{partner=\"acme\",direction=\"in\"} 1.52\n");
    assert_has(t, "pkie_handshake_failures_total{alert=\"bad_certificate\"} 1\n");
    assert_has(t, "pkie_handshake_failures_total{alert=\"none\"} 1\n");
    assert_has(t, "pkie_sessions{state=\"handshaking\"} 1\n");
    assert_has(t, "pkie_exit_calls_total{phase=\"GetCertificate\",result=\"handled\"} 1\n");
    assert_has(t, "pkie_exit_calls_total{phase=\"GetCertificate\",result=\"not_handled\"} 1\n");
    assert_has(t, "pkie_exit_calls_total{phase=\"GetCertificate\",result=\"error\"} 1\n");
    assert_null(strstr(t, "pkie_ca_"));
    char line[256];
    snprintf(line, sizeof(line),
             /* RFC 4514 escapes the quote (\"), the label escapes both characters */
             "pkie_certificate_expiry_timestamp_seconds{id=\"recv\",subject=\"CN=recv\xc3\xa9,"
             "O=pkie \\\\\\\"t\\\\\\\"\",serial=\"1234\"} %.0f\n",
             not_after(a));
    assert_has(t, line);
    free(t);
    /* renewed: one series for the id, the new one */
    pkie_metrics_cert("recv", b);
    pkie_metrics_cert("exit", a);
    t = render(pkie_metrics_default());
    assert_null(strstr(t, "{id=\"recv\",subject=\"CN=recv\xc3\xa9"));
    snprintf(line, sizeof(line),
             "pkie_certificate_expiry_timestamp_seconds{id=\"recv\",subject=\"CN=recv,"
             "O=pkie \\\\\\\"t\\\\\\\"\",serial=\"99\"} %.0f\n",
             not_after(b));
    assert_has(t, line);
    assert_has(t, "pkie_certificate_expiry_timestamp_seconds{id=\"exit\"");
    free(t);
    pkie_metrics_certs_clear();
    t = render(pkie_metrics_default());
    assert_null(strstr(t, "pkie_certificate_expiry_timestamp_seconds{"));
    free(t);
    pkie_metrics_shutdown();
    assert_false(pkie_metrics_enabled());
    pkie_metrics_cert("recv", a); /* off again: nothing */
    /* the CA's set */
    assert_int_equal(pkie_metrics_init(PKIE_METRICS_CA), 0);
    pkie_metrics_ca_request("ir", "accepted");
    pkie_metrics_ca_request("ir", "accepted");
    pkie_metrics_ca_request("invalid", "rejected");
    pkie_metrics_ca_pending(3);
    pkie_metrics_transfer("acme", "in", "ok", 1, 1); /* not in this set */
    t = render(pkie_metrics_default());
    assert_has(t, "pkie_ca_requests_total{type=\"ir\",result=\"accepted\"} 2\n");
    assert_has(t, "pkie_ca_requests_total{type=\"invalid\",result=\"rejected\"} 1\n");
    assert_has(t, "\npkie_ca_pending_requests 3\n");
    assert_has(t, "\npkie_ca_crl_next_update_timestamp_seconds 0\n");
    assert_null(strstr(t, "pkie_transfers_total"));
    free(t);
    pkie_metrics_shutdown();
    X509_free(a);
    X509_free(b);
}

/* ---- the endpoint ---- */

/* Send @p req to 127.0.0.1:@p port, read the answer until the server closes
 * (or 5 s pass) into @p out. */
static void http(uint16_t port, const char *req, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t n = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    close(fd);
}

/* As http, for a request that must get an answer: the endpoint refuses a
 * connection over its bound of 4 per address, and the connections of the
 * previous requests may not be closed on its side yet (a loaded machine):
 * try again for up to 10 s while nothing comes back. */
static void http_answer(uint16_t port, const char *req, char *out, size_t cap)
{
    for (int i = 0; i < 100; i++) {
        http(port, req, out, cap);
        if (out[0] != '\0')
            return;
        poll(NULL, 0, 100);
    }
}

static void test_server(void **state)
{
    (void)state;
    struct pkie_metrics_server *s = NULL;
    struct pkie_metrics *r;
    struct pkie_metric *c;
    static const char *const labels[] = {"k"};
    const struct pkie_metric_def d = {.name = "t_total",
                                      .help = "h",
                                      .type = PKIE_METRIC_COUNTER,
                                      .labels = labels,
                                      .n_labels = 1};
    assert_int_equal(pkie_metrics_new(&r), 0);
    assert_int_equal(pkie_metrics_family(r, &d, &c), 0);
    const char *v[] = {"x"};
    pkie_metric_add(c, v, 7);
    assert_int_equal(pkie_metrics_server_start("nohost:1", r, &s), PKIE_ERR_ARG);
    assert_null(s);
    assert_int_equal(pkie_metrics_server_start("127.0.0.1:0", NULL, &s), PKIE_ERR_ARG);
    assert_int_equal(pkie_metrics_server_start("127.0.0.1:0", r, &s), 0);
    uint16_t port = pkie_metrics_server_port(s);
    assert_true(port > 0);
    char buf[8192];
    http_answer(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(buf, "\r\n\r\n# HELP t_total h\n"));
    assert_non_null(strstr(buf, "t_total{k=\"x\"} 7\n"));
    http_answer(port, "GET /metricsx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 404"));
    http_answer(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 404"));
    http_answer(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", buf,
                sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 405"));
    assert_non_null(strstr(buf, "Allow: GET\r\n"));
    http_answer(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 405"));
    /* garbage: an error answer or a closed connection, never the metrics */
    http(port, "\x01\x02garbage\r\n\r\n", buf, sizeof(buf));
    assert_null(strstr(buf, "t_total"));
    /* a header over the connection's memory */
    char *big = malloc(40000);
    snprintf(big, 40000, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    size_t l = strlen(big);
    memset(big + l, 'a', 40000 - l - 5);
    memcpy(big + 40000 - 5, "\r\n\r\n", 5);
    http(port, big, buf, sizeof(buf));
    assert_null(strstr(buf, "t_total"));
    free(big);
    /* still serving */
    http_answer(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
    assert_non_null(strstr(buf, "t_total{k=\"x\"} 7\n"));
    /* the port is taken */
    char addr[32];
    struct pkie_metrics_server *s2 = NULL;
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(pkie_metrics_server_start(addr, r, &s2), PKIE_ERR_IO);
    assert_null(s2);
    pkie_metrics_server_stop(s);
    pkie_metrics_server_stop(NULL);
    pkie_metrics_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_counter_text),
        cmocka_unit_test(test_histogram),    cmocka_unit_test(test_bad_defs),
        cmocka_unit_test(test_bound),        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_listen_check), cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
