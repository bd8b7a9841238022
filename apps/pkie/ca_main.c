/* pkie-ca: the `pkie ca` command as an executable of its own, which
 * cmd_ca_exec.c runs (see CMakeLists.txt). Called as pkie-ca ARGS..., it is
 * `pkie ca ARGS...`. */
#include "commands.h"

int main(int argc, char **argv)
{
    char name[] = "ca";
    argv[0] = name;
    return pkie_cmd_ca(argc, argv);
}
