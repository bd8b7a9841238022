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
    assert_null(o.val[CMPC_no_cache_extracerts]);
    assert_null(o.val[CMPC_ta_in_ip_extracerts]);
    cmpc_opts_free(&o);
    /* the extraCerts flags of 3.3 and 4.0 */
    const char *x[] = {"-no_cache_extracerts", "-ta_in_ip_extracerts", "-config", "", NULL};
    assert_int_equal(parse(&o, x), 0);
    assert_string_equal(o.val[CMPC_no_cache_extracerts], "1");
    assert_string_equal(o.val[CMPC_ta_in_ip_extracerts], "1");
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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *tmpconf(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, text);
    return path;
}

/* openssl cmp's section lists: looked up from the last name to the first,
 * each falling back to [default]; the command line wins over all */
static void test_config_sections(void **state)
{
    (void)state;
    char path[] = "/tmp/pkie-cmpc-XXXXXX";
    tmpconf(path, "# openssl-style\n"
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
                  "days = minus\n"
                  "repeat = 0\n"
                  "[nonneg]\n"
                  "msg_timeout = -1\n");
    struct cmpc_opts o;
    const char *a[] = {"-config", path, "-section", "first,second", "-days", "7", NULL};
    assert_int_equal(parse(&o, a), 0);
    assert_string_equal(o.val[CMPC_cmd], "kur"); /* the last section wins */
    assert_string_equal(o.val[CMPC_subject], "/CN=second");
    assert_string_equal(o.val[CMPC_days], "7"); /* the command line wins */
    assert_string_equal(o.val[CMPC_msg_timeout], "11");
    assert_non_null(o.val[CMPC_implicit_confirm]);
    assert_null(o.val[CMPC_disable_confirm]); /* 0 = not set */
    cmpc_opts_free(&o);
    /* blanks and commas separate, in any number */
    const char *a2[] = {"-config", path, "-section", " second ,  first", NULL};
    assert_int_equal(parse(&o, a2), 0);
    assert_string_equal(o.val[CMPC_cmd], "cr");
    cmpc_opts_free(&o);
    /* [default] of a later name shadows an earlier section */
    const char *a3[] = {"-config", path, "-section", "first second", NULL};
    assert_int_equal(parse(&o, a3), 0);
    assert_string_equal(o.val[CMPC_msg_timeout], "11");
    cmpc_opts_free(&o);
    /* a number that does not parse is "not given"; a non-positive one
     * where a positive one is needed is an error */
    const char *b[] = {"-config", path, "-section", "bad", NULL};
    assert_int_equal(parse(&o, b), -1);
    cmpc_opts_free(&o);
    const char *b2[] = {"-config", path, "-section", "nonneg", NULL};
    assert_int_equal(parse(&o, b2), -1);
    cmpc_opts_free(&o);
    /* a named section must exist, each of a list */
    const char *c[] = {"-config", path, "-section", "nosuch", NULL};
    assert_int_equal(parse(&o, c), -1);
    cmpc_opts_free(&o);
    const char *c2[] = {"-config", path, "-section", "first,nosuch", NULL};
    assert_int_equal(parse(&o, c2), -1);
    cmpc_opts_free(&o);
    /* "" = [default]; the implicit [cmp] need not exist */
    const char *d[] = {"-config", path, "-section", "", NULL};
    assert_int_equal(parse(&o, d), 0);
    assert_string_equal(o.val[CMPC_msg_timeout], "11");
    assert_null(o.val[CMPC_cmd]);
    cmpc_opts_free(&o);
    const char *e[] = {"-config", path, NULL};
    assert_int_equal(parse(&o, e), 0);
    assert_string_equal(o.val[CMPC_msg_timeout], "11");
    cmpc_opts_free(&o);
    unlink(path);
}

/* An empty value is "not set" and ends the lookup; an empty argument resets
 * the option; keys that are no option are ignored */
static void test_config_empty_and_unknown(void **state)
{
    (void)state;
    char path[] = "/tmp/pkie-cmpc-XXXXXX";
    tmpconf(path, "cmd = ir\n"
                  "total_timeout = 120\n"
                  "newkeypass =\n"
                  "no_such_option = 1\n"
                  "[Mock]\n"
                  "server = 127.0.0.1:1\n"
                  "secret = pass:test\n"
                  "[commands]\n"
                  "cmd =\n"
                  "total_timeout =\n");
    struct cmpc_opts o;
    const char *a[] = {"-config", path, "-section", "Mock commands", NULL};
    assert_int_equal(parse(&o, a), 0);
    assert_null(o.val[CMPC_cmd]);           /* [commands] cmd = : not set */
    assert_null(o.val[CMPC_total_timeout]); /* a number too */
    assert_null(o.val[CMPC_newkeypass]);    /* [default] newkeypass = */
    assert_string_equal(o.val[CMPC_server], "127.0.0.1:1");
    cmpc_opts_free(&o);
    const char *b[] = {"-config", path, "-section", "Mock", "-secret", "", "-server", "", NULL};
    assert_int_equal(parse(&o, b), 0);
    assert_null(o.val[CMPC_secret]);
    assert_null(o.val[CMPC_server]);
    assert_string_equal(o.val[CMPC_cmd], "ir");
    cmpc_opts_free(&o);
    unlink(path);
}

/* $var, ${section::var}, ${ENV::VAR} and .include come from NCONF (the
 * included file's last section stays current after it, as in OpenSSL) */
static void test_config_expansion(void **state)
{
    (void)state;
    char inc[] = "/tmp/pkie-cmpc-inc-XXXXXX";
    tmpconf(inc, "[included]\nrecipient = /CN=included\n");
    char text[512];
    snprintf(text, sizeof(text),
             "srvport = 4711\n"
             ".include %s\n"
             "[Mock]\n"
             "server_host = 127.0.0.1\n"
             "server = $server_host:${default::srvport}\n"
             "ref = ${ENV::PKIE_TEST_CMPC_REF}\n"
             "[x]\n"
             "recipient = ${included::recipient}\n",
             inc);
    char path[] = "/tmp/pkie-cmpc-XXXXXX";
    tmpconf(path, text);
    setenv("PKIE_TEST_CMPC_REF", "the-ref", 1);
    struct cmpc_opts o;
    const char *a[] = {"-config", path, "-section", "Mock,x", NULL};
    assert_int_equal(parse(&o, a), 0);
    assert_string_equal(o.val[CMPC_server], "127.0.0.1:4711");
    assert_string_equal(o.val[CMPC_ref], "the-ref");
    assert_string_equal(o.val[CMPC_recipient], "/CN=included");
    cmpc_opts_free(&o);
    /* an unset variable is an error of the file */
    write_file(path, "[Mock]\nserver = $nosuch\n");
    const char *b[] = {"-config", path, "-section", "Mock", NULL};
    assert_int_equal(parse(&o, b), -1);
    cmpc_opts_free(&o);
    unlink(path);
    unlink(inc);
}

/* section names longer than openssl's 40 characters are cut */
static void test_section_list_walk(void **state)
{
    (void)state;
    char item[CMPC_SECTION_MAX + 1];
    const char *l = "a, b c,,d";
    const char *end = l + strlen(l);
    const char *want[] = {"d", "c", "b", "a"};
    for (int i = 0; i < 4; i++) {
        end = cmpc_section_prev(l, end, item);
        assert_non_null(end);
        assert_string_equal(item, want[i]);
    }
    assert_null(cmpc_section_prev(l, end, item));
    char longname[64];
    memset(longname, 'x', 50);
    longname[50] = '\0';
    end = cmpc_section_prev(longname, longname + 50, item);
    assert_int_equal(strlen(item), CMPC_SECTION_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_config_sections),
        cmocka_unit_test(test_config_empty_and_unknown),
        cmocka_unit_test(test_config_expansion),
        cmocka_unit_test(test_section_list_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
