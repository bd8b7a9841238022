/* pkie cmp: CMP client (openssl cmp options) and `pkie cmp dump`.
 * Minimal dispatcher created by the CMP client; the `dump` subcommand
 * belongs to the CMP message layer. */
#include "cmp_client.h"
#include "cmp_dump.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

int pkie_cmd_cmp(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dump") == 0)
        return pkie_cmp_dump_main(argc - 1, argv + 1);
    return pkie_cmp_client_main(argc, argv);
}
