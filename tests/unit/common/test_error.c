/* Unit tests: error model (include/pkie/error.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static void test_set_records_detail(void **state)
{
    (void)state;
    pkie_err_clear();
    int line = __LINE__ + 1;
    int rc = PKIE_ERR(PKIE_ERR_ARG, "bad %s", "thing");
    assert_int_equal(rc, PKIE_ERR_ARG);
    const struct pkie_error *e = pkie_err_last();
    assert_int_equal(e->code, PKIE_ERR_ARG);
    assert_string_equal(e->msg, "bad thing");
    assert_int_equal(e->line, line);
    assert_non_null(strstr(e->file, "test_error.c"));
    assert_true(e->offset == PKIE_NO_OFFSET);
}

static void test_offset_and_format(void **state)
{
    (void)state;
    PKIE_ERR_AT(PKIE_ERR_DER_TRUNCATED, 17, "input ends");
    char buf[512];
    pkie_err_format(buf, sizeof(buf));
    assert_non_null(strstr(buf, "DER_TRUNCATED"));
    assert_non_null(strstr(buf, "offset 17"));
    assert_non_null(strstr(buf, "input ends"));
}

static void test_names_and_texts(void **state)
{
    (void)state;
    assert_string_equal(pkie_err_name(PKIE_OK), "OK");
    assert_string_equal(pkie_err_name(PKIE_ERR_NOMEM), "NOMEM");
    assert_string_equal(pkie_err_name(PKIE_ERR_DER_INDEFINITE), "DER_INDEFINITE");
    assert_string_equal(pkie_err_name(12345), "UNKNOWN");
    assert_string_equal(pkie_strerror(-98765), "unknown error");
    assert_string_equal(pkie_strerror(PKIE_ERR_CONF_UNKNOWN_KEY), "configuration: unknown key");
}

static void test_openssl_queue_captured(void **state)
{
    (void)state;
    pkie_err_clear();
    /* Provoke an OpenSSL error: an unknown cipher name. */
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "NO-SUCH-CIPHER", NULL);
    assert_null(c);
    assert_int_not_equal(ERR_peek_error(), 0);
    PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "fetch failed");
    const struct pkie_error *e = pkie_err_last();
    assert_int_equal(e->code, PKIE_ERR_CRYPTO);
    assert_true(strlen(e->openssl) > 0);
    assert_int_equal(ERR_peek_error(), 0); /* drained */
    pkie_err_clear();
    assert_int_equal(pkie_err_last()->code, PKIE_OK);
    assert_string_equal(pkie_err_last()->openssl, "");
}

static void *thread_body(void *arg)
{
    (void)arg;
    pkie_err_clear();
    PKIE_ERR(PKIE_ERR_IO, "in thread");
    return (void *)(intptr_t)pkie_err_last()->code;
}

static void test_thread_local(void **state)
{
    (void)state;
    PKIE_ERR(PKIE_ERR_ARG, "main");
    pthread_t t;
    void *res;
    assert_int_equal(pthread_create(&t, NULL, thread_body, NULL), 0);
    assert_int_equal(pthread_join(t, &res), 0);
    assert_int_equal((int)(intptr_t)res, PKIE_ERR_IO);
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_ARG);
    assert_string_equal(pkie_err_last()->msg, "main");
}

static void test_long_message_truncated(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    PKIE_ERR(PKIE_ERR_ARG, "%s", big);
    assert_int_equal(strlen(pkie_err_last()->msg), sizeof(pkie_err_last()->msg) - 1);
    char small[16];
    pkie_err_format(small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_records_detail), cmocka_unit_test(test_offset_and_format),
        cmocka_unit_test(test_names_and_texts),    cmocka_unit_test(test_openssl_queue_captured),
        cmocka_unit_test(test_thread_local),       cmocka_unit_test(test_long_message_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
