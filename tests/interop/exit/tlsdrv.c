/*
 * tlsdrv: a small test driver of the TLS runtime (include/pkie/tls.h), for the
 * exit tests and the exit_overhead benchmark.
 *
 *   tlsdrv mkbase --base F --password-file F [--add id:type:cert[:key]]... [--crl F]...
 *   tlsdrv load   --conf F
 *   tlsdrv server --conf F --port-file F [--count N] [--quiet] PROFILE
 *   tlsdrv client --conf F --port N [--count N] [--sni NAME] [--quiet] PROFILE
 * PROFILE: --cert-id ID --ca-id ID (repeat) --depth N --dn FILTER (repeat)
 *          --partner NAME
 *
 * The configuration file holds pki.* and tls.* keys (pkie_tls_conf_apply).
 * The server listens on 127.0.0.1 (ephemeral port written to --port-file),
 * serves --count connections one after the other in one task (id 1): after
 * the handshake it reads one line and answers "pong <version>\n", then closes.
 * The client sends "hello\n" and prints the answer. One line per session:
 *   session <n> ok version=<v> cipher=<c> peer=<subject> global=<hex>
 *   session <n> refused: <error>
 * Exit status: 0 when every session succeeded (or, with --expect-fail, when
 * every session failed), 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pkie/conf.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/pki.h"
#include "pkie/tls.h"

/* SIGTERM received: serve no more sessions */
static volatile sig_atomic_t terminated;

#define MAX_LIST 16

struct opts {
    const char *conf, *port_file, *sni, *partner, *base, *pwfile;
    int port, count, quiet, expect_fail, depth;
    const char *cert_id;
    const char *ca_ids[MAX_LIST];
    size_t n_ca;
    const char *dns[MAX_LIST];
    size_t n_dn;
    const char *adds[64];
    size_t n_add;
    const char *crls[8];
    size_t n_crl;
};

static void usage(void)
{
    fprintf(stderr, "usage: tlsdrv mkbase|load|server|client [options] (see tlsdrv.c)\n");
}

static int conf_cb(void *dst, const char *key, const char *value, unsigned line, void *arg)
{
    (void)line;
    (void)arg;
    return pkie_tls_conf_apply(dst, key, value);
}

static const struct pkie_conf_key conf_keys[] = {
    {.name = "pki.*", .type = PKIE_CONF_CALLBACK, .cb = conf_cb},
    {.name = "pki.exit.*", .type = PKIE_CONF_CALLBACK, .cb = conf_cb},
    {.name = "tls.*", .type = PKIE_CONF_CALLBACK, .cb = conf_cb},
    {.name = NULL}};

static void print_err(const char *what)
{
    char buf[1024];
    fprintf(stderr, "tlsdrv: %s: %s\n", what, pkie_err_format(buf, sizeof(buf)));
}

static int open_runtime(const struct opts *o, struct pkie_tls_runtime **rt)
{
    struct pkie_tls_conf c = {0};
    if (o->conf == NULL) {
        fprintf(stderr, "tlsdrv: --conf missing\n");
        return 2;
    }
    if (pkie_conf_load(o->conf, conf_keys, &c, NULL) != 0) {
        print_err("configuration");
        pkie_tls_conf_free(&c);
        return 1;
    }
    int rc = pkie_tls_runtime_open(&c, rt);
    pkie_tls_conf_free(&c);
    if (rc != 0) {
        print_err("startup");
        return 1;
    }
    return 0;
}

static void fill_params(const struct opts *o, struct pkie_tls_session_params *p, int server)
{
    memset(p, 0, sizeof(*p));
    p->is_server = server;
    p->partner_id = o->partner ? o->partner : "";
    p->peer_addr = "127.0.0.1";
    p->sni = server ? NULL : o->sni;
    p->profile.cert_id = o->cert_id ? o->cert_id : "";
    p->profile.ca_ids = o->ca_ids;
    p->profile.n_ca_ids = o->n_ca;
    p->profile.verify_depth = o->depth;
    p->profile.dn_filters = o->dns;
    p->profile.n_dn_filters = o->n_dn;
}

static void report_ok(const struct opts *o, int n, struct pkie_tls_session *s, const char *extra)
{
    if (o->quiet)
        return;
    char subj[256] = "-";
    X509 *peer = pkie_tls_peer_cert(s);
    if (peer != NULL)
        X509_NAME_oneline(X509_get_subject_name(peer), subj, sizeof(subj));
    const uint8_t *g = pkie_tls_global_area(s);
    char hex[2 * 16 + 1];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", g[i]);
    printf("session %d ok version=%s cipher=%s peer=%s global=%s reply=%s\n", n,
           pkie_tls_version(s), pkie_tls_cipher(s), subj, hex, extra);
    fflush(stdout);
}

static void report_fail(int n)
{
    char buf[1024];
    printf("session %d refused: %s\n", n, pkie_err_format(buf, sizeof(buf)));
    fflush(stdout);
}

/* Read one line (up to cap-1 bytes) into buf. */
static int read_line(struct pkie_tls_session *s, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = pkie_tls_read(s, buf + len, cap - 1 - len);
        if (r <= 0)
            return r == 0 && len > 0 ? 0 : -1;
        len += (size_t)r;
        if (memchr(buf, '\n', len) != NULL)
            break;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int run_server(const struct opts *o)
{
    struct pkie_tls_runtime *rt = NULL;
    int rc = open_runtime(o, &rt);
    if (rc != 0)
        return rc;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 64) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0) {
        fprintf(stderr, "tlsdrv: listen: %s\n", strerror(errno));
        pkie_tls_runtime_close(rt);
        return 1;
    }
    if (o->port_file != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", o->port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%u\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
            rename(tmp, o->port_file) != 0) {
            fprintf(stderr, "tlsdrv: cannot write %s\n", o->port_file);
            pkie_tls_runtime_close(rt);
            return 1;
        }
    }
    struct pkie_tls_task *t = NULL;
    if (pkie_tls_task_start(rt, 1, &t) != 0) {
        print_err("StartTask");
        close(ls);
        pkie_tls_runtime_close(rt);
        return 1;
    }
    /* as the monitor's tasks do: EndSession posted, ticked while idle */
    pkie_tls_task_async_end(t, 1);
    int ok = 0, failed = 0;
    for (int n = 1; n <= o->count && !terminated; n++) {
        struct sockaddr_in pa;
        socklen_t pl = sizeof(pa);
        struct pollfd lp = {.fd = ls, .events = POLLIN};
        int pr = poll(&lp, 1, 100);
        pkie_tls_task_tick(t);
        if (pr == 0 || (pr < 0 && errno == EINTR)) {
            n--;
            continue;
        }
        int fd = accept(ls, (struct sockaddr *)&pa, &pl);
        if (fd < 0) {
            if (errno == EINTR && !terminated) {
                n--;
                continue;
            }
            break;
        }
        struct pkie_tls_session_params p;
        fill_params(o, &p, 1);
        char addr[64];
        inet_ntop(AF_INET, &pa.sin_addr, addr, sizeof(addr));
        p.peer_addr = addr;
        p.peer_port = ntohs(pa.sin_port);
        p.local_port = ntohs(a.sin_port);
        struct pkie_tls_session *s = NULL;
        if (pkie_tls_session_handshake(t, fd, &p, 10000, &s) == 0) {
            char line[1024] = "";
            if (read_line(s, line, sizeof(line)) == 0) {
                char reply[128];
                int len = snprintf(reply, sizeof(reply), "pong %s\n", pkie_tls_version(s));
                pkie_tls_write(s, reply, (size_t)len);
            }
            pkie_tls_shutdown(s);
            report_ok(o, n, s, line);
            ok++;
        } else {
            report_fail(n);
            failed++;
        }
        pkie_tls_session_end(s);
        close(fd);
    }
    pkie_tls_task_end(t);
    close(ls);
    pkie_tls_runtime_close(rt);
    if (!o->quiet) {
        printf("served ok=%d refused=%d\n", ok, failed);
        fflush(stdout);
    }
    return o->expect_fail ? (ok == 0 ? 0 : 1) : (failed == 0 ? 0 : 1);
}

static int run_client(const struct opts *o)
{
    struct pkie_tls_runtime *rt = NULL;
    int rc = open_runtime(o, &rt);
    if (rc != 0)
        return rc;
    struct pkie_tls_task *t = NULL;
    if (pkie_tls_task_start(rt, 1, &t) != 0) {
        print_err("StartTask");
        pkie_tls_runtime_close(rt);
        return 1;
    }
    int ok = 0, failed = 0;
    for (int n = 1; n <= o->count; n++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            fprintf(stderr, "tlsdrv: connect to port %d: %s\n", o->port, strerror(errno));
            if (fd >= 0)
                close(fd);
            failed++;
            continue;
        }
        struct pkie_tls_session_params p;
        fill_params(o, &p, 0);
        p.peer_port = (uint16_t)o->port;
        struct pkie_tls_session *s = NULL;
        if (pkie_tls_session_handshake(t, fd, &p, 10000, &s) == 0) {
            char line[1024] = "";
            int good =
                pkie_tls_write(s, "hello\n", 6) == 6 && read_line(s, line, sizeof(line)) == 0;
            pkie_tls_shutdown(s);
            if (good) {
                report_ok(o, n, s, line);
                ok++;
            } else {
                report_fail(n);
                failed++;
            }
        } else {
            report_fail(n);
            failed++;
        }
        pkie_tls_session_end(s);
        close(fd);
    }
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
    return o->expect_fail ? (ok == 0 ? 0 : 1) : (failed == 0 ? 0 : 1);
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return x;
}

static int run_mkbase(const struct opts *o)
{
    char pw[256] = "";
    if (o->base == NULL || o->pwfile == NULL) {
        fprintf(stderr, "tlsdrv mkbase: --base and --password-file are required\n");
        return 2;
    }
    FILE *f = fopen(o->pwfile, "r");
    if (f == NULL || fgets(pw, sizeof(pw), f) == NULL) {
        fprintf(stderr, "tlsdrv mkbase: cannot read %s\n", o->pwfile);
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    struct pkie_pki_store *st = NULL;
    if (pkie_pki_store_open(o->base, pw, 1, &st) != 0 ||
        pkie_pki_store_set_kdf_iter(st, PKIE_PKI_KDF_ITER_MIN) != 0) {
        print_err("mkbase");
        pkie_pki_store_close(st);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < o->n_add && rc == 0; i++) {
        char spec[2048];
        snprintf(spec, sizeof(spec), "%s", o->adds[i]);
        char *id = strtok(spec, ":"), *type = strtok(NULL, ":"), *cert = strtok(NULL, ":"),
             *key = strtok(NULL, ":");
        enum pkie_pki_type ty = PKIE_PKI_TYPE_DETECT;
        if (id == NULL || type == NULL || cert == NULL ||
            (strcmp(type, "auto") != 0 && pkie_pki_type_parse(type, &ty) != 0)) {
            fprintf(stderr, "tlsdrv mkbase: bad --add %s\n", o->adds[i]);
            rc = 2;
            break;
        }
        X509 *x = read_cert(cert);
        EVP_PKEY *k = NULL;
        if (key != NULL) {
            FILE *kf = fopen(key, "r");
            k = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
            if (kf)
                fclose(kf);
        }
        if (x == NULL || (key != NULL && k == NULL)) {
            fprintf(stderr, "tlsdrv mkbase: cannot read %s\n", o->adds[i]);
            rc = 1;
        } else if (pkie_pki_store_add(st, id, ty, x, k, NULL) != 0) {
            print_err(o->adds[i]);
            rc = 1;
        }
        X509_free(x);
        EVP_PKEY_free(k);
    }
    for (size_t i = 0; i < o->n_crl && rc == 0; i++) {
        FILE *cf = fopen(o->crls[i], "r");
        X509_CRL *crl = cf ? PEM_read_X509_CRL(cf, NULL, NULL, NULL) : NULL;
        if (cf)
            fclose(cf);
        if (crl == NULL || pkie_pki_store_add_crl(st, crl) != 0) {
            print_err(o->crls[i]);
            rc = 1;
        }
        X509_CRL_free(crl);
    }
    pkie_pki_store_close(st);
    return rc;
}

static void on_term(int sig)
{
    (void)sig;
    terminated = 1;
    pkie_tls_stop();
}

int main(int argc, char **argv)
{
    struct opts o = {.count = 1, .depth = 4};
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
        if (OPT("--conf"))
            o.conf = v;
        else if (OPT("--port-file"))
            o.port_file = v;
        else if (OPT("--port"))
            o.port = atoi(v);
        else if (OPT("--count"))
            o.count = atoi(v);
        else if (OPT("--sni"))
            o.sni = v;
        else if (OPT("--partner"))
            o.partner = v;
        else if (OPT("--cert-id"))
            o.cert_id = v;
        else if (OPT("--depth"))
            o.depth = atoi(v);
        else if (OPT("--base"))
            o.base = v;
        else if (OPT("--password-file"))
            o.pwfile = v;
        else if (strcmp(a, "--ca-id") == 0 && v != NULL && o.n_ca < MAX_LIST && ++i)
            o.ca_ids[o.n_ca++] = v;
        else if (strcmp(a, "--dn") == 0 && v != NULL && o.n_dn < MAX_LIST && ++i)
            o.dns[o.n_dn++] = v;
        else if (strcmp(a, "--add") == 0 && v != NULL && o.n_add < 64 && ++i)
            o.adds[o.n_add++] = v;
        else if (strcmp(a, "--crl") == 0 && v != NULL && o.n_crl < 8 && ++i)
            o.crls[o.n_crl++] = v;
        else if (strcmp(a, "--quiet") == 0)
            o.quiet = 1;
        else if (strcmp(a, "--expect-fail") == 0)
            o.expect_fail = 1;
        else {
            fprintf(stderr, "tlsdrv: unknown option %s\n", a);
            return 2;
        }
#undef OPT
    }
    if (getenv("TLSDRV_DEBUG") != NULL)
        pkie_log_set_level(PKIE_LOG_DEBUG);
    if (getenv("TLSDRV_TRACE") != NULL)
        pkie_log_set_level(PKIE_LOG_TRACE);
    /* SIGTERM: stop serving; an exit call in progress returns at once */
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    if (strcmp(cmd, "mkbase") == 0)
        return run_mkbase(&o);
    if (strcmp(cmd, "server") == 0)
        return run_server(&o);
    if (strcmp(cmd, "client") == 0)
        return run_client(&o);
    if (strcmp(cmd, "load") == 0) {
        struct pkie_tls_runtime *rt = NULL;
        int rc = open_runtime(&o, &rt);
        if (rc == 0) {
            printf("loaded %s\n", pkie_tls_runtime_exit_name(rt));
            pkie_tls_runtime_close(rt);
        }
        return rc;
    }
    usage();
    return 2;
}
