/* Frame codec of the transfer protocol (docs/protocol.md, include/pkie/transfer.h). */
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READER_INITIAL_CAP (16u * 1024u)

/* Payload sizes of the fixed-size frames. */
#define HELLO_LEN  16u /* magic 8, min 2, max 2, flags 4 */
#define FILE_FIXED 30u /* tid 16, size 8, mode 4, name_len 2 */
#define RESUME_LEN 24u /* tid 16, offset 8 */
#define END_LEN    32u
#define DONE_LEN   56u /* tid 16, size 8, sha256 32 */
#define ERROR_MIN  6u  /* code 4, text_len 2 */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

int pkie_xfer_write_all(const struct pkie_xfer_io *io, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = io->write(io->ctx, p, len);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return PKIE_ERR(PKIE_ERR_XFER_CLOSED, "stream accepted no bytes");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int pkie_xfer_check_header(uint8_t type, uint32_t len, uint32_t max_data)
{
    uint32_t lo = 0, hi = 0;
    switch (type) {
    case PKIE_XFER_HELLO:
        lo = hi = HELLO_LEN;
        break;
    case PKIE_XFER_FILE:
        lo = FILE_FIXED + 1;
        hi = FILE_FIXED + PKIE_XFER_NAME_MAX;
        break;
    case PKIE_XFER_RESUME:
        lo = hi = RESUME_LEN;
        break;
    case PKIE_XFER_DATA:
        if (max_data == 0)
            return PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED, "DATA frame not accepted here");
        lo = 1;
        hi = max_data;
        break;
    case PKIE_XFER_END:
        lo = hi = END_LEN;
        break;
    case PKIE_XFER_DONE:
        lo = hi = DONE_LEN;
        break;
    case PKIE_XFER_ERROR:
        lo = ERROR_MIN;
        hi = ERROR_MIN + PKIE_XFER_ERRTEXT_MAX;
        break;
    case PKIE_XFER_BYE:
        lo = hi = 0;
        break;
    default:
        return PKIE_ERR(PKIE_ERR_XFER_FRAME_TYPE, "unknown frame type %u", type);
    }
    if (len < lo || len > hi)
        return PKIE_ERR(PKIE_ERR_XFER_FRAME_LENGTH, "frame type %u: length %u not in %u..%u", type,
                        len, lo, hi);
    return 0;
}

void pkie_xfer_put_header(uint8_t hdr[PKIE_XFER_HDR_LEN], uint8_t type, uint32_t len)
{
    hdr[0] = type;
    put32(hdr + 1, len);
}

int pkie_xfer_reader_init(struct pkie_xfer_reader *r, const struct pkie_xfer_io *io,
                          uint32_t max_data)
{
    memset(r, 0, sizeof(*r));
    if (io == NULL || max_data > PKIE_XFER_MAX_DATA)
        return PKIE_ERR(PKIE_ERR_ARG, "bad reader arguments");
    r->io = io;
    r->max_data = max_data;
    uint32_t biggest = max_data > PKIE_XFER_MAX_CTRL ? max_data : PKIE_XFER_MAX_CTRL;
    r->max_cap = PKIE_XFER_HDR_LEN + (size_t)biggest;
    return 0;
}

void pkie_xfer_reader_free(struct pkie_xfer_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->pos = r->len = 0;
}

void pkie_xfer_reader_shrink(struct pkie_xfer_reader *r)
{
    if (r->pos == r->len && r->cap > READER_INITIAL_CAP) {
        free(r->buf);
        r->buf = NULL;
        r->cap = r->pos = r->len = 0;
    }
}

/* Make room for @need contiguous bytes from pos. */
static int reader_room(struct pkie_xfer_reader *r, size_t need)
{
    if (need > r->max_cap)
        return PKIE_ERR(PKIE_ERR_INTERNAL, "reader need %zu over %zu", need, r->max_cap);
    if (r->cap >= need) {
        if (r->cap - r->pos < need) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        return 0;
    }
    size_t ncap = r->cap ? r->cap : READER_INITIAL_CAP;
    while (ncap < need)
        ncap *= 2;
    if (ncap > r->max_cap)
        ncap = r->max_cap;
    uint8_t *nb = malloc(ncap);
    if (nb == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "frame buffer of %zu bytes", ncap);
    if (r->len > r->pos)
        memcpy(nb, r->buf + r->pos, r->len - r->pos);
    free(r->buf);
    r->buf = nb;
    r->len -= r->pos;
    r->pos = 0;
    r->cap = ncap;
    return 0;
}

/* Buffer at least @need bytes from pos. @at_boundary: an end of stream with
 * nothing buffered is a clean close. */
static int reader_fill(struct pkie_xfer_reader *r, size_t need, int at_boundary)
{
    int rc = reader_room(r, need);
    if (rc != 0)
        return rc;
    while (r->len - r->pos < need) {
        ssize_t n = r->io->read(r->io->ctx, r->buf + r->len, r->cap - r->len);
        if (n < 0)
            return (int)n;
        if (n == 0) {
            if (at_boundary && r->len == r->pos)
                return PKIE_ERR(PKIE_ERR_XFER_CLOSED, "end of stream");
            return PKIE_ERR_AT(PKIE_ERR_XFER_TRUNCATED, (size_t)r->offset,
                               "end of stream inside a frame (%zu of %zu bytes)", r->len - r->pos,
                               need);
        }
        r->len += (size_t)n;
    }
    return 0;
}

static const char *const frame_names[] = {"?",   "HELLO", "FILE",  "RESUME", "DATA",
                                          "END", "DONE",  "ERROR", "BYE"};

/* --log-level trace: every frame, its direction, type, length and offset. */
void pkie_xfer_trace_frame(const char *dir, uint8_t type, uint32_t len, uint64_t offset)
{
    if (pkie_log_enabled(PKIE_LOG_TRACE))
        pkie_log(PKIE_LOG_TRACE, "frame", "%s %s (%u) len %u at stream offset %llu", dir,
                 type < sizeof(frame_names) / sizeof(frame_names[0]) ? frame_names[type] : "?",
                 type, len, (unsigned long long)offset);
}

int pkie_xfer_read_frame(struct pkie_xfer_reader *r, struct pkie_xfer_frame *f)
{
    memset(f, 0, sizeof(*f));
    int rc = reader_fill(r, PKIE_XFER_HDR_LEN, 1);
    if (rc != 0)
        return rc;
    const uint8_t *h = r->buf + r->pos;
    uint8_t type = h[0];
    uint32_t len = get32(h + 1);
    rc = pkie_xfer_check_header(type, len, r->max_data);
    if (rc != 0) {
        char msg[sizeof(pkie_err_last()->msg)];
        snprintf(msg, sizeof(msg), "%s", pkie_err_last()->msg);
        return PKIE_ERR_AT(rc, (size_t)r->offset, "%s", msg);
    }
    rc = reader_fill(r, PKIE_XFER_HDR_LEN + (size_t)len, 0);
    if (rc != 0)
        return rc;
    f->type = type;
    f->len = len;
    pkie_xfer_trace_frame("in", type, len, r->offset);
    f->payload = len ? r->buf + r->pos + PKIE_XFER_HDR_LEN : NULL;
    r->pos += PKIE_XFER_HDR_LEN + (size_t)len;
    r->offset += PKIE_XFER_HDR_LEN + (uint64_t)len;
    if (r->pos == r->len)
        r->pos = r->len = 0; /* payload stays valid: nothing overwrites it before the next read */
    return 0;
}

int pkie_xfer_send_frame(const struct pkie_xfer_io *io, uint8_t type, const void *payload,
                         uint32_t len)
{
    uint8_t small[PKIE_XFER_HDR_LEN + 512];
    pkie_xfer_trace_frame("out", type, len, 0);
    if (len <= sizeof(small) - PKIE_XFER_HDR_LEN) {
        pkie_xfer_put_header(small, type, len);
        if (len)
            memcpy(small + PKIE_XFER_HDR_LEN, payload, len);
        return pkie_xfer_write_all(io, small, PKIE_XFER_HDR_LEN + (size_t)len);
    }
    uint8_t hdr[PKIE_XFER_HDR_LEN];
    pkie_xfer_put_header(hdr, type, len);
    int rc = pkie_xfer_write_all(io, hdr, sizeof(hdr));
    if (rc == 0)
        rc = pkie_xfer_write_all(io, payload, len);
    return rc;
}

/* ---- decoders ------------------------------------------------------------ */

static int expect(const struct pkie_xfer_frame *f, uint8_t type)
{
    if (f->type != type)
        return PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED, "frame type %u where %u was expected", f->type,
                        type);
    int rc = pkie_xfer_check_header(f->type, f->len, PKIE_XFER_MAX_DATA);
    if (rc != 0) {
        char msg[sizeof(pkie_err_last()->msg)];
        snprintf(msg, sizeof(msg), "%s", pkie_err_last()->msg);
        return PKIE_ERR(PKIE_ERR_XFER_MALFORMED, "%s", msg);
    }
    return 0;
}

int pkie_xfer_parse_hello(const struct pkie_xfer_frame *f, struct pkie_xfer_hello *out)
{
    int rc = expect(f, PKIE_XFER_HELLO);
    if (rc != 0)
        return rc;
    const uint8_t *p = f->payload;
    if (memcmp(p, PKIE_XFER_MAGIC, 8) != 0)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 0, "HELLO: bad magic");
    out->min_version = get16(p + 8);
    out->max_version = get16(p + 10);
    out->flags = get32(p + 12);
    if (out->min_version == 0 || out->min_version > out->max_version)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 8, "HELLO: bad version range %u..%u",
                           out->min_version, out->max_version);
    if (out->flags != 0)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 12, "HELLO: unknown flags 0x%x", out->flags);
    return 0;
}

int pkie_xfer_parse_file(const struct pkie_xfer_frame *f, struct pkie_xfer_file *out)
{
    int rc = expect(f, PKIE_XFER_FILE);
    if (rc != 0)
        return rc;
    const uint8_t *p = f->payload;
    memcpy(out->tid, p, PKIE_XFER_TID_LEN);
    out->size = get64(p + 16);
    out->mode = get32(p + 24);
    uint16_t nlen = get16(p + 28);
    if (out->mode > 07777)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 24, "FILE: mode 0%o out of range", out->mode);
    if (out->size > (uint64_t)INT64_MAX)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 16, "FILE: size out of range");
    if (nlen == 0 || (uint32_t)nlen + FILE_FIXED != f->len)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 28, "FILE: name length %u does not fit %u",
                           nlen, f->len);
    memcpy(out->name, p + FILE_FIXED, nlen);
    out->name[nlen] = '\0';
    out->name_len = nlen;
    return 0;
}

int pkie_xfer_parse_resume(const struct pkie_xfer_frame *f, struct pkie_xfer_resume *out)
{
    int rc = expect(f, PKIE_XFER_RESUME);
    if (rc != 0)
        return rc;
    memcpy(out->tid, f->payload, PKIE_XFER_TID_LEN);
    out->offset = get64(f->payload + 16);
    if (out->offset > (uint64_t)INT64_MAX)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 16, "RESUME: offset out of range");
    return 0;
}

int pkie_xfer_parse_end(const struct pkie_xfer_frame *f, uint8_t sha256[32])
{
    int rc = expect(f, PKIE_XFER_END);
    if (rc != 0)
        return rc;
    memcpy(sha256, f->payload, 32);
    return 0;
}

int pkie_xfer_parse_done(const struct pkie_xfer_frame *f, struct pkie_xfer_done *out)
{
    int rc = expect(f, PKIE_XFER_DONE);
    if (rc != 0)
        return rc;
    memcpy(out->tid, f->payload, PKIE_XFER_TID_LEN);
    out->size = get64(f->payload + 16);
    memcpy(out->sha256, f->payload + 24, 32);
    if (out->size > (uint64_t)INT64_MAX)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 16, "DONE: size out of range");
    return 0;
}

int pkie_xfer_parse_error(const struct pkie_xfer_frame *f, struct pkie_xfer_error *out)
{
    int rc = expect(f, PKIE_XFER_ERROR);
    if (rc != 0)
        return rc;
    const uint8_t *p = f->payload;
    out->code = (int32_t)get32(p);
    uint16_t tlen = get16(p + 4);
    if ((uint32_t)tlen + ERROR_MIN != f->len)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 4, "ERROR: text length %u does not fit %u",
                           tlen, f->len);
    if (out->code >= 0 || out->code < -999)
        return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, 0, "ERROR: code %d out of range", out->code);
    for (uint16_t i = 0; i < tlen; i++) {
        uint8_t c = p[ERROR_MIN + i];
        if (c < 0x20 || c > 0x7e)
            return PKIE_ERR_AT(PKIE_ERR_XFER_MALFORMED, ERROR_MIN + i,
                               "ERROR: non-printable byte 0x%02x in text", c);
        out->text[i] = (char)c;
    }
    out->text[tlen] = '\0';
    return 0;
}

/* ---- encoders ------------------------------------------------------------ */

int pkie_xfer_send_hello(const struct pkie_xfer_io *io, const struct pkie_xfer_hello *h)
{
    uint8_t p[HELLO_LEN];
    memcpy(p, PKIE_XFER_MAGIC, 8);
    put16(p + 8, h->min_version);
    put16(p + 10, h->max_version);
    put32(p + 12, h->flags);
    return pkie_xfer_send_frame(io, PKIE_XFER_HELLO, p, sizeof(p));
}

int pkie_xfer_send_file(const struct pkie_xfer_io *io, const struct pkie_xfer_file *f)
{
    uint8_t p[FILE_FIXED + PKIE_XFER_NAME_MAX];
    if (f->name_len == 0 || f->name_len > PKIE_XFER_NAME_MAX)
        return PKIE_ERR(PKIE_ERR_XFER_NAME, "name length %zu", f->name_len);
    memcpy(p, f->tid, PKIE_XFER_TID_LEN);
    put64(p + 16, f->size);
    put32(p + 24, f->mode);
    put16(p + 28, (uint16_t)f->name_len);
    memcpy(p + FILE_FIXED, f->name, f->name_len);
    return pkie_xfer_send_frame(io, PKIE_XFER_FILE, p, (uint32_t)(FILE_FIXED + f->name_len));
}

int pkie_xfer_send_resume(const struct pkie_xfer_io *io, const struct pkie_xfer_resume *r)
{
    uint8_t p[RESUME_LEN];
    memcpy(p, r->tid, PKIE_XFER_TID_LEN);
    put64(p + 16, r->offset);
    return pkie_xfer_send_frame(io, PKIE_XFER_RESUME, p, sizeof(p));
}

int pkie_xfer_send_end(const struct pkie_xfer_io *io, const uint8_t sha256[32])
{
    return pkie_xfer_send_frame(io, PKIE_XFER_END, sha256, END_LEN);
}

int pkie_xfer_send_done(const struct pkie_xfer_io *io, const struct pkie_xfer_done *d)
{
    uint8_t p[DONE_LEN];
    memcpy(p, d->tid, PKIE_XFER_TID_LEN);
    put64(p + 16, d->size);
    memcpy(p + 24, d->sha256, 32);
    return pkie_xfer_send_frame(io, PKIE_XFER_DONE, p, sizeof(p));
}

int pkie_xfer_send_error(const struct pkie_xfer_io *io, int32_t code, const char *text)
{
    uint8_t p[ERROR_MIN + PKIE_XFER_ERRTEXT_MAX];
    if (code >= 0 || code < -999)
        code = PKIE_ERR_INTERNAL;
    size_t n = text ? strlen(text) : 0;
    if (n > PKIE_XFER_ERRTEXT_MAX)
        n = PKIE_XFER_ERRTEXT_MAX;
    put32(p, (uint32_t)code);
    put16(p + 4, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        p[ERROR_MIN + i] = (c < 0x20 || c > 0x7e) ? '?' : c;
    }
    return pkie_xfer_send_frame(io, PKIE_XFER_ERROR, p, (uint32_t)(ERROR_MIN + n));
}

int pkie_xfer_version_pick(const struct pkie_xfer_hello *ours, const struct pkie_xfer_hello *theirs,
                           uint16_t *version)
{
    uint16_t hi = ours->max_version < theirs->max_version ? ours->max_version : theirs->max_version;
    uint16_t lo = ours->min_version > theirs->min_version ? ours->min_version : theirs->min_version;
    if (hi < lo)
        return PKIE_ERR(PKIE_ERR_XFER_VERSION, "ours %u..%u, peer %u..%u", ours->min_version,
                        ours->max_version, theirs->min_version, theirs->max_version);
    *version = hi;
    return 0;
}

int pkie_xfer_error_is_file_level(int code)
{
    return code == PKIE_ERR_XFER_NAME || code == PKIE_ERR_XFER_EXISTS ||
           code == PKIE_ERR_XFER_TOO_BIG || code == PKIE_ERR_XFER_BUSY ||
           code == PKIE_ERR_XFER_RESUME || code == PKIE_ERR_XFER_HASH ||
           code == PKIE_ERR_XFER_RESERVED || code == PKIE_ERR_XFER_CHANGED ||
           code == PKIE_ERR_XFER_DENIED; /* at FILE: a name outside partner.NAME.names */
}
