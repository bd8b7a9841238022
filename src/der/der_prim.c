/* Primitive types: INTEGER, BOOLEAN, BIT STRING, OCTET STRING, NULL. */
#include "der_internal.h"

int der_check_integer(const uint8_t *v, size_t len, size_t off)
{
    if (len == 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_INTEGER, off, "empty INTEGER");
    if (len > 1 && ((v[0] == 0x00 && !(v[1] & 0x80)) || (v[0] == 0xFF && (v[1] & 0x80))))
        return PKIE_ERR_AT(PKIE_ERR_DER_INTEGER, off, "INTEGER with a redundant leading 0x%02X",
                           v[0]);
    return 0;
}

int der_check_bool(const uint8_t *v, size_t len, size_t off)
{
    if (len != 1)
        return PKIE_ERR_AT(PKIE_ERR_DER_BOOLEAN, off, "BOOLEAN of %zu octets", len);
    if (v[0] != 0x00 && v[0] != 0xFF)
        return PKIE_ERR_AT(PKIE_ERR_DER_BOOLEAN, off, "BOOLEAN 0x%02X", v[0]);
    return 0;
}

int der_check_bit_string(const uint8_t *v, size_t len, size_t off)
{
    if (len == 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_BITSTRING, off, "BIT STRING without its unused-bits octet");
    unsigned unused = v[0];
    if (unused > 7)
        return PKIE_ERR_AT(PKIE_ERR_DER_BITSTRING, off, "%u unused bits", unused);
    if (len == 1 && unused != 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_BITSTRING, off, "empty BIT STRING with %u unused bits",
                           unused);
    if (len > 1 && (v[len - 1] & ((1u << unused) - 1u)) != 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_BITSTRING, off + len - 1, "unused bits not zero");
    return 0;
}

int der_check_null(size_t len, size_t off)
{
    if (len != 0)
        return PKIE_ERR_AT(PKIE_ERR_DER_NULL, off, "NULL with %zu content octets", len);
    return 0;
}

/* Read a primitive element of @p tag whose contents pass @p type's rules. */
static int read_prim(struct pkie_der *d, uint32_t tag, uint32_t type, struct pkie_der_tlv *t)
{
    int rc = der_peek_primitive(d, tag, t);
    if (rc != 0)
        return rc;
    rc = der_check_content(type, t->val, t->len, DER_OFF(d, t->val));
    if (rc != 0)
        return rc;
    d->p = t->tlv + t->tlv_len;
    return 0;
}

int pkie_der_read_integer(struct pkie_der *d, uint32_t tag, const uint8_t **bytes, size_t *len)
{
    struct pkie_der_tlv t;
    int rc = read_prim(d, tag, PKIE_DER_INTEGER, &t);
    if (rc != 0)
        return rc;
    *bytes = t.val;
    *len = t.len;
    return 0;
}

int pkie_der_read_int64(struct pkie_der *d, uint32_t tag, int64_t *v)
{
    struct pkie_der_tlv t;
    struct pkie_der save = *d;
    int rc = read_prim(d, tag, PKIE_DER_INTEGER, &t);
    if (rc != 0)
        return rc;
    if (t.len > 8) {
        *d = save;
        return PKIE_ERR_AT(PKIE_ERR_DER_INTEGER_RANGE, DER_OFF(d, t.val),
                           "INTEGER of %zu octets does not fit in 64 bits", t.len);
    }
    uint64_t u = (t.val[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < t.len; i++)
        u = (u << 8) | t.val[i];
    *v = (int64_t)u;
    return 0;
}

int pkie_der_read_uint_bytes(struct pkie_der *d, uint32_t tag, const uint8_t **bytes, size_t *len)
{
    struct pkie_der_tlv t;
    struct pkie_der save = *d;
    int rc = read_prim(d, tag, PKIE_DER_INTEGER, &t);
    if (rc != 0)
        return rc;
    if (t.val[0] & 0x80) {
        *d = save;
        return PKIE_ERR_AT(PKIE_ERR_DER_INTEGER_RANGE, DER_OFF(d, t.val),
                           "negative INTEGER where a non-negative one is required");
    }
    *bytes = t.val;
    *len = t.len;
    if (t.len > 1 && t.val[0] == 0) {
        (*bytes)++;
        (*len)--;
    }
    return 0;
}

int pkie_der_read_bool(struct pkie_der *d, uint32_t tag, int *v)
{
    struct pkie_der_tlv t;
    int rc = read_prim(d, tag, PKIE_DER_BOOLEAN, &t);
    if (rc != 0)
        return rc;
    *v = t.val[0] != 0;
    return 0;
}

int pkie_der_read_bool_default(struct pkie_der *d, uint32_t tag, int def, int *v)
{
    if (!pkie_der_peek_is(d, tag)) {
        *v = def;
        return 0;
    }
    struct pkie_der save = *d;
    int x;
    int rc = pkie_der_read_bool(d, tag, &x);
    if (rc != 0)
        return rc;
    if (x == (def != 0)) {
        *d = save;
        return PKIE_ERR_AT(PKIE_ERR_DER_DEFAULT, DER_OFF(d, d->p),
                           "BOOLEAN equal to its DEFAULT is encoded");
    }
    *v = x;
    return 0;
}

int pkie_der_read_int64_default(struct pkie_der *d, uint32_t tag, int64_t def, int64_t *v)
{
    if (!pkie_der_peek_is(d, tag)) {
        *v = def;
        return 0;
    }
    struct pkie_der save = *d;
    int64_t x;
    int rc = pkie_der_read_int64(d, tag, &x);
    if (rc != 0)
        return rc;
    if (x == def) {
        *d = save;
        return PKIE_ERR_AT(PKIE_ERR_DER_DEFAULT, DER_OFF(d, d->p),
                           "INTEGER equal to its DEFAULT is encoded");
    }
    *v = x;
    return 0;
}

int pkie_der_read_bit_string(struct pkie_der *d, uint32_t tag, const uint8_t **bits, size_t *len,
                             unsigned *unused)
{
    struct pkie_der_tlv t;
    int rc = read_prim(d, tag, PKIE_DER_BIT_STRING, &t);
    if (rc != 0)
        return rc;
    *unused = t.val[0];
    *bits = t.val + 1;
    *len = t.len - 1;
    return 0;
}

int pkie_der_read_named_bits(struct pkie_der *d, uint32_t tag, uint32_t *bits)
{
    struct pkie_der save = *d;
    const uint8_t *b;
    size_t n;
    unsigned unused;
    int rc = pkie_der_read_bit_string(d, tag, &b, &n, &unused);
    if (rc != 0)
        return rc;
    if (n == 0) {
        *bits = 0;
        return 0;
    }
    if (!(b[n - 1] & (1u << unused))) {
        *d = save;
        return PKIE_ERR_AT(PKIE_ERR_DER_NAMED_BITS, DER_OFF(d, b + n - 1),
                           "named bit list with trailing zero bits");
    }
    if (n > 4) {
        *d = save;
        return PKIE_ERR_AT(PKIE_ERR_DER_NAMED_BITS, DER_OFF(d, b + n - 1),
                           "named bit beyond bit 31");
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n * 8; i++)
        if (b[i / 8] & (0x80u >> (i % 8)))
            v |= 1u << i;
    *bits = v;
    return 0;
}

int pkie_der_read_octets(struct pkie_der *d, uint32_t tag, const uint8_t **p, size_t *len)
{
    struct pkie_der_tlv t;
    int rc = read_prim(d, tag, PKIE_DER_OCTET_STRING, &t);
    if (rc != 0)
        return rc;
    *p = t.val;
    *len = t.len;
    return 0;
}

int pkie_der_read_null(struct pkie_der *d, uint32_t tag)
{
    struct pkie_der_tlv t;
    return read_prim(d, tag, PKIE_DER_NULL, &t);
}
