/* Unit tests of the credential loading of `pkie cmp`
 * (apps/pkie/cmp_client_load.c): every format OpenSSL's apps load (PEM,
 * DER, PKCS#12, encrypted PKCS#8, a certificate file with its chain), the
 * pass phrase sources, and the negative cases (wrong pass phrase, no key,
 * garbage, a key that does not match). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp_client.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/pkie-cmpc-load-XXXXXX";
static EVP_PKEY *root_key, *leaf_key, *other_key;
static X509 *root, *leaf;

static const char *path(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), cn[0]);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

static void write_bio(const char *name, int (*fn)(BIO *, void *), void *obj)
{
    BIO *b = BIO_new_file(path(name), "wb");
    assert_non_null(b);
    assert_true(fn(b, obj) > 0);
    BIO_free(b);
}

static int pem_cert(BIO *b, void *x)
{
    return PEM_write_bio_X509(b, x);
}

static int der_cert(BIO *b, void *x)
{
    return i2d_X509_bio(b, x);
}

static int pem_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static int der_key(BIO *b, void *k)
{
    return i2d_PrivateKey_bio(b, k);
}

static int pkcs8_enc(BIO *b, void *k)
{
    return PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), NULL, 0, NULL, "secret8");
}

static int pub_key(BIO *b, void *k)
{
    return PEM_write_bio_PUBKEY(b, k);
}

static int write_p12(BIO *b, void *unused)
{
    (void)unused;
    STACK_OF(X509) *ca = sk_X509_new_null();
    sk_X509_push(ca, root);
    PKCS12 *p = PKCS12_create("12345", "leaf", leaf_key, leaf, ca, 0, 0, 0, 0, 0);
    sk_X509_free(ca);
    int rc = p != NULL && i2d_PKCS12_bio(b, p);
    PKCS12_free(p);
    return rc;
}

static int write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    root_key = EVP_EC_gen("P-256");
    leaf_key = EVP_EC_gen("P-256");
    other_key = EVP_EC_gen("P-256");
    assert_true(root_key != NULL && leaf_key != NULL && other_key != NULL);
    root = make_cert("root", root_key, NULL, root_key);
    leaf = make_cert("leaf", leaf_key, root, root_key);
    write_bio("leaf.pem", pem_cert, leaf);
    write_bio("leaf.der", der_cert, leaf);
    write_bio("leaf.key", pem_key, leaf_key);
    write_bio("leaf.key.der", der_key, leaf_key);
    write_bio("leaf.p8", pkcs8_enc, leaf_key);
    write_bio("leaf.pub", pub_key, leaf_key);
    write_bio("leaf.p12", write_p12, NULL);
    /* a certificate file with its chain */
    BIO *b = BIO_new_file(path("chain.pem"), "wb");
    assert_true(PEM_write_bio_X509(b, leaf) && PEM_write_bio_X509(b, root));
    BIO_free(b);
    assert_int_equal(write_file("garbage.pem", "this is not PEM\n"), 0);
    assert_int_equal(write_file("pass.txt", "from-file\nsecond line\n"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"leaf.pem", "leaf.der", "leaf.key",  "leaf.key.der", "leaf.p8",
                           "leaf.pub", "leaf.p12", "chain.pem", "garbage.pem",  "pass.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(path(files[i]));
    rmdir(dir);
    X509_free(root);
    X509_free(leaf);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
    return 0;
}

static void assert_is_leaf_key(EVP_PKEY *k)
{
    assert_non_null(k);
    assert_int_equal(EVP_PKEY_eq(k, leaf_key), 1);
    EVP_PKEY_free(k);
}

static void test_key_formats(void **state)
{
    (void)state;
    assert_is_leaf_key(cmpc_load_key(path("leaf.key"), NULL, 0, "-key"));
    assert_is_leaf_key(cmpc_load_key(path("leaf.key.der"), NULL, 0, "-key"));
    assert_is_leaf_key(cmpc_load_key(path("leaf.p8"), "secret8", 0, "-key"));
    assert_is_leaf_key(cmpc_load_key(path("leaf.p12"), "12345", 0, "-key"));
    /* a public key only where allowed (-newkey) */
    assert_null(cmpc_load_key(path("leaf.pub"), NULL, 0, "-key"));
    EVP_PKEY *pub = cmpc_load_key(path("leaf.pub"), NULL, 1, "-newkey");
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(pub, leaf_key), 1);
    EVP_PKEY_free(pub);
}

static void test_key_negative(void **state)
{
    (void)state;
    assert_null(cmpc_load_key(path("leaf.p8"), "wrong", 0, "-key"));  /* wrong pass */
    assert_null(cmpc_load_key(path("leaf.p8"), NULL, 0, "-key"));     /* no pass */
    assert_null(cmpc_load_key(path("leaf.p12"), "wrong", 0, "-key")); /* wrong pass */
    assert_null(cmpc_load_key(path("leaf.pem"), NULL, 0, "-key"));    /* a certificate */
    assert_null(cmpc_load_key(path("garbage.pem"), NULL, 1, "-key")); /* garbage */
    assert_null(cmpc_load_key(path("nonexistent"), NULL, 0, "-key")); /* missing */
}

static void test_cert_formats(void **state)
{
    (void)state;
    const char *files[] = {"leaf.pem", "leaf.der"};
    for (size_t i = 0; i < 2; i++) {
        X509 *x = cmpc_load_cert(path(files[i]), NULL, "-cert");
        assert_non_null(x);
        assert_int_equal(X509_cmp(x, leaf), 0);
        X509_free(x);
    }
    /* PKCS#12: the certificate, its CA certificates as chain */
    X509 *c = NULL;
    STACK_OF(X509) *chain = NULL;
    assert_int_equal(cmpc_load_cert_chain(path("leaf.p12"), "12345", "-cert", &c, &chain), 0);
    assert_int_equal(X509_cmp(c, leaf), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), root), 0);
    X509_free(c);
    sk_X509_pop_free(chain, X509_free);
    assert_int_equal(cmpc_load_cert_chain(path("leaf.p12"), "bad", "-cert", &c, &chain), -1);
    assert_null(c);
}

static void test_cert_with_chain(void **state)
{
    (void)state;
    X509 *c = NULL;
    STACK_OF(X509) *chain = NULL;
    assert_int_equal(cmpc_load_cert_chain(path("chain.pem"), NULL, "-cert", &c, &chain), 0);
    assert_int_equal(X509_cmp(c, leaf), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), root), 0);
    /* the key of the certificate matches, another does not */
    assert_int_equal(X509_check_private_key(c, leaf_key), 1);
    assert_int_not_equal(X509_check_private_key(c, other_key), 1);
    X509_free(c);
    sk_X509_pop_free(chain, X509_free);
    /* lists: comma and blank separated, every certificate of every file */
    char list[600];
    snprintf(list, sizeof(list), "%s, %s %s", path("chain.pem"), path("leaf.der"),
             path("leaf.pem"));
    STACK_OF(X509) *all = cmpc_load_certs(list, NULL, "-untrusted");
    assert_non_null(all);
    assert_int_equal(sk_X509_num(all), 4);
    sk_X509_pop_free(all, X509_free);
    snprintf(list, sizeof(list), "%s,%s", path("leaf.pem"), path("garbage.pem"));
    assert_null(cmpc_load_certs(list, NULL, "-untrusted"));
    assert_null(cmpc_load_cert(path("leaf.key"), NULL, "-cert")); /* a key, no certificate */
}

static void test_pass_sources(void **state)
{
    (void)state;
    char *p = cmpc_get_pass("pass:12345", "t");
    assert_string_equal(p, "12345");
    free(p);
    p = cmpc_get_pass("pass:", "t");
    assert_string_equal(p, "");
    free(p);
    setenv("PKIE_TEST_PASS", "from-env", 1);
    p = cmpc_get_pass("env:PKIE_TEST_PASS", "t");
    assert_string_equal(p, "from-env");
    free(p);
    char src[300];
    snprintf(src, sizeof(src), "file:%s", path("pass.txt"));
    p = cmpc_get_pass(src, "t");
    assert_string_equal(p, "from-file"); /* the first line */
    free(p);
    FILE *f = fopen(path("pass.txt"), "r");
    assert_non_null(f);
    snprintf(src, sizeof(src), "fd:%d", fileno(f));
    p = cmpc_get_pass(src, "t");
    assert_string_equal(p, "from-file");
    free(p);
    fclose(f);
    /* OpenSSL 3's get_passwd: what is no source is the pass phrase itself,
     * also a source that fails */
    p = cmpc_get_pass("12345", "t");
    assert_string_equal(p, "12345");
    free(p);
    p = cmpc_get_pass("env:PKIE_TEST_NO_SUCH_VARIABLE", "t");
    assert_string_equal(p, "env:PKIE_TEST_NO_SUCH_VARIABLE");
    free(p);
    p = cmpc_get_pass("file:/nonexistent/pass", "t");
    assert_string_equal(p, "file:/nonexistent/pass");
    free(p);
}

static void test_names(void **state)
{
    (void)state;
    X509_NAME *n = cmpc_parse_name("/CN=Root CA/ABC=123/O=x", "-recipient");
    assert_non_null(n); /* the unknown attribute is skipped with a warning */
    assert_int_equal(X509_NAME_entry_count(n), 2);
    X509_NAME_free(n);
    n = cmpc_parse_name("/CN=a+O=b", "-subject");
    assert_non_null(n);
    assert_int_equal(X509_NAME_entry_count(n), 2);
    assert_int_equal(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 0)),
                     X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 1)));
    X509_NAME_free(n);
    assert_null(cmpc_parse_name("/CN", "-subject"));
    assert_null(cmpc_parse_name("", "-subject"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_formats),  cmocka_unit_test(test_key_negative),
        cmocka_unit_test(test_cert_formats), cmocka_unit_test(test_cert_with_chain),
        cmocka_unit_test(test_pass_sources), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
