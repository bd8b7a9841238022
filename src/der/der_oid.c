/* OBJECT IDENTIFIER: contents rules, dotted text in both directions. */
#include "der_internal.h"

#include <string.h>

int der_check_oid(const uint8_t *v, size_t len, size_t off)
{
    if (len == 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_OID, off, "empty OBJECT IDENTIFIER");
    if (len > PKIE_DER_OID_MAX_LEN)
        return PKIE_ERR_AT(PKIE_ERR_DER_OID, off, "OBJECT IDENTIFIER of %zu octets (max %d)", len,
                           PKIE_DER_OID_MAX_LEN);
    uint64_t arc = 0;
    int in_arc = 0;
    for (size_t i = 0; i < len; i++) {
        if (!in_arc && v[i] == 0x80)
            return PKIE_ERR_AT(PKIE_ERR_DER_OID, off + i, "arc with a leading 0x80 octet");
        if (arc > (UINT64_MAX >> 7))
            return PKIE_ERR_AT(PKIE_ERR_DER_OID, off + i, "arc does not fit in 64 bits");
        arc = (arc << 7) | (v[i] & 0x7Fu);
        in_arc = (v[i] & 0x80) != 0;
        if (!in_arc)
            arc = 0;
    }
    if (in_arc)
        return PKIE_ERR_AT(PKIE_ERR_DER_OID, off + len - 1, "OBJECT IDENTIFIER ends inside an arc");
    return 0;
}

int pkie_der_read_oid(struct pkie_der *d, uint32_t tag, const uint8_t **oid, size_t *len)
{
    struct pkie_der_tlv t;
    int rc = der_peek_primitive(d, tag, &t);
    if (rc != 0)
        return rc;
    rc = der_check_oid(t.val, t.len, DER_OFF(d, t.val));
    if (rc != 0)
        return rc;
    d->p = t.tlv + t.tlv_len;
    *oid = t.val;
    *len = t.len;
    return 0;
}

/* Append the decimal of @p v at buf[*pos], keeping room for the NUL. */
static int put_u64(char *buf, size_t cap, size_t *pos, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (cap - *pos <= n)
        return PKIE_ERR(PKIE_ERR_LIMIT, "OID text does not fit in %zu bytes", cap);
    while (n > 0)
        buf[(*pos)++] = tmp[--n];
    return 0;
}

int pkie_der_oid_to_text(const uint8_t *oid, size_t len, char *buf, size_t cap)
{
    int rc = der_check_oid(oid, len, 0);
    if (rc != 0)
        return rc;
    if (cap == 0)
        return PKIE_ERR(PKIE_ERR_LIMIT, "no room for OID text");
    size_t pos = 0;
    uint64_t arc = 0;
    int first = 1;
    for (size_t i = 0; i < len; i++) {
        arc = (arc << 7) | (oid[i] & 0x7Fu);
        if (oid[i] & 0x80)
            continue;
        if (first) {
            unsigned x = arc < 40 ? 0 : arc < 80 ? 1 : 2;
            rc = put_u64(buf, cap, &pos, x);
            if (rc == 0)
                rc = cap - pos > 1 ? 0 : PKIE_ERR(PKIE_ERR_LIMIT, "OID text too long");
            if (rc != 0)
                return rc;
            buf[pos++] = '.';
            arc -= 40u * x;
            first = 0;
        } else {
            if (cap - pos <= 1)
                return PKIE_ERR(PKIE_ERR_LIMIT, "OID text does not fit in %zu bytes", cap);
            buf[pos++] = '.';
        }
        rc = put_u64(buf, cap, &pos, arc);
        if (rc != 0)
            return rc;
        arc = 0;
    }
    buf[pos] = '\0';
    return 0;
}

/* Append @p v in base 128 to out[*pos]. */
static int put_arc(uint8_t *out, size_t cap, size_t *pos, uint64_t v, size_t toff)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)(v & 0x7F);
        v >>= 7;
    } while (v != 0);
    if (*pos + n > PKIE_DER_OID_MAX_LEN)
        return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, toff, "OID longer than %d octets encoded",
                           PKIE_DER_OID_MAX_LEN);
    if (cap - *pos < n)
        return PKIE_ERR(PKIE_ERR_LIMIT, "OID contents do not fit in %zu bytes", cap);
    while (n > 0) {
        n--;
        out[(*pos)++] = (uint8_t)(tmp[n] | (n ? 0x80 : 0));
    }
    return 0;
}

int pkie_der_oid_from_text(const char *text, uint8_t *out, size_t cap, size_t *len)
{
    size_t pos = 0, i = 0, narcs = 0;
    uint64_t first = 0;
    for (;;) {
        size_t start = i;
        uint64_t v = 0;
        while (text[i] >= '0' && text[i] <= '9') {
            unsigned dgt = (unsigned)(text[i] - '0');
            if (v > (UINT64_MAX - dgt) / 10)
                return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, start, "arc does not fit in 64 bits");
            v = v * 10 + dgt;
            i++;
        }
        if (i == start)
            return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, i, "empty arc or unexpected character");
        if (text[start] == '0' && i - start > 1)
            return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, start, "arc with a leading zero");
        if (++narcs > PKIE_DER_OID_MAX_ARCS)
            return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, start, "more than %d arcs",
                               PKIE_DER_OID_MAX_ARCS);
        int rc = 0;
        if (narcs == 1) {
            if (v > 2)
                return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, start, "first arc must be 0, 1 or 2");
            first = v;
        } else if (narcs == 2) {
            if (first < 2 && v >= 40)
                return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, start,
                                   "second arc must be below 40 under %u", (unsigned)first);
            if (v > UINT64_MAX - 40 * first)
                return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, start, "arc does not fit in 64 bits");
            rc = put_arc(out, cap, &pos, 40 * first + v, start);
        } else {
            rc = put_arc(out, cap, &pos, v, start);
        }
        if (rc != 0)
            return rc;
        if (text[i] == '\0')
            break;
        if (text[i] != '.')
            return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, i, "unexpected character");
        i++;
    }
    if (narcs < 2)
        return PKIE_ERR_AT(PKIE_ERR_DER_OID_TEXT, 0, "an OID has at least two arcs");
    *len = pos;
    return 0;
}

int pkie_der_oid_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}
