/* CMP over HTTP (RFC 6712 / RFC 9811) on libmicrohttpd: routing and limits. */
#include "ca_internal.h"
#include "pkie/buf.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/wipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct pkie_ca_http {
    struct MHD_Daemon *d;
    struct pkie_ca_http_params p;
    char *tls_cert;
    char *tls_key;
    uint16_t port;
};

enum { REQ_CMP = 1, REQ_TOO_BIG = 2 };

struct req_state {
    int kind;
    char profile[PKIE_CA_PROFILE_MAX + 1];
    struct pkie_buf body;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
                             uint8_t *data, size_t len)
{
    struct MHD_Response *r =
        data != NULL ? MHD_create_response_from_buffer_with_free_callback(len, data, free)
                     : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(data);
        return MHD_NO;
    }
    if (ctype != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (code >= 400 && code != 404)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* The CMP profile named by @p url, "" for the default, or -1 if not a CMP URL. */
static int route(const char *url, char *profile, size_t cap)
{
    static const char wk[] = "/.well-known/cmp";
    profile[0] = '\0';
    if (strcmp(url, "/pkix/") == 0 || strcmp(url, "/pkix") == 0 || strcmp(url, wk) == 0 ||
        strcmp(url, "/.well-known/cmp/") == 0)
        return 0;
    if (strncmp(url, wk, sizeof(wk) - 1) != 0 || strncmp(url + sizeof(wk) - 1, "/p/", 3) != 0)
        return -1;
    const char *p = url + sizeof(wk) - 1 + 3;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= cap || (p[n] == '/' && p[n + 1] != '\0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return -1;
    }
    memcpy(profile, p, n);
    profile[n] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct pkie_ca_http *h = cls;
    struct req_state *st = *con_cls;
    (void)version;
    if (st == NULL) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
            if (strcmp(url, "/crl") == 0 && h->p.crl != NULL) {
                uint8_t *der = NULL;
                size_t len = 0;
                (void)pkie_ca_store_take_unavailable();
                if (h->p.crl(h->p.arg, &der, &len) != 0)
                    return reply(c,
                                 pkie_ca_store_take_unavailable() ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                                  : MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 NULL, NULL, 0);
                return reply(c, MHD_HTTP_OK, "application/pkix-crl", der, len);
            }
            return reply(c, MHD_HTTP_NOT_FOUND, NULL, NULL, 0);
        }
        char profile[PKIE_CA_PROFILE_MAX + 1];
        if (route(url, profile, sizeof(profile)) != 0)
            return reply(c, MHD_HTTP_NOT_FOUND, NULL, NULL, 0);
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, NULL, 0);
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (ct != NULL && strncasecmp(ct, "application/pkixcmp", 19) != 0)
            return reply(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, NULL, 0);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > h->p.max_body)
                return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL, 0);
        }
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        st->kind = REQ_CMP;
        snprintf(st->profile, sizeof(st->profile), "%s", profile);
        pkie_buf_init(&st->body, h->p.max_body);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (st->kind == REQ_TOO_BIG)
            return MHD_NO; /* more of an oversized body: drop the connection */
        if (st->kind == REQ_CMP &&
            pkie_buf_append(&st->body, upload_data, *upload_data_size) != 0) {
            /* A body without Content-Length grew over the limit: drop the connection
             * at once rather than read the rest (a declared length over the limit
             * got its 413 before any byte of the body was read). */
            st->kind = REQ_TOO_BIG;
            pkie_buf_free(&st->body);
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->kind == REQ_TOO_BIG)
        return MHD_YES;
    uint8_t *out = NULL;
    size_t out_len = 0;
    (void)pkie_ca_store_take_unavailable();
    int rc = h->p.handler(h->p.arg, st->profile[0] != '\0' ? st->profile : NULL, st->body.data,
                          st->body.len, &out, &out_len);
    /* the database could not be reached: the CMP error answer (systemUnavail)
     * goes with 503, so that clients and balancers retry elsewhere or later */
    int unavail = pkie_ca_store_take_unavailable();
    if (rc != 0 || out == NULL) {
        free(out);
        return reply(c, unavail ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
                     NULL, NULL, 0);
    }
    return reply(c, unavail ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, "application/pkixcmp",
                 out, out_len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req_state *st = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (st != NULL) {
        pkie_buf_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    memset(ss, 0, sizeof(*ss));
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
        return PKIE_ERR(PKIE_ERR_ARG, "--listen must be HOST:PORT, got '%s'", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
        return PKIE_ERR(PKIE_ERR_ARG, "bad port in '%s'", listen);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return PKIE_ERR(PKIE_ERR_ARG, "bad IPv6 address in '%s'", listen);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return PKIE_ERR(PKIE_ERR_ARG, "bad IPv4 address in '%s'", listen);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    struct pkie_buf b;
    char chunk[4096];
    size_t n;
    if (f == NULL) {
        PKIE_ERR(PKIE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    pkie_buf_init_secret(&b, 1 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (pkie_buf_append(&b, chunk, n) != 0)
            break;
    fclose(f);
    if (pkie_buf_append_byte(&b, 0) != 0) {
        pkie_buf_free(&b);
        return NULL;
    }
    return (char *)pkie_buf_steal(&b, &n);
}

int pkie_ca_http_start(const struct pkie_ca_http_params *p, struct pkie_ca_http **out)
{
    struct sockaddr_storage ss;
    struct pkie_ca_http *h = NULL;
    int rc;
    *out = NULL;
    if (p->handler == NULL || p->listen == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "handler and listen address required");
    if ((p->tls_cert == NULL) != (p->tls_key == NULL))
        return PKIE_ERR(PKIE_ERR_ARG, "--tls-cert and --tls-key go together");
    if ((rc = parse_listen(p->listen, &ss)) != 0)
        return rc;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "http");
    h->p = *p;
    if (h->p.max_body == 0)
        h->p.max_body = PKIE_CA_HTTP_MAX_BODY;
    if (h->p.threads == 0)
        h->p.threads = 4;
    if (h->p.timeout == 0)
        h->p.timeout = 10;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (p->tls_cert != NULL) {
        h->tls_cert = slurp(p->tls_cert);
        h->tls_key = h->tls_cert != NULL ? slurp(p->tls_key) : NULL;
        if (h->tls_key == NULL) {
            rc = pkie_err_last()->code;
            goto err;
        }
        flags |= MHD_USE_TLS;
    }
    socklen_t slen =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    (void)slen;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, h->p.threads, MHD_OPTION_CONNECTION_TIMEOUT, h->p.timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)65536, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_ARRAY, p->tls_cert != NULL ? tls_opts : tls_opts + 2,
        MHD_OPTION_END);
    if (h->d == NULL) {
        rc = PKIE_ERR(PKIE_ERR_CA_HTTP, "cannot listen on %s (address in use or TLS setup)",
                      p->listen);
        goto err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (info != NULL && getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    *out = h;
    return 0;
err:
    pkie_ca_http_stop(h);
    return rc;
}

uint16_t pkie_ca_http_port(const struct pkie_ca_http *h)
{
    return h->port;
}

void pkie_ca_http_stop(struct pkie_ca_http *h)
{
    if (h == NULL)
        return;
    if (h->d != NULL)
        MHD_stop_daemon(h->d);
    if (h->tls_key != NULL)
        pkie_wipe_free_str(h->tls_key);
    free(h->tls_cert);
    free(h);
}
