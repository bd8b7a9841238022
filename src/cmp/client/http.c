/*
 * CMP over HTTP (RFC 6712/9811) with libcrypto's HTTP client, the one
 * `openssl cmp` uses (OSSL_HTTP_open / OSSL_HTTP_set1_request /
 * OSSL_HTTP_exchange): one POST of application/pkixcmp per message over a
 * connection kept in the context (PKIE_CMP_OPT_KEEP_ALIVE 0, 1, 2 as
 * openssl cmp's -keep_alive), OpenSSL's proxy rules (OSSL_HTTP_adapt_proxy:
 * http_proxy/https_proxy and no_proxy from the environment when not set, ""
 * = none), redirections refused, and the response checked by libcrypto:
 * status 200, Content-Type application/pkixcmp, one DER SEQUENCE whose
 * length (and Content-Length) is within PKIE_CMP_OPT_MAX_RESP_SIZE, all
 * within the message timeout cut to what is left of the total timeout.
 * The connection (proxy, TCP, TLS): http_conn.c; errors: http_err.c.
 */
#include "client_internal.h"
#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pkixcmp[] = "application/pkixcmp";

/* libcrypto's socket BIO writes with write(2): to a peer that has gone away
 * that raises SIGPIPE, which kills a process that did not ignore it. A
 * library must not change the process's signal handling, so SIGPIPE is
 * blocked in the calling thread while the connection is used, and one that
 * the connection raised is taken off before the mask is restored (libcurl
 * does the same around its TLS writes). */
struct sigpipe_guard {
    sigset_t old;
    int discard; /* not blocked or pending before: what is pending is ours */
};

static void sigpipe_block(struct sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    (void)sigpending(&pending);
    (void)pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->discard = !sigismember(&g->old, SIGPIPE) && !sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(const struct sigpipe_guard *g)
{
    if (g->discard) {
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigemptyset(&pending);
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            const struct timespec zero = {0, 0};
            (void)sigtimedwait(&set, NULL, &zero);
        }
    }
    (void)pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static void close_connection(struct pkie_cmp_ctx *ctx)
{
    if (ctx->http.rctx == NULL && ctx->http.bio == NULL)
        return;
    struct sigpipe_guard g;
    sigpipe_block(&g);
    cmp_http_close(ctx);
    sigpipe_restore(&g);
}

void cmp_http_free(struct pkie_cmp_ctx *ctx)
{
    close_connection(ctx);
    SSL_CTX_free(ctx->http.ssl_ctx);
    ctx->http.ssl_ctx = NULL;
}

/* "host" or "[v6]" for OSSL_HTTP_open's server (and the Host header). */
static int bracketed(const char *host, char *out, size_t cap)
{
    int v6 = strchr(host, ':') != NULL;
    int n = snprintf(out, cap, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static STACK_OF(CONF_VALUE) *request_headers(const struct pkie_cmp_ctx *ctx)
{
    STACK_OF(CONF_VALUE) *h = NULL;
    if (!X509V3_add_value("Accept", pkixcmp, &h) || !X509V3_add_value("Pragma", "no-cache", &h) ||
        !X509V3_add_value("Cache-Control", "no-cache", &h) ||
        (ctx->opt[PKIE_CMP_OPT_KEEP_ALIVE] == 0 && !X509V3_add_value("Connection", "close", &h))) {
        sk_CONF_VALUE_pop_free(h, X509V3_conf_free);
        return NULL;
    }
    return h;
}

/* One POST over the context's connection (opened if there is none).
 * *retry: the request failed on a reused connection before any answer. */
static int post(struct pkie_cmp_ctx *ctx, const char *server, const uint8_t *req, size_t req_len,
                int timeout, uint8_t **rsp, size_t *rsp_len, int *retry)
{
    int rc, reused = ctx->http.rctx != NULL;
    *retry = 0;
    if (!reused && (rc = cmp_http_open(ctx, server, timeout)) < 0)
        return rc;
    STACK_OF(CONF_VALUE) *hdrs = request_headers(ctx);
    BIO *body = BIO_new_mem_buf(req, (int)req_len);
    if (hdrs == NULL || body == NULL) {
        sk_CONF_VALUE_pop_free(hdrs, X509V3_conf_free);
        BIO_free(body);
        close_connection(ctx);
        return PKIE_ERR(PKIE_ERR_NOMEM, "HTTP request");
    }
    /* through a plain HTTP proxy: the absolute URI */
    char path[2200], port[16] = "";
    if (ctx->server_port != 0)
        snprintf(port, sizeof(port), ":%d", ctx->server_port);
    int n = ctx->http.via_proxy && !cmp_http_tls_used(ctx)
                ? snprintf(path, sizeof(path), "http://%s%s/%s", server, port,
                           ctx->path != NULL ? ctx->path : "")
                : snprintf(path, sizeof(path), "/%s", ctx->path != NULL ? ctx->path : "");
    if (n < 0 || (size_t)n >= sizeof(path)) {
        sk_CONF_VALUE_pop_free(hdrs, X509V3_conf_free);
        BIO_free(body);
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "path too long");
    }
    size_t max = (size_t)ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE];
    BIO *in = NULL;
    ERR_set_mark();
    /* a fresh connection's budget runs from the connect (timeout -1) */
    if (OSSL_HTTP_set1_request(ctx->http.rctx, path, hdrs, pkixcmp, body, pkixcmp, 1, max,
                               reused ? timeout : -1, ctx->opt[PKIE_CMP_OPT_KEEP_ALIVE]))
        in = OSSL_HTTP_exchange(ctx->http.rctx, NULL);
    sk_CONF_VALUE_pop_free(hdrs, X509V3_conf_free);
    BIO_free(body);
    if (in == NULL) {
        ERR_clear_last_mark();
        int no_answer;
        rc = cmp_http_error(ctx, 0, timeout, server, &no_answer);
        close_connection(ctx);        /* its state is unknown: start afresh */
        *retry = reused && no_answer; /* closed while idle */
        return rc;
    }
    ERR_pop_to_mark();
    if (!OSSL_HTTP_is_alive(ctx->http.rctx))
        close_connection(ctx);
    /* libcrypto bounds the body by its DER length; check again all the same */
    const char *p = NULL;
    long got = BIO_get_mem_data(in, &p);
    if (got <= 0 || p == NULL || (size_t)got > max) {
        BIO_free(in);
        return got <= 0 ? PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "empty HTTP body")
                        : PKIE_ERR(PKIE_ERR_LIMIT, "CMP response larger than %zu bytes", max);
    }
    *rsp = malloc((size_t)got);
    if (*rsp == NULL) {
        BIO_free(in);
        return PKIE_ERR(PKIE_ERR_NOMEM, "CMP response");
    }
    memcpy(*rsp, p, (size_t)got);
    *rsp_len = (size_t)got;
    BIO_free(in);
    return 0;
}

int pkie_cmp_http_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len,
                           uint8_t **rsp, size_t *rsp_len, void *arg)
{
    (void)arg;
    *rsp = NULL;
    *rsp_len = 0;
    if (req == NULL || req_len == 0 || req_len > (size_t)PKIE_CMP_HARD_MAX_RESP)
        return PKIE_ERR(PKIE_ERR_ARG, "bad request size %zu", req_len);
    if (ctx->server_host == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "no CMP server set");
    char server[1100];
    if (bracketed(ctx->server_host, server, sizeof(server)) < 0)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server name too long");

    /* Time budget: the message timeout, cut to what is left of the total. */
    int timeout = ctx->opt[PKIE_CMP_OPT_MSG_TIMEOUT];
    long left = cmp_ctx_time_left(ctx);
    if (left == 0)
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "total transaction timeout exceeded");
    if (left > 0 && (timeout == 0 || left < timeout))
        timeout = (int)left;

    /* keep_alive 2: within a transaction, the connection must be the same one */
    int required = ctx->opt[PKIE_CMP_OPT_KEEP_ALIVE] == 2 && ctx->have_recip_nonce;
    if (required && ctx->http.rctx == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP,
                        "keep-alive required but the server closed the connection");

    struct sigpipe_guard g;
    sigpipe_block(&g);
    int retry, rc = post(ctx, server, req, req_len, timeout, rsp, rsp_len, &retry);
    if (rc < 0 && retry && !required) /* a kept-alive connection the server closed while idle
                                       * (OpenSSL's mock does after each transaction): anew */
        rc = post(ctx, server, req, req_len, timeout, rsp, rsp_len, &retry);
    sigpipe_restore(&g);
    return rc;
}
