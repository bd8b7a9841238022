/**
 * @file utf8.h
 * UTF-8 well-formedness (RFC 3629), the one check the JSON audit, the
 * catalog and the metrics' label values share.
 */
#ifndef PKIE_UTF8_H
#define PKIE_UTF8_H

#include <stddef.h>

/**
 * Length (1 to 4) of the well-formed UTF-8 sequence that starts at @p p, of
 * which @p n bytes (at least 1) are available; 0 when it is not one (a stray
 * continuation byte, an overlong form, a surrogate, a code point above
 * U+10FFFF, or a sequence cut by the end).
 */
size_t pkie_utf8_seq_len(const unsigned char *p, size_t n);

#endif
