/* Character strings: PrintableString, IA5String, UTF8String. */
#include "der_internal.h"

#include <string.h>

static int printable(uint8_t c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr(" '()+,-./:=?", c) != NULL;
}

/* Length of the well-formed shortest-form UTF-8 sequence at v (at most n
 * bytes), or 0 when it is not one (overlong, surrogate, above U+10FFFF,
 * truncated, stray continuation). */
static size_t utf8_seq(const uint8_t *v, size_t n)
{
    uint8_t c = v[0];
    size_t need;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        cp = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        cp = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((v[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (v[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

int der_check_string(uint32_t type, const uint8_t *v, size_t len, size_t off)
{
    size_t i = 0;
    while (i < len) {
        switch (type) {
        case PKIE_DER_PRINTABLE_STRING:
            if (!printable(v[i]))
                return PKIE_ERR_AT(PKIE_ERR_DER_STRING, off + i,
                                   "byte 0x%02X not allowed in a PrintableString", v[i]);
            i++;
            break;
        case PKIE_DER_IA5_STRING:
            if (v[i] > 0x7F)
                return PKIE_ERR_AT(PKIE_ERR_DER_STRING, off + i,
                                   "byte 0x%02X not allowed in an IA5String", v[i]);
            i++;
            break;
        case PKIE_DER_UTF8_STRING: {
            size_t n = utf8_seq(v + i, len - i);
            if (n == 0)
                return PKIE_ERR_AT(PKIE_ERR_DER_STRING, off + i, "malformed UTF-8");
            i += n;
            break;
        }
        default:
            return PKIE_ERR(PKIE_ERR_ARG, "not a character string type");
        }
    }
    return 0;
}

int pkie_der_read_string(struct pkie_der *d, uint32_t tag, uint32_t type, const char **s,
                         size_t *len)
{
    if (type != PKIE_DER_UTF8_STRING && type != PKIE_DER_PRINTABLE_STRING &&
        type != PKIE_DER_IA5_STRING)
        return PKIE_ERR(PKIE_ERR_ARG, "not a character string type");
    struct pkie_der_tlv t;
    int rc = der_peek_primitive(d, tag, &t);
    if (rc != 0)
        return rc;
    rc = der_check_string(type, t.val, t.len, DER_OFF(d, t.val));
    if (rc != 0)
        return rc;
    d->p = t.tlv + t.tlv_len;
    *s = (const char *)t.val;
    *len = t.len;
    return 0;
}
