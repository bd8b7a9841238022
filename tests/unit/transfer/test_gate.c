/* Unit tests: the receiver's admission gate (bounds in total and per peer
 * address, release, deadlines), with negative cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gate.h"
#include "pkie/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static struct sockaddr_storage v4(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(4711);
    assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
    return ss;
}

static void test_bad_limits(void **state)
{
    (void)state;
    struct xfer_gate *g = (struct xfer_gate *)1;
    struct xfer_gate_limits l = {.max_total = 0, .max_per_addr = 1};
    assert_int_equal(xfer_gate_new(&l, &g), PKIE_ERR_ARG);
    assert_null(g);
    l = (struct xfer_gate_limits){.max_total = 1, .max_per_addr = 0};
    assert_int_equal(xfer_gate_new(&l, &g), PKIE_ERR_ARG);
    l = (struct xfer_gate_limits){.max_total = (1u << 24) + 1, .max_per_addr = 1};
    assert_int_equal(xfer_gate_new(&l, &g), PKIE_ERR_ARG);
    assert_int_equal(xfer_gate_new(NULL, &g), PKIE_ERR_ARG);
    xfer_gate_free(NULL);
}

static void test_per_address(void **state)
{
    (void)state;
    struct xfer_gate *g;
    struct xfer_gate_limits l = {.max_total = 100, .max_per_addr = 3};
    assert_int_equal(xfer_gate_new(&l, &g), 0);
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    for (int i = 0; i < 3; i++)
        assert_int_equal(xfer_gate_admit(g, &a), 0);
    assert_int_equal(xfer_gate_admit(g, &a), PKIE_ERR_LIMIT);
    assert_non_null(strstr(pkie_err_last()->msg, "max_pending_per_address"));
    /* another address is not affected; the port does not matter */
    assert_int_equal(xfer_gate_admit(g, &b), 0);
    assert_int_equal(xfer_gate_count(g, &a), 3);
    assert_int_equal(xfer_gate_count(g, &b), 1);
    assert_int_equal(xfer_gate_count(g, NULL), 4);
    /* a release frees one place of that address */
    xfer_gate_release(g, &a);
    assert_int_equal(xfer_gate_admit(g, &a), 0);
    assert_int_equal(xfer_gate_admit(g, &a), PKIE_ERR_LIMIT);
    /* releasing an address never admitted changes nothing */
    struct sockaddr_storage c = v4("198.51.100.7");
    xfer_gate_release(g, &c);
    assert_int_equal(xfer_gate_count(g, NULL), 4);
    /* an IPv4-mapped IPv6 address is the same peer as its IPv4 form */
    struct sockaddr_storage am = v6("::ffff:192.0.2.1");
    assert_int_equal(xfer_gate_count(g, &am), 3);
    assert_int_equal(xfer_gate_admit(g, &am), PKIE_ERR_LIMIT);
    xfer_gate_free(g);
}

static void test_total(void **state)
{
    (void)state;
    struct xfer_gate *g;
    struct xfer_gate_limits l = {.max_total = 40, .max_per_addr = 40};
    assert_int_equal(xfer_gate_new(&l, &g), 0);
    char a[64];
    struct sockaddr_storage ss[40];
    for (int i = 0; i < 40; i++) { /* 40 addresses: every node of the pool in use */
        snprintf(a, sizeof(a), "2001:db8::%x", i + 1);
        ss[i] = v6(a);
        assert_int_equal(xfer_gate_admit(g, &ss[i]), 0);
    }
    struct sockaddr_storage x = v4("203.0.113.9");
    assert_int_equal(xfer_gate_admit(g, &x), PKIE_ERR_LIMIT);
    assert_non_null(strstr(pkie_err_last()->msg, "max_pending"));
    assert_int_equal(xfer_gate_admit(g, &ss[5]), PKIE_ERR_LIMIT); /* total first */
    /* release everything in another order: the pool comes back whole */
    for (int i = 39; i >= 0; i -= 2)
        xfer_gate_release(g, &ss[i]);
    for (int i = 38; i >= 0; i -= 2)
        xfer_gate_release(g, &ss[i]);
    assert_int_equal(xfer_gate_count(g, NULL), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(xfer_gate_admit(g, &x), 0);
    assert_int_equal(xfer_gate_admit(g, &x), PKIE_ERR_LIMIT);
    assert_int_equal(xfer_gate_count(g, &x), 40);
    xfer_gate_free(g);
}

static void test_deadlines(void **state)
{
    (void)state;
    struct xfer_gate_limits l = {
        .max_total = 1, .max_per_addr = 1, .first_byte_ms = 5000, .handshake_ms = 30000};
    /* no byte yet: the first byte's deadline */
    assert_int_equal(xfer_gate_deadline(&l, 1000, 0), 6000);
    /* once a byte came: the whole handshake's, from the accept (a trickler
     * gains nothing by sending a byte now and then) */
    assert_int_equal(xfer_gate_deadline(&l, 1000, 5999), 31000);
    assert_int_equal(xfer_gate_deadline(&l, 1000, 1001), 31000);
    /* a first-byte deadline longer than the handshake's never extends it */
    l.first_byte_ms = 60000;
    assert_int_equal(xfer_gate_deadline(&l, 1000, 0), 31000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_limits),
        cmocka_unit_test(test_per_address),
        cmocka_unit_test(test_total),
        cmocka_unit_test(test_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
