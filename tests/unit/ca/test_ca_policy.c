/* Unit tests: names, patterns, issuance policy and certificate construction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ca_test_util.h"
#include "../../../src/ca/ca_internal.h"

#include <openssl/x509v3.h>

static void test_name_text_roundtrip(void **state)
{
    (void)state;
    char buf[256];
    X509_NAME *n = pkie_ca_name_parse("/CN=host 1/O=Example, Inc./C=DE");
    assert_non_null(n);
    assert_int_equal(pkie_ca_name_text(n, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "CN=host 1,O=Example\\, Inc.,C=DE");
    X509_NAME *m = pkie_ca_name_parse("CN=host 1,O=Example\\, Inc.,C=DE");
    assert_non_null(m);
    assert_int_equal(X509_NAME_cmp(n, m), 0);
    assert_int_equal(pkie_ca_name_text(n, buf, 8), PKIE_ERR_LIMIT);
    X509_NAME_free(n);
    X509_NAME_free(m);
    assert_null(pkie_ca_name_parse(""));
    assert_null(pkie_ca_name_parse("/CN"));
    assert_null(pkie_ca_name_parse("/NOSUCHATTR=x"));
}

static int match(const char *pat, const char *name)
{
    X509_NAME *n = pkie_ca_name_parse(name);
    assert_non_null(n);
    int r = pkie_ca_pattern_match_name(pat, n);
    X509_NAME_free(n);
    return r;
}

static void test_subject_patterns(void **state)
{
    (void)state;
    assert_int_equal(pkie_ca_pattern_check("CN=*,O=pkie"), 0);
    assert_int_equal(pkie_ca_pattern_check("CN=*.example.com"), 0);
    assert_int_equal(pkie_ca_pattern_check(""), PKIE_ERR_CA_PATTERN);
    assert_int_equal(pkie_ca_pattern_check("*"), PKIE_ERR_CA_PATTERN);
    assert_int_equal(pkie_ca_pattern_check("FOO=bar"), PKIE_ERR_CA_PATTERN);
    assert_int_equal(pkie_ca_pattern_check("CN=*a*a*a*a*a*a*a*a*a"), PKIE_ERR_CA_PATTERN);

    assert_true(match("CN=*,O=pkie", "/CN=alice/O=pkie"));
    assert_false(match("CN=*,O=pkie", "/CN=alice/O=other"));
    /* '*' never crosses an RDN boundary: no extra attributes sneak in */
    assert_false(match("CN=*", "/CN=alice/O=pkie"));
    assert_false(match("CN=*,O=pkie", "/CN=a/OU=x/O=pkie"));
    assert_true(match("CN=dev-??", "/CN=dev-01"));
    assert_false(match("CN=dev-??", "/CN=dev-001"));
    assert_true(match("CN=a\\*b", "/CN=a*b"));
    assert_false(match("CN=a\\*b", "/CN=axb"));
    /* an escaped comma in a value does not let '*' cross the RDN */
    assert_false(match("CN=*", "/CN=a,O=evil"));
    /* pathological pattern on a long name stays fast (DP, not backtracking) */
    char longname[100] = "/CN=";
    memset(longname + 4, 'a', 63);
    longname[67] = 'b';
    longname[68] = '\0';
    assert_false(match("CN=*a*a*a*a*a*a*a*c", longname));
    X509_NAME *empty = X509_NAME_new();
    assert_int_equal(pkie_ca_pattern_match_name("CN=*", empty), 0);
    X509_NAME_free(empty);
}

static GENERAL_NAMES *sans(const char *conf)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, conf);
    assert_non_null(e);
    GENERAL_NAMES *g = X509V3_EXT_d2i(e);
    X509_EXTENSION_free(e);
    return g;
}

static void test_san_patterns(void **state)
{
    (void)state;
    const char *pat = "DNS:*.example.com,IP:127.0.0.1,email:*@example.com";
    GENERAL_NAMES *g = sans("DNS:a.example.com,IP:127.0.0.1");
    assert_true(pkie_ca_pattern_match_sans(pat, g));
    assert_false(pkie_ca_pattern_match_sans("", g));
    GENERAL_NAMES_free(g);
    g = sans("DNS:a.b.example.com");
    assert_false(pkie_ca_pattern_match_sans(pat, g)); /* '*' does not cross '.' in DNS */
    GENERAL_NAMES_free(g);
    g = sans("IP:10.0.0.1");
    assert_false(pkie_ca_pattern_match_sans(pat, g));
    GENERAL_NAMES_free(g);
    g = sans("email:bob@example.com");
    assert_true(pkie_ca_pattern_match_sans(pat, g));
    GENERAL_NAMES_free(g);
    g = sans("URI:https://example.com/");
    assert_false(pkie_ca_pattern_match_sans(pat, g)); /* no URI allowed */
    GENERAL_NAMES_free(g);
    g = sans("IP:::1");
    assert_true(pkie_ca_pattern_match_sans("IP:::1", g));
    GENERAL_NAMES_free(g);
}

struct fixture {
    X509 *ca;
    EVP_PKEY *cakey;
    EVP_PKEY *key;
    struct pkie_ca_client client;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->cakey = pkie_ca_key_generate("ec:P-256");
    f->key = pkie_ca_key_generate("ec:P-256");
    f->ca = X509_new();
    X509_NAME *n = pkie_ca_name_parse("/CN=Test CA");
    ASN1_INTEGER *sn = pkie_ca_serial_new();
    X509_set_version(f->ca, X509_VERSION_3);
    X509_set_serialNumber(f->ca, sn);
    X509_set_subject_name(f->ca, n);
    X509_set_issuer_name(f->ca, n);
    X509_set_pubkey(f->ca, f->cakey);
    X509_gmtime_adj(X509_getm_notBefore(f->ca), 0);
    X509_gmtime_adj(X509_getm_notAfter(f->ca), 86400L * 30);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, f->ca, f->ca, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(f->ca, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(f->ca, f->cakey, EVP_sha256());
    X509_NAME_free(n);
    ASN1_INTEGER_free(sn);
    ca_test_client(&f->client, "c1", "CN=*,O=pkie", "DNS:*.pkie.test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    X509_free(f->ca);
    EVP_PKEY_free(f->cakey);
    EVP_PKEY_free(f->key);
    free(f);
    return 0;
}

static STACK_OF(X509_EXTENSION) *exts(const char *ku, const char *eku, const char *san,
                                      const char *bc)
{
    STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
    struct {
        int nid;
        const char *v;
    } list[] = {{NID_key_usage, ku},
                {NID_ext_key_usage, eku},
                {NID_subject_alt_name, san},
                {NID_basic_constraints, bc},
                {NID_netscape_comment, "dropped"}};
    for (size_t i = 0; i < 5; i++) {
        if (list[i].v == NULL)
            continue;
        X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, list[i].nid, list[i].v);
        assert_non_null(e);
        sk_X509_EXTENSION_push(sk, e);
    }
    return sk;
}

static void test_policy(void **state)
{
    struct fixture *f = *state;
    const struct pkie_ca_profile *prof = pkie_ca_profile_find("default");
    assert_non_null(prof);
    assert_null(pkie_ca_profile_find("nope"));
    X509_NAME *good = pkie_ca_name_parse("/CN=a/O=pkie");
    X509_NAME *bad = pkie_ca_name_parse("/CN=a/O=evil");
    struct pkie_ca_request req = {.subject = good, .pubkey = f->key};
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), 0);
    req.subject = bad;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_SUBJECT);
    req.subject = good;
    req.pubkey = NULL;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_KEY);
    /* weak RSA refused */
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    req.pubkey = rsa1024;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_KEY);
    EVP_PKEY_free(rsa1024);
    /* a curve outside the list is refused */
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    req.pubkey = k1;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_KEY);
    EVP_PKEY_free(k1);
    req.pubkey = f->key;

    STACK_OF(X509_EXTENSION) *e;
    e = exts("digitalSignature", "clientAuth", "DNS:x.pkie.test", "CA:FALSE");
    req.exts = e;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), 0);
    sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free);
    e = exts(NULL, NULL, "DNS:x.evil.test", NULL);
    req.exts = e;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_SAN);
    sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free);
    e = exts(NULL, NULL, NULL, "CA:TRUE");
    req.exts = e;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_EXT);
    sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free);
    e = exts("keyCertSign", NULL, NULL, NULL);
    req.exts = e;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_EXT);
    sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free);
    e = exts(NULL, "codeSigning", NULL, NULL);
    req.exts = e;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_EXT);
    sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free);
    req.exts = NULL;
    req.not_before = 2000;
    req.not_after = 1000;
    assert_int_equal(pkie_ca_policy_check(&f->client, prof, &req), PKIE_ERR_CA_POLICY_VALIDITY);
    X509_NAME_free(good);
    X509_NAME_free(bad);
}

static void test_issue_cert(void **state)
{
    struct fixture *f = *state;
    const struct pkie_ca_profile *prof = pkie_ca_profile_find("default");
    X509_NAME *n = pkie_ca_name_parse("/CN=leaf/O=pkie");
    STACK_OF(X509_EXTENSION) *e =
        exts("digitalSignature,keyAgreement", "clientAuth", "DNS:x.pkie.test", NULL);
    struct pkie_ca_request req = {.subject = n, .pubkey = f->key, .exts = e};
    struct pkie_ca_issuer iss = {f->ca, f->cakey, "http://127.0.0.1:1/crl"};
    X509 *x = pkie_ca_issue_cert(&iss, prof, &req);
    assert_non_null(x);
    assert_int_equal(X509_verify(x, f->cakey), 1);
    assert_int_equal(X509_check_issued(f->ca, x), X509_V_OK);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), n), 0);
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_key_usage(x) & KU_KEY_AGREEMENT);
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
    assert_true(X509_get_ext_by_NID(x, NID_subject_alt_name, -1) >= 0);
    assert_true(X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) >= 0);
    assert_true(X509_get_ext_by_NID(x, NID_authority_key_identifier, -1) >= 0);
    assert_true(X509_get_ext_by_NID(x, NID_netscape_comment, -1) < 0); /* filtered */
    /* validity clipped to the issuer's */
    assert_true(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(f->ca)) <= 0);
    /* two issuances differ in serial */
    X509 *y = pkie_ca_issue_cert(&iss, prof, &req);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)), 0);
    /* requested shorter validity is honoured */
    req.not_after = pkie_ca_now() + 3600;
    X509 *z = pkie_ca_issue_cert(&iss, prof, &req);
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(z), X509_get0_notAfter(z));
    assert_int_equal(days, 0);
    assert_true(secs <= 3600);
    X509_free(x);
    X509_free(y);
    X509_free(z);
    sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free);
    X509_NAME_free(n);
}

static void test_serials_random(void **state)
{
    (void)state;
    /* 1000 serials: all distinct, all positive, never zero */
    ASN1_INTEGER *s[1000];
    for (int i = 0; i < 1000; i++) {
        s[i] = pkie_ca_serial_new();
        assert_non_null(s[i]);
        assert_int_equal(ASN1_STRING_type(s[i]), V_ASN1_INTEGER);
        char hex[48];
        assert_int_equal(pkie_ca_serial_hex(s[i], hex, sizeof(hex)), 0);
        assert_true(strlen(hex) <= 32);
    }
    for (int i = 0; i < 1000; i++)
        for (int j = i + 1; j < 1000; j++)
            assert_int_not_equal(ASN1_INTEGER_cmp(s[i], s[j]), 0);
    for (int i = 0; i < 1000; i++)
        ASN1_INTEGER_free(s[i]);
}

/* SPKI contents (without the outer SEQUENCE header) of @p k, in @p buf. */
static size_t spki_contents(EVP_PKEY *k, unsigned char *buf, size_t cap, size_t *hl)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 2 && (size_t)n <= cap);
    memcpy(buf, der, (size_t)n);
    OPENSSL_free(der);
    *hl = (buf[1] & 0x80) ? 2 + (size_t)(buf[1] & 0x7f) : 2;
    return (size_t)n;
}

/* The key set by pkie_ca_x509_set_spki is not cached in the X509: sign the
 * certificate with a throwaway key and parse its encoding back. */
static X509 *reparse(X509 *x)
{
    EVP_PKEY *k = pkie_ca_key_generate("ec:P-256");
    X509_NAME *n = pkie_ca_name_parse("/CN=t");
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    ASN1_TIME_set(X509_getm_notBefore(x), 0);
    ASN1_TIME_set(X509_getm_notAfter(x), 86400);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    const unsigned char *p = der;
    X509 *y = d2i_X509(NULL, &p, len);
    assert_non_null(y);
    OPENSSL_free(der);
    X509_NAME_free(n);
    EVP_PKEY_free(k);
    return y;
}

static void test_spki_fast_path(void **state)
{
    (void)state;
    const char *types[] = {"ec:P-256", "ec:P-384", "ed25519"};
    unsigned char buf[1024];
    size_t hl;
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *k = pkie_ca_key_generate(types[i]);
        size_t n = spki_contents(k, buf, sizeof(buf), &hl);
        EVP_PKEY *back = pkie_ca_spki_to_pkey(buf + hl, n - hl);
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        /* copied into a certificate as is */
        X509 *x = X509_new();
        assert_int_equal(pkie_ca_x509_set_spki(x, buf + hl, n - hl), 0);
        X509 *y = reparse(x);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(y), k), 1);
        X509_free(x);
        X509_free(y);
        EVP_PKEY_free(back);
        /* a point off the curve / a wrong length is not imported */
        buf[n - 1] ^= 0x01;
        back = pkie_ca_spki_to_pkey(buf + hl, n - hl);
        if (i < 2)
            assert_null(back);
        EVP_PKEY_free(back);
        assert_null(pkie_ca_spki_to_pkey(buf + hl, n - hl - 1));
        EVP_PKEY_free(k);
    }
    /* RSA is left to the generic decoder */
    EVP_PKEY *rsa = pkie_ca_key_generate("rsa:2048");
    size_t n = spki_contents(rsa, buf, sizeof(buf), &hl);
    assert_null(pkie_ca_spki_to_pkey(buf + hl, n - hl));
    X509 *x = X509_new();
    assert_int_equal(pkie_ca_x509_set_spki(x, buf + hl, n - hl), 0);
    X509 *y = reparse(x);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(y), rsa), 1);
    X509_free(x);
    X509_free(y);
    EVP_PKEY_free(rsa);
    assert_null(pkie_ca_spki_to_pkey((const uint8_t *)"\x30\x00", 2));
    x = X509_new();
    assert_int_equal(pkie_ca_x509_set_spki(x, (const uint8_t *)"\x05\x00", 2), PKIE_ERR_ARG);
    X509_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_text_roundtrip),
        cmocka_unit_test(test_subject_patterns),
        cmocka_unit_test(test_san_patterns),
        cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_cert, setup, teardown),
        cmocka_unit_test(test_serials_random),
        cmocka_unit_test(test_spki_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
