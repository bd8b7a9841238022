/*
 * Sample PKI exit for pkie: serves our certificate chain and signs with our
 * key, both from PEM files (the key never leaves the exit: CryptData answers
 * with a signature), and pins the peer's CA: a peer is accepted only when its
 * chain verifies up to the one CA certificate named in the configuration.
 * Every other phase is left to the host ("not handled").
 *
 * Configuration (pki.exit.conf), blank-separated:
 *   chain=/path/our-chain.pem   our certificate first, then its intermediates
 *   key=/path/our-key.pem       its private key (unencrypted PEM)
 *   ca=/path/pinned-ca.pem      the CA the peer must chain to (root or
 *                               intermediate)
 *
 * Build: see Makefile (against the installed cftpkie.h; uses libcrypto for
 * PEM reading, signing and chain verification).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cftpkie.h>

#define EXPORT __attribute__((visibility("default")))

/* Task state, referenced from the task public area. */
struct sample {
    EVP_PKEY *key;
    X509_STORE *pinned;
    uint32_t chain_count;
    uint32_t chain_len[CFTPKIE_CHAIN_MAX];
    uint8_t chain[CFTPKIE_CHAIN_CAP];
    uint32_t name_len;
    uint8_t name[1024]; /* the pinned CA's subject, DER */
};

static int error(struct pkicom *z, const char *msg)
{
    snprintf(z->error_text, sizeof(z->error_text), "sample exit: %s", msg);
    return CFTPKIE_ERROR;
}

static void sample_free(struct sample *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    X509_STORE_free(s->pinned);
    free(s);
}

static int load(struct pkicom *z, struct sample **out)
{
    char conf[CFTPKIE_CONF_CAP], *chain = NULL, *key = NULL, *ca = NULL, *save = NULL;
    memcpy(conf, z->conf, sizeof(conf));
    conf[sizeof(conf) - 1] = '\0';
    for (char *t = strtok_r(conf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        if (strncmp(t, "chain=", 6) == 0)
            chain = t + 6;
        else if (strncmp(t, "key=", 4) == 0)
            key = t + 4;
        else if (strncmp(t, "ca=", 3) == 0)
            ca = t + 3;
        else
            return error(z, "unknown configuration item");
    }
    if (chain == NULL || key == NULL || ca == NULL)
        return error(z, "configuration needs chain=, key= and ca=");
    struct sample *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return error(z, "out of memory");
    FILE *f = fopen(chain, "r");
    X509 *x;
    size_t off = 0;
    while (f != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        int len = i2d_X509(x, NULL);
        if (s->chain_count == CFTPKIE_CHAIN_MAX || len <= 0 ||
            off + (size_t)len > CFTPKIE_CHAIN_CAP) {
            X509_free(x);
            break;
        }
        unsigned char *p = s->chain + off;
        i2d_X509(x, &p);
        s->chain_len[s->chain_count++] = (uint32_t)len;
        off += (size_t)len;
        X509_free(x);
    }
    if (f != NULL)
        fclose(f);
    f = fopen(key, "r");
    s->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    f = fopen(ca, "r");
    X509 *cax = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    if (s->chain_count == 0 || s->key == NULL || cax == NULL) {
        X509_free(cax);
        sample_free(s);
        return error(z, "cannot read the chain, the key or the CA");
    }
    s->pinned = X509_STORE_new();
    X509_STORE_add_cert(s->pinned, cax);
    /* the pinned CA may be an intermediate: it is a trust anchor by itself */
    X509_VERIFY_PARAM_set_flags(X509_STORE_get0_param(s->pinned), X509_V_FLAG_PARTIAL_CHAIN);
    int nl = i2d_X509_NAME(X509_get_subject_name(cax), NULL);
    if (nl > 0 && (size_t)nl <= sizeof(s->name)) {
        unsigned char *p = s->name;
        i2d_X509_NAME(X509_get_subject_name(cax), &p);
        s->name_len = (uint32_t)nl;
    }
    X509_free(cax);
    *out = s;
    return CFTPKIE_HANDLED;
}

static const EVP_MD *digest(uint32_t d)
{
    switch (d) {
    case CFTPKIE_MD_SHA1:
        return EVP_sha1();
    case CFTPKIE_MD_SHA256:
        return EVP_sha256();
    case CFTPKIE_MD_SHA384:
        return EVP_sha384();
    case CFTPKIE_MD_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static int sign(struct pkicom *z, struct sample *s)
{
    size_t len = sizeof(z->sig);
    int ok;
    if (z->sign_alg == CFTPKIE_SIGN_ED25519) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestSignInit(m, NULL, NULL, NULL, s->key) > 0 &&
             EVP_DigestSign(m, z->sig, &len, z->data, z->data_len) > 0;
        EVP_MD_CTX_free(m);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(s->key, NULL);
        ok = c != NULL && EVP_PKEY_sign_init(c) > 0 &&
             EVP_PKEY_CTX_set_signature_md(c, digest(z->sign_digest)) > 0;
        if (ok && z->sign_alg == CFTPKIE_SIGN_RSA_PSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) > 0 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) > 0;
        else if (ok && z->sign_alg == CFTPKIE_SIGN_RSA_PKCS1)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0;
        ok = ok && EVP_PKEY_sign(c, z->sig, &len, z->data, z->data_len) > 0;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        return error(z, "signature failed");
    z->sig_len = (uint32_t)len;
    return CFTPKIE_HANDLED;
}

static int check(struct pkicom *z, struct sample *s)
{
    STACK_OF(X509) *peer = sk_X509_new_null();
    size_t off = 0;
    z->accept = 0;
    z->alert_code = 42; /* bad_certificate unless shown otherwise */
    for (uint32_t i = 0; i < z->peer_count && i < CFTPKIE_CHAIN_MAX; i++) {
        const unsigned char *p = z->peer_chain + off;
        X509 *x = d2i_X509(NULL, &p, z->peer_len[i]);
        if (x == NULL || !sk_X509_push(peer, x)) {
            X509_free(x);
            sk_X509_pop_free(peer, X509_free);
            return CFTPKIE_HANDLED;
        }
        off += z->peer_len[i];
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx != NULL && sk_X509_num(peer) > 0 &&
        X509_STORE_CTX_init(ctx, s->pinned, sk_X509_value(peer, 0), peer) == 1) {
        X509_STORE_CTX_set_depth(ctx, z->verify_depth);
        if (X509_verify_cert(ctx) == 1) {
            z->accept = 1;
            z->alert_code = 0;
        } else {
            int e = X509_STORE_CTX_get_error(ctx);
            z->alert_code = e == X509_V_ERR_CERT_HAS_EXPIRED ? 45 : 48; /* expired / unknown_ca */
        }
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(peer, X509_free);
    return CFTPKIE_HANDLED;
}

EXPORT int cftpkie(struct pkicom *z)
{
    /* ABI: any host of version >= 1 (an exit built for an older version runs on a newer host);
     * this exit uses version 1 fields only (a later field: CFTPKIE_HAS()). */
    if (z == NULL || z->abi_version < 1 || z->size < CFTPKIE_V1_END)
        return CFTPKIE_ERROR;
    struct sample *s = NULL;
    memcpy(&s, z->task_area, sizeof(s));
    switch (z->phase) {
    case CFTPKIE_START_TASK: {
        z->exit_abi_version = CFTPKIE_ABI_VERSION;
        z->phase_mask =
            CFTPKIE_PHASE_BIT(CFTPKIE_GET_CERTIFICATE) | CFTPKIE_PHASE_BIT(CFTPKIE_GET_CA_LIST) |
            CFTPKIE_PHASE_BIT(CFTPKIE_CHECK_CERTIFICATE) | CFTPKIE_PHASE_BIT(CFTPKIE_CRYPT_DATA);
        int rc = load(z, &s);
        if (rc == CFTPKIE_HANDLED)
            memcpy(z->task_area, &s, sizeof(s));
        return rc;
    }
    case CFTPKIE_END_TASK:
        sample_free(s);
        memset(z->task_area, 0, sizeof(s));
        return CFTPKIE_HANDLED;
    default:
        break;
    }
    if (s == NULL)
        return error(z, "no task state");
    switch (z->phase) {
    case CFTPKIE_GET_CERTIFICATE:
        z->chain_count = s->chain_count;
        memcpy(z->chain_len, s->chain_len, sizeof(s->chain_len));
        memcpy(z->chain, s->chain, sizeof(s->chain));
        return CFTPKIE_HANDLED;
    case CFTPKIE_GET_CA_LIST:
        z->ca_names_count = s->name_len ? 1 : 0;
        z->ca_names_len[0] = s->name_len;
        memcpy(z->ca_names, s->name, s->name_len);
        return CFTPKIE_HANDLED;
    case CFTPKIE_CHECK_CERTIFICATE:
        return check(z, s);
    case CFTPKIE_CRYPT_DATA:
        return sign(z, s);
    default:
        return CFTPKIE_NOT_HANDLED;
    }
}
