/* pkie send: send files to a receiving monitor (docs/man/pkie-send.1). */
#include "catalog.h"
#include "commands.h"
#include "transfer_progress.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char send_usage[] =
    "usage: pkie send FILE... --to PARTNER|HOST:PORT [--conf FILE] [--json]\n"
    "                 [--state-dir DIR] [--retries N] [--session-per-file]\n"
    "                 [--parallel N] [--disk-full-delay SECONDS] [--log-level LEVEL]\n"
    "\n"
    "Send files to a pkie recv monitor over mutually authenticated TLS. Each file\n"
    "is confirmed by the receiver only once it is durable, verified (SHA-256) and\n"
    "in place. A broken connection is reopened and the file resumes from the\n"
    "offset the receiver has made durable; a rerun after a failure resumes too\n"
    "(transfer ids are kept in the state directory until confirmed).\n"
    "\n"
    "Options:\n"
    "  --to DEST          partner name (partner.NAME.address in the configuration)\n"
    "                     or HOST:PORT\n"
    "  --conf FILE        configuration (default: $PKIE_SEND_CONF); see pkie-send(1)\n"
    "  --json             print a JSON summary on stdout\n"
    "  --state-dir DIR    transfer ids kept for resume (default: state_dir, else\n"
    "                     $PKIE_SEND_STATE, $XDG_STATE_HOME/pkie/send, ~/.local/state/pkie/send)\n"
    "  --retries N        reconnections after a broken connection (default 3; for\n"
    "                     each session with --parallel); refusals (certificate,\n"
    "                     partner, name, size, changed file) are never retried\n"
    "  --disk-full-delay SECONDS\n"
    "                     pause before retrying after the receiver's disk was full\n"
    "                     (default 60)\n"
    "  --session-per-file a new TLS session (full handshake) for every file\n"
    "  --parallel N       N sessions at once, each taking the next file (1..64;\n"
    "                     default: parallel in the configuration, else 1)\n"
    "  --log-level LEVEL  error|warn|info|debug|trace (default warn)\n"
    "  --help             this help\n"
    "\n"
    "The receiver's certificate must match partner.NAME.subject when DEST is a\n"
    "partner (XFER_DENIED before anything is sent). With `audit` in the\n"
    "configuration, every refused session gets a JSON line there.\n"
    "\n"
    "Exit status: 0 when the receiver confirmed every file, 2 when a file was not\n"
    "confirmed, 1 for a usage or configuration error.\n";

static void json_str(FILE *out, const char *s)
{
    char *b = NULL;
    size_t l = 0, c = 0;
    if (s == NULL || pkie_xfer_json_escape(&b, &l, &c, s, strlen(s)) != 0) {
        fputs("null", out);
    } else {
        fprintf(out, "\"%s\"", b ? b : "");
    }
    free(b);
}

static void print_json(FILE *out, const struct pkie_xfer_send_item *items, size_t n,
                       const char *dest, const struct pkie_xfer_send_opts *o, int ok)
{
    char hex[65];
    fputs("{\"to\":", out);
    json_str(out, dest);
    /* null unless a session was accepted (never a refused handshake's) */
    fputs(",\"tls_version\":", out);
    json_str(out, o->tls_version[0] ? o->tls_version : NULL);
    fputs(",\"cipher\":", out);
    json_str(out, o->tls_cipher[0] ? o->tls_cipher : NULL);
    fprintf(out, ",\"ok\":%s,\"files\":[", ok ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        const struct pkie_xfer_send_item *it = &items[i];
        fputs(i ? ",{\"path\":" : "{\"path\":", out);
        json_str(out, it->path);
        fputs(",\"name\":", out);
        json_str(out, it->name);
        fprintf(out,
                ",\"size\":%llu,\"resume_offset\":%llu,\"bytes_sent\":%llu,\"seconds\":%.3f,"
                "\"attempts\":%d,\"result\":\"%s\",\"sha256\":",
                (unsigned long long)it->res.size, (unsigned long long)it->res.resume_offset,
                (unsigned long long)it->res.bytes_sent, it->seconds, it->attempts,
                it->confirmed ? "confirmed" : "failed");
        if (it->confirmed)
            fprintf(out, "\"%s\"", pkie_xfer_hex(it->res.sha256, 32, hex));
        else
            fputs("null", out);
        fputs(",\"error\":", out);
        json_str(out, it->confirmed ? NULL : it->res.error);
        if (it->confirmed)
            fputs(",\"retryable\":null", out);
        else
            fprintf(out, ",\"retryable\":%s", it->retryable ? "true" : "false");
        if (!it->confirmed && it->alert >= 0)
            fprintf(out, ",\"alert\":%d,\"alert_name\":\"%s\"", it->alert,
                    pkie_tls_alert_name(it->alert));
        else
            fputs(",\"alert\":null,\"alert_name\":null", out);
        fputs("}", out);
    }
    fputs("]}\n", out);
}

int pkie_cmd_send(int argc, char **argv)
{
    const char *to = NULL, *conf_path = getenv("PKIE_SEND_CONF"), *level = "warn";
    const char *state_dir = NULL;
    int json = 0, retries = 3, per_file = 0, parallel = 0, disk_full_delay = 60;
    const char **files = calloc((size_t)argc, sizeof(*files));
    size_t nfiles = 0;
    if (files == NULL)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(send_usage, stdout);
            free(files);
            return 0;
        } else if (strcmp(a, "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
        } else if (strcmp(a, "--conf") == 0 && i + 1 < argc) {
            conf_path = argv[++i];
        } else if (strcmp(a, "--state-dir") == 0 && i + 1 < argc) {
            state_dir = argv[++i];
        } else if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
            level = argv[++i];
        } else if (strcmp(a, "--retries") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 1000) {
                fprintf(stderr, "pkie send: bad --retries '%s'\n", argv[i]);
                free(files);
                return 1;
            }
            retries = (int)v;
        } else if (strcmp(a, "--parallel") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (argv[i][0] == '\0' || *end != '\0' || v < 1 || v > 64) {
                fprintf(stderr, "pkie send: bad --parallel '%s' (1..64)\n", argv[i]);
                free(files);
                return 1;
            }
            parallel = (int)v;
        } else if (strcmp(a, "--disk-full-delay") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (argv[i][0] == '\0' || *end != '\0' || v < 0 || v > 86400) {
                fprintf(stderr, "pkie send: bad --disk-full-delay '%s' (0..86400)\n", argv[i]);
                free(files);
                return 1;
            }
            disk_full_delay = (int)v;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--session-per-file") == 0) {
            per_file = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "pkie send: unknown option or missing value '%s' (see --help)\n", a);
            free(files);
            return 1;
        } else {
            files[nfiles++] = a;
        }
    }
    if (to == NULL || nfiles == 0) {
        fprintf(stderr, "pkie send: %s\n", to == NULL ? "--to is required" : "no FILE given");
        free(files);
        return 1;
    }
    for (size_t i = 0; i < nfiles; i++)
        if (access(files[i], R_OK) != 0) {
            fprintf(stderr, "pkie send: cannot read '%s'\n", files[i]);
            free(files);
            return 1;
        }
    if (conf_path == NULL) {
        fprintf(stderr, "pkie send: --conf FILE is required (or PKIE_SEND_CONF)\n");
        free(files);
        return 1;
    }
    enum pkie_log_level lv;
    if (pkie_log_level_parse(level, &lv) != 0) {
        fprintf(stderr, "pkie send: unknown log level '%s'\n", level);
        free(files);
        return 1;
    }
    pkie_log_set_level(lv);
    struct pkie_xfer_conf c;
    char err[1024];
    int rc = 1;
    struct pkie_xfer_send_item *items = NULL;
    char **names = NULL;
    if (pkie_xfer_conf_load(conf_path, &c) != 0) {
        fprintf(stderr, "pkie send: %s\n", pkie_err_format(err, sizeof(err)));
        goto out;
    }
    char host[256], port[32];
    struct pkie_xfer_send_opts o = {.host = host,
                                    .port = port,
                                    .state_dir = state_dir,
                                    .retries = retries,
                                    .retry_delay_ms = 1000,
                                    .disk_full_delay_ms = disk_full_delay * 1000,
                                    .session_per_file = per_file,
                                    .parallel = parallel ? parallel : (int)c.parallel};
    const struct pkie_xfer_partner *p = pkie_xfer_conf_partner(&c, to);
    const char *addr = to;
    if (p != NULL) {
        if (p->address == NULL) {
            fprintf(stderr, "pkie send: partner %s has no partner.%s.address\n", to, to);
            goto out;
        }
        addr = p->address;
        o.partner = p->name;
    }
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (colon == NULL || hl == 0 || hl >= sizeof(host) || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= sizeof(port)) {
        fprintf(stderr, "pkie send: '%s' is neither a partner nor HOST:PORT\n", to);
        goto out;
    }
    if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
        memcpy(host, addr + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, addr, hl);
        host[hl] = '\0';
    }
    strcpy(port, colon + 1);
    items = calloc(nfiles, sizeof(*items));
    names = calloc(nfiles, sizeof(*names));
    if (items == NULL || names == NULL)
        goto out;
    for (size_t i = 0; i < nfiles; i++) {
        char *copy = strdup(files[i]);
        names[i] = copy ? strdup(basename(copy)) : NULL;
        free(copy);
        if (names[i] == NULL)
            goto out;
        items[i].path = files[i];
        items[i].name = names[i];
    }
    struct xfer_progress prog;
    int bar = !json && isatty(STDOUT_FILENO);
    if (bar) {
        xfer_progress_init(&prog, stdout);
        o.progress = xfer_progress_cb;
        o.progress_arg = &prog;
    }
    signal(SIGPIPE, SIG_IGN);
    if (bar) {
        prog.names = (const char *const *)names;
        prog.n = nfiles;
        prog.opts = &o;
        if (o.parallel > 1 && nfiles > 1) { /* files at once: one line for all */
            uint64_t total = 0;
            struct stat sb;
            for (size_t i = 0; i < nfiles; i++)
                if (stat(files[i], &sb) == 0)
                    total += (uint64_t)sb.st_size;
            if (xfer_progress_aggregate(&prog, total) != 0)
                o.progress = NULL;
        }
    }
    struct pkie_xfer_audit *audit = NULL;
    struct pkie_xfer_catalog *catalog = NULL;
    if (((c.audit != NULL || c.catalog != NULL) && pkie_xfer_audit_open(c.audit, &audit) != 0) ||
        (c.catalog != NULL && pkie_xfer_catalog_open(c.catalog, "out", &catalog) != 0)) {
        fprintf(stderr, "pkie send: %s\n", pkie_err_format(err, sizeof(err)));
        pkie_xfer_audit_close(audit);
        goto out;
    }
    pkie_xfer_audit_set_catalog(audit, catalog);
    o.audit = audit;
    int xrc = pkie_xfer_client_send(&c, &o, items, nfiles);
    pkie_xfer_audit_close(audit);
    pkie_xfer_catalog_close(catalog);
    if (bar)
        xfer_progress_done(&prog);
    if (json) {
        print_json(stdout, items, nfiles, to, &o, xrc == 0);
    } else {
        for (size_t i = 0; i < nfiles; i++) {
            if (items[i].confirmed)
                printf("%s: confirmed (%llu bytes, %llu sent, resumed at %llu, %.2f s)\n",
                       items[i].path, (unsigned long long)items[i].res.size,
                       (unsigned long long)items[i].res.bytes_sent,
                       (unsigned long long)items[i].res.resume_offset, items[i].seconds);
            else
                fprintf(stderr, "pkie send: %s: %s\n", items[i].path, items[i].res.error);
        }
    }
    rc = xrc == 0 ? 0 : 2;
out:
    if (names != NULL)
        for (size_t i = 0; i < nfiles; i++)
            free(names[i]);
    free(names);
    free(items);
    free(files);
    pkie_xfer_conf_free(&c);
    return rc;
}
