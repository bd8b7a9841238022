/* Unit tests: OBJECT IDENTIFIER contents rules and dotted text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "der_test.h"

static int read_oid_hex(const char *hex, size_t *off)
{
    size_t n;
    uint8_t *b = hexbuf(hex, &n);
    struct pkie_der d;
    pkie_der_init(&d, b, n);
    const uint8_t *o;
    size_t ol;
    int rc = pkie_der_read_oid(&d, PKIE_DER_OID, &o, &ol);
    *off = pkie_err_last()->offset;
    if (rc != 0)
        assert_ptr_equal(d.p, b);
    free(b);
    return rc;
}

static void test_text_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *text, *hex;
    } cases[] = {
        {"1.2.840.113549.1.1.11", "2a864886f70d01010b"},
        {"2.5.4.3", "550403"},
        {"0.0", "00"},
        {"0.39", "27"},
        {"1.0", "28"},
        {"1.39", "4f"},
        {"2.0", "50"},
        {"2.47", "7f"},
        {"2.48", "8100"},
        {"2.999.3", "883703"},
        {"2.16.840.1.101.3.4.2.1", "608648016503040201"},
        {"1.3.6.1.4.1.311.21.8.1", "2b0601040182371508 01"},
        {"1.2.18446744073709551615", "2a81ffffffffffffffff7f"},
        {"2.18446744073709551535", "81ffffffffffffffff7f"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;
        uint8_t *want = hexbuf(cases[i].hex, &n);
        uint8_t enc[PKIE_DER_OID_MAX_LEN];
        size_t len;
        assert_int_equal(pkie_der_oid_from_text(cases[i].text, enc, sizeof(enc), &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(enc, want, n);
        assert_true(pkie_der_oid_equal(enc, len, want, n));
        char text[PKIE_DER_OID_TEXT_MAX];
        assert_int_equal(pkie_der_oid_to_text(want, n, text, sizeof(text)), 0);
        assert_string_equal(text, cases[i].text);
        free(want);
    }
    uint8_t a[] = {0x55, 0x04, 0x03}, b[] = {0x55, 0x04, 0x06};
    assert_false(pkie_der_oid_equal(a, 3, b, 3));
    assert_false(pkie_der_oid_equal(a, 3, a, 2));
}

static void test_text_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t off;
    } bad[] = {
        {"", 0},
        {"1", 0},
        {"3.1", 0},
        {"1.40", 2},
        {"0.40", 2},
        {"1..2", 2},
        {"1.2.", 4},
        {".1.2", 0},
        {"01.2", 0},
        {"1.02", 2},
        {"1.2.00", 4},
        {"1.2.a", 4},
        {"1.2 ", 3},
        {"1.2.-3", 4},
        {"+1.2", 0},
        {"1.2.18446744073709551616", 4},
        {"2.18446744073709551536", 2},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t enc[PKIE_DER_OID_MAX_LEN];
        size_t len;
        int rc = pkie_der_oid_from_text(bad[i].text, enc, sizeof(enc), &len);
        if (rc != PKIE_ERR_DER_OID_TEXT)
            print_error("accepted or wrong code for \"%s\": %d\n", bad[i].text, rc);
        assert_int_equal(rc, PKIE_ERR_DER_OID_TEXT);
        assert_int_equal(pkie_err_last()->offset, bad[i].off);
    }
    /* arc count and encoded length limits */
    char text[1024] = "1.2";
    for (int i = 2; i < PKIE_DER_OID_MAX_ARCS; i++)
        strcat(text, ".1");
    uint8_t enc[PKIE_DER_OID_MAX_LEN];
    size_t len;
    assert_int_equal(pkie_der_oid_from_text(text, enc, sizeof(enc), &len), 0);
    strcat(text, ".1");
    assert_int_equal(pkie_der_oid_from_text(text, enc, sizeof(enc), &len), PKIE_ERR_DER_OID_TEXT);
    strcpy(text, "1.2");
    for (int i = 0; i < 7; i++)
        strcat(text, ".18446744073709551615");
    assert_int_equal(pkie_der_oid_from_text(text, enc, sizeof(enc), &len), PKIE_ERR_DER_OID_TEXT);
    /* output capacity */
    assert_int_equal(pkie_der_oid_from_text("1.2.840.113549", enc, 3, &len), PKIE_ERR_LIMIT);
    char small[8];
    static const uint8_t rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d};
    assert_int_equal(pkie_der_oid_to_text(rsa, sizeof(rsa), small, sizeof(small)), PKIE_ERR_LIMIT);
    assert_int_equal(pkie_der_oid_to_text(rsa, sizeof(rsa), small, 0), PKIE_ERR_LIMIT);
    char fits[15];
    assert_int_equal(pkie_der_oid_to_text(rsa, sizeof(rsa), fits, sizeof(fits)), 0);
    assert_string_equal(fits, "1.2.840.113549");
    assert_int_equal(pkie_der_oid_to_text(rsa, sizeof(rsa), fits, 14), PKIE_ERR_LIMIT);
}

static void test_contents_rules(void **state)
{
    (void)state;
    size_t off;
    assert_int_equal(read_oid_hex("0603 2a8648", &off), 0);
    /* empty */
    assert_int_equal(read_oid_hex("0600", &off), PKIE_ERR_DER_OID);
    assert_int_equal(off, 2);
    /* leading 0x80 in the first arc and in a later arc */
    assert_int_equal(read_oid_hex("0602 8001", &off), PKIE_ERR_DER_OID);
    assert_int_equal(off, 2);
    assert_int_equal(read_oid_hex("0604 2a808648", &off), PKIE_ERR_DER_OID);
    assert_int_equal(off, 3);
    /* ends in the middle of an arc */
    assert_int_equal(read_oid_hex("0602 2a86", &off), PKIE_ERR_DER_OID);
    assert_int_equal(off, 3);
    /* arc above 2^64 - 1 */
    assert_int_equal(read_oid_hex("060b 2a 82808080808080808000", &off), PKIE_ERR_DER_OID);
    assert_int_equal(off, 12);
    assert_int_equal(read_oid_hex("060b 2a 81ffffffffffffffff7f", &off), 0);
    /* length limit: 64 octets fine, 65 not */
    char hex[2 * 70 + 8] = "0640";
    for (int i = 0; i < 64; i++)
        strcat(hex, "2a");
    assert_int_equal(read_oid_hex(hex, &off), 0);
    strcpy(hex, "0641");
    for (int i = 0; i < 65; i++)
        strcat(hex, "2a");
    assert_int_equal(read_oid_hex(hex, &off), PKIE_ERR_DER_OID);
    assert_int_equal(off, 2);
    /* the longest dotted text: 64 one-octet arcs of 3 digits (fuzz-style
     * regression: PKIE_DER_OID_TEXT_MAX used to be 256, one short) */
    uint8_t longest[PKIE_DER_OID_MAX_LEN];
    memset(longest, 0x7f, sizeof(longest));
    char text[PKIE_DER_OID_TEXT_MAX];
    assert_int_equal(pkie_der_oid_to_text(longest, sizeof(longest), text, sizeof(text)), 0);
    assert_int_equal(strlen(text), 4 * PKIE_DER_OID_MAX_LEN);
    assert_memory_equal(text, "2.47.127.127", 12);
    assert_int_equal(pkie_der_oid_to_text(longest, sizeof(longest), text, 4 * PKIE_DER_OID_MAX_LEN),
                     PKIE_ERR_LIMIT);
    /* constructed and wrong tag */
    assert_int_equal(read_oid_hex("2603 2a8648", &off), PKIE_ERR_DER_CONSTRUCTED);
    assert_int_equal(read_oid_hex("0d03 2a8648", &off), PKIE_ERR_DER_TAG);
    /* to_text checks the contents too */
    static const uint8_t bad[] = {0x2a, 0x86};
    assert_int_equal(pkie_der_oid_to_text(bad, sizeof(bad), text, sizeof(text)), PKIE_ERR_DER_OID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_text_rejects),
        cmocka_unit_test(test_contents_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
