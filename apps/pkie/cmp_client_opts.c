/* Option parsing of `pkie cmp`: command line and openssl-style configuration
 * (-config FILE -section NAMES), with openssl cmp's names and precedence
 * (command line over the named sections over [default]). */
#include "cmp_client_opts.h"

#include <openssl/conf.h>
#include <openssl/err.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { F, S, N, I, P, VF, VS, IG, U, UF };

static const struct {
    const char *name;
    enum kind kind;
    const char *help;
} opts[] = {
#define X(n, k, h) {#n, k, h},
    CMPC_OPTIONS(X)
#undef X
};

const char *cmpc_opt_name(enum cmpc_opt i)
{
    return opts[i].name;
}

static int takes_arg(enum kind k)
{
    return k != F && k != VF && k != UF;
}

void cmpc_opts_usage(void)
{
    printf("usage: pkie cmp [OPTIONS]\n"
           "       pkie cmp dump FILE...\n\n"
           "CMP client with the options of `openssl cmp`:\n");
    for (int i = 0; i < CMPC_N_OPTS; i++) {
        if (opts[i].kind == U || opts[i].kind == UF)
            continue;
        char left[64];
        const char *arg = "";
        switch (opts[i].kind) {
        case N:
            arg = " nonneg";
            break;
        case I:
            arg = " int";
            break;
        case P:
            arg = " +int";
            break;
        case S:
        case VS:
        case IG:
            arg = " val";
            break;
        default:
            break;
        }
        snprintf(left, sizeof(left), "-%s%s", opts[i].name, arg);
        printf(" %-24s %s\n", left, opts[i].help);
    }
    printf("\nMock server, engine and provider options of openssl cmp are not supported.\n"
           "See docs/man/pkie-cmp.1.\n");
}

static int find_opt(const char *arg)
{
    char name[64];
    size_t n = strlen(arg);
    if (n == 0 || n >= sizeof(name))
        return -1;
    for (size_t i = 0; i <= n; i++)
        name[i] = arg[i] == '-' ? '_' : arg[i];
    for (int i = 0; i < CMPC_N_OPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return i;
    return -1;
}

static int check_value(int i, const char *v, const char *origin)
{
    if (opts[i].kind == N || opts[i].kind == I || opts[i].kind == P) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || x < INT_MIN || x > INT_MAX ||
            (opts[i].kind == N && x < 0) || (opts[i].kind == P && x <= 0)) {
            fprintf(stderr, "pkie cmp: %s-%s: invalid %s number '%s'\n", origin, opts[i].name,
                    opts[i].kind == N   ? "non-negative"
                    : opts[i].kind == P ? "positive"
                                        : "",
                    v);
            return -1;
        }
    }
    return 0;
}

long cmpc_opt_int(const struct cmpc_opts *o, enum cmpc_opt i, long def)
{
    return o->val[i] != NULL ? strtol(o->val[i], NULL, 10) : def;
}

/* The command line. An empty string argument resets the option (also one
 * set by the configuration), as openssl cmp does. */
static int parse_argv(struct cmpc_opts *o, int argc, char **argv)
{
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (arg[0] != '-' || arg[1] == '\0') {
            fprintf(stderr, "pkie cmp: unexpected argument '%s'\n", arg);
            return -1;
        }
        const char *name = arg + 1;
        if (*name == '-')
            name++; /* --option is accepted too */
        int i = find_opt(name);
        if (i < 0) {
            fprintf(stderr, "pkie cmp: unknown option '%s' (see pkie cmp -help)\n", arg);
            return -1;
        }
        if (opts[i].kind == U || opts[i].kind == UF) {
            fprintf(stderr, "pkie cmp: option '%s' is not supported (%s)\n", arg, opts[i].help);
            return -1;
        }
        if (!takes_arg(opts[i].kind)) {
            o->val[i] = "1";
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "pkie cmp: option '%s' needs a value\n", arg);
            return -1;
        }
        const char *v = argv[++a];
        if (*v == '\0' && (opts[i].kind == S || opts[i].kind == VS || opts[i].kind == IG)) {
            if (i != CMPC_config && i != CMPC_section)
                fprintf(stderr,
                        "pkie cmp: warning: %s option argument is empty string, resetting "
                        "option\n",
                        arg);
            o->val[i] = i == CMPC_config || i == CMPC_section ? v : NULL;
            continue;
        }
        if (check_value(i, v, "") < 0)
            return -1;
        o->val[i] = v;
    }
    return 0;
}

const char *cmpc_section_prev(const char *list, const char *end, char item[CMPC_SECTION_MAX + 1])
{
    if (end == list)
        return NULL;
    const char *beg = end;
    while (beg > list) {
        --beg;
        if (*beg == ',' || isspace((unsigned char)*beg)) {
            ++beg;
            break;
        }
    }
    size_t len = (size_t)(end - beg);
    if (len > CMPC_SECTION_MAX) {
        fprintf(stderr,
                "pkie cmp: warning: using only first %d characters of section name starting "
                "with \"%.*s\"\n",
                CMPC_SECTION_MAX, CMPC_SECTION_MAX, beg);
        len = CMPC_SECTION_MAX;
    }
    memcpy(item, beg, len);
    item[len] = '\0';
    while (beg > list) {
        --beg;
        if (*beg != ',' && !isspace((unsigned char)*beg)) {
            ++beg;
            break;
        }
    }
    return beg;
}

const char *cmpc_conf_get(const CONF *conf, const char *sections, const char *name)
{
    char item[CMPC_SECTION_MAX + 1];
    const char *end = sections + strlen(sections);
    while ((end = cmpc_section_prev(sections, end, item)) != NULL) {
        /* NCONF_get_string falls back to [default] for each section */
        const char *v = NCONF_get_string(conf, item, name);
        if (v != NULL)
            return v;
        ERR_clear_error();
    }
    return NULL;
}

/* Read every option of the table from the configuration: the last section
 * of the list that has the option (or whose [default] fallback has it)
 * wins. An empty value means "not set"; a number that does not parse is
 * ignored (openssl cmp's conf_get_number_e); a key that is no option is
 * never looked at. */
static int read_config(struct cmpc_opts *o, const char *sections)
{
    for (int i = 0; i < CMPC_N_OPTS; i++) {
        if (i == CMPC_help || i == CMPC_config || i == CMPC_section)
            continue;
        const char *v = cmpc_conf_get(o->conf, sections, opts[i].name);
        if (v == NULL || *v == '\0')
            continue;
        if (opts[i].kind == U || opts[i].kind == UF) {
            fprintf(stderr, "pkie cmp: option '%s' in section(s) '%s' is not supported (%s)\n",
                    opts[i].name, sections, opts[i].help);
            return -1;
        }
        if (opts[i].kind == S || opts[i].kind == VS || opts[i].kind == IG) {
            o->val[i] = v;
            continue;
        }
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno != 0 || *end != '\0')
            continue; /* not provided, as openssl cmp reads it */
        if ((opts[i].kind == P && x <= 0) || (opts[i].kind == N && x < 0)) {
            fprintf(stderr, "pkie cmp: %s number \"%ld\" for config option -%s\n",
                    opts[i].kind == P ? "Non-positive" : "Negative", x, opts[i].name);
            return -1;
        }
        if (x < INT_MIN || x > INT_MAX) {
            fprintf(stderr, "pkie cmp: integer value out of range for option '%s'\n", opts[i].name);
            return -1;
        }
        if (!takes_arg(opts[i].kind)) {
            o->val[i] = x != 0 ? "1" : NULL;
            continue;
        }
        if ((o->owned[i] = malloc(24)) == NULL) {
            fprintf(stderr, "pkie cmp: out of memory\n");
            return -1;
        }
        snprintf(o->owned[i], 24, "%ld", x);
        o->val[i] = o->owned[i];
    }
    return 0;
}

int cmpc_opts_parse(struct cmpc_opts *o, int argc, char **argv)
{
    struct cmpc_opts cli;
    memset(o, 0, sizeof(*o));
    memset(&cli, 0, sizeof(cli));
    if (parse_argv(&cli, argc, argv) < 0)
        return -1;
    if (cli.val[CMPC_help] != NULL) {
        cmpc_opts_usage();
        return 1;
    }
    /* the configuration: -config FILE ("" = none), else OpenSSL's default
     * (OPENSSL_CONF, else OPENSSLDIR/openssl.cnf) if it exists */
    char *deffile = NULL;
    const char *file = cli.val[CMPC_config];
    if (file == NULL) {
        deffile = CONF_get1_default_config_file();
        if (deffile != NULL && access(deffile, R_OK) == 0)
            file = deffile;
    }
    const char *secs = cli.val[CMPC_section];
    if (secs == NULL)
        secs = CMPC_SECTION_CMP;
    else if (*secs == '\0')
        secs = "default";
    int rc = 0;
    if (file != NULL && *file != '\0') {
        long eline = -1;
        o->conf = NCONF_new(NULL);
        if (o->conf == NULL || NCONF_load(o->conf, file, &eline) <= 0) {
            if (eline > 0)
                fprintf(stderr, "pkie cmp: Error on line %ld of config file \"%s\"\n", eline, file);
            else
                fprintf(stderr, "pkie cmp: Can't load config file \"%s\"\n", file);
            rc = -1;
        } else if (strcmp(secs, CMPC_SECTION_CMP) != 0) {
            /* each named section must exist; the implicit [cmp] need not */
            char item[CMPC_SECTION_MAX + 1];
            const char *end = secs + strlen(secs);
            while (rc == 0 && (end = cmpc_section_prev(secs, end, item)) != NULL)
                if (NCONF_get_section(o->conf, item) == NULL) {
                    fprintf(stderr, "pkie cmp: no [%s] section found in config file '%s'\n", item,
                            file);
                    rc = -1;
                }
        }
        if (rc == 0)
            rc = read_config(o, secs);
        ERR_clear_error();
    }
    OPENSSL_free(deffile);
    if (rc < 0)
        return -1;
    /* the command line overrides (an empty argument has reset its option) */
    for (int a = 0; a < argc; a++) {
        if (argv[a][0] != '-')
            continue;
        int i = find_opt(argv[a] + (argv[a][1] == '-' ? 2 : 1));
        if (i < 0)
            continue;
        o->val[i] = cli.val[i];
        if (takes_arg(opts[i].kind))
            a++;
    }
    return 0;
}

void cmpc_opts_free(struct cmpc_opts *o)
{
    for (int i = 0; i < CMPC_N_OPTS; i++)
        free(o->owned[i]);
    NCONF_free(o->conf);
    memset(o, 0, sizeof(*o));
}
