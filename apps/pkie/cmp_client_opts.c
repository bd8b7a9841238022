/* Option parsing of `pkie cmp`: command line and openssl-style configuration
 * (-config FILE -section NAMES), with openssl cmp's names and precedence
 * (command line over the named sections over [default]). */
#include "cmp_client_opts.h"

#include <openssl/conf.h>
#include <openssl/err.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int parse_argv(const char **val, int argc, char **argv)
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
        if (takes_arg(opts[i].kind)) {
            if (a + 1 >= argc) {
                fprintf(stderr, "pkie cmp: option '%s' needs a value\n", arg);
                return -1;
            }
            if (check_value(i, argv[a + 1], "") < 0)
                return -1;
            val[i] = argv[++a];
        } else {
            val[i] = "1";
        }
    }
    return 0;
}

/* Apply the options of one configuration section where the command line
 * did not give them. */
static int apply_section(struct cmpc_opts *o, const char **cli, const char *section, int must_exist)
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(o->conf, section);
    if (sk == NULL) {
        if (must_exist) {
            fprintf(stderr, "pkie cmp: no [%s] section in the configuration file\n", section);
            return -1;
        }
        return 0;
    }
    for (int k = 0; k < sk_CONF_VALUE_num(sk); k++) {
        CONF_VALUE *cv = sk_CONF_VALUE_value(sk, k);
        int i = find_opt(cv->name);
        if (i < 0) {
            if (strcmp(section, "default") != 0) /* [default] holds other settings too */
                fprintf(stderr, "pkie cmp: warning: unknown option '%s' in section [%s] ignored\n",
                        cv->name, section);
            continue;
        }
        if (cli[i] != NULL || o->owned[i] != NULL)
            continue; /* the command line and earlier sections win */
        if (opts[i].kind == U || opts[i].kind == UF) {
            fprintf(stderr, "pkie cmp: option '%s' in section [%s] is not supported\n", cv->name,
                    section);
            return -1;
        }
        char origin[128];
        snprintf(origin, sizeof(origin), "[%s] ", section);
        if (!takes_arg(opts[i].kind)) {
            char *end;
            long x = strtol(cv->value, &end, 10);
            if (end == cv->value || *end != '\0') {
                fprintf(stderr, "pkie cmp: [%s] %s: flag value must be 0 or 1, not '%s'\n", section,
                        cv->name, cv->value);
                return -1;
            }
            if (x == 0)
                continue;
            o->owned[i] = strdup("1");
        } else {
            if (check_value(i, cv->value, origin) < 0)
                return -1;
            o->owned[i] = strdup(cv->value);
        }
        if (o->owned[i] == NULL) {
            fprintf(stderr, "pkie cmp: out of memory\n");
            return -1;
        }
        o->val[i] = o->owned[i];
    }
    return 0;
}

int cmpc_opts_parse(struct cmpc_opts *o, int argc, char **argv)
{
    const char *cli[CMPC_N_OPTS] = {0};
    memset(o, 0, sizeof(*o));
    if (parse_argv(cli, argc, argv) < 0)
        return -1;
    if (cli[CMPC_help] != NULL) {
        cmpc_opts_usage();
        return 1;
    }
    const char *file = cli[CMPC_config];
    if (file == NULL)
        file = getenv("OPENSSL_CONF");
    if (file != NULL && *file != '\0') {
        long eline = -1;
        o->conf = NCONF_new(NULL);
        if (o->conf == NULL || NCONF_load(o->conf, file, &eline) <= 0) {
            if (eline > 0)
                fprintf(stderr, "pkie cmp: configuration file '%s': error on line %ld\n", file,
                        eline);
            else
                fprintf(stderr, "pkie cmp: cannot read configuration file '%s'\n", file);
            ERR_clear_error();
            return -1;
        }
        /* -section: names separated by ',' or ':', the first wins; "" = [default] */
        const char *secs = cli[CMPC_section] != NULL ? cli[CMPC_section] : "cmp";
        char buf[1024];
        if (strlen(secs) >= sizeof(buf)) {
            fprintf(stderr, "pkie cmp: -section value too long\n");
            return -1;
        }
        snprintf(buf, sizeof(buf), "%s", secs);
        char *save = NULL;
        for (char *s = strtok_r(buf, ",:", &save); s != NULL; s = strtok_r(NULL, ",:", &save)) {
            while (*s == ' ')
                s++;
            if (*s == '\0')
                continue;
            /* a named -section must exist; the implicit [cmp] need not */
            if (apply_section(o, cli, s, cli[CMPC_section] != NULL) < 0)
                return -1;
        }
        if (apply_section(o, cli, "default", 0) < 0)
            return -1;
        ERR_clear_error();
    }
    for (int i = 0; i < CMPC_N_OPTS; i++)
        if (cli[i] != NULL)
            o->val[i] = cli[i];
    return 0;
}

void cmpc_opts_free(struct cmpc_opts *o)
{
    for (int i = 0; i < CMPC_N_OPTS; i++)
        free(o->owned[i]);
    NCONF_free(o->conf);
    memset(o, 0, sizeof(*o));
}
