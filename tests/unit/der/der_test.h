/* Helpers shared by the DER unit tests (include after cmocka.h). */
#ifndef PKIE_TEST_DER_H
#define PKIE_TEST_DER_H

#include "pkie/der.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <string.h>

/** Decode hex (blanks ignored) into a malloc'ed buffer of exact size. */
static inline uint8_t *hexbuf(const char *hex, size_t *len)
{
    size_t n = 0;
    uint8_t *out = malloc(strlen(hex) / 2 + 1);
    int hi = -1;
    for (const char *c = hex; *c; c++) {
        int v;
        if (*c >= '0' && *c <= '9')
            v = *c - '0';
        else if (*c >= 'a' && *c <= 'f')
            v = *c - 'a' + 10;
        else if (*c >= 'A' && *c <= 'F')
            v = *c - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *len = n;
    /* exact-size copy so that ASan sees any over-read */
    uint8_t *exact = calloc(1, n ? n : 1);
    memcpy(exact, out, n);
    free(out);
    return exact;
}

/** Assert that @p rc is @p code and the error record names offset @p off. */
#define assert_der_err(rc, ecode, off)                                                             \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        assert_int_equal(rc_, (ecode));                                                            \
        assert_int_equal(pkie_err_last()->code, (ecode));                                          \
        assert_int_equal(pkie_err_last()->offset, (size_t)(off));                                  \
    } while (0)

/** pkie_der_validate on hex: 0 or the error code, checking the offset. */
static inline int validate_hex(const char *hex, size_t *err_off)
{
    size_t n;
    uint8_t *b = hexbuf(hex, &n);
    pkie_err_clear();
    int rc = pkie_der_validate(b, n);
    *err_off = pkie_err_last()->offset;
    free(b);
    return rc;
}

#define assert_invalid(hex, code, off)                                                             \
    do {                                                                                           \
        size_t off_;                                                                               \
        assert_int_equal(validate_hex((hex), &off_), (code));                                      \
        assert_int_equal(off_, (size_t)(off));                                                     \
    } while (0)

#define assert_valid(hex)                                                                          \
    do {                                                                                           \
        size_t off_;                                                                               \
        assert_int_equal(validate_hex((hex), &off_), 0);                                           \
    } while (0)

#endif
