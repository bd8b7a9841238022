/* Generic DER tree walk for tests and fuzzing: reads every element of a
 * DER input with the typed reader calls where the universal tag is known and
 * writes it back with the writer, so that a byte-identical re-encoding
 * proves reader and writer agree. */
#ifndef PKIE_TEST_DER_WALK_H
#define PKIE_TEST_DER_WALK_H

#include "pkie/der.h"

/** Re-encode the elements of @p d into @p w (recursively). 0 or an error. */
int der_walk_copy(struct pkie_der *d, struct pkie_derw *w);

/**
 * Decode @p p (one complete element) and re-encode it. Returns 0 when the
 * re-encoding is byte-identical, 1 when it differs, or a negative pkie_err
 * when reading or writing failed.
 */
int der_walk_roundtrip(const uint8_t *p, size_t len);

/** Number of elements the last der_walk_roundtrip visited (all threads). */
extern unsigned long der_walk_elements;

#endif
