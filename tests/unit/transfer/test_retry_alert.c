/* Unit tests: TLS alert names (alert.c) and the retry classification
 * (retry.c): every RFC 8446 section 6 alert by name, none for -1, refusals
 * never retried, a full disk later, transient errors now. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <string.h>

static void test_alert_names(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *name;
    } rfc8446[] = {
        {0, "close_notify"},
        {10, "unexpected_message"},
        {20, "bad_record_mac"},
        {22, "record_overflow"},
        {40, "handshake_failure"},
        {42, "bad_certificate"},
        {43, "unsupported_certificate"},
        {44, "certificate_revoked"},
        {45, "certificate_expired"},
        {46, "certificate_unknown"},
        {47, "illegal_parameter"},
        {48, "unknown_ca"},
        {49, "access_denied"},
        {50, "decode_error"},
        {51, "decrypt_error"},
        {70, "protocol_version"},
        {71, "insufficient_security"},
        {80, "internal_error"},
        {86, "inappropriate_fallback"},
        {90, "user_canceled"},
        {109, "missing_extension"},
        {110, "unsupported_extension"},
        {112, "unrecognized_name"},
        {113, "bad_certificate_status_response"},
        {115, "unknown_psk_identity"},
        {116, "certificate_required"},
        {120, "no_application_protocol"},
    };
    for (size_t i = 0; i < sizeof(rfc8446) / sizeof(rfc8446[0]); i++)
        assert_string_equal(pkie_tls_alert_name(rfc8446[i].code), rfc8446[i].name);
    /* the reserved ones keep their TLS 1.2 names */
    assert_string_equal(pkie_tls_alert_name(21), "decryption_failed");
    assert_string_equal(pkie_tls_alert_name(41), "no_certificate");
    assert_string_equal(pkie_tls_alert_name(100), "no_renegotiation");
    /* no alert, an unassigned one, out of range */
    assert_string_equal(pkie_tls_alert_name(-1), "none");
    assert_string_equal(pkie_tls_alert_name(99), "unassigned");
    assert_string_equal(pkie_tls_alert_name(255), "unassigned");
    assert_string_equal(pkie_tls_alert_name(256), "none");
}

static void test_retry_kinds(void **state)
{
    (void)state;
    /* refusals of partner, name, size, file: never */
    const int never[] = {
        PKIE_ERR_XFER_DENIED,      PKIE_ERR_XFER_NAME,       PKIE_ERR_XFER_EXISTS,
        PKIE_ERR_XFER_RESERVED,    PKIE_ERR_XFER_TOO_BIG,    PKIE_ERR_XFER_RESUME,
        PKIE_ERR_XFER_CHANGED,     PKIE_ERR_XFER_FILE,       PKIE_ERR_XFER_VERSION,
        PKIE_ERR_XFER_MALFORMED,   PKIE_ERR_XFER_UNEXPECTED, PKIE_ERR_XFER_FRAME_TYPE,
        PKIE_ERR_XFER_FRAME_LENGTH};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        assert_int_equal(pkie_xfer_retry_kind(never[i], -1), PKIE_XFER_RETRY_NO);
    /* transient */
    const int now[] = {PKIE_ERR_XFER_CLOSED,   PKIE_ERR_XFER_TLS,  PKIE_ERR_XFER_BUSY,
                       PKIE_ERR_XFER_SHUTDOWN, PKIE_ERR_XFER_HASH, PKIE_ERR_XFER_TRUNCATED,
                       PKIE_ERR_TIMEOUT,       PKIE_ERR_IO,        PKIE_ERR_XFER_PEER};
    for (size_t i = 0; i < sizeof(now) / sizeof(now[0]); i++)
        assert_int_equal(pkie_xfer_retry_kind(now[i], -1), PKIE_XFER_RETRY_NOW);
    assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_DISK_FULL, -1), PKIE_XFER_RETRY_LATER);
    assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_OVERLOADED, -1), PKIE_XFER_RETRY_NOW);
    /* a TLS failure is a refusal when its alert refuses: certificate,
     * CA, revoked, expired, missing, version, access */
    const int refusing[] = {40, 42, 43, 44, 45, 46, 48, 49, 51, 70, 71, 116};
    for (size_t i = 0; i < sizeof(refusing) / sizeof(refusing[0]); i++)
        assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_TLS, refusing[i]), PKIE_XFER_RETRY_NO);
    /* an alert that ends a connection or says the peer failed is not */
    assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_TLS, 0), PKIE_XFER_RETRY_NOW);
    assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_TLS, 80), PKIE_XFER_RETRY_NOW);
    assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_CLOSED, 90), PKIE_XFER_RETRY_NOW);
    /* the alert wins over a transient code */
    assert_int_equal(pkie_xfer_retry_kind(PKIE_ERR_XFER_CLOSED, 45), PKIE_XFER_RETRY_NO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_names),
        cmocka_unit_test(test_retry_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
