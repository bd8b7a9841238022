/* Unit tests: messages built with our encoder for every body type, with no
 * protection, PasswordBasedMac, PBMAC1 and every signature algorithm, must
 * survive decode(encode(x)) byte for byte and verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp_test_build.h"
#include "cmp_test_util.h"
#include "pkie/cmp_msg.h"
#include "pkie/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t SECRET[] = "sesame";
static EVP_PKEY *eckey;

static int setup(void **state)
{
    (void)state;
    eckey = tu_genkey("P-256");
    return eckey ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(eckey);
    return 0;
}

/* With PKIE_CMP_WRITE_CORPUS=DIR set, the encoded samples are saved there
 * (how tests/fuzz/cmp/corpus/own-* were made). */
static void corpus_write(const char *body, const char *prot, const uint8_t *der, size_t len)
{
    const char *dir = getenv("PKIE_CMP_WRITE_CORPUS");
    if (dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/own-%s-%s.der", dir, body, prot);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(der, 1, len, f);
        fclose(f);
    }
}

static void check_content(const struct pkie_cmp_msg *d, int type)
{
    assert_int_equal(d->body.type, type);
    assert_int_equal(d->header.pvno, 3);
    assert_int_equal(d->header.freeText.count, 3);
    assert_int_equal(d->header.generalInfo_count, 5);
    assert_true(d->header.implicitConfirm);
    assert_true(d->header.has_confirmWaitTime);
    assert_int_equal(d->header.certProfile.count, 1);
    assert_memory_equal(d->header.certProfile.strs[0].p, "tls1", 4);
    assert_int_equal(d->header.recipKID.len, strlen("recipient-kid"));
    switch (type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_CCR: {
        const struct pkie_crmf_reqs *rq = &d->body.u.certReqs;
        assert_int_equal(rq->count, 4);
        const struct pkie_crmf_certreq *r = &rq->msgs[0].certReq;
        assert_int_equal(r->controls_count, 4);
        assert_memory_equal(r->regToken.p, "token", 5);
        assert_memory_equal(r->authenticator.p, "auth", 4);
        assert_true(r->has_oldCertID);
        assert_int_equal(r->oldCertID.serialNumber.len, 1);
        assert_int_equal(r->certTemplate.present, 0x3FF);
        assert_int_equal(r->certTemplate.version, 2);
        assert_int_equal(r->certTemplate.notBefore.type, PKIE_DER_UTC_TIME);
        assert_int_equal(r->certTemplate.notAfter.time.secs, 4102444800);
        assert_int_equal(rq->msgs[0].popo.type, PKIE_CRMF_POPO_SIGNATURE);
        assert_int_equal(pkie_crmf_popo_verify(&rq->msgs[0]), 0);
        assert_int_equal(rq->msgs[1].popo.type, PKIE_CRMF_POPO_RAVERIFIED);
        assert_int_equal(rq->msgs[1].regInfo_count, 1);
        assert_int_equal(rq->msgs[2].popo.type, PKIE_CRMF_POPO_KEYENCIPHERMENT);
        assert_int_equal(rq->msgs[2].popo.subsequentMessage, 1);
        assert_int_equal(rq->msgs[3].popo.type, PKIE_CRMF_POPO_KEYAGREEMENT);
        assert_int_equal(rq->msgs[3].popo.privkey_type, PKIE_CRMF_PRIVKEY_DHMAC);
        EVP_PKEY *k = pkie_crmf_template_pubkey(&r->certTemplate);
        assert_non_null(k);
        assert_int_equal(EVP_PKEY_eq(k, eckey), 1);
        EVP_PKEY_free(k);
        break;
    }
    case PKIE_CMP_BODY_IP:
    case PKIE_CMP_BODY_CP:
    case PKIE_CMP_BODY_KUP:
    case PKIE_CMP_BODY_CCP:
        assert_int_equal(d->body.u.certRep.caPubs_count, 2);
        assert_int_equal(d->body.u.certRep.response_count, 3);
        assert_int_equal(d->body.u.certRep.response[1].status.failInfo,
                         (1u << PKIE_CMP_FI_badPOP) | (1u << PKIE_CMP_FI_duplicateCertReq));
        assert_int_equal(d->body.u.certRep.response[1].status.statusString.count, 2);
        assert_int_equal(d->body.u.certRep.response[2].certifiedKeyPair.certOrEncCert_type,
                         PKIE_CMP_ENCRYPTEDCERT);
        assert_non_null(d->body.u.certRep.response[2].certifiedKeyPair.publicationInfo.p);
        break;
    case PKIE_CMP_BODY_RR:
        assert_int_equal(d->body.u.rr.count, 2);
        assert_non_null(d->body.u.rr.details[0].crlEntryDetails.p);
        assert_null(d->body.u.rr.details[1].crlEntryDetails.p);
        break;
    case PKIE_CMP_BODY_RP:
        assert_int_equal(d->body.u.rp.status_count, 2);
        assert_int_equal(d->body.u.rp.revCerts_count, 1);
        assert_int_equal(d->body.u.rp.crls_count, 1);
        break;
    case PKIE_CMP_BODY_GENM:
    case PKIE_CMP_BODY_GENP:
        assert_int_equal(d->body.u.genm.count, 2);
        assert_null(d->body.u.genm.itav[0].value.p);
        assert_non_null(d->body.u.genm.itav[1].value.p);
        break;
    case PKIE_CMP_BODY_ERROR:
        assert_int_equal(d->body.u.error.errorCode, 4242);
        assert_int_equal(d->body.u.error.errorDetails.count, 1);
        break;
    case PKIE_CMP_BODY_CERTCONF:
        assert_int_equal(d->body.u.certConf.count, 2);
        assert_true(d->body.u.certConf.status[1].has_statusInfo);
        assert_non_null(d->body.u.certConf.status[1].hashAlg.p);
        break;
    case PKIE_CMP_BODY_POLLREQ:
        assert_int_equal(d->body.u.pollReq.count, 2);
        assert_int_equal(d->body.u.pollReq.certReqId[1], 7);
        break;
    case PKIE_CMP_BODY_POLLREP:
        assert_int_equal(d->body.u.pollRep.entries[1].checkAfter, 3600);
        assert_int_equal(d->body.u.pollRep.entries[1].reason.count, 2);
        break;
    case PKIE_CMP_BODY_NESTED:
        assert_int_equal(d->body.u.nested.count, 2);
        assert_int_equal(d->body.u.nested.msgs[0]->body.type, PKIE_CMP_BODY_IR);
        assert_int_equal(d->body.u.nested.msgs[1]->body.type, PKIE_CMP_BODY_GENM);
        break;
    case PKIE_CMP_BODY_PKICONF:
        break;
    default:
        assert_non_null(d->body.raw.p);
        break;
    }
}

static void test_all_bodies_unprotected(void **state)
{
    (void)state;
    for (int t = 0; t <= PKIE_CMP_BODY_MAX; t++) {
        struct pkie_cmp_msg *m = tb_sample(t, eckey);
        uint8_t *der;
        size_t len;
        struct pkie_cmp_msg *d = tu_roundtrip(m, &der, &len);
        check_content(d, t);
        assert_string_equal(pkie_cmp_body_name(t), pkie_cmp_body_name(d->body.type));
        assert_int_equal(pkie_cmp_body_from_name(pkie_cmp_body_name(t)), t);
        pkie_cmp_msg_free(d);
        free(der);
        tb_free(m);
    }
}

static void mac_roundtrip(int type, const struct pkie_cmp_mac_params *p)
{
    struct pkie_cmp_msg *m = tb_sample(type, eckey);
    struct pkie_cmp_bytes kid = {(const uint8_t *)"kid", 3};
    int r = pkie_cmp_protect_mac(m, SECRET, 6, p, &kid);
    if (r != 0)
        fail_msg("protect_mac: %s", pkie_err_last()->msg);
    /* verify before encoding (fields) and after decoding (received bytes) */
    assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 6, NULL), 0);
    uint8_t *der;
    size_t len;
    struct pkie_cmp_msg *d = tu_roundtrip(m, &der, &len);
    corpus_write(pkie_cmp_body_name(type), p->alg ? "pbmac1" : "pbm", der, len);
    check_content(d, type);
    assert_int_equal(pkie_cmp_protection_is_mac(d), 1);
    assert_int_equal(pkie_cmp_verify_mac(d, SECRET, 6, NULL), 0);
    assert_int_equal(pkie_cmp_verify_mac(d, SECRET, 5, NULL), PKIE_ERR_CMP_MAC_MISMATCH);
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.secret = SECRET;
    v.secret_len = 6;
    v.max_skew = 60;
    v.require_messageTime = 1;
    assert_int_equal(pkie_cmp_msg_validate(d, &v), 0);
    pkie_cmp_msg_free(d);
    free(der);
    tb_free(m);
}

static void test_all_bodies_mac(void **state)
{
    (void)state;
    struct pkie_cmp_mac_params pbm, pbmac1;
    pkie_cmp_mac_params_default(&pbm, PKIE_CMP_MAC_PBM);
    pkie_cmp_mac_params_default(&pbmac1, PKIE_CMP_MAC_PBMAC1);
    pbmac1.iterationCount = 1000;
    for (int t = 0; t <= PKIE_CMP_BODY_MAX; t++) {
        mac_roundtrip(t, &pbm);
        mac_roundtrip(t, &pbmac1);
    }
}

static void test_mac_algorithms(void **state)
{
    (void)state;
    static const char *const owf[] = {"SHA1", "SHA256", "SHA384", "SHA512"};
    static const char *const mac[] = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"};
    static const char *const sha2[] = {"SHA256", "SHA384", "SHA512"};
    struct pkie_cmp_mac_params p;
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 5; k++) {
            pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
            p.owf = owf[i];
            p.mac = mac[k];
            p.iterationCount = 100;
            mac_roundtrip(PKIE_CMP_BODY_GENM, &p);
        }
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 3; k++) {
            pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBMAC1);
            p.prf = sha2[i];
            p.mac = sha2[k];
            p.iterationCount = 100;
            p.key_len = k == 0 ? 0 : 48;
            mac_roundtrip(PKIE_CMP_BODY_PKICONF, &p);
        }
    /* PBMAC1 refuses SHA-1, PBM an unknown digest */
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBMAC1);
    p.prf = "SHA1";
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
    assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), PKIE_ERR_CMP_PROT_ALG);
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    p.owf = "MD5";
    assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), PKIE_ERR_CMP_PROT_ALG);
    tb_free(m);
}

static void test_mac_iteration_bounds(void **state)
{
    (void)state;
    for (int alg = 0; alg < 2; alg++) {
        struct pkie_cmp_mac_params p;
        pkie_cmp_mac_params_default(&p, alg);
        struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
        p.iterationCount = 99; /* below the default minimum */
        assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
        assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 6, NULL), PKIE_ERR_CMP_MAC_ITERATIONS);
        struct pkie_cmp_mac_limits lim = {10, 200};
        assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 6, &lim), 0);
        p.iterationCount = 100001; /* above the default maximum */
        assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
        assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 6, NULL), PKIE_ERR_CMP_MAC_ITERATIONS);
        assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_MAC_ITERATIONS), PKIE_CMP_FI_badAlg);
        tb_free(m);
    }
}

struct sigcase {
    const char *key;
    const char *digest;
    int pss;
};

static void test_all_signatures(void **state)
{
    (void)state;
    static const struct sigcase cases[] = {
        {"RSA", "SHA256", 0},   {"RSA", "SHA384", 0},   {"RSA", "SHA512", 0},
        {"RSA", "SHA256", 1},   {"RSA", "SHA512", 1},   {"P-256", "SHA256", 0},
        {"P-384", "SHA384", 0}, {"P-521", "SHA512", 0}, {"ED25519", NULL, 0},
        {"ED448", NULL, 0},
    };
    EVP_PKEY *rsa = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *key;
        if (strcmp(cases[i].key, "RSA") == 0) {
            if (rsa == NULL)
                rsa = tu_genkey("RSA");
            key = rsa;
            EVP_PKEY_up_ref(key);
        } else {
            key = tu_genkey(cases[i].key);
        }
        assert_non_null(key);
        X509 *cert = tu_selfsigned(key, "signer");
        X509_STORE *store = X509_STORE_new();
        X509_STORE_add_cert(store, cert);
        int types[] = {PKIE_CMP_BODY_IR, PKIE_CMP_BODY_IP, PKIE_CMP_BODY_RR, PKIE_CMP_BODY_ERROR};
        for (size_t t = 0; t < 4; t++) {
            struct pkie_cmp_msg *m = tb_sample(types[t], key);
            /* an empty sender is replaced by the signer's subject */
            assert_int_equal(pkie_cmp_gn_from_name(m, NULL, &m->header.sender), 0);
            struct pkie_cmp_sig_params sp = {cases[i].digest, cases[i].pss};
            int r = pkie_cmp_protect_sig(m, key, cert, NULL, &sp);
            if (r != 0)
                fail_msg("%s: %s", cases[i].key, pkie_err_last()->msg);
            assert_int_equal(m->extraCerts_count, 1);
            assert_int_equal(pkie_cmp_verify_sig(m, key), 0);
            uint8_t *der;
            size_t len;
            struct pkie_cmp_msg *d = tu_roundtrip(m, &der, &len);
            if (t == 0) {
                char prot[64];
                snprintf(prot, sizeof(prot), "sig-%s-%s%s", cases[i].key,
                         cases[i].digest ? cases[i].digest : "none", cases[i].pss ? "-pss" : "");
                corpus_write(pkie_cmp_body_name(types[t]), prot, der, len);
            }
            assert_int_equal(pkie_cmp_protection_is_mac(d), 0);
            struct pkie_cmp_vctx v;
            memset(&v, 0, sizeof(v));
            v.trusted = store;
            v.max_skew = 60;
            r = pkie_cmp_msg_validate(d, &v);
            if (r != 0)
                fail_msg("%s %s: %s", cases[i].key, pkie_cmp_body_name(types[t]),
                         pkie_err_last()->msg);
            assert_int_equal(X509_cmp(v.signer, cert), 0);
            X509_free(v.signer);
            pkie_cmp_msg_free(d);
            /* one flipped bit in the signature */
            der[len - m->extraCerts[0].len - 10] ^= 0x01;
            assert_int_equal(pkie_cmp_msg_decode(der, len, NULL, &d), 0);
            assert_int_equal(pkie_cmp_msg_validate(d, &v), PKIE_ERR_CMP_SIG_INVALID);
            assert_null(v.signer);
            pkie_cmp_msg_free(d);
            free(der);
            tb_free(m);
        }
        X509_STORE_free(store);
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    EVP_PKEY_free(rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_bodies_unprotected), cmocka_unit_test(test_all_bodies_mac),
        cmocka_unit_test(test_mac_algorithms),         cmocka_unit_test(test_mac_iteration_bounds),
        cmocka_unit_test(test_all_signatures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
