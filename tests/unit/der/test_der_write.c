/* Unit tests: DER writer (canonical output, lengths, SET OF, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "der_test.h"

/* Finish @p w and compare with @p hex; frees the writer. */
static void assert_output(struct pkie_derw *w, const char *hex)
{
    size_t n;
    uint8_t *want = hexbuf(hex, &n);
    const uint8_t *out;
    size_t len;
    assert_int_equal(pkie_derw_finish(w, &out, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(out, want, n);
    struct pkie_der d;
    pkie_der_init(&d, out, len);
    while (!pkie_der_at_end(&d)) {
        struct pkie_der_tlv t;
        assert_int_equal(pkie_der_read_tlv(&d, &t), 0);
        assert_int_equal(pkie_der_validate(t.tlv, t.tlv_len), 0);
    }
    free(want);
    pkie_derw_free(w);
}

static void test_integers(void **state)
{
    (void)state;
    struct pkie_derw w;
    pkie_derw_init(&w, 1024);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    static const int64_t v[] = {0, 127, 128, -128, -129, 256, INT64_MAX, INT64_MIN, -1};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_int_equal(pkie_derw_int64(&w, PKIE_DER_INTEGER, v[i]), 0);
    pkie_derw_int64(&w, PKIE_DER_CTX(3), 5);
    pkie_derw_int64(&w, PKIE_DER_ENUMERATED, 2);
    pkie_derw_end(&w);
    assert_output(&w, "3032 020100 02017f 02020080 020180 0202ff7f 02020100"
                      "02087fffffffffffffff 02088000000000000000 0201ff 830105 0a0102");

    pkie_derw_init(&w, 1024);
    static const uint8_t mag[] = {0x00, 0x00, 0x80, 0x01};
    pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, mag, sizeof(mag));
    pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, mag + 3, 1);
    pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, mag, 2);
    pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, mag, 0);
    static const uint8_t twos[] = {0xff, 0x7f};
    pkie_derw_integer(&w, PKIE_DER_INTEGER, twos, 2);
    assert_output(&w, "0203008001 020101 020100 020100 0202ff7f");

    /* non-minimal two's complement is refused, and the error sticks */
    pkie_derw_init(&w, 1024);
    static const uint8_t redundant[] = {0x00, 0x01};
    assert_int_equal(pkie_derw_integer(&w, PKIE_DER_INTEGER, redundant, 2), PKIE_ERR_DER_INTEGER);
    assert_int_equal(pkie_derw_integer(&w, PKIE_DER_INTEGER, twos, 0), PKIE_ERR_DER_INTEGER);
    assert_int_equal(pkie_derw_null(&w, PKIE_DER_NULL), PKIE_ERR_DER_INTEGER);
    const uint8_t *out;
    size_t len;
    assert_int_equal(pkie_derw_finish(&w, &out, &len), PKIE_ERR_DER_INTEGER);
    pkie_derw_free(&w);
}

static void test_lengths(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t sz = sizes[i];
        uint8_t *blob = calloc(1, sz + 1);
        struct pkie_derw w;
        pkie_derw_init(&w, 1 << 20);
        /* nested: each level's length grows as the inner ones are patched */
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
        pkie_derw_begin(&w, PKIE_DER_CTX_C(0));
        pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, blob, sz);
        pkie_derw_end(&w);
        pkie_derw_null(&w, PKIE_DER_NULL);
        pkie_derw_end(&w);
        const uint8_t *out;
        size_t len;
        assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
        assert_int_equal(pkie_der_validate(out, len), 0);
        struct pkie_der d, seq, ex;
        pkie_der_init(&d, out, len);
        assert_int_equal(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &seq), 0);
        assert_int_equal(pkie_der_enter(&seq, PKIE_DER_CTX_C(0), &ex), 0);
        const uint8_t *p;
        size_t n;
        assert_int_equal(pkie_der_read_octets(&ex, PKIE_DER_OCTET_STRING, &p, &n), 0);
        assert_int_equal(n, sz);
        assert_int_equal(pkie_der_read_null(&seq, PKIE_DER_NULL), 0);
        assert_int_equal(pkie_der_finish(&seq), 0);
        pkie_derw_free(&w);
        free(blob);
    }
    struct pkie_derw w;
    pkie_derw_init(&w, 1024);
    uint8_t z[128] = {0};
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, z, 127);
    const uint8_t *out;
    size_t len;
    assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
    assert_int_equal(out[1], 0x7f);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, z, 128);
    assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
    assert_int_equal(out[129 + 1], 0x81);
    assert_int_equal(out[129 + 2], 0x80);
    pkie_derw_free(&w);
}

static void test_tags(void **state)
{
    (void)state;
    struct pkie_derw w;
    pkie_derw_init(&w, 1024);
    pkie_derw_begin(&w, PKIE_DER_TAG(PKIE_DER_CLASS_APPLICATION, 1, 1000));
    pkie_derw_tlv(&w, PKIE_DER_TAG(PKIE_DER_CLASS_PRIVATE, 0, 31), "\x05", 1);
    pkie_derw_begin(&w, PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 1, PKIE_DER_TAG_NUMBER_MAX));
    pkie_derw_end(&w);
    pkie_derw_tlv(&w, PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 0, 30), "", 0);
    pkie_derw_tlv(&w, PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 0, 128), "", 0);
    pkie_derw_end(&w);
    assert_output(&w, "7f8768 11 df1f0105 bf81ffffff7f00 9e00 9f810000");

    static const uint32_t bad[] = {PKIE_DER_TAG(0, 0, 0), PKIE_DER_TAG(0, 1, 2),
                                   PKIE_DER_TAG(0, 0, 16)};
    for (size_t i = 0; i < 3; i++) {
        pkie_derw_init(&w, 64);
        assert_int_not_equal(pkie_derw_tlv(&w, bad[i], "", 0), 0);
        pkie_derw_free(&w);
    }
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_begin(&w, PKIE_DER_TAG(0, 1, 2)), PKIE_ERR_DER_CONSTRUCTED);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_begin(&w, PKIE_DER_CTX(0)), PKIE_ERR_ARG);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_octets(&w, PKIE_DER_CTX_C(0), "", 0), PKIE_ERR_ARG);
    pkie_derw_free(&w);
    /* content rules of universal types apply to raw contents too */
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_tlv(&w, PKIE_DER_BOOLEAN, "\x01", 1), PKIE_ERR_DER_BOOLEAN);
    pkie_derw_free(&w);
}

static void test_typed(void **state)
{
    (void)state;
    struct pkie_derw w;
    pkie_derw_init(&w, 1024);
    pkie_derw_bool(&w, PKIE_DER_BOOLEAN, 1);
    pkie_derw_bool(&w, PKIE_DER_CTX(1), 0);
    pkie_derw_null(&w, PKIE_DER_NULL);
    pkie_derw_oid_text(&w, PKIE_DER_OID, "1.2.840.113549.1.1.11");
    static const uint8_t cn[] = {0x55, 0x04, 0x03};
    pkie_derw_oid(&w, PKIE_DER_OID, cn, 3);
    pkie_derw_named_bits(&w, PKIE_DER_BIT_STRING, 0);
    pkie_derw_named_bits(&w, PKIE_DER_BIT_STRING, 0x5);
    pkie_derw_named_bits(&w, PKIE_DER_BIT_STRING, 0x100);
    pkie_derw_named_bits(&w, PKIE_DER_BIT_STRING, 0x80000000u);
    static const uint8_t key[] = {0xab, 0xc0};
    pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, key, 2, 6);
    pkie_derw_string(&w, PKIE_DER_PRINTABLE_STRING, PKIE_DER_PRINTABLE_STRING, "A b", 3);
    pkie_derw_string(&w, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, "\xc3\xa9", 2);
    pkie_derw_string(&w, PKIE_DER_CTX(2), PKIE_DER_IA5_STRING, "a@b", 3);
    assert_output(&w, "0101ff 810100 0500 06092a864886f70d01010b 0603550403 030100 030205a0"
                      "0303070080 030500 00000001 030306abc0 1303412062 0c02c3a9 8203614062");

    pkie_derw_init(&w, 1024);
    assert_int_equal(pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, key, 2, 7),
                     PKIE_ERR_DER_BITSTRING);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, key, 0, 1),
                     PKIE_ERR_DER_BITSTRING);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, key, 2, 8),
                     PKIE_ERR_DER_BITSTRING);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(
        pkie_derw_string(&w, PKIE_DER_PRINTABLE_STRING, PKIE_DER_PRINTABLE_STRING, "a@b", 3),
        PKIE_ERR_DER_STRING);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(
        pkie_derw_string(&w, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, "\xc0\xaf", 2),
        PKIE_ERR_DER_STRING);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(pkie_derw_string(&w, PKIE_DER_OCTET_STRING, PKIE_DER_OCTET_STRING, "", 0),
                     PKIE_ERR_ARG);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(pkie_derw_oid_text(&w, PKIE_DER_OID, "1.40"), PKIE_ERR_DER_OID_TEXT);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    assert_int_equal(pkie_derw_oid(&w, PKIE_DER_OID, key, 1), PKIE_ERR_DER_OID);
    pkie_derw_free(&w);
}

static void test_set_of(void **state)
{
    (void)state;
    struct pkie_derw w;
    pkie_derw_init(&w, 4096);
    pkie_derw_begin_set_of(&w, PKIE_DER_SET);
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 0x80); /* 02020080 */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 5);    /* 020105 */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 1);    /* 020101 */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 5);    /* duplicate */
    pkie_derw_null(&w, PKIE_DER_NULL);           /* 0500 */
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, "", 0);
    pkie_derw_end(&w);
    assert_output(&w, "3111 020101 020105 020105 02020080 0400 0500");

    /* many elements with long-form lengths, in reverse order */
    pkie_derw_init(&w, 1 << 20);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_begin_set_of(&w, PKIE_DER_CTX_C(1));
    uint8_t blob[300];
    for (int i = 99; i >= 0; i--) {
        memset(blob, i, sizeof(blob));
        pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, blob, 130 + (size_t)i);
    }
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    const uint8_t *out;
    size_t len;
    assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
    struct pkie_der d, seq, set;
    pkie_der_init(&d, out, len);
    assert_int_equal(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &seq), 0);
    assert_int_equal(pkie_der_enter_set_of(&seq, PKIE_DER_CTX_C(1), &set), 0);
    for (int i = 0; i < 100; i++) {
        const uint8_t *p;
        size_t n;
        assert_int_equal(pkie_der_read_octets(&set, PKIE_DER_OCTET_STRING, &p, &n), 0);
        assert_int_equal(n, 130 + (size_t)i);
        assert_int_equal(p[0], i);
    }
    assert_int_equal(pkie_der_finish(&set), 0);
    pkie_derw_free(&w);

    /* a plain SET keeps the order given */
    pkie_derw_init(&w, 64);
    pkie_derw_begin(&w, PKIE_DER_SET);
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 5);
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 1);
    pkie_derw_end(&w);
    assert_output(&w, "3106 020105 020101");
}

static void test_structure_errors(void **state)
{
    (void)state;
    struct pkie_derw w;
    const uint8_t *out;
    size_t len;
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_end(&w), PKIE_ERR_DER_WRITE);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 64);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    assert_int_equal(pkie_derw_finish(&w, &out, &len), PKIE_ERR_DER_WRITE);
    pkie_derw_free(&w);
    /* depth: PKIE_DER_MAX_DEPTH open elements, not one more */
    pkie_derw_init(&w, 4096);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH; i++)
        assert_int_equal(pkie_derw_begin(&w, PKIE_DER_SEQUENCE), 0);
    assert_int_equal(pkie_derw_begin(&w, PKIE_DER_SEQUENCE), PKIE_ERR_DER_DEPTH);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 4096);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH; i++)
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_null(&w, PKIE_DER_NULL);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH; i++)
        assert_int_equal(pkie_derw_end(&w), 0);
    assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
    assert_int_equal(pkie_der_validate(out, len), 0);
    pkie_derw_free(&w);
}

static void test_bounds(void **state)
{
    (void)state;
    struct pkie_derw w;
    const uint8_t *out;
    size_t len;
    pkie_derw_init(&w, 4);
    assert_int_equal(pkie_derw_int64(&w, PKIE_DER_INTEGER, 1), 0);
    assert_int_equal(pkie_derw_int64(&w, PKIE_DER_INTEGER, 1), PKIE_ERR_LIMIT);
    assert_int_equal(pkie_derw_finish(&w, &out, &len), PKIE_ERR_LIMIT);
    assert_int_equal(w.out.len, 3);
    pkie_derw_free(&w);
    /* patching a long-form length needs room too */
    uint8_t blob[200] = {0};
    pkie_derw_init(&w, 2 + 3 + 200);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    assert_int_equal(pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, blob, 200), 0);
    assert_int_equal(pkie_derw_end(&w), PKIE_ERR_LIMIT);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 3 + 3 + 200);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, blob, 200);
    assert_int_equal(pkie_derw_end(&w), 0);
    assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
    assert_int_equal(len, 206);
    pkie_derw_free(&w);
}

static void test_raw_and_steal(void **state)
{
    (void)state;
    struct pkie_derw w;
    size_t n;
    uint8_t *el = hexbuf("3006 0201 05 0101ff", &n);
    pkie_derw_init_secret(&w, 1024);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    assert_int_equal(pkie_derw_raw(&w, el, n), 0);
    pkie_derw_end(&w);
    uint8_t *out;
    size_t len;
    assert_int_equal(pkie_derw_steal(&w, &out, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(out + 2, el, n);
    free(out);
    pkie_derw_free(&w);
    free(el);
    static const struct {
        const char *hex;
        int code;
    } bad[] = {
        {"", PKIE_ERR_DER_EMPTY},
        {"0500 0500", PKIE_ERR_DER_TRAILING},
        {"3003 0201", PKIE_ERR_DER_TRUNCATED},
        {"3004 04810100", PKIE_ERR_DER_LENGTH_NONMINIMAL},
        {"3080 0000", PKIE_ERR_DER_INDEFINITE},
        {"020200 01", PKIE_ERR_DER_INTEGER},
        {"010101", PKIE_ERR_DER_BOOLEAN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *b = hexbuf(bad[i].hex, &n);
        pkie_derw_init(&w, 1024);
        assert_int_equal(pkie_derw_raw(&w, b, n), bad[i].code);
        assert_int_equal(w.out.len, 0);
        pkie_derw_free(&w);
        free(b);
    }
    /* a raw element counts towards the depth limit */
    el = hexbuf("3002 3000", &n);
    pkie_derw_init(&w, 1024);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH - 1; i++)
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    assert_int_equal(pkie_derw_raw(&w, el, n), PKIE_ERR_DER_DEPTH);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 1024);
    for (int i = 0; i < PKIE_DER_MAX_DEPTH - 2; i++)
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    assert_int_equal(pkie_derw_raw(&w, el, n), 0);
    pkie_derw_free(&w);
    free(el);
    /* copying an element already written, while the buffer grows */
    pkie_derw_init(&w, 1 << 20);
    uint8_t big[100] = {1};
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, big, sizeof(big));
    static const uint8_t mag[4] = {0x80, 1, 2, 3};
    for (int i = 0; i < 12; i++) {
        size_t cur_len = w.out.len;
        assert_int_equal(pkie_derw_raw(&w, w.out.data, 102), 0);
        assert_int_equal(pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, w.out.data + 2, 100), 0);
        assert_memory_equal(w.out.data + cur_len, w.out.data, 102);
        assert_memory_equal(w.out.data + cur_len + 102, w.out.data, 102);
        /* the same with a prefix octet (sign, unused bits) */
        pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, mag, 4);
        assert_int_equal(pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, w.out.data + w.out.len - 4, 4),
                         0);
        assert_int_equal(pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, w.out.data + 2, 100, 0), 0);
    }
    const uint8_t *fin;
    size_t fin_len;
    assert_int_equal(pkie_derw_finish(&w, &fin, &fin_len), 0);
    pkie_derw_free(&w);
    /* an empty encoding can be stolen */
    pkie_derw_init(&w, 16);
    assert_int_equal(pkie_derw_steal(&w, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, 0);
    free(out);
    pkie_derw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers), cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_tags),     cmocka_unit_test(test_typed),
        cmocka_unit_test(test_set_of),   cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_bounds),   cmocka_unit_test(test_raw_and_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
