/* pkie ca serve: the CMP server over HTTP(S). */
#include "ca_cli.h"
#include "pkie/cmp_server.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/wipe.h"
#include "sdnotify.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char serve_help[] =
    "usage: pkie ca serve --dir DIR [--db URL] --listen ADDR:PORT [--tls-cert F --tls-key F]\n"
    "                     [--threads N] [--timeout S] [--check-after S] [--tx-timeout S]\n"
    "                     [--crl-url URL] [--log-level L] [--pass-file F | --pass env:VAR]\n"
    "                     [--metrics ADDR:PORT]\n"
    "\n"
    "Serve CMP over HTTP at /pkix/ and /.well-known/cmp/p/PROFILE (RFC 9811), and\n"
    "the CRL at GET /crl. Runs until SIGINT or SIGTERM; SIGHUP is logged and\n"
    "ignored (no reload: restart to apply changes). Under systemd (Type=notify)\n"
    "it reports READY=1 once listening, STATUS=, STOPPING=1 and, with\n"
    "WatchdogSec=, WATCHDOG=1 to $NOTIFY_SOCKET.\n"
    "  --listen ADDR:PORT  e.g. 127.0.0.1:8080 (PORT 0: any free port, printed)\n"
    "  --tls-cert F        serve HTTPS with this certificate (PEM) and --tls-key F\n"
    "  --threads N         worker threads (default 4)\n"
    "  --timeout S         idle connection timeout in seconds (default 10)\n"
    "  --check-after S     checkAfter given to polling clients (default 1)\n"
    "  --tx-timeout S      idle transactions expire after S seconds (default 300)\n"
    "  --crl-url URL       CRL distribution point written into certificates\n"
    "  --log-level L       error, warn, info (default), debug\n"
    "  --metrics ADDR:PORT serve Prometheus metrics at http://ADDR:PORT/metrics\n"
    "                      (ADDR numeric or localhost; off by default)\n" CA_DB_HELP
    "Several nodes may serve one PostgreSQL store at once (same DIR files and\n"
    "passphrase); while the database is unreachable, requests get HTTP 503.\n";

static long num_arg(const char *s, long lo, long hi, int *bad)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi)
        *bad = 1;
    return v;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int handle(void *arg, const char *profile, const uint8_t *req, size_t len, uint8_t **resp,
                  size_t *resp_len)
{
    return pkie_ca_server_handle(arg, profile, req, len, resp, resp_len);
}

static int crl(void *arg, uint8_t **der, size_t *len)
{
    return pkie_ca_server_crl(arg, der, len);
}

/* ---- metrics (docs/metrics.md) ---- */

static int count_tx(void *arg, const struct pkie_ca_tx *t)
{
    (void)t;
    ++*(long long *)arg;
    return 0;
}

/* At each scrape: the transactions waiting for approval (the store is shared
 * with `pkie ca pending` and other nodes), and the CRL that GET /crl would
 * serve now (built when stale; its nextUpdate is set by the CRL hook). */
static void collect(void *arg)
{
    struct pkie_ca_server *srv = arg;
    long long n = 0;
    uint8_t *der = NULL;
    size_t len = 0;
    if (pkie_ca_store_tx_list(pkie_ca_server_store(srv), PKIE_CA_TX_WAITING, count_tx, &n) == 0)
        pkie_metrics_ca_pending(n);
    if (pkie_ca_server_crl(srv, &der, &len) == 0)
        free(der);
}

static int start_metrics(const char *listen, struct pkie_ca_server *srv,
                         struct pkie_metrics_server **out)
{
    int rc = pkie_metrics_init(PKIE_METRICS_CA);
    if (rc != 0)
        return rc;
    pkie_metrics_set_collector(pkie_metrics_default(), collect, srv);
    if ((rc = pkie_metrics_server_start(listen, pkie_metrics_default(), out)) != 0) {
        pkie_metrics_shutdown();
        return rc;
    }
    return 0;
}

int ca_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'B'},
        {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"check-after", required_argument, NULL, 'a'},
        {"tx-timeout", required_argument, NULL, 'x'},
        {"crl-url", required_argument, NULL, 'u'},
        {"log-level", required_argument, NULL, 'L'},
        {"pass-file", required_argument, NULL, 'P'},
        {"pass", required_argument, NULL, 'p'},
        {"metrics", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pkie_ca_server_params sp = {0};
    struct pkie_ca_http_params hp = {0};
    const char *pass_file = NULL, *pass_spec = NULL, *metrics_listen = NULL;
    int c, bad = 0;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            sp.dir = optarg;
            break;
        case 'B':
            sp.db = optarg;
            break;
        case 'l':
            hp.listen = optarg;
            break;
        case 'c':
            hp.tls_cert = optarg;
            break;
        case 'k':
            hp.tls_key = optarg;
            break;
        case 't':
            hp.threads = (unsigned)num_arg(optarg, 1, 256, &bad);
            break;
        case 'T':
            hp.timeout = (unsigned)num_arg(optarg, 1, 3600, &bad);
            break;
        case 'a':
            sp.check_after = num_arg(optarg, 1, 86400, &bad);
            break;
        case 'x':
            sp.tx_timeout = num_arg(optarg, 1, 86400 * 30, &bad);
            break;
        case 'u':
            sp.crl_url = optarg;
            break;
        case 'L': {
            enum pkie_log_level lv;
            if (pkie_log_level_parse(optarg, &lv) != 0)
                return ca_cli_usage_error("serve", "bad --log-level '%s'", optarg);
            pkie_log_set_level(lv);
            break;
        }
        case 'P':
            pass_file = optarg;
            break;
        case 'p':
            pass_spec = optarg;
            break;
        case 'M':
            if (pkie_metrics_listen_check(optarg, NULL) != 0)
                return ca_cli_usage_error("serve", "--metrics: %s", pkie_err_last()->msg);
            metrics_listen = optarg;
            break;
        case 'h':
            fputs(serve_help, stdout);
            return 0;
        default:
            return ca_cli_usage_error("serve", "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
        if (bad)
            return ca_cli_usage_error("serve", "bad value '%s'", optarg);
    }
    if (optind < argc)
        return ca_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (sp.dir == NULL || hp.listen == NULL)
        return ca_cli_usage_error("serve", "--dir and --listen are required");
    if ((hp.tls_cert == NULL) != (hp.tls_key == NULL))
        return ca_cli_usage_error("serve", "--tls-cert and --tls-key go together");
    char *pass = ca_cli_pass(pass_file, pass_spec);
    if (pass == NULL)
        return ca_cli_fail("serve");
    sp.pass = pass;
    struct pkie_ca_server *srv = NULL;
    struct pkie_ca_http *http = NULL;
    int rc = pkie_ca_server_open(&sp, &srv);
    pkie_wipe_free_str(pass);
    if (rc != 0)
        return ca_cli_fail("serve");
    /* Signals are taken synchronously by this thread; workers never see them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    hp.handler = handle;
    hp.crl = crl;
    hp.arg = srv;
    if (pkie_ca_http_start(&hp, &http) != 0) {
        rc = ca_cli_fail("serve");
        pkie_ca_server_close(srv);
        return rc;
    }
    struct pkie_metrics_server *metrics = NULL;
    if (metrics_listen != NULL && start_metrics(metrics_listen, srv, &metrics) != 0) {
        rc = ca_cli_fail("serve");
        pkie_ca_http_stop(http);
        pkie_ca_server_close(srv);
        return rc;
    }
    int n = 0;
    (void)pkie_ca_server_expire(srv, &n); /* transactions left open by a previous run */
    printf("pkie ca: serving CMP on %s://%s (port %u)\n", hp.tls_cert != NULL ? "https" : "http",
           hp.listen, (unsigned)pkie_ca_http_port(http));
    if (metrics != NULL) /* after the line above: scripts read the CMP port from "(port N)" */
        printf("pkie ca: serving metrics on http://%s/metrics (metrics port %u)\n", metrics_listen,
               (unsigned)pkie_metrics_server_port(metrics));
    fflush(stdout);
    pkie_log_info("ca", "serving on port %u, %d stale transaction(s) expired",
                  (unsigned)pkie_ca_http_port(http), n);
    /* pkie_ca_http_start returned: the socket listens */
    char status[300];
    snprintf(status, sizeof(status), "serving CMP on %s://%s (port %u)",
             hp.tls_cert != NULL ? "https" : "http", hp.listen, (unsigned)pkie_ca_http_port(http));
    pkie_sd_ready(status);
    /* The keep-alives come from this loop, which also expires transactions in
     * the store: it stops turning if the store calls hang. */
    struct pkie_sd_pacer pacer;
    pkie_sd_pacer_init(&pacer);
    long long next_expire = 0;
    for (;;) {
        long long now = mono_ms();
        pkie_sd_pacer_tick(&pacer, now);
        int wait = pkie_sd_pacer_wait_ms(&pacer, now, 5000);
        if (next_expire > now && next_expire - now < wait)
            wait = (int)(next_expire - now);
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGHUP) {
            pkie_log_warn("ca", "SIGHUP: pkie ca serve does not reload its configuration; "
                                "restart it to apply changes");
            pkie_sd_status("%s; SIGHUP ignored (no reload: restart to apply changes)", status);
            continue;
        }
        now = mono_ms();
        if (now < next_expire)
            continue;
        next_expire = now + 5000;
        if (pkie_ca_server_expire(srv, &n) == 0 && n > 0)
            pkie_log_info("ca", "%d idle transaction(s) expired", n);
        malloc_trim(0); /* give memory freed after a burst back to the system */
    }
    pkie_sd_stopping();
    pkie_log_info("ca", "stopping");
    pkie_ca_http_stop(http);
    if (metrics != NULL) {
        pkie_metrics_server_stop(metrics);
        pkie_metrics_shutdown();
    }
    pkie_ca_server_close(srv);
    return 0;
}
