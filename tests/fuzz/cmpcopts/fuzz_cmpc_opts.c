/* Fuzz target: `pkie cmp`'s configuration reading (apps/pkie/cmp_client_opts.c)
 * over a fuzzed configuration file, with a section list that walks several
 * names and [default]: NCONF_load, the section-list lookup and the number
 * and flag checks of every option. The input's first line, when it starts
 * with "#sections ", gives the -section argument. */
#include "cmp_client_opts.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == '\0') /* the parser reports on stderr: see CMakeLists.txt */
        snprintf(path, sizeof(path), "/tmp/pkie-fuzz-cmpc-%ld.cnf", (long)getpid());
    char sections[128] = "Mock commands, x:y";
    static const char tag[] = "#sections ";
    if (size > sizeof(tag) - 1 && memcmp(data, tag, sizeof(tag) - 1) == 0) {
        size_t i = sizeof(tag) - 1, n = 0;
        while (i < size && data[i] != '\n' && n + 1 < sizeof(sections))
            sections[n++] = (char)data[i++];
        sections[n] = '\0';
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char *argv[] = {(char *)"-config", path, (char *)"-section", sections, NULL};
    struct cmpc_opts o;
    if (cmpc_opts_parse(&o, 4, argv) == 0) {
        for (int i = 0; i < CMPC_N_OPTS; i++)
            if (o.val[i] != NULL && strlen(o.val[i]) > (1u << 20))
                abort(); /* values come from the file: bounded by it */
    }
    cmpc_opts_free(&o);
    unlink(path);
    return 0;
}
