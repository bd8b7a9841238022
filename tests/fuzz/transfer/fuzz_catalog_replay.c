/* libFuzzer target: the catalog's startup replay of audit lines (catalog.c
 * pkie_xfer_catalog_replay_buf, audit_line.c) with arbitrary bytes as the
 * audit file's tail, into a temporary catalog. Every complete line is either
 * recorded or counted as bad, a tail without newline is reported cut and
 * never recorded, and nothing crashes or leaks. */
#include "catalog.h"
#include "pkie/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];
static struct pkie_xfer_catalog *cat;
static unsigned runs;

static void cleanup(void)
{
    char p[160];
    pkie_xfer_catalog_close(cat);
    cat = NULL;
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cat == NULL) {
        pkie_log_set_level(PKIE_LOG_ERROR); /* a warning per bad line otherwise */
        snprintf(dir, sizeof(dir), "/tmp/pkie-fuzz-replay-XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
        snprintf(path, sizeof(path), "%s/f.catalog", dir);
        if (pkie_xfer_catalog_open(path, "in", &cat) != 0)
            abort();
        atexit(cleanup);
    }
    if (++runs % 256 == 0) {
        uint64_t n;
        if (pkie_xfer_catalog_purge(cat, INT64_MAX, &n) != 0)
            abort();
    }
    struct pkie_xfer_catalog_replay st = {.first_bad = -1};
    if (pkie_xfer_catalog_replay_buf(cat, (const char *)data, size, 1000, -1, &st) != 0)
        abort(); /* no input is a database error */
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (st.replayed + st.bad != lines)
        abort();
    if (st.cut != (size > 0 && data[size - 1] != '\n'))
        abort();
    if (st.bad > 0 && (st.first_bad < 1000 || st.first_bad >= 1000 + (int64_t)size))
        abort();
    return 0;
}
