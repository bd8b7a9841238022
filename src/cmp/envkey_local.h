/* Internals of the central key envelope (src/cmp/envkey_*.c; see pkie/cmp_envkey.h). */
#ifndef PKIE_CMP_ENVKEY_LOCAL_H
#define PKIE_CMP_ENVKEY_LOCAL_H

#include "pkie/cmp_envkey.h"
#include "pkie/der.h"

#include <openssl/cms.h>

#define OID_SIGNED_DATA    "1.2.840.113549.1.7.2"
#define OID_ENVELOPED_DATA "1.2.840.113549.1.7.3"
#define OID_DATA           "1.2.840.113549.1.7.1"
#define OID_AKEY_PACKAGE   "2.16.840.1.101.2.1.2.78.5" /* id-ct-KP-aKeyPackage (RFC 5958) */
#define MAX_ENVELOPE       (256u * 1024)               /* EncryptedKey and its content */

/* envkey_cms.c: a CMS ContentInfo of type @p oid around the bare SignedData / EnvelopedData
 * @p tlv (its first byte read as 0x30: the EncryptedKey's [0] IMPLICIT); NULL with the error
 * recorded. */
CMS_ContentInfo *envkey_ci_wrap(const char *oid, const uint8_t *tlv, size_t len);
/* The content [0] of @p ci's encoding: the bare SignedData / EnvelopedData, malloc'd. */
int envkey_ci_unwrap(CMS_ContentInfo *ci, uint8_t **out, size_t *len);
/* Free a SignedData holding the key as its content, the content cleared first (NULL ok). */
void envkey_ci_free_secret(CMS_ContentInfo *ci);
/* The bytes written to memory BIO @p b, malloc'd. */
int envkey_bio_take(BIO *b, uint8_t **out, size_t *len);

/* envkey_p8.c: the PKCS#8 encoding of @p key into the secret writer @p w (*der, *len point
 * into it); EC keys of named curves without OpenSSL 3.0's encoders. */
int envkey_key_to_p8(EVP_PKEY *key, struct pkie_derw *w, const uint8_t **der, size_t *len);
/* The private key of a SignedData's content: OneAsymmetricKey, an AsymmetricKeyPackage of
 * one, or the type-specific form OpenSSL 3.5's server sends. */
int envkey_decode_key(const uint8_t *p, size_t len, EVP_PKEY **out);

#endif
