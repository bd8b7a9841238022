/* The CMP client's transport (src/cmp/client only): HTTP(S) with libcrypto's
 * HTTP client (http.c; the connection, proxy and TLS in http_conn.c; errors
 * in http_err.c: http.c -> http_conn.c -> http_err.c), and the exchange
 * of one message through the context's transfer function (exchange.c).
 * Depends on nothing of ctx.c or txn.c: the context's fields only. */
#ifndef PKIE_CMP_CLIENT_HTTP_H
#define PKIE_CMP_CLIENT_HTTP_H

#include <openssl/http.h>
#include <openssl/ssl.h>

#include <stddef.h>
#include <stdint.h>

struct pkie_cmp_ctx;

/** HTTP connection state kept in the context between messages. */
struct cmp_http {
    OSSL_HTTP_REQ_CTX *rctx; /**< the kept-alive connection, NULL = none */
    BIO *bio;                /**< its BIO chain (socket, TLS), ours to free */
    SSL_CTX *ssl_ctx;        /**< built from the TLS settings on first use */
    int via_proxy;           /**< the connection goes through an HTTP proxy */
    int timeout;             /**< seconds for the proxy CONNECT (0 = none) */
};

/** Close the connection and drop the TLS context (settings changed, or the
 *  context is freed). */
void cmp_http_free(struct pkie_cmp_ctx *ctx);
/** Close the connection only (http_conn.c). */
void cmp_http_close(struct pkie_cmp_ctx *ctx);
/** Is TLS used (https:// server, -tls_used, TLS trust or client settings)? */
int cmp_http_tls_used(const struct pkie_cmp_ctx *ctx);
/** Open the connection to @p server ("host" or "[v6]") within @p timeout
 *  seconds (0 = none): directly or through the proxy (ctx->http.via_proxy),
 *  TLS when used. A refused connection or a name that does not resolve
 *  fails at once (libcrypto's own connect would retry until the timeout). */
int cmp_http_open(struct pkie_cmp_ctx *ctx, const char *server, int timeout);
/** Turn OpenSSL's error queue (emptied) into the error record of a failed
 *  connect (@p opening) or exchange with @p host; returns the code.
 *  *no_answer (when not NULL): no HTTP answer came at all (http_err.c). */
int cmp_http_error(const struct pkie_cmp_ctx *ctx, int opening, int timeout, const char *host,
                   int *no_answer);

/** Seconds left of the total timeout: -1 = unlimited, 0 = expired. */
long cmp_ctx_time_left(const struct pkie_cmp_ctx *ctx);
/** Send a request through the transfer (hooks, timeouts, size bound);
 *  *rsp malloc'ed. */
int cmp_ctx_exchange(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                     size_t *rsp_len);

#endif
