/* libFuzzer target for the DER codec (src/der).
 *
 * Properties checked (abort() on violation):
 *  - pkie_der_validate never reads out of bounds and reports an offset
 *    inside the input;
 *  - what pkie_der_validate accepts, the generic typed walk reads and the
 *    writer re-encodes byte-identically;
 *  - a failed typed read leaves the view where it was;
 *  - OID contents -> dotted text -> contents is the identity, and so is
 *    text -> contents -> text for the input taken as text;
 *  - a time the reader accepts is written back identically by the writer;
 *  - the input read as a program of writer calls: whatever the writer
 *    produces without error is strict DER that re-encodes identically. */
#include "../../unit/der/der_walk.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_err_offset(int rc, size_t size)
{
    if (rc >= 0)
        return;
    const struct pkie_error *e = pkie_err_last();
    check(e->code == rc);
    check(e->offset == PKIE_NO_OFFSET || e->offset <= size);
}

/* Typed reads on the input: each either succeeds or leaves the view alone. */
static void typed_reads(const uint8_t *data, size_t size)
{
    struct pkie_der d, inner;
    pkie_der_init(&d, data, size);
    const uint8_t *p;
    size_t n;
    int64_t v;
    int b;
    unsigned u;
    uint32_t bits, type;
    const char *s;
    struct pkie_der_time t;
    for (int step = 0; step < 64 && !pkie_der_at_end(&d); step++) {
        const uint8_t *before = d.p;
        int rc;
        switch (step % 14) {
        case 0:
            rc = pkie_der_read_int64(&d, PKIE_DER_INTEGER, &v);
            break;
        case 1:
            rc = pkie_der_read_uint_bytes(&d, PKIE_DER_INTEGER, &p, &n);
            break;
        case 2:
            rc = pkie_der_read_bool_default(&d, PKIE_DER_BOOLEAN, 0, &b);
            break;
        case 3:
            rc = pkie_der_read_named_bits(&d, PKIE_DER_BIT_STRING, &bits);
            break;
        case 4:
            rc = pkie_der_read_bit_string(&d, PKIE_DER_BIT_STRING, &p, &n, &u);
            break;
        case 5:
            rc = pkie_der_read_oid(&d, PKIE_DER_OID, &p, &n);
            break;
        case 6:
            rc = pkie_der_read_string(&d, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, &s, &n);
            break;
        case 7:
            rc = pkie_der_read_any_time(&d, &t, &type);
            break;
        case 8:
            rc = pkie_der_enter_set_of(&d, PKIE_DER_SET, &inner);
            break;
        case 9:
            rc = pkie_der_read_raw(&d, PKIE_DER_SEQUENCE, &p, &n);
            break;
        case 10:
            rc = pkie_der_read_int64_default(&d, PKIE_DER_CTX(0), 7, &v);
            break;
        case 11:
            rc = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &inner);
            if (rc == 0)
                d = inner;
            break;
        case 12:
            rc = pkie_der_read_string(&d, PKIE_DER_PRINTABLE_STRING, PKIE_DER_PRINTABLE_STRING, &s,
                                      &n);
            break;
        default:
            rc = pkie_der_skip(&d);
            break;
        }
        check_err_offset(rc, size);
        if (rc != 0) {
            check(d.p == before);
            if (pkie_der_skip(&d) != 0)
                return;
        }
    }
}

static void oid_round_trip(const uint8_t *data, size_t size)
{
    char text[PKIE_DER_OID_TEXT_MAX];
    uint8_t enc[PKIE_DER_OID_MAX_LEN];
    size_t n;
    if (pkie_der_oid_to_text(data, size, text, sizeof(text)) == 0) {
        size_t arcs = 1;
        for (const char *c = text; *c; c++)
            arcs += *c == '.';
        if (arcs <= PKIE_DER_OID_MAX_ARCS) {
            check(pkie_der_oid_from_text(text, enc, sizeof(enc), &n) == 0);
            check(pkie_der_oid_equal(enc, n, data, size));
        }
    }
    /* The input as text. */
    size_t tl = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, tl);
    text[tl] = '\0';
    if (pkie_der_oid_from_text(text, enc, sizeof(enc), &n) == 0) {
        char back[PKIE_DER_OID_TEXT_MAX];
        check(pkie_der_oid_to_text(enc, n, back, sizeof(back)) == 0);
        check(strcmp(back, text) == 0);
    }
}

static void time_round_trip(const uint8_t *data, size_t size)
{
    if (size > 100)
        return;
    static const uint32_t types[2] = {PKIE_DER_UTC_TIME, PKIE_DER_GENERALIZED_TIME};
    for (int i = 0; i < 2; i++) {
        uint8_t el[102];
        el[0] = (uint8_t)types[i];
        el[1] = (uint8_t)size;
        memcpy(el + 2, data, size);
        struct pkie_der d;
        pkie_der_init(&d, el, size + 2);
        struct pkie_der_time t;
        int rc = pkie_der_read_time(&d, types[i], types[i], &t);
        check_err_offset(rc, size + 2);
        if (rc != 0)
            continue;
        check(t.nanos < 1000000000u);
        struct pkie_derw w;
        pkie_derw_init(&w, 64);
        const uint8_t *out;
        size_t olen;
        check(pkie_derw_time(&w, types[i], types[i], &t) == 0);
        check(pkie_derw_finish(&w, &out, &olen) == 0);
        check(olen == size + 2 && memcmp(out, el, olen) == 0);
        pkie_derw_free(&w);
    }
}

/* Next byte of the program, 0 past the end. */
static uint8_t next(const uint8_t **p, const uint8_t *end)
{
    return *p < end ? *(*p)++ : 0;
}

static void writer_program(const uint8_t *data, size_t size)
{
    static const uint32_t str_types[3] = {PKIE_DER_UTF8_STRING, PKIE_DER_PRINTABLE_STRING,
                                          PKIE_DER_IA5_STRING};
    const uint8_t *p = data, *end = data + size;
    struct pkie_derw w;
    pkie_derw_init(&w, 8192);
    /* everything inside one SEQUENCE so the output is one element */
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    while (p < end) {
        uint8_t op = next(&p, end);
        uint8_t arg = next(&p, end);
        size_t n = (size_t)(arg & 0x1F);
        if (n > (size_t)(end - p))
            n = (size_t)(end - p);
        const uint8_t *blob = p;
        uint32_t ctx = arg >> 5;
        switch (op % 20) {
        case 0:
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            continue;
        case 1:
            pkie_derw_begin_set_of(&w, arg & 1 ? PKIE_DER_SET : PKIE_DER_CTX_C(ctx));
            continue;
        case 2:
            pkie_derw_begin(&w, PKIE_DER_TAG(arg >> 6, 1, arg & 0x3F));
            continue;
        case 3:
            if (w.depth > 1)
                pkie_derw_end(&w);
            continue;
        case 4: {
            int64_t v = 0;
            for (size_t i = 0; i < 8; i++)
                v = (int64_t)((uint64_t)v << 8 | next(&p, end));
            pkie_derw_int64(&w, arg & 1 ? PKIE_DER_INTEGER : PKIE_DER_CTX(ctx), v);
            continue;
        }
        case 5:
            pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, blob, n);
            break;
        case 6:
            pkie_derw_integer(&w, PKIE_DER_ENUMERATED, blob, n);
            break;
        case 7:
            pkie_derw_bool(&w, PKIE_DER_BOOLEAN, arg & 1);
            continue;
        case 8:
            pkie_derw_null(&w, arg & 1 ? PKIE_DER_NULL : PKIE_DER_CTX(ctx));
            continue;
        case 9:
            pkie_derw_oid(&w, PKIE_DER_OID, blob, n);
            break;
        case 10: {
            char text[40];
            memcpy(text, blob, n);
            text[n] = '\0';
            pkie_derw_oid_text(&w, PKIE_DER_OID, text);
            break;
        }
        case 11:
            pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, blob, n);
            break;
        case 12:
            pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, blob, n, ctx);
            break;
        case 13: {
            uint32_t bits = 0;
            for (size_t i = 0; i < 4; i++)
                bits = bits << 8 | next(&p, end);
            pkie_derw_named_bits(&w, PKIE_DER_BIT_STRING, bits);
            continue;
        }
        case 14:
            pkie_derw_string(&w, str_types[ctx % 3], str_types[ctx % 3], (const char *)blob, n);
            break;
        case 15: {
            struct pkie_der_time t = {0, 0};
            uint64_t u = 0;
            for (size_t i = 0; i < 5; i++)
                u = u << 8 | next(&p, end);
            t.secs = (int64_t)u - ((int64_t)1 << 39);
            if (arg & 1)
                t.nanos = (uint32_t)next(&p, end) * 1000000u;
            if (arg & 2)
                pkie_derw_x509_time(&w, &t);
            else
                pkie_derw_time(&w, PKIE_DER_GENERALIZED_TIME, PKIE_DER_GENERALIZED_TIME, &t);
            continue;
        }
        case 16:
            if (pkie_der_validate(blob, n) == 0)
                pkie_derw_raw(&w, blob, n);
            break;
        default:
            pkie_derw_tlv(&w, PKIE_DER_CTX(ctx), blob, n);
            break;
        }
        p += n;
        if (w.err != 0)
            break;
    }
    while (w.err == 0 && w.depth > 0)
        pkie_derw_end(&w);
    const uint8_t *out;
    size_t olen;
    if (pkie_derw_finish(&w, &out, &olen) == 0) {
        check(pkie_der_validate(out, olen) == 0);
        check(der_walk_roundtrip(out, olen) == 0);
    }
    pkie_derw_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = pkie_der_validate(data, size);
    check_err_offset(rc, size);
    if (rc == 0) {
        check(der_walk_roundtrip(data, size) == 0);
        /* A validated element is also a valid opaque element for the writer. */
        struct pkie_derw w;
        pkie_derw_init(&w, size);
        check(pkie_derw_raw(&w, data, size) == 0);
        pkie_derw_free(&w);
    } else {
        (void)der_walk_roundtrip(data, size);
    }
    typed_reads(data, size);
    oid_round_trip(data, size);
    time_round_trip(data, size);
    writer_program(data, size);
    pkie_err_clear();
    return 0;
}
