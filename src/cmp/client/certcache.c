/* Per-context caches of decoded certificates and of the new key's
 * SubjectPublicKeyInfo (see certcache.h). */
#include "certcache.h"
#include "pkie/error.h"

#include <openssl/crypto.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static X509 *decode(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = len <= (size_t)LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (x == NULL || p != der + len) {
        X509_free(x);
        PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_PROTOCOL, "bad certificate in response");
        return NULL;
    }
    return x;
}

X509 *cmp_certcache_get1(struct cmp_certcache *c, const uint8_t *der, size_t len)
{
    if (der == NULL || len == 0) {
        PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "empty certificate in response");
        return NULL;
    }
    if (c == NULL || len > CMP_CERTCACHE_MAX_DER)
        return decode(der, len);
    for (size_t i = 0; i < CMP_CERTCACHE_N; i++)
        if (c->e[i].len == len && memcmp(c->e[i].der, der, len) == 0) {
            if (!X509_up_ref(c->e[i].x)) {
                PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "X509_up_ref");
                return NULL;
            }
            c->hits++;
            return c->e[i].x;
        }
    X509 *x = decode(der, len);
    if (x == NULL)
        return NULL;
    c->misses++;
    uint8_t *copy = malloc(len);
    if (copy == NULL || !X509_up_ref(x)) {
        free(copy); /* not cached; the caller still gets its certificate */
        return x;
    }
    memcpy(copy, der, len);
    unsigned k = c->next;
    c->next = (k + 1) % CMP_CERTCACHE_N;
    free(c->e[k].der);
    X509_free(c->e[k].x);
    c->e[k].der = copy;
    c->e[k].len = len;
    c->e[k].x = x;
    return x;
}

void cmp_certcache_clear(struct cmp_certcache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < CMP_CERTCACHE_N; i++) {
        free(c->e[i].der);
        X509_free(c->e[i].x);
    }
    memset(c, 0, sizeof(*c));
}

int cmp_spkicache_get0(struct cmp_spkicache *c, EVP_PKEY *key, const uint8_t **der, size_t *len)
{
    if (c->key != key || c->der == NULL) {
        unsigned char *buf = NULL;
        int n = i2d_PUBKEY(key, &buf);
        if (n <= 0)
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encoding the public key");
        if (!EVP_PKEY_up_ref(key)) {
            OPENSSL_free(buf);
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "EVP_PKEY_up_ref");
        }
        cmp_spkicache_clear(c);
        c->key = key;
        c->der = buf;
        c->len = (size_t)n;
    }
    *der = c->der;
    *len = c->len;
    return 0;
}

void cmp_spkicache_clear(struct cmp_spkicache *c)
{
    if (c == NULL)
        return;
    EVP_PKEY_free(c->key);
    OPENSSL_free(c->der);
    memset(c, 0, sizeof(*c));
}
