/* Unit tests: DER reader core (tags, lengths, navigation, validation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "der_test.h"

static void test_lengths(void **state)
{
    (void)state;
    assert_valid("0400");
    /* the longest short form and the shortest long form */
    uint8_t el[3 + 128] = {0x04, 0x7f};
    assert_int_equal(pkie_der_validate(el, 2 + 127), 0);
    el[1] = 0x81;
    el[2] = 0x80;
    assert_int_equal(pkie_der_validate(el, 3 + 128), 0);
    /* short length written in the long form */
    assert_invalid("048105 0102030405", PKIE_ERR_DER_LENGTH_NONMINIMAL, 1);
    assert_invalid("048100", PKIE_ERR_DER_LENGTH_NONMINIMAL, 1);
    assert_invalid("04817f"
                   "00",
                   PKIE_ERR_DER_LENGTH_NONMINIMAL, 1);
    /* long form with a leading zero octet */
    assert_invalid("04820080 00", PKIE_ERR_DER_LENGTH_NONMINIMAL, 1);
    assert_invalid("0483000100 00", PKIE_ERR_DER_LENGTH_NONMINIMAL, 1);
    /* indefinite */
    assert_invalid("3080 0500 0000", PKIE_ERR_DER_INDEFINITE, 1);
    assert_invalid("3003 2480 00", PKIE_ERR_DER_CONSTRUCTED, 2);
    assert_invalid("3004 a0800000", PKIE_ERR_DER_INDEFINITE, 3);
    /* length of length above 4, and the reserved 0xFF */
    assert_invalid("0485 0100000000", PKIE_ERR_DER_LENGTH_OVERFLOW, 1);
    assert_invalid("04ff", PKIE_ERR_DER_LENGTH_OVERFLOW, 1);
    /* a 4-octet length bigger than the input */
    assert_invalid("0484 7fffffff 00", PKIE_ERR_DER_TRUNCATED, 0);
    assert_invalid("0484 ffffffff 00", PKIE_ERR_DER_TRUNCATED, 0);
    /* length octets missing */
    assert_invalid("04", PKIE_ERR_DER_TRUNCATED, 1);
    assert_invalid("0482 01", PKIE_ERR_DER_TRUNCATED, 2);
    /* content missing */
    assert_invalid("0403 0102", PKIE_ERR_DER_TRUNCATED, 0);
    assert_invalid("3006 0403 010203", PKIE_ERR_DER_TRUNCATED, 0);
    /* inner element longer than its parent */
    assert_invalid("3003 0403 01", PKIE_ERR_DER_TRUNCATED, 2);
}

static void test_tags(void **state)
{
    (void)state;
    /* high-tag form for numbers >= 31 */
    assert_valid("9f1f00");
    assert_valid("9f8148 00");
    assert_valid("bf81ffffff7f 00");
    struct pkie_der d;
    static const uint8_t hi[] = {0x5f, 0x87, 0x68, 0x01, 0xAA};
    pkie_der_init(&d, hi, sizeof(hi));
    struct pkie_der_tlv t;
    assert_int_equal(pkie_der_read_tlv(&d, &t), 0);
    assert_int_equal(t.tag, PKIE_DER_TAG(PKIE_DER_CLASS_APPLICATION, 0, 1000));
    assert_int_equal(t.len, 1);
    assert_int_equal(t.tlv_len, 5);
    assert_ptr_equal(t.val, hi + 4);
    /* high-tag form for a number below 31 */
    assert_invalid("9f1e00", PKIE_ERR_DER_TAG_ENCODING, 0);
    assert_invalid("9f0100", PKIE_ERR_DER_TAG_ENCODING, 0);
    /* leading 0x80 octet */
    assert_invalid("9f801f00", PKIE_ERR_DER_TAG_ENCODING, 1);
    assert_invalid("9f80801f00", PKIE_ERR_DER_TAG_ENCODING, 1);
    /* number above 2^29 - 1 */
    assert_invalid("9f82808080 0000", PKIE_ERR_DER_TAG_ENCODING, 5);
    assert_invalid("9fffffffff7f 00", PKIE_ERR_DER_TAG_ENCODING, 5);
    /* tag ends early */
    assert_invalid("9f", PKIE_ERR_DER_TRUNCATED, 1);
    assert_invalid("9f81", PKIE_ERR_DER_TRUNCATED, 2);
    /* universal 0 (end-of-contents) */
    assert_invalid("0000", PKIE_ERR_DER_TAG, 0);
    /* primitive types in the constructed form and the reverse */
    assert_invalid("2400", PKIE_ERR_DER_CONSTRUCTED, 0);
    assert_invalid("2203 020101", PKIE_ERR_DER_CONSTRUCTED, 0);
    assert_invalid("3003 230100", PKIE_ERR_DER_CONSTRUCTED, 2);
    assert_invalid("1000", PKIE_ERR_DER_CONSTRUCTED, 0);
    assert_invalid("1100", PKIE_ERR_DER_CONSTRUCTED, 0);
    /* context tags take either form */
    assert_valid("a000");
    assert_valid("8000");
}

static void test_trailing_and_empty(void **state)
{
    (void)state;
    /* a NULL empty input is just empty */
    struct pkie_der e;
    pkie_der_init(&e, NULL, 0);
    assert_true(pkie_der_at_end(&e));
    assert_int_equal(pkie_der_finish(&e), 0);
    assert_int_equal(pkie_der_skip(&e), PKIE_ERR_DER_EMPTY);
    assert_int_equal(pkie_der_validate(NULL, 0), PKIE_ERR_DER_EMPTY);
    assert_invalid("", PKIE_ERR_DER_EMPTY, 0);
    assert_invalid("0500 00", PKIE_ERR_DER_TRAILING, 2);
    assert_invalid("3000 3000", PKIE_ERR_DER_TRAILING, 2);
    struct pkie_der d;
    static const uint8_t two[] = {0x05, 0x00, 0x05, 0x00};
    pkie_der_init(&d, two, sizeof(two));
    assert_int_equal(pkie_der_read_null(&d, PKIE_DER_NULL), 0);
    assert_der_err(pkie_der_finish(&d), PKIE_ERR_DER_TRAILING, 2);
    assert_int_equal(pkie_der_offset(&d), 2);
    assert_int_equal(pkie_der_read_null(&d, PKIE_DER_NULL), 0);
    assert_int_equal(pkie_der_finish(&d), 0);
    assert_true(pkie_der_at_end(&d));
    uint32_t tag;
    assert_der_err(pkie_der_peek_tag(&d, &tag), PKIE_ERR_DER_EMPTY, 4);
    assert_der_err(pkie_der_skip(&d), PKIE_ERR_DER_EMPTY, 4);
    assert_int_equal(pkie_der_peek_is(&d, PKIE_DER_NULL), 0);
}

/* Every proper prefix of a valid element is truncated. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    static const char *valid[] = {
        "3081 8f" /* a SEQUENCE with a long-form length */
        "020105 0609 2a864886f70d01010b 0c03 616263 a07a 0478"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "bf81ffffff7f 03 9f2000",
        "3106 020101 020102",
    };
    for (size_t k = 0; k < sizeof(valid) / sizeof(valid[0]); k++) {
        size_t n;
        uint8_t *full = hexbuf(valid[k], &n);
        assert_int_equal(pkie_der_validate(full, n), 0);
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *p = malloc(cut ? cut : 1);
            memcpy(p, full, cut);
            int rc = pkie_der_validate(p, cut);
            if (cut == 0)
                assert_int_equal(rc, PKIE_ERR_DER_EMPTY);
            else
                assert_int_equal(rc, PKIE_ERR_DER_TRUNCATED);
            assert_true(pkie_err_last()->offset <= cut);
            struct pkie_der d;
            pkie_der_init(&d, p, cut);
            struct pkie_der_tlv t;
            assert_int_not_equal(pkie_der_read_tlv(&d, &t), 0);
            assert_ptr_equal(d.p, p);
            free(p);
        }
        free(full);
    }
}

/* Nested SEQUENCEs: 64 levels are fine, 65 are refused; 10,000 fail fast. */
static uint8_t *nest(size_t levels, size_t *len)
{
    /* each level is 30 84 xx xx xx xx (always 4-octet lengths are not DER),
     * so build from the inside out with minimal lengths */
    size_t cap = levels * 6 + 2;
    uint8_t *buf = malloc(cap);
    size_t pos = cap;
    buf[--pos] = 0x00;
    buf[--pos] = 0x05; /* innermost NULL */
    for (size_t i = 0; i < levels; i++) {
        size_t inner = cap - pos;
        uint8_t lb[5];
        size_t ln = 0;
        if (inner < 0x80) {
            lb[ln++] = (uint8_t)inner;
        } else {
            size_t nb = 0;
            for (size_t v = inner; v; v >>= 8)
                nb++;
            lb[ln++] = (uint8_t)(0x80 | nb);
            for (size_t j = 0; j < nb; j++)
                lb[ln++] = (uint8_t)(inner >> (8 * (nb - 1 - j)));
        }
        pos -= ln;
        memcpy(buf + pos, lb, ln);
        buf[--pos] = 0x30;
    }
    *len = cap - pos;
    memmove(buf, buf + pos, *len);
    return buf;
}

static void test_depth(void **state)
{
    (void)state;
    size_t n;
    uint8_t *ok = nest(PKIE_DER_MAX_DEPTH, &n);
    assert_int_equal(pkie_der_validate(ok, n), 0);
    struct pkie_der d, in;
    pkie_der_init(&d, ok, n);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH; i++) {
        assert_int_equal(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &in), 0);
        d = in;
    }
    assert_int_equal(d.depth, PKIE_DER_MAX_DEPTH);
    assert_int_equal(pkie_der_read_null(&d, PKIE_DER_NULL), 0);
    free(ok);

    uint8_t *deep = nest(PKIE_DER_MAX_DEPTH + 1, &n);
    int rc = pkie_der_validate(deep, n);
    assert_int_equal(rc, PKIE_ERR_DER_DEPTH);
    size_t off = pkie_err_last()->offset;
    assert_true(off > 0 && off < n);
    assert_int_equal(deep[off], 0x30);
    pkie_der_init(&d, deep, n);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH; i++) {
        assert_int_equal(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &in), 0);
        d = in;
    }
    const uint8_t *before = d.p;
    assert_int_equal(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &in), PKIE_ERR_DER_DEPTH);
    assert_ptr_equal(d.p, before);
    /* opaque reads check the depth of what they carry too */
    pkie_der_init(&d, deep, n);
    const uint8_t *raw;
    size_t rawlen;
    assert_int_equal(pkie_der_read_raw(&d, PKIE_DER_SEQUENCE, &raw, &rawlen), PKIE_ERR_DER_DEPTH);
    free(deep);

    /* the depth bomb: 10,000 nested SEQUENCEs */
    uint8_t *bomb = nest(10000, &n);
    assert_int_equal(pkie_der_validate(bomb, n), PKIE_ERR_DER_DEPTH);
    free(bomb);
}

static void test_navigation(void **state)
{
    (void)state;
    size_t n;
    /* SEQUENCE { INTEGER 5, [0] EXPLICIT { BOOLEAN TRUE }, [1] IMPLICIT OCTETS, NULL } */
    uint8_t *b = hexbuf("300f 020105 a003 0101ff 8103 616263 0500 0500", &n);
    struct pkie_der d, seq, ex;
    pkie_der_init(&d, b, n);
    /* wrong tag: nothing consumed */
    assert_der_err(pkie_der_enter(&d, PKIE_DER_SET, &seq), PKIE_ERR_DER_TAG, 0);
    assert_ptr_equal(d.p, b);
    assert_int_equal(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &seq), 0);
    assert_int_equal(seq.depth, 1);
    assert_true(pkie_der_peek_is(&seq, PKIE_DER_INTEGER));
    assert_false(pkie_der_peek_is(&seq, PKIE_DER_BOOLEAN));
    int64_t v;
    assert_int_equal(pkie_der_read_int64(&seq, PKIE_DER_INTEGER, &v), 0);
    assert_int_equal(v, 5);
    int present;
    assert_int_equal(pkie_der_enter_optional(&seq, PKIE_DER_CTX_C(2), &ex, &present), 0);
    assert_int_equal(present, 0);
    assert_int_equal(pkie_der_enter_optional(&seq, PKIE_DER_CTX_C(0), &ex, &present), 0);
    assert_int_equal(present, 1);
    int bv;
    assert_int_equal(pkie_der_read_bool(&ex, PKIE_DER_BOOLEAN, &bv), 0);
    assert_int_equal(bv, 1);
    assert_int_equal(pkie_der_finish(&ex), 0);
    /* entering with a primitive tag is a caller error */
    assert_int_equal(pkie_der_enter(&seq, PKIE_DER_CTX(1), &ex), PKIE_ERR_ARG);
    /* [1] IMPLICIT read as constructed: form mismatch */
    const uint8_t *o;
    size_t ol;
    assert_der_err(pkie_der_read_raw(&seq, PKIE_DER_CTX_C(1), &o, &ol), PKIE_ERR_DER_CONSTRUCTED,
                   10);
    assert_int_equal(pkie_der_read_octets(&seq, PKIE_DER_CTX(1), &o, &ol), 0);
    assert_int_equal(ol, 3);
    assert_memory_equal(o, "abc", 3);
    assert_int_equal(pkie_der_read_null(&seq, PKIE_DER_NULL), 0);
    assert_int_equal(pkie_der_finish(&seq), 0);
    /* the trailing NULL after the SEQUENCE */
    assert_der_err(pkie_der_finish(&d), PKIE_ERR_DER_TRAILING, 17);
    uint32_t tag;
    assert_int_equal(pkie_der_peek_tag(&d, &tag), 0);
    assert_int_equal(tag, PKIE_DER_NULL);
    assert_int_equal(pkie_der_skip(&d), 0);
    assert_true(pkie_der_at_end(&d));
    free(b);
}

static void test_raw_and_expect(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = hexbuf("3006 3004 0602 2a03 0101ff", &n);
    struct pkie_der d;
    pkie_der_init(&d, b, n);
    const uint8_t *raw;
    size_t rl;
    assert_int_equal(pkie_der_read_raw(&d, PKIE_DER_SEQUENCE, &raw, &rl), 0);
    assert_ptr_equal(raw, b);
    assert_int_equal(rl, 8);
    assert_der_err(pkie_der_read_raw(&d, PKIE_DER_SEQUENCE, &raw, &rl), PKIE_ERR_DER_TAG, 8);
    struct pkie_der_tlv t;
    assert_int_equal(pkie_der_expect(&d, PKIE_DER_BOOLEAN, &t), 0);
    assert_int_equal(t.len, 1);
    assert_int_equal(t.val[0], 0xff);
    free(b);
    /* an opaque element must be well-formed all through */
    b = hexbuf("3005 3003 048180", &n);
    pkie_der_init(&d, b, n);
    assert_der_err(pkie_der_read_raw(&d, PKIE_DER_SEQUENCE, &raw, &rl), PKIE_ERR_DER_TRUNCATED, 4);
    assert_ptr_equal(d.p, b);
    free(b);
    /* a universal primitive element kept opaque still obeys its type */
    b = hexbuf("02020001", &n);
    pkie_der_init(&d, b, n);
    assert_der_err(pkie_der_read_raw(&d, PKIE_DER_INTEGER, &raw, &rl), PKIE_ERR_DER_INTEGER, 2);
    assert_ptr_equal(d.p, b);
    free(b);
}

static void test_set_of_order(void **state)
{
    (void)state;
    size_t n;
    struct pkie_der d, in;
    uint8_t *b = hexbuf("3109 020101 020102 020102", &n);
    pkie_der_init(&d, b, n);
    assert_int_equal(pkie_der_enter_set_of(&d, PKIE_DER_SET, &in), 0);
    free(b);
    b = hexbuf("310a 020102 02020080 020101", &n);
    pkie_der_init(&d, b, n);
    assert_der_err(pkie_der_enter_set_of(&d, PKIE_DER_SET, &in), PKIE_ERR_DER_SET_ORDER, 9);
    assert_ptr_equal(d.p, b);
    /* a plain enter does not check the order (SET, not SET OF) */
    assert_int_equal(pkie_der_enter(&d, PKIE_DER_SET, &in), 0);
    free(b);
    /* malformed member */
    b = hexbuf("3104 020101 05", &n);
    pkie_der_init(&d, b, n);
    assert_der_err(pkie_der_enter_set_of(&d, PKIE_DER_SET, &in), PKIE_ERR_DER_TRUNCATED, 6);
    assert_ptr_equal(d.p, b);
    free(b);
}

static void test_validate_contents(void **state)
{
    (void)state;
    /* content rules of the universal types apply inside the tree */
    assert_invalid("3003 010101", PKIE_ERR_DER_BOOLEAN, 4);
    assert_invalid("3004 02020001", PKIE_ERR_DER_INTEGER, 4);
    assert_invalid("3003 0a0100 00", PKIE_ERR_DER_TRAILING, 5);
    assert_invalid("3004 0a020000", PKIE_ERR_DER_INTEGER, 4);
    assert_invalid("3004 13024040", PKIE_ERR_DER_STRING, 4);
    /* implicitly tagged contents are opaque to validation */
    assert_valid("3004 80020001");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_trailing_and_empty),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_navigation),
        cmocka_unit_test(test_raw_and_expect),
        cmocka_unit_test(test_set_of_order),
        cmocka_unit_test(test_validate_contents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
