/* Unit tests: transfer frame codec (include/pkie/transfer.h), positive and negative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "memio.h"

#include <stdio.h>

/* Encode with the library's senders into a buffer. */
static uint8_t *encode(void (*fn)(const struct pkie_xfer_io *), size_t *len)
{
    struct memio m;
    struct pkie_xfer_io io;
    memio_init(&m, &io, NULL, 0, 0);
    fn(&io);
    *len = m.out_len;
    return m.out;
}

/* Read one frame from bytes, delivered @chunk bytes per read. */
static int read_one(const uint8_t *b, size_t n, size_t chunk, uint32_t max_data,
                    struct pkie_xfer_frame *f, uint8_t *copy, size_t copy_cap)
{
    struct memio m;
    struct pkie_xfer_io io;
    struct pkie_xfer_reader r;
    memio_init(&m, &io, b, n, chunk);
    assert_int_equal(pkie_xfer_reader_init(&r, &io, max_data), 0);
    int rc = pkie_xfer_read_frame(&r, f);
    if (rc == 0 && f->len <= copy_cap) {
        if (f->len)
            memcpy(copy, f->payload, f->len);
        f->payload = copy;
    }
    pkie_xfer_reader_free(&r);
    return rc;
}

static void enc_hello(const struct pkie_xfer_io *io)
{
    struct pkie_xfer_hello h = {1, 3, 0};
    assert_int_equal(pkie_xfer_send_hello(io, &h), 0);
}

static void enc_file(const struct pkie_xfer_io *io)
{
    struct pkie_xfer_file f = {.size = 123456789012ull, .mode = 0640, .name_len = 9};
    memset(f.tid, 0xab, sizeof(f.tid));
    strcpy(f.name, "hello.txt");
    assert_int_equal(pkie_xfer_send_file(io, &f), 0);
}

static void enc_error(const struct pkie_xfer_io *io)
{
    assert_int_equal(pkie_xfer_send_error(io, PKIE_ERR_XFER_NAME, "bad\nname \x01"), 0);
}

static void test_roundtrip(void **state)
{
    (void)state;
    uint8_t copy[4096];
    struct pkie_xfer_frame f;
    size_t n;
    uint8_t *b = encode(enc_hello, &n);
    assert_int_equal(n, PKIE_XFER_HDR_LEN + 16);
    for (size_t chunk = 1; chunk <= 3; chunk++) {
        assert_int_equal(read_one(b, n, chunk, 0, &f, copy, sizeof(copy)), 0);
        struct pkie_xfer_hello h;
        assert_int_equal(pkie_xfer_parse_hello(&f, &h), 0);
        assert_int_equal(h.min_version, 1);
        assert_int_equal(h.max_version, 3);
    }
    free(b);

    b = encode(enc_file, &n);
    assert_int_equal(read_one(b, n, 0, 0, &f, copy, sizeof(copy)), 0);
    struct pkie_xfer_file ff;
    assert_int_equal(pkie_xfer_parse_file(&f, &ff), 0);
    assert_int_equal(ff.size, 123456789012ull);
    assert_int_equal(ff.mode, 0640);
    assert_string_equal(ff.name, "hello.txt");
    assert_int_equal(ff.tid[15], 0xab);
    /* a FILE is not a HELLO */
    struct pkie_xfer_hello h;
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), PKIE_ERR_XFER_UNEXPECTED);
    free(b);

    b = encode(enc_error, &n);
    assert_int_equal(read_one(b, n, 0, 0, &f, copy, sizeof(copy)), 0);
    struct pkie_xfer_error e;
    assert_int_equal(pkie_xfer_parse_error(&f, &e), 0);
    assert_int_equal(e.code, PKIE_ERR_XFER_NAME);
    assert_string_equal(e.text, "bad?name ?"); /* control characters replaced */
    free(b);
}

static void test_resume_done_end(void **state)
{
    (void)state;
    struct memio m;
    struct pkie_xfer_io io;
    memio_init(&m, &io, NULL, 0, 0);
    struct pkie_xfer_resume r = {.offset = 77};
    memset(r.tid, 1, 16);
    struct pkie_xfer_done d = {.size = 5};
    memset(d.tid, 2, 16);
    memset(d.sha256, 3, 32);
    uint8_t sha[32];
    memset(sha, 4, 32);
    assert_int_equal(pkie_xfer_send_resume(&io, &r), 0);
    assert_int_equal(pkie_xfer_send_done(&io, &d), 0);
    assert_int_equal(pkie_xfer_send_end(&io, sha), 0);
    assert_int_equal(pkie_xfer_send_frame(&io, PKIE_XFER_BYE, NULL, 0), 0);

    struct memio m2;
    struct pkie_xfer_io io2;
    struct pkie_xfer_reader rd;
    memio_init(&m2, &io2, m.out, m.out_len, 7);
    assert_int_equal(pkie_xfer_reader_init(&rd, &io2, PKIE_XFER_MAX_DATA), 0);
    struct pkie_xfer_frame f;
    struct pkie_xfer_resume r2;
    struct pkie_xfer_done d2;
    uint8_t sha2[32];
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(pkie_xfer_parse_resume(&f, &r2), 0);
    assert_int_equal(r2.offset, 77);
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(pkie_xfer_parse_done(&f, &d2), 0);
    assert_memory_equal(&d, &d2, sizeof(d));
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(pkie_xfer_parse_end(&f, sha2), 0);
    assert_memory_equal(sha, sha2, 32);
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_BYE);
    assert_int_equal(f.len, 0);
    /* clean end of stream between frames */
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), PKIE_ERR_XFER_CLOSED);
    pkie_xfer_reader_free(&rd);
    memio_free(&m);
}

static void test_data_frames(void **state)
{
    (void)state;
    size_t n = PKIE_XFER_HDR_LEN + PKIE_XFER_MAX_DATA;
    uint8_t *b = malloc(n + PKIE_XFER_HDR_LEN + 1);
    assert_non_null(b);
    pkie_xfer_put_header(b, PKIE_XFER_DATA, PKIE_XFER_MAX_DATA);
    memset(b + PKIE_XFER_HDR_LEN, 'x', PKIE_XFER_MAX_DATA);
    pkie_xfer_put_header(b + n, PKIE_XFER_DATA, 1);
    b[n + PKIE_XFER_HDR_LEN] = 'y';
    struct memio m;
    struct pkie_xfer_io io;
    struct pkie_xfer_reader r;
    memio_init(&m, &io, b, n + PKIE_XFER_HDR_LEN + 1, 65536);
    assert_int_equal(pkie_xfer_reader_init(&r, &io, PKIE_XFER_MAX_DATA), 0);
    struct pkie_xfer_frame f;
    assert_int_equal(pkie_xfer_read_frame(&r, &f), 0);
    assert_int_equal(f.len, PKIE_XFER_MAX_DATA);
    assert_int_equal(f.payload[PKIE_XFER_MAX_DATA - 1], 'x');
    assert_int_equal(pkie_xfer_read_frame(&r, &f), 0);
    assert_int_equal(f.len, 1);
    assert_int_equal(f.payload[0], 'y');
    pkie_xfer_reader_free(&r);

    /* a sender's reader refuses DATA */
    struct pkie_xfer_frame g;
    uint8_t copy[8];
    assert_int_equal(read_one(b + n, PKIE_XFER_HDR_LEN + 1, 0, 0, &g, copy, sizeof(copy)),
                     PKIE_ERR_XFER_UNEXPECTED);
    free(b);
}

static void test_header_negative(void **state)
{
    (void)state;
    uint8_t copy[16];
    struct pkie_xfer_frame f;
    uint8_t b[8];
    /* unknown type */
    pkie_xfer_put_header(b, 0, 0);
    assert_int_equal(read_one(b, 5, 0, PKIE_XFER_MAX_DATA, &f, copy, sizeof(copy)),
                     PKIE_ERR_XFER_FRAME_TYPE);
    pkie_xfer_put_header(b, 99, 0);
    assert_int_equal(read_one(b, 5, 0, PKIE_XFER_MAX_DATA, &f, copy, sizeof(copy)),
                     PKIE_ERR_XFER_FRAME_TYPE);
    /* DATA over the bound: refused from the header, before buffering */
    pkie_xfer_put_header(b, PKIE_XFER_DATA, PKIE_XFER_MAX_DATA + 1);
    assert_int_equal(read_one(b, 5, 0, PKIE_XFER_MAX_DATA, &f, copy, sizeof(copy)),
                     PKIE_ERR_XFER_FRAME_LENGTH);
    assert_int_equal(pkie_err_last()->offset, 0);
    pkie_xfer_put_header(b, PKIE_XFER_DATA, 0xffffffffu);
    assert_int_equal(read_one(b, 5, 0, PKIE_XFER_MAX_DATA, &f, copy, sizeof(copy)),
                     PKIE_ERR_XFER_FRAME_LENGTH);
    /* empty DATA */
    pkie_xfer_put_header(b, PKIE_XFER_DATA, 0);
    assert_int_equal(read_one(b, 5, 0, PKIE_XFER_MAX_DATA, &f, copy, sizeof(copy)),
                     PKIE_ERR_XFER_FRAME_LENGTH);
    /* fixed-size frames with the wrong size */
    pkie_xfer_put_header(b, PKIE_XFER_HELLO, 15);
    assert_int_equal(read_one(b, 5, 0, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_FRAME_LENGTH);
    pkie_xfer_put_header(b, PKIE_XFER_BYE, 1);
    assert_int_equal(read_one(b, 5, 0, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_FRAME_LENGTH);
    pkie_xfer_put_header(b, PKIE_XFER_FILE, 30);
    assert_int_equal(read_one(b, 5, 0, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_FRAME_LENGTH);
    pkie_xfer_put_header(b, PKIE_XFER_FILE, 30 + 256);
    assert_int_equal(read_one(b, 5, 0, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_FRAME_LENGTH);
    pkie_xfer_put_header(b, PKIE_XFER_ERROR, 6 + 1025);
    assert_int_equal(read_one(b, 5, 0, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_FRAME_LENGTH);
    /* truncated header and truncated payload */
    pkie_xfer_put_header(b, PKIE_XFER_END, 32);
    assert_int_equal(read_one(b, 3, 1, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_TRUNCATED);
    assert_int_equal(read_one(b, 5, 1, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_TRUNCATED);
    /* nothing at all: clean close */
    assert_int_equal(read_one(b, 0, 0, 0, &f, copy, sizeof(copy)), PKIE_ERR_XFER_CLOSED);
}

static struct pkie_xfer_frame mk(uint8_t type, const uint8_t *p, uint32_t len)
{
    struct pkie_xfer_frame f = {.type = type, .len = len, .payload = p};
    return f;
}

static void test_payload_negative(void **state)
{
    (void)state;
    uint8_t p[64];
    struct pkie_xfer_frame f;
    struct pkie_xfer_hello h;
    memcpy(p, PKIE_XFER_MAGIC, 8);
    memset(p + 8, 0, 8);
    p[9] = 1;
    p[11] = 1;
    f = mk(PKIE_XFER_HELLO, p, 16);
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), 0);
    p[0] = 'X'; /* bad magic */
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), PKIE_ERR_XFER_MALFORMED);
    p[0] = 'P';
    p[9] = 0; /* min version 0 */
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), PKIE_ERR_XFER_MALFORMED);
    p[9] = 2; /* min > max */
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), PKIE_ERR_XFER_MALFORMED);
    p[9] = 1;
    p[15] = 1; /* unknown flag */
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), PKIE_ERR_XFER_MALFORMED);
    p[15] = 0;
    f = mk(PKIE_XFER_HELLO, p, 15); /* wrong length handed to the decoder */
    assert_int_equal(pkie_xfer_parse_hello(&f, &h), PKIE_ERR_XFER_MALFORMED);

    /* version negotiation */
    struct pkie_xfer_hello ours = {1, 1, 0}, theirs = {2, 5, 0};
    uint16_t v = 0;
    assert_int_equal(pkie_xfer_version_pick(&ours, &theirs, &v), PKIE_ERR_XFER_VERSION);
    theirs.min_version = 1;
    assert_int_equal(pkie_xfer_version_pick(&ours, &theirs, &v), 0);
    assert_int_equal(v, 1);

    /* FILE: name length not matching the frame, mode and size out of range */
    struct pkie_xfer_file ff;
    memset(p, 0, sizeof(p));
    p[29] = 4;
    memcpy(p + 30, "abcd", 4);
    f = mk(PKIE_XFER_FILE, p, 34);
    assert_int_equal(pkie_xfer_parse_file(&f, &ff), 0);
    assert_int_equal(ff.name_len, 4);
    p[29] = 5;
    assert_int_equal(pkie_xfer_parse_file(&f, &ff), PKIE_ERR_XFER_MALFORMED);
    p[29] = 0;
    assert_int_equal(pkie_xfer_parse_file(&f, &ff), PKIE_ERR_XFER_MALFORMED);
    p[29] = 4;
    p[26] = 0x10; /* mode 0x1000 = 010000 > 07777 */
    assert_int_equal(pkie_xfer_parse_file(&f, &ff), PKIE_ERR_XFER_MALFORMED);
    p[26] = 0;
    p[16] = 0x80; /* size >= 2^63 */
    assert_int_equal(pkie_xfer_parse_file(&f, &ff), PKIE_ERR_XFER_MALFORMED);
    p[16] = 0;

    /* RESUME with an offset >= 2^63 */
    struct pkie_xfer_resume r;
    memset(p, 0, 24);
    p[16] = 0xff;
    f = mk(PKIE_XFER_RESUME, p, 24);
    assert_int_equal(pkie_xfer_parse_resume(&f, &r), PKIE_ERR_XFER_MALFORMED);

    /* ERROR: positive code, text length mismatch, non-printable text */
    struct pkie_xfer_error e;
    memset(p, 0, 8);
    p[3] = 1; /* code +1 */
    p[5] = 2;
    memcpy(p + 6, "ok", 2);
    f = mk(PKIE_XFER_ERROR, p, 8);
    assert_int_equal(pkie_xfer_parse_error(&f, &e), PKIE_ERR_XFER_MALFORMED);
    memset(p, 0xff, 4); /* code -1 */
    assert_int_equal(pkie_xfer_parse_error(&f, &e), 0);
    assert_int_equal(e.code, -1);
    assert_string_equal(e.text, "ok");
    p[5] = 3;
    assert_int_equal(pkie_xfer_parse_error(&f, &e), PKIE_ERR_XFER_MALFORMED);
    p[5] = 2;
    p[7] = 0x1b;
    assert_int_equal(pkie_xfer_parse_error(&f, &e), PKIE_ERR_XFER_MALFORMED);
}

static void test_encode_negative(void **state)
{
    (void)state;
    struct memio m;
    struct pkie_xfer_io io;
    memio_init(&m, &io, NULL, 0, 0);
    struct pkie_xfer_file f = {.name_len = 0};
    assert_int_equal(pkie_xfer_send_file(&io, &f), PKIE_ERR_XFER_NAME);
    f.name_len = 256;
    assert_int_equal(pkie_xfer_send_file(&io, &f), PKIE_ERR_XFER_NAME);
    assert_int_equal(m.out_len, 0);
    m.write_limit = 3;
    struct pkie_xfer_hello h = {1, 1, 0};
    assert_int_equal(pkie_xfer_send_hello(&io, &h), PKIE_ERR_IO);
    memio_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_resume_done_end),
        cmocka_unit_test(test_data_frames),      cmocka_unit_test(test_header_negative),
        cmocka_unit_test(test_payload_negative), cmocka_unit_test(test_encode_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
