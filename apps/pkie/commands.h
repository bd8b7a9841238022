/* Subcommand entry points of the pkie command (see commands.def). */
#ifndef PKIE_APP_COMMANDS_H
#define PKIE_APP_COMMANDS_H

#define PKIE_CMD(name, summary) int pkie_cmd_##name(int argc, char **argv);
#include "commands.def"
#undef PKIE_CMD

#endif
