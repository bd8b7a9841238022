/*
 * Strict DER (X.690) reader and writer.
 *
 * Reader: a pkie_der is a view over bytes that it never copies or allocates.
 * Every read checks the tag, enforces definite and minimally encoded lengths,
 * the nesting depth limit and the content rules of the type, and on failure
 * returns a negative PKIE_ERR_DER_* code with the byte offset (from the start
 * of the whole input) in the thread's error record. A failed read leaves the
 * view where it was.
 *
 * Tags are one uint32_t: class (2 bits) | constructed (1 bit) | number (29
 * bits). Every typed read takes the tag to expect, so IMPLICIT tagging is the
 * same call with PKIE_DER_CTX(n) instead of the universal tag; EXPLICIT
 * tagging is pkie_der_enter(PKIE_DER_CTX_C(n)) around the inner read.
 *
 * Writer: a pkie_derw appends canonical DER to a bounded buffer. Constructed
 * elements are opened with pkie_derw_begin and closed with pkie_derw_end,
 * which patches the length in place (contents move only when the length
 * needs more than one byte, so the cost is linear in size times depth). The
 * first error is sticky: later calls do nothing and pkie_derw_finish returns
 * it, so an encoder can write a whole structure and check once. Contents may
 * come from the writer's own buffer (e.g. copying an element written before).
 */
#ifndef PKIE_DER_H
#define PKIE_DER_H

#include <stddef.h>
#include <stdint.h>

#include "pkie/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tags ---------------------------------------------------------------- */

#define PKIE_DER_CLASS_UNIVERSAL   0u
#define PKIE_DER_CLASS_APPLICATION 1u
#define PKIE_DER_CLASS_CONTEXT     2u
#define PKIE_DER_CLASS_PRIVATE     3u
#define PKIE_DER_TAG_NUMBER_MAX    0x1FFFFFFFu

/** Build a tag from class, constructed flag and number. */
#define PKIE_DER_TAG(cls, cons, num)                                                               \
    ((uint32_t)(((uint32_t)(cls) << 30) | ((cons) ? (1u << 29) : 0u) | ((uint32_t)(num))))
#define PKIE_DER_TAG_CLASS(t)       ((uint32_t)(t) >> 30)
#define PKIE_DER_TAG_CONSTRUCTED(t) (((uint32_t)(t) >> 29) & 1u)
#define PKIE_DER_TAG_NUMBER(t)      ((uint32_t)(t)&PKIE_DER_TAG_NUMBER_MAX)

/** [n] IMPLICIT on a primitive type. */
#define PKIE_DER_CTX(n)   PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 0, (n))
/** [n] EXPLICIT, or [n] IMPLICIT on a constructed type (SEQUENCE, SET, CHOICE of those). */
#define PKIE_DER_CTX_C(n) PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 1, (n))

#define PKIE_DER_BOOLEAN          PKIE_DER_TAG(0, 0, 1)
#define PKIE_DER_INTEGER          PKIE_DER_TAG(0, 0, 2)
#define PKIE_DER_BIT_STRING       PKIE_DER_TAG(0, 0, 3)
#define PKIE_DER_OCTET_STRING     PKIE_DER_TAG(0, 0, 4)
#define PKIE_DER_NULL             PKIE_DER_TAG(0, 0, 5)
#define PKIE_DER_OID              PKIE_DER_TAG(0, 0, 6)
#define PKIE_DER_ENUMERATED       PKIE_DER_TAG(0, 0, 10)
#define PKIE_DER_UTF8_STRING      PKIE_DER_TAG(0, 0, 12)
#define PKIE_DER_SEQUENCE         PKIE_DER_TAG(0, 1, 16)
#define PKIE_DER_SET              PKIE_DER_TAG(0, 1, 17)
#define PKIE_DER_PRINTABLE_STRING PKIE_DER_TAG(0, 0, 19)
#define PKIE_DER_IA5_STRING       PKIE_DER_TAG(0, 0, 22)
#define PKIE_DER_UTC_TIME         PKIE_DER_TAG(0, 0, 23)
#define PKIE_DER_GENERALIZED_TIME PKIE_DER_TAG(0, 0, 24)

/** Maximum nesting depth the reader accepts and the writer produces. */
#define PKIE_DER_MAX_DEPTH    64
/** Maximum encoded OID content length accepted, and arcs in text form. */
#define PKIE_DER_OID_MAX_LEN  64
#define PKIE_DER_OID_MAX_ARCS 32
/** Room for any OID in dotted text, with its NUL: at most 4 characters per
 *  content octet (".127"), so 4 * PKIE_DER_OID_MAX_LEN + 1 = 257. */
#define PKIE_DER_OID_TEXT_MAX 260

/* ---- reader -------------------------------------------------------------- */

/** A view over DER input; copy it freely (it owns nothing). */
struct pkie_der {
    const uint8_t *base; /**< start of the whole input, for error offsets */
    const uint8_t *p;    /**< next byte to read */
    const uint8_t *end;  /**< end of this view */
    unsigned depth;      /**< nesting depth of this view (0 at top) */
};

/** One element: its tag, the whole encoding and the contents. */
struct pkie_der_tlv {
    uint32_t tag;
    const uint8_t *tlv; /**< first byte of the tag */
    size_t tlv_len;     /**< tag + length + contents */
    const uint8_t *val; /**< first byte of the contents */
    size_t len;         /**< contents length */
};

/** A point in time as DER carries it: seconds since the epoch (UTC) and a
 *  fraction (GeneralizedTime only, canonical: no trailing zeros, up to 9 digits). */
struct pkie_der_time {
    int64_t secs;
    uint32_t nanos;
};

/** Start reading @p len bytes at @p p. */
void pkie_der_init(struct pkie_der *d, const uint8_t *p, size_t len);
/** Non-zero when no byte is left in the view. */
int pkie_der_at_end(const struct pkie_der *d);
/** Offset of the next byte from the start of the whole input. */
size_t pkie_der_offset(const struct pkie_der *d);
/** 0 when the view is fully consumed, else PKIE_ERR_DER_TRAILING. */
int pkie_der_finish(const struct pkie_der *d);

/** Read any element. */
int pkie_der_read_tlv(struct pkie_der *d, struct pkie_der_tlv *out);
/** Tag of the next element without consuming it; PKIE_ERR_DER_EMPTY at end. */
int pkie_der_peek_tag(const struct pkie_der *d, uint32_t *tag);
/** 1 when the next element exists and has @p tag, else 0 (never an error). */
int pkie_der_peek_is(const struct pkie_der *d, uint32_t tag);
/** Read an element that must have @p tag (PKIE_ERR_DER_TAG otherwise). */
int pkie_der_expect(struct pkie_der *d, uint32_t tag, struct pkie_der_tlv *out);
/** Skip the next element (validated like any read). */
int pkie_der_skip(struct pkie_der *d);

/** Enter a constructed element with @p tag: @p inner views its contents at
 *  depth + 1 (PKIE_ERR_DER_DEPTH past the limit). */
int pkie_der_enter(struct pkie_der *d, uint32_t tag, struct pkie_der *inner);
/** As pkie_der_enter when the next element has @p tag; else *present = 0 and
 *  nothing is consumed. */
int pkie_der_enter_optional(struct pkie_der *d, uint32_t tag, struct pkie_der *inner, int *present);
/** Enter a SET OF and check its elements are in DER order (X.690 11.6). */
int pkie_der_enter_set_of(struct pkie_der *d, uint32_t tag, struct pkie_der *inner);

/** A whole element kept opaque (certificates, names, extensions...): its
 *  structure is checked all through (tags, lengths, depth), the content rules
 *  only when the element itself is a universal primitive (e.g. an INTEGER). */
int pkie_der_read_raw(struct pkie_der *d, uint32_t tag, const uint8_t **tlv, size_t *len);

/** INTEGER into int64 (PKIE_ERR_DER_INTEGER_RANGE if it does not fit). */
int pkie_der_read_int64(struct pkie_der *d, uint32_t tag, int64_t *v);
/** INTEGER as its minimal two's complement contents (big serials, moduli). */
int pkie_der_read_integer(struct pkie_der *d, uint32_t tag, const uint8_t **bytes, size_t *len);
/** Non-negative INTEGER as big-endian magnitude without the sign octet. */
int pkie_der_read_uint_bytes(struct pkie_der *d, uint32_t tag, const uint8_t **bytes, size_t *len);
/** BOOLEAN: 0x00 or 0xFF only. */
int pkie_der_read_bool(struct pkie_der *d, uint32_t tag, int *v);
/** Optional BOOLEAN DEFAULT @p def: absent gives @p def; an encoded value
 *  equal to the default is PKIE_ERR_DER_DEFAULT. */
int pkie_der_read_bool_default(struct pkie_der *d, uint32_t tag, int def, int *v);
/** Optional INTEGER DEFAULT @p def, same rule. */
int pkie_der_read_int64_default(struct pkie_der *d, uint32_t tag, int64_t def, int64_t *v);
/** BIT STRING: unused bits 0..7, 0 when empty, and the unused bits zero. */
int pkie_der_read_bit_string(struct pkie_der *d, uint32_t tag, const uint8_t **bits, size_t *len,
                             unsigned *unused);
/** BIT STRING as a named bit list (bit 0 = the 0x80 of the first octet) in
 *  up to 32 bits: trailing zero bits must be absent (X.690 11.2.2). */
int pkie_der_read_named_bits(struct pkie_der *d, uint32_t tag, uint32_t *bits);
/** OCTET STRING contents. */
int pkie_der_read_octets(struct pkie_der *d, uint32_t tag, const uint8_t **p, size_t *len);
/** NULL (empty contents). */
int pkie_der_read_null(struct pkie_der *d, uint32_t tag);
/** OBJECT IDENTIFIER contents, validated (minimal arcs, length limit). */
int pkie_der_read_oid(struct pkie_der *d, uint32_t tag, const uint8_t **oid, size_t *len);
/** Character string of universal type @p type (PKIE_DER_UTF8_STRING,
 *  PKIE_DER_PRINTABLE_STRING or PKIE_DER_IA5_STRING) carried under @p tag
 *  (the same, or an IMPLICIT tag), validated for that type. Not NUL-terminated. */
int pkie_der_read_string(struct pkie_der *d, uint32_t tag, uint32_t type, const char **s,
                         size_t *len);
/** Time of universal type @p type (PKIE_DER_UTC_TIME or
 *  PKIE_DER_GENERALIZED_TIME) under @p tag, strict form: UTCTime
 *  YYMMDDHHMMSSZ (1950..2049), GeneralizedTime YYYYMMDDHHMMSS[.f]Z. */
int pkie_der_read_time(struct pkie_der *d, uint32_t tag, uint32_t type, struct pkie_der_time *t);
/** X.509 Time: the CHOICE of UTCTime and GeneralizedTime; *type tells which. */
int pkie_der_read_any_time(struct pkie_der *d, struct pkie_der_time *t, uint32_t *type);

/** Dotted text of an OID's contents ("1.2.840.113549"). PKIE_ERR_LIMIT if
 *  @p cap is too small. */
int pkie_der_oid_to_text(const uint8_t *oid, size_t len, char *buf, size_t cap);
/** Contents of an OID from dotted text; strict (no leading zeros, first arc
 *  0..2, second arc < 40 under 0 and 1, at least two arcs). */
int pkie_der_oid_from_text(const char *text, uint8_t *out, size_t cap, size_t *len);
/** Non-zero when two OID contents are equal. */
int pkie_der_oid_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/** Validate a complete DER encoding as a tree (every element, recursively
 *  into constructed ones) with no trailing bytes, including the content rules
 *  of every universal primitive element (INTEGER, BOOLEAN, BIT STRING, NULL,
 *  OID, ENUMERATED, UTF8/Printable/IA5String, UTCTime, GeneralizedTime).
 *  SET order is not checked (a SET need not be a SET OF). */
int pkie_der_validate(const uint8_t *p, size_t len);

/* ---- writer -------------------------------------------------------------- */

struct pkie_derw {
    struct pkie_buf out;             /**< the encoding so far */
    int err;                         /**< first error, sticky */
    unsigned depth;                  /**< open constructed elements */
    size_t open[PKIE_DER_MAX_DEPTH]; /**< offsets of their length byte */
    uint8_t is_set_of[PKIE_DER_MAX_DEPTH];
};

/** Start an encoding that may grow to @p max bytes. */
void pkie_derw_init(struct pkie_derw *w, size_t max);
/** As pkie_derw_init, for encodings holding secrets (wiped on free). */
void pkie_derw_init_secret(struct pkie_derw *w, size_t max);
void pkie_derw_free(struct pkie_derw *w);

/** Open a constructed element (SEQUENCE, SET, explicit [n], ...). */
int pkie_derw_begin(struct pkie_derw *w, uint32_t tag);
/** Open a SET OF: pkie_derw_end sorts the elements written inside. */
int pkie_derw_begin_set_of(struct pkie_derw *w, uint32_t tag);
/** Close the innermost open element and patch its length. */
int pkie_derw_end(struct pkie_derw *w);

/** A complete pre-encoded element, checked like pkie_der_read_raw: exactly
 *  one element, well-formed all through, within the depth limit. */
int pkie_derw_raw(struct pkie_derw *w, const uint8_t *tlv, size_t len);
/** A primitive element with the given contents. */
int pkie_derw_tlv(struct pkie_derw *w, uint32_t tag, const void *val, size_t len);
int pkie_derw_int64(struct pkie_derw *w, uint32_t tag, int64_t v);
/** INTEGER from minimal two's complement contents (checked). */
int pkie_derw_integer(struct pkie_derw *w, uint32_t tag, const uint8_t *twos, size_t len);
/** Non-negative INTEGER from a big-endian magnitude (leading zeros dropped,
 *  sign octet added). */
int pkie_derw_uint_bytes(struct pkie_derw *w, uint32_t tag, const uint8_t *mag, size_t len);
int pkie_derw_bool(struct pkie_derw *w, uint32_t tag, int v);
int pkie_derw_null(struct pkie_derw *w, uint32_t tag);
int pkie_derw_oid(struct pkie_derw *w, uint32_t tag, const uint8_t *oid, size_t len);
/** OID from dotted text. */
int pkie_derw_oid_text(struct pkie_derw *w, uint32_t tag, const char *text);
int pkie_derw_octets(struct pkie_derw *w, uint32_t tag, const void *p, size_t len);
int pkie_derw_bit_string(struct pkie_derw *w, uint32_t tag, const uint8_t *bits, size_t len,
                         unsigned unused);
/** Named bit list, trailing zero bits removed (bit 0 = 0x80 of first octet). */
int pkie_derw_named_bits(struct pkie_derw *w, uint32_t tag, uint32_t bits);
/** Character string of universal @p type under @p tag (validated). */
int pkie_derw_string(struct pkie_derw *w, uint32_t tag, uint32_t type, const char *s, size_t len);
/** Time of universal @p type under @p tag. */
int pkie_derw_time(struct pkie_derw *w, uint32_t tag, uint32_t type, const struct pkie_der_time *t);
/** X.509 Time (RFC 5280 4.1.2.5): UTCTime for 1950..2049, GeneralizedTime
 *  otherwise; whole seconds only (PKIE_ERR_DER_TIME if t->nanos != 0). */
int pkie_derw_x509_time(struct pkie_derw *w, const struct pkie_der_time *t);

/** The first error, or PKIE_ERR_DER_WRITE if elements are still open; on
 *  success *out and *len give the encoding (owned by @p w). */
int pkie_derw_finish(struct pkie_derw *w, const uint8_t **out, size_t *len);
/** As pkie_derw_finish, and hand the buffer to the caller (free()). */
int pkie_derw_steal(struct pkie_derw *w, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
