/*
 * The connection of the CMP client's HTTP transport (http.c): the proxy
 * decision as libcrypto makes it (OSSL_HTTP_adapt_proxy: http_proxy /
 * https_proxy and no_proxy from the environment when not set, "" = none),
 * the TCP connect (TCP_NODELAY, so that a request's header and body are not
 * held back by Nagle's algorithm against the server's delayed ACK; refused
 * connections and unknown names fail at once), then for TLS the CONNECT
 * tunnel through the proxy and the SSL BIO with SNI, from a TLS context
 * built from the settings. The BIO chain is handed to OSSL_HTTP_open, which
 * then does the HTTP.
 */
#include "client_internal.h"
#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

int cmp_http_tls_used(const struct pkie_cmp_ctx *ctx)
{
    return ctx->server_tls || ctx->opt[PKIE_CMP_OPT_TLS_USED] || ctx->tls_trusted != NULL ||
           ctx->tls_cert != NULL;
}

static const char *verify_host(const struct pkie_cmp_ctx *ctx)
{
    return ctx->tls_host != NULL ? ctx->tls_host : ctx->server_host;
}

static int is_ip(const char *host)
{
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
    ASN1_OCTET_STRING_free(ip);
    return ip != NULL;
}

static SSL_CTX *tls_fail(SSL_CTX *c, const char *what, const char *arg)
{
    PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_TLS, "%s%s%s", what, arg != NULL ? " " : "",
                  arg != NULL ? arg : "");
    SSL_CTX_free(c);
    return NULL;
}

/* Server verification (tls_trusted or the system store; host name tls_host
 * or the server's), client certificate and key, tls_extra. */
static SSL_CTX *tls_ctx_new(const struct pkie_cmp_ctx *ctx)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (c == NULL)
        return tls_fail(c, "SSL_CTX_new", NULL);
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    if (ctx->tls_trusted != NULL ? !SSL_CTX_load_verify_file(c, ctx->tls_trusted)
                                 : !SSL_CTX_set_default_verify_paths(c))
        return tls_fail(c, "cannot load the TLS trust anchors",
                        ctx->tls_trusted != NULL ? ctx->tls_trusted : "(system)");
    X509_VERIFY_PARAM *vpm = SSL_CTX_get0_param(c);
    const char *host = verify_host(ctx);
    if (is_ip(host) ? !X509_VERIFY_PARAM_set1_ip_asc(vpm, host)
                    : !X509_VERIFY_PARAM_set1_host(vpm, host, 0))
        return tls_fail(c, "TLS host name", host);
    if (ctx->tls_cert != NULL) {
        if (ctx->tls_keypass != NULL) /* the default callback passes it on */
            SSL_CTX_set_default_passwd_cb_userdata(c, ctx->tls_keypass);
        const char *key = ctx->tls_key != NULL ? ctx->tls_key : ctx->tls_cert;
        int ok = SSL_CTX_use_certificate_chain_file(c, ctx->tls_cert) == 1 &&
                 SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) == 1 &&
                 SSL_CTX_check_private_key(c) == 1;
        SSL_CTX_set_default_passwd_cb_userdata(c, NULL);
        if (!ok)
            return tls_fail(c, "cannot use the TLS client certificate", ctx->tls_cert);
    }
    for (int i = 0; i < sk_X509_num(ctx->tls_extra); i++)
        if (!SSL_CTX_add1_chain_cert(c, sk_X509_value(ctx->tls_extra, i)))
            return tls_fail(c, "-tls_extra needs a TLS client certificate", NULL);
    return c;
}

static BIO *tls_connect(struct pkie_cmp_ctx *ctx, BIO *bio)
{
    if (ctx->http.via_proxy) {
        char port[16];
        snprintf(port, sizeof(port), "%d", ctx->server_port != 0 ? ctx->server_port : 443);
        if (!OSSL_HTTP_proxy_connect(bio, ctx->server_host, port, NULL, NULL, ctx->http.timeout,
                                     NULL, NULL))
            return NULL;
    }
    BIO *sbio = BIO_new(BIO_f_ssl());
    SSL *ssl = sbio != NULL ? SSL_new(ctx->http.ssl_ctx) : NULL;
    if (ssl == NULL) {
        BIO_free(sbio);
        return NULL;
    }
    /* SNI (not for an IP address); OpenSSL's macro wants a char * */
    char host[256];
    int n = snprintf(host, sizeof(host), "%s", verify_host(ctx));
    if (n < 0 || (size_t)n >= sizeof(host) ||
        (!is_ip(host) && !SSL_set_tlsext_host_name(ssl, host))) {
        SSL_free(ssl);
        BIO_free(sbio);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    BIO_set_ssl(sbio, ssl, BIO_CLOSE);
    return BIO_push(sbio, bio);
}

/* OSSL_HTTP_bio_cb_t (arg: the context), as openssl cmp's app_http_tls_cb:
 * on connect the proxy tunnel and TLS; on disconnect the TLS shutdown. The
 * chain stays in ctx->http.bio, freed by cmp_http_close. */
static BIO *bio_cb(BIO *bio, void *arg, int connect, int detail)
{
    struct pkie_cmp_ctx *ctx = arg;
    if (connect) {
        BIO *top = detail ? tls_connect(ctx, bio) : bio;
        if (top != NULL)
            ctx->http.bio = top;
        return top;
    }
    if (BIO_method_type(bio) == BIO_TYPE_SSL)
        BIO_ssl_shutdown(bio);
    return bio;
}

void cmp_http_close(struct pkie_cmp_ctx *ctx)
{
    ERR_set_mark();
    if (ctx->http.rctx != NULL)
        (void)OSSL_HTTP_close(ctx->http.rctx, 1); /* a TLS close_notify may go out */
    ctx->http.rctx = NULL;
    BIO_free_all(ctx->http.bio);
    ctx->http.bio = NULL;
    ERR_pop_to_mark();
}

/* TCP connect to host:port within the timeout, without libcrypto's retries
 * of refused connections and failed lookups. */
static int tcp_connect(struct pkie_cmp_ctx *ctx, const char *host, char *port, int timeout)
{
    BIO *b = BIO_new_connect(host);
    if (b == NULL || (port != NULL && !BIO_set_conn_port(b, port)))
        goto nomem;
    (void)BIO_set_conn_mode(b, BIO_SOCK_NODELAY);
    (void)BIO_set_nbio(b, timeout > 0);
    time_t max_time = timeout > 0 ? time(NULL) + timeout : 0;
    for (;;) {
        if (BIO_do_connect(b) > 0)
            break;
        if (!BIO_should_retry(b) || BIO_wait(b, max_time, 100) <= 0) {
            int rc = cmp_http_error(ctx, 1, timeout, host, NULL);
            BIO_free_all(b);
            return rc;
        }
    }
    ctx->http.bio = b;
    return 0;
nomem:
    BIO_free_all(b);
    return PKIE_ERR(PKIE_ERR_NOMEM, "connection");
}

int cmp_http_open(struct pkie_cmp_ctx *ctx, const char *server, int timeout)
{
    int rc, tls = cmp_http_tls_used(ctx);
    if (tls && ctx->http.ssl_ctx == NULL && (ctx->http.ssl_ctx = tls_ctx_new(ctx)) == NULL)
        return pkie_err_last()->code;
    char sport[16];
    snprintf(sport, sizeof(sport), "%d", ctx->server_port != 0 ? ctx->server_port : tls ? 443 : 80);
    const char *proxy = OSSL_HTTP_adapt_proxy(ctx->proxy, ctx->no_proxy, server, tls);
    ctx->http.via_proxy = proxy != NULL;
    ctx->http.timeout = timeout;
    ERR_set_mark();
    if (proxy != NULL) {
        char *phost = NULL, *pport = NULL;
        if (!OSSL_HTTP_parse_url(proxy, NULL, NULL, &phost, &pport, NULL, NULL, NULL, NULL)) {
            ERR_pop_to_mark();
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "bad proxy '%s'", proxy);
        }
        char where[600];
        int bad = snprintf(where, sizeof(where), "%s%s%s", strchr(phost, ':') != NULL ? "[" : "",
                           phost, strchr(phost, ':') != NULL ? "]" : "") >= (int)sizeof(where);
        rc = bad ? PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "proxy name too long")
                 : tcp_connect(ctx, where, pport, timeout);
        OPENSSL_free(phost);
        OPENSSL_free(pport);
    } else {
        rc = tcp_connect(ctx, server, sport, timeout);
    }
    if (rc < 0) {
        ERR_pop_to_mark();
        return rc;
    }
    /* the Host header names the server; the port only when not the default */
    ctx->http.rctx = OSSL_HTTP_open(server, ctx->server_port != 0 ? sport : NULL, NULL, NULL, tls,
                                    ctx->http.bio, NULL, bio_cb, ctx, 0, timeout);
    if (ctx->http.rctx == NULL) {
        ERR_clear_last_mark();
        rc = cmp_http_error(ctx, 0, timeout, server, NULL);
        cmp_http_close(ctx);
        return rc == PKIE_ERR_CMP_CLIENT_HTTP && proxy != NULL
                   ? PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONNECT, "no tunnel through the proxy to '%s'",
                              server)
                   : rc;
    }
    ERR_pop_to_mark();
    return 0;
}
