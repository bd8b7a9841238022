/* pkie recv: the receiving file transfer monitor (docs/man/pkie-recv.1). */
#include "commands.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"
#include "pkie/transfer.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int recv_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&recv_stop, 1);
    pkie_tls_stop(); /* an exit call in a helper returns at once */
}

static const char recv_usage[] =
    "usage: pkie recv --conf FILE [--log-level LEVEL] [--check]\n"
    "       pkie recv --conf FILE --partials [--remove ID | --expired]\n"
    "\n"
    "Receive files over mutually authenticated TLS: listen, authenticate each\n"
    "partner through the PKI (internal base or exit), write every file to a\n"
    "hidden partial file, verify its SHA-256, move it into place atomically and\n"
    "only then confirm it. Runs in the foreground, logs on stderr, writes one\n"
    "JSON audit line per transfer; SIGTERM or SIGINT stop it cleanly.\n"
    "\n"
    "Options:\n"
    "  --conf FILE        configuration (key = value; see pkie-recv(1))\n"
    "  --log-level LEVEL  error|warn|info|debug|trace (overrides log_level)\n"
    "  --check            read and check the configuration, then exit\n"
    "  --partials         list the partial transfers of the destination (id, size,\n"
    "                     durable offset, bytes, age, state, name), then exit;\n"
    "                     with --remove ID remove one, with --expired remove those\n"
    "                     unchanged for more than partial_ttl (never one in use)\n"
    "  --help             this help\n"
    "\n"
    "With metrics.listen = HOST:PORT in the configuration, Prometheus metrics are\n"
    "served at http://HOST:PORT/metrics (pkie-recv(1), docs/metrics.md).\n";

/* Print the partial transfers of @p dirfd, or remove one or the expired. */
static int partials(int dirfd, const struct pkie_xfer_conf *c, const char *remove, int expired)
{
    char err[1024];
    time_t now = time(NULL);
    if (remove != NULL) {
        if (pkie_xfer_partial_remove(dirfd, remove) != 0) {
            fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
            return 1;
        }
        printf("removed %s\n", remove);
        return 0;
    }
    if (expired) {
        unsigned n = 0;
        if (pkie_xfer_partials_expire(dirfd, (time_t)c->partial_ttl, now, &n) != 0) {
            fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
            return 1;
        }
        printf("removed %u expired partial transfer(s)\n", n);
        return 0;
    }
    struct pkie_xfer_partial *v = NULL;
    size_t n = 0;
    if (pkie_xfer_partials_list(dirfd, (time_t)c->partial_ttl, now, &v, &n) != 0) {
        fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
        return 1;
    }
    printf("%-32s %14s %14s %14s %10s %-7s %s\n", "ID", "SIZE", "DURABLE", "BYTES", "AGE_S",
           "STATE", "NAME");
    for (size_t i = 0; i < n; i++) {
        char *name = NULL;
        size_t l = 0, cap = 0;
        /* names may hold any byte: shown escaped as in the audit */
        if (pkie_xfer_json_escape(&name, &l, &cap, v[i].name, strlen(v[i].name)) != 0)
            name = NULL;
        printf("%-32s %14llu %14llu %14llu %10lld %-7s %s\n", v[i].tid,
               (unsigned long long)v[i].size, (unsigned long long)v[i].durable,
               (unsigned long long)v[i].bytes, (long long)(now - v[i].mtime),
               v[i].in_use    ? "in-use"
               : v[i].expired ? "expired"
                              : "idle",
               name ? name : "?");
        free(name);
    }
    free(v);
    return 0;
}

/* Partial transfers unchanged for partial_ttl go: at start, then every
 * quarter of the ttl (at most hourly) until the monitor stops. */
struct sweeper {
    int dirfd;
    long long ttl;
    pthread_t th;
};

static void sweep(const struct sweeper *sw)
{
    unsigned n = 0;
    if (pkie_xfer_partials_expire(sw->dirfd, (time_t)sw->ttl, time(NULL), &n) != 0)
        pkie_log_warn("recv", "partial expiry: %s", pkie_err_last()->msg);
    else if (n > 0)
        pkie_log_info("recv", "removed %u partial transfer(s) unchanged for over %lld s", n,
                      sw->ttl);
}

static void *sweeper_main(void *arg)
{
    const struct sweeper *sw = arg;
    long long every = sw->ttl / 4 < 3600 ? sw->ttl / 4 : 3600, waited = 0;
    while (!atomic_load(&recv_stop)) {
        sleep(1);
        if (++waited >= every) {
            sweep(sw);
            waited = 0;
        }
    }
    return NULL;
}

int pkie_cmd_recv(int argc, char **argv)
{
    const char *conf_path = NULL, *level = NULL, *remove = NULL;
    int check = 0, list = 0, expired = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(recv_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--conf") == 0 && i + 1 < argc) {
            conf_path = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            level = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--partials") == 0) {
            list = 1;
        } else if (strcmp(argv[i], "--remove") == 0 && i + 1 < argc) {
            remove = argv[++i];
        } else if (strcmp(argv[i], "--expired") == 0) {
            expired = 1;
        } else {
            fprintf(stderr, "pkie recv: unknown option or missing value '%s' (see --help)\n",
                    argv[i]);
            return 1;
        }
    }
    if (conf_path == NULL) {
        fprintf(stderr, "pkie recv: --conf FILE is required\n");
        return 1;
    }
    if ((remove != NULL || expired) && (!list || (remove != NULL && expired))) {
        fprintf(stderr, "pkie recv: --remove ID or --expired go with --partials, one of them\n");
        return 1;
    }
    struct pkie_xfer_conf c;
    char err[1024];
    if (pkie_xfer_conf_load(conf_path, &c) != 0) {
        fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
        pkie_xfer_conf_free(&c);
        return 1;
    }
    enum pkie_log_level lv;
    const char *want = level ? level : c.log_level;
    if (want != NULL) {
        if (pkie_log_level_parse(want, &lv) != 0) {
            fprintf(stderr, "pkie recv: unknown log level '%s'\n", want);
            pkie_xfer_conf_free(&c);
            return 1;
        }
        pkie_log_set_level(lv);
    }
    if (c.listen == NULL || c.dir == NULL || c.n_all_subjects == 0) {
        fprintf(stderr,
                "pkie recv: %s: listen, dir and at least one partner.NAME.subject "
                "are required\n",
                conf_path);
        pkie_xfer_conf_free(&c);
        return 1;
    }
    if (check) {
        printf("%s: ok (%zu partner(s), %lld SSL task(s))\n", conf_path, c.n_partners, c.tasks);
        pkie_xfer_conf_free(&c);
        return 0;
    }
    int dirfd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        fprintf(stderr, "pkie recv: %s: cannot open the destination directory\n", c.dir);
        pkie_xfer_conf_free(&c);
        return 1;
    }
    if (list) {
        int r = partials(dirfd, &c, remove, expired);
        close(dirfd);
        pkie_xfer_conf_free(&c);
        return r;
    }
    struct sweeper sw = {.dirfd = dirfd, .ttl = c.partial_ttl};
    sweep(&sw);
    int swept = pthread_create(&sw.th, NULL, sweeper_main, &sw) == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct pkie_metrics_server *metrics = NULL;
    int rc = pkie_xfer_metrics_start(&c, &metrics);
    if (rc == 0)
        rc = pkie_xfer_monitor_run(&c, &recv_stop);
    if (rc == PKIE_XFER_MONITOR_ABANDONED || rc == PKIE_XFER_MONITOR_ABANDONED_FAILED) {
        /* a task is stuck inside an exit call and may still use the
         * configuration: end now, touching nothing (stderr is unbuffered) */
        _exit(rc == PKIE_XFER_MONITOR_ABANDONED ? 0 : 1);
    }
    if (rc != 0)
        fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
    atomic_store(&recv_stop, 1);
    pkie_xfer_metrics_stop(metrics);
    if (swept)
        pthread_join(sw.th, NULL);
    close(dirfd);
    pkie_xfer_conf_free(&c);
    return rc == 0 ? 0 : 1;
}
