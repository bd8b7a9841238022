/* Unit tests: validation of exit answers (src/exit/validate.c) and opaque
 * keys (src/exit/opaque.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../../../src/exit/exit_int.h"
#include "pkie/error.h"

static struct pkicom *znew(void)
{
    struct pkicom *z = calloc(1, sizeof(*z));
    assert_non_null(z);
    return z;
}

static EVP_PKEY *keygen(const char *type)
{
    EVP_PKEY *k = NULL;
    if (strcmp(type, "EC") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (strcmp(type, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, type);
    assert_non_null(k);
    return k;
}

static X509 *selfsigned(EVP_PKEY *k)
{
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256()) > 0);
    return x;
}

static void test_alerts_and_text(void **state)
{
    (void)state;
    uint32_t ok[] = {42, 43, 44, 45, 46, 48, 51, 80};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(pkie_exit_alert_allowed(ok[i]));
    uint32_t bad[] = {0, 1, 10, 40, 47, 49, 50, 99, 255, 256, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(pkie_exit_alert_allowed(bad[i]));
    char t[4] = {'a', 'b', 'c', 'd'};
    assert_int_equal(pkie_exit_check_text(t, sizeof(t)), PKIE_ERR_EXIT_ANSWER);
    t[3] = '\0';
    assert_int_equal(pkie_exit_check_text(t, sizeof(t)), 0);
}

static void test_start_task(void **state)
{
    (void)state;
    struct pkicom *z = znew();
    uint32_t mask = 9, size = 9;
    assert_int_equal(pkie_exit_check_start_task(z, &mask, &size), PKIE_ERR_EXIT_ABI);
    z->exit_abi_version = CFTPKIE_ABI_VERSION + 1;
    assert_int_equal(pkie_exit_check_start_task(z, &mask, &size), PKIE_ERR_EXIT_ABI);
    z->exit_abi_version = CFTPKIE_ABI_VERSION;
    z->phase_mask = CFTPKIE_MASK_ALL | 1u;
    assert_int_equal(pkie_exit_check_start_task(z, &mask, &size), PKIE_ERR_EXIT_ANSWER);
    z->phase_mask = CFTPKIE_MASK_ALL;
    z->session_area_size = CFTPKIE_SESSION_AREA_MAX + 1;
    assert_int_equal(pkie_exit_check_start_task(z, &mask, &size), PKIE_ERR_EXIT_ANSWER);
    z->session_area_size = 128;
    memset(z->pki_password, 'p', sizeof(z->pki_password));
    assert_int_equal(pkie_exit_check_start_task(z, &mask, &size), PKIE_ERR_EXIT_ANSWER);
    z->pki_password[0] = '\0';
    assert_int_equal(pkie_exit_check_start_task(z, &mask, &size), 0);
    assert_int_equal(mask, CFTPKIE_MASK_ALL);
    assert_int_equal(size, 128);
    free(z);
}

static void test_profile(void **state)
{
    (void)state;
    struct pkicom *z = znew();
    struct pkie_exit_profile p;
    strcpy(z->cert_id, "srv-ec");
    z->n_ca_ids = 1;
    strcpy(z->ca_ids[0], "root");
    z->verify_depth = 4;
    assert_int_equal(pkie_exit_check_profile(z, &p), 0);
    assert_string_equal(p.cert_id, "srv-ec");
    assert_string_equal(p.ca_ids[0], "root");
    z->verify_depth = 0;
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    z->verify_depth = 99;
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    z->verify_depth = 4;
    memset(z->cert_id, 'A', sizeof(z->cert_id));
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    strcpy(z->cert_id, "bad id");
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    strcpy(z->cert_id, "ok");
    z->n_ca_ids = CFTPKIE_CA_IDS_MAX + 1;
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    z->n_ca_ids = 2; /* second id empty */
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    z->n_ca_ids = 1;
    z->n_dn_filters = 1;
    memset(z->dn_filters[0], 'x', sizeof(z->dn_filters[0]));
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    strcpy(z->dn_filters[0], "CN=*");
    assert_int_equal(pkie_exit_check_profile(z, &p), 0);
    z->n_dn_filters = CFTPKIE_DN_FILTERS_MAX + 1;
    assert_int_equal(pkie_exit_check_profile(z, &p), PKIE_ERR_EXIT_ANSWER);
    free(z);
}

static void put_cert(struct pkicom *z, X509 *x, uint32_t i, size_t *off)
{
    unsigned char *p = z->chain + *off;
    int len = i2d_X509(x, &p);
    assert_true(len > 0);
    z->chain_len[i] = (uint32_t)len;
    *off += (size_t)len;
    z->chain_count = i + 1;
}

static void test_chain(void **state)
{
    (void)state;
    struct pkicom *z = znew();
    EVP_PKEY *k = keygen("EC");
    X509 *x = selfsigned(k);
    STACK_OF(X509) *sk = NULL;
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER); /* empty */
    size_t off = 0;
    put_cert(z, x, 0, &off);
    put_cert(z, x, 1, &off);
    assert_int_equal(pkie_exit_check_chain(z, &sk), 0);
    assert_int_equal(sk_X509_num(sk), 2);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), x), 0);
    sk_X509_pop_free(sk, X509_free);
    z->chain_len[1] += 1; /* a trailing byte after the second certificate */
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER);
    assert_null(sk);
    z->chain_len[1] -= 1;
    z->chain_len[0] -= 1; /* first certificate truncated */
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER);
    z->chain_len[0] += 1;
    z->chain_len[1] = CFTPKIE_CHAIN_CAP; /* sum over capacity */
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER);
    z->chain_len[1] = 0xffffffffu;
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER);
    z->chain_len[1] = z->chain_len[0];
    z->chain_count = CFTPKIE_CHAIN_MAX + 1;
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER);
    z->chain_count = 1;
    z->chain[0] = 0x31; /* not a SEQUENCE */
    assert_int_equal(pkie_exit_check_chain(z, &sk), PKIE_ERR_EXIT_ANSWER);
    X509_free(x);
    EVP_PKEY_free(k);
    free(z);
}

static void test_ca_names(void **state)
{
    (void)state;
    struct pkicom *z = znew();
    STACK_OF(X509_NAME) *names = NULL;
    assert_int_equal(pkie_exit_check_ca_names(z, &names), 0); /* none is fine */
    assert_int_equal(sk_X509_NAME_num(names), 0);
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"CA", -1, -1, 0);
    STACK_OF(X509_NAME) *in = sk_X509_NAME_new_null();
    sk_X509_NAME_push(in, n);
    sk_X509_NAME_push(in, X509_NAME_dup(n));
    assert_int_equal(pkie_exit_put_ca_names(z, in), 0);
    assert_int_equal(z->ca_names_count, 2);
    assert_int_equal(pkie_exit_check_ca_names(z, &names), 0);
    assert_int_equal(sk_X509_NAME_num(names), 2);
    assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(names, 1), n), 0);
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    z->ca_names[0] = 0x04;
    assert_int_equal(pkie_exit_check_ca_names(z, &names), PKIE_ERR_EXIT_ANSWER);
    z->ca_names[0] = 0x30;
    z->ca_names_len[0] = CFTPKIE_CA_NAMES_CAP + 1;
    assert_int_equal(pkie_exit_check_ca_names(z, &names), PKIE_ERR_EXIT_ANSWER);
    z->ca_names_count = CFTPKIE_CA_NAMES_MAX + 1;
    assert_int_equal(pkie_exit_check_ca_names(z, &names), PKIE_ERR_EXIT_ANSWER);
    sk_X509_NAME_pop_free(in, X509_NAME_free);
    free(z);
}

static void test_verdict(void **state)
{
    (void)state;
    struct pkicom *z = znew();
    int accept = -1, alert = -1;
    assert_int_equal(pkie_exit_check_verdict(z, &accept, &alert), 0);
    assert_int_equal(accept, 0); /* preset: refuse */
    assert_int_equal(alert, 42);
    z->accept = 1;
    assert_int_equal(pkie_exit_check_verdict(z, &accept, &alert), 0);
    assert_int_equal(accept, 1);
    z->accept = 7; /* neither 0 nor 1: an invalid answer, refused */
    z->alert_code = 45;
    assert_int_equal(pkie_exit_check_verdict(z, &accept, &alert), PKIE_ERR_EXIT_ANSWER);
    assert_int_equal(accept, 0);
    z->accept = 0;
    assert_int_equal(pkie_exit_check_verdict(z, &accept, &alert), 0);
    assert_int_equal(accept, 0);
    assert_int_equal(alert, 45);
    z->alert_code = 99;
    assert_int_equal(pkie_exit_check_verdict(z, &accept, &alert), PKIE_ERR_EXIT_ANSWER);
    assert_int_equal(accept, 0);
    free(z);
}

static void sign_req(EVP_PKEY *k, uint32_t alg, struct pkie_exit_sign_req *req, uint8_t *buf)
{
    memset(req, 0, sizeof(*req));
    req->alg = alg;
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    req->tbs = buf;
    req->tbs_len = 32;
    req->md = alg == CFTPKIE_SIGN_ED25519 ? NULL : EVP_sha256();
    (void)k;
}

static void check_sig_alg(const char *type, uint32_t alg)
{
    struct pkicom *z = znew();
    EVP_PKEY *k = keygen(type), *other = keygen(type);
    uint8_t tbs[32], sig[1024];
    size_t sl;
    struct pkie_exit_sign_req req;
    sign_req(k, alg, &req, tbs);

    /* a right signature */
    sl = sizeof(z->sig);
    assert_int_equal(pkie_exit_sign_with_key(k, &req, z->sig, &sl), 0);
    z->sig_len = (uint32_t)sl;
    sl = sizeof(sig);
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), 0);
    assert_int_equal(sl, z->sig_len);
    assert_memory_equal(sig, z->sig, sl);
    /* a wrong one */
    z->sig[z->sig_len / 2] ^= 1;
    sl = sizeof(sig);
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    /* by another key */
    sl = sizeof(z->sig);
    assert_int_equal(pkie_exit_sign_with_key(other, &req, z->sig, &sl), 0);
    z->sig_len = (uint32_t)sl;
    sl = sizeof(sig);
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    /* lengths */
    z->sig_len = 0;
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    z->sig_len = CFTPKIE_SIG_CAP + 1;
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    /* a PKCS#8 key: the matching one signs, another is refused */
    z->sig_len = 0;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    unsigned char *p = z->key;
    z->key_len = (uint32_t)i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    PKCS8_PRIV_KEY_INFO_free(p8);
    sl = sizeof(sig);
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), 0);
    assert_int_equal(pkie_exit_verify_sig(k, &req, sig, sl), 0);
    assert_int_equal(z->key_len, 0);
    assert_int_equal(z->key[0], 0); /* wiped */
    p8 = EVP_PKEY2PKCS8(other);
    p = z->key;
    z->key_len = (uint32_t)i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    PKCS8_PRIV_KEY_INFO_free(p8);
    sl = sizeof(sig);
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    memset(z->key, 0x30, 64);
    z->key_len = 64;
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    z->key_len = CFTPKIE_KEY_CAP + 1;
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    z->key_len = 10;
    z->sig_len = 10; /* both */
    assert_int_equal(pkie_exit_check_signature(z, k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    free(z);
}

static void test_signatures(void **state)
{
    (void)state;
    check_sig_alg("EC", CFTPKIE_SIGN_ECDSA);
    check_sig_alg("RSA", CFTPKIE_SIGN_RSA_PSS);
    check_sig_alg("RSA", CFTPKIE_SIGN_RSA_PKCS1);
    check_sig_alg("ED25519", CFTPKIE_SIGN_ED25519);
}

static void test_sig_alg_mismatch(void **state)
{
    (void)state;
    EVP_PKEY *k = keygen("EC");
    uint8_t tbs[32], sig[1024];
    size_t sl = sizeof(sig);
    struct pkie_exit_sign_req req;
    sign_req(k, CFTPKIE_SIGN_RSA_PSS, &req, tbs);
    assert_int_equal(pkie_exit_sign_with_key(k, &req, sig, &sl), PKIE_ERR_EXIT_ANSWER);
    req.alg = 77;
    assert_int_equal(pkie_exit_verify_sig(k, &req, sig, 10), PKIE_ERR_EXIT_ANSWER);
    EVP_PKEY_free(k);
}

/* The task caches (verification context, parsed PKCS#8 key and its leaf match)
 * never let through what the uncached checks refuse. */
static void put_p8(struct pkicom *z, EVP_PKEY *k)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    unsigned char *p = z->key;
    z->sig_len = 0;
    z->key_len = (uint32_t)i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    PKCS8_PRIV_KEY_INFO_free(p8);
}

static void check_cached(const char *type, uint32_t alg)
{
    struct pkicom *z = znew();
    EVP_PKEY *k = keygen(type), *other = keygen(type);
    uint8_t tbs[32], sig[1024], good[1024];
    size_t sl, gl;
    struct pkie_exit_sign_req req;
    struct pkie_exit_keycache kc = {0};
    struct pkie_exit_verifier v = {0};
    sign_req(k, alg, &req, tbs);
    gl = sizeof(good);
    assert_int_equal(pkie_exit_sign_with_key(k, &req, good, &gl), 0);
    for (int round = 0; round < 2; round++) { /* the second round runs on the caches */
        memcpy(z->sig, good, gl);
        z->sig_len = (uint32_t)gl;
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, k, &req, sig, &sl, &kc, &v), 0);
        assert_memory_equal(sig, good, gl);
        if (alg != CFTPKIE_SIGN_ED25519)
            assert_ptr_equal(v.pub, k);
        /* a wrong signature on a kept context */
        z->sig[z->sig_len / 2] ^= 1;
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, k, &req, sig, &sl, &kc, &v),
                         PKIE_ERR_EXIT_ANSWER);
        assert_null(v.ctx); /* a failure drops the context */
        /* a right signature of another key, checked against k */
        memcpy(z->sig, good, gl);
        z->sig_len = (uint32_t)gl;
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, k, &req, sig, &sl, &kc, &v), 0);
        assert_int_equal(pkie_exit_check_signature_cached(z, other, &req, sig, &sl, &kc, &v),
                         PKIE_ERR_EXIT_ANSWER);
        assert_int_equal(pkie_exit_verify_sig_with(&v, other, &req, good, gl),
                         PKIE_ERR_EXIT_ANSWER);
        /* the PKCS#8 key of k: matches k (cached match), not the leaf of another */
        put_p8(z, k);
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, k, &req, sig, &sl, &kc, &v), 0);
        assert_int_equal(pkie_exit_verify_sig(k, &req, sig, sl), 0);
        assert_ptr_equal(kc.matched, k);
        put_p8(z, k);
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, other, &req, sig, &sl, &kc, &v),
                         PKIE_ERR_EXIT_ANSWER);
        put_p8(z, k);
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, k, &req, sig, &sl, &kc, &v), 0);
        /* another key handed back for the leaf k */
        put_p8(z, other);
        sl = sizeof(sig);
        assert_int_equal(pkie_exit_check_signature_cached(z, k, &req, sig, &sl, &kc, &v),
                         PKIE_ERR_EXIT_ANSWER);
        assert_null(kc.matched);
    }
    pkie_exit_keycache_clear(&kc);
    pkie_exit_verifier_clear(&v);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    free(z);
}

static void test_signature_caches(void **state)
{
    (void)state;
    check_cached("EC", CFTPKIE_SIGN_ECDSA);
    check_cached("RSA", CFTPKIE_SIGN_RSA_PSS);
    check_cached("RSA", CFTPKIE_SIGN_RSA_PKCS1);
    check_cached("ED25519", CFTPKIE_SIGN_ED25519);
}

/* ---- opaque keys ---- */

struct signer {
    EVP_PKEY *key;
    int calls;
    int fail;
    uint32_t last_alg;
};

static int opaque_sign(void *arg, const struct pkie_exit_sign_req *req, uint8_t *sig,
                       size_t *sig_len)
{
    struct signer *s = arg;
    s->calls++;
    s->last_alg = req->alg;
    if (s->fail)
        return PKIE_ERR_CRYPTO;
    return pkie_exit_sign_with_key(s->key, req, sig, sig_len);
}

static void opaque_one(const char *type, int pss, uint32_t want_alg)
{
    EVP_PKEY *k = keygen(type);
    X509 *x = selfsigned(k);
    struct signer sg = {.key = k};
    EVP_PKEY *o = pkie_opaque_key_new(X509_get0_pubkey(x), opaque_sign, &sg);
    assert_non_null(o);
    assert_true(EVP_PKEY_is_a(o, type));
    assert_int_equal(EVP_PKEY_get_size(o), EVP_PKEY_get_size(k));
    assert_int_equal(EVP_PKEY_eq(o, X509_get0_pubkey(x)), 1);
    assert_int_equal(X509_check_private_key(x, o), 1);
    const unsigned char msg[] = "the message to sign";
    int ed = strcmp(type, "ED25519") == 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestSignInit_ex(m, &pc, ed ? NULL : "SHA256", NULL, NULL, o, NULL), 1);
    if (pss) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0);
        assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) > 0);
    }
    size_t sl = 0;
    assert_int_equal(EVP_DigestSign(m, NULL, &sl, msg, sizeof(msg)), 1);
    unsigned char sig[1024];
    sl = sizeof(sig);
    assert_int_equal(EVP_DigestSign(m, sig, &sl, msg, sizeof(msg)), 1);
    assert_int_equal(sg.calls, 1);
    assert_int_equal(sg.last_alg, want_alg);
    EVP_MD_CTX_free(m);
    /* the signature verifies with the certificate's key */
    m = EVP_MD_CTX_new();
    pc = NULL;
    assert_int_equal(EVP_DigestVerifyInit_ex(m, &pc, ed ? NULL : "SHA256", NULL, NULL,
                                             X509_get0_pubkey(x), NULL),
                     1);
    if (pss)
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0);
    assert_int_equal(EVP_DigestVerify(m, sig, sl, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(m);
    /* a failing callback fails the signature */
    sg.fail = 1;
    m = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit_ex(m, NULL, ed ? NULL : "SHA256", NULL, NULL, o, NULL), 1);
    sl = sizeof(sig);
    assert_int_not_equal(EVP_DigestSign(m, sig, &sl, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(m);
    /* another key does not match */
    EVP_PKEY *k2 = keygen(type);
    assert_int_not_equal(EVP_PKEY_eq(o, k2), 1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(o);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_opaque(void **state)
{
    (void)state;
    opaque_one("EC", 0, CFTPKIE_SIGN_ECDSA);
    opaque_one("RSA", 0, CFTPKIE_SIGN_RSA_PKCS1);
    opaque_one("RSA", 1, CFTPKIE_SIGN_RSA_PSS);
    opaque_one("ED25519", 0, CFTPKIE_SIGN_ED25519);
    assert_null(pkie_opaque_key_new(NULL, opaque_sign, NULL));
    EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    assert_null(pkie_opaque_key_new(x, opaque_sign, NULL));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_UNSUPPORTED);
    EVP_PKEY_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alerts_and_text),  cmocka_unit_test(test_start_task),
        cmocka_unit_test(test_profile),          cmocka_unit_test(test_chain),
        cmocka_unit_test(test_ca_names),         cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_signatures),       cmocka_unit_test(test_sig_alg_mismatch),
        cmocka_unit_test(test_signature_caches), cmocka_unit_test(test_opaque),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
