/* Unit tests: TLS runtime configuration and the exit loader (startup errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"

static char path_buf[4096];

static const char *build_path(const char *rel)
{
    const char *b = getenv("PKIE_BUILD_DIR");
    snprintf(path_buf, sizeof(path_buf), "%s/%s", b ? b : ".", rel);
    return path_buf;
}

static void test_conf_keys(void **state)
{
    (void)state;
    struct pkie_tls_conf c = {0};
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.type", "exit"), 0);
    assert_int_equal(c.pki_type, PKIE_TLS_PKI_EXIT);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.type", "internal"), 0);
    assert_int_equal(c.pki_type, PKIE_TLS_PKI_INTERNAL);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.type", "hsm"), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.libpath", "/x/y.so"), 0);
    assert_string_equal(c.exit_libpath, "/x/y.so");
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.libpath", "/x/z.so"), 0);
    assert_string_equal(c.exit_libpath, "/x/z.so");
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.libpath", ""), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.conf", "a b c"), 0);
    assert_string_equal(c.exit_conf, "a b c");
    char big[2000];
    memset(big, 'c', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.conf", big), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.base", "/b.db"), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.password", "/pw"), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "tls.min_version", "TLS1.3"), 0);
    assert_int_equal(c.min_version, PKIE_TLS_V1_3);
    assert_int_equal(pkie_tls_conf_apply(&c, "tls.max_version", "TLSv1.2"), 0);
    assert_int_equal(c.max_version, PKIE_TLS_V1_2);
    assert_int_equal(pkie_tls_conf_apply(&c, "tls.max_version", "SSL3"), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_tls_conf_apply(&c, "tls.ciphers", "ECDHE+AESGCM"), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "tls.ciphersuites", "TLS_AES_128_GCM_SHA256"), 0);
    assert_int_equal(pkie_tls_conf_apply(&c, "pki.exit.other", "x"), PKIE_ERR_CONF_UNKNOWN_KEY);
    assert_int_equal(pkie_tls_conf_apply(&c, "tls", "x"), PKIE_ERR_CONF_UNKNOWN_KEY);
    assert_int_equal(pkie_tls_conf_apply(&c, NULL, "x"), PKIE_ERR_ARG);
    pkie_tls_conf_free(&c);
    assert_null(c.exit_libpath);
    pkie_tls_conf_free(NULL);
}

static int open_exit(const char *lib, const char *conf, struct pkie_tls_runtime **rt)
{
    struct pkie_tls_conf c = {0};
    pkie_tls_conf_apply(&c, "pki.type", "exit");
    if (lib != NULL)
        pkie_tls_conf_apply(&c, "pki.exit.libpath", lib);
    if (conf != NULL)
        pkie_tls_conf_apply(&c, "pki.exit.conf", conf);
    int rc = pkie_tls_runtime_open(&c, rt);
    pkie_tls_conf_free(&c);
    return rc;
}

static void test_load_errors(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = (void *)1;
    assert_int_equal(open_exit(NULL, NULL, &rt), PKIE_ERR_EXIT_LOAD);
    assert_null(rt);
    assert_non_null(strstr(pkie_err_last()->msg, "libpath"));

    assert_int_equal(open_exit("/nonexistent/exit.so", NULL, &rt), PKIE_ERR_EXIT_LOAD);
    assert_non_null(strstr(pkie_err_last()->msg, "/nonexistent/exit.so"));

    /* not a shared library */
    char tmp[] = "/tmp/pkie-exit-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage", 7), 7);
    close(fd);
    assert_int_equal(open_exit(tmp, NULL, &rt), PKIE_ERR_EXIT_LOAD);
    assert_non_null(strstr(pkie_err_last()->msg, tmp));
    unlink(tmp);

    assert_int_equal(open_exit(build_path("tests/exits/exit_nosym.so"), NULL, &rt),
                     PKIE_ERR_EXIT_SYMBOL);
    assert_non_null(strstr(pkie_err_last()->msg, "cftpkie"));

    /* an ABI version the host does not know */
    assert_int_equal(open_exit(build_path("tests/exits/exit_malicious.so"), "bad=start_abi", &rt),
                     PKIE_ERR_EXIT_ABI);
    assert_non_null(strstr(pkie_err_last()->msg, "ABI version 99"));
    assert_non_null(strstr(pkie_err_last()->msg, "exit_malicious.so"));
    /* the handles_all exit refuses a configuration it cannot load */
    assert_int_equal(open_exit(build_path("tests/exits/exit_handles_all.so"),
                               "chain=/nonexistent key=/nonexistent ca=/nonexistent", &rt),
                     PKIE_ERR_EXIT_LOAD);
    assert_non_null(strstr(pkie_err_last()->msg, "bad configuration string"));
    /* the trace exit refuses to start without a file name */
    assert_int_equal(open_exit(build_path("exits/trace.so"), "", &rt), PKIE_ERR_EXIT_LOAD);
    assert_non_null(strstr(pkie_err_last()->msg, "trace"));
}

static void test_internal_needs_base(void **state)
{
    (void)state;
    struct pkie_tls_conf c = {0};
    struct pkie_tls_runtime *rt = NULL;
    assert_int_equal(pkie_tls_runtime_open(&c, &rt), PKIE_ERR_EXIT_NO_BASE);
    pkie_tls_conf_apply(&c, "pki.base", "/nonexistent/pki.db");
    assert_int_not_equal(pkie_tls_runtime_open(&c, &rt), 0);
    assert_null(rt);
    pkie_tls_conf_free(&c);
}

static void test_default_exit(void **state)
{
    (void)state;
    struct pkie_tls_runtime *rt = NULL;
    assert_int_equal(open_exit(build_path("exits/default.so"), NULL, &rt), 0);
    assert_string_equal(pkie_tls_runtime_exit_name(rt), "default.so");
    struct pkie_tls_task *t = NULL;
    assert_int_equal(pkie_tls_task_start(rt, 5, &t), 0);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
}

static void test_trace_exit_task(void **state)
{
    (void)state;
    char log[] = "/tmp/pkie-trace-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    struct pkie_tls_runtime *rt = NULL;
    assert_int_equal(open_exit(build_path("exits/trace.so"), log, &rt), 0);
    struct pkie_tls_task *t = NULL;
    assert_int_equal(pkie_tls_task_start(rt, 42, &t), 0);
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char lines[4][512];
    int n = 0;
    while (n < 4 && fgets(lines[n], sizeof(lines[n]), f) != NULL)
        n++;
    fclose(f);
    unlink(log);
    assert_int_equal(n, 4);
    assert_true(strncmp(lines[0], "StartTask task=0 ", 17) == 0); /* the load probe */
    assert_non_null(strstr(lines[0], "flags=1"));
    assert_true(strncmp(lines[1], "EndTask task=0 ", 15) == 0);
    assert_true(strncmp(lines[2], "StartTask task=42 xtask=1000042 ", 32) == 0);
    assert_true(strncmp(lines[3], "EndTask task=42 xtask=1000042 ", 30) == 0);
}

static void test_task_bad_answers(void **state)
{
    (void)state;
    const char *kinds[] = {"bad=start_mask", "bad=start_area", "bad=start_password"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct pkie_tls_runtime *rt = (void *)1;
        assert_int_equal(open_exit(build_path("tests/exits/exit_malicious.so"), kinds[i], &rt),
                         PKIE_ERR_EXIT_ANSWER);
        assert_null(rt);
    }
}

int main(void)
{
    pkie_log_set_level(PKIE_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_keys),           cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_internal_needs_base), cmocka_unit_test(test_default_exit),
        cmocka_unit_test(test_trace_exit_task),     cmocka_unit_test(test_task_bad_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
