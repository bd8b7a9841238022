/* pkie ca: the embedded CA (init, clients, pending approvals, revocation, listing, serve). */
#include "ca_cli.h"
#include "commands.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: pkie ca SUBCOMMAND [OPTIONS]\n"
    "\n"
    "An embedded CA that issues certificates over CMP (HTTP or HTTPS).\n"
    "\n"
    "Subcommands:\n"
    "  init      create a CA directory: keys, root, optional intermediate, CMP signer\n"
    "  client    add | list | remove the clients allowed to enroll with a MAC\n"
    "  pending   list | approve ID | reject ID --reason TEXT: manual approval\n"
    "  revoke    revoke an issued certificate by serial\n"
    "  list      list issued certificates\n"
    "  show      show one issued certificate\n"
    "  export    write a certificate, the CA chain or a fresh CRL\n"
    "  serve     run the CMP server\n"
    "  check     check the database's integrity\n"
    "\n"
    "The passphrase protecting the CA keys comes from --pass-file FILE, from\n"
    "--pass env:VAR, or from the environment variable PKIE_CA_PASS; never from\n"
    "the command line. Each subcommand has --help. See pkie-ca(1).\n";

int ca_cli_fail(const char *sub)
{
    const struct pkie_error *e = pkie_err_last();
    fprintf(stderr, "pkie ca %s: %s\n", sub, e->msg[0] != '\0' ? e->msg : pkie_strerror(e->code));
    return 1;
}

int ca_cli_usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "pkie ca %s: ", sub);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

char *ca_cli_pass(const char *pass_file, const char *pass_spec)
{
    return pkie_ca_pass_read(pass_file, pass_spec);
}

static const char init_help[] =
    "usage: pkie ca init --dir DIR [--db URL] --subject DN [--key-type TYPE] [--intermediate]\n"
    "                    [--days N] [--pass-file F | --pass env:VAR]\n"
    "\n"
    "Create a CA in DIR (mode 0700): ca.db, root.crt, issuer.crt, signer.crt (0600).\n"
    "  --subject DN      root subject, \"/CN=Example Root/O=Example\" or \"CN=..,O=..\"\n"
    "  --key-type TYPE   ec:P-256 (default), ec:P-384, rsa:3072, ed25519\n"
    "  --intermediate    issue from an intermediate CA signed by the root\n"
    "  --days N          root validity in days (default 3650)\n"
    "  --pass-file F     read the passphrase from the first line of F\n"
    "  --pass env:VAR    read the passphrase from the environment variable VAR\n" CA_DB_HELP;

int ca_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'B'},
        {"subject", required_argument, NULL, 's'},
        {"key-type", required_argument, NULL, 'k'},
        {"intermediate", no_argument, NULL, 'i'},
        {"days", required_argument, NULL, 'D'},
        {"pass-file", required_argument, NULL, 'P'},
        {"pass", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pkie_ca_init_params p = {0};
    const char *pass_file = NULL, *pass_spec = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            p.dir = optarg;
            break;
        case 'B':
            p.db = optarg;
            break;
        case 's':
            p.subject = optarg;
            break;
        case 'k':
            p.key_type = optarg;
            break;
        case 'i':
            p.intermediate = 1;
            break;
        case 'D':
            p.root_days = strtol(optarg, NULL, 10);
            if (p.root_days <= 2 || p.root_days > 36500)
                return ca_cli_usage_error("init", "--days must be 3..36500");
            break;
        case 'P':
            pass_file = optarg;
            break;
        case 'p':
            pass_spec = optarg;
            break;
        case 'h':
            fputs(init_help, stdout);
            return 0;
        default:
            return ca_cli_usage_error("init", "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ca_cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (p.dir == NULL || p.subject == NULL)
        return ca_cli_usage_error("init", "--dir and --subject are required");
    char *pass = ca_cli_pass(pass_file, pass_spec);
    if (pass == NULL)
        return ca_cli_fail("init");
    p.pass = pass;
    int rc = pkie_ca_dir_init(&p);
    pkie_wipe_free_str(pass);
    if (rc != 0)
        return ca_cli_fail("init");
    printf("CA created in %s\n", p.dir);
    return 0;
}

int pkie_cmd_ca(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {
        {"init", ca_cmd_init},     {"client", ca_cmd_client}, {"pending", ca_cmd_pending},
        {"revoke", ca_cmd_revoke}, {"list", ca_cmd_list},     {"show", ca_cmd_show},
        {"export", ca_cmd_export}, {"serve", ca_cmd_serve},   {"check", ca_cmd_check},
    };
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(subs[i].name, argv[1]) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "pkie ca: unknown subcommand '%s' (see pkie ca --help)\n", argv[1]);
    return 1;
}
