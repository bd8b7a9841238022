/* Per-context caches of decoded certificates and of the new key's
 * SubjectPublicKeyInfo (see certcache.h). */
#include "certcache.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
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

/* The SubjectPublicKeyInfo of an EC key on a named curve, built from its
 * parameters: i2d_PUBKEY goes through OpenSSL 3's encoders, whose set-up
 * was a tenth of a `pkie cmp` process's instructions (bench/README.md).
 * 0 when the key is not such a key (the caller falls back to i2d_PUBKEY). */
static int ec_spki(EVP_PKEY *key, unsigned char **out)
{
    char group[64];
    unsigned char point[256];
    size_t gl = 0, pl = 0;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &gl) ||
        !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &pl))
        return 0;
    int nid = OBJ_sn2nid(group);
    ASN1_OBJECT *curve = nid != NID_undef ? OBJ_nid2obj(nid) : NULL;
    X509_PUBKEY *xpk = X509_PUBKEY_new();
    unsigned char *pt = OPENSSL_memdup(point, pl);
    int n = 0;
    if (curve != NULL && xpk != NULL && pt != NULL &&
        X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT, curve, pt,
                               (int)pl)) {
        pt = NULL; /* owned by xpk */
        n = i2d_X509_PUBKEY(xpk, out);
    }
    OPENSSL_free(pt);
    X509_PUBKEY_free(xpk);
    return n > 0 ? n : 0;
}

/* RSA (not RSA-PSS): rsaEncryption with NULL parameters and the
 * RSAPublicKey, as OpenSSL's encoder writes it, without the encoder (3M
 * instructions the first time in a process). */
static int rsa_spki(EVP_PKEY *key, unsigned char **out)
{
    BIGNUM *n = NULL, *e = NULL;
    unsigned char *nb = NULL, *eb = NULL;
    struct pkie_derw w;
    uint8_t *der = NULL;
    size_t len = 0;
    int r = 0;
    pkie_derw_init(&w, 4096);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) || BN_num_bytes(n) > 2048 ||
        (nb = OPENSSL_malloc((size_t)BN_num_bytes(n) + 1)) == NULL ||
        (eb = OPENSSL_malloc((size_t)BN_num_bytes(e) + 1)) == NULL)
        goto out;
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, nb, (size_t)nl);
    pkie_derw_uint_bytes(&w, PKIE_DER_INTEGER, eb, (size_t)el);
    pkie_derw_end(&w);
    if (pkie_derw_steal(&w, &der, &len) != 0 || len > INT_MAX)
        goto out;
    X509_PUBKEY *xpk = X509_PUBKEY_new();
    unsigned char *pk = OPENSSL_memdup(der, len);
    if (xpk != NULL && pk != NULL &&
        X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, NULL, pk,
                               (int)len)) {
        pk = NULL; /* owned by xpk */
        r = i2d_X509_PUBKEY(xpk, out);
    }
    OPENSSL_free(pk);
    X509_PUBKEY_free(xpk);
out:
    pkie_derw_free(&w);
    free(der);
    OPENSSL_free(nb);
    OPENSSL_free(eb);
    BN_free(n);
    BN_free(e);
    return r > 0 ? r : 0;
}

int cmp_spkicache_get0(struct cmp_spkicache *c, EVP_PKEY *key, const uint8_t **der, size_t *len)
{
    if (c->key != key || c->der == NULL) {
        unsigned char *buf = NULL;
        int n = ec_spki(key, &buf);
        if (n <= 0)
            n = rsa_spki(key, &buf);
        if (n <= 0)
            n = i2d_PUBKEY(key, &buf);
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
