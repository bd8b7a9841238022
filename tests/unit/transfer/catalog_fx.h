/* The catalog unit tests' fixture (test_catalog.c, test_catalog_queue.c): a
 * temporary directory with a catalog path, a peer, and the rows of a catalog
 * as JSON lines. */
#ifndef PKIE_TEST_CATALOG_FX_H
#define PKIE_TEST_CATALOG_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog.h"
#include "pkie/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    char dir[64];
    char db[128];
};

static inline int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "/tmp/pkie-cat-XXXXXX");
    if (x == NULL || mkdtemp(x->dir) == NULL)
        return -1;
    snprintf(x->db, sizeof(x->db), "%s/t.catalog", x->dir);
    *state = x;
    return 0;
}

static inline int teardown(void **state)
{
    struct fx *x = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
    if (system(cmd) != 0)
        return -1;
    free(x);
    return 0;
}

static const uint8_t tid_a[16] = {0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static inline struct pkie_xfer_peer peer(const char *partner)
{
    static const uint8_t ga[64] = {0xde, 0xad};
    struct pkie_xfer_peer p = {.partner = partner,
                               .addr = "127.0.0.1:1",
                               .subject = "CN=s1,O=t",
                               .issuer = "CN=root",
                               .serial = "0A",
                               .tls_version = "TLSv1.3",
                               .cipher = "TLS_AES_128_GCM_SHA256",
                               .global_area = ga};
    return p;
}

/* Collect rows as JSON text (one per line) and count them. */
struct coll {
    char *buf;
    size_t len;
    FILE *f;
    unsigned n;
    int64_t last_ended;
};

static inline int collect(void *arg, const struct pkie_xfer_catalog_row *r)
{
    struct coll *c = arg;
    c->n++;
    c->last_ended = r->ended_ms;
    int rc = pkie_xfer_catalog_row_json(r, c->f);
    fputc('\n', c->f);
    return rc;
}

static inline void coll_open(struct coll *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

static inline void coll_close(struct coll *c)
{
    fclose(c->f);
    free(c->buf);
}

/* Every row of @p path as JSON lines (a read-only connection: it sees what
 * the writer committed). */
static inline unsigned rows_json(const char *path, char **out)
{
    struct pkie_xfer_catalog *c = NULL;
    struct coll k;
    coll_open(&k);
    unsigned n = 0;
    if (pkie_xfer_catalog_open_ro(path, &c) == 0) {
        struct pkie_xfer_catalog_filter all = {.since_ms = INT64_MIN};
        assert_int_equal(pkie_xfer_catalog_list(c, &all, collect, &k), 0);
        pkie_xfer_catalog_close(c);
        n = k.n;
    }
    fclose(k.f);
    if (out != NULL)
        *out = k.buf;
    else
        free(k.buf);
    return n;
}

#endif
