/* Unit tests: logging (include/pkie/log.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/log.h"

#include <stdio.h>
#include <string.h>

struct captured {
    int n;
    enum pkie_log_level level;
    char component[32];
    char msg[1100];
};

static void capture(enum pkie_log_level level, const char *component, const char *message,
                    void *arg)
{
    struct captured *c = arg;
    c->n++;
    c->level = level;
    snprintf(c->component, sizeof(c->component), "%s", component);
    snprintf(c->msg, sizeof(c->msg), "%s", message);
}

static void test_threshold(void **state)
{
    (void)state;
    struct captured c = {0};
    pkie_log_set_sink(capture, &c);
    pkie_log_set_level(PKIE_LOG_WARN);
    pkie_log_info("x", "hidden");
    pkie_log_debug("x", "hidden");
    assert_int_equal(c.n, 0);
    pkie_log_warn("exit", "shown %d", 7);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.level, PKIE_LOG_WARN);
    assert_string_equal(c.component, "exit");
    assert_string_equal(c.msg, "shown 7");
    pkie_log_set_level(PKIE_LOG_TRACE);
    pkie_log_debug(NULL, "dbg");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.component, "pkie");
    pkie_log_set_sink(NULL, NULL);
    pkie_log_set_level(PKIE_LOG_INFO);
}

static void test_control_chars_neutralised(void **state)
{
    (void)state;
    struct captured c = {0};
    pkie_log_set_sink(capture, &c);
    pkie_log_error("t", "peer said: %s", "evil\nFAKE LINE\r\x1b[31m");
    assert_null(strchr(c.msg, '\n'));
    assert_null(strchr(c.msg, '\r'));
    assert_null(strchr(c.msg, '\x1b'));
    pkie_log_set_sink(NULL, NULL);
}

static void test_parse_levels(void **state)
{
    (void)state;
    enum pkie_log_level l;
    assert_int_equal(pkie_log_level_parse("debug", &l), 0);
    assert_int_equal(l, PKIE_LOG_DEBUG);
    assert_int_equal(pkie_log_level_parse("ERROR", &l), 0);
    assert_int_equal(l, PKIE_LOG_ERROR);
    assert_int_equal(pkie_log_level_parse("4", &l), 0);
    assert_int_equal(l, PKIE_LOG_TRACE);
    assert_int_equal(pkie_log_level_parse("loud", &l), PKIE_ERR_ARG);
    assert_int_equal(pkie_log_level_parse("5", &l), PKIE_ERR_ARG);
    assert_int_equal(pkie_log_level_parse(NULL, &l), PKIE_ERR_ARG);
    pkie_log_set_level((enum pkie_log_level)99);
    assert_int_equal(pkie_log_get_level(), PKIE_LOG_TRACE);
    pkie_log_set_level(PKIE_LOG_INFO);
}

static void test_stderr_sink(void **state)
{
    (void)state;
    /* Default sink must not crash on long input; output goes to stderr. */
    char big[2000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pkie_log_error("t", "%s", big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_control_chars_neutralised),
        cmocka_unit_test(test_parse_levels),
        cmocka_unit_test(test_stderr_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
