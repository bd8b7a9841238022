/* DER reader core: tags, lengths, navigation and whole-tree validation. */
#include "der_internal.h"

#include <string.h>

void pkie_der_init(struct pkie_der *d, const uint8_t *p, size_t len)
{
    d->base = p;
    d->p = p;
    d->end = len != 0 ? p + len : p; /* no arithmetic on a NULL empty input */
    d->depth = 0;
}

int pkie_der_at_end(const struct pkie_der *d)
{
    return d->p >= d->end;
}

size_t pkie_der_offset(const struct pkie_der *d)
{
    return DER_OFF(d, d->p);
}

int pkie_der_finish(const struct pkie_der *d)
{
    if (d->p < d->end)
        return PKIE_ERR_AT(PKIE_ERR_DER_TRAILING, DER_OFF(d, d->p), "%zu byte(s) left over",
                           (size_t)(d->end - d->p));
    return 0;
}

/* Universal types whose encoding is always constructed (X.690 8.9-8.12,
 * 8.18, 8.19, 8.21.5): EXTERNAL, EMBEDDED PDV, SEQUENCE, SET, CHARACTER
 * STRING. Every other universal type below 31 is primitive in DER. */
static int universal_constructed(uint32_t num)
{
    return num == 8 || num == 11 || num == 16 || num == 17 || num == 29;
}

/* Raise an error at @p off, or with @p quiet only return its code (for
 * peeks, which must not touch the thread's error record). */
#define HDR_ERR(code, off, ...) (quiet ? (code) : PKIE_ERR_AT((code), (off), __VA_ARGS__))

static int header(const struct pkie_der *d, struct pkie_der_tlv *out, int quiet)
{
    const uint8_t *q = d->p;
    const uint8_t *start = q;
    if (q >= d->end)
        return HDR_ERR(PKIE_ERR_DER_EMPTY, DER_OFF(d, q), "no element where one is required");
    uint8_t b = *q++;
    uint32_t cls = (uint32_t)b >> 6;
    uint32_t cons = ((uint32_t)b >> 5) & 1u;
    uint32_t num = b & 0x1Fu;
    if (num == 0x1F) {
        /* High-tag-number form: base-128, no leading 0x80, only for >= 31. */
        num = 0;
        if (q >= d->end)
            return HDR_ERR(PKIE_ERR_DER_TRUNCATED, DER_OFF(d, q), "input ends inside a tag");
        if (*q == 0x80)
            return HDR_ERR(PKIE_ERR_DER_TAG_ENCODING, DER_OFF(d, q),
                           "tag number with a leading 0x80 octet");
        for (;;) {
            if (q >= d->end)
                return HDR_ERR(PKIE_ERR_DER_TRUNCATED, DER_OFF(d, q), "input ends inside a tag");
            if (num > (PKIE_DER_TAG_NUMBER_MAX >> 7))
                return HDR_ERR(PKIE_ERR_DER_TAG_ENCODING, DER_OFF(d, q), "tag number above %u",
                               PKIE_DER_TAG_NUMBER_MAX);
            uint8_t c = *q++;
            num = (num << 7) | (c & 0x7Fu);
            if (!(c & 0x80))
                break;
        }
        if (num < 31)
            return HDR_ERR(PKIE_ERR_DER_TAG_ENCODING, DER_OFF(d, start),
                           "tag number %u in the high-tag-number form", num);
    }
    if (cls == PKIE_DER_CLASS_UNIVERSAL) {
        if (num == 0)
            return HDR_ERR(PKIE_ERR_DER_TAG, DER_OFF(d, start),
                           "universal tag 0 (end-of-contents) is not DER");
        if (num < 31 && (int)cons != universal_constructed(num))
            return HDR_ERR(PKIE_ERR_DER_CONSTRUCTED, DER_OFF(d, start),
                           "universal type %u in the %s form", num,
                           cons ? "constructed" : "primitive");
    }
    if (q >= d->end)
        return HDR_ERR(PKIE_ERR_DER_TRUNCATED, DER_OFF(d, q), "input ends before the length");
    const uint8_t *lpos = q;
    uint8_t l0 = *q++;
    size_t len;
    if (l0 < 0x80) {
        len = l0;
    } else if (l0 == 0x80) {
        return HDR_ERR(PKIE_ERR_DER_INDEFINITE, DER_OFF(d, lpos), "indefinite length");
    } else {
        unsigned n = l0 & 0x7Fu;
        if (n > 4)
            return HDR_ERR(PKIE_ERR_DER_LENGTH_OVERFLOW, DER_OFF(d, lpos), "length of %u octets",
                           n);
        if ((size_t)(d->end - q) < n)
            return HDR_ERR(PKIE_ERR_DER_TRUNCATED, DER_OFF(d, q), "input ends inside a length");
        if (*q == 0)
            return HDR_ERR(PKIE_ERR_DER_LENGTH_NONMINIMAL, DER_OFF(d, lpos),
                           "long-form length with a leading zero octet");
        uint32_t v = 0;
        for (unsigned i = 0; i < n; i++)
            v = (v << 8) | *q++;
        if (v < 0x80)
            return HDR_ERR(PKIE_ERR_DER_LENGTH_NONMINIMAL, DER_OFF(d, lpos),
                           "length %u in the long form", v);
        len = v;
    }
    if ((size_t)(d->end - q) < len)
        return HDR_ERR(PKIE_ERR_DER_TRUNCATED, DER_OFF(d, start),
                       "element of %zu content bytes, %zu left", len, (size_t)(d->end - q));
    out->tag = PKIE_DER_TAG(cls, cons, num);
    out->tlv = start;
    out->val = q;
    out->len = len;
    out->tlv_len = (size_t)(q - start) + len;
    return 0;
}

int der_header(const struct pkie_der *d, struct pkie_der_tlv *out)
{
    return header(d, out, 0);
}

int pkie_der_read_tlv(struct pkie_der *d, struct pkie_der_tlv *out)
{
    struct pkie_der_tlv t;
    int rc = der_header(d, &t);
    if (rc != 0)
        return rc;
    d->p = t.tlv + t.tlv_len;
    if (out != NULL)
        *out = t;
    return 0;
}

int pkie_der_peek_tag(const struct pkie_der *d, uint32_t *tag)
{
    struct pkie_der_tlv t;
    int rc = der_header(d, &t);
    if (rc != 0)
        return rc;
    *tag = t.tag;
    return 0;
}

int pkie_der_peek_is(const struct pkie_der *d, uint32_t tag)
{
    struct pkie_der_tlv t;
    if (d->p >= d->end)
        return 0;
    /* A malformed next element is "not this tag", quietly: the read that
     * follows reports it with its own code. */
    if (header(d, &t, 1) != 0)
        return 0;
    return t.tag == tag;
}

static int tag_mismatch(const struct pkie_der *d, const struct pkie_der_tlv *t, uint32_t tag)
{
    if ((t->tag | (1u << 29)) == (tag | (1u << 29)))
        return PKIE_ERR_AT(PKIE_ERR_DER_CONSTRUCTED, DER_OFF(d, t->tlv),
                           "element in the %s form where the %s form is required",
                           PKIE_DER_TAG_CONSTRUCTED(t->tag) ? "constructed" : "primitive",
                           PKIE_DER_TAG_CONSTRUCTED(tag) ? "constructed" : "primitive");
    return PKIE_ERR_AT(PKIE_ERR_DER_TAG, DER_OFF(d, t->tlv),
                       "tag class %u number %u where class %u number %u is required",
                       PKIE_DER_TAG_CLASS(t->tag), PKIE_DER_TAG_NUMBER(t->tag),
                       PKIE_DER_TAG_CLASS(tag), PKIE_DER_TAG_NUMBER(tag));
}

int pkie_der_expect(struct pkie_der *d, uint32_t tag, struct pkie_der_tlv *out)
{
    struct pkie_der_tlv t;
    int rc = der_header(d, &t);
    if (rc != 0)
        return rc;
    if (t.tag != tag)
        return tag_mismatch(d, &t, tag);
    d->p = t.tlv + t.tlv_len;
    if (out != NULL)
        *out = t;
    return 0;
}

int der_peek_primitive(const struct pkie_der *d, uint32_t tag, struct pkie_der_tlv *out)
{
    if (PKIE_DER_TAG_CONSTRUCTED(tag))
        return PKIE_ERR(PKIE_ERR_ARG, "a primitive type read with a constructed tag");
    int rc = der_header(d, out);
    if (rc != 0)
        return rc;
    if (out->tag != tag)
        return tag_mismatch(d, out, tag);
    return 0;
}

int pkie_der_skip(struct pkie_der *d)
{
    return pkie_der_read_tlv(d, NULL);
}

int pkie_der_enter(struct pkie_der *d, uint32_t tag, struct pkie_der *inner)
{
    if (!PKIE_DER_TAG_CONSTRUCTED(tag))
        return PKIE_ERR(PKIE_ERR_ARG, "entering a primitive tag (use PKIE_DER_CTX_C)");
    struct pkie_der_tlv t;
    int rc = der_header(d, &t);
    if (rc != 0)
        return rc;
    if (t.tag != tag)
        return tag_mismatch(d, &t, tag);
    if (d->depth >= PKIE_DER_MAX_DEPTH)
        return PKIE_ERR_AT(PKIE_ERR_DER_DEPTH, DER_OFF(d, t.tlv), "nesting deeper than %d",
                           PKIE_DER_MAX_DEPTH);
    inner->base = d->base;
    inner->p = t.val;
    inner->end = t.val + t.len;
    inner->depth = d->depth + 1;
    d->p = t.tlv + t.tlv_len;
    return 0;
}

int pkie_der_enter_optional(struct pkie_der *d, uint32_t tag, struct pkie_der *inner, int *present)
{
    *present = 0;
    if (!pkie_der_peek_is(d, tag))
        return 0;
    int rc = pkie_der_enter(d, tag, inner);
    if (rc == 0)
        *present = 1;
    return rc;
}

/* X.690 11.6: encodings compared as octet strings, the shorter padded with
 * trailing zero octets. */
static int der_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c != 0)
        return c;
    for (size_t i = n; i < alen; i++)
        if (a[i] != 0)
            return 1;
    for (size_t i = n; i < blen; i++)
        if (b[i] != 0)
            return -1;
    return 0;
}

int pkie_der_enter_set_of(struct pkie_der *d, uint32_t tag, struct pkie_der *inner)
{
    const uint8_t *saved = d->p;
    struct pkie_der in;
    int rc = pkie_der_enter(d, tag, &in);
    if (rc != 0)
        return rc;
    struct pkie_der scan = in;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    while (!pkie_der_at_end(&scan)) {
        struct pkie_der_tlv t;
        rc = pkie_der_read_tlv(&scan, &t);
        if (rc != 0)
            goto err;
        if (prev != NULL && der_cmp(prev, prev_len, t.tlv, t.tlv_len) > 0) {
            rc = PKIE_ERR_AT(PKIE_ERR_DER_SET_ORDER, DER_OFF(d, t.tlv),
                             "SET OF element out of order");
            goto err;
        }
        prev = t.tlv;
        prev_len = t.tlv_len;
    }
    *inner = in;
    return 0;
err:
    d->p = saved;
    return rc;
}

int pkie_der_read_raw(struct pkie_der *d, uint32_t tag, const uint8_t **tlv, size_t *len)
{
    struct pkie_der_tlv t;
    int rc = der_header(d, &t);
    if (rc != 0)
        return rc;
    if (t.tag != tag)
        return tag_mismatch(d, &t, tag);
    /* The element is kept opaque but must be well-formed DER all through. */
    rc = der_check_element(d->base, &t, d->depth);
    if (rc != 0)
        return rc;
    d->p = t.tlv + t.tlv_len;
    *tlv = t.tlv;
    *len = t.tlv_len;
    return 0;
}

int der_check_content(uint32_t type, const uint8_t *val, size_t len, size_t off)
{
    switch (type) {
    case PKIE_DER_BOOLEAN:
        return der_check_bool(val, len, off);
    case PKIE_DER_INTEGER:
    case PKIE_DER_ENUMERATED:
        return der_check_integer(val, len, off);
    case PKIE_DER_BIT_STRING:
        return der_check_bit_string(val, len, off);
    case PKIE_DER_NULL:
        return der_check_null(len, off);
    case PKIE_DER_OID:
        return der_check_oid(val, len, off);
    case PKIE_DER_UTF8_STRING:
    case PKIE_DER_PRINTABLE_STRING:
    case PKIE_DER_IA5_STRING:
        return der_check_string(type, val, len, off);
    case PKIE_DER_UTC_TIME:
    case PKIE_DER_GENERALIZED_TIME:
        return der_check_time(type, val, len, off, NULL);
    default:
        return 0;
    }
}

int der_check_element(const uint8_t *base, const struct pkie_der_tlv *t, unsigned depth)
{
    if (!PKIE_DER_TAG_CONSTRUCTED(t->tag)) {
        if (PKIE_DER_TAG_CLASS(t->tag) != PKIE_DER_CLASS_UNIVERSAL)
            return 0;
        return der_check_content(t->tag, t->val, t->len, (size_t)(t->val - base));
    }
    if (depth >= PKIE_DER_MAX_DEPTH)
        return PKIE_ERR_AT(PKIE_ERR_DER_DEPTH, (size_t)(t->tlv - base), "nesting deeper than %d",
                           PKIE_DER_MAX_DEPTH);
    return der_walk(base, t->val, t->val + t->len, depth + 1, 0);
}

int der_walk(const uint8_t *base, const uint8_t *p, const uint8_t *end, unsigned depth, int strict)
{
    struct pkie_der d = {.base = base, .p = p, .end = end, .depth = depth};
    while (d.p < d.end) {
        struct pkie_der_tlv t;
        int rc = pkie_der_read_tlv(&d, &t);
        if (rc != 0)
            return rc;
        if (PKIE_DER_TAG_CONSTRUCTED(t.tag)) {
            if (depth >= PKIE_DER_MAX_DEPTH)
                return PKIE_ERR_AT(PKIE_ERR_DER_DEPTH, (size_t)(t.tlv - base),
                                   "nesting deeper than %d", PKIE_DER_MAX_DEPTH);
            rc = der_walk(base, t.val, t.val + t.len, depth + 1, strict);
        } else if (strict && PKIE_DER_TAG_CLASS(t.tag) == PKIE_DER_CLASS_UNIVERSAL) {
            rc = der_check_content(t.tag, t.val, t.len, (size_t)(t.val - base));
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int pkie_der_validate(const uint8_t *p, size_t len)
{
    if (len == 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_EMPTY, 0, "empty input");
    struct pkie_der d;
    pkie_der_init(&d, p, len);
    struct pkie_der_tlv t;
    int rc = pkie_der_read_tlv(&d, &t);
    if (rc != 0)
        return rc;
    rc = pkie_der_finish(&d);
    if (rc != 0)
        return rc;
    return der_walk(p, p, p + len, 0, 1);
}
