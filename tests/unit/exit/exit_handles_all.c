/*
 * Test exit that handles every phase itself (tests and the exit_overhead
 * benchmark). Built twice: as exit_handles_all.so, and with -DMALICIOUS as
 * exit_malicious.so, which returns malformed answers.
 *
 * Configuration string (pki.exit.conf), blank-separated key=value:
 *   chain=PEM      our chain (leaf first)            required
 *   key=PEM        its private key                   required
 *   ca=PEM         trust anchors for the peer chain  required
 *   sign=sig|pkcs8 CryptData answers a signature (default) or the PKCS#8 key
 *   refuse=N       CheckCertificate refuses every peer with alert N
 *   error=PHASE    answer CFTPKIE_ERROR (text "forced error") at phase number
 *   skip=MASK      phases (bit mask) left out of the StartTask mask
 *   nothandled=MASK phases answered CFTPKIE_NOT_HANDLED
 *   per=S1,S2,...  per session i (1-based), S_i overrides the two above:
 *                  eN = error at phase N, nM = not handled mask M, - = none
 * malicious only:
 *   bad=KIND       the malformed answer (see the switch in misbehave()); it is
 *                  given in odd sessions only, so the host must refuse session
 *                  1 and serve session 2.
 *   other=PEM:KEY  another certificate and key (for chain/key mismatches)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cftpkie.h"

struct state {
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    X509_STORE *store;
    EVP_PKEY *other_key;
    X509 *other_cert;
    int pkcs8;
    int refuse;
    uint32_t error_phase;
    uint32_t skip, nothandled;
    char per[512];
    char bad[1024];     /* kind[@phase],kind[@phase],... */
    char cur[64];       /* kind of the current odd session ("" = behave) */
    uint32_t cur_phase; /* its @phase (0: error=PHASE) */
    uint8_t chain_der[CFTPKIE_CHAIN_CAP];
    uint32_t chain_len[CFTPKIE_CHAIN_MAX];
    uint32_t chain_count;
    size_t chain_total;
    uint8_t names_der[CFTPKIE_CA_NAMES_CAP];
    uint32_t names_len[CFTPKIE_CA_NAMES_MAX];
    uint32_t names_count;
    /* the key as PKCS#8, encoded once (sign=pkcs8) */
    uint8_t p8_der[CFTPKIE_KEY_CAP];
    uint32_t p8_len;
    /* the last peer chain, parsed: the same bytes are not parsed again (the
     * chain is still verified at every CheckCertificate) */
    uint8_t *peer_der;
    size_t peer_total;
    uint32_t peer_len[CFTPKIE_CHAIN_MAX];
    uint32_t peer_count;
    STACK_OF(X509) *peer;
};

static void st_free(struct state *s)
{
    if (s == NULL)
        return;
    sk_X509_pop_free(s->chain, X509_free);
    EVP_PKEY_free(s->key);
    EVP_PKEY_free(s->other_key);
    X509_free(s->other_cert);
    X509_STORE_free(s->store);
    OPENSSL_cleanse(s->p8_der, sizeof(s->p8_der));
    free(s->peer_der);
    sk_X509_pop_free(s->peer, X509_free);
    free(s);
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return k;
}

static STACK_OF(X509) *read_certs(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    fclose(f);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

static int fail(struct pkicom *z, const char *msg)
{
    snprintf(z->error_text, sizeof(z->error_text), "%s", msg);
    return CFTPKIE_ERROR;
}

static struct state *st_load(struct pkicom *z)
{
    char conf[CFTPKIE_CONF_CAP];
    memcpy(conf, z->conf, sizeof(conf));
    conf[sizeof(conf) - 1] = '\0';
    struct state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    char *save = NULL;
    for (char *tok = strtok_r(conf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            goto err;
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        if (strcmp(k, "chain") == 0) {
            s->chain = read_certs(v);
        } else if (strcmp(k, "key") == 0) {
            s->key = read_key(v);
        } else if (strcmp(k, "ca") == 0) {
            STACK_OF(X509) *cas = read_certs(v);
            if (cas == NULL)
                goto err;
            s->store = X509_STORE_new();
            for (int i = 0; i < sk_X509_num(cas); i++) {
                X509 *c = sk_X509_value(cas, i);
                X509_STORE_add_cert(s->store, c);
                X509_NAME *n = X509_get_subject_name(c);
                unsigned char *p = s->names_der;
                size_t off = 0;
                for (uint32_t j = 0; j < s->names_count; j++)
                    off += s->names_len[j];
                p += off;
                int len = i2d_X509_NAME(n, NULL);
                if (len > 0 && off + (size_t)len <= sizeof(s->names_der) &&
                    s->names_count < CFTPKIE_CA_NAMES_MAX) {
                    i2d_X509_NAME(n, &p);
                    s->names_len[s->names_count++] = (uint32_t)len;
                }
            }
            sk_X509_pop_free(cas, X509_free);
        } else if (strcmp(k, "sign") == 0) {
            s->pkcs8 = strcmp(v, "pkcs8") == 0;
        } else if (strcmp(k, "refuse") == 0) {
            s->refuse = atoi(v);
        } else if (strcmp(k, "error") == 0) {
            s->error_phase = (uint32_t)atoi(v);
        } else if (strcmp(k, "skip") == 0) {
            s->skip = (uint32_t)strtoul(v, NULL, 0);
        } else if (strcmp(k, "per") == 0) {
            snprintf(s->per, sizeof(s->per), "%s", v);
        } else if (strcmp(k, "nothandled") == 0) {
            s->nothandled = (uint32_t)strtoul(v, NULL, 0);
        } else if (strcmp(k, "bad") == 0) {
            snprintf(s->bad, sizeof(s->bad), "%s", v);
        } else if (strcmp(k, "other") == 0) {
            char buf[1024];
            snprintf(buf, sizeof(buf), "%s", v);
            char *colon = strchr(buf, ':');
            if (colon == NULL)
                goto err;
            *colon = '\0';
            STACK_OF(X509) *o = read_certs(buf);
            s->other_key = read_key(colon + 1);
            if (o == NULL || s->other_key == NULL) {
                sk_X509_pop_free(o, X509_free);
                goto err;
            }
            s->other_cert = sk_X509_shift(o);
            sk_X509_pop_free(o, X509_free);
        } else {
            goto err;
        }
    }
    if (s->chain == NULL || s->key == NULL || s->store == NULL)
        goto err;
    if (s->pkcs8) {
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(s->key);
        int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
        unsigned char *p = s->p8_der;
        if (len <= 0 || (size_t)len > sizeof(s->p8_der) || i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len) {
            PKCS8_PRIV_KEY_INFO_free(p8);
            goto err;
        }
        PKCS8_PRIV_KEY_INFO_free(p8);
        s->p8_len = (uint32_t)len;
    }
    for (int i = 0; i < sk_X509_num(s->chain) && i < (int)CFTPKIE_CHAIN_MAX; i++) {
        int len = i2d_X509(sk_X509_value(s->chain, i), NULL);
        if (len <= 0 || s->chain_total + (size_t)len > sizeof(s->chain_der))
            goto err;
        unsigned char *p = s->chain_der + s->chain_total;
        i2d_X509(sk_X509_value(s->chain, i), &p);
        s->chain_len[s->chain_count++] = (uint32_t)len;
        s->chain_total += (size_t)len;
    }
    return s;
err:
    st_free(s);
    return NULL;
}

static struct state *st_get(const struct pkicom *z)
{
    struct state *s;
    memcpy(&s, z->task_area, sizeof(s));
    return s;
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

static int do_sign(struct pkicom *z, EVP_PKEY *key)
{
    size_t len = sizeof(z->sig);
    int ok = 0;
    if (z->sign_alg == CFTPKIE_SIGN_ED25519) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, key) > 0 &&
             EVP_DigestSign(m, z->sig, &len, z->data, z->data_len) > 0;
        EVP_MD_CTX_free(m);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
        ok = c && EVP_PKEY_sign_init(c) > 0 &&
             EVP_PKEY_CTX_set_signature_md(c, md_of(z->sign_digest)) > 0;
        if (ok && z->sign_alg == CFTPKIE_SIGN_RSA_PSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) > 0 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) > 0;
        else if (ok && z->sign_alg == CFTPKIE_SIGN_RSA_PKCS1)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0;
        ok = ok && EVP_PKEY_sign(c, z->sig, &len, z->data, z->data_len) > 0;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        return fail(z, "signature failed");
    z->sig_len = (uint32_t)len;
    return CFTPKIE_HANDLED;
}

#ifdef MALICIOUS
static int put_key(struct pkicom *z, EVP_PKEY *key)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
    if (len <= 0 || (size_t)len > sizeof(z->key)) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        return fail(z, "PKCS#8 encoding failed");
    }
    unsigned char *p = z->key;
    i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    PKCS8_PRIV_KEY_INFO_free(p8);
    z->key_len = (uint32_t)len;
    return CFTPKIE_HANDLED;
}
#endif

/* The peer chain of @p z parsed: the cached one when the bytes are those of
 * the last call, else parsed (and cached). A new reference to the stack's
 * certificates; NULL on failure. */
static STACK_OF(X509) *peer_chain(struct pkicom *z, struct state *s)
{
    size_t total = 0;
    if (z->peer_count > CFTPKIE_CHAIN_MAX)
        return NULL;
    for (uint32_t i = 0; i < z->peer_count; i++)
        total += z->peer_len[i];
    if (total > sizeof(z->peer_chain))
        return NULL;
    if (s->peer != NULL && z->peer_count == s->peer_count && total == s->peer_total &&
        memcmp(z->peer_len, s->peer_len, z->peer_count * sizeof(z->peer_len[0])) == 0 &&
        memcmp(z->peer_chain, s->peer_der, total) == 0)
        return X509_chain_up_ref(s->peer);
    STACK_OF(X509) *sk = sk_X509_new_null();
    size_t off = 0;
    for (uint32_t i = 0; sk != NULL && i < z->peer_count; i++) {
        const unsigned char *p = z->peer_chain + off;
        X509 *x = d2i_X509(NULL, &p, z->peer_len[i]);
        if (x == NULL)
            break;
        sk_X509_push(sk, x);
        off += z->peer_len[i];
    }
    uint8_t *der = total > 0 ? malloc(total) : NULL;
    STACK_OF(X509) *copy = sk != NULL && der != NULL ? X509_chain_up_ref(sk) : NULL;
    if (copy != NULL && (uint32_t)sk_X509_num(sk) == z->peer_count) {
        memcpy(der, z->peer_chain, total);
        free(s->peer_der);
        sk_X509_pop_free(s->peer, X509_free);
        s->peer_der = der;
        s->peer_total = total;
        s->peer_count = z->peer_count;
        memcpy(s->peer_len, z->peer_len, z->peer_count * sizeof(z->peer_len[0]));
        s->peer = copy;
    } else {
        free(der);
        sk_X509_pop_free(copy, X509_free);
    }
    return sk;
}

static int check_peer(struct pkicom *z, struct state *s)
{
    STACK_OF(X509) *sk = peer_chain(z, s);
    z->accept = 0;
    z->alert_code = 42;
    if (sk_X509_num(sk) > 0) {
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        if (ctx && X509_STORE_CTX_init(ctx, s->store, sk_X509_value(sk, 0), sk) == 1) {
            X509_STORE_CTX_set_depth(ctx, z->verify_depth);
            if (X509_verify_cert(ctx) == 1) {
                z->accept = 1;
                z->alert_code = 0;
            } else {
                int e = X509_STORE_CTX_get_error(ctx);
                z->alert_code = e == X509_V_ERR_CERT_HAS_EXPIRED ? 45 : 48;
            }
        }
        X509_STORE_CTX_free(ctx);
    }
    sk_X509_pop_free(sk, X509_free);
    if (s->refuse) {
        z->accept = 0;
        z->alert_code = (uint32_t)s->refuse;
    }
    return CFTPKIE_HANDLED;
}

#ifdef MALICIOUS
static int bad_is(const struct state *s, const char *k)
{
    return strcmp(s->cur, k) == 0;
}

/* The kind for session @p ref: sessions 2i-1 get the i-th item of bad=,
 * even sessions (and those past the list) behave. */
static void pick_kind(struct state *s, uint64_t ref)
{
    s->cur[0] = '\0';
    s->cur_phase = 0;
    if (ref == 0 || ref % 2 == 0)
        return;
    uint64_t idx = (ref - 1) / 2;
    const char *p = s->bad;
    for (uint64_t i = 0; i < idx && p != NULL; i++) {
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    if (p == NULL || *p == '\0')
        return;
    size_t n = strcspn(p, ",");
    if (n >= sizeof(s->cur))
        n = sizeof(s->cur) - 1;
    memcpy(s->cur, p, n);
    s->cur[n] = '\0';
    char *at = strchr(s->cur, '@');
    if (at != NULL) {
        *at = '\0';
        s->cur_phase = (uint32_t)atoi(at + 1);
    }
}

/* Spoil the answer of phase ph in odd sessions. Returns the code to answer. */
static int misbehave(struct pkicom *z, struct state *s, int rc)
{
    uint32_t ph = z->phase;
    pick_kind(s, z->host_session_ref);
    if (s->cur[0] == '\0')
        return rc;
    uint32_t eph = s->cur_phase ? s->cur_phase : s->error_phase;
    switch (ph) {
    case CFTPKIE_START_HANDSHAKE:
        if (bad_is(s, "profile_depth"))
            z->verify_depth = 99;
        if (bad_is(s, "profile_id"))
            memset(z->cert_id, 'A', sizeof(z->cert_id));
        if (bad_is(s, "profile_count"))
            z->n_ca_ids = 1000;
        break;
    case CFTPKIE_GET_CERTIFICATE:
        if (bad_is(s, "chain_der"))
            z->chain[4] ^= 0xff;
        if (bad_is(s, "chain_len"))
            z->chain_len[0] = CFTPKIE_CHAIN_CAP + 1;
        if (bad_is(s, "chain_count"))
            z->chain_count = CFTPKIE_CHAIN_MAX + 1;
        if (bad_is(s, "chain_empty"))
            z->chain_count = 0;
        if (bad_is(s, "chain_trailing"))
            z->chain_len[0] += 1;
        if (bad_is(s, "chain_other") && s->other_cert) {
            unsigned char *p = z->chain;
            int len = i2d_X509(s->other_cert, &p);
            z->chain_len[0] = (uint32_t)len;
            z->chain_count = 1;
        }
        break;
    case CFTPKIE_GET_CA_LIST:
        if (bad_is(s, "names_der"))
            z->ca_names[0] = 0x04;
        if (bad_is(s, "names_len"))
            z->ca_names_len[0] = CFTPKIE_CA_NAMES_CAP * 2;
        if (bad_is(s, "names_count"))
            z->ca_names_count = CFTPKIE_CA_NAMES_MAX + 5;
        break;
    case CFTPKIE_CHECK_CERTIFICATE:
        if (bad_is(s, "alert_unknown")) {
            z->accept = 0;
            z->alert_code = 99;
        }
        if (bad_is(s, "accept_garbage"))
            z->accept = 7;
        break;
    case CFTPKIE_CRYPT_DATA:
        if (bad_is(s, "sig_wrong"))
            z->sig[z->sig_len / 2] ^= 0x01;
        if (bad_is(s, "sig_len"))
            z->sig_len = CFTPKIE_SIG_CAP + 100;
        if (bad_is(s, "sig_empty"))
            z->sig_len = 0;
        if (bad_is(s, "sig_other") && s->other_key) {
            z->sig_len = 0;
            rc = do_sign(z, s->other_key);
        }
        if (bad_is(s, "key_other") && s->other_key) {
            z->sig_len = 0;
            rc = put_key(z, s->other_key);
        }
        if (bad_is(s, "key_der")) {
            z->sig_len = 0;
            memset(z->key, 0x30, 64);
            z->key_len = 64;
        }
        if (bad_is(s, "key_len")) {
            z->sig_len = 0;
            z->key_len = CFTPKIE_KEY_CAP + 1;
        }
        break;
    default:
        break;
    }
    if (bad_is(s, "error_notext")) {
        if (ph == eph) {
            z->error_text[0] = '\0';
            return CFTPKIE_ERROR;
        }
    }
    if (bad_is(s, "error_unterminated") && ph == eph) {
        memset(z->error_text, 'E', sizeof(z->error_text));
        return CFTPKIE_ERROR;
    }
    if (bad_is(s, "rc_weird") && ph == eph)
        return 42;
    return rc;
}
#endif

__attribute__((visibility("default"))) int cftpkie(struct pkicom *z)
{
    if (z == NULL || z->abi_version < 1)
        return CFTPKIE_ERROR;
    struct state *s = NULL;
    int rc = CFTPKIE_HANDLED;
    if (z->phase == CFTPKIE_START_TASK) {
#ifdef MALICIOUS
        /* Bad StartTask answers need no files. */
        if (memchr(z->conf, '\0', sizeof(z->conf)) != NULL && strstr(z->conf, "bad=start_")) {
            z->exit_abi_version = CFTPKIE_ABI_VERSION;
            z->phase_mask = CFTPKIE_MASK_ALL;
            z->session_area_size = 0;
            if (strstr(z->conf, "bad=start_abi"))
                z->exit_abi_version = 99;
            if (strstr(z->conf, "bad=start_mask"))
                z->phase_mask |= 1u << 30;
            if (strstr(z->conf, "bad=start_area"))
                z->session_area_size = CFTPKIE_SESSION_AREA_MAX + 1;
            if (strstr(z->conf, "bad=start_password"))
                memset(z->pki_password, 'p', sizeof(z->pki_password));
            return CFTPKIE_HANDLED;
        }
#endif
        s = st_load(z);
        if (s == NULL)
            return fail(z, "handles_all: bad configuration string");
        memcpy(z->task_area, &s, sizeof(s));
        z->exit_abi_version = CFTPKIE_ABI_VERSION;
        z->phase_mask = CFTPKIE_MASK_ALL & ~s->skip;
        z->session_area_size = 0;
        z->exit_task_ref = 7000 + z->host_task_ref;
        return CFTPKIE_HANDLED;
    }
    s = st_get(z);
    if (s == NULL && z->phase == CFTPKIE_END_TASK)
        return CFTPKIE_HANDLED; /* StartTask failed or answered without state */
    if (s == NULL)
        return fail(z, "handles_all: no task state");
    if (z->phase == CFTPKIE_END_TASK) {
        st_free(s);
        memset(z->task_area, 0, sizeof(s));
        return CFTPKIE_HANDLED;
    }
    uint32_t error_phase = s->error_phase, nothandled = s->nothandled;
    if (s->per[0] != '\0' && z->host_session_ref > 0) {
        /* the spec of this session in per= */
        const char *p = s->per;
        for (uint64_t i = 1; i < z->host_session_ref && p != NULL; i++) {
            p = strchr(p, ',');
            if (p != NULL)
                p++;
        }
        if (p != NULL && *p == 'e') {
            error_phase = (uint32_t)strtoul(p + 1, NULL, 0);
            nothandled = 0;
        } else if (p != NULL && *p == 'n') {
            nothandled = (uint32_t)strtoul(p + 1, NULL, 0);
            error_phase = 0;
        } else if (p != NULL) {
            error_phase = 0;
            nothandled = 0;
        }
    }
    if (z->phase == error_phase
#ifdef MALICIOUS
        && s->bad[0] == '\0'
#endif
    )
        return fail(z, "forced error");
    if (nothandled & CFTPKIE_PHASE_BIT(z->phase))
        return CFTPKIE_NOT_HANDLED;
    switch (z->phase) {
    case CFTPKIE_START_HANDSHAKE:
        z->exit_session_ref = 0xabc00000u + z->host_session_ref;
        break; /* the profile stays as given */
    case CFTPKIE_GET_CERTIFICATE:
        memcpy(z->chain, s->chain_der, s->chain_total);
        memcpy(z->chain_len, s->chain_len, sizeof(s->chain_len));
        z->chain_count = s->chain_count;
        break;
    case CFTPKIE_GET_CA_LIST:
        memcpy(z->ca_names, s->names_der, sizeof(s->names_der));
        memcpy(z->ca_names_len, s->names_len, sizeof(s->names_len));
        z->ca_names_count = s->names_count;
        break;
    case CFTPKIE_CHECK_CERTIFICATE:
        rc = check_peer(z, s);
        break;
    case CFTPKIE_CRYPT_DATA:
        if (s->pkcs8) {
            memcpy(z->key, s->p8_der, s->p8_len);
            z->key_len = s->p8_len;
        } else {
            rc = do_sign(z, s->key);
        }
        break;
    case CFTPKIE_HANDSHAKE_DONE:
        memset(z->global_area, 0, sizeof(z->global_area));
        snprintf((char *)z->global_area, sizeof(z->global_area), "handles-all %llu",
                 (unsigned long long)z->host_session_ref);
        break;
    default:
        break;
    }
#ifdef MALICIOUS
    rc = misbehave(z, s, rc);
#endif
    return rc;
}
