/* File name checks, the name patterns of partner.NAME.names and hex helpers
 * of the transfer layer. */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <stdint.h>
#include <stdio.h>
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

int pkie_xfer_name_pattern_check(const char *pattern, size_t len)
{
    if (pattern == NULL || len == 0)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "empty name pattern");
    for (size_t i = 0; i < len; i++) {
        if (pattern[i] == '[' || pattern[i] == ']')
            return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                            "name pattern '%.*s': no character classes ('[' or ']'): "
                            "'*' and '?' only",
                            (int)len, pattern);
        if (pattern[i] == '\\')
            return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                            "name pattern '%.*s': no escapes ('\\'): '*' and '?' only", (int)len,
                            pattern);
    }
    /* a pattern is a name with wildcards: one no name could match is an
     * error, not a silent refusal of everything */
    if (pkie_xfer_name_check(pattern, len) != 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", pkie_err_last()->msg);
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "name pattern '%.*s' matches no name: %s",
                        len > PKIE_XFER_NAME_MAX ? 32 : (int)len, pattern, why);
    }
    return 0;
}

/* Bytes of the character at @p s (at most @p n): its UTF-8 sequence, 1 for a
 * byte that starts none (names are checked before: a safety net only). */
static size_t char_len(const char *s, size_t n)
{
    size_t l = utf8_seq((const unsigned char *)s, n);
    return l == 0 ? 1 : l;
}

int pkie_xfer_name_match(const char *pattern, const char *name, size_t len)
{
    /* Greedy with one backtrack point, the last '*': what an earlier '*'
     * took never needs to change, so the steps stay within
     * strlen(pattern) * len. */
    size_t pi = 0, si = 0, plen = strlen(pattern);
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < len) {
        if (pi < plen && pattern[pi] == '*') {
            star_p = ++pi;
            star_s = si;
        } else if (pi < plen && pattern[pi] == '?') {
            pi++;
            si += char_len(name + si, len - si);
        } else if (pi < plen && pattern[pi] == name[si]) {
            pi++;
            si++;
        } else if (star_p != SIZE_MAX) {
            /* the last '*' takes one more character */
            star_s += char_len(name + star_s, len - star_s);
            si = star_s;
            pi = star_p;
        } else {
            return 0;
        }
    }
    while (pi < plen && pattern[pi] == '*')
        pi++;
    return pi == plen;
}

int pkie_xfer_names_allowed(const char *const *patterns, size_t n, const char *name, size_t len)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (pkie_xfer_name_match(patterns[i], name, len))
            return 1;
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
