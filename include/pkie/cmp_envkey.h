/*
 * Centrally generated private keys in CMP (RFC 9483 section 4.1.6, RFC 9810 section 5.2.8,
 * RFC 5652): the EncryptedKey of a CertifiedKeyPair, as an EnvelopedData whose content is a
 * SignedData by a key generation authority (KGA, extendedKeyUsage id-kp-cmKGA) over the key.
 *
 * Format (what pkie_cmp_envkey_seal writes):
 *   EncryptedKey ::= envelopedData [0] IMPLICIT EnvelopedData
 *     encryptedContentInfo.contentType id-signedData, content = SignedData DER
 *     recipientInfos: one ktri (RSA recipient certificate, RSAES-OAEP with SHA-256), kari
 *     (EC recipient certificate, dhSinglePass-stdDH-sha256kdf-scheme, AES-256 key wrap) or
 *     pwri (the MAC secret, PBKDF2-HMAC-SHA256, id-alg-PWRI-KEK with AES-256-CBC, the only
 *     key encryption libcrypto offers for pwri); content AES-256-CBC
 *   SignedData: eContentType id-ct-KP-aKeyPackage, eContent one OneAsymmetricKey (RFC 5958,
 *     the PKCS#8 PrivateKeyInfo DER), signed by the KGA with its chain in certificates.
 * OpenSSL 3.5's CMP client decodes the content with d2i_PrivateKey, which reads one
 * OneAsymmetricKey and not the SEQUENCE OF of an AsymmetricKeyPackage, so one key is sent
 * bare; pkie_cmp_envkey_open accepts both (the package with exactly one key), the
 * type-specific key encodings OpenSSL 3.5's own server sends (i2d_PrivateKey: ECPrivateKey,
 * RSAPrivateKey), and both id-ct-KP-aKeyPackage and id-data (what that server puts) as
 * content types.
 *
 * pkie_cmp_envkey_seal writes the kari EnvelopedData (to an EC certificate on P-256, P-384 or
 * P-521) and, for a KGA with an EC key, the SignedData with pkie's DER writer and EVP, in the
 * layout libcrypto's CMS writes; pkie_cmp_envkey_open reads that kari form the same way and
 * every other form with libcrypto's CMS. The private key's pair is checked on every path
 * (except for key types libcrypto has no such check for).
 *
 * All intermediate buffers holding the private key are wiped before they are freed.
 */
#ifndef PKIE_CMP_ENVKEY_H
#define PKIE_CMP_ENVKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Who the key is sealed to / opened by. */
struct pkie_cmp_envkey_recipient {
    X509 *cert;            /**< RSA (ktri) or EC (kari) certificate of the client, or NULL */
    EVP_PKEY *key;         /**< open: the private key of @p cert */
    const uint8_t *secret; /**< else the MAC secret (pwri) */
    size_t secret_len;     /**< its length */
};

/** The key generation authority that signs the key (seal). */
struct pkie_cmp_envkey_kga {
    X509 *cert;            /**< KGA certificate (id-kp-cmKGA) */
    EVP_PKEY *key;         /**< its private key */
    STACK_OF(X509) *chain; /**< certificates added to the SignedData (may be NULL) */
};

/** PBKDF2 iterations of a pwri envelope written by pkie_cmp_envkey_seal. */
#define PKIE_CMP_ENVKEY_PWRI_ITER 10000

/**
 * Seal @p key (a private key) for @p to, signed by @p kga: *out is the EncryptedKey TLV
 * (malloc'd; free()). PKIE_ERR_ARG when @p to names neither a certificate with an RSA or
 * EC key nor a secret.
 */
int pkie_cmp_envkey_seal(EVP_PKEY *key, const struct pkie_cmp_envkey_kga *kga,
                         const struct pkie_cmp_envkey_recipient *to, uint8_t **out, size_t *len);

/** What pkie_cmp_envkey_open checks the signer against. */
struct pkie_cmp_envkey_trust {
    X509_STORE *trusted;       /**< trust anchors for the KGA certificate (required) */
    STACK_OF(X509) *untrusted; /**< further intermediates (the SignedData's are added) */
    X509 **verified;           /**< optional, in/out: the KGA certificate last found to chain
                                    to @p trusted with id-kp-cmKGA (a reference, kept by the
                                    caller for the same trust store); the same certificate
                                    again within its validity is not verified again, and a
                                    SignedData carrying exactly it is read without decoding
                                    it again (signature, cmKGA and validity still checked) */
};

/**
 * Open an EncryptedKey TLV (@p ek, @p len, the privateKey of a CertifiedKeyPair): only the
 * envelopedData alternative is accepted (EncryptedValue: PKIE_ERR_UNSUPPORTED). Decrypts as
 * the recipientInfos say (ktri/kari with @p by's certificate and key, pwri with its secret),
 * verifies the SignedData's signature, that its signer chains to @p trust and carries the
 * id-kp-cmKGA extended key usage (else PKIE_ERR_CMP_SIGNER_NOT_TRUSTED), and decodes the key.
 * Errors: PKIE_ERR_CMP_DECODE (malformed), PKIE_ERR_CRYPTO (cannot decrypt or the signature
 * does not verify), each with a specific message. On success *out is the private key.
 */
int pkie_cmp_envkey_open(const uint8_t *ek, size_t len, const struct pkie_cmp_envkey_recipient *by,
                         const struct pkie_cmp_envkey_trust *trust, EVP_PKEY **out);

#ifdef __cplusplus
}
#endif
#endif
