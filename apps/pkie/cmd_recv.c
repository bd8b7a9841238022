/* pkie recv: the receiving file transfer monitor (docs/man/pkie-recv.1). */
#include "commands.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"
#include "pkie/transfer.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int recv_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&recv_stop, 1);
    pkie_tls_stop(); /* an exit call in a helper returns at once */
}

static const char recv_usage[] =
    "usage: pkie recv --conf FILE [--log-level LEVEL] [--check]\n"
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
    "  --help             this help\n";

int pkie_cmd_recv(int argc, char **argv)
{
    const char *conf_path = NULL, *level = NULL;
    int check = 0;
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
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = pkie_xfer_monitor_run(&c, &recv_stop);
    if (rc != 0)
        fprintf(stderr, "pkie recv: %s\n", pkie_err_format(err, sizeof(err)));
    pkie_xfer_conf_free(&c);
    return rc == 0 ? 0 : 1;
}
