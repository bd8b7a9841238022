/* Internals shared by the files of src/der (not installed). */
#ifndef PKIE_DER_INTERNAL_H
#define PKIE_DER_INTERNAL_H

#include "pkie/der.h"
#include "pkie/error.h"

#include <stddef.h>
#include <stdint.h>

/** Offset of @p q from the start of the input of @p d. */
#define DER_OFF(d, q) ((size_t)((q) - (d)->base))

/**
 * Parse the tag and length of the element at d->p into @p out (nothing is
 * consumed). Enforces the tag encoding, definite minimal lengths, that the
 * contents fit in the view, and the primitive/constructed form of the
 * universal types. PKIE_ERR_DER_EMPTY when the view is empty.
 */
int der_header(const struct pkie_der *d, struct pkie_der_tlv *out);

/**
 * Check the contents of a primitive element of universal @p type (INTEGER,
 * BOOLEAN, ...) starting at offset @p off. Types without content rules pass.
 */
int der_check_content(uint32_t type, const uint8_t *val, size_t len, size_t off);

/**
 * Walk the elements filling [p, end) (under base for offsets) at @p depth:
 * headers, nesting, and with @p strict the content rules of the universal
 * primitive types.
 */
int der_walk(const uint8_t *base, const uint8_t *p, const uint8_t *end, unsigned depth, int strict);

/**
 * Check a whole element read at @p depth for pkie_der_read_raw and
 * pkie_derw_raw: a constructed one is walked (headers, nesting), a universal
 * primitive one has its content rules checked.
 */
int der_check_element(const uint8_t *base, const struct pkie_der_tlv *t, unsigned depth);

/** Content checks of the individual types (offset of the contents). */
int der_check_integer(const uint8_t *v, size_t len, size_t off);
int der_check_bool(const uint8_t *v, size_t len, size_t off);
int der_check_bit_string(const uint8_t *v, size_t len, size_t off);
int der_check_null(size_t len, size_t off);
int der_check_oid(const uint8_t *v, size_t len, size_t off);
int der_check_string(uint32_t type, const uint8_t *v, size_t len, size_t off);
int der_check_time(uint32_t type, const uint8_t *v, size_t len, size_t off,
                   struct pkie_der_time *t);

/**
 * Read a primitive element: @p tag must be a primitive tag (PKIE_ERR_ARG
 * otherwise); the element must carry it (PKIE_ERR_DER_TAG, or
 * PKIE_ERR_DER_CONSTRUCTED when only the form differs). Nothing consumed.
 */
int der_peek_primitive(const struct pkie_der *d, uint32_t tag, struct pkie_der_tlv *out);

/** Format @p t as a time of universal @p type (canonical form) into @p out
 *  (room for 25 bytes). Returns the length or a negative pkie_err. */
int der_format_time(uint32_t type, const struct pkie_der_time *t, char *out);

/** Convert between civil UTC and seconds since the epoch. */
int64_t der_days_from_civil(int64_t y, unsigned m, unsigned d);
void der_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
