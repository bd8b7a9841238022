/* File name checks and hex helpers of the transfer layer. */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <string.h>

/* Length of the UTF-8 sequence at @p (at most @n bytes), 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int pkie_xfer_name_check(const char *name, size_t len)
{
    const unsigned char *p = (const unsigned char *)name;
    if (name == NULL || len == 0)
        return PKIE_ERR(PKIE_ERR_XFER_NAME, "empty file name");
    if (len > PKIE_XFER_NAME_MAX)
        return PKIE_ERR(PKIE_ERR_XFER_NAME, "file name of %zu bytes (at most %d)", len,
                        PKIE_XFER_NAME_MAX);
    if (p[0] == '.')
        return PKIE_ERR(PKIE_ERR_XFER_NAME, "file name starts with a dot (hidden, '.' or '..')");
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '/' || c == '\\')
            return PKIE_ERR_AT(PKIE_ERR_XFER_NAME, i, "file name holds a path separator");
        if (c < 0x20 || c == 0x7f)
            return PKIE_ERR_AT(PKIE_ERR_XFER_NAME, i, "file name holds control character 0x%02x",
                               c);
        size_t l = utf8_seq(p + i, len - i);
        if (l == 0)
            return PKIE_ERR_AT(PKIE_ERR_XFER_NAME, i, "file name is not valid UTF-8");
        i += l;
    }
    /* ".." anywhere as a whole component is covered by the separator and
     * leading-dot rules; refuse the literal sequence too, as some tools do. */
    if (memmem(name, len, "..", 2) != NULL)
        return PKIE_ERR(PKIE_ERR_XFER_NAME, "file name holds '..'");
    return 0;
}

char *pkie_xfer_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pkie_xfer_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (hex == NULL || strlen(hex) != 2 * n)
        return PKIE_ERR(PKIE_ERR_ARG, "expected %zu hex digits", 2 * n);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PKIE_ERR(PKIE_ERR_ARG, "not a hex digit at %zu", 2 * i);
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return 0;
}
