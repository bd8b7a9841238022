/* Small per-context caches of decoded objects (internal to the CMP client).
 *
 * A client usually talks to one CA, which sends the same CA certificates in
 * extraCerts and caPubs in every response. Decoding a certificate with
 * OpenSSL 3 builds its public key through the provider decoders, the largest
 * client cost of an enrollment; the cache decodes each distinct DER encoding
 * once and hands out references to the same immutable X509 afterwards. A hit
 * needs the exact same bytes (length and memcmp), so it yields exactly what
 * decoding them again would. */
#ifndef PKIE_CMP_CLIENT_CERTCACHE_H
#define PKIE_CMP_CLIENT_CERTCACHE_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

/** Entries of a certificate cache (round-robin replacement). */
#define CMP_CERTCACHE_N       8
/** Larger encodings are decoded every time, not cached. */
#define CMP_CERTCACHE_MAX_DER 65536

/** Decoded certificates by their DER encoding. Zero-initialised = empty. */
struct cmp_certcache {
    struct {
        uint8_t *der; /**< the encoding (owned) */
        size_t len;   /**< its length, 0 = free entry */
        X509 *x;      /**< the certificate decoded from it (one reference) */
    } e[CMP_CERTCACHE_N];
    unsigned next;              /**< the entry replaced on the next miss */
    unsigned long hits, misses; /**< counters, for tests */
};

/**
 * The certificate encoded by exactly @p der / @p len (a new reference, free
 * with X509_free), from @p c when these bytes were decoded before, else
 * decoded (the whole input must be one certificate) and remembered.
 * NULL with a PKIE_ERR_CMP_CLIENT_PROTOCOL error when the bytes are not one
 * certificate. @p c may be NULL (no caching).
 */
X509 *cmp_certcache_get1(struct cmp_certcache *c, const uint8_t *der, size_t len);
/** Free every entry. */
void cmp_certcache_clear(struct cmp_certcache *c);

/** The SubjectPublicKeyInfo of one key, encoded once. Zero = empty. */
struct cmp_spkicache {
    EVP_PKEY *key;      /**< the key it encodes (a reference, so the pointer stays unique) */
    unsigned char *der; /**< its SubjectPublicKeyInfo (OPENSSL_malloc) */
    size_t len;
};

/** The SubjectPublicKeyInfo of @p key into *der / *len (owned by @p c, valid
 *  until the next call or clear); encodes only when @p key is not the key of
 *  the previous call. Keys are not modified once given to the client. */
int cmp_spkicache_get0(struct cmp_spkicache *c, EVP_PKEY *key, const uint8_t **der, size_t *len);
/** Free the cached encoding and the key reference. */
void cmp_spkicache_clear(struct cmp_spkicache *c);

#endif
