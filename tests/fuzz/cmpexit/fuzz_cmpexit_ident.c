/* Fuzz target: the CMP exit's identity file reader (exits/cmp/ident.c):
 * cmpx_ident_read on arbitrary identity.pem contents (policy line, key,
 * certificates), then the adoption checks on what it accepted. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmpx_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void remove_dir(void)
{
    rmdir(dir); /* empty: each input's file is unlinked */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static X509_STORE *anchors;
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/fuzz_cmpexit_ident.XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
        atexit(remove_dir);
        anchors = X509_STORE_new();
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, CMPX_IDENT_FILE);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    struct cmpx_ident *id = NULL;
    struct cmpx_stamp st;
    int rc = cmpx_ident_read(dir, &id, &st);
    if ((rc == 0) != (id != NULL) || st.present != 1 ||
        strlen(id ? id->policy : "") >= CMPX_POLICY_MAX)
        abort();
    if (id != NULL) {
        if (cmpx_ident_adoptable(id, NULL, anchors, NULL, time(NULL)) == 0)
            abort(); /* nothing chains to an empty store */
        cmpx_ident_free(id);
    }
    unlink(path);
    return 0;
}
