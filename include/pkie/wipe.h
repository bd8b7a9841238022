/* Secure wipe of memory that held secrets; never optimised away. */
#ifndef PKIE_WIPE_H
#define PKIE_WIPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Overwrite @p n bytes at @p p with zeros; the compiler may not elide it. */
void pkie_wipe(void *p, size_t n);
/** Wipe @p n bytes at @p p, then free(p). NULL is allowed. */
void pkie_wipe_free(void *p, size_t n);
/** Wipe a NUL-terminated string and free it. NULL is allowed. */
void pkie_wipe_free_str(char *s);
/** Constant-time comparison: 0 when equal. */
int pkie_memeq_ct(const void *a, const void *b, size_t n);

#ifdef __cplusplus
}
#endif
#endif
