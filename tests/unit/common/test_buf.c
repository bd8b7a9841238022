/* Unit tests: bounded buffer and wipe (include/pkie/buf.h, wipe.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/buf.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <stdlib.h>
#include <string.h>

static void test_append_grows(void **state)
{
    (void)state;
    struct pkie_buf b;
    pkie_buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(pkie_buf_append_byte(&b, (uint8_t)i), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap >= b.len);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], (uint8_t)i);
    pkie_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_bound_enforced(void **state)
{
    (void)state;
    struct pkie_buf b;
    pkie_buf_init(&b, 10);
    assert_int_equal(pkie_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(pkie_buf_append_byte(&b, 'x'), PKIE_ERR_LIMIT);
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_LIMIT);
    assert_int_equal(b.len, 10);
    /* overflow of len + extra never wraps */
    assert_int_equal(pkie_buf_reserve(&b, SIZE_MAX), PKIE_ERR_LIMIT);
    pkie_buf_free(&b);
}

static void test_zero_max(void **state)
{
    (void)state;
    struct pkie_buf b;
    pkie_buf_init(&b, 0);
    assert_int_equal(pkie_buf_append(&b, "", 0), 0);
    assert_int_equal(pkie_buf_append_byte(&b, 1), PKIE_ERR_LIMIT);
    pkie_buf_free(&b);
}

static void test_printf_and_str(void **state)
{
    (void)state;
    struct pkie_buf b;
    pkie_buf_init(&b, 64);
    assert_int_equal(pkie_buf_append_str(&b, "a="), 0);
    assert_int_equal(pkie_buf_printf(&b, "%d,%s", 42, "z"), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "a=42,z", 6);
    assert_int_equal(b.data[6], '\0');
    char big[100];
    memset(big, 'y', sizeof(big) - 1);
    big[99] = '\0';
    assert_int_equal(pkie_buf_printf(&b, "%s", big), PKIE_ERR_LIMIT);
    assert_int_equal(b.len, 6);
    pkie_buf_free(&b);
}

static void test_reset_steal(void **state)
{
    (void)state;
    struct pkie_buf b;
    pkie_buf_init_secret(&b, 1024);
    assert_int_equal(pkie_buf_append(&b, "secret-key-material", 19), 0);
    uint8_t *before = b.data;
    pkie_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, before);
    for (size_t i = 0; i < 19; i++)
        assert_int_equal(b.data[i], 0); /* wiped */
    assert_int_equal(pkie_buf_append(&b, "abc", 3), 0);
    size_t len;
    uint8_t *d = pkie_buf_steal(&b, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(d, "abc", 3);
    assert_null(b.data);
    free(d);
    /* growth of a secret buffer keeps content */
    for (int i = 0; i < 500; i++)
        assert_int_equal(pkie_buf_append_byte(&b, 0xAA), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(b.data[i], 0xAA);
    pkie_buf_free(&b);
}

static void test_wipe_and_ct(void **state)
{
    (void)state;
    uint8_t k[32];
    memset(k, 0x5c, sizeof(k));
    pkie_wipe(k, sizeof(k));
    for (size_t i = 0; i < sizeof(k); i++)
        assert_int_equal(k[i], 0);
    pkie_wipe(NULL, 10);
    pkie_wipe_free(NULL, 10);
    pkie_wipe_free_str(NULL);
    char *s = strdup("password");
    pkie_wipe_free_str(s);
    assert_int_equal(pkie_memeq_ct("abc", "abc", 3), 0);
    assert_int_not_equal(pkie_memeq_ct("abc", "abd", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows), cmocka_unit_test(test_bound_enforced),
        cmocka_unit_test(test_zero_max),     cmocka_unit_test(test_printf_and_str),
        cmocka_unit_test(test_reset_steal),  cmocka_unit_test(test_wipe_and_ct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
