/* Shared pieces of the `pkie ca` subcommands (cmd_ca.c, ca_admin.c, ca_serve.c). */
#ifndef PKIE_APP_CA_CLI_H
#define PKIE_APP_CA_CLI_H

#include "pkie/ca.h"

/** The --db line of every subcommand's --help. */
#define CA_DB_HELP                                                                                 \
    "  --db URL          the store: postgresql://HOST/DB, postgres://.., or libpq's\n"             \
    "                    key=value form (the password from ~/.pgpass or PGPASSFILE,\n"             \
    "                    never here), or an SQLite file; default DIR/ca.db\n"

/** Print "pkie ca SUB: <last error>" to stderr and return 1. */
int ca_cli_fail(const char *sub);
/** Print "pkie ca SUB: msg" to stderr and return 1. */
int ca_cli_usage_error(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Read the passphrase from --pass-file / --pass env:VAR / PKIE_CA_PASS (NULL + error). */
char *ca_cli_pass(const char *pass_file, const char *pass_spec);

int ca_cmd_init(int argc, char **argv);
int ca_cmd_client(int argc, char **argv);
int ca_cmd_pending(int argc, char **argv);
int ca_cmd_revoke(int argc, char **argv);
int ca_cmd_list(int argc, char **argv);
int ca_cmd_show(int argc, char **argv);
int ca_cmd_export(int argc, char **argv);
int ca_cmd_serve(int argc, char **argv);
int ca_cmd_check(int argc, char **argv);

#endif
