/* Unit tests: the CMP server engine in-process, with requests built by cmp_msg.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ca_test_util.h"
#include "pkie/cmp_envkey.h"
#include "pkie/cmp_msg.h"
#include "pkie/cmp_server.h"

#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include <openssl/rand.h>
#include <pthread.h>
#include <openssl/x509.h>

#define PASS "engine-pass"

struct fx {
    char *dir;
    char cadir[600];
    struct pkie_ca_server *srv;
    EVP_PKEY *key;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = ca_test_mkdtemp();
    snprintf(f->cadir, sizeof(f->cadir), "%s/ca", f->dir);
    struct pkie_ca_init_params p = {
        .dir = f->cadir, .subject = "/CN=Engine Root", .pass = PASS, .intermediate = 1};
    p.db = ca_test_db(f->cadir, 1);
    assert_int_equal(pkie_ca_dir_init(&p), 0);
    struct pkie_ca_store *s = NULL;
    assert_int_equal(pkie_ca_dir_open_db(f->cadir, ca_test_db(f->cadir, 0), PASS, &s), 0);
    struct pkie_ca_client c;
    ca_test_client(&c, "auto1", "CN=*", "DNS:*.test");
    assert_int_equal(pkie_ca_store_client_add(s, &c), 0);
    ca_test_client(&c, "manual1", "CN=*", "");
    c.manual = 1;
    assert_int_equal(pkie_ca_store_client_add(s, &c), 0);
    pkie_ca_store_close(s);
    struct pkie_ca_server_params sp = {.dir = f->cadir, .pass = PASS};
    sp.db = ca_test_db(f->cadir, 0);
    assert_int_equal(pkie_ca_server_open(&sp, &f->srv), 0);
    f->key = pkie_ca_key_generate("ec:P-256");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pkie_ca_server_close(f->srv);
    EVP_PKEY_free(f->key);
    ca_test_rmdir(f->dir);
    free(f);
    return 0;
}

/* A request of @p body type with @p n certificate requests (CN=cn0.., key @p key). */
static struct pkie_cmp_msg *cert_request(int body, size_t n, EVP_PKEY *key, const char *cn,
                                         const uint8_t *tid)
{
    struct pkie_cmp_msg *m = pkie_cmp_msg_new();
    assert_non_null(m);
    X509_NAME *sender = pkie_ca_name_parse("/CN=client");
    struct pkie_cmp_bytes t = {tid, 16};
    assert_int_equal(pkie_cmp_header_init(m, 2, sender, NULL, tid != NULL ? &t : NULL, NULL), 0);
    X509_NAME_free(sender);
    m->body.type = body;
    if (body == PKIE_CMP_BODY_GENM || body == PKIE_CMP_BODY_POLLREQ ||
        body == PKIE_CMP_BODY_CERTCONF || body == PKIE_CMP_BODY_RR)
        return m;
    struct pkie_crmf_reqs *r = &m->body.u.certReqs;
    r->msgs = pkie_cmp_alloc_array(m, n, sizeof(*r->msgs));
    r->count = n;
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(key, &spki);
    assert_true(spki_len > 2);
    size_t hl = (spki[1] & 0x80) ? 2 + (size_t)(spki[1] & 0x7f) : 2;
    for (size_t i = 0; i < n; i++) {
        struct pkie_crmf_msg *cm = &r->msgs[i];
        char subj[64];
        snprintf(subj, sizeof(subj), "/CN=%s%zu", cn, i);
        X509_NAME *nm = pkie_ca_name_parse(subj);
        unsigned char *der = NULL;
        int dl = i2d_X509_NAME(nm, &der);
        X509_NAME_free(nm);
        cm->certReq.certReqId = (int64_t)i;
        cm->certReq.certTemplate.present = PKIE_CRMF_T_SUBJECT | PKIE_CRMF_T_PUBLICKEY;
        assert_int_equal(pkie_cmp_dup(m, &cm->certReq.certTemplate.subject, der, (size_t)dl), 0);
        assert_int_equal(
            pkie_cmp_dup(m, &cm->certReq.certTemplate.publicKey, spki + hl, (size_t)spki_len - hl),
            0);
        OPENSSL_free(der);
        assert_int_equal(pkie_crmf_popo_sign(m, cm, key, "SHA256"), 0);
    }
    OPENSSL_free(spki);
    return m;
}

/* With PKIE_CA_SEED_DIR set, keep every request sent (seeds of tests/fuzz/ca). */
static void seed_dump(const uint8_t *der, size_t len)
{
    static int count;
    const char *dir = getenv("PKIE_CA_SEED_DIR");
    char path[600];
    if (dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/engine-%d.der", dir, count++);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(der, 1, len, fp), len);
    fclose(fp);
}

/* Protect with a MAC as @p ref/@p secret, send, decode the answer. */
static struct pkie_cmp_msg *exchange(struct fx *f, struct pkie_cmp_msg *m, const char *ref,
                                     const char *secret, int alg, uint8_t **raw)
{
    struct pkie_cmp_mac_params mp;
    pkie_cmp_mac_params_default(&mp, alg);
    struct pkie_cmp_bytes kid = {(const uint8_t *)ref, strlen(ref)};
    assert_int_equal(pkie_cmp_protect_mac(m, (const uint8_t *)secret, strlen(secret), &mp, &kid),
                     0);
    uint8_t *der = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    seed_dump(der, len);
    assert_int_equal(pkie_ca_server_handle(f->srv, NULL, der, len, &out, &out_len), 0);
    free(der);
    struct pkie_cmp_msg *resp = NULL;
    assert_int_equal(pkie_cmp_msg_decode(out, out_len, NULL, &resp), 0);
    *raw = out; /* the response points into it */
    return resp;
}

/* A new random senderNonce, so that the message can be sent again legitimately. */
static void fresh_nonce(struct pkie_cmp_msg *m)
{
    uint8_t n[16];
    assert_int_equal(RAND_bytes(n, sizeof(n)), 1);
    assert_int_equal(pkie_cmp_dup(m, &m->header.senderNonce, n, sizeof(n)), 0);
}

/* Protect @p m with "secret" as @p ref and encode it (no sending). */
static void encode_mac(struct pkie_cmp_msg *m, const char *ref, uint8_t **der, size_t *len)
{
    struct pkie_cmp_mac_params mp;
    pkie_cmp_mac_params_default(&mp, PKIE_CMP_MAC_PBM);
    struct pkie_cmp_bytes kid = {(const uint8_t *)ref, strlen(ref)};
    assert_int_equal(pkie_cmp_protect_mac(m, (const uint8_t *)"secret", 6, &mp, &kid), 0);
    assert_int_equal(pkie_cmp_msg_encode(m, der, len), 0);
    seed_dump(*der, *len);
}

/* Send encoded bytes as they are; the answer must decode. */
static struct pkie_cmp_msg *send_raw(struct pkie_ca_server *srv, const uint8_t *der, size_t len,
                                     uint8_t **raw)
{
    size_t out_len = 0;
    *raw = NULL;
    assert_int_equal(pkie_ca_server_handle(srv, NULL, der, len, raw, &out_len), 0);
    struct pkie_cmp_msg *resp = NULL;
    assert_int_equal(pkie_cmp_msg_decode(*raw, out_len, NULL, &resp), 0);
    return resp;
}

/* recipNonce of @p m := senderNonce of the answer @p r. */
static void set_recip(struct pkie_cmp_msg *m, const struct pkie_cmp_msg *r)
{
    assert_int_equal(
        pkie_cmp_dup(m, &m->header.recipNonce, r->header.senderNonce.p, r->header.senderNonce.len),
        0);
}

static uint32_t error_bits(const struct pkie_cmp_msg *r)
{
    assert_int_equal(r->body.type, PKIE_CMP_BODY_ERROR);
    return r->body.u.error.pKIStatusInfo.failInfo;
}

static void test_pbmac1_multi_request_implicit(void **state)
{
    struct fx *f = *state;
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 3, f->key, "multi", NULL);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    uint8_t *raw = NULL;
    struct pkie_cmp_msg *r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBMAC1, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(r->body.u.certRep.response_count, 3);
    assert_true(r->header.implicitConfirm);
    /* the answer is protected with PBMAC1 and the same secret */
    assert_int_equal(pkie_cmp_protection_is_mac(r), 1);
    assert_int_equal(pkie_cmp_verify_mac(r, (const uint8_t *)"secret", 6, NULL), 0);
    assert_int_not_equal(pkie_cmp_verify_mac(r, (const uint8_t *)"other", 5, NULL), 0);
    for (size_t i = 0; i < 3; i++) {
        const struct pkie_cmp_certresp *cr = &r->body.u.certRep.response[i];
        assert_int_equal(cr->certReqId, (int64_t)i);
        assert_int_equal(cr->status.status, PKIE_CMP_ACCEPTED);
        const unsigned char *p = cr->certifiedKeyPair.certOrEncCert.p;
        X509 *x = d2i_X509(NULL, &p, (long)cr->certifiedKeyPair.certOrEncCert.len);
        assert_non_null(x);
        char hex[48];
        struct pkie_ca_cert rec;
        pkie_ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex));
        assert_int_equal(pkie_ca_store_cert_get(pkie_ca_server_store(f->srv), hex, 0, &rec), 0);
        assert_int_equal(rec.status, PKIE_CA_CERT_CONFIRMED);
        X509_free(x);
    }
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
}

static void test_certconf_reject_revokes(void **state)
{
    struct fx *f = *state;
    const uint8_t tid[16] = {0x11, 1, 2, 3};
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_CR, 1, f->key, "conf", tid);
    uint8_t *raw = NULL, *raw2 = NULL;
    struct pkie_cmp_msg *r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_CP);
    assert_false(r->header.implicitConfirm);
    const struct pkie_cmp_certresp *cr = &r->body.u.certRep.response[0];
    assert_int_equal(cr->status.status, PKIE_CMP_ACCEPTED);
    const unsigned char *p = cr->certifiedKeyPair.certOrEncCert.p;
    X509 *x = d2i_X509(NULL, &p, (long)cr->certifiedKeyPair.certOrEncCert.len);
    char hex[48];
    pkie_ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex));
    struct pkie_ca_cert rec;
    assert_int_equal(pkie_ca_store_cert_get(pkie_ca_server_store(f->srv), hex, 0, &rec), 0);
    assert_int_equal(rec.status, PKIE_CA_CERT_ISSUED); /* not valid before certConf */

    /* certConf with a wrong hash is refused */
    struct pkie_cmp_msg *cc = cert_request(PKIE_CMP_BODY_CERTCONF, 0, f->key, "", tid);
    struct pkie_cmp_certconf *conf = &cc->body.u.certConf;
    conf->status = pkie_cmp_alloc_array(cc, 1, sizeof(*conf->status));
    conf->count = 1;
    ASN1_OCTET_STRING *h = X509_digest_sig(x, NULL, NULL);
    uint8_t badhash[64];
    memcpy(badhash, ASN1_STRING_get0_data(h), (size_t)ASN1_STRING_length(h));
    badhash[0] ^= 1;
    pkie_cmp_dup(cc, &conf->status[0].certHash, badhash, (size_t)ASN1_STRING_length(h));
    conf->status[0].certReqId = 0;
    set_recip(cc, r);
    struct pkie_cmp_msg *r2 = exchange(f, cc, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_true(error_bits(r2) & (1u << PKIE_CMP_FI_badCertId));
    pkie_cmp_msg_free(r2);
    pkie_cmp_msg_free(cc);
    free(raw2);

    /* a rejecting certConf revokes the certificate */
    cc = cert_request(PKIE_CMP_BODY_CERTCONF, 0, f->key, "", tid);
    conf = &cc->body.u.certConf;
    conf->status = pkie_cmp_alloc_array(cc, 1, sizeof(*conf->status));
    conf->count = 1;
    pkie_cmp_dup(cc, &conf->status[0].certHash, ASN1_STRING_get0_data(h),
                 (size_t)ASN1_STRING_length(h));
    conf->status[0].has_statusInfo = 1;
    conf->status[0].statusInfo.status = PKIE_CMP_REJECTION;
    /* without the recipNonce of our cp it is refused (badRecipientNonce) */
    r2 = exchange(f, cc, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_int_equal(error_bits(r2), 1u << PKIE_CMP_FI_badRecipientNonce);
    pkie_cmp_msg_free(r2);
    free(raw2);
    fresh_nonce(cc);
    set_recip(cc, r);
    r2 = exchange(f, cc, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_int_equal(r2->body.type, PKIE_CMP_BODY_PKICONF);
    assert_int_equal(pkie_ca_store_cert_get(pkie_ca_server_store(f->srv), hex, 0, &rec), 0);
    assert_int_equal(rec.status, PKIE_CA_CERT_REVOKED);
    /* and the CRL lists it */
    uint8_t *crl = NULL;
    size_t crl_len = 0;
    assert_int_equal(pkie_ca_server_crl(f->srv, &crl, &crl_len), 0);
    const unsigned char *q = crl;
    X509_CRL *c = d2i_X509_CRL(NULL, &q, (long)crl_len);
    X509_REVOKED *rv = NULL;
    assert_int_equal(X509_CRL_get0_by_serial(c, &rv, X509_get0_serialNumber(x)), 1);
    X509_CRL_free(c);
    free(crl);
    ASN1_OCTET_STRING_free(h);
    X509_free(x);
    pkie_cmp_msg_free(r2);
    pkie_cmp_msg_free(cc);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    free(raw2);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    uint8_t *out = NULL, *raw = NULL;
    size_t out_len = 0;
    /* malformed DER: a signed error with badDataFormat */
    const uint8_t junk[] = {0x30, 0x82, 0xff, 0xff, 0x01};
    assert_int_equal(pkie_ca_server_handle(f->srv, NULL, junk, sizeof(junk), &out, &out_len), 0);
    struct pkie_cmp_msg *r = NULL;
    assert_int_equal(pkie_cmp_msg_decode(out, out_len, NULL, &r), 0);
    assert_true(error_bits(r) & (1u << PKIE_CMP_FI_badDataFormat));
    assert_int_equal(pkie_cmp_protection_is_mac(r), 0);
    X509 *signer = NULL;
    assert_int_equal(
        pkie_ca_store_get_ca(pkie_ca_server_store(f->srv), PKIE_CA_SIGNER, NULL, &signer, NULL), 0);
    assert_int_equal(pkie_cmp_verify_sig(r, X509_get0_pubkey(signer)), 0);
    X509_free(signer);
    pkie_cmp_msg_free(r);
    free(out);
    assert_int_equal(pkie_ca_server_handle(f->srv, NULL, NULL, 0, &out, &out_len), 0);
    free(out);

    /* unknown reference, bad MAC */
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "x", NULL);
    r = exchange(f, m, "nobody", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_true(error_bits(r) & (1u << PKIE_CMP_FI_signerNotTrusted));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "x", NULL);
    r = exchange(f, m, "auto1", "wrong", PKIE_CMP_MAC_PBMAC1, &raw);
    assert_true(error_bits(r) & (1u << PKIE_CMP_FI_badMessageCheck));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);

    /* a broken POPO is refused per request */
    m = cert_request(PKIE_CMP_BODY_IR, 2, f->key, "pop", NULL);
    struct pkie_crmf_popo *popo = &m->body.u.certReqs.msgs[1].popo;
    uint8_t *sig = pkie_cmp_alloc(m, popo->signature.len);
    memcpy(sig, popo->signature.p, popo->signature.len);
    sig[popo->signature.len - 1] ^= 0x55;
    popo->signature.p = sig;
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_ACCEPTED);
    assert_int_equal(r->body.u.certRep.response[1].status.status, PKIE_CMP_REJECTION);
    assert_true(r->body.u.certRep.response[1].status.failInfo & (1u << PKIE_CMP_FI_badPOP));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);

    /* a kur with a MAC is refused (it must be signed with the old key) */
    m = cert_request(PKIE_CMP_BODY_KUR, 1, f->key, "k", NULL);
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_true(error_bits(r) & (1u << PKIE_CMP_FI_wrongIntegrity));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
}

static void test_manual_poll(void **state)
{
    struct fx *f = *state;
    const uint8_t tid[16] = {0x22, 9};
    uint8_t *raw = NULL;
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "wait", tid);
    struct pkie_cmp_msg *r = exchange(f, m, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_WAITING);
    struct pkie_cmp_msg *p = cert_request(PKIE_CMP_BODY_POLLREQ, 0, f->key, "", tid);
    p->body.u.pollReq.certReqId = pkie_cmp_alloc(p, sizeof(int64_t));
    p->body.u.pollReq.count = 1;
    set_recip(p, r); /* the pollReq answers our ip */
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    /* the same transactionID cannot start another request (fresh senderNonce) */
    m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "wait", tid);
    r = exchange(f, m, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_true(error_bits(r) & (1u << PKIE_CMP_FI_transactionIdInUse));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);

    r = exchange(f, p, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_POLLREP);
    assert_true(r->body.u.pollRep.entries[0].checkAfter >= 1);
    /* the next pollReq must carry the pollRep's nonce, not the ip's any more */
    fresh_nonce(p);
    uint8_t *raw2 = NULL;
    struct pkie_cmp_msg *r2 = exchange(f, p, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_int_equal(error_bits(r2), 1u << PKIE_CMP_FI_badRecipientNonce);
    pkie_cmp_msg_free(r2);
    free(raw2);
    set_recip(p, r);
    pkie_cmp_msg_free(r);
    free(raw);
    /* another client cannot poll this transaction */
    fresh_nonce(p);
    r = exchange(f, p, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_true(error_bits(r) & (1u << PKIE_CMP_FI_notAuthorized));
    pkie_cmp_msg_free(r);
    free(raw);

    struct pkie_ca_tx t;
    struct pkie_ca_store *s = pkie_ca_server_store(f->srv);
    assert_int_equal(pkie_ca_store_tx_get(s, 0, tid, 16, &t), 0);
    assert_int_equal(t.state, PKIE_CA_TX_WAITING);
    assert_int_equal(
        pkie_ca_store_tx_set_state(s, t.id, PKIE_CA_TX_WAITING, PKIE_CA_TX_APPROVED, NULL), 0);
    pkie_ca_tx_clear(&t);
    fresh_nonce(p);
    r = exchange(f, p, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_ACCEPTED);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(p);
    free(raw);
}

static int itav_is(const struct pkie_cmp_itav *it, const char *oid)
{
    uint8_t o[32];
    size_t n = 0;
    pkie_der_oid_from_text(oid, o, sizeof(o), &n);
    return pkie_der_oid_equal(it->type.p, it->type.len, o, n);
}

static void test_genm(void **state)
{
    struct fx *f = *state;
    uint8_t *raw = NULL;
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_GENM, 0, f->key, "", NULL);
    const char *ask[] = {"1.3.6.1.5.5.7.4.17", "1.3.6.1.5.5.7.4.20", "1.3.6.1.5.5.7.4.19",
                         "1.3.6.1.5.5.7.4.2",  "1.3.6.1.5.5.7.4.22", "1.2.3.4"};
    const char *want[] = {"1.3.6.1.5.5.7.4.17", "1.3.6.1.5.5.7.4.18", "1.3.6.1.5.5.7.4.19",
                          "1.3.6.1.5.5.7.4.2", "1.3.6.1.5.5.7.4.23"};
    struct pkie_cmp_itavs *g = &m->body.u.genm;
    g->itav = pkie_cmp_alloc_array(m, 6, sizeof(*g->itav));
    g->count = 6;
    for (size_t i = 0; i < 6; i++) {
        uint8_t o[32];
        size_t n = 0;
        pkie_der_oid_from_text(ask[i], o, sizeof(o), &n);
        pkie_cmp_dup(m, &g->itav[i].type, o, n);
    }
    struct pkie_cmp_msg *r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_GENP);
    assert_int_equal(r->body.u.genm.count, 5); /* the unknown infoType is not answered */
    for (size_t i = 0; i < 5; i++)
        assert_true(itav_is(&r->body.u.genm.itav[i], want[i]));
    assert_null(r->body.u.genm.itav[1].value.p); /* no root CA update */
    assert_non_null(r->body.u.genm.itav[0].value.p);
    assert_non_null(r->body.u.genm.itav[4].value.p);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
}

/* A replayed ir (same bytes) is refused with badSenderNonce, protected, and issues nothing. */
static void test_replay_refused(void **state)
{
    struct fx *f = *state;
    struct pkie_ca_store *s = pkie_ca_server_store(f->srv);
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "replay", NULL);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    uint8_t *der = NULL, *raw = NULL;
    size_t len = 0;
    int64_t n0 = 0, n1 = 0;
    encode_mac(m, "auto1", &der, &len);
    struct pkie_cmp_msg *r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_ACCEPTED);
    pkie_cmp_msg_free(r);
    free(raw);
    assert_int_equal(pkie_ca_store_cert_count(s, &n0), 0);
    r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(error_bits(r), 1u << PKIE_CMP_FI_badSenderNonce);
    assert_int_equal(pkie_cmp_verify_mac(r, (const uint8_t *)"secret", 6, NULL), 0);
    pkie_cmp_msg_free(r);
    free(raw);
    assert_int_equal(pkie_ca_store_cert_count(s, &n1), 0);
    assert_int_equal(n1, n0);
    /* the same request with a fresh nonce and a new transactionID is served */
    fresh_nonce(m);
    const uint8_t tid[16] = {0x33, 1};
    assert_int_equal(pkie_cmp_dup(m, &m->header.transactionID, tid, sizeof(tid)), 0);
    free(der);
    encode_mac(m, "auto1", &der, &len);
    r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    pkie_cmp_msg_free(r);
    free(raw);
    free(der);
    pkie_cmp_msg_free(m);
}

/* A new ir reusing the transactionID of a finished implicit-confirm transaction
 * (no transaction row) gets transactionIdInUse. */
static void test_tid_reuse(void **state)
{
    struct fx *f = *state;
    const uint8_t tid[16] = {0x44, 2};
    uint8_t *raw = NULL;
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "tid", tid);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    struct pkie_cmp_msg *r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    m = cert_request(PKIE_CMP_BODY_CR, 1, f->key, "tid", tid);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(error_bits(r), 1u << PKIE_CMP_FI_transactionIdInUse);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    /* a genm with that transactionID does not open a transaction: served */
    m = cert_request(PKIE_CMP_BODY_GENM, 0, f->key, "", tid);
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_GENP);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
}

/* The remembered nonces survive a restart of the server (and its store). */
static void test_replay_after_restart(void **state)
{
    struct fx *f = *state;
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "restart", NULL);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    uint8_t *der = NULL, *raw = NULL;
    size_t len = 0;
    encode_mac(m, "auto1", &der, &len);
    struct pkie_cmp_msg *r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    pkie_cmp_msg_free(r);
    free(raw);
    pkie_ca_server_close(f->srv);
    f->srv = NULL;
    struct pkie_ca_server_params sp = {.dir = f->cadir, .pass = PASS};
    sp.db = ca_test_db(f->cadir, 0);
    assert_int_equal(pkie_ca_server_open(&sp, &f->srv), 0);
    int n = -1;
    assert_int_equal(pkie_ca_server_expire(f->srv, &n), 0); /* purge keeps recent nonces */
    r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(error_bits(r), 1u << PKIE_CMP_FI_badSenderNonce);
    pkie_cmp_msg_free(r);
    free(raw);
    free(der);
    pkie_cmp_msg_free(m);
}

/* Store level: replay, transactionID reuse, bounds, purge by age. */
static void test_nonce_store(void **state)
{
    struct fx *f = *state;
    struct pkie_ca_store *s = pkie_ca_server_store(f->srv);
    const uint8_t n1[16] = {1}, n2[16] = {2}, n3[16] = {3}, n4[16] = {4}, big[65] = {5};
    const uint8_t t1[4] = {9, 9, 9, 1}, t2[4] = {9, 9, 9, 2};
    int n = -1;
    assert_int_equal(pkie_ca_store_nonce_remember(s, n1, 16, t1, 4, 1, 1000), 0);
    assert_int_equal(pkie_ca_store_nonce_remember(s, n1, 16, t2, 4, 1, 1001),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    assert_int_equal(pkie_ca_store_nonce_remember(s, n2, 16, t1, 4, 1, 1002),
                     PKIE_ERR_CMP_TID_IN_USE);
    /* the refused request's nonce is kept; a request within the transaction is fine */
    assert_int_equal(pkie_ca_store_nonce_remember(s, n2, 16, t1, 4, 0, 1003),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    assert_int_equal(pkie_ca_store_nonce_remember(s, n4, 16, t1, 4, 0, 1003), 0);
    assert_int_equal(pkie_ca_store_nonce_remember(s, NULL, 0, t2, 4, 0, 1004),
                     PKIE_ERR_CMP_SENDER_NONCE);
    assert_int_equal(pkie_ca_store_nonce_remember(s, big, sizeof(big), t2, 4, 0, 1004),
                     PKIE_ERR_CMP_SENDER_NONCE);
    assert_int_equal(pkie_ca_store_nonce_remember(s, n3, 16, NULL, 0, 0, 5000), 0);
    assert_int_equal(pkie_ca_store_nonce_purge(s, 2000, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(pkie_ca_store_nonce_remember(s, n1, 16, t1, 4, 1, 6000), 0);
    assert_int_equal(pkie_ca_store_nonce_remember(s, n3, 16, t2, 4, 0, 6001),
                     PKIE_ERR_CMP_NONCE_REPLAY);
}

struct nonce_job {
    struct pkie_ca_store *s;
    uint8_t nonce[16];
    int rc;
};

static void *nonce_thread(void *arg)
{
    struct nonce_job *j = arg;
    j->rc = pkie_ca_store_nonce_remember(j->s, j->nonce, 16, j->nonce, 16, 1, pkie_ca_now());
    return NULL;
}

/* Concurrent nonces share group commits: 16 distinct ones are all kept, and
 * of 4 threads sending the same nonce at once exactly one gets through. */
static void test_nonce_concurrent(void **state)
{
    struct fx *f = *state;
    struct nonce_job jobs[20];
    pthread_t th[20];
    int ok = 0, replay = 0;
    for (int i = 0; i < 20; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].s = pkie_ca_server_store(f->srv);
        jobs[i].nonce[0] = 0x77;
        jobs[i].nonce[1] = (uint8_t)(i < 16 ? i : 100);
        assert_int_equal(pthread_create(&th[i], NULL, nonce_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 20; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (i < 16)
            assert_int_equal(jobs[i].rc, 0);
        else if (jobs[i].rc == 0)
            ok++;
        else if (jobs[i].rc == PKIE_ERR_CMP_NONCE_REPLAY)
            replay++;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(replay, 3);
}

/* ---- central key generation, p10cr ids, MAC in kind, refusal reasons ------------------- */

/* The first statusString of an error answer or of the first CertResponse ("" if none). */
static const char *status_text(const struct pkie_cmp_msg *r)
{
    static char buf[300];
    const struct pkie_cmp_freetext *ft = r->body.type == PKIE_CMP_BODY_ERROR
                                             ? &r->body.u.error.pKIStatusInfo.statusString
                                             : &r->body.u.certRep.response[0].status.statusString;
    buf[0] = '\0';
    if (ft->count > 0)
        snprintf(buf, sizeof(buf), "%.*s", (int)ft->strs[0].len, (const char *)ft->strs[0].p);
    return buf;
}

/* A request asking the CA for the key: no publicKey, no POPO. */
static struct pkie_cmp_msg *keygen_request(struct fx *f, const char *cn)
{
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, cn, NULL);
    struct pkie_crmf_msg *cm = &m->body.u.certReqs.msgs[0];
    cm->certReq.certTemplate.present &= ~(unsigned)PKIE_CRMF_T_PUBLICKEY;
    cm->certReq.certTemplate.publicKey.p = NULL;
    memset(&cm->popo, 0, sizeof(cm->popo));
    return m;
}

static int file_has(const char *path, const uint8_t *needle, size_t n)
{
    size_t len = 0;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return 0;
    uint8_t *buf = malloc(64u << 20);
    assert_non_null(buf);
    len = fread(buf, 1, 64u << 20, fp);
    fclose(fp);
    int found = len >= n && memmem(buf, len, needle, n) != NULL;
    free(buf);
    return found;
}

/* As file_has, for @p needle written as lower-case hex (pg_dump's bytea). */
static int file_has_hex(const char *path, const void *needle, size_t n)
{
    char *hex = malloc(2 * n + 1);
    assert_non_null(hex);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)needle)[i]);
    int found = file_has(path, (const uint8_t *)hex, 2 * n);
    free(hex);
    return found;
}

static void test_central_keygen(void **state)
{
    struct fx *f = *state;
    struct pkie_ca_store *s = pkie_ca_server_store(f->srv);
    uint8_t *raw = NULL;
    /* not granted (the default): refused with its reason */
    struct pkie_cmp_msg *m = keygen_request(f, "ckg");
    struct pkie_cmp_msg *r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_REJECTION);
    assert_int_equal(r->body.u.certRep.response[0].status.failInfo,
                     1u << PKIE_CMP_FI_notAuthorized);
    assert_non_null(strstr(status_text(r), "not granted"));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);

    assert_int_equal(pkie_ca_store_keygen_set(s, "auto1", 1), 0);
    m = keygen_request(f, "ckg");
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBMAC1, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    const struct pkie_cmp_certresp *cr = &r->body.u.certRep.response[0];
    assert_int_equal(cr->status.status, PKIE_CMP_ACCEPTED);
    assert_non_null(cr->certifiedKeyPair.privateKey.p);
    const unsigned char *p = cr->certifiedKeyPair.certOrEncCert.p;
    X509 *x = d2i_X509(NULL, &p, (long)cr->certifiedKeyPair.certOrEncCert.len);
    X509 *root = NULL;
    assert_int_equal(pkie_ca_store_get_ca(s, PKIE_CA_ROOT, NULL, &root, NULL), 0);
    X509_STORE *ts = X509_STORE_new();
    X509_STORE_add_cert(ts, root);
    struct pkie_cmp_envkey_recipient by = {NULL, NULL, (const uint8_t *)"secret", 6};
    /* the KGA's issuer comes with the answer's extraCerts */
    STACK_OF(X509) *extra = sk_X509_new_null();
    for (size_t i = 0; i < r->extraCerts_count; i++) {
        const unsigned char *q = r->extraCerts[i].p;
        sk_X509_push(extra, d2i_X509(NULL, &q, (long)r->extraCerts[i].len));
    }
    struct pkie_cmp_envkey_trust trust = {ts, extra, NULL};
    EVP_PKEY *key = NULL;
    assert_int_equal(pkie_cmp_envkey_open(cr->certifiedKeyPair.privateKey.p,
                                          cr->certifiedKeyPair.privateKey.len, &by, &trust, &key),
                     0);
    assert_int_equal(EVP_PKEY_eq(key, X509_get0_pubkey(x)), 1);
    assert_int_equal(EVP_PKEY_get_bits(key), 256); /* the profile's default: P-256 */
    /* the private key is in no file of the CA directory: neither as PKCS#8 nor its scalar */
    unsigned char *p8 = NULL;
    int p8len = i2d_PrivateKey(key, &p8);
    BIGNUM *d = NULL;
    uint8_t scalar[32];
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    assert_int_equal(BN_bn2binpad(d, scalar, sizeof(scalar)), 32);
    unsigned char *xder = NULL;
    int xlen = i2d_X509(x, &xder);
    char dump[700];
    snprintf(dump, sizeof(dump), "%s/pg.dump", f->cadir);
    if (ca_test_pg_dump(f->cadir, dump)) {
        /* PostgreSQL: every row of the database, bytea as hex */
        assert_false(file_has_hex(dump, p8, (size_t)p8len));
        assert_false(file_has_hex(dump, scalar, sizeof(scalar)));
        assert_true(file_has_hex(dump, xder, (size_t)xlen));
    } else {
        const char *files[] = {"ca.db", "ca.db-wal", "ca.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            char path[700];
            snprintf(path, sizeof(path), "%s/%s", f->cadir, files[i]);
            assert_false(file_has(path, p8, (size_t)p8len));
            assert_false(file_has(path, scalar, sizeof(scalar)));
        }
        /* ... while the certificate is there (the search does find what was written) */
        char db[700], wal[700];
        snprintf(db, sizeof(db), "%s/ca.db", f->cadir);
        snprintf(wal, sizeof(wal), "%s/ca.db-wal", f->cadir);
        assert_true(file_has(db, xder, (size_t)xlen) || file_has(wal, xder, (size_t)xlen));
    }
    OPENSSL_free(xder);
    OPENSSL_clear_free(p8, (size_t)p8len);
    BN_clear_free(d);
    EVP_PKEY_free(key);
    sk_X509_pop_free(extra, X509_free);
    X509_STORE_free(ts);
    X509_free(root);
    X509_free(x);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);

    /* POPO for a key the CA is asked to generate: badPOP */
    m = keygen_request(f, "ckgpop");
    m->body.u.certReqs.msgs[0].popo.type = PKIE_CRMF_POPO_RAVERIFIED;
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.u.certRep.response[0].status.failInfo, 1u << PKIE_CMP_FI_badPOP);
    assert_non_null(strstr(status_text(r), "proof-of-possession"));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    /* an algorithm the profile does not generate (Ed448, algorithm only): badAlg */
    m = keygen_request(f, "ckgalg");
    static const uint8_t ed448_only[] = {0x30, 0x05, 0x06, 0x03, 0x2b,
                                         0x65, 0x71, 0x03, 0x01, 0x00};
    struct pkie_crmf_template *t = &m->body.u.certReqs.msgs[0].certReq.certTemplate;
    assert_int_equal(pkie_cmp_dup(m, &t->publicKey, ed448_only, sizeof(ed448_only)), 0);
    t->present |= PKIE_CRMF_T_PUBLICKEY;
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.u.certRep.response[0].status.failInfo, 1u << PKIE_CMP_FI_badAlg);
    assert_non_null(strstr(status_text(r), "1.3.101.113"));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
}

/* A p10cr for @p key: answered with certReqId -1; certConf with @p conf_id accepted. */
static void p10cr_confirm(struct fx *f, const char *cn, int64_t conf_id, uint8_t tid0)
{
    const uint8_t tid[16] = {0x77, tid0};
    X509_REQ *req = X509_REQ_new();
    X509_NAME *nm = pkie_ca_name_parse(cn);
    X509_REQ_set_subject_name(req, nm);
    X509_REQ_set_pubkey(req, f->key);
    assert_true(X509_REQ_sign(req, f->key, EVP_sha256()) > 0);
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_GENM, 0, f->key, "", tid);
    m->body.type = PKIE_CMP_BODY_P10CR;
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(req, &der);
    assert_int_equal(pkie_cmp_dup(m, &m->body.raw, der, (size_t)len), 0);
    OPENSSL_free(der);
    uint8_t *raw = NULL, *raw2 = NULL;
    struct pkie_cmp_msg *r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_CP);
    const struct pkie_cmp_certresp *cr = &r->body.u.certRep.response[0];
    assert_int_equal(cr->certReqId, -1);
    const unsigned char *p = cr->certifiedKeyPair.certOrEncCert.p;
    X509 *x = d2i_X509(NULL, &p, (long)cr->certifiedKeyPair.certOrEncCert.len);
    struct pkie_cmp_msg *cc = cert_request(PKIE_CMP_BODY_CERTCONF, 0, f->key, "", tid);
    struct pkie_cmp_certconf *conf = &cc->body.u.certConf;
    conf->status = pkie_cmp_alloc_array(cc, 1, sizeof(*conf->status));
    conf->count = 1;
    ASN1_OCTET_STRING *h = X509_digest_sig(x, NULL, NULL);
    pkie_cmp_dup(cc, &conf->status[0].certHash, ASN1_STRING_get0_data(h),
                 (size_t)ASN1_STRING_length(h));
    conf->status[0].certReqId = conf_id;
    set_recip(cc, r);
    struct pkie_cmp_msg *r2 = exchange(f, cc, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_int_equal(r2->body.type, PKIE_CMP_BODY_PKICONF);
    ASN1_OCTET_STRING_free(h);
    X509_free(x);
    X509_NAME_free(nm);
    X509_REQ_free(req);
    pkie_cmp_msg_free(r2);
    pkie_cmp_msg_free(cc);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    free(raw2);
}

static void test_p10cr_cert_req_id(void **state)
{
    p10cr_confirm(*state, "/CN=p10a", -1, 1); /* RFC 9810, OpenSSL 3.2 and later */
    p10cr_confirm(*state, "/CN=p10b", 0, 2);  /* older clients */
}

/* The answer's MAC parameters are the request's. */
static void mac_in_kind(struct fx *f, const struct pkie_cmp_mac_params *mp)
{
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_GENM, 0, f->key, "", NULL);
    struct pkie_cmp_bytes kid = {(const uint8_t *)"auto1", 5};
    assert_int_equal(pkie_cmp_protect_mac(m, (const uint8_t *)"secret", 6, mp, &kid), 0);
    uint8_t *der = NULL, *raw = NULL;
    size_t len = 0;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    struct pkie_cmp_msg *r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_GENP);
    struct pkie_cmp_mac_params got;
    assert_int_equal(pkie_cmp_mac_params_of(r, &got), 0);
    assert_int_equal(got.alg, mp->alg);
    assert_int_equal(got.iterationCount, mp->iterationCount);
    assert_string_equal(got.mac, mp->mac);
    if (mp->alg == PKIE_CMP_MAC_PBM)
        assert_string_equal(got.owf, mp->owf);
    else
        assert_string_equal(got.prf, mp->prf);
    assert_int_equal(pkie_cmp_verify_mac(r, (const uint8_t *)"secret", 6, NULL), 0);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(der);
    free(raw);
}

static void test_mac_answer_in_kind(void **state)
{
    struct pkie_cmp_mac_params mp;
    pkie_cmp_mac_params_default(&mp, PKIE_CMP_MAC_PBM);
    mp.owf = "SHA512";
    mp.mac = "SHA256";
    mp.iterationCount = 1234;
    mac_in_kind(*state, &mp);
    pkie_cmp_mac_params_default(&mp, PKIE_CMP_MAC_PBMAC1);
    mp.prf = "SHA384";
    mp.mac = "SHA512";
    mp.iterationCount = 2000;
    mp.key_len = 64;
    mac_in_kind(*state, &mp);
}

/* A certificate for @p key from the CA's issuer (NULL: self-signed), valid from @p from to
 * @p to seconds from now. */
static X509 *forge(struct fx *f, EVP_PKEY *key, const char *cn, int signed_by_ca, long from,
                   long to)
{
    X509 *iss = NULL;
    EVP_PKEY *ikey = NULL;
    if (signed_by_ca)
        assert_int_equal(
            pkie_ca_store_get_ca(pkie_ca_server_store(f->srv), PKIE_CA_ISSUER, PASS, &iss, &ikey),
            0);
    X509 *x = X509_new();
    X509_NAME *nm = pkie_ca_name_parse(cn);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 424242 + from);
    X509_set_subject_name(x, nm);
    X509_set_issuer_name(x, iss != NULL ? X509_get_subject_name(iss) : nm);
    X509_set_pubkey(x, key);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, iss != NULL ? iss : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) > 0);
    X509_NAME_free(nm);
    X509_free(iss);
    EVP_PKEY_free(ikey);
    return x;
}

/* A cr signed with @p cert / @p f->key: the answer's statusString must contain @p why. */
static void signed_refused(struct fx *f, X509 *cert, const char *why)
{
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_CR, 1, f->key, "sig", NULL);
    assert_int_equal(pkie_cmp_gn_from_name(m, X509_get_subject_name(cert), &m->header.sender), 0);
    assert_int_equal(pkie_cmp_protect_sig(m, f->key, cert, NULL, NULL), 0);
    uint8_t *der = NULL, *raw = NULL;
    size_t len = 0;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    struct pkie_cmp_msg *r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(error_bits(r), 1u << PKIE_CMP_FI_signerNotTrusted);
    if (strstr(status_text(r), why) == NULL)
        fail_msg("statusString '%s' lacks '%s'", status_text(r), why);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(der);
    free(raw);
}

static void test_refusal_reasons(void **state)
{
    struct fx *f = *state;
    struct pkie_ca_store *s = pkie_ca_server_store(f->srv);
    /* issued by this CA and in its database, then revoked */
    X509 *ok = forge(f, f->key, "/CN=revoked", 1, -60, 86400);
    assert_int_equal(pkie_ca_store_cert_insert(s, ok, PKIE_CA_CERT_CONFIRMED, "auto1", 0, 0, 0), 0);
    char hex[48];
    pkie_ca_serial_hex(X509_get0_serialNumber(ok), hex, sizeof(hex));
    assert_int_equal(pkie_ca_store_cert_set_status(s, hex, PKIE_CA_CERT_REVOKED, 1), 0);
    signed_refused(f, ok, "is revoked");
    /* expired */
    X509 *old = forge(f, f->key, "/CN=expired", 1, -7200, -3600);
    assert_int_equal(pkie_ca_store_cert_insert(s, old, PKIE_CA_CERT_CONFIRMED, "auto1", 0, 0, 0),
                     0);
    signed_refused(f, old, "expired");
    /* signed by this CA's key but never issued (not in the database) */
    X509 *ghost = forge(f, f->key, "/CN=ghost", 1, -30, 86400);
    signed_refused(f, ghost, "not issued by this CA");
    /* from another CA (self-signed) */
    X509 *other = forge(f, f->key, "/CN=other", 0, -60, 86400);
    signed_refused(f, other, "signer chain");
    X509_free(ok);
    X509_free(old);
    X509_free(ghost);
    X509_free(other);

    /* MAC: unknown reference, wrong secret */
    uint8_t *raw = NULL;
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "x", NULL);
    struct pkie_cmp_msg *r = exchange(f, m, "nobody", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_non_null(strstr(status_text(r), "unknown reference 'nobody'"));
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "x", NULL);
    r = exchange(f, m, "auto1", "wrong", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(error_bits(r), 1u << PKIE_CMP_FI_badMessageCheck);
    assert_true(strlen(status_text(r)) > 0 && strstr(status_text(r), "MAC") != NULL);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
}

/* Two servers ("nodes") on one store, as `pkie ca serve` nodes on one
 * PostgreSQL database (and on one SQLite file): a transaction continues on the
 * other node, replays and transactionID reuse are refused across nodes, an
 * approval and a revocation at one node are seen at once by the other. */
static void test_two_nodes(void **state)
{
    struct fx *f = *state;
    struct fx b = *f;
    struct pkie_ca_server_params sp = {.dir = f->cadir, .pass = PASS};
    sp.db = ca_test_db(f->cadir, 0);
    assert_int_equal(pkie_ca_server_open(&sp, &b.srv), 0);
    uint8_t *raw = NULL, *raw2 = NULL;

    /* ir at A waits for approval; pollReq at B; approval through B's store; ip at A */
    const uint8_t t1[16] = {0x71, 1};
    struct pkie_cmp_msg *m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "nodes", t1);
    struct pkie_cmp_msg *r = exchange(f, m, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_WAITING);
    struct pkie_cmp_msg *p = cert_request(PKIE_CMP_BODY_POLLREQ, 0, f->key, "", t1);
    p->body.u.pollReq.certReqId = pkie_cmp_alloc(p, sizeof(int64_t));
    p->body.u.pollReq.count = 1;
    set_recip(p, r);
    struct pkie_cmp_msg *r2 = exchange(&b, p, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_int_equal(r2->body.type, PKIE_CMP_BODY_POLLREP);
    struct pkie_ca_tx t;
    struct pkie_ca_store *sb = pkie_ca_server_store(b.srv);
    assert_int_equal(pkie_ca_store_tx_get(sb, 0, t1, 16, &t), 0);
    assert_int_equal(
        pkie_ca_store_tx_set_state(sb, t.id, PKIE_CA_TX_WAITING, PKIE_CA_TX_APPROVED, NULL), 0);
    pkie_ca_tx_clear(&t);
    fresh_nonce(p);
    set_recip(p, r2);
    pkie_cmp_msg_free(r);
    free(raw);
    r = exchange(f, p, "manual1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(r->body.u.certRep.response[0].status.status, PKIE_CMP_ACCEPTED);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(r2);
    pkie_cmp_msg_free(p);
    pkie_cmp_msg_free(m);
    free(raw);
    free(raw2);

    /* cr at A, certConf at B */
    const uint8_t t2[16] = {0x72, 2};
    m = cert_request(PKIE_CMP_BODY_CR, 1, f->key, "nodes-conf", t2);
    r = exchange(f, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_CP);
    const struct pkie_cmp_certresp *cr = &r->body.u.certRep.response[0];
    const unsigned char *q = cr->certifiedKeyPair.certOrEncCert.p;
    X509 *x = d2i_X509(NULL, &q, (long)cr->certifiedKeyPair.certOrEncCert.len);
    assert_non_null(x);
    char hex[48];
    pkie_ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex));
    struct pkie_cmp_msg *cc = cert_request(PKIE_CMP_BODY_CERTCONF, 0, f->key, "", t2);
    struct pkie_cmp_certconf *conf = &cc->body.u.certConf;
    conf->status = pkie_cmp_alloc_array(cc, 1, sizeof(*conf->status));
    conf->count = 1;
    ASN1_OCTET_STRING *h = X509_digest_sig(x, NULL, NULL);
    pkie_cmp_dup(cc, &conf->status[0].certHash, ASN1_STRING_get0_data(h),
                 (size_t)ASN1_STRING_length(h));
    set_recip(cc, r);
    r2 = exchange(&b, cc, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_int_equal(r2->body.type, PKIE_CMP_BODY_PKICONF);
    struct pkie_ca_cert rec;
    assert_int_equal(pkie_ca_store_cert_get(pkie_ca_server_store(f->srv), hex, 0, &rec), 0);
    assert_int_equal(rec.status, PKIE_CA_CERT_CONFIRMED);
    ASN1_OCTET_STRING_free(h);
    pkie_cmp_msg_free(r2);
    pkie_cmp_msg_free(cc);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    free(raw2);

    /* a request replayed at the other node; a transactionID reused there */
    const uint8_t t3[16] = {0x73, 3};
    m = cert_request(PKIE_CMP_BODY_IR, 1, f->key, "nodes-replay", t3);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    uint8_t *der = NULL;
    size_t len = 0;
    encode_mac(m, "auto1", &der, &len);
    r = send_raw(f->srv, der, len, &raw);
    assert_int_equal(r->body.type, PKIE_CMP_BODY_IP);
    r2 = send_raw(b.srv, der, len, &raw2);
    assert_int_equal(error_bits(r2), 1u << PKIE_CMP_FI_badSenderNonce);
    pkie_cmp_msg_free(r2);
    free(raw2);
    free(der);
    pkie_cmp_msg_free(m);
    m = cert_request(PKIE_CMP_BODY_CR, 1, f->key, "nodes-tid", t3);
    r2 = exchange(&b, m, "auto1", "secret", PKIE_CMP_MAC_PBM, &raw2);
    assert_true(error_bits(r2) & (1u << PKIE_CMP_FI_transactionIdInUse));
    pkie_cmp_msg_free(r2);
    pkie_cmp_msg_free(r);
    pkie_cmp_msg_free(m);
    free(raw);
    free(raw2);

    /* a revocation at A is in the CRL B serves (B had one cached before) */
    uint8_t *crl = NULL;
    size_t crl_len = 0;
    assert_int_equal(pkie_ca_server_crl(b.srv, &crl, &crl_len), 0);
    free(crl);
    assert_int_equal(
        pkie_ca_store_cert_set_status(pkie_ca_server_store(f->srv), hex, PKIE_CA_CERT_REVOKED, 1),
        0);
    assert_int_equal(pkie_ca_server_crl(b.srv, &crl, &crl_len), 0);
    q = crl;
    X509_CRL *c = d2i_X509_CRL(NULL, &q, (long)crl_len);
    X509_REVOKED *rv = NULL;
    assert_int_equal(X509_CRL_get0_by_serial(c, &rv, X509_get0_serialNumber(x)), 1);
    X509_CRL_free(c);
    free(crl);
    X509_free(x);
    pkie_ca_server_close(b.srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pbmac1_multi_request_implicit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certconf_reject_revokes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manual_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_genm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tid_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_central_keygen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_p10cr_cert_req_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mac_answer_in_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_reasons, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
