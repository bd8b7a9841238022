/* The fast path of `pkie cmp`'s credential loading: the common unencrypted
 * formats read without OpenSSL's decoder framework (OSSL_STORE and
 * OSSL_DECODER cost a one-shot process about 6M instructions for one key,
 * more than the rest of an IR transaction's own work).
 *
 * Handled here: a plain file path whose content is, in the canonical form
 * OpenSSL writes,
 *   - PEM "PRIVATE KEY" (PKCS#8), "EC PRIVATE KEY" or "RSA PRIVATE KEY"
 *     (no headers, i.e. not encrypted) as the first block of the file, or a
 *     DER PKCS#8 PrivateKeyInfo making up the whole file, for EC keys on the
 *     named curves of the table below, two-prime RSA keys, and Ed25519,
 *     Ed448, X25519, X448; the key is built with EVP_PKEY_fromdata from the
 *     parameters our strict DER reader (src/der) takes out;
 *   - PEM "CERTIFICATE" blocks making up the whole file (blank lines between
 *     them), or one DER certificate making up the whole file (d2i_X509,
 *     which does not use decoders).
 * Anything else (PKCS#12, encrypted keys, other PEM types or key types,
 * explicit curve parameters, text around the blocks, base64 in another
 * line layout, trailing bytes, URIs, whatever does not pass a check) is
 * "not handled" and goes to OSSL_STORE as before: the fast path only ever
 * accepts a subset of what OpenSSL accepts, with the same result, and every
 * refusal, with its message, is still OpenSSL's. tests/unit/cmpclient
 * (test_cmpclient_fastload) and tests/fuzz/cmpcload compare both paths. */
#include "cmp_client_fastload.h"
#include "pkie/der.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAST_MAX_FILE (1u << 20) /* larger files go the slow way */

/* ---- PEM armour ----------------------------------------------------------- */

static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* End of line at p: the length of "\n" or "\r\n" there, else 0. */
static size_t eol(const uint8_t *p, const uint8_t *end)
{
    if (p < end && *p == '\n')
        return 1;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        return 2;
    return 0;
}

/* One PEM block at *pos in the layout OpenSSL writes: "-----BEGIN NAME-----",
 * base64 lines of 64 characters and a last one of 4 to 64 (a multiple of 4,
 * padding only at its end), "-----END NAME-----"; LF or CRLF line ends (the
 * last line's may be missing at the end of the file). The DER goes to a
 * malloc'ed *der (wiped and freed by the caller). 1, or 0 when the input is
 * not in that form. */
static int pem_block(const uint8_t *buf, size_t n, size_t *pos, char *name, size_t name_cap,
                     uint8_t **der, size_t *der_len)
{
    static const char begin[] = "-----BEGIN ", endl[] = "-----END ", dash[] = "-----";
    const uint8_t *p = buf + *pos, *end = buf + n;
    size_t nl = 0, e;
    if ((size_t)(end - p) < sizeof(begin) - 1 || memcmp(p, begin, sizeof(begin) - 1) != 0)
        return 0;
    p += sizeof(begin) - 1;
    while (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == ' ') &&
           nl + 1 < name_cap)
        name[nl++] = (char)*p++;
    name[nl] = '\0';
    if (nl == 0 || (size_t)(end - p) < sizeof(dash) - 1 || memcmp(p, dash, sizeof(dash) - 1) != 0)
        return 0;
    p += sizeof(dash) - 1;
    if ((e = eol(p, end)) == 0)
        return 0;
    p += e;
    /* the base64 lines: count and check them first */
    const uint8_t *data = p;
    size_t chars = 0, pad = 0;
    int last = 0;
    for (;;) {
        size_t len = 0;
        while (p + len < end && b64_value(p[len]) >= 0)
            len++;
        while (p + len < end && p[len] == '=' && pad < 2)
            len++, pad++;
        if (len == 0 || len > 64 || (e = eol(p + len, end)) == 0)
            return 0;
        if (last) /* a short line (or padding) was not the last */
            return 0;
        if (len < 64 || pad > 0)
            last = 1;
        chars += len;
        p += len + e;
        if ((size_t)(end - p) >= sizeof(endl) - 1 && memcmp(p, endl, sizeof(endl) - 1) == 0)
            break;
    }
    if (chars % 4 != 0)
        return 0;
    p += sizeof(endl) - 1;
    if ((size_t)(end - p) < nl + sizeof(dash) - 1 || memcmp(p, name, nl) != 0 ||
        memcmp(p + nl, dash, sizeof(dash) - 1) != 0)
        return 0;
    p += nl + sizeof(dash) - 1;
    e = eol(p, end);
    if (e == 0 && p != end)
        return 0;
    *pos = (size_t)(p + e - buf);
    /* decode */
    size_t cap = chars / 4 * 3, o = 0;
    uint8_t *out = malloc(cap > 0 ? cap : 1);
    if (out == NULL)
        return 0;
    uint32_t acc = 0;
    int nacc = 0;
    for (const uint8_t *q = data; o < cap && *q != '-'; q++) {
        int v = b64_value(*q);
        if (*q == '=')
            break;
        if (v < 0)
            continue; /* line ends */
        acc = (acc << 6) | (uint32_t)v;
        if (++nacc == 4) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
            nacc = 0;
        }
    }
    /* the padded quantum: its unused bits must be zero */
    if ((pad == 1 && (nacc != 3 || (acc & 0x3) != 0)) ||
        (pad == 2 && (nacc != 2 || (acc & 0xF) != 0)) || (pad == 0 && nacc != 0)) {
        pkie_wipe_free(out, cap);
        return 0;
    }
    if (pad == 1) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    } else if (pad == 2) {
        out[o++] = (uint8_t)(acc >> 4);
    }
    *der = out;
    *der_len = o;
    return 1;
}

/* ---- keys ----------------------------------------------------------------- */

static const uint8_t OID_EC[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01};
static const uint8_t OID_RSA[] = {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01};

/* Named curves OpenSSL decodes into an "EC" key (SM2 is another key type). */
static const struct curve {
    const char *name;
    uint8_t oid[10];
    uint8_t oid_len;
    uint8_t flen; /* field size in bytes = private key length */
} curves[] = {
    {"prime256v1", {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}, 8, 32},
    {"secp384r1", {0x2B, 0x81, 0x04, 0x00, 0x22}, 5, 48},
    {"secp521r1", {0x2B, 0x81, 0x04, 0x00, 0x23}, 5, 66},
    {"secp224r1", {0x2B, 0x81, 0x04, 0x00, 0x21}, 5, 28},
    {"secp256k1", {0x2B, 0x81, 0x04, 0x00, 0x0A}, 5, 32},
    {"brainpoolP256r1", {0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}, 9, 32},
    {"brainpoolP384r1", {0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B}, 9, 48},
    {"brainpoolP512r1", {0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D}, 9, 64},
};

/* RFC 8410 keys: the PKCS#8 privateKey is an OCTET STRING of the raw key */
static const struct raw {
    const char *name;
    uint8_t oid;    /* 1.3.101.<oid> */
    uint8_t keylen; /* raw private key */
} raws[] = {
    {"X25519", 110, 32},
    {"X448", 111, 56},
    {"ED25519", 112, 32},
    {"ED448", 113, 57},
};

static EVP_PKEY *from_params(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_KEYPAIR, params) != 1) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return k;
}

/* ECPrivateKey (RFC 5915) on @p cv (NULL: the curve comes from its
 * parameters field, which must then be there). */
static EVP_PKEY *ec_key(const uint8_t *p, size_t n, const struct curve *cv)
{
    struct pkie_der d, s, x;
    int64_t ver;
    const uint8_t *priv, *oid, *pub;
    size_t priv_len, oid_len, pub_len;
    unsigned unused;
    int present;
    pkie_der_init(&d, p, n);
    if (pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) != 0 || pkie_der_finish(&d) != 0 ||
        pkie_der_read_int64(&s, PKIE_DER_INTEGER, &ver) != 0 || ver != 1 ||
        pkie_der_read_octets(&s, PKIE_DER_OCTET_STRING, &priv, &priv_len) != 0 ||
        pkie_der_enter_optional(&s, PKIE_DER_CTX_C(0), &x, &present) != 0)
        return NULL;
    if (present) {
        if (pkie_der_read_oid(&x, PKIE_DER_OID, &oid, &oid_len) != 0 || pkie_der_finish(&x) != 0)
            return NULL;
        const struct curve *inner = NULL;
        for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
            if (pkie_der_oid_equal(oid, oid_len, curves[i].oid, curves[i].oid_len))
                inner = &curves[i];
        if (inner == NULL || (cv != NULL && inner != cv))
            return NULL;
        cv = inner;
    }
    if (cv == NULL || priv_len != cv->flen || pkie_der_enter(&s, PKIE_DER_CTX_C(1), &x) != 0 ||
        pkie_der_read_bit_string(&x, PKIE_DER_BIT_STRING, &pub, &pub_len, &unused) != 0 ||
        pkie_der_finish(&x) != 0 || pkie_der_finish(&s) != 0 || unused != 0)
        return NULL;
    /* the point as OpenSSL encodes it, compressed or not (the key keeps that
     * form, as a decoded key does, for its SubjectPublicKeyInfo) */
    const char *form;
    if (pub_len == 1u + 2u * cv->flen && pub[0] == 0x04)
        form = OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED;
    else if (pub_len == 1u + cv->flen && (pub[0] == 0x02 || pub[0] == 0x03))
        form = OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED;
    else
        return NULL;
    EVP_PKEY *k = NULL;
    BIGNUM *bn = BN_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (bn != NULL && bld != NULL && BN_bin2bn(priv, (int)priv_len, bn) != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, cv->name, 0) &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form, 0) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
        k = from_params("EC", params);
    OSSL_PARAM_free(params); /* from secure memory when a BN was: cleared */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bn);
    return k;
}

/* RSAPrivateKey (RFC 8017 A.1.2), two primes */
static EVP_PKEY *rsa_key(const uint8_t *p, size_t n)
{
    static const char *const names[8] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    struct pkie_der d, s;
    int64_t ver;
    const uint8_t *v[8];
    size_t vl[8];
    pkie_der_init(&d, p, n);
    if (pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) != 0 || pkie_der_finish(&d) != 0 ||
        pkie_der_read_int64(&s, PKIE_DER_INTEGER, &ver) != 0 || ver != 0)
        return NULL;
    for (int i = 0; i < 8; i++)
        if (pkie_der_read_uint_bytes(&s, PKIE_DER_INTEGER, &v[i], &vl[i]) != 0 ||
            (vl[i] == 1 && v[i][0] == 0) || vl[i] > 2048)
            return NULL; /* zero, or beyond OpenSSL's 16384-bit limit */
    if (pkie_der_finish(&s) != 0)
        return NULL;
    EVP_PKEY *k = NULL;
    BIGNUM *bn[8] = {NULL};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    int ok = bld != NULL;
    for (int i = 0; ok && i < 8; i++)
        ok = (bn[i] = i < 2 ? BN_new() : BN_secure_new()) != NULL &&
             BN_bin2bn(v[i], (int)vl[i], bn[i]) != NULL &&
             OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]);
    if (ok && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
        k = from_params("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    return k;
}

/* PrivateKeyInfo (RFC 5208), version 0, no attributes */
static EVP_PKEY *pkcs8_key(const uint8_t *p, size_t n)
{
    struct pkie_der d, s, alg;
    int64_t ver;
    const uint8_t *oid, *key;
    size_t oid_len, key_len;
    pkie_der_init(&d, p, n);
    if (pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) != 0 || pkie_der_finish(&d) != 0 ||
        pkie_der_read_int64(&s, PKIE_DER_INTEGER, &ver) != 0 || ver != 0 ||
        pkie_der_enter(&s, PKIE_DER_SEQUENCE, &alg) != 0 ||
        pkie_der_read_oid(&alg, PKIE_DER_OID, &oid, &oid_len) != 0 ||
        pkie_der_read_octets(&s, PKIE_DER_OCTET_STRING, &key, &key_len) != 0 ||
        pkie_der_finish(&s) != 0)
        return NULL;
    if (pkie_der_oid_equal(oid, oid_len, OID_EC, sizeof(OID_EC))) {
        const uint8_t *curve;
        size_t curve_len;
        if (pkie_der_read_oid(&alg, PKIE_DER_OID, &curve, &curve_len) != 0 ||
            pkie_der_finish(&alg) != 0)
            return NULL;
        for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
            if (pkie_der_oid_equal(curve, curve_len, curves[i].oid, curves[i].oid_len))
                return ec_key(key, key_len, &curves[i]);
        return NULL;
    }
    if (pkie_der_oid_equal(oid, oid_len, OID_RSA, sizeof(OID_RSA)))
        return pkie_der_read_null(&alg, PKIE_DER_NULL) == 0 && pkie_der_finish(&alg) == 0
                   ? rsa_key(key, key_len)
                   : NULL;
    for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        const uint8_t want[3] = {0x2B, 0x65, raws[i].oid};
        const uint8_t *raw;
        size_t raw_len;
        if (!pkie_der_oid_equal(oid, oid_len, want, sizeof(want)))
            continue;
        if (pkie_der_finish(&alg) != 0) /* parameters must be absent */
            return NULL;
        pkie_der_init(&d, key, key_len);
        if (pkie_der_read_octets(&d, PKIE_DER_OCTET_STRING, &raw, &raw_len) != 0 ||
            pkie_der_finish(&d) != 0 || raw_len != raws[i].keylen)
            return NULL;
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)(uintptr_t)raw,
                                              raw_len),
            OSSL_PARAM_construct_end(),
        };
        return from_params(raws[i].name, params);
    }
    return NULL;
}

EVP_PKEY *cmpc_fast_key_mem(const uint8_t *buf, size_t n)
{
    EVP_PKEY *k = NULL;
    ERR_set_mark();
    if (n >= 11 && memcmp(buf, "-----BEGIN ", 11) == 0) {
        char name[48];
        uint8_t *der = NULL;
        size_t pos = 0, len = 0;
        if (pem_block(buf, n, &pos, name, sizeof(name), &der, &len)) {
            if (strcmp(name, "PRIVATE KEY") == 0)
                k = pkcs8_key(der, len);
            else if (strcmp(name, "EC PRIVATE KEY") == 0)
                k = ec_key(der, len, NULL);
            else if (strcmp(name, "RSA PRIVATE KEY") == 0)
                k = rsa_key(der, len);
            pkie_wipe_free(der, len);
        }
    } else if (n > 0 && buf[0] == 0x30) {
        k = pkcs8_key(buf, n);
    }
    ERR_pop_to_mark(); /* not handled: nothing to report, OSSL_STORE will */
    pkie_err_clear();
    return k;
}

/* ---- certificates --------------------------------------------------------- */

static X509 *one_cert(const uint8_t *p, size_t n)
{
    const unsigned char *q = p;
    if (n > LONG_MAX)
        return NULL;
    X509 *x = d2i_X509(NULL, &q, (long)n);
    if (x != NULL && q != p + n) { /* trailing bytes: OSSL_STORE's d2i_X509_AUX reads them */
        X509_free(x);
        x = NULL;
    }
    return x;
}

int cmpc_fast_certs_mem(const uint8_t *buf, size_t n, STACK_OF(X509) *sk)
{
    STACK_OF(X509) *got = sk_X509_new_null();
    int ok = got != NULL && n > 0;
    ERR_set_mark();
    if (ok && buf[0] == 0x30) {
        X509 *x = one_cert(buf, n);
        ok = x != NULL && sk_X509_push(got, x);
        if (!ok)
            X509_free(x);
    } else {
        size_t pos = 0;
        while (ok && pos < n) {
            char name[48];
            uint8_t *der = NULL;
            size_t len = 0, e;
            if ((e = eol(buf + pos, buf + n)) != 0 && pos > 0) { /* blank lines between */
                pos += e;
                continue;
            }
            ok = pem_block(buf, n, &pos, name, sizeof(name), &der, &len) &&
                 strcmp(name, "CERTIFICATE") == 0;
            X509 *x = ok ? one_cert(der, len) : NULL;
            ok = x != NULL && sk_X509_push(got, x);
            if (!ok)
                X509_free(x);
            free(der);
        }
    }
    int added = 0;
    for (int i = 0; ok && i < sk_X509_num(got); i++)
        if ((ok = X509_add_cert(sk, sk_X509_value(got, i), X509_ADD_FLAG_UP_REF)) != 0)
            added++;
    while (!ok && added-- > 0) /* undo a partial append */
        X509_free(sk_X509_pop(sk));
    sk_X509_pop_free(got, X509_free);
    ERR_pop_to_mark();
    return ok;
}

/* ---- files ---------------------------------------------------------------- */

/* The content of a regular file named by a plain path (a URI, or anything
 * OSSL_STORE could read as one, goes the slow way), or NULL. */
static uint8_t *read_plain(const char *path, size_t *n)
{
    if (path[0] == '\0' || strchr(path, ':') != NULL)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        st.st_size <= (off_t)FAST_MAX_FILE && (buf = malloc((size_t)st.st_size)) != NULL) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        *n = got;
        if (got != (size_t)st.st_size) {
            pkie_wipe_free(buf, (size_t)st.st_size);
            buf = NULL;
        }
    }
    close(fd);
    return buf;
}

static int fast_disabled(void)
{
    const char *e = getenv("PKIE_CMP_NO_FASTLOAD");
    return e != NULL && e[0] != '\0' && strcmp(e, "0") != 0;
}

EVP_PKEY *cmpc_fast_key(const char *path)
{
    size_t n = 0;
    uint8_t *buf = fast_disabled() ? NULL : read_plain(path, &n);
    if (buf == NULL)
        return NULL;
    EVP_PKEY *k = cmpc_fast_key_mem(buf, n);
    pkie_wipe_free(buf, n);
    return k;
}

int cmpc_fast_certs(const char *path, STACK_OF(X509) *sk)
{
    size_t n = 0;
    uint8_t *buf = fast_disabled() ? NULL : read_plain(path, &n);
    if (buf == NULL)
        return 0;
    int ok = cmpc_fast_certs_mem(buf, n, sk);
    free(buf);
    return ok;
}
