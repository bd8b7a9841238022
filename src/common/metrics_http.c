/*
 * GET /metrics over HTTP (include/pkie/metrics.h). libmicrohttpd is loaded
 * with dlopen the first time a server starts, through a small function table
 * (as src/ca/pg_lib.c loads libpq): `pkie` does not link it, so no command
 * pays for it at start-up unless metrics.listen is set (docs/dependencies.md).
 * In pkie-ca, which links it for the CA's own server, dlopen finds the copy
 * already mapped.
 */
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MHD_SONAME   "libmicrohttpd.so.12"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The libmicrohttpd functions used here. */
struct mhd_fns {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *d);
    struct MHD_Response *(*response_free_cb)(size_t size, void *buffer,
                                             MHD_ContentReaderFreeCallback crfc);
    struct MHD_Response *(*response_buffer)(size_t size, void *buffer,
                                            enum MHD_ResponseMemoryMode mode);
    enum MHD_Result (*add_header)(struct MHD_Response *r, const char *header, const char *content);
    enum MHD_Result (*queue)(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r);
    void (*destroy_response)(struct MHD_Response *r);
    const union MHD_DaemonInfo *(*daemon_info)(struct MHD_Daemon *d, enum MHD_DaemonInfoType t,
                                               ...);
};

static struct mhd_fns mhd;
static int mhd_ok;
static char mhd_err[256];
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void mhd_load(void)
{
    static const struct {
        const char *name;
        size_t off;
    } syms[] = {
#define S(f, n) {#n, offsetof(struct mhd_fns, f)}
        S(start_daemon, MHD_start_daemon),
        S(stop_daemon, MHD_stop_daemon),
        S(response_free_cb, MHD_create_response_from_buffer_with_free_callback),
        S(response_buffer, MHD_create_response_from_buffer),
        S(add_header, MHD_add_response_header),
        S(queue, MHD_queue_response),
        S(destroy_response, MHD_destroy_response),
        S(daemon_info, MHD_get_daemon_info),
#undef S
    };
    void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(mhd_err, sizeof(mhd_err),
                 "metrics: cannot load " MHD_SONAME " (Debian: libmicrohttpd12): %s", dlerror());
        return;
    }
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *f = dlsym(h, syms[i].name);
        if (f == NULL) {
            snprintf(mhd_err, sizeof(mhd_err), "metrics: " MHD_SONAME " lacks %s", syms[i].name);
            return; /* h stays loaded: harmless */
        }
        memcpy((char *)&mhd + syms[i].off, &f, sizeof(f));
    }
    mhd_ok = 1;
}

struct pkie_metrics_server {
    struct MHD_Daemon *d;
    struct pkie_metrics *r;
    uint16_t port;
};

int pkie_metrics_listen_check(const char *listen, int *loopback)
{
    struct sockaddr_storage ss;
    char host[64];
    if (listen == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "metrics: no listen address");
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof(host))
        return PKIE_ERR(PKIE_ERR_ARG, "metrics: listen address must be HOST:PORT, got '%s'",
                        listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    const char *p = colon + 1;
    char *end = NULL;
    long port = strtol(p, &end, 10);
    if (*p < '0' || *p > '9' || *end != '\0' || port < 0 || port > 65535)
        return PKIE_ERR(PKIE_ERR_ARG, "metrics: bad port in '%s' (0..65535)", listen);
    int lo = 0;
    size_t hl = strlen(host);
    memset(&ss, 0, sizeof(ss));
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct in6_addr a6;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6) != 1)
            return PKIE_ERR(PKIE_ERR_ARG, "metrics: bad IPv6 address in '%s'", listen);
        lo = IN6_IS_ADDR_LOOPBACK(&a6);
    } else {
        struct in_addr a4;
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host, &a4) != 1)
            return PKIE_ERR(PKIE_ERR_ARG,
                            "metrics: '%s': HOST must be a numeric IPv4 address, [IPv6] or "
                            "localhost",
                            listen);
        lo = (ntohl(a4.s_addr) >> 24) == 127;
    }
    if (loopback != NULL)
        *loopback = lo;
    return 0;
}

/* The address of @p listen (checked by pkie_metrics_listen_check). */
static void to_sockaddr(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    uint16_t port = (uint16_t)atoi(colon + 1);
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[strlen(host) - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        inet_pton(AF_INET6, host + 1, &a6->sin6_addr);
        *len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &a4->sin_addr);
        *len = sizeof(*a4);
    }
}

static enum MHD_Result reply_empty(struct MHD_Connection *c, unsigned code, const char *allow)
{
    struct MHD_Response *r = mhd.response_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    if (allow != NULL)
        mhd.add_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    mhd.add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = mhd.queue(c, code, r);
    mhd.destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct pkie_metrics_server *s = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(url, "/metrics") != 0)
        return reply_empty(c, MHD_HTTP_NOT_FOUND, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return reply_empty(c, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_METHOD_GET);
    char *text = NULL;
    size_t len = 0;
    if (pkie_metrics_write(s->r, &text, &len) != 0)
        return reply_empty(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    struct MHD_Response *r = mhd.response_free_cb(len, text, free);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    mhd.add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = mhd.queue(c, MHD_HTTP_OK, r);
    mhd.destroy_response(r);
    return ret;
}

int pkie_metrics_server_start(const char *listen, struct pkie_metrics *r,
                              struct pkie_metrics_server **out)
{
    int loopback = 0;
    *out = NULL;
    if (r == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "metrics: no registry");
    int rc = pkie_metrics_listen_check(listen, &loopback);
    if (rc != 0)
        return rc;
    pthread_once(&mhd_once, mhd_load);
    if (!mhd_ok)
        return PKIE_ERR(PKIE_ERR_IO, "%s", mhd_err);
    struct sockaddr_storage ss;
    socklen_t slen;
    to_sockaddr(listen, &ss, &slen);
    struct pkie_metrics_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "metrics server");
    s->r = r;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* One thread, few connections, short idle time, small buffers: a scraper
     * every few seconds needs no more, and a client that holds connections
     * or sends garbage costs this thread only, never a transfer. */
    s->d = mhd.start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)4,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)5, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)16384, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)16, MHD_OPTION_END);
    if (s->d == NULL) {
        free(s);
        return PKIE_ERR(PKIE_ERR_IO, "metrics: cannot listen on %s (address in use?)", listen);
    }
    const union MHD_DaemonInfo *info = mhd.daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (info != NULL && getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    if (!loopback)
        pkie_log_warn("metrics",
                      "serving /metrics on %s, not a loopback address: anyone who reaches it "
                      "reads partner names and certificate subjects",
                      listen);
    pkie_log_info("metrics", "serving /metrics on %s, metrics port %u", listen, (unsigned)s->port);
    *out = s;
    return 0;
}

uint16_t pkie_metrics_server_port(const struct pkie_metrics_server *s)
{
    return s != NULL ? s->port : 0;
}

void pkie_metrics_server_stop(struct pkie_metrics_server *s)
{
    if (s == NULL)
        return;
    mhd.stop_daemon(s->d);
    free(s);
}
