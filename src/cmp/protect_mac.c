/* MAC-based protection: PasswordBasedMac (RFC 4211 section 4.4) and PBMAC1
 * with PBKDF2 (RFC 9481 section 6.1), building and verification. */
#include "cmp_local.h"
#include "pkie/wipe.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>

#define MAX_KEY 64 /* largest digest / derived key we use (SHA-512) */

/* Parsed MAC parameters. */
struct mac_alg {
    int alg;                    /* enum pkie_cmp_mac_alg */
    const char *owf;            /* PBM one-way function */
    const char *mac;            /* HMAC digest */
    const char *prf;            /* PBMAC1: PBKDF2 PRF digest */
    struct pkie_cmp_bytes salt; /* salt */
    int64_t iter;               /* iterationCount */
    int64_t key_len;            /* PBMAC1 keyLength (0 = absent) */
};

/* AlgorithmIdentifier SEQUENCE { OID, params (NULL or absent) } -> OID. */
static int algid_oid(struct pkie_der *d, const uint8_t **oid, size_t *len)
{
    struct pkie_der a;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &a);
    if (r == 0)
        r = pkie_der_read_oid(&a, PKIE_DER_OID, oid, len);
    if (r == 0 && !pkie_der_at_end(&a))
        r = pkie_der_read_null(&a, PKIE_DER_NULL);
    if (r == 0)
        r = pkie_der_finish(&a);
    return r;
}

static int parse_pbm(struct pkie_der *p, struct mac_alg *m)
{
    struct pkie_der s;
    const uint8_t *oid;
    size_t len;
    int r = pkie_der_enter(p, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_read_octets(&s, PKIE_DER_OCTET_STRING, &m->salt);
    if (r == 0 && (r = algid_oid(&s, &oid, &len)) == 0 &&
        (m->owf = cmp_oid_digest(oid, len)) == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PBM owf not supported");
    if (r == 0)
        r = pkie_der_read_int64(&s, PKIE_DER_INTEGER, &m->iter);
    if (r == 0 && (r = algid_oid(&s, &oid, &len)) == 0 && (m->mac = cmp_oid_hmac(oid, len)) == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PBM mac not supported");
    if (r == 0)
        r = pkie_der_finish(&s);
    if (r == 0)
        r = pkie_der_finish(p);
    return r;
}

static int sha2_only(const char *md)
{
    return md != NULL &&
           (strcmp(md, "SHA256") == 0 || strcmp(md, "SHA384") == 0 || strcmp(md, "SHA512") == 0);
}

static int parse_pbmac1(struct pkie_der *p, struct mac_alg *m)
{
    struct pkie_der s, kdf, kp;
    const uint8_t *oid;
    size_t len;
    int r = pkie_der_enter(p, PKIE_DER_SEQUENCE, &s);
    /* keyDerivationFunc: PBKDF2 */
    if (r == 0)
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &kdf);
    if (r == 0)
        r = pkie_der_read_oid(&kdf, PKIE_DER_OID, &oid, &len);
    if (r != 0)
        return r;
    if (!(len == cmp_oid_pbkdf2.len && memcmp(oid, cmp_oid_pbkdf2.p, len) == 0))
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PBMAC1 key derivation is not PBKDF2");
    r = pkie_der_enter(&kdf, PKIE_DER_SEQUENCE, &kp);
    if (r == 0 && !pkie_der_peek_is(&kp, PKIE_DER_OCTET_STRING))
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "PBKDF2 salt must be specified");
    if (r == 0)
        r = cmp_read_octets(&kp, PKIE_DER_OCTET_STRING, &m->salt);
    if (r == 0)
        r = pkie_der_read_int64(&kp, PKIE_DER_INTEGER, &m->iter);
    if (r == 0 && pkie_der_peek_is(&kp, PKIE_DER_INTEGER))
        r = pkie_der_read_int64(&kp, PKIE_DER_INTEGER, &m->key_len);
    m->prf = "SHA1";
    if (r == 0 && !pkie_der_at_end(&kp) && (r = algid_oid(&kp, &oid, &len)) == 0)
        m->prf = cmp_oid_hmac(oid, len);
    if (r == 0)
        r = pkie_der_finish(&kp);
    if (r == 0)
        r = pkie_der_finish(&kdf);
    /* messageAuthScheme */
    if (r == 0 && (r = algid_oid(&s, &oid, &len)) == 0)
        m->mac = cmp_oid_hmac(oid, len);
    if (r == 0)
        r = pkie_der_finish(&s);
    if (r == 0)
        r = pkie_der_finish(p);
    if (r != 0)
        return r;
    if (!sha2_only(m->prf) || !sha2_only(m->mac))
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PBMAC1 needs HMAC-SHA256/384/512");
    if (m->key_len < 0 || m->key_len > MAX_KEY || (m->key_len != 0 && m->key_len < 16))
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "PBMAC1 keyLength %lld", (long long)m->key_len);
    return 0;
}

/* Parse protectionAlg into @p m; PKIE_ERR_CMP_PROT_ALG when not a MAC. */
static int mac_alg_parse(const struct pkie_cmp_bytes *algid, struct mac_alg *m)
{
    struct pkie_cmp_bytes oid, params;
    memset(m, 0, sizeof(*m));
    int r = cmp_algid_split(algid, &oid, &params);
    if (r != 0)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "protectionAlg (%s)", pkie_err_name(r));
    if (cmp_oid_is(&oid, &cmp_oid_pbm))
        m->alg = PKIE_CMP_MAC_PBM;
    else if (cmp_oid_is(&oid, &cmp_oid_pbmac1))
        m->alg = PKIE_CMP_MAC_PBMAC1;
    else
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "not a MAC algorithm");
    if (params.p == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "MAC algorithm without parameters");
    struct pkie_der d;
    pkie_der_init(&d, params.p, params.len);
    r = m->alg == PKIE_CMP_MAC_PBM ? parse_pbm(&d, m) : parse_pbmac1(&d, m);
    if (r != 0 && r != PKIE_ERR_CMP_PROT_ALG && r != PKIE_ERR_CMP_PROT_PARAMS)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "MAC parameters (%s)", pkie_err_name(r));
    return r;
}

int pkie_cmp_protection_is_mac(const struct pkie_cmp_msg *m)
{
    struct pkie_cmp_bytes oid, params;
    if (m == NULL || m->header.protectionAlg.p == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_MISSING, "no protectionAlg");
    int r = cmp_algid_split(&m->header.protectionAlg, &oid, &params);
    if (r != 0)
        return r;
    if (cmp_oid_is(&oid, &cmp_oid_pbm) || cmp_oid_is(&oid, &cmp_oid_pbmac1))
        return 1;
    int kind;
    const char *md;
    r = cmp_oid_sig(oid.p, oid.len, &kind, &md);
    return r == 0 ? 0 : r;
}

/* ---- key derivation and MAC -------------------------------------------------- */

static int derive_key(const struct mac_alg *m, const uint8_t *secret, size_t secret_len,
                      uint8_t *key, size_t *key_len)
{
    if (m->alg == PKIE_CMP_MAC_PBMAC1) {
        const EVP_MD *prf = cmp_md(m->prf);
        const EVP_MD *mac = cmp_md(m->mac);
        if (prf == NULL || mac == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "digest unavailable");
        *key_len = m->key_len ? (size_t)m->key_len : (size_t)EVP_MD_get_size(mac);
        if (PKCS5_PBKDF2_HMAC((const char *)secret, (int)secret_len, m->salt.p, (int)m->salt.len,
                              (int)m->iter, prf, (int)*key_len, key) != 1)
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PBKDF2");
        return 0;
    }
    /* PBM: K = owf^iterationCount(secret || salt) */
    const EVP_MD *owf = cmp_md(m->owf);
    if (owf == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "owf unavailable");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx != NULL && EVP_DigestInit_ex2(ctx, owf, NULL) &&
             EVP_DigestUpdate(ctx, secret, secret_len) &&
             EVP_DigestUpdate(ctx, m->salt.p, m->salt.len) && EVP_DigestFinal_ex(ctx, key, &n);
    for (int64_t i = 1; ok && i < m->iter; i++)
        ok = EVP_DigestInit_ex2(ctx, owf, NULL) && EVP_DigestUpdate(ctx, key, n) &&
             EVP_DigestFinal_ex(ctx, key, &n);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PBM key derivation");
    *key_len = n;
    return 0;
}

static EVP_MAC *hmac_mac;
static CRYPTO_ONCE hmac_once = CRYPTO_ONCE_STATIC_INIT;

static void hmac_init(void)
{
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* The HMAC implementation, fetched once per process. */
static EVP_MAC *hmac_alg(void)
{
    if (!CRYPTO_THREAD_run_once(&hmac_once, hmac_init))
        return NULL;
    return hmac_mac;
}

static int mac_update(void *ctx, const uint8_t *p, size_t len)
{
    if (EVP_MAC_update(ctx, p, len) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "HMAC update");
    return 0;
}

/* MAC of the ProtectedPart of @p msg into @p out (*out_len bytes). */
static int compute_mac(const struct pkie_cmp_msg *msg, const struct mac_alg *m,
                       const uint8_t *secret, size_t secret_len, uint8_t *out, size_t *out_len)
{
    uint8_t key[MAX_KEY];
    size_t key_len = 0;
    EVP_MAC_CTX *ctx = NULL;
    int r = derive_key(m, secret, secret_len, key, &key_len);
    if (r != 0)
        goto err;
    EVP_MAC *hmac = hmac_alg();
    ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    if (ctx == NULL) {
        r = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "HMAC unavailable");
        goto err;
    }
    OSSL_PARAM params[2];
    char mdname[16];
    snprintf(mdname, sizeof(mdname), "%s", m->mac);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, mdname, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
        r = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "HMAC init");
        goto err;
    }
    if ((r = cmp_protected_part_feed(msg, mac_update, ctx)) != 0)
        goto err;
    if (EVP_MAC_final(ctx, out, out_len, MAX_KEY) != 1)
        r = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "HMAC final");
err:
    EVP_MAC_CTX_free(ctx);
    pkie_wipe(key, sizeof(key));
    return r;
}

static int check_iterations(const struct mac_alg *m, const struct pkie_cmp_mac_limits *lim)
{
    unsigned lo = lim && lim->iter_min ? lim->iter_min : PKIE_CMP_ITER_MIN_DEFAULT;
    unsigned hi = lim && lim->iter_max ? lim->iter_max : PKIE_CMP_ITER_MAX_DEFAULT;
    if (m->iter < (int64_t)lo || m->iter > (int64_t)hi)
        return PKIE_ERR(PKIE_ERR_CMP_MAC_ITERATIONS, "iterationCount %lld not in %u..%u",
                        (long long)m->iter, lo, hi);
    if (m->salt.len == 0 || m->salt.len > 1024)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "salt of %zu bytes", m->salt.len);
    return 0;
}

int pkie_cmp_verify_mac(const struct pkie_cmp_msg *msg, const uint8_t *secret, size_t secret_len,
                        const struct pkie_cmp_mac_limits *lim)
{
    struct mac_alg m;
    uint8_t mac[MAX_KEY];
    size_t mac_len = 0;
    if (msg == NULL || (secret == NULL && secret_len))
        return PKIE_ERR(PKIE_ERR_ARG, "verify_mac");
    if (msg->protection.p == NULL || msg->header.protectionAlg.p == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_MISSING, "message is not protected");
    int r = mac_alg_parse(&msg->header.protectionAlg, &m);
    if (r == 0)
        r = check_iterations(&m, lim);
    if (r == 0)
        r = compute_mac(msg, &m, secret ? secret : (const uint8_t *)"", secret_len, mac, &mac_len);
    if (r == 0 &&
        (mac_len != msg->protection.len || pkie_memeq_ct(mac, msg->protection.p, mac_len) != 0))
        r = PKIE_ERR(PKIE_ERR_CMP_MAC_MISMATCH, "MAC does not match");
    pkie_wipe(mac, sizeof(mac));
    return r;
}

/* ---- building ------------------------------------------------------------------ */

void pkie_cmp_mac_params_default(struct pkie_cmp_mac_params *p, int alg)
{
    memset(p, 0, sizeof(*p));
    p->alg = alg;
    p->salt_len = 16;
    if (alg == PKIE_CMP_MAC_PBMAC1) {
        p->prf = "SHA256";
        p->mac = "SHA256";
        p->iterationCount = 10000;
        p->key_len = 32;
    } else {
        p->owf = "SHA256";
        p->mac = "SHA1";
        p->iterationCount = 500;
    }
}

int pkie_cmp_mac_params_of(const struct pkie_cmp_msg *msg, struct pkie_cmp_mac_params *p)
{
    struct mac_alg m;
    int r = mac_alg_parse(&msg->header.protectionAlg, &m);
    if (r != 0)
        return r;
    pkie_cmp_mac_params_default(p, m.alg);
    p->owf = m.owf;
    p->mac = m.mac;
    p->prf = m.prf;
    if (m.iter > 0 && m.iter <= UINT32_MAX)
        p->iterationCount = (unsigned)m.iter;
    if (m.salt.len >= 8 && m.salt.len <= 64)
        p->salt_len = m.salt.len;
    p->key_len = (size_t)m.key_len;
    return 0;
}

static void algid_enc(struct pkie_derw *w, const struct cmp_oid *oid, int null_params)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_oid(w, PKIE_DER_OID, oid->p, oid->len);
    if (null_params)
        pkie_derw_null(w, PKIE_DER_NULL);
    pkie_derw_end(w);
}

static int build_algid(struct pkie_cmp_msg *msg, const struct pkie_cmp_mac_params *p,
                       const uint8_t *salt, struct mac_alg *m)
{
    struct pkie_derw w;
    pkie_derw_init(&w, 1024);
    memset(m, 0, sizeof(*m));
    m->alg = p->alg;
    m->iter = p->iterationCount;
    m->mac = p->mac;
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    if (p->alg == PKIE_CMP_MAC_PBM) {
        const struct cmp_oid *owf = cmp_oid_for_digest(p->owf);
        const struct cmp_oid *mac = cmp_oid_for_hmac(p->mac);
        if (owf == NULL || mac == NULL) {
            pkie_derw_free(&w);
            return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PBM owf/mac %s/%s", p->owf ? p->owf : "-",
                            p->mac ? p->mac : "-");
        }
        m->owf = cmp_oid_digest(owf->p, owf->len);
        m->mac = cmp_oid_hmac(mac->p, mac->len);
        pkie_derw_oid(&w, PKIE_DER_OID, cmp_oid_pbm.p, cmp_oid_pbm.len);
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
        pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, salt, p->salt_len);
        algid_enc(&w, owf, 0);
        pkie_derw_int64(&w, PKIE_DER_INTEGER, p->iterationCount);
        algid_enc(&w, mac, 0);
        pkie_derw_end(&w);
    } else {
        const struct cmp_oid *prf = cmp_oid_for_hmac(p->prf);
        const struct cmp_oid *mac = cmp_oid_for_hmac(p->mac);
        if (prf == NULL || mac == NULL || !sha2_only(cmp_oid_hmac(prf->p, prf->len)) ||
            !sha2_only(cmp_oid_hmac(mac->p, mac->len)) || p->key_len > MAX_KEY) {
            pkie_derw_free(&w);
            return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PBMAC1 prf/mac %s/%s", p->prf ? p->prf : "-",
                            p->mac ? p->mac : "-");
        }
        m->prf = cmp_oid_hmac(prf->p, prf->len);
        m->mac = cmp_oid_hmac(mac->p, mac->len);
        m->key_len = p->key_len ? (int64_t)p->key_len : (int64_t)EVP_MD_get_size(cmp_md(m->mac));
        pkie_derw_oid(&w, PKIE_DER_OID, cmp_oid_pbmac1.p, cmp_oid_pbmac1.len);
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
        pkie_derw_oid(&w, PKIE_DER_OID, cmp_oid_pbkdf2.p, cmp_oid_pbkdf2.len);
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
        pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, salt, p->salt_len);
        pkie_derw_int64(&w, PKIE_DER_INTEGER, p->iterationCount);
        pkie_derw_int64(&w, PKIE_DER_INTEGER, m->key_len);
        algid_enc(&w, prf, 1);
        pkie_derw_end(&w);
        pkie_derw_end(&w);
        algid_enc(&w, mac, 1);
        pkie_derw_end(&w);
    }
    pkie_derw_end(&w);
    const uint8_t *out;
    size_t len;
    int r = pkie_derw_finish(&w, &out, &len);
    if (r == 0)
        r = pkie_cmp_dup(msg, &msg->header.protectionAlg, out, len);
    pkie_derw_free(&w);
    return r;
}

int pkie_cmp_protect_mac(struct pkie_cmp_msg *msg, const uint8_t *secret, size_t secret_len,
                         const struct pkie_cmp_mac_params *p, const struct pkie_cmp_bytes *kid)
{
    struct pkie_cmp_mac_params def;
    struct mac_alg m;
    uint8_t salt[64], mac[MAX_KEY];
    size_t mac_len = 0;
    if (msg == NULL || (secret == NULL && secret_len))
        return PKIE_ERR(PKIE_ERR_ARG, "protect_mac");
    if (p == NULL) {
        pkie_cmp_mac_params_default(&def, PKIE_CMP_MAC_PBM);
        p = &def;
    }
    if (p->salt_len < 8 || p->salt_len > sizeof(salt) || p->iterationCount < 1)
        return PKIE_ERR(PKIE_ERR_ARG, "salt length %zu / iterations %u", p->salt_len,
                        p->iterationCount);
    if (RAND_bytes(salt, (int)p->salt_len) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "RAND_bytes");
    int r = build_algid(msg, p, salt, &m);
    if (r != 0)
        return r;
    m.salt.p = salt;
    m.salt.len = p->salt_len;
    if (kid != NULL && kid->p != NULL &&
        (r = pkie_cmp_dup(msg, &msg->header.senderKID, kid->p, kid->len)) != 0)
        return r;
    /* The message changed: forget the received encoding. */
    msg->der.p = msg->header_der.p = msg->body_der.p = NULL;
    r = compute_mac(msg, &m, secret ? secret : (const uint8_t *)"", secret_len, mac, &mac_len);
    if (r == 0)
        r = pkie_cmp_dup(msg, &msg->protection, mac, mac_len);
    pkie_wipe(mac, sizeof(mac));
    return r;
}
