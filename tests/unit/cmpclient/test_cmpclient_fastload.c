/* Unit tests of the fast path of `pkie cmp`'s credential loading
 * (apps/pkie/cmp_client_fastload.c) against OSSL_STORE, the path it stands
 * in for: every key type and encoding it handles must give the key
 * OSSL_STORE gives (same private and public parts, same public key
 * encoding); everything else must be "not handled" (NULL / 0), including
 * input OpenSSL refuses, so that OSSL_STORE's verdict and message stay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp_client_fastload.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/pkie-cmpc-fast-XXXXXX";

/* ---- helpers -------------------------------------------------------------- */

struct blob {
    unsigned char *p;
    size_t n;
};

static struct blob bio_blob(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    assert_true(n >= 0);
    struct blob r = {malloc((size_t)n + 1), (size_t)n};
    assert_non_null(r.p);
    memcpy(r.p, p, (size_t)n);
    BIO_free(b);
    return r;
}

static struct blob enc_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
    return bio_blob(b);
}

static struct blob enc_trad(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL));
    return bio_blob(b);
}

static struct blob enc_der(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_true(i2d_PKCS8PrivateKey_bio(b, k, NULL, NULL, 0, NULL, NULL));
    return bio_blob(b);
}

static struct blob text(const char *s)
{
    struct blob r = {(unsigned char *)strdup(s), strlen(s)};
    assert_non_null(r.p);
    return r;
}

/* What OSSL_STORE loads from these bytes (the first private key), as
 * cmp_client_load.c asks it. */
static EVP_PKEY *store_key(const struct blob *b)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/k", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->p, 1, b->n, f), b->n);
    fclose(f);
    EVP_PKEY *k = NULL;
    OSSL_STORE_CTX *sc = OSSL_STORE_open(path, NULL, NULL, NULL, NULL);
    if (sc != NULL && OSSL_STORE_expect(sc, OSSL_STORE_INFO_PKEY))
        while (k == NULL && !OSSL_STORE_eof(sc)) {
            OSSL_STORE_INFO *i = OSSL_STORE_load(sc);
            if (i != NULL && OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
                k = OSSL_STORE_INFO_get1_PKEY(i);
            OSSL_STORE_INFO_free(i);
        }
    OSSL_STORE_close(sc);
    ERR_clear_error();
    return k;
}

static void same_bytes(const unsigned char *a, int an, const unsigned char *b, int bn)
{
    assert_true(an > 0);
    assert_int_equal(an, bn);
    assert_memory_equal(a, b, (size_t)an);
}

/* The same key: type, private part (PKCS#8 encoding), public key encoding. */
static void same_key(EVP_PKEY *a, EVP_PKEY *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(EVP_PKEY_eq(a, b), 1);
    assert_string_equal(EVP_PKEY_get0_type_name(a), EVP_PKEY_get0_type_name(b));
    unsigned char *pa = NULL, *pb = NULL;
    int na = i2d_PUBKEY(a, &pa), nb = i2d_PUBKEY(b, &pb);
    same_bytes(pa, na, pb, nb);
    OPENSSL_free(pa);
    OPENSSL_free(pb);
    pa = pb = NULL;
    na = i2d_PrivateKey(a, &pa);
    nb = i2d_PrivateKey(b, &pb);
    same_bytes(pa, na, pb, nb);
    OPENSSL_free(pa);
    OPENSSL_free(pb);
}

/* handled: the fast path gives OSSL_STORE's key */
static void check_handled(struct blob b)
{
    EVP_PKEY *fast = cmpc_fast_key_mem(b.p, b.n);
    EVP_PKEY *slow = store_key(&b);
    same_key(fast, slow);
    assert_int_equal(ERR_peek_error(), 0);
    EVP_PKEY_free(fast);
    EVP_PKEY_free(slow);
    free(b.p);
}

/* not handled; @p store_loads says whether OSSL_STORE takes it */
static void check_not_handled(struct blob b, int store_loads)
{
    EVP_PKEY *fast = cmpc_fast_key_mem(b.p, b.n);
    assert_null(fast);
    assert_int_equal(ERR_peek_error(), 0);
    EVP_PKEY *slow = store_key(&b);
    if (store_loads)
        assert_non_null(slow);
    else
        assert_null(slow);
    EVP_PKEY_free(slow);
    free(b.p);
}

static EVP_PKEY *gen(const char *type, const char *curve)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_keygen_init(c), 1);
    if (curve != NULL)
        assert_true(EVP_PKEY_CTX_set_group_name(c, curve) > 0);
    if (strcmp(type, "RSA") == 0)
        assert_true(EVP_PKEY_CTX_set_rsa_keygen_bits(c, 1024) > 0);
    assert_int_equal(EVP_PKEY_keygen(c, &k), 1);
    EVP_PKEY_CTX_free(c);
    return k;
}

/* ---- keys that are handled ------------------------------------------------ */

static void test_ec_curves(void **state)
{
    (void)state;
    static const char *curves[] = {"P-256",     "P-384",           "P-521",
                                   "secp256k1", "brainpoolP256r1", "brainpoolP512r1"};
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        EVP_PKEY *k = gen("EC", curves[i]);
        check_handled(enc_pem(k));
        check_handled(enc_trad(k));
        check_handled(enc_der(k));
        EVP_PKEY_free(k);
    }
}

static void test_ec_compressed(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    assert_int_equal(
        EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED),
        1);
    struct blob b = enc_pem(k);
    EVP_PKEY *fast = cmpc_fast_key_mem(b.p, b.n);
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(fast, &spki);
    assert_int_equal(n, 59); /* 26 + 33: the compressed point */
    OPENSSL_free(spki);
    EVP_PKEY_free(fast);
    check_handled(b);
    check_handled(enc_trad(k));
    EVP_PKEY_free(k);
}

static void test_rsa(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("RSA", NULL);
    check_handled(enc_pem(k));
    check_handled(enc_trad(k));
    check_handled(enc_der(k));
    EVP_PKEY_free(k);
}

static void test_ecx(void **state)
{
    (void)state;
    static const char *types[] = {"ED25519", "ED448", "X25519", "X448"};
    for (size_t i = 0; i < 4; i++) {
        EVP_PKEY *k = gen(types[i], NULL);
        check_handled(enc_pem(k));
        check_handled(enc_der(k));
        EVP_PKEY_free(k);
    }
}

static void test_crlf(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    struct blob b = enc_pem(k), c = {malloc(b.n * 2), 0};
    for (size_t i = 0; i < b.n; i++) {
        if (b.p[i] == '\n')
            c.p[c.n++] = '\r';
        c.p[c.n++] = b.p[i];
    }
    free(b.p);
    check_handled(c);
    /* and without the last line end */
    b = enc_pem(k);
    b.n--;
    check_handled(b);
    EVP_PKEY_free(k);
}

/* ---- not handled: OSSL_STORE decides --------------------------------------- */

static void test_encrypted(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    BIO *b = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_PrivateKey(b, k, EVP_aes_128_cbc(), NULL, 0, NULL, (void *)"pw"));
    check_not_handled(bio_blob(b), 0); /* no pass phrase: the store fails */
    b = BIO_new(BIO_s_mem());
    assert_true(
        PEM_write_bio_PrivateKey_traditional(b, k, EVP_aes_128_cbc(), NULL, 0, NULL, (void *)"pw"));
    check_not_handled(bio_blob(b), 0);
    EVP_PKEY_free(k);
}

static void test_layouts(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    struct blob b = enc_pem(k), c;
    /* text before the block: OpenSSL skips it, the fast path leaves it */
    c.n = b.n + 6;
    c.p = malloc(c.n);
    memcpy(c.p, "hello\n", 6);
    memcpy(c.p + 6, b.p, b.n);
    check_not_handled(c, 1);
    /* the base64 in one long line (OpenSSL reads it) */
    c.p = malloc(b.n);
    c.n = 0;
    const char *body = strchr((char *)b.p, '\n') + 1;
    const char *end = strstr((char *)b.p, "-----END");
    memcpy(c.p, b.p, (size_t)(body - (char *)b.p));
    c.n = (size_t)(body - (char *)b.p);
    for (const char *q = body; q < end; q++)
        if (*q != '\n')
            c.p[c.n++] = (unsigned char)*q;
    c.p[c.n++] = '\n';
    memcpy(c.p + c.n, end, b.n - (size_t)(end - (char *)b.p));
    c.n += b.n - (size_t)(end - (char *)b.p);
    check_not_handled(c, 1);
    /* the END line of another name */
    c = text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
    check_not_handled(c, 0);
    /* a header line */
    c = text("-----BEGIN PRIVATE KEY-----\nX: y\n\nAAAA\n-----END PRIVATE KEY-----\n");
    check_not_handled(c, 0);
    /* truncated */
    c.p = malloc(b.n);
    memcpy(c.p, b.p, b.n / 2);
    c.n = b.n / 2;
    check_not_handled(c, 0);
    /* a DER key with a byte after it */
    struct blob d = enc_der(k);
    d.p = realloc(d.p, d.n + 1);
    d.p[d.n++] = 0;
    check_not_handled(d, 1);
    /* an "EC PARAMETERS" block before the key, as `openssl ecparam -genkey` writes */
    struct blob t = enc_trad(k);
    c = text("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n");
    c.p = realloc(c.p, c.n + t.n);
    memcpy(c.p + c.n, t.p, t.n);
    c.n += t.n;
    check_not_handled(c, 1);
    free(t.p);
    free(b.p);
    check_not_handled(text(""), 0);
    check_not_handled(text("garbage\n"), 0);
    EVP_PKEY_free(k);
}

static void test_other_kinds(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    /* a public key only */
    BIO *b = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_PUBKEY(b, k));
    check_not_handled(bio_blob(b), 0);
    /* explicit curve parameters */
    EVP_PKEY *e = EVP_PKEY_dup(k);
    assert_int_equal(EVP_PKEY_set_utf8_string_param(e, OSSL_PKEY_PARAM_EC_ENCODING,
                                                    OSSL_PKEY_EC_ENCODING_EXPLICIT),
                     1);
    check_not_handled(enc_pem(e), 1);
    EVP_PKEY_free(e);
    /* no public key in the ECPrivateKey */
    e = EVP_PKEY_dup(k);
    assert_int_equal(EVP_PKEY_set_int_param(e, OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, 0), 1);
    check_not_handled(enc_pem(e), 1);
    EVP_PKEY_free(e);
    EVP_PKEY_free(k);
    /* DSA, RSA-PSS, P-224 are not on the fast path */
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    k = NULL;
    assert_int_equal(EVP_PKEY_keygen_init(c), 1);
    assert_true(EVP_PKEY_CTX_set_rsa_keygen_bits(c, 1024) > 0);
    assert_int_equal(EVP_PKEY_keygen(c, &k), 1);
    EVP_PKEY_CTX_free(c);
    check_not_handled(enc_pem(k), 1);
    EVP_PKEY_free(k);
}

/* A well-formed key whose point is not on the curve: OpenSSL refuses it,
 * so must the fast path (then OSSL_STORE reports it). */
static void test_refused_alike(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    struct blob d = enc_der(k);
    d.p[d.n - 1] ^= 0x01; /* last byte of the point's y */
    check_not_handled(d, 0);
    /* RSA with a zero coefficient */
    EVP_PKEY_free(k);
    k = gen("ED25519", NULL);
    d = enc_der(k);
    d.p[d.n - 33] = 31; /* the inner OCTET STRING one byte short */
    check_not_handled(d, 0);
    EVP_PKEY_free(k);
}

/* ---- certificates ---------------------------------------------------------- */

static X509 *cert(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}

static void test_certs(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    X509 *a = cert(k, "a"), *b = cert(k, "b");
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, a);
    BIO_puts(bio, "\n");
    PEM_write_bio_X509(bio, b);
    struct blob two = bio_blob(bio);
    STACK_OF(X509) *sk = sk_X509_new_null();
    assert_int_equal(cmpc_fast_certs_mem(two.p, two.n, sk), 1);
    assert_int_equal(sk_X509_num(sk), 2);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), a), 0);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 1), b), 0);
    /* DER */
    unsigned char *der = NULL;
    int n = i2d_X509(a, &der);
    assert_int_equal(cmpc_fast_certs_mem(der, (size_t)n, sk), 1);
    assert_int_equal(sk_X509_num(sk), 3);
    /* not handled, nothing appended: trailing byte, a key block, text */
    unsigned char *der2 = OPENSSL_realloc(der, (size_t)n + 1);
    der2[n] = 0;
    assert_int_equal(cmpc_fast_certs_mem(der2, (size_t)n + 1, sk), 0);
    OPENSSL_free(der2);
    struct blob kp = enc_pem(k);
    struct blob mixed = {malloc(two.n + kp.n), two.n + kp.n};
    memcpy(mixed.p, two.p, two.n);
    memcpy(mixed.p + two.n, kp.p, kp.n);
    assert_int_equal(cmpc_fast_certs_mem(mixed.p, mixed.n, sk), 0);
    struct blob txt = {malloc(two.n + 8), two.n + 8};
    memcpy(txt.p, "subject\n", 8);
    memcpy(txt.p + 8, two.p, two.n);
    assert_int_equal(cmpc_fast_certs_mem(txt.p, txt.n, sk), 0);
    /* a certificate whose DER does not parse */
    two.p[70] ^= 0x20;
    assert_int_equal(cmpc_fast_certs_mem(two.p, two.n, sk), 0);
    assert_int_equal(sk_X509_num(sk), 3);
    assert_int_equal(ERR_peek_error(), 0);
    sk_X509_pop_free(sk, X509_free);
    free(two.p);
    free(kp.p);
    free(mixed.p);
    free(txt.p);
    X509_free(a);
    X509_free(b);
    EVP_PKEY_free(k);
}

/* ---- files ------------------------------------------------------------------ */

static void test_files(void **state)
{
    (void)state;
    EVP_PKEY *k = gen("EC", "P-256");
    struct blob b = enc_pem(k);
    char path[128];
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, b.n, f);
    fclose(f);
    EVP_PKEY *got = cmpc_fast_key(path);
    same_key(got, k);
    EVP_PKEY_free(got);
    /* URIs, directories, missing files and the switch: not handled */
    char uri[160];
    snprintf(uri, sizeof(uri), "file:%s", path);
    assert_null(cmpc_fast_key(uri));
    assert_null(cmpc_fast_key(dir));
    assert_null(cmpc_fast_key("/nonexistent/key.pem"));
    setenv("PKIE_CMP_NO_FASTLOAD", "1", 1);
    assert_null(cmpc_fast_key(path));
    unsetenv("PKIE_CMP_NO_FASTLOAD");
    unlink(path);
    free(b.p);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/k", dir);
    unlink(path);
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ec_curves),     cmocka_unit_test(test_ec_compressed),
        cmocka_unit_test(test_rsa),           cmocka_unit_test(test_ecx),
        cmocka_unit_test(test_crlf),          cmocka_unit_test(test_encrypted),
        cmocka_unit_test(test_layouts),       cmocka_unit_test(test_other_kinds),
        cmocka_unit_test(test_refused_alike), cmocka_unit_test(test_certs),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
