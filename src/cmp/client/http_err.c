/* The CMP client's HTTP errors: OpenSSL's error queue after a failed
 * connect or exchange (http_conn.c, http.c) turned into one pkie error with
 * the most telling reason (timeout, size bound, Content-Type, HTTP status,
 * TLS, connection, malformed answer). */
#include "client_internal.h"
#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/httperr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pkixcmp[] = "application/pkixcmp";

/* What went wrong, from OpenSSL's error queue (which this empties). */
struct http_fail {
    int code;      /* pkie error code */
    int prio;      /* the most telling entry wins */
    int status;    /* HTTP status, 0 = none */
    int lookup;    /* the host name did not resolve */
    char why[256]; /* OpenSSL's reason and data */
};

static void fail_entry(struct http_fail *f, int code, int prio, unsigned long e, const char *data)
{
    if (prio <= f->prio)
        return;
    f->code = code;
    f->prio = prio;
    const char *r = ERR_reason_error_string(e);
    snprintf(f->why, sizeof(f->why), "%s%s%s", r != NULL ? r : "unknown error",
             data != NULL && *data != '\0' ? ": " : "", data != NULL ? data : "");
}

/* @p opening: the failure came from OSSL_HTTP_open (name lookup, connect). */
static void classify(struct http_fail *f, int opening)
{
    memset(f, 0, sizeof(*f));
    f->code = PKIE_ERR_CMP_CLIENT_HTTP;
    f->prio = -1;
    unsigned long e;
    const char *data;
    int flags;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (!(flags & ERR_TXT_STRING))
            data = NULL;
        int lib = ERR_GET_LIB(e), r = ERR_GET_REASON(e);
        if (lib == ERR_LIB_HTTP) {
            switch (r) {
            case HTTP_R_RETRY_TIMEOUT:
                fail_entry(f, PKIE_ERR_TIMEOUT, 6, e, data);
                break;
            case HTTP_R_MAX_RESP_LEN_EXCEEDED:
                fail_entry(f, PKIE_ERR_LIMIT, 5, e, data);
                break;
            case HTTP_R_UNEXPECTED_CONTENT_TYPE:
            case HTTP_R_MISSING_CONTENT_TYPE:
                fail_entry(f, PKIE_ERR_CMP_CLIENT_CONTENT_TYPE, 4, e, data);
                break;
            case HTTP_R_RECEIVED_ERROR:
            case HTTP_R_STATUS_CODE_UNSUPPORTED:
            case HTTP_R_REDIRECTION_NOT_ENABLED: {
                const char *c = data != NULL ? strstr(data, "code=") : NULL;
                if (c != NULL)
                    f->status = atoi(c + 5);
                fail_entry(f, PKIE_ERR_CMP_CLIENT_HTTP_STATUS, 4, e, data);
                break;
            }
            case HTTP_R_CONNECT_FAILURE: /* the proxy refused the tunnel */
                fail_entry(f, PKIE_ERR_CMP_CLIENT_CONNECT, 3, e, data);
                break;
            case HTTP_R_SERVER_CANCELED_CONNECTION:
            case HTTP_R_HEADER_PARSE_ERROR:
            case HTTP_R_RESPONSE_LINE_TOO_LONG:
            case HTTP_R_ERROR_PARSING_CONTENT_LENGTH:
            case HTTP_R_INCONSISTENT_CONTENT_LENGTH:
            case HTTP_R_MISSING_ASN1_ENCODING:
            case HTTP_R_ERROR_PARSING_ASN1_LENGTH:
                fail_entry(f, PKIE_ERR_CMP_CLIENT_HTTP, 2, e, data);
                break;
            default:
                fail_entry(f, PKIE_ERR_CMP_CLIENT_HTTP, 1, e, data);
            }
        } else if (lib == ERR_LIB_BIO &&
                   (r == BIO_R_TRANSFER_TIMEOUT || r == BIO_R_CONNECT_TIMEOUT)) {
            fail_entry(f, PKIE_ERR_TIMEOUT, 6, e, data);
        } else if (lib == ERR_LIB_SSL) {
            fail_entry(f, PKIE_ERR_CMP_CLIENT_TLS, 3, e, data);
        } else if (opening && (lib == ERR_LIB_BIO || lib == ERR_LIB_SYS)) {
            /* getaddrinfo's message comes as the data of ERR_R_SYS_LIB */
            if (lib == ERR_LIB_BIO && f->prio < 2 &&
                ((r == ERR_R_SYS_LIB && data != NULL && strncmp(data, "calling", 7) != 0) ||
                 r == BIO_R_LOOKUP_RETURNED_NOTHING))
                f->lookup = 1;
            fail_entry(f, PKIE_ERR_CMP_CLIENT_CONNECT, 2, e, data);
        } else {
            fail_entry(f, PKIE_ERR_CMP_CLIENT_HTTP, 0, e, data);
        }
    }
}

int cmp_http_error(const struct pkie_cmp_ctx *ctx, int opening, int timeout, const char *host,
                   int *no_answer)
{
    struct http_fail fail, *f = &fail;
    classify(f, opening);
    if (opening && f->code == PKIE_ERR_CMP_CLIENT_HTTP) /* nothing more telling */
        f->code = PKIE_ERR_CMP_CLIENT_CONNECT;
    /* no HTTP answer at all: nothing read, or TLS failed (over a kept-alive
     * connection the server may have closed while idle) */
    if (no_answer != NULL)
        *no_answer = f->prio <= 1 || f->code == PKIE_ERR_CMP_CLIENT_TLS;
    switch (f->code) {
    case PKIE_ERR_TIMEOUT:
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "%s within %d s (%s)",
                        opening ? "no connection" : "no CMP response", timeout, f->why);
    case PKIE_ERR_LIMIT:
        return PKIE_ERR(PKIE_ERR_LIMIT, "CMP response larger than %d bytes (%s)",
                        ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE], f->why);
    case PKIE_ERR_CMP_CLIENT_CONTENT_TYPE: {
        const char *a = strstr(f->why, "actual=");
        if (a == NULL)
            return PKIE_ERR(f->code, "no Content-Type in the response, expected %s", pkixcmp);
        return PKIE_ERR(f->code, "Content-Type '%s', expected %s", a + 7, pkixcmp);
    }
    case PKIE_ERR_CMP_CLIENT_HTTP_STATUS:
        if (f->status == 301 || f->status == 302 || f->status == 0)
            return PKIE_ERR(f->code, "HTTP redirection refused (%s)", f->why);
        return PKIE_ERR(f->code, "HTTP status %d from the CMP server (%s)", f->status, f->why);
    case PKIE_ERR_CMP_CLIENT_CONNECT:
        if (f->lookup)
            return PKIE_ERR(f->code, "cannot resolve '%s' (%s)", host, f->why);
        return PKIE_ERR(f->code, "cannot connect to '%s' (%s)", host, f->why);
    case PKIE_ERR_CMP_CLIENT_TLS:
        return PKIE_ERR(f->code, "TLS with '%s': %s", host, f->why);
    default:
        return PKIE_ERR(f->code, "HTTP transfer with '%s': %s", host,
                        f->prio >= 0 ? f->why : "connection failed");
    }
}
