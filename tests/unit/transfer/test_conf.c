/* Unit tests: pkie recv/send configuration and partner DN matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <string.h>

static void test_parse(void **state)
{
    (void)state;
    struct pkie_xfer_conf c;
    const char *text = "listen = 127.0.0.1:7443\n"
                       "dir = /srv/in\n"
                       "tasks = 8\n"
                       "overwrite = yes\n"
                       "checkpoint = 16777216\n"
                       "direct_io = no\n"
                       "cert = recv\n"
                       "ca = root, inter\n"
                       "partner.acme.subject = CN=*,O=Acme\n"
                       "partner.acme.subject.2 = CN=backup,O=Acme Backup\n"
                       "partner.acme.address = acme.example:7443\n"
                       "partner.globex.subject = CN=globex-*,O=Globex,C=DE\n"
                       "pki.type = internal\n"
                       "pki.base = /var/lib/pkie/pki.db\n"
                       "tls.max_version = TLS1.3\n";
    assert_int_equal(pkie_xfer_conf_parse(text, "t.conf", &c), 0);
    assert_string_equal(c.listen, "127.0.0.1:7443");
    assert_int_equal(c.tasks, 8);
    assert_int_equal(c.overwrite, 1);
    assert_int_equal(c.checkpoint, 16777216);
    assert_int_equal(c.direct_io, 0);
    assert_int_equal(c.idle_timeout, 300); /* default */
    assert_int_equal(c.parallel, 1);       /* default */
    assert_int_equal(c.n_ca_ids, 2);
    assert_string_equal(c.ca_ids[1], "inter");
    assert_int_equal(c.n_partners, 2);
    assert_int_equal(c.n_all_subjects, 3);
    assert_string_equal(c.tls.pki_base, "/var/lib/pkie/pki.db");
    assert_int_equal(c.tls.min_version, PKIE_TLS_V1_3); /* our default */
    assert_non_null(strstr(c.tls.ciphersuites, "TLS_AES_128_GCM_SHA256"));
    const struct pkie_xfer_partner *p = pkie_xfer_conf_partner_for(&c, "CN=sender1,O=Acme");
    assert_non_null(p);
    assert_string_equal(p->name, "acme");
    assert_string_equal(p->address, "acme.example:7443");
    p = pkie_xfer_conf_partner_for(&c, "CN=backup,O=Acme Backup");
    assert_non_null(p);
    assert_string_equal(p->name, "acme");
    p = pkie_xfer_conf_partner_for(&c, "CN=globex-7,O=Globex,C=DE");
    assert_non_null(p);
    assert_string_equal(p->name, "globex");
    assert_null(pkie_xfer_conf_partner_for(&c, "CN=x,O=Evil"));
    assert_null(pkie_xfer_conf_partner(&c, "nobody"));
    assert_non_null(pkie_xfer_conf_partner(&c, "globex"));
    pkie_xfer_conf_free(&c);
}

static void test_parse_negative(void **state)
{
    (void)state;
    struct pkie_xfer_conf c;
    assert_int_equal(pkie_xfer_conf_parse("tasks = 0\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("nosuch = 1\n", "t", &c), PKIE_ERR_CONF_UNKNOWN_KEY);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("partner.a.color = red\n", "t", &c),
                     PKIE_ERR_CONF_UNKNOWN_KEY);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("partner.a.subject = nodn\n", "t", &c),
                     PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("partner.a.address = nohostport\n", "t", &c),
                     PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("tls.min_version = SSL3\n", "t", &c),
                     PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("pki.nosuch = 1\n", "t", &c), PKIE_ERR_CONF_UNKNOWN_KEY);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("checkpoint = 10\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("direct_io = maybe\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    /* the sender's concurrent sessions: 1..64 */
    assert_int_equal(pkie_xfer_conf_parse("parallel = 64\n", "t", &c), 0);
    assert_int_equal(c.parallel, 64);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("parallel = 0\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    /* metrics.listen: off by default; HOST numeric or localhost, PORT 0..65535 */
    assert_int_equal(pkie_xfer_conf_parse("tasks = 2\n", "t", &c), 0);
    assert_null(c.metrics_listen);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("metrics.listen = 127.0.0.1:9464\n", "t", &c), 0);
    assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("metrics.listen = [::1]:9464\n", "t", &c), 0);
    pkie_xfer_conf_free(&c);
    static const char *const bad_listen[] = {
        "metrics.listen = example.org:9464\n", "metrics.listen = 127.0.0.1\n",
        "metrics.listen = 127.0.0.1:65536\n", "metrics.listen = :9464\n", "metrics.port = 9464\n"};
    for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
        assert_true(pkie_xfer_conf_parse(bad_listen[i], "t", &c) < 0);
        pkie_xfer_conf_free(&c);
    }
    assert_int_equal(pkie_xfer_conf_parse("parallel = 65\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("parallel = x\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    /* the receiver's bounds on unauthenticated connections: safe defaults, 1.. */
    assert_int_equal(pkie_xfer_conf_parse("", "t", &c), 0);
    assert_int_equal(c.max_pending, 1024);
    assert_int_equal(c.max_pending_per_address, 64);
    assert_int_equal(c.first_byte_timeout, 10);
    assert_int_equal(c.handshake_timeout, 30);
    assert_int_equal(c.max_sessions, 256);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("max_sessions = 2\n", "t", &c), 0);
    assert_int_equal(c.max_sessions, 2);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("max_sessions = 0\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("max_sessions = 65537\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("max_pending_per_address = 0\n", "t", &c),
                     PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("first_byte_timeout = 0\n", "t", &c),
                     PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("first_byte_timeout = 3601\n", "t", &c),
                     PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_parse("max_pending = 0\n", "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    assert_int_equal(pkie_xfer_conf_load("/nonexistent.conf", &c), PKIE_ERR_IO);
    pkie_xfer_conf_free(&c);
}

static void test_dn_match(void **state)
{
    (void)state;
    assert_true(pkie_xfer_dn_match("CN=a,O=b", "CN=a,O=b"));
    assert_true(pkie_xfer_dn_match("cn=A, o=B", "CN=a,O=b"));
    assert_true(pkie_xfer_dn_match("CN=*,O=b", "CN=anything here,O=b"));
    assert_true(pkie_xfer_dn_match("CN=pre*post,O=b", "CN=pre-x-post,O=b"));
    assert_true(pkie_xfer_dn_match("CN=a\\,b,O=c", "CN=a\\,b,O=c"));
    assert_false(pkie_xfer_dn_match("CN=*,O=b", "CN=x,O=evil,O=b")); /* '*' stays in a value */
    assert_false(pkie_xfer_dn_match("CN=*,O=b", "CN=x+UID=1,O=b"));  /* nor crosses '+' */
    assert_false(pkie_xfer_dn_match("CN=a,O=b", "CN=a,O=b,C=DE"));   /* same attributes */
    assert_false(pkie_xfer_dn_match("CN=a,O=b", "CN=ab,O=b"));
    assert_false(pkie_xfer_dn_match("CN=a", NULL));
    assert_false(pkie_xfer_dn_match("CN=*", "CN=a\\,O=b,O=c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_negative),
        cmocka_unit_test(test_dn_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
