/* Unit tests: the runtime of the PKI base (include/pkie/pki.h): chain
 * verification with its TLS alert mapping, DN filters, depth, CRLs, signing
 * with RSA-PKCS1, RSA-PSS, ECDSA and Ed25519, and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pki_int.h"
#include "pki_testbase.h"
#include "pkie/error.h"
#include "pkie/pki.h"

#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <pthread.h>
#include <string.h>

static struct tc_world *w;
static struct pkie_pki *pki;       /* base with the CRL */
static struct pkie_pki *pki_nocrl; /* same certificates, no CRL */

static int group_setup(void **state)
{
    (void)state;
    w = tc_world_new();
    if (pkie_pki_open(tb_make_base(w, "v.db", 1), TB_PASSWORD, 0, &pki) != 0)
        return -1;
    if (pkie_pki_open(tb_make_base(w, "v2.db", 0), TB_PASSWORD, 0, &pki_nocrl) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pkie_pki_close(pki);
    pkie_pki_close(pki_nocrl);
    tc_world_free(w);
    return 0;
}

/* Verify @leaf (+ optional @inter) with anchors @ids and filters; returns rc, sets *alert. */
static int verify(struct pkie_pki *p, X509 *leaf, X509 *inter, const char *const *ids, size_t n,
                  int depth, const char *const *filters, size_t nf, int *alert)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, leaf);
    if (inter != NULL)
        sk_X509_push(chain, inter);
    struct pkie_pki_profile prof = {"alice", ids, n, depth, filters, nf, PKIE_PKI_PEER_ANY};
    *alert = -1;
    int rc = pkie_pki_verify_chain(p, &prof, chain, alert);
    sk_X509_free(chain);
    return rc;
}

static const char *const root_only[] = {"root"};

static void test_accept(void **state)
{
    (void)state;
    int alert;
    assert_int_equal(verify(pki, w->user, w->inter, root_only, 1, 4, NULL, 0, &alert), 0);
    assert_int_equal(alert, 0);
    /* the peer sent only its leaf: the base's intermediate completes the chain */
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, NULL, 0, &alert), 0);
    /* an intermediate as the only anchor */
    const char *const inter_only[] = {"inter"};
    assert_int_equal(verify(pki, w->user_ec, NULL, inter_only, 1, 4, NULL, 0, &alert), 0);
    /* ids the base does not know are skipped */
    const char *const mixed[] = {"gone", "alice", "root"};
    assert_int_equal(verify(pki, w->user, w->inter, mixed, 3, 4, NULL, 0, &alert), 0);
    /* the peer sends its root along: still anchored in the profile's root */
    STACK_OF(X509) *full = sk_X509_new_null();
    sk_X509_push(full, w->user);
    sk_X509_push(full, w->inter);
    sk_X509_push(full, w->root);
    struct pkie_pki_profile prof = {"alice", root_only, 1, 4, NULL, 0, PKIE_PKI_PEER_ANY};
    assert_int_equal(pkie_pki_verify_chain(pki, &prof, full, &alert), 0);
    /* a chain in the wrong order still finds its path */
    sk_X509_set(full, 1, w->root);
    sk_X509_set(full, 2, w->inter);
    assert_int_equal(pkie_pki_verify_chain(pki, &prof, full, &alert), 0);
    sk_X509_free(full);
    /* a negative depth means the default (4) */
    assert_int_equal(verify(pki, w->deep, NULL, root_only, 1, -1, NULL, 0, &alert), 0);
}

static void test_alert_unknown_ca(void **state)
{
    (void)state;
    int alert;
    /* another CA (in the base, but not an anchor of the profile) */
    assert_int_equal(verify(pki, w->stranger, NULL, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
    /* a peer that sends the other root along does not make it trusted */
    assert_int_equal(verify(pki, w->stranger, w->other_root, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
    /* no anchor at all */
    assert_int_equal(verify(pki, w->user, w->inter, NULL, 0, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
    /* a user certificate named as CA is not an anchor */
    const char *const user_as_ca[] = {"alice"};
    assert_int_equal(verify(pki, w->user, NULL, user_as_ca, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    /* anchor = inter2: alice (by inter) does not chain to it */
    const char *const inter2[] = {"inter2"};
    assert_int_equal(verify(pki, w->user, NULL, inter2, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
}

static void test_alert_expired_revoked_bad(void **state)
{
    (void)state;
    int alert;
    assert_int_equal(verify(pki, w->expired, w->inter, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_EXPIRED);
    assert_int_equal(alert, 45);
    assert_int_equal(verify(pki, w->revoked, w->inter, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_REVOKED);
    assert_int_equal(alert, 44);
    /* without the CRL in the base the same certificate passes */
    assert_int_equal(verify(pki_nocrl, w->revoked, w->inter, root_only, 1, 4, NULL, 0, &alert), 0);
    /* a CRL past its nextUpdate refuses the chains it covers (fail closed) */
    struct pkie_pki_store *st = NULL;
    const char *path = tb_make_base(w, "v3.db", 0);
    X509_CRL *stale = tc_crl(w->inter, w->inter_key, NULL, 0, -30 * 86400L);
    assert_int_equal(pkie_pki_store_open(path, NULL, 0, &st), 0);
    assert_int_equal(pkie_pki_store_add_crl(st, stale), 0);
    pkie_pki_store_close(st);
    X509_CRL_free(stale);
    struct pkie_pki *p3 = NULL;
    assert_int_equal(pkie_pki_open(path, NULL, 0, &p3), 0);
    assert_int_equal(verify(p3, w->user, w->inter, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_EXPIRED);
    assert_int_equal(alert, 45);
    /* ... but not chains of other CAs */
    const char *const other_only[] = {"other"};
    assert_int_equal(verify(p3, w->stranger, NULL, other_only, 1, 4, NULL, 0, &alert), 0);
    pkie_pki_close(p3);
    /* not yet valid, and a forged signature */
    assert_int_equal(verify(pki, w->notyet, w->inter, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_BAD);
    assert_int_equal(alert, 42);
    assert_int_equal(verify(pki, w->badsig, w->inter, root_only, 1, 4, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_BAD);
    assert_int_equal(alert, 42);
}

static void test_depth_limit(void **state)
{
    (void)state;
    int alert;
    /* deep -> inter2 -> inter -> root: two intermediates */
    assert_int_equal(verify(pki, w->deep, w->inter2, root_only, 1, 2, NULL, 0, &alert), 0);
    assert_int_equal(verify(pki, w->deep, w->inter2, root_only, 1, 1, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 0, NULL, 0, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 1, NULL, 0, &alert), 0);
}

static void test_dn_filters(void **state)
{
    (void)state;
    int alert;
    const char *const exact[] = {"CN=alice,O=pkie test,C=DE"};
    const char *const star[] = {"CN=*,O=pkie test,C=DE"};
    const char *const prefix[] = {"CN=ali*,O=pkie test,C=DE"};
    const char *const caseins[] = {"cn=ALICE, o=PKIE Test, c=de"};
    const char *const others[] = {"CN=bob,O=pkie test,C=DE", "CN=*,O=elsewhere,C=DE"};
    const char *const two[] = {"CN=bob,O=pkie test,C=DE", "CN=alice,O=*,C=DE"};
    const char *const shorter[] = {"CN=*,O=*"};
    const char *const wrongtype[] = {"OU=alice,O=pkie test,C=DE"};
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, exact, 1, &alert), 0);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, star, 1, &alert), 0);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, prefix, 1, &alert), 0);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, caseins, 1, &alert), 0);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, two, 2, &alert), 0);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, others, 2, &alert),
                     PKIE_ERR_PKI_CERT_DENIED);
    assert_int_equal(alert, 49);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, shorter, 1, &alert),
                     PKIE_ERR_PKI_CERT_DENIED);
    assert_int_equal(verify(pki, w->user, NULL, root_only, 1, 4, wrongtype, 1, &alert),
                     PKIE_ERR_PKI_CERT_DENIED);
    assert_int_equal(alert, 49);
    /* the chain is judged first: an unknown CA is 48 even when the DN matches */
    const char *const any[] = {"CN=*,O=*,C=*"};
    assert_int_equal(verify(pki, w->stranger, NULL, root_only, 1, 4, any, 1, &alert),
                     PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
}

static void test_dn_match_syntax(void **state)
{
    (void)state;
    assert_true(pki_dn_match("CN=a\\,b,O=x", "CN=a\\2Cb,O=x"));
    assert_true(pki_dn_match("CN=a\\2cb,O=x", "CN=a\\,b,O=x"));
    assert_true(pki_dn_match("CN=\\*,O=x", "CN=*,O=x"));
    assert_false(pki_dn_match("CN=\\*,O=x", "CN=a,O=x"));
    assert_true(pki_dn_match("CN=*,O=x", "CN=,O=x"));
    assert_true(pki_dn_match("CN=a*b*c,O=x", "CN=aXXbYYc,O=x"));
    assert_false(pki_dn_match("CN=a*b*c,O=x", "CN=aXXbYYcd,O=x"));
    assert_true(pki_dn_match("CN=a+UID=*,O=x", "CN=a+UID=7,O=x"));
    assert_false(pki_dn_match("CN=a,UID=*,O=x", "CN=a+UID=7,O=x"));
    assert_true(pki_dn_match("  CN = a  , O = x ", "CN=a,O=x"));
    assert_true(pki_dn_match("CN=\\ a\\ ,O=x", "CN=\\ a\\ ,O=x"));
    assert_false(pki_dn_match("CN=a,O=x", "CN=\\ a,O=x"));
    /* the wildcard is one value, not a separator: it does not swallow ',' */
    assert_false(pki_dn_match("CN=*", "CN=a,O=x"));
    /* malformed patterns match nothing */
    assert_false(pki_dn_match("", "CN=a"));
    assert_false(pki_dn_match("CN", "CN=a"));
    assert_false(pki_dn_match("=a", "=a"));
    assert_false(pki_dn_match("CN=a\\", "CN=a\\"));
    assert_false(pki_dn_match(NULL, "CN=a"));
    /* UTF-8 values compare byte-exactly */
    assert_true(pki_dn_match("CN=J\xc3\xbcrgen", "CN=J\xc3\xbcrgen"));
    assert_true(pki_dn_match("CN=J\\C3\\BCrgen", "CN=J\xc3\xbcrgen"));
}

/* A leaf under inter (in the base) with extendedKeyUsage @p eku (NULL: none). */
static X509 *eku_leaf(const char *cn, const char *eku)
{
    struct tc_opts o = {cn, NULL, 0, -1, 30, 7000};
    X509 *c = tc_cert(&o, w->ec_key, w->inter, w->inter_key);
    if (eku != NULL) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, w->inter, c, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, eku);
        assert_non_null(ext);
        assert_true(X509_add_ext(c, ext, -1));
        X509_EXTENSION_free(ext);
        assert_true(X509_sign(c, w->inter_key, EVP_sha256()) > 0);
    }
    return c;
}

static int verify_role(X509 *leaf, int role, int *alert)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, leaf);
    struct pkie_pki_profile prof = {"alice", root_only, 1, 4, NULL, 0, PKIE_PKI_PEER_ANY};
    prof.peer_role = role;
    *alert = -1;
    int rc = pkie_pki_verify_chain(pki, &prof, chain, alert);
    sk_X509_free(chain);
    return rc;
}

/* A certificate whose extendedKeyUsage excludes TLS (e.g. codeSigning only)
 * is no TLS peer; a clientAuth-only certificate is no TLS server and a
 * serverAuth-only one no TLS client (as OpenSSL's own TLS checks). */
static void test_tls_purpose(void **state)
{
    (void)state;
    int alert;
    X509 *code = eku_leaf("coder", "codeSigning");
    X509 *cli = eku_leaf("client", "clientAuth");
    X509 *srv = eku_leaf("server", "serverAuth");
    X509 *both = eku_leaf("both", "serverAuth,clientAuth");
    X509 *none = eku_leaf("none", NULL);
    const int roles[] = {PKIE_PKI_PEER_ANY, PKIE_PKI_PEER_CLIENT, PKIE_PKI_PEER_SERVER};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(verify_role(code, roles[i], &alert), PKIE_ERR_PKI_CERT_BAD);
        assert_int_equal(alert, 42);
        assert_int_equal(verify_role(both, roles[i], &alert), 0);
        assert_int_equal(verify_role(none, roles[i], &alert), 0);
    }
    assert_int_equal(verify_role(cli, PKIE_PKI_PEER_ANY, &alert), 0);
    assert_int_equal(verify_role(cli, PKIE_PKI_PEER_CLIENT, &alert), 0);
    assert_int_equal(verify_role(cli, PKIE_PKI_PEER_SERVER, &alert), PKIE_ERR_PKI_CERT_BAD);
    assert_int_equal(alert, 42);
    assert_int_equal(verify_role(srv, PKIE_PKI_PEER_SERVER, &alert), 0);
    assert_int_equal(verify_role(srv, PKIE_PKI_PEER_CLIENT, &alert), PKIE_ERR_PKI_CERT_BAD);
    assert_int_equal(verify_role(srv, 7, &alert), PKIE_ERR_ARG);
    X509_free(code);
    X509_free(cli);
    X509_free(srv);
    X509_free(both);
    X509_free(none);
}

static void test_verify_args(void **state)
{
    (void)state;
    int alert = 0;
    struct pkie_pki_profile prof = {"alice", root_only, 1, 4, NULL, 0, PKIE_PKI_PEER_ANY};
    STACK_OF(X509) *empty = sk_X509_new_null();
    assert_int_equal(pkie_pki_verify_chain(pki, &prof, empty, &alert), PKIE_ERR_ARG);
    assert_int_equal(alert, 80);
    assert_int_equal(pkie_pki_verify_chain(pki, NULL, empty, &alert), PKIE_ERR_ARG);
    assert_int_equal(pkie_pki_verify_chain(NULL, &prof, empty, &alert), PKIE_ERR_ARG);
    assert_int_equal(pkie_pki_verify_chain(pki, &prof, NULL, &alert), PKIE_ERR_ARG);
    /* an absurdly long chain is refused before any work */
    for (int i = 0; i < PKIE_PKI_CHAIN_MAX + 2; i++)
        sk_X509_push(empty, w->inter);
    assert_int_equal(pkie_pki_verify_chain(pki, &prof, empty, &alert), PKIE_ERR_PKI_CERT_BAD);
    assert_int_equal(alert, 42);
    sk_X509_free(empty);
}

/* Sign with the base, verify with the certificate's public key. */
static void sign_and_verify(const char *id, X509 *cert, const EVP_MD *md, int pad)
{
    static const char msg[] = "the handshake transcript";
    unsigned char tbs[EVP_MAX_MD_SIZE], sig[1024];
    size_t tbs_len, sig_len = 0;
    int is_ed = md == NULL;
    if (is_ed) {
        memcpy(tbs, msg, sizeof(msg) - 1);
        tbs_len = sizeof(msg) - 1;
    } else {
        unsigned n = 0;
        assert_int_equal(EVP_Digest(msg, sizeof(msg) - 1, tbs, &n, md, NULL), 1);
        tbs_len = n;
    }
    assert_int_equal(pkie_pki_sign(pki, id, md, pad, tbs, tbs_len, NULL, &sig_len), 0);
    assert_true(sig_len > 0 && sig_len <= sizeof(sig));
    sig_len = sizeof(sig);
    assert_int_equal(pkie_pki_sign(pki, id, md, pad, tbs, tbs_len, sig, &sig_len), 0);
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (is_ed) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(m, NULL, NULL, NULL, pub), 1);
        assert_int_equal(EVP_DigestVerify(m, sig, sig_len, tbs, tbs_len), 1);
        sig[0] ^= 1;
        assert_int_not_equal(EVP_DigestVerify(m, sig, sig_len, tbs, tbs_len), 1);
        EVP_MD_CTX_free(m);
        return;
    }
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
    assert_int_equal(EVP_PKEY_verify_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, md), 1);
    if (pad != 0) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, pad), 1);
        if (pad == RSA_PKCS1_PSS_PADDING)
            assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_int_equal(EVP_PKEY_verify(c, sig, sig_len, tbs, tbs_len), 1);
    tbs[0] ^= 1;
    assert_int_not_equal(EVP_PKEY_verify(c, sig, sig_len, tbs, tbs_len), 1);
    EVP_PKEY_CTX_free(c);
}

static void test_sign(void **state)
{
    (void)state;
    sign_and_verify("alice", w->user, EVP_sha256(), RSA_PKCS1_PADDING);
    sign_and_verify("alice", w->user, EVP_sha384(), RSA_PKCS1_PADDING);
    sign_and_verify("alice", w->user, EVP_sha256(), RSA_PKCS1_PSS_PADDING);
    sign_and_verify("alice", w->user, EVP_sha512(), RSA_PKCS1_PSS_PADDING);
    sign_and_verify("bob", w->user_ec, EVP_sha256(), 0);
    sign_and_verify("bob", w->user_ec, EVP_sha384(), 0);
    sign_and_verify("carol", w->user_ed, NULL, 0);
}

static void test_sign_errors(void **state)
{
    (void)state;
    unsigned char tbs[32] = {1}, sig[512];
    size_t sig_len = sizeof(sig);
    /* digest length does not fit the digest */
    assert_int_equal(
        pkie_pki_sign(pki, "alice", EVP_sha256(), RSA_PKCS1_PADDING, tbs, 20, sig, &sig_len),
        PKIE_ERR_ARG);
    /* padding not allowed */
    assert_int_equal(
        pkie_pki_sign(pki, "alice", EVP_sha256(), RSA_NO_PADDING, tbs, 32, sig, &sig_len),
        PKIE_ERR_ARG);
    /* no digest for ECDSA */
    assert_int_equal(pkie_pki_sign(pki, "bob", NULL, 0, tbs, 32, sig, &sig_len), PKIE_ERR_ARG);
    /* output buffer too small */
    sig_len = 16;
    assert_int_equal(
        pkie_pki_sign(pki, "alice", EVP_sha256(), RSA_PKCS1_PADDING, tbs, 32, sig, &sig_len),
        PKIE_ERR_PKI_SIGN);
    /* a certificate without key */
    sig_len = sizeof(sig);
    assert_int_equal(
        pkie_pki_sign(pki, "root", EVP_sha256(), RSA_PKCS1_PADDING, tbs, 32, sig, &sig_len),
        PKIE_ERR_PKI_NO_KEY);
    assert_int_equal(pkie_pki_sign(pki, "alice", EVP_sha256(), 1, tbs, 32, sig, NULL),
                     PKIE_ERR_ARG);
}

static void test_alert_table(void **state)
{
    (void)state;
    int code;
    assert_int_equal(pki_alert_for_x509_error(X509_V_ERR_CERT_REVOKED, &code), 44);
    assert_int_equal(code, PKIE_ERR_PKI_CERT_REVOKED);
    assert_int_equal(pki_alert_for_x509_error(X509_V_ERR_CRL_HAS_EXPIRED, &code), 45);
    assert_int_equal(pki_alert_for_x509_error(X509_V_ERR_CERT_CHAIN_TOO_LONG, &code), 48);
    assert_int_equal(pki_alert_for_x509_error(X509_V_ERR_INVALID_CA, &code), 48);
    assert_int_equal(pki_alert_for_x509_error(X509_V_ERR_INVALID_PURPOSE, &code), 42);
    assert_int_equal(pki_alert_for_x509_error(X509_V_ERR_OUT_OF_MEM, &code), 46);
    assert_int_equal(code, PKIE_ERR_PKI_CERT_UNKNOWN);
}

/* The snapshot is shared by threads: verify and sign concurrently. */
static void *worker(void *arg)
{
    intptr_t fails = 0;
    (void)arg;
    for (int i = 0; i < 50; i++) {
        int alert;
        if (verify(pki, w->user, w->inter, root_only, 1, 4, NULL, 0, &alert) != 0)
            fails++;
        if (verify(pki, w->revoked, w->inter, root_only, 1, 4, NULL, 0, &alert) !=
            PKIE_ERR_PKI_CERT_REVOKED)
            fails++;
        unsigned char tbs[32] = {7}, sig[128];
        size_t sl = sizeof(sig);
        if (pkie_pki_sign(pki, "bob", EVP_sha256(), 0, tbs, 32, sig, &sl) != 0)
            fails++;
        STACK_OF(X509) *chain = NULL;
        EVP_PKEY *key = NULL;
        if (pkie_pki_get_chain(pki, "alice", &chain, &key) != 0)
            fails++;
        sk_X509_pop_free(chain, X509_free);
        EVP_PKEY_free(key);
    }
    return (void *)fails;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_int_equal((intptr_t)r, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_alert_unknown_ca),
        cmocka_unit_test(test_alert_expired_revoked_bad),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_dn_filters),
        cmocka_unit_test(test_dn_match_syntax),
        cmocka_unit_test(test_verify_args),
        cmocka_unit_test(test_tls_purpose),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_alert_table),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
