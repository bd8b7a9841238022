/*
 * CMP over HTTP (RFC 6712/9811) with libcurl: one POST of
 * application/pkixcmp per message, one CURL handle per context so that the
 * connection is kept alive across the messages of a transaction (and across
 * transactions), TCP_NODELAY so that the small request is not held back by
 * Nagle's algorithm against the server's delayed ACK, no "Expect:
 * 100-continue" round trip, and every response bounded in size and time.
 */
#include "client_internal.h"
#include "pkie/error.h"

#include <curl/curl.h>
#include <openssl/ssl.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void cmp_http_free(struct pkie_cmp_ctx *ctx)
{
    if (ctx->curl != NULL)
        curl_easy_cleanup((CURL *)ctx->curl);
    ctx->curl = NULL;
    curl_slist_free_all((struct curl_slist *)ctx->curl_headers);
    ctx->curl_headers = NULL;
    curl_slist_free_all((struct curl_slist *)ctx->curl_connect_to);
    ctx->curl_connect_to = NULL;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct pkie_cmp_ctx *ctx = arg;
    size_t n = size * nmemb;
    if (pkie_buf_append(&ctx->http_rsp, p, n) < 0)
        return 0; /* past the bound (or no memory): abort the transfer */
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct pkie_cmp_ctx *ctx = arg;
    size_t n = size * nmemb;
    static const char ct[] = "content-type:";
    static const char conn[] = "connection:";
    if (n > sizeof(ct) - 1 && strncasecmp(p, ct, sizeof(ct) - 1) == 0) {
        const char *v = p + sizeof(ct) - 1;
        size_t vl = n - (sizeof(ct) - 1);
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof(ctx->http_ctype))
            vl = sizeof(ctx->http_ctype) - 1;
        memcpy(ctx->http_ctype, v, vl);
        ctx->http_ctype[vl] = '\0';
    } else if (n > sizeof(conn) - 1 && strncasecmp(p, conn, sizeof(conn) - 1) == 0) {
        const char *v = p + sizeof(conn) - 1;
        size_t vl = n - (sizeof(conn) - 1);
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        if (vl >= 5 && strncasecmp(v, "close", 5) == 0)
            ctx->http_conn_closed = 1;
    }
    return n;
}

/* Is the media type application/pkixcmp (parameters allowed)? */
static int ctype_ok(const char *ct)
{
    static const char want[] = "application/pkixcmp";
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return 0;
    char c = ct[sizeof(want) - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* CURLOPT_SSL_CTX_FUNCTION: libcurl has loaded the client certificate;
 * append the -tls_extra certificates to its chain. */
static CURLcode add_tls_extra(CURL *c, void *ssl_ctx, void *arg)
{
    (void)c;
    const struct pkie_cmp_ctx *ctx = arg;
    for (int i = 0; i < sk_X509_num(ctx->tls_extra); i++)
        if (!SSL_CTX_add1_chain_cert((SSL_CTX *)ssl_ctx, sk_X509_value(ctx->tls_extra, i)))
            return CURLE_SSL_CERTPROBLEM;
    return CURLE_OK;
}

static int setup_handle(struct pkie_cmp_ctx *ctx)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP, "curl_global_init: %s",
                        curl_easy_strerror(curl_init_rc));
    if (ctx->server_host == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "no CMP server set");
    CURL *c = curl_easy_init();
    if (c == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "curl_easy_init");
    ctx->curl = c;

    int tls = ctx->server_tls || ctx->opt[PKIE_CMP_OPT_TLS_USED] || ctx->tls_trusted != NULL ||
              ctx->tls_cert != NULL;
    /* with tls_host, the URL names that host (so TLS checks the server
     * certificate against it) and CONNECT_TO sends the connection to the server */
    const char *host = tls && ctx->tls_host != NULL ? ctx->tls_host : ctx->server_host;
    int v6 = strchr(host, ':') != NULL;
    char url[4200];
    int port = ctx->server_port != 0 ? ctx->server_port : (tls ? 443 : 80);
    int n = snprintf(url, sizeof(url), "%s://%s%s%s:%d/%s", tls ? "https" : "http", v6 ? "[" : "",
                     host, v6 ? "]" : "", port, ctx->path != NULL ? ctx->path : "");
    if (n < 0 || (size_t)n >= sizeof(url))
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "URL too long");
    if (host != ctx->server_host) {
        char to[2200];
        int sv6 = strchr(ctx->server_host, ':') != NULL;
        n = snprintf(to, sizeof(to), "%s:%d:%s%s%s:%d", host, port, sv6 ? "[" : "",
                     ctx->server_host, sv6 ? "]" : "", port);
        if (n < 0 || (size_t)n >= sizeof(to))
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "tls_host too long");
        struct curl_slist *ct = curl_slist_append(NULL, to);
        if (ct == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "CONNECT_TO");
        ctx->curl_connect_to = ct;
        if (curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct) != CURLE_OK)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP, "CURLOPT_CONNECT_TO");
    }

    struct curl_slist *h = NULL, *t;
    static const char *const hdrs[] = {
        "Content-Type: application/pkixcmp",
        "Accept: application/pkixcmp",
        "Expect:", /* no 100-continue round trip */
        "Cache-Control: no-cache",
        "Pragma: no-cache",
    };
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        if ((t = curl_slist_append(h, hdrs[i])) == NULL)
            goto nomem;
        h = t;
    }
    if (ctx->opt[PKIE_CMP_OPT_KEEP_ALIVE] == 0) {
        if ((t = curl_slist_append(h, "Connection: close")) == NULL)
            goto nomem;
        h = t;
    }
    ctx->curl_headers = h;

    CURLcode rc = CURLE_OK;
#define SETOPT(o, v)                                                                               \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(c, o, v);                                                        \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TCP_NODELAY, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_HTTPHEADER, h);
    SETOPT(CURLOPT_USERAGENT, "pkie-cmp");
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, ctx);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, ctx);
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE]);
    SETOPT(CURLOPT_FORBID_REUSE, ctx->opt[PKIE_CMP_OPT_KEEP_ALIVE] == 0 ? 1L : 0L);
    if (ctx->proxy != NULL)
        SETOPT(CURLOPT_PROXY, ctx->proxy);
    if (ctx->no_proxy != NULL)
        SETOPT(CURLOPT_NOPROXY, ctx->no_proxy);
    if (tls) {
        SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
        if (ctx->tls_trusted != NULL) {
            SETOPT(CURLOPT_CAINFO, ctx->tls_trusted);
            SETOPT(CURLOPT_CAPATH, (char *)NULL);
        }
        if (ctx->tls_cert != NULL)
            SETOPT(CURLOPT_SSLCERT, ctx->tls_cert);
        if (ctx->tls_key != NULL)
            SETOPT(CURLOPT_SSLKEY, ctx->tls_key);
        if (ctx->tls_keypass != NULL)
            SETOPT(CURLOPT_KEYPASSWD, ctx->tls_keypass);
        if (ctx->tls_extra != NULL) {
            SETOPT(CURLOPT_SSL_CTX_FUNCTION, add_tls_extra);
            SETOPT(CURLOPT_SSL_CTX_DATA, ctx);
        }
    }
#undef SETOPT
    if (rc != CURLE_OK)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP, "curl option: %s", curl_easy_strerror(rc));
    return 0;
nomem:
    curl_slist_free_all(h);
    return PKIE_ERR(PKIE_ERR_NOMEM, "HTTP headers");
}

static int map_curl_error(CURLcode rc, long timeout_ms, size_t max)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "no CMP response within %ld ms", timeout_ms);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONNECT, "%s", curl_easy_strerror(rc));
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        return PKIE_ERR(PKIE_ERR_LIMIT, "CMP response larger than %zu bytes", max);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_TLS, "%s", curl_easy_strerror(rc));
    default:
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP, "%s", curl_easy_strerror(rc));
    }
}

int pkie_cmp_http_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len,
                           uint8_t **rsp, size_t *rsp_len, void *arg)
{
    (void)arg;
    *rsp = NULL;
    *rsp_len = 0;
    if (req == NULL || req_len == 0 || req_len > (size_t)PKIE_CMP_HARD_MAX_RESP)
        return PKIE_ERR(PKIE_ERR_ARG, "bad request size %zu", req_len);
    int rc;
    if (ctx->curl == NULL && (rc = setup_handle(ctx)) < 0) {
        cmp_http_free(ctx);
        return rc;
    }
    CURL *c = ctx->curl;

    /* Time budget: the message timeout, cut to what is left of the total. */
    long timeout_ms = (long)ctx->opt[PKIE_CMP_OPT_MSG_TIMEOUT] * 1000L;
    long left = cmp_ctx_time_left(ctx);
    if (left == 0)
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "total transaction timeout exceeded");
    if (left > 0 && (timeout_ms == 0 || left * 1000L < timeout_ms))
        timeout_ms = left * 1000L;

    size_t max = (size_t)ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE];
    pkie_buf_reset(&ctx->http_rsp);
    ctx->http_rsp.max = max;
    ctx->http_ctype[0] = '\0';
    ctx->http_conn_closed = 0;

    CURLcode crc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)req);
    if (crc == CURLE_OK)
        crc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req_len);
    if (crc == CURLE_OK)
        crc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (crc == CURLE_OK)
        crc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    if (crc == CURLE_OK)
        crc = curl_easy_perform(c);
    if (crc != CURLE_OK) {
        rc = map_curl_error(crc, timeout_ms, max);
        goto err;
    }
    long status = 0, nconn = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
    /* keep_alive 2: within a transaction, the connection must be the same one */
    if (ctx->opt[PKIE_CMP_OPT_KEEP_ALIVE] == 2 && ctx->have_recip_nonce && nconn > 0) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP,
                      "keep-alive required but the server closed the connection");
        goto err;
    }
    if (status != 200) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_HTTP_STATUS, "HTTP status %ld from the CMP server",
                      status);
        goto err;
    }
    if (!ctype_ok(ctx->http_ctype)) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONTENT_TYPE, "Content-Type '%s'", ctx->http_ctype);
        goto err;
    }
    if (ctx->http_rsp.len == 0) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "empty HTTP body");
        goto err;
    }
    *rsp = pkie_buf_steal(&ctx->http_rsp, rsp_len);
    return 0;
err:
    pkie_buf_reset(&ctx->http_rsp);
    if (crc != CURLE_OK) /* the connection state is unknown: start afresh */
        cmp_http_free(ctx);
    return rc;
}
