/*
 * Bounded growable byte buffer.
 *
 * A pkie_buf knows its length, its allocated capacity and the maximum it may
 * ever grow to; growing past the maximum fails with PKIE_ERR_LIMIT instead of
 * allocating. A buffer marked secret is wiped before its memory is released
 * (on growth and on free), so key material never lingers on the heap.
 */
#ifndef PKIE_BUF_H
#define PKIE_BUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pkie_buf {
    uint8_t *data; /**< contents, NULL while nothing was allocated */
    size_t len;    /**< bytes in use */
    size_t cap;    /**< bytes allocated */
    size_t max;    /**< hard upper bound on len */
    int secret;    /**< non-zero: wipe on realloc and free */
};

/** Initialise an empty buffer that may grow to @p max bytes. No allocation. */
void pkie_buf_init(struct pkie_buf *b, size_t max);
/** As pkie_buf_init, for key material: wiped on growth and free. */
void pkie_buf_init_secret(struct pkie_buf *b, size_t max);
/** Ensure room for @p extra more bytes. PKIE_ERR_LIMIT past max, PKIE_ERR_NOMEM. */
int pkie_buf_reserve(struct pkie_buf *b, size_t extra);
/** Append @p n bytes from @p p. */
int pkie_buf_append(struct pkie_buf *b, const void *p, size_t n);
/** Append one byte. */
int pkie_buf_append_byte(struct pkie_buf *b, uint8_t c);
/** Append a NUL-terminated string (without the NUL). */
int pkie_buf_append_str(struct pkie_buf *b, const char *s);
/** printf-style append; the result is NUL-terminated (NUL not counted in len). */
int pkie_buf_printf(struct pkie_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Drop the contents (wiped if secret), keep the allocation. */
void pkie_buf_reset(struct pkie_buf *b);
/** Release the memory (wiped if secret); the buffer is empty and reusable. */
void pkie_buf_free(struct pkie_buf *b);
/** Hand the data to the caller (who frees it); the buffer becomes empty. */
uint8_t *pkie_buf_steal(struct pkie_buf *b, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
