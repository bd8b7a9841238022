/* Unit tests of the option parser of `pkie cmp` (apps/pkie/cmp_client_opts.c):
 * openssl cmp names, numbers checked, unknown and unsupported options refused,
 * configuration sections with openssl's precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp_client_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct cmpc_opts *o, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    while (args[argc] != NULL) {
        argv[argc] = (char *)(uintptr_t)args[argc];
        argc++;
    }
    return cmpc_opts_parse(o, argc, argv);
}

static void test_cli(void **state)
{
    (void)state;
    struct cmpc_opts o;
    const char *a[] = {"-cmd",  "ir", "-server",       "h:1", "-implicit_confirm",
                       "-popo", "-1", "--msg_timeout", "5",   "-config",
                       "",      NULL};
    assert_int_equal(parse(&o, a), 0);
    assert_string_equal(o.val[CMPC_cmd], "ir");
    assert_string_equal(o.val[CMPC_implicit_confirm], "1");
    assert_int_equal(cmpc_opt_int(&o, CMPC_popo, 1), -1);
    assert_int_equal(cmpc_opt_int(&o, CMPC_msg_timeout, 0), 5);
    assert_int_equal(cmpc_opt_int(&o, CMPC_total_timeout, 42), 42);
    assert_null(o.val[CMPC_secret]);
    cmpc_opts_free(&o);
}

static void test_cli_errors(void **state)
{
    (void)state;
    struct cmpc_opts o;
    const char *unknown[] = {"-cmd", "ir", "-nosuch", NULL};
    assert_int_equal(parse(&o, unknown), -1);
    cmpc_opts_free(&o);
    const char *missing[] = {"-cmd", NULL};
    assert_int_equal(parse(&o, missing), -1);
    cmpc_opts_free(&o);
    const char *neg[] = {"-days", "-1", NULL};
    assert_int_equal(parse(&o, neg), -1);
    cmpc_opts_free(&o);
    const char *nan[] = {"-revreason", "x", NULL};
    assert_int_equal(parse(&o, nan), -1);
    cmpc_opts_free(&o);
    const char *zero[] = {"-repeat", "0", NULL};
    assert_int_equal(parse(&o, zero), -1);
    cmpc_opts_free(&o);
    const char *mock[] = {"-srv_secret", "pass:x", NULL};
    assert_int_equal(parse(&o, mock), -1);
    cmpc_opts_free(&o);
    const char *arg[] = {"ir", NULL};
    assert_int_equal(parse(&o, arg), -1);
    cmpc_opts_free(&o);
    const char *nofile[] = {"-config", "/nonexistent/pkie.cnf", NULL};
    assert_int_equal(parse(&o, nofile), -1);
    cmpc_opts_free(&o);
}

static void test_config_sections(void **state)
{
    (void)state;
    char path[] = "/tmp/pkie-cmpc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# openssl-style\n"
          "msg_timeout = 11\n"
          "HOME = .\n"
          "[first]\n"
          "cmd = cr\n"
          "days = 30\n"
          "implicit_confirm = 1\n"
          "[second]\n"
          "cmd = kur\n"
          "subject = /CN=second\n"
          "disable_confirm = 0\n"
          "[bad]\n"
          "days = minus\n",
          f);
    fclose(f);
    struct cmpc_opts o;
    /* the first section wins over the second, [default] fills the rest, the
     * command line wins over all */
    const char *a[] = {"-config", path, "-section", "first,second", "-days", "7", NULL};
    assert_int_equal(parse(&o, a), 0);
    assert_string_equal(o.val[CMPC_cmd], "cr");
    assert_string_equal(o.val[CMPC_subject], "/CN=second");
    assert_string_equal(o.val[CMPC_days], "7");
    assert_string_equal(o.val[CMPC_msg_timeout], "11");
    assert_non_null(o.val[CMPC_implicit_confirm]);
    assert_null(o.val[CMPC_disable_confirm]);
    cmpc_opts_free(&o);
    const char *b[] = {"-config", path, "-section", "bad", NULL};
    assert_int_equal(parse(&o, b), -1);
    cmpc_opts_free(&o);
    const char *c[] = {"-config", path, "-section", "nosuch", NULL};
    assert_int_equal(parse(&o, c), -1);
    cmpc_opts_free(&o);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_config_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
