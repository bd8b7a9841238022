/* The fast path of `pkie cmp`'s credential loading (cmp_client_fastload.c):
 * the common unencrypted PEM/DER keys and certificates read without
 * OpenSSL's decoders. Each function either loads exactly what OSSL_STORE
 * would load from the same input, or reports "not handled" (and leaves no
 * error behind), never an error of its own: the caller then goes through
 * OSSL_STORE, whose verdict and messages are OpenSSL's.
 * PKIE_CMP_NO_FASTLOAD=1 in the environment turns the fast path off. */
#ifndef PKIE_APP_CMP_CLIENT_FASTLOAD_H
#define PKIE_APP_CMP_CLIENT_FASTLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/** The private key in the file at @p path (a plain path, not a URI), or
 *  NULL when not handled. */
EVP_PKEY *cmpc_fast_key(const char *path);
/** Append every certificate of the file at @p path to @p sk: 1, or 0 when
 *  not handled (then @p sk is as it was). */
int cmpc_fast_certs(const char *path, STACK_OF(X509) *sk);

/** The same over a file's content (for the tests and the fuzz target). */
EVP_PKEY *cmpc_fast_key_mem(const uint8_t *buf, size_t n);
int cmpc_fast_certs_mem(const uint8_t *buf, size_t n, STACK_OF(X509) *sk);

#endif
