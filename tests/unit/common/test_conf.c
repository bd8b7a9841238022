/* Unit tests: configuration reader (include/pkie/conf.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/conf.h"
#include "pkie/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cfg {
    char *type;
    char *libpath;
    long long tasks;
    int verbose;
    int mode;
    int partners;
    char last_partner[64];
};

static const char *const modes[] = {"internal", "exit", NULL};

static int on_partner(void *dst, const char *key, const char *value, unsigned line, void *arg)
{
    (void)line;
    (void)arg;
    struct cfg *c = dst;
    if (strcmp(value, "reject") == 0)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "partner %s rejected", key);
    c->partners++;
    snprintf(c->last_partner, sizeof(c->last_partner), "%s=%s", key, value);
    return 0;
}

static const struct pkie_conf_key keys[] = {
    {.name = "pki.type",
     .type = PKIE_CONF_ENUM,
     .offset = offsetof(struct cfg, mode),
     .choices = modes},
    {.name = "pki.exit.libpath", .type = PKIE_CONF_STRING, .offset = offsetof(struct cfg, libpath)},
    {.name = "name",
     .type = PKIE_CONF_STRING,
     .offset = offsetof(struct cfg, type),
     .required = 1,
     .help = "monitor name"},
    {.name = "tasks",
     .type = PKIE_CONF_INT,
     .offset = offsetof(struct cfg, tasks),
     .min = 1,
     .max = 64},
    {.name = "verbose", .type = PKIE_CONF_BOOL, .offset = offsetof(struct cfg, verbose)},
    {.name = "partner.*.cert", .type = PKIE_CONF_CALLBACK, .cb = on_partner},
    {.name = NULL},
};

static int parse(const char *text, struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    return pkie_conf_parse(text, strlen(text), "t.conf", keys, c, NULL);
}

static void test_valid(void **state)
{
    (void)state;
    struct cfg c;
    const char *text = "# comment\n"
                       "\n"
                       "  name = mon1   \n"
                       "pki.type=exit\n"
                       "pki.exit.libpath = \"/opt/x #1/lib.so\"  # trailing\n"
                       "tasks = 8 # inline comment\r\n"
                       "verbose = yes\n"
                       "partner.acme.cert = acme.pem\n"
                       "partner.globex.cert = 'C:\\certs\\g.pem'\n";
    assert_int_equal(parse(text, &c), 0);
    assert_string_equal(c.type, "mon1");
    assert_int_equal(c.mode, 1);
    assert_string_equal(c.libpath, "/opt/x #1/lib.so");
    assert_int_equal(c.tasks, 8);
    assert_int_equal(c.verbose, 1);
    assert_int_equal(c.partners, 2);
    assert_string_equal(c.last_partner, "partner.globex.cert=C:\\certs\\g.pem");
    pkie_conf_free(keys, &c);
    assert_null(c.type);
}

static void test_escapes_and_empty(void **state)
{
    (void)state;
    struct cfg c;
    assert_int_equal(parse("name = \"a\\\"b\\\\c\\td\"\npki.exit.libpath =\n", &c), 0);
    assert_string_equal(c.type, "a\"b\\c\td");
    assert_string_equal(c.libpath, "");
    pkie_conf_free(keys, &c);
}

static void expect_error(const char *text, int code, const char *needle)
{
    struct cfg c;
    int rc = parse(text, &c);
    pkie_conf_free(keys, &c);
    assert_int_equal(rc, code);
    if (strstr(pkie_err_last()->msg, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", pkie_err_last()->msg, needle);
}

static void test_errors_with_lines(void **state)
{
    (void)state;
    expect_error("name = a\nbogus = 1\n", PKIE_ERR_CONF_UNKNOWN_KEY,
                 "t.conf:2: unknown key 'bogus'");
    expect_error("name = a\n\n just text\n", PKIE_ERR_CONF_SYNTAX, "t.conf:3: expected '='");
    expect_error("= value\n", PKIE_ERR_CONF_SYNTAX, "t.conf:1: expected a key");
    expect_error("name = a\nname = b\n", PKIE_ERR_CONF_DUPLICATE,
                 "t.conf:2: key 'name' given twice");
    expect_error("tasks = 2\n", PKIE_ERR_CONF_MISSING,
                 "required key 'name' is missing (monitor name)");
    expect_error("name = a\ntasks = 0\n", PKIE_ERR_CONF_VALUE,
                 "t.conf:2: 'tasks' must be within 1..64");
    expect_error("name = a\ntasks = 9x\n", PKIE_ERR_CONF_VALUE, "needs an integer");
    expect_error("name = a\ntasks = 99999999999999999999999\n", PKIE_ERR_CONF_VALUE,
                 "needs an integer");
    expect_error("name = a\ntasks =\n", PKIE_ERR_CONF_VALUE, "needs an integer");
    expect_error("name = a\nverbose = maybe\n", PKIE_ERR_CONF_VALUE, "needs yes or no");
    expect_error("name = a\npki.type = hsm\n", PKIE_ERR_CONF_VALUE, "does not accept 'hsm'");
    expect_error("name = \"open\n", PKIE_ERR_CONF_QUOTE, "t.conf:1: missing closing \"");
    expect_error("name = \"a\\q\"\n", PKIE_ERR_CONF_QUOTE, "unknown escape");
    expect_error("name = \"a\" b\n", PKIE_ERR_CONF_SYNTAX, "text after closing quote");
    expect_error("name = a\"b\n", PKIE_ERR_CONF_QUOTE, "quote inside");
    expect_error("name = a\x01\n", PKIE_ERR_CONF_SYNTAX, "control character");
    expect_error("name = a\npartner.x.y.cert = z\n", PKIE_ERR_CONF_UNKNOWN_KEY, "unknown key");
    expect_error("name = a\npartner..cert = z\n", PKIE_ERR_CONF_UNKNOWN_KEY, "unknown key");
    expect_error("name = a\npartner.p.cert = reject\n", PKIE_ERR_CONF_VALUE,
                 "partner partner.p.cert rejected");
    expect_error("name = a\npartner.p.cert = x\npartner.p.cert = y\n", PKIE_ERR_CONF_DUPLICATE,
                 "t.conf:3:");
}

static void test_nul_and_long_lines(void **state)
{
    (void)state;
    struct cfg c;
    memset(&c, 0, sizeof(c));
    const char text[] = "name = a\0b\n";
    assert_int_equal(pkie_conf_parse(text, sizeof(text) - 1, "t", keys, &c, NULL),
                     PKIE_ERR_CONF_SYNTAX);
    pkie_conf_free(keys, &c);
    size_t n = PKIE_CONF_MAX_LINE + 100;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memcpy(big, "name = ", 7);
    memset(big + 7, 'v', n - 7);
    big[n] = '\0';
    assert_int_equal(parse(big, &c), PKIE_ERR_CONF_SYNTAX);
    assert_non_null(strstr(pkie_err_last()->msg, "line longer"));
    pkie_conf_free(keys, &c);
    free(big);
    assert_int_equal(pkie_conf_parse("x", PKIE_CONF_MAX_SIZE + 1, "t", keys, &c, NULL),
                     PKIE_ERR_LIMIT);
    assert_int_equal(pkie_conf_parse(NULL, 0, "t", keys, &c, NULL), PKIE_ERR_ARG);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/pkie-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "name = fromfile\ntasks = 3\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct cfg c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(pkie_conf_load(path, keys, &c, NULL), 0);
    assert_string_equal(c.type, "fromfile");
    assert_int_equal(c.tasks, 3);
    pkie_conf_free(keys, &c);
    unlink(path);
    assert_int_equal(pkie_conf_load(path, keys, &c, NULL), PKIE_ERR_IO);
    assert_non_null(strstr(pkie_err_last()->msg, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_escapes_and_empty),
        cmocka_unit_test(test_errors_with_lines),
        cmocka_unit_test(test_nul_and_long_lines),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
