/* Generic DER tree walk (der_walk.h). */
#include "der_walk.h"

#include "pkie/error.h"

#include <string.h>

unsigned long der_walk_elements;

static int copy_integer(struct pkie_der *d, struct pkie_derw *w, uint32_t tag)
{
    const uint8_t *b;
    size_t n;
    struct pkie_der peek = *d;
    int rc = pkie_der_read_integer(&peek, tag, &b, &n);
    if (rc != 0)
        return rc;
    if (n <= 8) {
        int64_t v;
        rc = pkie_der_read_int64(d, tag, &v);
        return rc != 0 ? rc : pkie_derw_int64(w, tag, v);
    }
    if (!(b[0] & 0x80)) {
        rc = pkie_der_read_uint_bytes(d, tag, &b, &n);
        return rc != 0 ? rc : pkie_derw_uint_bytes(w, tag, b, n);
    }
    *d = peek;
    return pkie_derw_integer(w, tag, b, n);
}

static int copy_bits(struct pkie_der *d, struct pkie_derw *w, uint32_t tag)
{
    const uint8_t *b;
    size_t n;
    unsigned unused;
    struct pkie_der peek = *d;
    int rc = pkie_der_read_bit_string(&peek, tag, &b, &n, &unused);
    if (rc != 0)
        return rc;
    /* Short strings whose last bit is set read as named bit lists too. */
    if (n <= 4 && (n == 0 || (b[n - 1] & (1u << unused)))) {
        uint32_t bits;
        rc = pkie_der_read_named_bits(d, tag, &bits);
        return rc != 0 ? rc : pkie_derw_named_bits(w, tag, bits);
    }
    *d = peek;
    return pkie_derw_bit_string(w, tag, b, n, unused);
}

static int copy_oid(struct pkie_der *d, struct pkie_derw *w, uint32_t tag)
{
    const uint8_t *o;
    size_t n;
    int rc = pkie_der_read_oid(d, tag, &o, &n);
    if (rc != 0)
        return rc;
    char text[PKIE_DER_OID_TEXT_MAX];
    rc = pkie_der_oid_to_text(o, n, text, sizeof(text));
    if (rc != 0)
        return rc;
    size_t arcs = 1;
    for (const char *c = text; *c; c++)
        arcs += *c == '.';
    if (arcs > PKIE_DER_OID_MAX_ARCS)
        return pkie_derw_oid(w, tag, o, n);
    return pkie_derw_oid_text(w, tag, text);
}

static int copy_primitive(struct pkie_der *d, struct pkie_derw *w, uint32_t tag)
{
    int rc;
    const uint8_t *p;
    size_t n;
    switch (tag) {
    case PKIE_DER_INTEGER:
    case PKIE_DER_ENUMERATED:
        return copy_integer(d, w, tag);
    case PKIE_DER_BOOLEAN: {
        int v;
        rc = pkie_der_read_bool(d, tag, &v);
        return rc != 0 ? rc : pkie_derw_bool(w, tag, v);
    }
    case PKIE_DER_BIT_STRING:
        return copy_bits(d, w, tag);
    case PKIE_DER_OCTET_STRING:
        rc = pkie_der_read_octets(d, tag, &p, &n);
        return rc != 0 ? rc : pkie_derw_octets(w, tag, p, n);
    case PKIE_DER_NULL:
        rc = pkie_der_read_null(d, tag);
        return rc != 0 ? rc : pkie_derw_null(w, tag);
    case PKIE_DER_OID:
        return copy_oid(d, w, tag);
    case PKIE_DER_UTF8_STRING:
    case PKIE_DER_PRINTABLE_STRING:
    case PKIE_DER_IA5_STRING: {
        const char *s;
        rc = pkie_der_read_string(d, tag, tag, &s, &n);
        return rc != 0 ? rc : pkie_derw_string(w, tag, tag, s, n);
    }
    case PKIE_DER_UTC_TIME:
    case PKIE_DER_GENERALIZED_TIME: {
        struct pkie_der_time t;
        uint32_t type;
        rc = pkie_der_read_any_time(d, &t, &type);
        return rc != 0 ? rc : pkie_derw_time(w, tag, type, &t);
    }
    default: {
        struct pkie_der_tlv t;
        rc = pkie_der_expect(d, tag, &t);
        return rc != 0 ? rc : pkie_derw_tlv(w, tag, t.val, t.len);
    }
    }
}

int der_walk_copy(struct pkie_der *d, struct pkie_derw *w)
{
    while (!pkie_der_at_end(d)) {
        uint32_t tag;
        int rc = pkie_der_peek_tag(d, &tag);
        if (rc != 0)
            return rc;
        der_walk_elements++;
        if (!PKIE_DER_TAG_CONSTRUCTED(tag)) {
            rc = copy_primitive(d, w, tag);
            if (rc != 0)
                return rc;
            continue;
        }
        struct pkie_der inner;
        int sorted = 0;
        if (tag == PKIE_DER_SET) {
            /* A sorted SET goes through the writer's SET OF sorting. */
            sorted = pkie_der_enter_set_of(d, tag, &inner) == 0;
            if (!sorted)
                pkie_err_clear();
        }
        if (!sorted)
            rc = pkie_der_enter(d, tag, &inner);
        if (rc == 0)
            rc = sorted ? pkie_derw_begin_set_of(w, tag) : pkie_derw_begin(w, tag);
        if (rc == 0)
            rc = der_walk_copy(&inner, w);
        if (rc == 0)
            rc = pkie_derw_end(w);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int der_walk_roundtrip(const uint8_t *p, size_t len)
{
    der_walk_elements = 0;
    struct pkie_der d;
    pkie_der_init(&d, p, len);
    struct pkie_derw w;
    pkie_derw_init(&w, len + 16);
    const uint8_t *out;
    size_t olen;
    int rc = der_walk_copy(&d, &w);
    if (rc == 0)
        rc = pkie_derw_finish(&w, &out, &olen);
    if (rc == 0)
        rc = (olen == len && (len == 0 || memcmp(out, p, len) == 0)) ? 0 : 1;
    pkie_derw_free(&w);
    return rc;
}
