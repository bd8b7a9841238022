/* Unit tests: the PKCS#11 exit's configuration string parser and PIN reader
 * (exits/pkcs11/conf.c), with every kind of malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11x.h"

#define MOD   "module=/usr/lib/softhsm/libsofthsm2.so "
#define TOK   "token=pkie "
#define KEY   "key=srv "
#define PIN   "pin-file=/etc/pkie/pin "
#define CHAIN "chain=/etc/pkie/chain.pem"
#define BASE  MOD TOK KEY PIN CHAIN

static char err[256];

static int parse(const char *text, struct p11x_conf *c)
{
    return p11x_conf_parse(text, strlen(text) + 1, c, err, sizeof(err));
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static void test_minimal(void **state)
{
    (void)state;
    struct p11x_conf c;
    assert_int_equal(parse(BASE, &c), 0);
    assert_string_equal(c.module, "/usr/lib/softhsm/libsofthsm2.so");
    assert_string_equal(c.token, "pkie");
    assert_string_equal(c.key_label, "srv");
    assert_int_equal(c.key_id_len, 0);
    assert_string_equal(c.pin_file, "/etc/pkie/pin");
    assert_string_equal(c.pin_env, "");
    assert_string_equal(c.chain, "/etc/pkie/chain.pem");
    assert_string_equal(c.log, "");
}

static void test_any_order_blanks_tabs(void **state)
{
    (void)state;
    struct p11x_conf c;
    assert_int_equal(parse("  \tchain=/c.pem\t\tlog=/l  key=k pin-env=P11_PIN token=t "
                           "module=/m.so  ",
                           &c),
                     0);
    assert_string_equal(c.chain, "/c.pem");
    assert_string_equal(c.log, "/l");
    assert_string_equal(c.pin_env, "P11_PIN");
    assert_string_equal(c.pin_file, "");
}

static void test_quoted_values(void **state)
{
    (void)state;
    struct p11x_conf c;
    assert_int_equal(parse(MOD "token=\"My HSM token\" key=\"a \\\"b\\\" \\\\c\" " PIN CHAIN, &c),
                     0);
    assert_string_equal(c.token, "My HSM token");
    assert_string_equal(c.key_label, "a \"b\" \\c");
}

static void test_key_id(void **state)
{
    (void)state;
    struct p11x_conf c;
    assert_int_equal(parse(MOD TOK "key-id=00A1ff " PIN CHAIN, &c), 0);
    assert_int_equal(c.key_id_len, 3);
    assert_int_equal(c.key_id[0], 0x00);
    assert_int_equal(c.key_id[1], 0xa1);
    assert_int_equal(c.key_id[2], 0xff);
    assert_string_equal(c.key_label, "");
    /* 64 bytes is the largest CKA_ID */
    char t[512];
    snprintf(t, sizeof(t), MOD TOK PIN CHAIN " key-id=%0128d", 0);
    assert_int_equal(parse(t, &c), 0);
    assert_int_equal(c.key_id_len, 64);
}

static void test_token_label_32(void **state)
{
    (void)state;
    struct p11x_conf c;
    assert_int_equal(parse(MOD KEY PIN CHAIN " token=0123456789abcdef0123456789abcdef", &c), 0);
    assert_int_equal(strlen(c.token), 32);
}

struct bad {
    const char *text;
    int code;
    const char *needle; /* in the message */
};

static const struct bad bads[] = {
    {"", P11X_E_MISSING, "module= is required"},
    {"   ", P11X_E_MISSING, "module="},
    {MOD TOK KEY PIN, P11X_E_MISSING, "chain= is required"},
    {MOD KEY PIN CHAIN, P11X_E_MISSING, "token= is required"},
    {TOK KEY PIN CHAIN, P11X_E_MISSING, "module= is required"},
    {MOD TOK PIN CHAIN, P11X_E_MISSING, "key= (label) or key-id="},
    {MOD TOK KEY CHAIN, P11X_E_MISSING, "pin-file= or pin-env="},
    {BASE " key-id=01", P11X_E_CONFLICT, "key= and key-id="},
    {BASE " pin-env=PIN", P11X_E_CONFLICT, "pin-file= and pin-env="},
    {BASE " pin=1234", P11X_E_PIN_IN_CONF, "never goes in the configuration"},
    {BASE " password=1234", P11X_E_PIN_IN_CONF, "pin-file= or pin-env="},
    {BASE " slot=1", P11X_E_UNKNOWN_KEY, "unknown key \"slot\""},
    {BASE " Module=/x", P11X_E_UNKNOWN_KEY, "unknown key"},
    {BASE " token=again", P11X_E_DUPLICATE, "token= given twice"},
    {BASE " log=/a log=/b", P11X_E_DUPLICATE, "log= given twice"},
    {BASE " log", P11X_E_SYNTAX, "\"log\" is not key=value"},
    {BASE " =x", P11X_E_SYNTAX, "is not key=value"},
    {BASE " log =/x", P11X_E_SYNTAX, "is not key=value"},
    {BASE " \"log\"=/x", P11X_E_SYNTAX, "is not key=value"},
    {BASE " log=", P11X_E_EMPTY, "log= has an empty value"},
    {BASE " log=\"\"", P11X_E_EMPTY, "empty value"},
    {MOD "token= " KEY PIN CHAIN, P11X_E_EMPTY, "token= has an empty value"},
    {BASE " log=\"/a b", P11X_E_QUOTE, "unterminated quote"},
    {BASE " log=\"/a\\nb\"", P11X_E_QUOTE, "may be escaped"},
    {BASE " log=\"/a\\", P11X_E_QUOTE, "may be escaped"},
    {BASE " log=\"/a\"b", P11X_E_SYNTAX, "blank expected after the quote"},
    {BASE " log=/a\"b\"", P11X_E_SYNTAX, "quote inside an unquoted value"},
    {BASE " log=/a\nb", P11X_E_SYNTAX, "control character 0x0a"},
    {BASE " log=/a\x7f", P11X_E_SYNTAX, "control character 0x7f"},
    {MOD KEY PIN CHAIN " token=0123456789abcdef0123456789abcdefX", P11X_E_TOO_LONG,
     "token: value longer than 32 bytes"},
    {"module=lib/softhsm2.so " TOK KEY PIN CHAIN, P11X_E_VALUE,
     "module=lib/softhsm2.so: the path must be absolute"},
    {MOD TOK KEY "pin-file=pin " CHAIN, P11X_E_VALUE, "must be absolute"},
    {MOD TOK KEY PIN "chain=c.pem", P11X_E_VALUE, "must be absolute"},
    {BASE " log=l", P11X_E_VALUE, "log=l: the path must be absolute"},
    {MOD TOK KEY "pin-env=1PIN " CHAIN, P11X_E_VALUE, "not an environment variable name"},
    {MOD TOK KEY "pin-env=P-IN " CHAIN, P11X_E_VALUE, "not an environment variable name"},
    {MOD TOK "key-id=abc " PIN CHAIN, P11X_E_VALUE, "even number of hex digits"},
    {MOD TOK "key-id=0g " PIN CHAIN, P11X_E_VALUE, "\"0g\" is not hex"},
    {MOD TOK "key-id=0x01 " PIN CHAIN, P11X_E_VALUE, "is not hex"},
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct p11x_conf c;
        memset(&c, 0xa5, sizeof(c));
        err[0] = '\0';
        int rc = parse(bads[i].text, &c);
        if (rc != bads[i].code || strstr(err, bads[i].needle) == NULL)
            fail_msg("case %zu \"%s\": rc %d (expected %d), message \"%s\" (expected \"%s\")", i,
                     bads[i].text, rc, bads[i].code, err, bads[i].needle);
        assert_true(is_zero(&c, sizeof(c))); /* nothing half-parsed is left */
    }
}

static void test_key_id_too_long(void **state)
{
    (void)state;
    struct p11x_conf c;
    char t[512];
    snprintf(t, sizeof(t), MOD TOK PIN CHAIN " key-id=%0130d", 0);
    assert_int_equal(parse(t, &c), P11X_E_VALUE);
    assert_non_null(strstr(err, "1..64 bytes"));
}

static void test_path_too_long(void **state)
{
    (void)state;
    struct p11x_conf c;
    char t[1024];
    int n = snprintf(t, sizeof(t), TOK KEY PIN CHAIN " module=/");
    memset(t + n, 'a', 600);
    t[n + 600] = '\0';
    assert_int_equal(p11x_conf_parse(t, sizeof(t), &c, err, sizeof(err)), P11X_E_TOO_LONG);
    assert_non_null(strstr(err, "module: value longer than 511 bytes"));
}

static void test_unterminated_and_null(void **state)
{
    (void)state;
    struct p11x_conf c;
    char t[8];
    memset(t, 'a', sizeof(t));
    assert_int_equal(p11x_conf_parse(t, sizeof(t), &c, err, sizeof(err)), P11X_E_SYNTAX);
    assert_non_null(strstr(err, "not terminated"));
    assert_int_equal(p11x_conf_parse(NULL, 0, &c, err, sizeof(err)), P11X_E_SYNTAX);
    /* a NULL error buffer is allowed */
    assert_int_equal(p11x_conf_parse("x", 2, &c, NULL, 0), P11X_E_SYNTAX);
}

/* ---- PIN reader ---- */

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/p11x-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_pin_file(void **state)
{
    (void)state;
    struct p11x_conf c;
    memset(&c, 0, sizeof(c));
    snprintf(c.pin_file, sizeof(c.pin_file), "%s/pin", dir);
    char pin[P11X_PIN_CAP];
    size_t len = 0;
    write_file(c.pin_file, "1234\nsecond line\n", 0600);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), 0);
    assert_string_equal(pin, "1234");
    assert_int_equal(len, 4);
    write_file(c.pin_file, "ab cd\r\n", 0400);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), 0);
    assert_string_equal(pin, "ab cd");
    write_file(c.pin_file, "no newline", 0600);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), 0);
    assert_string_equal(pin, "no newline");
}

static void test_pin_file_bad(void **state)
{
    (void)state;
    struct p11x_conf c;
    memset(&c, 0, sizeof(c));
    snprintf(c.pin_file, sizeof(c.pin_file), "%s/pin2", dir);
    char pin[16];
    size_t len = 7;
    /* missing */
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(len, 0);
    /* readable by others */
    write_file(c.pin_file, "1234\n", 0644);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "mode 0644"));
    write_file(c.pin_file, "1234\n", 0620);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    /* empty first line, empty file */
    write_file(c.pin_file, "\n1234\n", 0600);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "first line is empty"));
    write_file(c.pin_file, "", 0600);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    /* too long for the buffer: 15 bytes fit with the NUL, not 16 */
    write_file(c.pin_file, "0123456789abcde\n", 0600);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), 0);
    assert_int_equal(len, 15);
    write_file(c.pin_file, "0123456789abcdef\n", 0600);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "longer than"));
    assert_true(is_zero(pin, sizeof(pin))); /* wiped on failure */
    /* a directory */
    snprintf(c.pin_file, sizeof(c.pin_file), "%s", dir);
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "not a regular file"));
}

static void test_pin_env(void **state)
{
    (void)state;
    struct p11x_conf c;
    memset(&c, 0, sizeof(c));
    snprintf(c.pin_env, sizeof(c.pin_env), "P11X_TEST_PIN");
    char pin[16];
    size_t len = 0;
    unsetenv("P11X_TEST_PIN");
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "P11X_TEST_PIN is not set"));
    setenv("P11X_TEST_PIN", "", 1);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_non_null(strstr(err, "is empty"));
    setenv("P11X_TEST_PIN", "0123456789abcdef", 1);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), P11X_E_PIN);
    assert_null(strstr(err, "0123")); /* the value never appears in a message */
    setenv("P11X_TEST_PIN", "4321", 1);
    assert_int_equal(p11x_pin_read(&c, pin, sizeof(pin), &len, err, sizeof(err)), 0);
    assert_string_equal(pin, "4321");
    assert_int_equal(len, 4);
    unsetenv("P11X_TEST_PIN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_any_order_blanks_tabs),
        cmocka_unit_test(test_quoted_values),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_token_label_32),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_key_id_too_long),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_unterminated_and_null),
        cmocka_unit_test_setup_teardown(test_pin_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_pin_file_bad, setup_dir, teardown_dir),
        cmocka_unit_test(test_pin_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
