/* Helpers shared by the CMP unit tests. */
#ifndef PKIE_CMP_TEST_UTIL_H
#define PKIE_CMP_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkie/cmp_msg.h"

/** Read a whole file (malloc'd) or NULL. */
uint8_t *tu_read_file(const char *path, size_t *len);
/** Path under $PKIE_TEST_DATA (static buffer, overwritten by the next call). */
const char *tu_data(const char *rel);
/** Load a PEM certificate / private key from tests/data. */
X509 *tu_cert(const char *rel);
EVP_PKEY *tu_key(const char *rel);
/** A trust store with one certificate from tests/data. */
X509_STORE *tu_store(const char *rel);
/** A new EVP_PKEY: "RSA" (2048), "RSA-PSS" use RSA, "P-256", "P-384", "P-521", "ED25519", "ED448".
 */
EVP_PKEY *tu_genkey(const char *kind);
/** A self-signed certificate for @p key with subject CN=@p cn and a SKID. */
X509 *tu_selfsigned(EVP_PKEY *key, const char *cn);
/** Encode, decode and check that re-encoding gives the same bytes; returns the
 *  decoded message (freed by the caller) and the encoding in *der (free()). */
struct pkie_cmp_msg *tu_roundtrip(const struct pkie_cmp_msg *m, uint8_t **der, size_t *len);

#endif
