/*
 * Fuzz target: what an exit can return. The first byte selects the phase
 * whose outputs the rest of the input fills in a struct pkicom; the host's
 * validation function for that phase must refuse or accept it without any
 * memory error, and whatever it accepts must be usable (re-encodable).
 *   0 StartTask      exit_abi_version, phase_mask, session_area_size, password
 *   1 StartHandshake the profile fields, raw
 *   2 GetCertificate chain_count, chain_len[10], chain bytes
 *   3 GetCAList      ca_names_count, ca_names_len[64], name bytes
 *   4 CheckCertificate accept, alert_code
 *   5 CryptData      sig_len or key_len, then the signature or PKCS#8 bytes
 *   6 error text     error_text bytes
 * Integers are little-endian uint32.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../../../src/exit/exit_int.h"

static uint32_t take32(const uint8_t **d, size_t *n)
{
    uint32_t v = 0;
    for (int i = 0; i < 4 && *n > 0; i++) {
        v |= (uint32_t)(**d) << (8 * i);
        (*d)++;
        (*n)--;
    }
    return v;
}

static void take(void *dst, size_t cap, const uint8_t **d, size_t *n)
{
    size_t k = *n < cap ? *n : cap;
    memcpy(dst, *d, k);
    *d += k;
    *n -= k;
}

static EVP_PKEY *leaf_key(void)
{
    static EVP_PKEY *k;
    if (k == NULL)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return k;
}

static EVP_PKEY *leaf_key2(void)
{
    static EVP_PKEY *k;
    if (k == NULL)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return k;
}

/* The caches a task keeps between sessions. */
static struct pkie_exit_keycache kcache;
static struct pkie_exit_verifier verifier;

/* A valid CryptData answer for leaf_key(): its PKCS#8 (@p key) or a
 * signature of @p req. */
static int valid_answer(int key, const struct pkie_exit_sign_req *req, uint8_t *out, size_t *len)
{
    if (key) {
        unsigned char *der = NULL;
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(leaf_key());
        int dl = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
        PKCS8_PRIV_KEY_INFO_free(p8);
        int ok = dl > 0 && (size_t)dl <= *len;
        if (ok) {
            memcpy(out, der, (size_t)dl);
            *len = (size_t)dl;
        }
        OPENSSL_free(der);
        return ok;
    }
    return pkie_exit_sign_with_key(leaf_key(), req, out, len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pkicom *z;
    if (z == NULL && (z = malloc(sizeof(*z))) == NULL)
        return 0;
    if (size < 1)
        return 0;
    uint8_t sel = data[0] % 7;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (sel) {
    case 0: {
        memset(z->pki_password, 0, sizeof(z->pki_password));
        z->exit_abi_version = take32(&d, &n);
        z->phase_mask = take32(&d, &n);
        z->session_area_size = take32(&d, &n);
        take(z->pki_password, sizeof(z->pki_password), &d, &n);
        uint32_t mask, area;
        if (pkie_exit_check_start_task(z, &mask, &area) == 0 &&
            (area > CFTPKIE_SESSION_AREA_MAX || (mask & ~(uint32_t)CFTPKIE_MASK_ALL) != 0))
            abort();
        break;
    }
    case 1: {
        size_t off = offsetof(struct pkicom, cert_id);
        size_t end = offsetof(struct pkicom, dn_filters) + sizeof(z->dn_filters);
        memset((uint8_t *)z + off, 0, end - off);
        take((uint8_t *)z + off, end - off, &d, &n);
        struct pkie_exit_profile p;
        if (pkie_exit_check_profile(z, &p) == 0) {
            if (strlen(p.cert_id) >= sizeof(p.cert_id) || p.n_ca_ids > CFTPKIE_CA_IDS_MAX ||
                p.n_dn_filters > CFTPKIE_DN_FILTERS_MAX)
                abort();
            for (uint32_t i = 0; i < p.n_dn_filters; i++)
                if (strlen(p.dn_filters[i]) >= sizeof(p.dn_filters[i]))
                    abort();
        }
        break;
    }
    case 2: {
        z->chain_count = take32(&d, &n);
        for (int i = 0; i < (int)CFTPKIE_CHAIN_MAX; i++)
            z->chain_len[i] = take32(&d, &n);
        take(z->chain, sizeof(z->chain), &d, &n);
        STACK_OF(X509) *sk = NULL;
        if (pkie_exit_check_chain(z, &sk) == 0) {
            for (int i = 0; i < sk_X509_num(sk); i++)
                if (i2d_X509(sk_X509_value(sk, i), NULL) <= 0)
                    abort();
            sk_X509_pop_free(sk, X509_free);
        }
        break;
    }
    case 3: {
        z->ca_names_count = take32(&d, &n);
        for (int i = 0; i < (int)CFTPKIE_CA_NAMES_MAX; i++)
            z->ca_names_len[i] = take32(&d, &n);
        take(z->ca_names, sizeof(z->ca_names), &d, &n);
        STACK_OF(X509_NAME) *names = NULL;
        if (pkie_exit_check_ca_names(z, &names) == 0) {
            /* what was accepted goes back through the encoder */
            pkie_exit_put_ca_names(z, names);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
        }
        break;
    }
    case 4: {
        z->accept = take32(&d, &n);
        z->alert_code = take32(&d, &n);
        int accept, alert;
        if (pkie_exit_check_verdict(z, &accept, &alert) == 0 && !accept &&
            !pkie_exit_alert_allowed((uint32_t)alert))
            abort();
        break;
    }
    case 5: {
        /* kind bit 0: a PKCS#8 key instead of a signature; bit 1: start from
         * a valid answer for the first leaf key and XOR one byte of it (at
         * len modulo its length) with the next input byte; bit 2: check it
         * against the second leaf key. The host's cached checks (a key cache
         * and a verifier kept across inputs, as a task keeps them) must
         * accept exactly what the uncached check accepts. */
        uint32_t kind = take32(&d, &n);
        uint32_t len = take32(&d, &n);
        z->sig_len = 0;
        z->key_len = 0;
        uint8_t tbs[32] = {1, 2, 3};
        struct pkie_exit_sign_req req = {
            .alg = CFTPKIE_SIGN_ECDSA, .md = EVP_sha256(), .tbs = tbs, .tbs_len = sizeof(tbs)};
        uint8_t flip = 0xff; /* 0: the valid answer unchanged */
        uint8_t *buf = (kind & 1) ? z->key : z->sig;
        uint32_t *buf_len = (kind & 1) ? &z->key_len : &z->sig_len;
        size_t cap = (kind & 1) ? sizeof(z->key) : sizeof(z->sig);
        if (kind & 2) {
            size_t vl = cap;
            if (!valid_answer(kind & 1, &req, buf, &vl))
                abort();
            *buf_len = (uint32_t)vl;
            flip = n > 0 ? d[0] : 0;
            buf[len % vl] ^= flip;
        } else {
            *buf_len = len;
            take(buf, cap, &d, &n);
        }
        EVP_PKEY *leaf = (kind & 4) ? leaf_key2() : leaf_key();
        uint8_t sig[1024], sig2[1024];
        size_t sl = sizeof(sig), sl2 = sizeof(sig2);
        /* the host wipes a returned key after use: give the second check the
         * same answer again */
        static uint8_t saved[sizeof(z->key) > sizeof(z->sig) ? sizeof(z->key) : sizeof(z->sig)];
        uint32_t saved_len = *buf_len;
        memcpy(saved, buf, cap);
        int plain = pkie_exit_check_signature(z, leaf, &req, sig, &sl);
        memcpy(buf, saved, cap);
        *buf_len = saved_len;
        int cached =
            pkie_exit_check_signature_cached(z, leaf, &req, sig2, &sl2, &kcache, &verifier);
        if ((plain == 0) != (cached == 0))
            abort();
        /* A random answer, or any answer checked against the other key,
         * never matches. */
        if (plain == 0 && (!(kind & 2) || (kind & 4)))
            abort();
        /* and the valid answer itself is accepted */
        if ((kind & 6) == 2 && flip == 0 && plain != 0)
            abort();
        /* An accepted signature of the exit is passed on as it came. */
        if (plain == 0 && !(kind & 1) &&
            (sl != z->sig_len || sl2 != z->sig_len || memcmp(sig, z->sig, sl) != 0 ||
             memcmp(sig2, z->sig, sl2) != 0))
            abort();
        break;
    }
    default: {
        char t[CFTPKIE_ERRTEXT_CAP];
        memset(t, 'x', sizeof(t));
        take(t, sizeof(t), &d, &n);
        if (pkie_exit_check_text(t, sizeof(t)) == 0 && memchr(t, '\0', sizeof(t)) == NULL)
            abort();
        break;
    }
    }
    return 0;
}
