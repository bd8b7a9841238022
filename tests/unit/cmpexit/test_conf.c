/* Unit tests: the CMP exit's configuration (exits/cmp/conf.c), subject and
 * SAN texts (names.c) and the renewal-window arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cmpx.h"
#include "cmpx_state.h"
#include "pkie/error.h"

#define BASE                                                                                       \
    "ca_url = http://127.0.0.1:8080/pkix/\n"                                                       \
    "subject = /O=Example/CN=node1\n"                                                              \
    "trust_anchor = /etc/anchor.pem\n"                                                             \
    "dir = /var/lib/pkie/cmp\n"

static int parse(const char *text, struct cmpx_conf *c)
{
    return cmpx_conf_parse(text, strlen(text), "exit.conf", c);
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    struct cmpx_conf c;
    assert_int_equal(parse(BASE, &c), 0);
    assert_string_equal(c.ca_url, "http://127.0.0.1:8080/pkix/");
    assert_int_equal(c.key_type, CMPX_KEY_EC_P256);
    assert_int_equal(c.renew_before, 30ll * 86400);
    assert_int_equal(c.renew_percent, 0);
    assert_int_equal(c.refresh, 3600);
    assert_int_equal(c.retry_min, 5);
    assert_int_equal(c.retry_max, 3600);
    assert_int_equal(c.crl_check, 1);
    assert_int_equal(c.timeout, 10);
    assert_null(c.ref);
    cmpx_conf_free(&c);
}

static void test_full(void **state)
{
    (void)state;
    struct cmpx_conf c;
    assert_int_equal(parse(BASE
                           "ref = node1\nsecret_file = /etc/s\nsan = DNS:a.example,IP:10.0.0.1\n"
                           "key_type = ed25519\nrenew_before = 33%\nrefresh = 5m\n"
                           "retry_min = 2s\nretry_max = 1h\nvalidity_days = 7\n"
                           "crl_check = no\ntimeout = 3\n",
                           &c),
                     0);
    assert_string_equal(c.ref, "node1");
    assert_int_equal(c.key_type, CMPX_KEY_ED25519);
    assert_int_equal(c.renew_percent, 33);
    assert_int_equal(c.refresh, 300);
    assert_int_equal(c.retry_min, 2);
    assert_int_equal(c.retry_max, 3600);
    assert_int_equal(c.validity_days, 7);
    assert_int_equal(c.crl_check, 0);
    assert_int_equal(c.timeout, 3);
    cmpx_conf_free(&c);
}

static void expect_error(const char *text, int code, const char *needle)
{
    struct cmpx_conf c;
    int rc = parse(text, &c);
    if (rc != code || strstr(pkie_err_last()->msg, needle) == NULL)
        fail_msg("\"%s\": rc %d (want %d), message \"%s\" (want \"%s\")", text, rc, code,
                 pkie_err_last()->msg, needle);
    cmpx_conf_free(&c);
}

static void test_negative(void **state)
{
    (void)state;
    /* required keys */
    expect_error("subject = /CN=x\ntrust_anchor = /a\ndir = /d\n", PKIE_ERR_CONF_MISSING, "ca_url");
    expect_error("ca_url = http://x\nsubject = /CN=x\ntrust_anchor = /a\n", PKIE_ERR_CONF_MISSING,
                 "dir");
    /* unknown and duplicate keys */
    expect_error(BASE "colour = blue\n", PKIE_ERR_CONF_UNKNOWN_KEY, "colour");
    expect_error(BASE "dir = /other\n", PKIE_ERR_CONF_DUPLICATE, "dir");
    /* values */
    expect_error(BASE "key_type = dsa:1024\n", PKIE_ERR_CONF_VALUE, "key_type");
    expect_error(BASE "renew_before = 0%\n", PKIE_ERR_CONF_VALUE, "percentage");
    expect_error(BASE "renew_before = 101%\n", PKIE_ERR_CONF_VALUE, "percentage");
    expect_error(BASE "renew_before = 1x%\n", PKIE_ERR_CONF_VALUE, "percentage");
    expect_error(BASE "renew_before = 3w\n", PKIE_ERR_CONF_VALUE, "renew_before");
    expect_error(BASE "renew_before = -1d\n", PKIE_ERR_CONF_VALUE, "renew_before");
    expect_error(BASE "renew_before = 4000d\n", PKIE_ERR_CONF_VALUE, "10 years");
    expect_error(BASE "refresh = 0\n", PKIE_ERR_CONF_VALUE, "refresh");
    expect_error(BASE "refresh = soon\n", PKIE_ERR_CONF_VALUE, "refresh");
    expect_error(BASE "retry_min = 10s\nretry_max = 5s\n", PKIE_ERR_CONF_VALUE, "retry_max");
    expect_error(BASE "ref = x\n", PKIE_ERR_CONF_VALUE, "together");
    expect_error(BASE "secret_file = /s\n", PKIE_ERR_CONF_VALUE, "together");
    expect_error(BASE "timeout = 0\n", PKIE_ERR_CONF_VALUE, "timeout");
    expect_error(BASE "validity_days = -1\n", PKIE_ERR_CONF_VALUE, "validity_days");
    expect_error(BASE "crl_check = maybe\n", PKIE_ERR_CONF_VALUE, "crl_check");
    expect_error("ca_url = http://x\nsubject = /CN=x\ntrust_anchor = /a\ndir = relative\n",
                 PKIE_ERR_CONF_VALUE, "absolute");
}

static void test_durations(void **state)
{
    (void)state;
    long long v = -1;
    assert_int_equal(cmpx_duration_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cmpx_duration_parse("90s", &v), 0);
    assert_int_equal(v, 90);
    assert_int_equal(cmpx_duration_parse("2m", &v), 0);
    assert_int_equal(v, 120);
    assert_int_equal(cmpx_duration_parse("3h", &v), 0);
    assert_int_equal(v, 10800);
    assert_int_equal(cmpx_duration_parse("3650d", &v), 0);
    assert_true(cmpx_duration_parse("3651d", &v) < 0);
    assert_true(cmpx_duration_parse("", &v) < 0);
    assert_true(cmpx_duration_parse("d", &v) < 0);
    assert_true(cmpx_duration_parse("1dd", &v) < 0);
    assert_true(cmpx_duration_parse("99999999999999999999", &v) < 0);
    assert_true(cmpx_duration_parse(NULL, &v) < 0);
}

static void test_window(void **state)
{
    (void)state;
    struct cmpx_conf c;
    assert_int_equal(parse(BASE "renew_before = 10d\n", &c), 0);
    const time_t nb = 1000000, na = nb + 100 * 86400;
    assert_int_equal(cmpx_renew_at(&c, nb, na), na - 10 * 86400);
    assert_int_equal(cmpx_renew_due(&c, nb, na, na - 10 * 86400 - 1), 0);
    assert_int_equal(cmpx_renew_due(&c, nb, na, na - 10 * 86400), 1);
    assert_int_equal(cmpx_renew_due(&c, nb, na, na + 5), 1); /* expired: due */
    cmpx_conf_free(&c);
    /* a window wider than the validity: due from notBefore, never before */
    assert_int_equal(parse(BASE "renew_before = 400d\n", &c), 0);
    assert_int_equal(cmpx_renew_at(&c, nb, na), nb);
    assert_int_equal(cmpx_renew_due(&c, nb, na, nb - 1), 0);
    assert_int_equal(cmpx_renew_due(&c, nb, na, nb), 1);
    cmpx_conf_free(&c);
    /* percentage of the validity */
    assert_int_equal(parse(BASE "renew_before = 25%\n", &c), 0);
    assert_int_equal(cmpx_renew_at(&c, nb, na), na - 25 * 86400);
    assert_int_equal(cmpx_renew_at(&c, nb, nb + 1000), nb + 750);
    assert_int_equal(cmpx_renew_at(&c, na, nb), na); /* inverted validity: notBefore */
    cmpx_conf_free(&c);
    assert_int_equal(parse(BASE "renew_before = 100%\n", &c), 0);
    assert_int_equal(cmpx_renew_at(&c, nb, na), nb);
    cmpx_conf_free(&c);
    /* 0: renew only once expired */
    assert_int_equal(parse(BASE "renew_before = 0\n", &c), 0);
    assert_int_equal(cmpx_renew_due(&c, nb, na, na - 1), 0);
    assert_int_equal(cmpx_renew_due(&c, nb, na, na), 1);
    cmpx_conf_free(&c);
}

static void test_backoff(void **state)
{
    (void)state;
    struct cmpx_conf c;
    assert_int_equal(parse(BASE "retry_min = 2s\nretry_max = 20s\n", &c), 0);
    assert_int_equal(cmpx_backoff(&c, 1), 2);
    assert_int_equal(cmpx_backoff(&c, 2), 4);
    assert_int_equal(cmpx_backoff(&c, 3), 8);
    assert_int_equal(cmpx_backoff(&c, 4), 16);
    assert_int_equal(cmpx_backoff(&c, 5), 20);
    assert_int_equal(cmpx_backoff(&c, 4000000000u), 20);
    cmpx_conf_free(&c);
}

static int count_san(void *arg, const GENERAL_NAME *gn)
{
    (void)gn;
    (*(int *)arg)++;
    return 0;
}

static void test_names(void **state)
{
    (void)state;
    char buf[256];
    X509_NAME *n = cmpx_name_parse("/O=Example/CN=node1");
    assert_non_null(n);
    X509_NAME_oneline(n, buf, sizeof(buf));
    assert_string_equal(buf, "/O=Example/CN=node1");
    X509_NAME_free(n);
    n = cmpx_name_parse("CN=node1,O=Example"); /* RFC 4514: most specific first */
    assert_non_null(n);
    X509_NAME_oneline(n, buf, sizeof(buf));
    assert_string_equal(buf, "/O=Example/CN=node1");
    X509_NAME_free(n);
    assert_null(cmpx_name_parse(""));
    assert_null(cmpx_name_parse("/"));
    assert_null(cmpx_name_parse("/CN"));
    assert_null(cmpx_name_parse("/=x"));
    assert_null(cmpx_name_parse("/CN="));
    assert_null(cmpx_name_parse("/NOSUCHTYPE=x"));
    assert_null(cmpx_name_parse("CN=a,,O=b"));

    int k = 0;
    assert_int_equal(
        cmpx_sans_parse("DNS:a.example,IP:10.0.0.1,URI:https://x/,email:a@b", count_san, &k), 0);
    assert_int_equal(k, 4);
    assert_int_equal(cmpx_sans_parse(NULL, count_san, &k), 0);
    assert_true(cmpx_sans_parse("DNS", count_san, &k) < 0);
    assert_true(cmpx_sans_parse("DNS:", count_san, &k) < 0);
    assert_true(cmpx_sans_parse("RID:1.2.3", count_san, &k) < 0);
    assert_true(cmpx_sans_parse("IP:10.0.0.300", count_san, &k) < 0);
    assert_true(cmpx_sans_parse("DNS:a,,DNS:b", count_san, &k) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_negative),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
