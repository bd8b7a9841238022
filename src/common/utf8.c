/* UTF-8 well-formedness (include/pkie/utf8.h). */
#include "pkie/utf8.h"

size_t pkie_utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t l = c < 0x80                   ? 1
               : (c >= 0xc2 && c <= 0xdf) ? 2
               : (c >= 0xe0 && c <= 0xef) ? 3
               : (c >= 0xf0 && c <= 0xf4) ? 4
                                          : 0;
    if (l == 0 || l > n)
        return 0;
    for (size_t i = 1; i < l; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
        return 0;
    return l;
}
