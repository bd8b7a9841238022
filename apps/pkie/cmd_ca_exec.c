/* pkie ca: runs pkie-ca (cmd_ca.c and ca_*.c, built as an executable of
 * their own), so that the CA's libraries - libmicrohttpd with GnuTLS and the
 * stores' database clients - are loaded by `pkie ca` only and not at the
 * start of every other command (docs/dependencies.md). pkie-ca is looked for
 * beside this executable (the build tree), then in PKIE_LIBEXECDIR. */
#include "commands.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int beside_self(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    int w = snprintf(out, cap, "%s/pkie-ca", self);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int pkie_cmd_ca(int argc, char **argv)
{
    (void)argc;
    char path[PATH_MAX];
    if (beside_self(path, sizeof(path)) < 0 || access(path, X_OK) != 0)
        snprintf(path, sizeof(path), "%s/pkie-ca", PKIE_LIBEXECDIR);
    execv(path, argv); /* argv[0] is "ca", as pkie-ca's main sets it */
    fprintf(stderr, "pkie ca: cannot run %s: %s\n", path, strerror(errno));
    return 1;
}
