/* libFuzzer target: the transfer protocol's frame reader and every payload
 * decoder, plus the name check on decoded FILE names. The input is a byte
 * stream as a receiver would read it, delivered in chunks whose sizes come
 * from the first input byte (to exercise the reader's buffering). */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct src {
    const uint8_t *p;
    size_t n, pos, chunk;
};

static ssize_t src_read(void *ctx, void *buf, size_t len)
{
    struct src *s = ctx;
    size_t k = s->n - s->pos;
    if (k > len)
        k = len;
    if (k > s->chunk)
        k = s->chunk;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (ssize_t)k;
}

static ssize_t sink_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (ssize_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct src s = {data + 1, size - 1, 0, (size_t)(data[0] % 64) + 1};
    if (data[0] >= 192)
        s.chunk = 1u << 20;
    struct pkie_xfer_io io = {src_read, sink_write, &s};
    struct pkie_xfer_reader r;
    /* a receiver's reader (DATA allowed), and a sender's for odd first bytes */
    if (pkie_xfer_reader_init(&r, &io, (data[0] & 1) ? 0 : PKIE_XFER_MAX_DATA) != 0)
        return 0;
    for (int i = 0; i < 64; i++) {
        struct pkie_xfer_frame f;
        if (pkie_xfer_read_frame(&r, &f) != 0)
            break;
        struct pkie_xfer_hello h;
        struct pkie_xfer_file file;
        struct pkie_xfer_resume res;
        struct pkie_xfer_done done;
        struct pkie_xfer_error err;
        uint8_t sha[32];
        switch (f.type) {
        case PKIE_XFER_HELLO:
            if (pkie_xfer_parse_hello(&f, &h) == 0) {
                struct pkie_xfer_hello ours = {1, PKIE_XFER_VERSION, 0};
                uint16_t v;
                (void)pkie_xfer_version_pick(&ours, &h, &v);
            }
            break;
        case PKIE_XFER_FILE:
            if (pkie_xfer_parse_file(&f, &file) == 0 &&
                pkie_xfer_name_check(file.name, file.name_len) == 0) {
                char part[300];
                (void)pkie_xfer_partial_name(file.name, file.tid, "part", part, sizeof(part));
                if (strlen(part) > 255 || memchr(file.name, '/', file.name_len) != NULL)
                    abort();
            }
            break;
        case PKIE_XFER_RESUME:
            (void)pkie_xfer_parse_resume(&f, &res);
            break;
        case PKIE_XFER_END:
            (void)pkie_xfer_parse_end(&f, sha);
            break;
        case PKIE_XFER_DONE:
            (void)pkie_xfer_parse_done(&f, &done);
            break;
        case PKIE_XFER_ERROR:
            if (pkie_xfer_parse_error(&f, &err) == 0)
                (void)pkie_xfer_send_error(&io, err.code, err.text);
            break;
        case PKIE_XFER_DATA:
            if (f.len == 0 || f.len > PKIE_XFER_MAX_DATA)
                abort();
            break;
        default:
            break;
        }
    }
    pkie_xfer_reader_free(&r);
    return 0;
}
