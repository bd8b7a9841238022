/* Central key generation on the client (RFC 9483 4.1.6): the request leaves the key to the CA
 * (a template without public key, or with only its algorithm; POPO absent), and the key
 * arrives in the CertifiedKeyPair as an EnvelopedData, opened with pkie_cmp_envkey_open. */
#include "client_internal.h"
#include "pkie/cmp_envkey.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <string.h>

int pkie_cmp_ctx_set_central_keygen(struct pkie_cmp_ctx *ctx, int on)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "no context");
    ctx->central_keygen = on != 0;
    return 0;
}

EVP_PKEY *pkie_cmp_ctx_get0_new_pkey(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->new_pkey : NULL;
}

void cmp_ckg_forget(struct pkie_cmp_ctx *ctx)
{
    for (size_t i = 0; i < sizeof(ctx->ckg_got) / sizeof(ctx->ckg_got[0]); i++) {
        EVP_PKEY_free(ctx->ckg_got[i]); /* clears the private key */
        ctx->ckg_got[i] = NULL;
    }
}

void cmp_ckg_forget_kga(struct pkie_cmp_ctx *ctx)
{
    X509_free(ctx->ckg_kga);
    ctx->ckg_kga = NULL;
}

void cmp_ckg_clear_result(struct pkie_cmp_ctx *ctx)
{
    EVP_PKEY_free(ctx->new_pkey);
    ctx->new_pkey = NULL;
}

int cmp_ckg_template(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m,
                     struct pkie_crmf_template *ct, EVP_PKEY *alg_of)
{
    if (alg_of == NULL)
        return 0; /* no publicKey: the CA chooses the algorithm */
    /* SubjectPublicKeyInfo contents: the key's AlgorithmIdentifier and an empty BIT STRING;
     * the AlgorithmIdentifier taken from the key's SubjectPublicKeyInfo, encoded once per
     * context (X509_PUBKEY_set went through OpenSSL 3.0's encoders on every request) */
    const uint8_t *spki = NULL;
    size_t spki_len = 0;
    struct pkie_der d, s;
    struct pkie_der_tlv alg;
    int rc = cmp_spkicache_get0(&ctx->spkicache, alg_of, &spki, &spki_len);
    if (rc < 0)
        return rc;
    pkie_der_init(&d, spki, spki_len);
    if ((rc = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s)) < 0 ||
        (rc = pkie_der_read_tlv(&s, &alg)) < 0)
        return rc;
    if (alg.tag != PKIE_DER_SEQUENCE)
        return PKIE_ERR(PKIE_ERR_CRYPTO, "algorithm of the key to generate");
    struct pkie_derw w;
    const uint8_t *der = NULL;
    size_t len = 0;
    pkie_derw_init(&w, 4096);
    pkie_derw_raw(&w, alg.tlv, alg.tlv_len);
    pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, NULL, 0, 0);
    rc = pkie_derw_finish(&w, &der, &len);
    if (rc == 0)
        rc = pkie_cmp_dup(m, &ct->publicKey, der, len);
    if (rc == 0)
        ct->present |= PKIE_CRMF_T_PUBLICKEY;
    pkie_derw_free(&w);
    return rc;
}

int cmp_ckg_take(struct pkie_cmp_ctx *ctx, size_t i, const struct pkie_cmp_ckp *ckp)
{
    if (ckp->privateKey.p == NULL) {
        if (ctx->central_keygen)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL,
                            "central key generation requested but no private key received");
        return 0;
    }
    if (!ctx->central_keygen)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL,
                        "a private key was received but central key generation was not asked");
    /* decrypt as the request was protected: the MAC secret, else the client's key */
    struct pkie_cmp_envkey_recipient by = {0};
    if (ctx->secret != NULL) {
        by.secret = ctx->secret;
        by.secret_len = ctx->secret_len;
    } else {
        by.cert = ctx->cert;
        by.key = ctx->key;
    }
    /* the KGA's path: the trust store, intermediates from -untrusted and the answer's
     * extraCerts (decoded once per context by the certificate cache, ctx->extracerts_in) */
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int rc = untrusted != NULL ? 0 : PKIE_ERR(PKIE_ERR_NOMEM, "untrusted");
    for (int k = 0; rc == 0 && k < sk_X509_num(ctx->untrusted); k++)
        if (!sk_X509_push(untrusted, sk_X509_value(ctx->untrusted, k)))
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "untrusted");
    for (int k = 0; rc == 0 && k < sk_X509_num(ctx->extracerts_in); k++)
        if (!sk_X509_push(untrusted, sk_X509_value(ctx->extracerts_in, k)))
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "untrusted");
    EVP_PKEY *key = NULL;
    if (rc == 0) {
        struct pkie_cmp_envkey_trust trust = {ctx->trusted, untrusted, &ctx->ckg_kga};
        rc = pkie_cmp_envkey_open(ckp->privateKey.p, ckp->privateKey.len, &by, &trust, &key);
    }
    sk_X509_free(untrusted);
    if (rc != 0)
        return rc;
    EVP_PKEY_free(ctx->ckg_got[i]);
    ctx->ckg_got[i] = key;
    return 0;
}

int cmp_ckg_publish(struct pkie_cmp_ctx *ctx)
{
    cmp_ckg_clear_result(ctx);
    ctx->new_pkey = ctx->ckg_got[0];
    ctx->ckg_got[0] = NULL;
    return 0;
}
