/* pkie catalog: list, show and purge the transfer catalog (docs/man/pkie-catalog.1). */
#include "catalog.h"
#include "commands.h"

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit statuses (pkie-catalog(1)). */
enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_CATALOG = 2, EXIT_NO_ID = 3 };

static const char catalog_usage[] =
    "usage: pkie catalog list --conf FILE [--partner P] [--since TIME] [--result R] [--json]\n"
    "       pkie catalog show --conf FILE ID [--json]\n"
    "       pkie catalog purge --conf FILE --before TIME\n"
    "\n"
    "The transfer catalog of pkie recv or pkie send: one record per transfer (a\n"
    "transfer resumed over several sessions is one record) and per refused\n"
    "session, in the SQLite file named by the configuration's catalog key.\n"
    "TIME is RFC 3339 (2026-12-03T22:15:00Z) or a duration before now (7d, 12h,\n"
    "30m, 45s). Exit status: 0 done, 1 usage or bad TIME, 2 catalog missing or\n"
    "unreadable, 3 no record with that ID. See pkie-catalog(1).\n"
    "\n"
    "Run `pkie catalog COMMAND --help` for a command's options.\n";

static const char list_usage[] =
    "usage: pkie catalog list --conf FILE [--partner P] [--since TIME] [--result R] [--json]\n"
    "\n"
    "List the catalog's records, oldest first (opened read-only).\n"
    "\n"
    "Options:\n"
    "  --conf FILE     the pkie recv or pkie send configuration (its catalog key)\n"
    "  --partner P     only the records of partner P\n"
    "  --since TIME    only the records that ended at or after TIME\n"
    "  --result R      only the records whose result is R (ok, refused, failed,\n"
    "                  interrupted)\n"
    "  --json          one JSON array of records instead of a table\n"
    "  --help          this help\n";

static const char show_usage[] =
    "usage: pkie catalog show --conf FILE ID [--json]\n"
    "\n"
    "Show the record ID: a transfer id (32 hex digits) or session-N (a refused\n"
    "session), every field (opened read-only). Exit status 3 when there is none.\n"
    "\n"
    "Options:\n"
    "  --conf FILE     the pkie recv or pkie send configuration (its catalog key)\n"
    "  --json          one JSON object instead of text\n"
    "  --help          this help\n";

static const char purge_usage[] =
    "usage: pkie catalog purge --conf FILE --before TIME\n"
    "\n"
    "Delete the records that ended before TIME; prints how many.\n"
    "\n"
    "Options:\n"
    "  --conf FILE     the pkie recv or pkie send configuration (its catalog key)\n"
    "  --before TIME   RFC 3339 or a duration before now (7d, 12h, 30m, 45s)\n"
    "  --help          this help\n";

static int fail(int status)
{
    char err[1024];
    fprintf(stderr, "pkie catalog: %s\n", pkie_err_format(err, sizeof(err)));
    return status;
}

/* The catalog path of configuration @p conf; NULL after printing why, with
 * *status EXIT_USAGE (configuration) or EXIT_CATALOG (catalog = none). */
static char *catalog_path(const char *conf, int *status)
{
    struct pkie_xfer_conf c;
    if (pkie_xfer_conf_load(conf, &c) != 0) {
        *status = fail(EXIT_USAGE);
        pkie_xfer_conf_free(&c);
        return NULL;
    }
    char *p = c.catalog ? strdup(c.catalog) : NULL;
    *status = EXIT_CATALOG;
    if (c.catalog == NULL)
        fprintf(stderr, "pkie catalog: %s: catalog = none (no catalog kept)\n", conf);
    else if (p == NULL)
        fprintf(stderr, "pkie catalog: out of memory\n");
    pkie_xfer_conf_free(&c);
    return p;
}

/* A string for the table: escaped as in the JSON (no quotes), "-" when NULL. */
static void put_cell(const char *s, size_t n, int width)
{
    if (s == NULL) {
        printf("%-*s", width, "-");
        return;
    }
    char *b = NULL;
    size_t l = 0, cap = 0;
    if (pkie_xfer_json_escape(&b, &l, &cap, s, n ? n : strlen(s)) == 0)
        printf("%-*s", width, b);
    else
        printf("%-*s", width, "?");
    free(b);
}

struct out {
    int json;
    unsigned n;
};

static int print_row(void *arg, const struct pkie_xfer_catalog_row *r)
{
    struct out *o = arg;
    if (o->json) {
        fputs(o->n++ ? ",\n" : "\n", stdout);
        return pkie_xfer_catalog_row_json(r, stdout);
    }
    if (o->n++ == 0)
        printf("%-32s %-3s %-12s %-11s %12s %-24s %s\n", "ID", "DIR", "PARTNER", "RESULT", "SIZE",
               "ENDED", "FILE");
    char ended[32], size[24] = "-";
    pkie_xfer_time_format(r->ended_ms, ended);
    if (r->size >= 0)
        snprintf(size, sizeof(size), "%" PRId64, r->size);
    put_cell(r->id, 0, 32);
    printf(" %-3s ", r->direction);
    put_cell(r->partner, 0, 12);
    printf(" %-11s %12s %-24s ", r->result, size, ended);
    put_cell(r->file, r->file_len, 0);
    putchar('\n');
    return 0;
}

static int show_row(void *arg, const struct pkie_xfer_catalog_row *r)
{
    struct out *o = arg;
    o->n++;
    if (o->json) {
        int rc = pkie_xfer_catalog_row_json(r, stdout);
        putchar('\n');
        return rc;
    }
    char st[32], en[32], size[24] = "-";
    pkie_xfer_time_format(r->started_ms, st);
    pkie_xfer_time_format(r->ended_ms, en);
    if (r->size >= 0)
        snprintf(size, sizeof(size), "%" PRId64, r->size);
    const struct {
        const char *k, *v;
        size_t n;
    } f[] = {
        {"id", r->id, 0},
        {"direction", r->direction, 0},
        {"partner", r->partner, 0},
        {"peer_subject", r->peer_subject, 0},
        {"peer_serial", r->peer_serial, 0},
        {"file", r->file, r->file_len},
        {"size", size, 0},
        {"bytes", r->bytes, 0},
        {"resume_offsets", r->resume_offsets, 0},
        {"started", st, 0},
        {"ended", en, 0},
        {"result", r->result, 0},
        {"error", r->error, 0},
        {"sha256", r->sha256, 0},
        {"tls_version", r->tls_version, 0},
        {"cipher", r->cipher, 0},
        {"global_area", r->global_area, 0},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        printf("%-15s ", f[i].k);
        put_cell(f[i].v, f[i].n, 0);
        putchar('\n');
    }
    return 0;
}

static int parse_time(const char *opt, const char *v, int64_t *out)
{
    if (pkie_xfer_time_parse(v, pkie_xfer_now_ms(), out) != 0) {
        char err[1024];
        fprintf(stderr, "pkie catalog: %s: %s\n", opt, pkie_err_format(err, sizeof(err)));
        return -1;
    }
    return 0;
}

int pkie_cmd_catalog(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(catalog_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *cmd = argv[1], *usage;
    enum { LIST, SHOW, PURGE } which;
    if (strcmp(cmd, "list") == 0) {
        which = LIST;
        usage = list_usage;
    } else if (strcmp(cmd, "show") == 0) {
        which = SHOW;
        usage = show_usage;
    } else if (strcmp(cmd, "purge") == 0) {
        which = PURGE;
        usage = purge_usage;
    } else {
        fprintf(stderr, "pkie catalog: unknown command %s (list, show, purge)\n", cmd);
        return EXIT_USAGE;
    }
    const char *conf = NULL, *id = NULL, *before = NULL, *since = NULL;
    struct pkie_xfer_catalog_filter f = {.since_ms = INT64_MIN};
    struct out o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--conf") == 0 && has) {
            conf = argv[++i];
        } else if (strcmp(a, "--json") == 0 && which != PURGE) {
            o.json = 1;
        } else if (strcmp(a, "--partner") == 0 && has && which == LIST) {
            f.partner = argv[++i];
        } else if (strcmp(a, "--result") == 0 && has && which == LIST) {
            f.result = argv[++i];
        } else if (strcmp(a, "--since") == 0 && has && which == LIST) {
            since = argv[++i];
        } else if (strcmp(a, "--before") == 0 && has && which == PURGE) {
            before = argv[++i];
        } else if (a[0] != '-' && which == SHOW && id == NULL) {
            id = a;
        } else {
            fprintf(stderr,
                    "pkie catalog %s: unknown option, missing value or extra argument: %s\n", cmd,
                    a);
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (conf == NULL || (which == SHOW && id == NULL) || (which == PURGE && before == NULL)) {
        fprintf(stderr, "pkie catalog %s: %s required\n", cmd,
                conf == NULL    ? "--conf FILE"
                : which == SHOW ? "ID"
                                : "--before TIME");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (f.result != NULL && strcmp(f.result, "ok") != 0 && strcmp(f.result, "refused") != 0 &&
        strcmp(f.result, "failed") != 0 && strcmp(f.result, "interrupted") != 0) {
        fprintf(stderr,
                "pkie catalog list: --result %s: expected ok, refused, failed or "
                "interrupted\n",
                f.result);
        return EXIT_USAGE;
    }
    int64_t t = 0;
    if ((since != NULL && parse_time("--since", since, &f.since_ms) != 0) ||
        (before != NULL && parse_time("--before", before, &t) != 0))
        return EXIT_USAGE;
    int status = EXIT_OK;
    char *path = catalog_path(conf, &status);
    if (path == NULL)
        return status;
    struct pkie_xfer_catalog *c = NULL;
    int rc = which == PURGE ? pkie_xfer_catalog_open_admin(path, &c)
                            : pkie_xfer_catalog_open_ro(path, &c);
    free(path);
    if (rc != 0)
        return fail(EXIT_CATALOG);
    status = EXIT_OK;
    if (which == LIST) {
        if (o.json)
            putchar('[');
        rc = pkie_xfer_catalog_list(c, &f, print_row, &o);
        if (o.json)
            fputs(o.n ? "\n]\n" : "]\n", stdout);
        status = rc != 0 ? fail(EXIT_CATALOG) : EXIT_OK;
    } else if (which == SHOW) {
        rc = pkie_xfer_catalog_show(c, id, show_row, &o);
        status = rc == PKIE_ERR_NOT_FOUND ? fail(EXIT_NO_ID) : rc != 0 ? fail(EXIT_CATALOG) : 0;
    } else {
        uint64_t n = 0;
        rc = pkie_xfer_catalog_purge(c, t, &n);
        if (rc == 0) {
            char when[32];
            pkie_xfer_time_format(t, when);
            printf("purged %" PRIu64 " record(s) that ended before %s\n", n, when);
        }
        status = rc != 0 ? fail(EXIT_CATALOG) : EXIT_OK;
    }
    pkie_xfer_catalog_close(c);
    if (fflush(stdout) != 0 && status == EXIT_OK)
        status = EXIT_CATALOG;
    return status;
}
