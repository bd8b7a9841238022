/* Unit tests: UTCTime and GeneralizedTime, read strictly and written
 * canonically. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "der_test.h"

/* Read "text" as a time of @p type; returns the code, *off the error offset
 * relative to the contents (the element header is 2 bytes). */
static int read_time(uint32_t type, const char *text, struct pkie_der_time *t, size_t *off)
{
    size_t n = strlen(text);
    uint8_t *b = malloc(n + 2);
    b[0] = (uint8_t)type;
    b[1] = (uint8_t)n;
    memcpy(b + 2, text, n);
    struct pkie_der d;
    pkie_der_init(&d, b, n + 2);
    pkie_err_clear();
    int rc = pkie_der_read_time(&d, type, type, t);
    *off = pkie_err_last()->offset - 2;
    if (rc != 0)
        assert_ptr_equal(d.p, b);
    else
        assert_true(pkie_der_at_end(&d));
    free(b);
    return rc;
}

/* Write @p t as @p type and compare with "text". */
static void assert_writes(uint32_t type, int64_t secs, uint32_t nanos, const char *text)
{
    struct pkie_der_time t = {secs, nanos};
    struct pkie_derw w;
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_time(&w, type, type, &t), 0);
    const uint8_t *out;
    size_t len;
    assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
    assert_int_equal(len, strlen(text) + 2);
    assert_int_equal(out[0], type);
    assert_memory_equal(out + 2, text, strlen(text));
    pkie_derw_free(&w);
}

static void test_good(void **state)
{
    (void)state;
    static const struct {
        uint32_t type;
        const char *text;
        int64_t secs;
        uint32_t nanos;
    } good[] = {
        {PKIE_DER_UTC_TIME, "491231235959Z", 2524607999, 0},
        {PKIE_DER_UTC_TIME, "500101000000Z", -631152000, 0},
        {PKIE_DER_UTC_TIME, "691231235959Z", -1, 0},
        {PKIE_DER_UTC_TIME, "700101000000Z", 0, 0},
        {PKIE_DER_UTC_TIME, "240229235959Z", 1709251199, 0},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959Z", 1709251199, 0},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.123Z", 1709251199, 123000000},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.000000001Z", 1709251199, 1},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.999999999Z", 1709251199, 999999999},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.5Z", 1709251199, 500000000},
        {PKIE_DER_GENERALIZED_TIME, "20000229120000Z", 951825600, 0},
        {PKIE_DER_GENERALIZED_TIME, "00000101000000Z", -62167219200, 0},
        {PKIE_DER_GENERALIZED_TIME, "99991231235959Z", 253402300799, 0},
        {PKIE_DER_GENERALIZED_TIME, "19691231235959.25Z", -1, 250000000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct pkie_der_time t;
        size_t off;
        int rc = read_time(good[i].type, good[i].text, &t, &off);
        if (rc != 0)
            print_error("refused %s\n", good[i].text);
        assert_int_equal(rc, 0);
        assert_true(t.secs == good[i].secs);
        assert_int_equal(t.nanos, good[i].nanos);
        assert_writes(good[i].type, good[i].secs, good[i].nanos, good[i].text);
    }
}

static void test_bad(void **state)
{
    (void)state;
    static const struct {
        uint32_t type;
        const char *text;
        size_t off;
    } bad[] = {
        {PKIE_DER_UTC_TIME, "4912312359Z", 0},   /* no seconds */
        {PKIE_DER_UTC_TIME, "491231235959", 0},  /* no Z */
        {PKIE_DER_UTC_TIME, "491231235959z", 0}, /* lower-case z */
        {PKIE_DER_UTC_TIME, "4912312359590", 0}, /* local time */
        {PKIE_DER_UTC_TIME, "491231235959+0000", 0},
        {PKIE_DER_UTC_TIME, "491231235959.5Z", 0}, /* no fraction in UTCTime */
        {PKIE_DER_UTC_TIME, "4a1231235959Z", 0},
        {PKIE_DER_UTC_TIME, "491331235959Z", 2}, /* month 13 */
        {PKIE_DER_UTC_TIME, "490031235959Z", 2}, /* month 0 */
        {PKIE_DER_UTC_TIME, "490100235959Z", 4}, /* day 0 */
        {PKIE_DER_UTC_TIME, "490132235959Z", 4},
        {PKIE_DER_UTC_TIME, "490431235959Z", 4},  /* April 31 */
        {PKIE_DER_UTC_TIME, "230229000000Z", 4},  /* not a leap year */
        {PKIE_DER_UTC_TIME, "491231245959Z", 6},  /* hour 24 */
        {PKIE_DER_UTC_TIME, "491231236059Z", 8},  /* minute 60 */
        {PKIE_DER_UTC_TIME, "491231235960Z", 10}, /* leap second */
        {PKIE_DER_UTC_TIME, "4912312359 9Z", 10},
        {PKIE_DER_UTC_TIME, "49123123-959Z", 8},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959", 0},
        {PKIE_DER_GENERALIZED_TIME, "202402292359Z", 0}, /* no seconds */
        {PKIE_DER_GENERALIZED_TIME, "2024022923595Z", 0},
        {PKIE_DER_GENERALIZED_TIME, "21000229000000Z", 6}, /* 2100 is not leap */
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.Z", 14},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.0Z", 15},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.10Z", 16},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.1234567890Z", 14},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959,5Z", 14},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.5aZ", 16},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959.5+0100", 0},
        {PKIE_DER_GENERALIZED_TIME, "20240229235959+0100Z", 14},
        {PKIE_DER_GENERALIZED_TIME, "2024022923595.9Z", 14},
        {PKIE_DER_GENERALIZED_TIME, "20241301000000Z", 4},
        {PKIE_DER_GENERALIZED_TIME, "20241200000000Z", 6},
        {PKIE_DER_GENERALIZED_TIME, "20241201240000Z", 8},
        {PKIE_DER_GENERALIZED_TIME, "20241201006000Z", 10},
        {PKIE_DER_GENERALIZED_TIME, "20241201000060Z", 12},
        {PKIE_DER_GENERALIZED_TIME, "2O241201000000Z", 0},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pkie_der_time t;
        size_t off;
        int rc = read_time(bad[i].type, bad[i].text, &t, &off);
        if (rc != PKIE_ERR_DER_TIME || off != bad[i].off)
            print_error("%s: rc %d offset %zu\n", bad[i].text, rc, off);
        assert_int_equal(rc, PKIE_ERR_DER_TIME);
        assert_int_equal(off, bad[i].off);
    }
}

static void test_any_time_and_tags(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b =
        hexbuf("170d3439313233313233353935395a 180f32303530303130313030303030305a 0500", &n);
    struct pkie_der d;
    pkie_der_init(&d, b, n);
    struct pkie_der_time t;
    uint32_t type;
    assert_int_equal(pkie_der_read_any_time(&d, &t, &type), 0);
    assert_int_equal(type, PKIE_DER_UTC_TIME);
    assert_int_equal(pkie_der_read_any_time(&d, &t, &type), 0);
    assert_int_equal(type, PKIE_DER_GENERALIZED_TIME);
    assert_true(t.secs == 2524608000);
    const uint8_t *before = d.p;
    assert_der_err(pkie_der_read_any_time(&d, &t, &type), PKIE_ERR_DER_TAG, 32);
    assert_ptr_equal(d.p, before);
    free(b);
    /* IMPLICIT [0] GeneralizedTime, and the wrong type argument */
    b = hexbuf("800f32303530303130313030303030305a", &n);
    pkie_der_init(&d, b, n);
    assert_int_equal(pkie_der_read_time(&d, PKIE_DER_CTX(0), PKIE_DER_UTC_TIME, &t),
                     PKIE_ERR_DER_TIME);
    assert_int_equal(pkie_der_read_time(&d, PKIE_DER_CTX(0), PKIE_DER_INTEGER, &t), PKIE_ERR_ARG);
    assert_int_equal(pkie_der_read_time(&d, PKIE_DER_CTX(0), PKIE_DER_GENERALIZED_TIME, &t), 0);
    free(b);
    /* constructed UTCTime */
    b = hexbuf("3702 0400", &n);
    pkie_der_init(&d, b, n);
    assert_int_equal(pkie_der_read_any_time(&d, &t, &type), PKIE_ERR_DER_CONSTRUCTED);
    free(b);
}

static void test_write_limits(void **state)
{
    (void)state;
    struct pkie_derw w;
    struct pkie_der_time t = {-631152001, 0}; /* 1949-12-31 23:59:59 */
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_time(&w, PKIE_DER_UTC_TIME, PKIE_DER_UTC_TIME, &t),
                     PKIE_ERR_DER_TIME);
    pkie_derw_free(&w);
    assert_writes(PKIE_DER_GENERALIZED_TIME, -631152001, 0, "19491231235959Z");
    t.secs = 2524608000; /* 2050 */
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_time(&w, PKIE_DER_UTC_TIME, PKIE_DER_UTC_TIME, &t),
                     PKIE_ERR_DER_TIME);
    pkie_derw_free(&w);
    /* UTCTime has no fraction; nanos below 10^9; years 0..9999 */
    struct pkie_der_time bad[] = {{0, 1}, {0, 1000000000u}};
    pkie_derw_init(&w, 64);
    assert_int_equal(pkie_derw_time(&w, PKIE_DER_UTC_TIME, PKIE_DER_UTC_TIME, &bad[0]),
                     PKIE_ERR_DER_TIME);
    pkie_derw_free(&w);
    pkie_derw_init(&w, 64);
    assert_int_equal(
        pkie_derw_time(&w, PKIE_DER_GENERALIZED_TIME, PKIE_DER_GENERALIZED_TIME, &bad[1]),
        PKIE_ERR_DER_TIME);
    pkie_derw_free(&w);
    struct pkie_der_time far[] = {
        {253402300800, 0}, {-62167219201, 0}, {INT64_MAX, 0}, {INT64_MIN, 0}};
    for (size_t i = 0; i < 4; i++) {
        pkie_derw_init(&w, 64);
        assert_int_equal(
            pkie_derw_time(&w, PKIE_DER_GENERALIZED_TIME, PKIE_DER_GENERALIZED_TIME, &far[i]),
            PKIE_ERR_DER_TIME);
        pkie_derw_free(&w);
    }
    /* trailing zeros of the fraction are dropped */
    assert_writes(PKIE_DER_GENERALIZED_TIME, 0, 100000000, "19700101000000.1Z");
    assert_writes(PKIE_DER_GENERALIZED_TIME, 0, 120000, "19700101000000.00012Z");
}

static void test_x509_time(void **state)
{
    (void)state;
    static const struct {
        int64_t secs;
        const char *hex;
    } cases[] = {
        {-631152001, "180f31393439313233313233353935395a"}, /* 1949: GeneralizedTime */
        {-631152000, "170d3530303130313030303030305a"},     /* 1950: UTCTime */
        {2524607999, "170d3439313233313233353935395a"},     /* 2049 */
        {2524608000, "180f32303530303130313030303030305a"}, /* 2050: GeneralizedTime */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkie_derw w;
        pkie_derw_init(&w, 64);
        struct pkie_der_time t = {cases[i].secs, 0};
        assert_int_equal(pkie_derw_x509_time(&w, &t), 0);
        const uint8_t *out;
        size_t len, n;
        assert_int_equal(pkie_derw_finish(&w, &out, &len), 0);
        uint8_t *want = hexbuf(cases[i].hex, &n);
        assert_int_equal(len, n);
        assert_memory_equal(out, want, n);
        free(want);
        pkie_derw_free(&w);
    }
    struct pkie_derw w;
    pkie_derw_init(&w, 64);
    struct pkie_der_time frac = {0, 5};
    assert_int_equal(pkie_derw_x509_time(&w, &frac), PKIE_ERR_DER_TIME);
    pkie_derw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_any_time_and_tags),
        cmocka_unit_test(test_write_limits),
        cmocka_unit_test(test_x509_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
