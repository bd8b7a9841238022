/* CA store: the part both backends share (backend choice, the data key,
 * client secret encryption, serial helpers); the backend's operations are
 * behind s->ops (ca_internal.h). */
#include "ca_internal.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEK_ITER  100000
#define GCM_NONCE 12
#define GCM_TAG   16

int64_t pkie_ca_now(void)
{
    return (int64_t)time(NULL);
}

int64_t pkie_ca_asn1_time_secs(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

int pkie_ca_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    int rc = 0;
    if (hex == NULL || BN_is_negative(bn))
        rc = PKIE_ERR(PKIE_ERR_ARG, "serial number not representable");
    else
        rc = pkie_ca_serial_canon(hex, buf, cap); /* BN_bn2hex pads to whole octets */
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

int pkie_ca_serial_canon(const char *in, char *buf, size_t cap)
{
    size_t n = 0;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    while (*in == '0' || *in == ':')
        in++;
    for (; *in != '\0'; in++) {
        char c = *in;
        if (c == ':')
            continue;
        if (c >= 'a' && c <= 'f')
            c = (char)(c - 'a' + 'A');
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return PKIE_ERR(PKIE_ERR_ARG, "serial '%s' is not hexadecimal", in);
        if (n + 2 > cap)
            return PKIE_ERR(PKIE_ERR_ARG, "serial too long");
        buf[n++] = c;
    }
    if (n == 0) {
        if (cap < 2)
            return PKIE_ERR(PKIE_ERR_ARG, "serial too long");
        buf[n++] = '0';
    }
    buf[n] = '\0';
    return 0;
}

void pkie_ca_copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? (const char *)src : "");
}

static __thread int db_unavailable;

int pkie_ca_store_unavailable(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    db_unavailable = 1;
    return PKIE_ERR(PKIE_ERR_CA_UNAVAILABLE, "database unavailable: %s", msg);
}

int pkie_ca_store_unavailable_seen(void)
{
    return db_unavailable;
}

int pkie_ca_store_take_unavailable(void)
{
    int v = db_unavailable;
    db_unavailable = 0;
    return v;
}

int pkie_ca_db_is_url(const char *db)
{
    if (db == NULL)
        return 0;
    if (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0)
        return 1;
    /* libpq's key=value form: the first word is a keyword followed by '=' */
    size_t n = strspn(db, "abcdefghijklmnopqrstuvwxyz_");
    size_t sp = n;
    while (db[sp] == ' ')
        sp++;
    return n > 0 && db[sp] == '=';
}

struct pkie_ca_store *pkie_ca_store_alloc(void)
{
    struct pkie_ca_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_mutex_init(&s->gc_mu, NULL);
    pthread_mutex_init(&s->nc_mu, NULL);
    return s;
}

void pkie_ca_store_free(struct pkie_ca_store *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rmu);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_mutex_destroy(&s->nc_mu);
    pkie_wipe(s->dek, sizeof(s->dek));
    free(s);
}

int pkie_ca_store_open(const char *path, int create, struct pkie_ca_store **out)
{
    struct pkie_ca_store *s = pkie_ca_store_alloc();
    *out = NULL;
    if (s == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "store");
    int rc = pkie_ca_db_is_url(path) ? pkie_ca_pg_open(s, path, create)
                                     : pkie_ca_sq_open(s, path, create);
    if (rc != 0) {
        if (s->ops != NULL)
            s->ops->close(s);
        pkie_ca_store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void pkie_ca_store_close(struct pkie_ca_store *s)
{
    if (s == NULL)
        return;
    if (s->ops != NULL)
        s->ops->close(s);
    pkie_ca_store_free(s);
}

const char *pkie_ca_store_backend(const struct pkie_ca_store *s)
{
    return s->ops->name;
}

int pkie_ca_store_check(struct pkie_ca_store *s)
{
    return s->ops->check(s);
}

/* ---- data key ------------------------------------------------------------ */

static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c != NULL, n = 0;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1;
    ok = ok && (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1);
    ok = ok && (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + len, &n) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int pkie_ca_store_unlock(struct pkie_ca_store *s, const char *pass)
{
    uint8_t salt[16], wrapped[GCM_NONCE + DEK_LEN + GCM_TAG], kek[32];
    size_t slen = 0, wlen = 0;
    int rc;
    if (pass == NULL || pass[0] == '\0')
        return PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "a CA passphrase is required");
    pthread_mutex_lock(&s->mu);
    int rs = s->ops->meta_get(s, "dek_salt", salt, sizeof(salt), &slen);
    int rw = rs == 0 ? s->ops->meta_get(s, "dek", wrapped, sizeof(wrapped), &wlen) : rs;
    int have = rs == 0 && rw == 0;
    if (!have && rw != PKIE_ERR_NOT_FOUND) {
        rc = rw;
        goto out;
    }
    pkie_err_clear();
    if (!have) {
        if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(s->dek, DEK_LEN) != 1 ||
            RAND_bytes(wrapped, GCM_NONCE) != 1) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "random");
            goto out;
        }
        slen = sizeof(salt);
    } else if (slen != sizeof(salt) || wlen != sizeof(wrapped)) {
        rc = PKIE_ERR(PKIE_ERR_CA_SCHEMA, "data key record malformed");
        goto out;
    }
    if (PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, (int)slen, DEK_ITER, EVP_sha256(),
                          sizeof(kek), kek) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PBKDF2");
        goto out;
    }
    if (!have) {
        if (gcm(1, kek, wrapped, NULL, 0, s->dek, DEK_LEN, wrapped + GCM_NONCE,
                wrapped + GCM_NONCE + DEK_LEN) != 0) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "wrap data key");
            goto out;
        }
        if ((rc = s->ops->dek_put(s, salt, sizeof(salt), wrapped, sizeof(wrapped))) != 0)
            goto out;
    } else if (gcm(0, kek, wrapped, NULL, 0, wrapped + GCM_NONCE, DEK_LEN, s->dek,
                   wrapped + GCM_NONCE + DEK_LEN) != 0) {
        pkie_wipe(s->dek, sizeof(s->dek));
        rc = PKIE_ERR(PKIE_ERR_CA_PASSWORD, "wrong CA passphrase");
        goto out;
    }
    s->unlocked = 1;
    rc = 0;
out:
    pkie_wipe(kek, sizeof(kek));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- CA credentials ------------------------------------------------------ */

int pkie_ca_store_put_ca(struct pkie_ca_store *s, const char *name, const uint8_t *cert,
                         size_t cert_len, const char *key_pem)
{
    return s->ops->put_ca(s, name, cert, cert_len, key_pem);
}

int pkie_ca_store_get_ca(struct pkie_ca_store *s, const char *name, const char *pass, X509 **cert,
                         EVP_PKEY **key)
{
    uint8_t *der = NULL;
    size_t der_len = 0;
    char *pem = NULL;
    *cert = NULL;
    if (key != NULL)
        *key = NULL;
    int rc = s->ops->get_ca(s, name, &der, &der_len, &pem);
    if (rc != 0)
        return rc;
    const unsigned char *p = der;
    *cert = d2i_X509(NULL, &p, (long)der_len);
    if (*cert == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CA_DB, "CA certificate '%s' unreadable", name);
    } else if (key != NULL) {
        if (pem == NULL)
            rc = PKIE_ERR(PKIE_ERR_CA_NOT_INIT, "no key for CA credential '%s'", name);
        else if ((*key = pkie_ca_key_decrypt(pem, pass)) == NULL)
            rc = pkie_err_last()->code;
    }
    free(der);
    pkie_wipe_free_str(pem);
    if (rc != 0) {
        X509_free(*cert);
        *cert = NULL;
    }
    return rc;
}

/* ---- clients ------------------------------------------------------------- */

int pkie_ca_store_client_add(struct pkie_ca_store *s, const struct pkie_ca_client *c)
{
    uint8_t blob[GCM_NONCE + PKIE_CA_SECRET_MAX + GCM_TAG];
    int rc;
    if (c->secret_len == 0 || c->secret_len > PKIE_CA_SECRET_MAX || c->ref[0] == '\0')
        return PKIE_ERR(PKIE_ERR_ARG, "client reference and secret (1..%d bytes) required",
                        PKIE_CA_SECRET_MAX);
    if (!s->unlocked)
        return PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "store is locked");
    if (RAND_bytes(blob, GCM_NONCE) != 1 ||
        gcm(1, s->dek, blob, (const uint8_t *)c->ref, strlen(c->ref), c->secret, c->secret_len,
            blob + GCM_NONCE, blob + GCM_NONCE + c->secret_len) != 0)
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encrypt client secret");
    else
        rc = s->ops->client_insert(s, c, blob, GCM_NONCE + c->secret_len + GCM_TAG, pkie_ca_now());
    pkie_wipe(blob, sizeof(blob));
    return rc;
}

static int client_get(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c,
                      struct pkie_ca_ahead *a)
{
    uint8_t blob[GCM_NONCE + PKIE_CA_SECRET_MAX + GCM_TAG + 1], tag[GCM_TAG];
    size_t n = 0;
    memset(c, 0, sizeof(*c));
    int rc = a != NULL && s->ops->client_get_ahead != NULL
                 ? s->ops->client_get_ahead(s, ref, c, blob, sizeof(blob), &n, a)
                 : s->ops->client_get(s, ref, c, blob, sizeof(blob), &n);
    if (rc != 0)
        goto out;
    if (!s->unlocked) {
        rc = PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "store is locked");
        goto out;
    }
    if (n < GCM_NONCE + GCM_TAG + 1 || n > GCM_NONCE + GCM_TAG + PKIE_CA_SECRET_MAX) {
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "client '%s': secret record malformed", c->ref);
        goto out;
    }
    c->secret_len = n - GCM_NONCE - GCM_TAG;
    memcpy(tag, blob + GCM_NONCE + c->secret_len, GCM_TAG);
    if (gcm(0, s->dek, blob, (const uint8_t *)c->ref, strlen(c->ref), blob + GCM_NONCE,
            c->secret_len, c->secret, tag) != 0)
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "client '%s': secret does not decrypt", c->ref);
out:
    pkie_wipe(blob, sizeof(blob));
    if (rc != 0)
        pkie_wipe(c, sizeof(*c));
    return rc;
}

int pkie_ca_store_client_get(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c)
{
    return client_get(s, ref, c, NULL);
}

int pkie_ca_store_client_get_ahead(struct pkie_ca_store *s, const char *ref,
                                   struct pkie_ca_client *c, struct pkie_ca_ahead *a)
{
    a->done = 0;
    if (a->nonce == NULL || a->nonce_len == 0 || a->nonce_len > PKIE_CA_NONCE_MAX ||
        a->txid_len > PKIE_CA_NONCE_MAX)
        a = NULL; /* the claim refuses such a nonce itself */
    return client_get(s, ref, c, a);
}

int pkie_ca_store_client_remove(struct pkie_ca_store *s, const char *ref)
{
    return s->ops->client_remove(s, ref);
}

int pkie_ca_store_client_list(struct pkie_ca_store *s,
                              int (*cb)(void *arg, const struct pkie_ca_client *c), void *arg)
{
    return s->ops->client_list(s, cb, arg);
}
