/* pkie recv: the receiving file transfer monitor (docs/man/pkie-recv.1). */
#include "commands.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int recv_stop, recv_reload;
static int wake_w = -1; /* the self-pipe's write end: wakes the monitor's loop */

/* Async-signal-safe only: flags, pkie_tls_stop and a write to the pipe; the
 * monitor's loop does the work (the reload, the sd_notify messages). */
static void on_signal(int sig)
{
    int e = errno;
    if (sig == SIGHUP) {
        atomic_store(&recv_reload, 1);
    } else {
        atomic_store(&recv_stop, 1);
        pkie_tls_stop(); /* an exit call in a helper returns at once */
    }
    if (wake_w >= 0) {
        ssize_t w = write(wake_w, "", 1); /* a full pipe wakes the loop all the same */
        (void)w;
    }
    errno = e;
}

static const char recv_usage[] =
    "usage: pkie recv --conf FILE [--log-level LEVEL] [--check]\n"
    "       pkie recv --conf FILE --partials [--partner NAME] [--remove ID | --expired]\n"
    "\n"
    "Receive files over mutually authenticated TLS: listen, authenticate each\n"
    "partner through the PKI (internal base or exit), write every file to a\n"
    "hidden partial file, verify its SHA-256, move it into place atomically and\n"
    "only then confirm it. Each partner's files land in its own directory\n"
    "(partner.NAME.dir, default DIR/NAME, created 0750 at start), limited to\n"
    "the names of partner.NAME.names when given. Runs in the foreground, logs\n"
    "on stderr, writes one JSON audit line per transfer; SIGTERM or SIGINT stop\n"
    "it cleanly, SIGHUP re-reads the configuration's partners, PKI base and\n"
    "certificates without dropping a session. Under systemd (Type=notify) it\n"
    "reports READY=1 once listening, STATUS=, RELOADING=1, STOPPING=1 and, with\n"
    "WatchdogSec=, WATCHDOG=1 to $NOTIFY_SOCKET.\n"
    "\n"
    "Options:\n"
    "  --conf FILE        configuration (key = value; see pkie-recv(1))\n"
    "  --log-level LEVEL  error|warn|info|debug|trace (overrides log_level)\n"
    "  --check            read and check the configuration and the existing partner\n"
    "                     directories, then exit\n"
    "  --partials         list the partial transfers of every partner directory (id,\n"
    "                     size, durable offset, bytes, age, partner, state, name),\n"
    "                     then exit; with --remove ID remove one, with --expired\n"
    "                     remove those unchanged for more than partial_ttl (never\n"
    "                     one in use)\n"
    "  --partner NAME     with --partials: only that partner's directory\n"
    "  --help             this help\n"
    "\n"
    "With metrics.listen = HOST:PORT in the configuration, Prometheus metrics are\n"
    "served at http://HOST:PORT/metrics (pkie-recv(1), docs/metrics.md).\n";

/* What --partials does in each inbound directory. */
struct pcmd {
    const struct pkie_xfer_conf *c;
    const char *remove; /* --remove ID */
    int expired;        /* --expired */
    time_t now;
    unsigned found;   /* --remove: directories holding ID */
    unsigned removed; /* --expired: partial transfers removed */
    int pass;         /* --remove: 0 counts, 1 removes */
};

static int partials_in(void *arg, int dirfd, const char *partners)
{
    struct pcmd *p = arg;
    if (p->remove != NULL) {
        struct pkie_xfer_partial *v = NULL;
        size_t n = 0;
        int rc = pkie_xfer_partials_list(dirfd, 0, p->now, &v, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (strlen(p->remove) == 2 * PKIE_XFER_TID_LEN && strcasecmp(v[i].tid, p->remove) == 0)
                p->found++;
        free(v);
        if (rc == 0 && p->pass == 1 && p->found == 1) {
            rc = pkie_xfer_partial_remove(dirfd, p->remove);
            return rc == 0 ? 1 : rc; /* 1: done, stop here */
        }
        return rc;
    }
    if (p->expired) {
        unsigned n = 0;
        int rc = pkie_xfer_partials_expire(dirfd, (time_t)p->c->partial_ttl, p->now, &n);
        p->removed += n;
        return rc;
    }
    struct pkie_xfer_partial *v = NULL;
    size_t n = 0;
    int rc = pkie_xfer_partials_list(dirfd, (time_t)p->c->partial_ttl, p->now, &v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *name = NULL;
        size_t l = 0, cap = 0;
        /* names may hold any byte: shown escaped as in the audit */
        if (pkie_xfer_json_escape(&name, &l, &cap, v[i].name, strlen(v[i].name)) != 0)
            name = NULL;
        printf("%-32s %14llu %14llu %14llu %10lld %-12s %-7s %s\n", v[i].tid,
               (unsigned long long)v[i].size, (unsigned long long)v[i].durable,
               (unsigned long long)v[i].bytes, (long long)(p->now - v[i].mtime), partners,
               v[i].in_use    ? "in-use"
               : v[i].expired ? "expired"
                              : "idle",
               name ? name : "?");
        free(name);
    }
    free(v);
    return rc;
}

/* List the partial transfers of every inbound directory (or @p partner's),
 * or remove one or the expired. */
static int partials(int dirfd, const struct pkie_xfer_conf *c, const char *partner,
                    const char *remove, int expired)
{
    char err[1024];
    struct pcmd p = {.c = c, .remove = remove, .expired = expired, .now = time(NULL)};
    if (remove == NULL && !expired)
        printf("%-32s %14s %14s %14s %10s %-12s %-7s %s\n", "ID", "SIZE", "DURABLE", "BYTES",
               "AGE_S", "PARTNER", "STATE", "NAME");
    int rc = pkie_xfer_inboxes_each(c, dirfd, partner, partials_in, &p);
    if (rc == 0 && remove != NULL) {
        /* an id is the sender's choice: two partners may hold the same one */
        if (p.found == 0)
            rc = PKIE_ERR(PKIE_ERR_NOT_FOUND, "no partial transfer %s", remove);
        else if (p.found > 1)
            rc = PKIE_ERR(PKIE_ERR_ARG,
                          "partial transfer %s is in %u directories: give --partner NAME", remove,
                          p.found);
        else {
            p.pass = 1;
            p.found = 0;
            rc = pkie_xfer_inboxes_each(c, dirfd, partner, partials_in, &p);
            rc = rc == 1 ? 0 : rc == 0 ? PKIE_ERR(PKIE_ERR_NOT_FOUND, "%s is gone", remove) : rc;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
        return 1;
    }
    if (remove != NULL)
        printf("removed %s\n", remove);
    else if (expired)
        printf("removed %u expired partial transfer(s)\n", p.removed);
    return 0;
}

int pkie_cmd_recv(int argc, char **argv)
{
    const char *conf_path = NULL, *level = NULL, *remove = NULL, *partner = NULL;
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
        } else if (strcmp(argv[i], "--partner") == 0 && i + 1 < argc) {
            partner = argv[++i];
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
    if (partner != NULL && !list) {
        fprintf(stderr, "pkie recv: --partner NAME goes with --partials\n");
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
    /* the partner directories: checked (--check, --partials) or made (the monitor) */
    if (pkie_xfer_partner_dirs_open(&c, !check && !list) != 0) {
        fprintf(stderr, "pkie recv: %s: %s\n", conf_path, pkie_err_format(err, sizeof(err)));
        pkie_xfer_conf_free(&c);
        return 1;
    }
    if (check) {
        printf("%s: ok (%zu partner(s), %lld SSL task(s))\n", conf_path, c.n_partners, c.tasks);
        pkie_xfer_conf_free(&c);
        return 0;
    }
    if (list) {
        int dirfd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
            fprintf(stderr, "pkie recv: %s: cannot open the destination directory\n", c.dir);
            pkie_xfer_conf_free(&c);
            return 1;
        }
        int r = partials(dirfd, &c, partner, remove, expired);
        close(dirfd);
        pkie_xfer_conf_free(&c);
        return r;
    }
    int wake[2];
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "pkie recv: pipe: %s\n", strerror(errno));
        pkie_xfer_conf_free(&c);
        return 1;
    }
    wake_w = wake[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct pkie_metrics_server *metrics = NULL;
    struct pkie_xfer_monitor_ctl ctl = {
        .stop = &recv_stop,
        .reload = &recv_reload,
        .wake_fd = wake[0],
        .conf_path = conf_path,
    };
    int rc = pkie_xfer_metrics_start(&c, &metrics);
    if (rc == 0)
        rc = pkie_xfer_monitor_serve(&c, &ctl);
    if (rc == PKIE_XFER_MONITOR_ABANDONED || rc == PKIE_XFER_MONITOR_ABANDONED_FAILED) {
        /* a task is stuck inside an exit call and may still use the
         * configuration: end now, touching nothing (stderr is unbuffered) */
        _exit(rc == PKIE_XFER_MONITOR_ABANDONED ? 0 : 1);
    }
    if (rc != 0)
        fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
    atomic_store(&recv_stop, 1);
    pkie_xfer_metrics_stop(metrics);
    /* the self-pipe stays open until the process exits: a late signal's
     * handler must not write to a descriptor reused by someone else */
    pkie_xfer_conf_free(&c);
    return rc == 0 ? 0 : 1;
}
