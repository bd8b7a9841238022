/* pkie_utf8_seq_len: RFC 3629 well-formedness, one sequence at a time. */
#include "pkie/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static size_t len_of(const char *s, size_t n)
{
    return pkie_utf8_seq_len((const unsigned char *)s, n);
}

static void test_well_formed(void **state)
{
    (void)state;
    assert_int_equal(len_of("a", 1), 1);
    assert_int_equal(len_of("\x7f", 1), 1);
    assert_int_equal(len_of("\xc2\x80", 2), 2);         /* U+0080 */
    assert_int_equal(len_of("\xdf\xbf", 2), 2);         /* U+07FF */
    assert_int_equal(len_of("\xe0\xa0\x80", 3), 3);     /* U+0800 */
    assert_int_equal(len_of("\xed\x9f\xbf", 3), 3);     /* U+D7FF */
    assert_int_equal(len_of("\xee\x80\x80", 3), 3);     /* U+E000 */
    assert_int_equal(len_of("\xef\xbf\xbf", 3), 3);     /* U+FFFF */
    assert_int_equal(len_of("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
    assert_int_equal(len_of("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
    assert_int_equal(len_of("\xc3\xa9xyz", 5), 2);      /* only the first sequence */
}

static void test_ill_formed(void **state)
{
    (void)state;
    assert_int_equal(len_of("\x80", 1), 0); /* stray continuation */
    assert_int_equal(len_of("\xbf", 1), 0);
    assert_int_equal(len_of("\xc0\x80", 2), 0);         /* overlong NUL */
    assert_int_equal(len_of("\xc1\xbf", 2), 0);         /* overlong */
    assert_int_equal(len_of("\xe0\x9f\xbf", 3), 0);     /* overlong 3-byte */
    assert_int_equal(len_of("\xed\xa0\x80", 3), 0);     /* surrogate U+D800 */
    assert_int_equal(len_of("\xed\xbf\xbf", 3), 0);     /* surrogate U+DFFF */
    assert_int_equal(len_of("\xf0\x8f\xbf\xbf", 4), 0); /* overlong 4-byte */
    assert_int_equal(len_of("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    assert_int_equal(len_of("\xf5\x80\x80\x80", 4), 0);
    assert_int_equal(len_of("\xff", 1), 0);
    assert_int_equal(len_of("\xc3\x28", 2), 0); /* not a continuation */
    assert_int_equal(len_of("\xe2\x82", 2), 0); /* cut by the end */
    assert_int_equal(len_of("\xf0\x9f\x98", 3), 0);
    assert_int_equal(len_of("\xc3\xa9", 1), 0); /* n shorter than the sequence */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_ill_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
