/* `pkie cmp dump`: decode, print, round-trip check and verify CMP messages. */
#ifndef PKIE_APP_CMP_DUMP_H
#define PKIE_APP_CMP_DUMP_H

#include <stdio.h>

#include "pkie/cmp_msg.h"

/** Entry point, called with argv[0] = "dump". */
int pkie_cmp_dump_main(int argc, char **argv);

/** Print @p m as an indented tree (json == 0) or as one JSON object (no newline). */
void cmp_print_msg(FILE *out, const struct pkie_cmp_msg *m, int json);

#endif
