/*
 * Validation of everything an exit returns in struct pkicom, before the host
 * uses it: lengths within capacity, texts terminated, DER that parses exactly,
 * alert codes from the allowed list, signatures that verify with the leaf's
 * public key, PKCS#8 keys that match it. Each function is pure over the
 * struct (the fuzz target drives them with arbitrary content).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "exit_int.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

int pkie_exit_alert_allowed(uint32_t code)
{
    switch (code) {
    case 42: /* bad_certificate */
    case 43: /* unsupported_certificate */
    case 44: /* certificate_revoked */
    case 45: /* certificate_expired */
    case 46: /* certificate_unknown */
    case 48: /* unknown_ca */
    case 51: /* decrypt_error */
    case 80: /* internal_error */
        return 1;
    default:
        return 0;
    }
}

int pkie_exit_check_text(const char *text, size_t cap)
{
    if (text == NULL || cap == 0 || memchr(text, '\0', cap) == NULL)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "text not NUL-terminated within %zu bytes", cap);
    return 0;
}

int pkie_exit_check_start_task(const struct pkicom *z, uint32_t *mask, uint32_t *area_size)
{
    /* Every version from 1 to ours: an older exit simply does not know the
     * fields appended since (the host presets them). */
    if (z->exit_abi_version < 1 || z->exit_abi_version > CFTPKIE_ABI_VERSION)
        return PKIE_ERR(PKIE_ERR_EXIT_ABI, "exit built for ABI version %u, host knows 1..%u",
                        z->exit_abi_version, CFTPKIE_ABI_VERSION);
    if ((z->phase_mask & ~(uint32_t)CFTPKIE_MASK_ALL) != 0)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "phase mask 0x%x has unknown bits", z->phase_mask);
    if (z->session_area_size > CFTPKIE_SESSION_AREA_MAX)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "session area of %u bytes over the limit %u",
                        z->session_area_size, CFTPKIE_SESSION_AREA_MAX);
    if (pkie_exit_check_text(z->pki_password, sizeof(z->pki_password)) != 0)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "pki_password not terminated");
    *mask = z->phase_mask;
    *area_size = z->session_area_size;
    return 0;
}

static int check_id(const char *id, size_t cap, int allow_empty)
{
    const char *nul = memchr(id, '\0', cap);
    if (nul == NULL)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "certificate id not terminated");
    size_t n = (size_t)(nul - id);
    if (n == 0)
        return allow_empty ? 0 : PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "empty certificate id");
    if (n > 64)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "certificate id longer than 64");
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '@' || c == '-'))
            return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "certificate id has a bad character");
    }
    return 0;
}

int pkie_exit_check_profile(const struct pkicom *z, struct pkie_exit_profile *out)
{
    if (check_id(z->cert_id, sizeof(z->cert_id), 1) != 0)
        return PKIE_ERR_EXIT_ANSWER;
    if (z->n_ca_ids > CFTPKIE_CA_IDS_MAX)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "%u CA ids over capacity", z->n_ca_ids);
    for (uint32_t i = 0; i < z->n_ca_ids; i++)
        if (check_id(z->ca_ids[i], sizeof(z->ca_ids[i]), 0) != 0)
            return PKIE_ERR_EXIT_ANSWER;
    if (z->verify_depth < 1 || z->verify_depth > (int32_t)CFTPKIE_CHAIN_MAX)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "verify depth %d out of 1..%u", z->verify_depth,
                        CFTPKIE_CHAIN_MAX);
    if (z->n_dn_filters > CFTPKIE_DN_FILTERS_MAX)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "%u DN filters over capacity", z->n_dn_filters);
    for (uint32_t i = 0; i < z->n_dn_filters; i++)
        if (pkie_exit_check_text(z->dn_filters[i], sizeof(z->dn_filters[i])) != 0 ||
            z->dn_filters[i][0] == '\0')
            return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "DN filter %u empty or not terminated", i);
    memcpy(out->cert_id, z->cert_id, sizeof(out->cert_id));
    out->n_ca_ids = z->n_ca_ids;
    memcpy(out->ca_ids, z->ca_ids, sizeof(out->ca_ids));
    out->verify_depth = z->verify_depth;
    out->n_dn_filters = z->n_dn_filters;
    memcpy(out->dn_filters, z->dn_filters, sizeof(out->dn_filters));
    return 0;
}

/* Lengths: count within max, each length > 0, sum within cap. */
static int check_lengths(uint32_t count, uint32_t max, const uint32_t *lens, size_t cap,
                         const char *what)
{
    if (count > max)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "%s: count %u over %u", what, count, max);
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (lens[i] == 0 || lens[i] > cap - total)
            return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "%s: length %u of item %u over capacity", what,
                            lens[i], i);
        total += lens[i];
    }
    return 0;
}

int pkie_exit_check_chain(const struct pkicom *z, STACK_OF(X509) **chain)
{
    *chain = NULL;
    if (z->chain_count == 0)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "chain: no certificate");
    if (check_lengths(z->chain_count, CFTPKIE_CHAIN_MAX, z->chain_len, sizeof(z->chain), "chain") !=
        0)
        return PKIE_ERR_EXIT_ANSWER;
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "chain");
    size_t off = 0;
    for (uint32_t i = 0; i < z->chain_count; i++) {
        const unsigned char *p = z->chain + off;
        X509 *x = d2i_X509(NULL, &p, z->chain_len[i]);
        if (x == NULL || p != z->chain + off + z->chain_len[i]) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return PKIE_ERR_OSSL(PKIE_ERR_EXIT_ANSWER,
                                 "chain: certificate %u is not one DER "
                                 "certificate",
                                 i);
        }
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return PKIE_ERR(PKIE_ERR_NOMEM, "chain");
        }
        off += z->chain_len[i];
    }
    *chain = sk;
    return 0;
}

int pkie_exit_check_ca_names(const struct pkicom *z, STACK_OF(X509_NAME) **names)
{
    *names = NULL;
    if (check_lengths(z->ca_names_count, CFTPKIE_CA_NAMES_MAX, z->ca_names_len, sizeof(z->ca_names),
                      "CA names") != 0)
        return PKIE_ERR_EXIT_ANSWER;
    STACK_OF(X509_NAME) *sk = sk_X509_NAME_new_null();
    if (sk == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "CA names");
    size_t off = 0;
    for (uint32_t i = 0; i < z->ca_names_count; i++) {
        const unsigned char *p = z->ca_names + off;
        X509_NAME *n = d2i_X509_NAME(NULL, &p, z->ca_names_len[i]);
        if (n == NULL || p != z->ca_names + off + z->ca_names_len[i]) {
            X509_NAME_free(n);
            sk_X509_NAME_pop_free(sk, X509_NAME_free);
            return PKIE_ERR_OSSL(PKIE_ERR_EXIT_ANSWER, "CA names: name %u is not one DER Name", i);
        }
        if (!sk_X509_NAME_push(sk, n)) {
            X509_NAME_free(n);
            sk_X509_NAME_pop_free(sk, X509_NAME_free);
            return PKIE_ERR(PKIE_ERR_NOMEM, "CA names");
        }
        off += z->ca_names_len[i];
    }
    *names = sk;
    return 0;
}

int pkie_exit_check_verdict(const struct pkicom *z, int *accept, int *alert)
{
    *accept = 0;
    *alert = 42;
    if (z->accept == 1) {
        *accept = 1;
        *alert = 0;
        return 0;
    }
    if (z->accept != 0)
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "accept is %u, not 0 or 1", z->accept);
    if (z->alert_code == 0)
        return 0;
    if (!pkie_exit_alert_allowed(z->alert_code))
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "alert code %u not allowed", z->alert_code);
    *alert = (int)z->alert_code;
    return 0;
}

static int setup_pctx(EVP_PKEY_CTX *pctx, const struct pkie_exit_sign_req *req)
{
    if (req->alg == CFTPKIE_SIGN_RSA_PSS) {
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, req->md) > 0;
    }
    if (req->alg == CFTPKIE_SIGN_RSA_PKCS1)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    return 1;
}

static int alg_fits_key(EVP_PKEY *k, const struct pkie_exit_sign_req *req)
{
    switch (req->alg) {
    case CFTPKIE_SIGN_RSA_PKCS1:
    case CFTPKIE_SIGN_RSA_PSS:
        return EVP_PKEY_is_a(k, "RSA") && req->md != NULL;
    case CFTPKIE_SIGN_ECDSA:
        return EVP_PKEY_is_a(k, "EC") && req->md != NULL;
    case CFTPKIE_SIGN_ED25519:
        return EVP_PKEY_is_a(k, "ED25519");
    default:
        return 0;
    }
}

int pkie_exit_verify_sig(EVP_PKEY *pub, const struct pkie_exit_sign_req *req, const uint8_t *sig,
                         size_t sig_len)
{
    if (pub == NULL || !alg_fits_key(pub, req))
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "signature algorithm does not fit the key");
    int ok = 0;
    if (req->alg == CFTPKIE_SIGN_ED25519) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, pub, NULL) > 0 &&
             EVP_DigestVerify(m, sig, sig_len, req->tbs, req->tbs_len) == 1;
        EVP_MD_CTX_free(m);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        ok = c != NULL && EVP_PKEY_verify_init(c) > 0 && setup_pctx(c, req) &&
             EVP_PKEY_CTX_set_signature_md(c, req->md) > 0 &&
             EVP_PKEY_verify(c, sig, sig_len, req->tbs, req->tbs_len) == 1;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_ANSWER, "signature does not verify with the leaf key");
    return 0;
}

void pkie_exit_verifier_clear(struct pkie_exit_verifier *v)
{
    if (v == NULL)
        return;
    EVP_PKEY_CTX_free(v->ctx);
    EVP_PKEY_free(v->pub);
    memset(v, 0, sizeof(*v));
}

int pkie_exit_verify_sig_with(struct pkie_exit_verifier *v, EVP_PKEY *pub,
                              const struct pkie_exit_sign_req *req, const uint8_t *sig,
                              size_t sig_len)
{
    /* Ed25519 verifies messages through an EVP_MD_CTX: no context to keep */
    if (v == NULL || pub == NULL || req->alg == CFTPKIE_SIGN_ED25519 || req->md == NULL)
        return pkie_exit_verify_sig(pub, req, sig, sig_len);
    int md_type = EVP_MD_get_type(req->md);
    if (v->ctx == NULL || v->pub != pub || v->alg != req->alg || v->md_type != md_type) {
        pkie_exit_verifier_clear(v);
        if (!alg_fits_key(pub, req))
            return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "signature algorithm does not fit the key");
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        if (c == NULL || EVP_PKEY_verify_init(c) <= 0 || !setup_pctx(c, req) ||
            EVP_PKEY_CTX_set_signature_md(c, req->md) <= 0 || !EVP_PKEY_up_ref(pub)) {
            EVP_PKEY_CTX_free(c);
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "verification context");
        }
        v->ctx = c;
        v->pub = pub;
        v->alg = req->alg;
        v->md_type = md_type;
    }
    if (EVP_PKEY_verify(v->ctx, sig, sig_len, req->tbs, req->tbs_len) != 1) {
        pkie_exit_verifier_clear(v); /* the next one starts from a fresh context */
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_ANSWER, "signature does not verify with the leaf key");
    }
    return 0;
}

int pkie_exit_sign_with_key(EVP_PKEY *key, const struct pkie_exit_sign_req *req, uint8_t *sig,
                            size_t *sig_len)
{
    if (!alg_fits_key(key, req))
        return PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "signature algorithm does not fit the key");
    int ok = 0;
    if (req->alg == CFTPKIE_SIGN_ED25519) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, key, NULL) > 0 &&
             EVP_DigestSign(m, sig, sig_len, req->tbs, req->tbs_len) > 0;
        EVP_MD_CTX_free(m);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = c != NULL && EVP_PKEY_sign_init(c) > 0 && setup_pctx(c, req) &&
             EVP_PKEY_CTX_set_signature_md(c, req->md) > 0 &&
             EVP_PKEY_sign(c, sig, sig_len, req->tbs, req->tbs_len) > 0;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "signature with the returned key failed");
    return 0;
}

void pkie_exit_keycache_clear(struct pkie_exit_keycache *kc)
{
    if (kc == NULL)
        return;
    pkie_wipe_free(kc->der, kc->len);
    EVP_PKEY_free(kc->key);
    EVP_PKEY_free(kc->matched);
    kc->der = NULL;
    kc->len = 0;
    kc->key = NULL;
    kc->matched = NULL;
}

/* The key of z->key: from the cache when the bytes are the same, else parsed
 * (and cached). Returns a new reference or NULL (error recorded). */
static EVP_PKEY *returned_key(struct pkicom *z, struct pkie_exit_keycache *kc)
{
    if (kc != NULL && kc->key != NULL && kc->len == z->key_len &&
        pkie_memeq_ct(kc->der, z->key, z->key_len) == 0) {
        EVP_PKEY_up_ref(kc->key);
        return kc->key;
    }
    const unsigned char *p = z->key;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, z->key_len);
    EVP_PKEY *k = NULL;
    if (p8 == NULL || p != z->key + z->key_len || (k = EVP_PKCS82PKEY(p8)) == NULL) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        PKIE_ERR_OSSL(PKIE_ERR_EXIT_ANSWER, "key is not one DER PKCS#8 key");
        return NULL;
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (kc != NULL) {
        pkie_exit_keycache_clear(kc);
        kc->der = malloc(z->key_len);
        if (kc->der != NULL) {
            memcpy(kc->der, z->key, z->key_len);
            kc->len = z->key_len;
            kc->key = k;
            EVP_PKEY_up_ref(k);
        }
    }
    return k;
}

int pkie_exit_check_signature_cached(struct pkicom *z, EVP_PKEY *leaf_pub,
                                     const struct pkie_exit_sign_req *req, uint8_t *sig,
                                     size_t *sig_len, struct pkie_exit_keycache *kc,
                                     struct pkie_exit_verifier *v)
{
    int rc;
    if (z->key_len != 0) {
        if (z->sig_len != 0) {
            rc = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "both a signature and a key returned");
            goto out;
        }
        if (z->key_len > sizeof(z->key)) {
            rc = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "key length %u over capacity", z->key_len);
            goto out;
        }
        EVP_PKEY *k = returned_key(z, kc);
        if (k == NULL) {
            rc = PKIE_ERR_EXIT_ANSWER;
            goto out;
        }
        /* the cached key was already found equal to this very leaf key */
        int same = kc != NULL && kc->key == k && kc->matched != NULL && kc->matched == leaf_pub;
        if (!same && EVP_PKEY_eq(k, leaf_pub) != 1) {
            EVP_PKEY_free(k);
            rc = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "returned key does not match the leaf");
            goto out;
        }
        if (!same && kc != NULL && kc->key == k && EVP_PKEY_up_ref(leaf_pub)) {
            EVP_PKEY_free(kc->matched);
            kc->matched = leaf_pub;
        }
        rc = pkie_exit_sign_with_key(k, req, sig, sig_len);
        EVP_PKEY_free(k);
        goto out;
    }
    if (z->sig_len == 0 || z->sig_len > sizeof(z->sig)) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "signature length %u out of 1..%zu", z->sig_len,
                      sizeof(z->sig));
        goto out;
    }
    if (z->sig_len > *sig_len) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "signature of %u bytes longer than the key allows",
                      z->sig_len);
        goto out;
    }
    rc = pkie_exit_verify_sig_with(v, leaf_pub, req, z->sig, z->sig_len);
    if (rc == 0) {
        memcpy(sig, z->sig, z->sig_len);
        *sig_len = z->sig_len;
    }
out:
    if (z->key_len != 0)
        pkie_wipe(z->key, z->key_len <= sizeof(z->key) ? z->key_len : sizeof(z->key));
    z->key_len = 0;
    return rc;
}

int pkie_exit_check_signature(struct pkicom *z, EVP_PKEY *leaf_pub,
                              const struct pkie_exit_sign_req *req, uint8_t *sig, size_t *sig_len)
{
    return pkie_exit_check_signature_cached(z, leaf_pub, req, sig, sig_len, NULL, NULL);
}

int pkie_exit_put_peer_chain(struct pkicom *z, STACK_OF(X509) *chain, int leaf_only)
{
    int n = chain != NULL ? sk_X509_num(chain) : 0;
    if (leaf_only && n > 1)
        n = 1;
    if (n > (int)CFTPKIE_CHAIN_MAX)
        return PKIE_ERR(PKIE_ERR_LIMIT, "peer chain of %d certificates", n);
    size_t off = 0;
    z->peer_count = 0;
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(chain, i);
        int len = i2d_X509(x, NULL);
        if (len <= 0 || (size_t)len > sizeof(z->peer_chain) - off)
            return PKIE_ERR(PKIE_ERR_LIMIT, "peer chain over %zu bytes", sizeof(z->peer_chain));
        unsigned char *p = z->peer_chain + off;
        i2d_X509(x, &p);
        z->peer_len[i] = (uint32_t)len;
        off += (size_t)len;
    }
    z->peer_count = (uint32_t)n;
    return 0;
}

int pkie_exit_put_ca_names(struct pkicom *z, const STACK_OF(X509_NAME) *names)
{
    int n = names != NULL ? sk_X509_NAME_num(names) : 0;
    size_t off = 0;
    z->ca_names_count = 0;
    for (int i = 0; i < n && i < (int)CFTPKIE_CA_NAMES_MAX; i++) {
        const X509_NAME *nm = sk_X509_NAME_value(names, i);
        int len = i2d_X509_NAME(nm, NULL);
        if (len <= 0 || (size_t)len > sizeof(z->ca_names) - off)
            break; /* the rest does not fit: the exit sees the first ones */
        unsigned char *p = z->ca_names + off;
        i2d_X509_NAME(nm, &p);
        z->ca_names_len[i] = (uint32_t)len;
        off += (size_t)len;
        z->ca_names_count = (uint32_t)(i + 1);
    }
    return 0;
}
