/* pkie: secure file transfer monitor with a pluggable PKI exit and a CMP client. */
#include "commands.h"
#include "pkie/error.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
#define PKIE_CMD(name, summary) {#name, pkie_cmd_##name, summary},
#include "commands.def"
#undef PKIE_CMD
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: pkie COMMAND [OPTIONS]...\n"
                 "       pkie COMMAND --help\n\n"
                 "Secure file transfer monitor with a pluggable PKI exit and a CMP client.\n\n"
                 "Commands:\n");
    for (const struct command *c = commands; c->name != NULL; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\n  --version  print the version and exit\n"
                 "  --help     print this help and exit\n\n"
                 "Each command has a man page in docs/man/pkie-COMMAND.1.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (const struct command *c = commands; c->name != NULL; c++)
                if (strcmp(c->name, argv[2]) == 0) {
                    char *hargv[] = {argv[2], (char *)"--help", NULL};
                    return c->fn(2, hargv);
                }
            fprintf(stderr, "pkie: unknown command '%s'\n", argv[2]);
            return 1;
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("pkie %s\n", PKIE_VERSION);
        return 0;
    }
    for (const struct command *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "pkie: unknown command '%s' (see pkie --help)\n", name);
    return 1;
}
