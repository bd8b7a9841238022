/*
 * The CMP PKI exit: the monitor's certificate, key, CA list and peer checks
 * come from a CA reached over CMP (see docs/cmp-exit.md).
 *   StartTask         enroll (IR) / renew (KUR) / fetch CA certificates and
 *                     CRL once per process (state.c); pki.exit.conf names the
 *                     exit's configuration file
 *   StartHandshake    a time comparison: wakes the renewal thread when due
 *   GetCertificate    the current chain; its generation goes to the session area
 *   GetCAList         the CA names
 *   CheckCertificate  chain to the anchors through the CA certificates,
 *                     validity, CRL, the host's DN filters
 *   CryptData         signs with the key of the session's identity
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "cmpx_state.h"
#include "pkie/error.h"
#include "pkie/pki.h"

#define WANTED                                                                                     \
    (CFTPKIE_PHASE_BIT(CFTPKIE_START_HANDSHAKE) | CFTPKIE_PHASE_BIT(CFTPKIE_GET_CERTIFICATE) |     \
     CFTPKIE_PHASE_BIT(CFTPKIE_GET_CA_LIST) | CFTPKIE_PHASE_BIT(CFTPKIE_CHECK_CERTIFICATE) |       \
     CFTPKIE_PHASE_BIT(CFTPKIE_CRYPT_DATA) | CFTPKIE_PHASE_BIT(CFTPKIE_END_SESSION))

static int fail(struct pkicom *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct pkicom *z, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(z->error_text, sizeof(z->error_text), fmt, ap);
    va_end(ap);
    return CFTPKIE_ERROR;
}

static int start_task(struct pkicom *z)
{
    z->exit_abi_version = CFTPKIE_ABI_VERSION;
    if (memchr(z->conf, '\0', sizeof(z->conf)) == NULL || z->conf[0] == '\0')
        return fail(z, "cmp exit: pki.exit.conf must name the exit's configuration file");
    if (cmpx_init(z->conf) != 0)
        return fail(z, "cmp exit: %s", pkie_err_last()->msg);
    z->phase_mask = WANTED;
    z->session_area_size = sizeof(uint64_t);
    z->exit_task_ref = z->host_task_ref;
    return CFTPKIE_HANDLED;
}

static int get_certificate(struct pkicom *z)
{
    struct cmpx_ident *id = cmpx_current();
    if (id == NULL)
        return fail(z, "cmp exit: no certificate");
    z->chain_count = id->count;
    memcpy(z->chain_len, id->lens, sizeof(id->lens[0]) * id->count);
    memcpy(z->chain, id->der, id->der_len);
    if (z->session_area != NULL)
        memcpy(z->session_area, &id->gen, sizeof(id->gen));
    return CFTPKIE_HANDLED;
}

static int get_ca_list(struct pkicom *z)
{
    const struct cmpx_trust *t;
    X509_STORE *anchors;
    int crl_check;
    cmpx_trust_lock(&t, &anchors, &crl_check);
    if (t != NULL) {
        z->ca_names_count = t->names_count;
        memcpy(z->ca_names_len, t->names_len, sizeof(t->names_len[0]) * t->names_count);
        memcpy(z->ca_names, t->names, t->names_total);
    }
    cmpx_trust_unlock();
    return CFTPKIE_HANDLED;
}

static int alert_for(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_REVOKED:
        return 44;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return 45;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return 48;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return 51;
    case X509_V_ERR_INVALID_PURPOSE:
        return 43;
    default:
        return 42;
    }
}

static int refuse(struct pkicom *z, int alert, const char *why, const char *subject)
{
    z->accept = 0;
    z->alert_code = (uint32_t)alert;
    cmpx_log("peer %s refused: %s (alert %d)", subject ? subject : "?", why, alert);
    return CFTPKIE_HANDLED;
}

static int check_certificate(struct pkicom *z)
{
    STACK_OF(X509) *peer = sk_X509_new_null();
    X509 *leaf = NULL;
    X509_STORE_CTX *xs = NULL;
    char *subject = NULL;
    int ret = CFTPKIE_HANDLED;
    const uint8_t *p = z->peer_chain;
    size_t off = 0;
    z->accept = 0;
    if (peer == NULL || z->peer_count < 1 || z->peer_count > CFTPKIE_CHAIN_MAX)
        return refuse(z, 42, "no usable peer chain", NULL), sk_X509_free(peer), CFTPKIE_HANDLED;
    for (uint32_t i = 0; i < z->peer_count; i++) {
        if (z->peer_len[i] > CFTPKIE_CHAIN_CAP - off) {
            refuse(z, 42, "peer chain lengths out of bounds", NULL);
            goto out;
        }
        const uint8_t *q = p + off;
        X509 *x = d2i_X509(NULL, &q, z->peer_len[i]);
        if (x == NULL || q != p + off + z->peer_len[i] || !sk_X509_push(peer, x)) {
            X509_free(x);
            refuse(z, 42, "peer certificate does not parse", NULL);
            goto out;
        }
        off += z->peer_len[i];
    }
    leaf = sk_X509_value(peer, 0);
    subject = pkie_pki_name_text(X509_get_subject_name(leaf));
    const struct cmpx_trust *t;
    X509_STORE *anchors;
    int crl_check;
    cmpx_trust_lock(&t, &anchors, &crl_check);
    STACK_OF(X509) *untrusted = sk_X509_dup(peer);
    for (int i = 0; untrusted != NULL && t != NULL && i < sk_X509_num(t->cas); i++)
        sk_X509_push(untrusted, sk_X509_value(t->cas, i));
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    if (crls != NULL && t != NULL && t->crl != NULL)
        sk_X509_CRL_push(crls, t->crl);
    xs = X509_STORE_CTX_new();
    int ok = 0, err = X509_V_ERR_OUT_OF_MEM;
    if (untrusted != NULL && crls != NULL && xs != NULL &&
        X509_STORE_CTX_init(xs, anchors, leaf, untrusted) == 1) {
        X509_STORE_CTX_set0_crls(xs, crls);
        X509_STORE_CTX_set_purpose(xs, (z->flags & CFTPKIE_F_SERVER) ? X509_PURPOSE_SSL_CLIENT
                                                                     : X509_PURPOSE_SSL_SERVER);
        X509_STORE_CTX_set_depth(xs, z->verify_depth > 0 ? z->verify_depth : 4);
        if (crl_check ||
            (t != NULL && t->crl != NULL &&
             X509_NAME_cmp(X509_CRL_get_issuer(t->crl), X509_get_issuer_name(leaf)) == 0))
            X509_STORE_CTX_set_flags(xs, X509_V_FLAG_CRL_CHECK);
        ok = X509_verify_cert(xs) == 1;
        err = X509_STORE_CTX_get_error(xs);
    }
    cmpx_trust_unlock();
    X509_STORE_CTX_free(xs);
    xs = NULL;
    sk_X509_free(untrusted);
    sk_X509_CRL_free(crls);
    ERR_clear_error();
    if (!ok) {
        refuse(z, err == X509_V_ERR_UNABLE_TO_GET_CRL ? 42 : alert_for(err),
               err == X509_V_ERR_UNABLE_TO_GET_CRL ? "no CRL known yet"
                                                   : X509_verify_cert_error_string(err),
               subject);
        goto out;
    }
    if (z->n_dn_filters > 0) {
        int match = 0;
        for (uint32_t i = 0; i < z->n_dn_filters && i < CFTPKIE_DN_FILTERS_MAX && !match; i++)
            if (memchr(z->dn_filters[i], '\0', CFTPKIE_NAME_CAP) != NULL && subject != NULL)
                match = pkie_pki_dn_match(z->dn_filters[i], subject);
        if (!match) {
            refuse(z, 42, "subject matches no DN filter", subject);
            goto out;
        }
    }
    z->accept = 1;
    z->alert_code = 0;
out:
    OPENSSL_free(subject);
    sk_X509_pop_free(peer, X509_free);
    return ret;
}

static const EVP_MD *md_of(uint32_t d)
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

static int crypt_data(struct pkicom *z)
{
    uint64_t gen = 0;
    if (z->session_area != NULL)
        memcpy(&gen, z->session_area, sizeof(gen));
    struct cmpx_ident *id = gen ? cmpx_by_gen(gen) : cmpx_current();
    if (id == NULL)
        return fail(z, "cmp exit: no key for this session");
    if (z->data_len > CFTPKIE_DATA_CAP)
        return fail(z, "cmp exit: data_len over capacity");
    int type = EVP_PKEY_get_base_id(id->key);
    size_t siglen = sizeof(z->sig);
    int ok = 0;
    if (z->sign_alg == CFTPKIE_SIGN_ED25519) {
        if (type != EVP_PKEY_ED25519)
            return fail(z, "cmp exit: Ed25519 asked, key is not Ed25519");
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        ok = mc != NULL && EVP_DigestSignInit(mc, NULL, NULL, NULL, id->key) == 1 &&
             EVP_DigestSign(mc, z->sig, &siglen, z->data, z->data_len) == 1;
        EVP_MD_CTX_free(mc);
    } else {
        const EVP_MD *md = md_of(z->sign_digest);
        int rsa = z->sign_alg == CFTPKIE_SIGN_RSA_PKCS1 || z->sign_alg == CFTPKIE_SIGN_RSA_PSS;
        if (md == NULL || (int)z->data_len != EVP_MD_get_size(md))
            return fail(z, "cmp exit: digest %u with %u bytes", z->sign_digest, z->data_len);
        if ((rsa && type != EVP_PKEY_RSA) ||
            (z->sign_alg == CFTPKIE_SIGN_ECDSA && type != EVP_PKEY_EC) ||
            (!rsa && z->sign_alg != CFTPKIE_SIGN_ECDSA))
            return fail(z, "cmp exit: algorithm %u does not fit the key", z->sign_alg);
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, id->key, NULL);
        ok =
            pc != NULL && EVP_PKEY_sign_init(pc) == 1 && EVP_PKEY_CTX_set_signature_md(pc, md) == 1;
        if (ok && z->sign_alg == CFTPKIE_SIGN_RSA_PSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
        else if (ok && rsa)
            ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
        ok = ok && EVP_PKEY_sign(pc, z->sig, &siglen, z->data, z->data_len) == 1;
        EVP_PKEY_CTX_free(pc);
    }
    ERR_clear_error();
    if (!ok || siglen == 0 || siglen > sizeof(z->sig))
        return fail(z, "cmp exit: signing failed");
    z->sig_len = (uint32_t)siglen;
    return CFTPKIE_HANDLED;
}

__attribute__((visibility("default"))) int cftpkie(struct pkicom *zpki)
{
    /* ABI: any host of version >= 1 (an exit built for an older version runs on a newer host);
     * this exit uses version 1 fields only (a later field: CFTPKIE_HAS()). */
    if (zpki == NULL || zpki->abi_version < 1 || zpki->size < CFTPKIE_V1_END)
        return CFTPKIE_ERROR;
    switch (zpki->phase) {
    case CFTPKIE_START_TASK:
        return start_task(zpki);
    case CFTPKIE_START_HANDSHAKE:
        cmpx_handshake_tick();
        zpki->exit_session_ref = zpki->host_session_ref;
        return CFTPKIE_NOT_HANDLED; /* the host's profile stays */
    case CFTPKIE_GET_CERTIFICATE:
        return get_certificate(zpki);
    case CFTPKIE_GET_CA_LIST:
        return get_ca_list(zpki);
    case CFTPKIE_CHECK_CERTIFICATE:
        return check_certificate(zpki);
    case CFTPKIE_CRYPT_DATA:
        return crypt_data(zpki);
    default:
        return CFTPKIE_NOT_HANDLED;
    }
}
