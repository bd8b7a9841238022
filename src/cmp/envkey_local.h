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

/* envkey_kari.c: key agreement to an EC certificate without libcrypto's CMS. The curve of
 * @p pub when it is a named curve of cofactor 1 (P-256, P-384, P-521), else NULL. */
const char *envkey_kari_curve(EVP_PKEY *pub);
/* The EnvelopedData (EncryptedKey TLV, [0] IMPLICIT) of the SignedData @p sd to @p cert's EC
 * key (envkey_kari_curve), malloc'd, in the form pkie/cmp_envkey.h describes for kari. */
int envkey_kari_seal(const uint8_t *sd, size_t sd_len, X509 *cert, uint8_t **out, size_t *len);
/* The content of EncryptedKey @p ek for @p cert / @p key when @p ek has exactly the form
 * envkey_kari_seal writes and names @p cert (malloc'd, to be wiped); 1 when not (the caller
 * then uses libcrypto's CMS); PKIE_ERR_CRYPTO when it does not decrypt. */
int envkey_kari_open(const uint8_t *ek, size_t len, X509 *cert, EVP_PKEY *key, uint8_t **plain,
                     size_t *plain_len);

#endif
