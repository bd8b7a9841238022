/* Unit tests: DER primitive types (INTEGER, BOOLEAN, BIT STRING, OCTET
 * STRING, NULL) and character strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "der_test.h"

/* The buffer of the last READ: kept until the next one, so that the
 * pointers a read returns can be checked. */
static uint8_t *last_buf;

/* Run @p call on a view over @p hex; returns its code, and checks that a
 * failed read left the view where it was. */
#define READ(hex, call)                                                                            \
    ({                                                                                             \
        size_t n_;                                                                                 \
        free(last_buf);                                                                            \
        uint8_t *b_ = last_buf = hexbuf((hex), &n_);                                               \
        struct pkie_der d_;                                                                        \
        pkie_der_init(&d_, b_, n_);                                                                \
        struct pkie_der *d = &d_;                                                                  \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            assert_ptr_equal(d_.p, b_);                                                            \
        else                                                                                       \
            assert_true(pkie_der_at_end(&d_));                                                     \
        rc_;                                                                                       \
    })

static void test_integer(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(READ("020100", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_int_equal(v, 0);
    assert_int_equal(READ("02017f", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_int_equal(v, 127);
    assert_int_equal(READ("02020080", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_int_equal(v, 128);
    assert_int_equal(READ("020180", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_int_equal(v, -128);
    assert_int_equal(READ("0202ff7f", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_int_equal(v, -129);
    assert_int_equal(READ("02088000000000000000", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(READ("02087fffffffffffffff", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)), 0);
    assert_true(v == INT64_MAX);
    /* 2^63 does not fit */
    assert_int_equal(READ("0209008000000000000000", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_INTEGER_RANGE);
    assert_int_equal(pkie_err_last()->offset, 2);
    /* empty, redundant 0x00, redundant 0xFF */
    assert_int_equal(READ("0200", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_INTEGER);
    assert_int_equal(READ("02020001", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_INTEGER);
    assert_int_equal(READ("02020000", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_INTEGER);
    assert_int_equal(READ("0202ff80", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_INTEGER);
    assert_int_equal(pkie_err_last()->offset, 2);
    /* wrong tag, constructed form */
    assert_int_equal(READ("0a0101", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_TAG);
    assert_int_equal(READ("2203020101", pkie_der_read_int64(d, PKIE_DER_INTEGER, &v)),
                     PKIE_ERR_DER_CONSTRUCTED);
    assert_int_equal(READ("a0030201 01", pkie_der_read_int64(d, PKIE_DER_CTX(0), &v)),
                     PKIE_ERR_DER_CONSTRUCTED);
    assert_int_equal(READ("800101", pkie_der_read_int64(d, PKIE_DER_CTX_C(0), &v)), PKIE_ERR_ARG);
    /* IMPLICIT tag and ENUMERATED */
    assert_int_equal(READ("8001ff", pkie_der_read_int64(d, PKIE_DER_CTX(0), &v)), 0);
    assert_int_equal(v, -1);
    assert_int_equal(READ("0a0102", pkie_der_read_int64(d, PKIE_DER_ENUMERATED, &v)), 0);
    assert_int_equal(v, 2);

    const uint8_t *b;
    size_t n;
    assert_int_equal(
        READ("0209008000000000000001", pkie_der_read_integer(d, PKIE_DER_INTEGER, &b, &n)), 0);
    assert_int_equal(n, 9);
    assert_int_equal(
        READ("0209008000000000000001", pkie_der_read_uint_bytes(d, PKIE_DER_INTEGER, &b, &n)), 0);
    assert_int_equal(n, 8);
    assert_int_equal(b[0], 0x80);
    assert_int_equal(READ("020100", pkie_der_read_uint_bytes(d, PKIE_DER_INTEGER, &b, &n)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(b[0], 0);
    assert_int_equal(READ("0201ff", pkie_der_read_uint_bytes(d, PKIE_DER_INTEGER, &b, &n)),
                     PKIE_ERR_DER_INTEGER_RANGE);
    assert_int_equal(READ("0203000080", pkie_der_read_uint_bytes(d, PKIE_DER_INTEGER, &b, &n)),
                     PKIE_ERR_DER_INTEGER);
}

static void test_defaults(void **state)
{
    (void)state;
    int b;
    int64_t v;
    /* absent: the default, nothing consumed */
    assert_int_equal(READ("", pkie_der_read_bool_default(d, PKIE_DER_BOOLEAN, 0, &b)), 0);
    assert_int_equal(b, 0);
    assert_int_equal(READ("0101ff", pkie_der_read_bool_default(d, PKIE_DER_BOOLEAN, 0, &b)), 0);
    assert_int_equal(b, 1);
    assert_int_equal(READ("010100", pkie_der_read_bool_default(d, PKIE_DER_BOOLEAN, 0, &b)),
                     PKIE_ERR_DER_DEFAULT);
    assert_int_equal(pkie_err_last()->offset, 0);
    assert_int_equal(READ("0101ff", pkie_der_read_bool_default(d, PKIE_DER_BOOLEAN, 1, &b)),
                     PKIE_ERR_DER_DEFAULT);
    assert_int_equal(READ("010101", pkie_der_read_bool_default(d, PKIE_DER_BOOLEAN, 0, &b)),
                     PKIE_ERR_DER_BOOLEAN);
    assert_int_equal(READ("800102", pkie_der_read_int64_default(d, PKIE_DER_CTX(0), 0, &v)), 0);
    assert_int_equal(v, 2);
    assert_int_equal(READ("800100", pkie_der_read_int64_default(d, PKIE_DER_CTX(0), 0, &v)),
                     PKIE_ERR_DER_DEFAULT);
    assert_int_equal(READ("8000", pkie_der_read_int64_default(d, PKIE_DER_CTX(0), 0, &v)),
                     PKIE_ERR_DER_INTEGER);
    v = 9;
    /* another element follows: absent */
    size_t n;
    uint8_t *buf = hexbuf("0500", &n);
    struct pkie_der d;
    pkie_der_init(&d, buf, n);
    assert_int_equal(pkie_der_read_int64_default(&d, PKIE_DER_CTX(0), 3, &v), 0);
    assert_int_equal(v, 3);
    assert_ptr_equal(d.p, buf);
    free(buf);
}

static void test_peek_is_quiet(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = hexbuf("3080", &n);
    struct pkie_der d;
    pkie_der_init(&d, b, n);
    pkie_err_set(PKIE_ERR_IO, "here", 1, PKIE_NO_OFFSET, "earlier error");
    assert_int_equal(pkie_der_peek_is(&d, PKIE_DER_SEQUENCE), 0);
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_IO);
    int present = 1;
    struct pkie_der in;
    assert_int_equal(pkie_der_enter_optional(&d, PKIE_DER_SEQUENCE, &in, &present), 0);
    assert_int_equal(present, 0);
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_IO);
    /* the read that follows reports it */
    assert_der_err(pkie_der_enter(&d, PKIE_DER_SEQUENCE, &in), PKIE_ERR_DER_INDEFINITE, 1);
    free(b);
}

static void test_boolean(void **state)
{
    (void)state;
    int b = -1;
    assert_int_equal(READ("0101ff", pkie_der_read_bool(d, PKIE_DER_BOOLEAN, &b)), 0);
    assert_int_equal(b, 1);
    assert_int_equal(READ("010100", pkie_der_read_bool(d, PKIE_DER_BOOLEAN, &b)), 0);
    assert_int_equal(b, 0);
    static const char *bad[] = {"010101", "01017f", "010180", "0100", "01020000", "0102ffff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(READ(bad[i], pkie_der_read_bool(d, PKIE_DER_BOOLEAN, &b)),
                         PKIE_ERR_DER_BOOLEAN);
        assert_int_equal(pkie_err_last()->offset, 2);
    }
    assert_int_equal(READ("2103010100", pkie_der_read_bool(d, PKIE_DER_BOOLEAN, &b)),
                     PKIE_ERR_DER_CONSTRUCTED);
}

static void test_bit_string(void **state)
{
    (void)state;
    const uint8_t *bits;
    size_t n;
    unsigned unused;
    assert_int_equal(
        READ("030100", pkie_der_read_bit_string(d, PKIE_DER_BIT_STRING, &bits, &n, &unused)), 0);
    assert_int_equal(n, 0);
    assert_int_equal(
        READ("030306ffc0", pkie_der_read_bit_string(d, PKIE_DER_BIT_STRING, &bits, &n, &unused)),
        0);
    assert_int_equal(n, 2);
    assert_int_equal(unused, 6);
    /* no unused-bits octet, more than 7, non-zero for an empty string,
     * unused bits set */
    static const struct {
        const char *hex;
        size_t off;
    } bad[] = {{"0300", 2},   {"030208ff", 2},   {"030101", 2},
               {"030107", 2}, {"030306ffe0", 4}, {"03020101", 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            READ(bad[i].hex, pkie_der_read_bit_string(d, PKIE_DER_BIT_STRING, &bits, &n, &unused)),
            PKIE_ERR_DER_BITSTRING);
        assert_int_equal(pkie_err_last()->offset, bad[i].off);
    }
    assert_int_equal(
        READ("2303030100", pkie_der_read_bit_string(d, PKIE_DER_BIT_STRING, &bits, &n, &unused)),
        PKIE_ERR_DER_CONSTRUCTED);
}

static void test_named_bits(void **state)
{
    (void)state;
    uint32_t v = 1;
    assert_int_equal(READ("030100", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)), 0);
    assert_int_equal(v, 0);
    /* keyUsage digitalSignature(0) keyEncipherment(2): 101 -> 05 a0 */
    assert_int_equal(READ("030205a0", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)), 0);
    assert_int_equal(v, 0x5);
    /* decipherOnly(8) */
    assert_int_equal(READ("0303070080", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)), 0);
    assert_int_equal(v, 0x100);
    /* bit 31 */
    assert_int_equal(READ("030500 00000001", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)),
                     0);
    assert_int_equal(v, 0x80000000u);
    /* trailing zero bits: 0x80 with 0 unused, and a whole zero octet */
    assert_int_equal(READ("03020080", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)),
                     PKIE_ERR_DER_NAMED_BITS);
    assert_int_equal(pkie_err_last()->offset, 3);
    assert_int_equal(READ("03030780 00", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)),
                     PKIE_ERR_DER_NAMED_BITS);
    assert_int_equal(READ("03020000", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)),
                     PKIE_ERR_DER_NAMED_BITS);
    /* bit 32 does not fit */
    assert_int_equal(
        READ("030607 0000000080", pkie_der_read_named_bits(d, PKIE_DER_BIT_STRING, &v)),
        PKIE_ERR_DER_NAMED_BITS);
}

static void test_octets_null(void **state)
{
    (void)state;
    const uint8_t *p;
    size_t n;
    assert_int_equal(READ("0400", pkie_der_read_octets(d, PKIE_DER_OCTET_STRING, &p, &n)), 0);
    assert_int_equal(n, 0);
    assert_int_equal(READ("0402abcd", pkie_der_read_octets(d, PKIE_DER_OCTET_STRING, &p, &n)), 0);
    assert_int_equal(n, 2);
    /* constructed OCTET STRING is BER, not DER */
    assert_int_equal(READ("2404 0402abcd", pkie_der_read_octets(d, PKIE_DER_OCTET_STRING, &p, &n)),
                     PKIE_ERR_DER_CONSTRUCTED);
    assert_int_equal(READ("0500", pkie_der_read_null(d, PKIE_DER_NULL)), 0);
    assert_int_equal(READ("050100", pkie_der_read_null(d, PKIE_DER_NULL)), PKIE_ERR_DER_NULL);
    assert_int_equal(pkie_err_last()->offset, 2);
    assert_int_equal(READ("0400", pkie_der_read_null(d, PKIE_DER_NULL)), PKIE_ERR_DER_TAG);
    assert_int_equal(READ("8000", pkie_der_read_null(d, PKIE_DER_CTX(0))), 0);
}

#define STR(hex, type, s, n) READ(hex, pkie_der_read_string(d, type, type, s, n))

static void test_strings(void **state)
{
    (void)state;
    const char *s;
    size_t n;
    assert_int_equal(STR("1300", PKIE_DER_PRINTABLE_STRING, &s, &n), 0);
    assert_int_equal(STR("130f 412d5a20303f2728292b2c2e2f3a3d", PKIE_DER_PRINTABLE_STRING, &s, &n),
                     0);
    assert_int_equal(n, 15);
    static const char *not_printable[] = {"130140", "13012a", "130126", "13015f",
                                          "130100", "130121", "1301c3", "13017e"};
    for (size_t i = 0; i < sizeof(not_printable) / sizeof(not_printable[0]); i++) {
        assert_int_equal(STR(not_printable[i], PKIE_DER_PRINTABLE_STRING, &s, &n),
                         PKIE_ERR_DER_STRING);
        assert_int_equal(pkie_err_last()->offset, 2);
    }
    assert_int_equal(STR("1603 00407f", PKIE_DER_IA5_STRING, &s, &n), 0);
    assert_int_equal(STR("1603 414280", PKIE_DER_IA5_STRING, &s, &n), PKIE_ERR_DER_STRING);
    assert_int_equal(pkie_err_last()->offset, 4);
    /* UTF-8: 1-4 byte forms, U+10FFFF */
    assert_int_equal(STR("0c0e 41 c3a9 e282ac f09f9880 f48fbfbf", PKIE_DER_UTF8_STRING, &s, &n), 0);
    static const struct {
        const char *hex;
        size_t off;
    } bad_utf8[] = {
        {"0c02 c0af", 2},     /* overlong '/' */
        {"0c02 c1bf", 2},     /* overlong */
        {"0c03 e08080", 2},   /* overlong 3-byte */
        {"0c04 f0808080", 2}, /* overlong 4-byte */
        {"0c03 eda080", 2},   /* surrogate U+D800 */
        {"0c03 edbfbf", 2},   /* surrogate U+DFFF */
        {"0c04 f4908080", 2}, /* U+110000 */
        {"0c04 f5808080", 2}, /* lead byte F5 */
        {"0c01 80", 2},       /* stray continuation */
        {"0c02 41 c3", 3},    /* truncated sequence */
        {"0c03 41 e282", 3},  /* truncated sequence */
        {"0c03 41 c341", 3},  /* bad continuation */
        {"0c01 ff", 2},       /* never valid */
    };
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        assert_int_equal(STR(bad_utf8[i].hex, PKIE_DER_UTF8_STRING, &s, &n), PKIE_ERR_DER_STRING);
        assert_int_equal(pkie_err_last()->offset, bad_utf8[i].off);
    }
    /* IMPLICIT tag, type checked */
    assert_int_equal(READ("8101 40", pkie_der_read_string(d, PKIE_DER_CTX(1),
                                                          PKIE_DER_PRINTABLE_STRING, &s, &n)),
                     PKIE_ERR_DER_STRING);
    assert_int_equal(
        READ("8101 40", pkie_der_read_string(d, PKIE_DER_CTX(1), PKIE_DER_IA5_STRING, &s, &n)), 0);
    /* the type must be a string type; the element must have the tag */
    assert_int_equal(
        READ("0400", pkie_der_read_string(d, PKIE_DER_OCTET_STRING, PKIE_DER_OCTET_STRING, &s, &n)),
        PKIE_ERR_ARG);
    assert_int_equal(STR("0c0141", PKIE_DER_PRINTABLE_STRING, &s, &n), PKIE_ERR_DER_TAG);
    assert_int_equal(STR("2c00", PKIE_DER_UTF8_STRING, &s, &n), PKIE_ERR_DER_CONSTRUCTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer),    cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_boolean),    cmocka_unit_test(test_bit_string),
        cmocka_unit_test(test_named_bits), cmocka_unit_test(test_octets_null),
        cmocka_unit_test(test_strings),    cmocka_unit_test(test_peek_is_quiet),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(last_buf);
    return rc;
}
