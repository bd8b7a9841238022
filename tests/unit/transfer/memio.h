/* In-memory byte streams for the transfer unit tests and the fuzz target. */
#ifndef PKIE_TEST_MEMIO_H
#define PKIE_TEST_MEMIO_H

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <stdlib.h>
#include <string.h>

struct memio {
    const uint8_t *in; /* bytes to read */
    size_t in_len, in_pos;
    size_t chunk; /* max bytes per read (0: all) */
    uint8_t *out; /* bytes written */
    size_t out_len, out_cap;
    size_t write_limit; /* fail writes past this many bytes (0: none) */
};

static inline ssize_t memio_read(void *ctx, void *buf, size_t len)
{
    struct memio *m = ctx;
    size_t n = m->in_len - m->in_pos;
    if (n > len)
        n = len;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->in + m->in_pos, n);
    m->in_pos += n;
    return (ssize_t)n;
}

static inline ssize_t memio_write(void *ctx, const void *buf, size_t len)
{
    struct memio *m = ctx;
    if (m->write_limit && m->out_len + len > m->write_limit)
        return PKIE_ERR(PKIE_ERR_IO, "write limit");
    if (m->out_len + len > m->out_cap) {
        size_t ncap = m->out_cap ? m->out_cap : 256;
        while (ncap < m->out_len + len)
            ncap *= 2;
        uint8_t *n = realloc(m->out, ncap);
        if (n == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "memio");
        m->out = n;
        m->out_cap = ncap;
    }
    memcpy(m->out + m->out_len, buf, len);
    m->out_len += len;
    return (ssize_t)len;
}

static inline void memio_init(struct memio *m, struct pkie_xfer_io *io, const void *in,
                              size_t in_len, size_t chunk)
{
    memset(m, 0, sizeof(*m));
    m->in = in;
    m->in_len = in_len;
    m->chunk = chunk;
    io->read = memio_read;
    io->write = memio_write;
    io->ctx = m;
}

static inline void memio_free(struct memio *m)
{
    free(m->out);
    m->out = NULL;
}

#endif
