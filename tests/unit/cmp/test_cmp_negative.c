/* Negative unit tests of the CMP message layer: truncated and mutated
 * messages, limits, malformed structures, and every validation failure
 * with its PKIFailureInfo bit. */
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
static X509 *eccert;
static X509_STORE *store;

static int setup(void **state)
{
    (void)state;
    eckey = tu_genkey("P-256");
    eccert = tu_selfsigned(eckey, "signer");
    store = X509_STORE_new();
    X509_STORE_add_cert(store, eccert);
    return eckey && eccert ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    X509_STORE_free(store);
    X509_free(eccert);
    EVP_PKEY_free(eckey);
    return 0;
}

/* A MAC-protected sample, encoded. */
static uint8_t *mac_sample(int type, size_t *len, struct pkie_cmp_msg **keep)
{
    struct pkie_cmp_msg *m = tb_sample(type, eckey);
    struct pkie_cmp_mac_params p;
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    p.iterationCount = 100;
    assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
    uint8_t *der;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, len), 0);
    if (keep)
        *keep = m;
    else
        tb_free(m);
    return der;
}

static struct pkie_cmp_vctx mac_ctx(void)
{
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.secret = SECRET;
    v.secret_len = 6;
    v.max_skew = 300;
    return v;
}

static int decode_validate(const uint8_t *der, size_t len, struct pkie_cmp_vctx *v)
{
    struct pkie_cmp_msg *d;
    int r = pkie_cmp_msg_decode(der, len, NULL, &d);
    if (r != 0)
        return r;
    r = pkie_cmp_msg_validate(d, v);
    X509_free(v->signer);
    v->signer = NULL;
    pkie_cmp_msg_free(d);
    return r;
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    int types[] = {PKIE_CMP_BODY_IR, PKIE_CMP_BODY_IP, PKIE_CMP_BODY_RP, PKIE_CMP_BODY_NESTED};
    for (size_t t = 0; t < 4; t++) {
        size_t len;
        uint8_t *der = mac_sample(types[t], &len, NULL);
        for (size_t n = 0; n < len; n++) {
            /* exact-size copy so ASan sees any over-read */
            uint8_t *cut = malloc(n ? n : 1);
            memcpy(cut, der, n);
            struct pkie_cmp_msg *d = NULL;
            int r = pkie_cmp_msg_decode(cut, n, NULL, &d);
            if (r == 0)
                fail_msg("%s truncated to %zu of %zu bytes decoded", pkie_cmp_body_name(types[t]),
                         n, len);
            assert_null(d);
            free(cut);
        }
        /* and one byte too many */
        uint8_t *more = malloc(len + 1);
        memcpy(more, der, len);
        more[len] = 0;
        struct pkie_cmp_msg *d = NULL;
        assert_int_equal(pkie_cmp_msg_decode(more, len + 1, NULL, &d), PKIE_ERR_DER_TRAILING);
        free(more);
        free(der);
    }
}

static void test_every_bit_flip_detected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *der = mac_sample(PKIE_CMP_BODY_IR, &len, NULL);
    size_t decoded = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t *mut = malloc(len);
        memcpy(mut, der, len);
        mut[i] ^= (uint8_t)(1u << (i % 8));
        struct pkie_cmp_msg *d = NULL;
        if (pkie_cmp_msg_decode(mut, len, NULL, &d) == 0) {
            decoded++;
            /* what decodes re-encodes to the same bytes, and fails the MAC */
            uint8_t *re;
            size_t re_len;
            assert_int_equal(pkie_cmp_msg_encode(d, &re, &re_len), 0);
            assert_int_equal(re_len, len);
            assert_memory_equal(re, mut, len);
            free(re);
            struct pkie_cmp_vctx v = mac_ctx();
            v.max_skew = -1;
            int r = pkie_cmp_msg_validate(d, &v);
            if (r == 0)
                fail_msg("flip at byte %zu of %zu went unnoticed", i, len);
            pkie_cmp_msg_free(d);
        }
        free(mut);
    }
    assert_true(decoded > 0); /* some flips hit contents, not structure */
    free(der);
}

static void test_limits(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_GENM, NULL);
    struct pkie_cmp_itavs *g = &m->body.u.genm;
    g->itav = pkie_cmp_alloc_array(m, 50, sizeof(*g->itav));
    g->count = 50;
    static const uint8_t oid[] = {0x2A, 0x03};
    for (size_t i = 0; i < 50; i++)
        pkie_cmp_dup(m, &g->itav[i].type, oid, sizeof(oid));
    uint8_t *der;
    size_t len;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    struct pkie_cmp_decode_opts o;
    memset(&o, 0, sizeof(o));
    o.limits.max_items = 49;
    struct pkie_cmp_msg *d = NULL;
    assert_int_equal(pkie_cmp_msg_decode(der, len, &o, &d), PKIE_ERR_CMP_COUNT);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_COUNT), PKIE_CMP_FI_badDataFormat);
    o.limits.max_items = 50;
    assert_int_equal(pkie_cmp_msg_decode(der, len, &o, &d), 0);
    pkie_cmp_msg_free(d);
    o.limits.max_msg_len = len - 1;
    assert_int_equal(pkie_cmp_msg_decode(der, len, &o, &d), PKIE_ERR_CMP_TOO_LARGE);
    free(der);
    tb_free(m);
}

/* Densest legal content: 1024 minimal RevDetails ("30 02 30 00") must decode
 * within the arena bound (a few bytes of input per large struct). */
static void test_dense_items_fit_arena(void **state)
{
    (void)state;
    static const uint8_t hdr[] = {0x30, 0x0B, 0x02, 0x01, 0x02, 0xA4, 0x02,
                                  0x30, 0x00, 0xA4, 0x02, 0x30, 0x00};
    size_t n = 1024, inner = 4 * n, len = 0;
    uint8_t *der = malloc(inner + 64);
    der[len++] = 0x30;
    der[len++] = 0x82;
    size_t total = sizeof(hdr) + 4 + 4 + inner;
    der[len++] = (uint8_t)(total >> 8);
    der[len++] = (uint8_t)total;
    memcpy(der + len, hdr, sizeof(hdr));
    len += sizeof(hdr);
    der[len++] = 0xAB; /* rr [11] */
    der[len++] = 0x82;
    der[len++] = (uint8_t)((inner + 4) >> 8);
    der[len++] = (uint8_t)(inner + 4);
    der[len++] = 0x30;
    der[len++] = 0x82;
    der[len++] = (uint8_t)(inner >> 8);
    der[len++] = (uint8_t)inner;
    for (size_t i = 0; i < n; i++) {
        der[len++] = 0x30;
        der[len++] = 0x02;
        der[len++] = 0x30;
        der[len++] = 0x00;
    }
    struct pkie_cmp_msg *d = NULL;
    int r = pkie_cmp_msg_decode(der, len, NULL, &d);
    if (r != 0)
        fail_msg("dense rr: %s", pkie_err_last()->msg);
    assert_int_equal(d->body.u.rr.count, n);
    uint8_t *re;
    size_t re_len;
    assert_int_equal(pkie_cmp_msg_encode(d, &re, &re_len), 0);
    assert_int_equal(re_len, len);
    assert_memory_equal(re, der, len);
    free(re);
    pkie_cmp_msg_free(d);
    free(der);
}

static void test_nesting_limit(void **state)
{
    (void)state;
    /* nested(nested(nested(genm))) */
    struct pkie_cmp_msg *levels[4];
    levels[0] = tb_sample(PKIE_CMP_BODY_GENM, NULL);
    for (int i = 1; i < 4; i++) {
        levels[i] = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
        levels[i]->body.type = PKIE_CMP_BODY_NESTED;
        levels[i]->body.u.nested.count = 1;
        levels[i]->body.u.nested.msgs = pkie_cmp_alloc_array(levels[i], 1, sizeof(void *));
        levels[i]->body.u.nested.msgs[0] = levels[i - 1];
    }
    uint8_t *der;
    size_t len;
    assert_int_equal(pkie_cmp_msg_encode(levels[3], &der, &len), 0);
    struct pkie_cmp_msg *d = NULL;
    assert_int_equal(pkie_cmp_msg_decode(der, len, NULL, &d), PKIE_ERR_CMP_NESTING);
    struct pkie_cmp_decode_opts o;
    memset(&o, 0, sizeof(o));
    o.limits.max_nesting = 3;
    assert_int_equal(pkie_cmp_msg_decode(der, len, &o, &d), 0);
    assert_int_equal(d->body.u.nested.msgs[0]->body.u.nested.msgs[0]->body.type,
                     PKIE_CMP_BODY_NESTED);
    pkie_cmp_msg_free(d);
    free(der);
    for (int i = 0; i < 4; i++)
        pkie_cmp_msg_free(levels[i]);
}

static void test_malformed_structures(void **state)
{
    (void)state;
    struct pkie_cmp_msg *d = NULL;
    /* PKIBody [27] */
    static const uint8_t hdr[] = {0x30, 0x0B, 0x02, 0x01, 0x02, 0xA4, 0x02,
                                  0x30, 0x00, 0xA4, 0x02, 0x30, 0x00};
    uint8_t msg[64];
    size_t n = 0;
    msg[n++] = 0x30;
    msg[n++] = (uint8_t)(sizeof(hdr) + 4);
    memcpy(msg + n, hdr, sizeof(hdr));
    n += sizeof(hdr);
    msg[n++] = 0xBB; /* [27] constructed */
    msg[n++] = 0x02;
    msg[n++] = 0x05;
    msg[n++] = 0x00;
    assert_int_equal(pkie_cmp_msg_decode(msg, n, NULL, &d), PKIE_ERR_CMP_BODY_TYPE);
    /* pkiconf [19] with a NULL: accepted */
    msg[n - 4] = 0xB3;
    assert_int_equal(pkie_cmp_msg_decode(msg, n, NULL, &d), 0);
    pkie_cmp_msg_free(d);
    /* ir [0] with an empty CertReqMessages */
    msg[n - 4] = 0xA0;
    msg[n - 2] = 0x30;
    assert_int_equal(pkie_cmp_msg_decode(msg, n, NULL, &d), PKIE_ERR_CMP_EMPTY_SEQ);
    /* sender that is not a GeneralName: [9] */
    msg[n - 4] = 0xB3;
    msg[n - 2] = 0x05;
    msg[7] = 0xA9;
    assert_int_equal(pkie_cmp_msg_decode(msg, n, NULL, &d), PKIE_ERR_CMP_CHOICE);
    msg[7] = 0xA4;
    /* bad POPO choice [4] */
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_CR, NULL);
    uint8_t *der;
    size_t len;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    size_t hits = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (der[i] == 0x80 && der[i + 1] == 0x00) { /* raVerified [0] NULL */
            der[i] = 0x84;
            hits++;
            assert_int_equal(pkie_cmp_msg_decode(der, len, NULL, &d), PKIE_ERR_CMP_CHOICE);
            der[i] = 0x80;
        }
    assert_true(hits >= 1);
    free(der);
    tb_free(m);
    /* a known ITAV with a wrong value type */
    m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
    m->header.generalInfo_count = 0;
    static const uint8_t notnull[] = {0x02, 0x01, 0x00};
    assert_int_equal(pkie_cmp_header_add_itav(m, "1.3.6.1.5.5.7.4.13", notnull, 3),
                     PKIE_ERR_CMP_ITAV);
    tb_free(m);
}

static void test_validation_failures(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m;
    size_t len;
    uint8_t *der;
    struct pkie_cmp_vctx v;
    struct pkie_cmp_mac_params p;
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    p.iterationCount = 100;

    /* pvno 1 and 4 */
    for (int pv = 1; pv <= 4; pv += 3) {
        m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
        m->header.pvno = pv;
        assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
        assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
        v = mac_ctx();
        assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_PVNO);
        free(der);
        tb_free(m);
    }
    /* wrong MAC */
    der = mac_sample(PKIE_CMP_BODY_CERTCONF, &len, NULL);
    v = mac_ctx();
    v.secret = (const uint8_t *)"sesamf";
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_MAC_MISMATCH);
    /* no secret / only a trust store / nothing */
    v.secret = NULL;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_NO_SECRET);
    v.trusted = store;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_WRONG_INTEGRITY);
    /* disallowed body */
    v = mac_ctx();
    v.allowed_bodies = PKIE_CMP_BODY_BIT(PKIE_CMP_BODY_PKICONF);
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_BODY_NOT_ALLOWED);
    v.allowed_bodies |= PKIE_CMP_BODY_BIT(PKIE_CMP_BODY_CERTCONF);
    assert_int_equal(decode_validate(der, len, &v), 0);
    free(der);
}

/* callbacks for the replay / transactionID tests */
static int nonce_cb(void *arg, const uint8_t *nonce, size_t len)
{
    return len == 16 && memcmp(arg, nonce, 16) == 0;
}

static int tid_cb(void *arg, const uint8_t *tid, size_t len)
{
    (void)arg;
    (void)tid;
    return len > 0;
}

static void test_replay_and_tid(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m;
    size_t len;
    uint8_t *der = mac_sample(PKIE_CMP_BODY_GENM, &len, &m);
    uint8_t nonce[16];
    memcpy(nonce, m->header.senderNonce.p, 16);
    struct pkie_cmp_vctx v = mac_ctx();
    v.nonce_seen = nonce_cb;
    v.cb_arg = nonce;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_NONCE_REPLAY);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_NONCE_REPLAY), PKIE_CMP_FI_badSenderNonce);
    nonce[0] ^= 1;
    assert_int_equal(decode_validate(der, len, &v), 0);
    v.tid_in_use = tid_cb;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_TID_IN_USE);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_TID_IN_USE),
                     PKIE_CMP_FI_transactionIdInUse);
    free(der);
    tb_free(m);

    /* missing transactionID, short senderNonce, missing messageTime */
    struct pkie_cmp_mac_params p;
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    p.iterationCount = 100;
    for (int c = 0; c < 4; c++) {
        m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
        int want;
        if (c == 0) {
            m->header.transactionID.p = NULL;
            want = PKIE_ERR_CMP_TID_MISSING;
        } else if (c == 3) {
            m->header.transactionID.len = 0; /* present but empty */
            want = PKIE_ERR_CMP_TID_MISSING;
        } else if (c == 1) {
            m->header.senderNonce.len = 8;
            want = PKIE_ERR_CMP_SENDER_NONCE;
        } else {
            m->header.has_messageTime = 0;
            want = PKIE_ERR_CMP_MSGTIME_MISSING;
        }
        assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
        assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
        v = mac_ctx();
        v.require_messageTime = 1;
        assert_int_equal(decode_validate(der, len, &v), want);
        /* required stays required when the skew is not checked */
        v.max_skew = -1;
        assert_int_equal(decode_validate(der, len, &v), want);
        free(der);
        tb_free(m);
    }
}

static void test_sender_checks(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m;
    size_t len;
    uint8_t *der = mac_sample(PKIE_CMP_BODY_GENP, &len, &m);
    struct pkie_cmp_vctx v = mac_ctx();
    X509_NAME *other = tb_name("somebody else");
    X509_NAME *sender = tb_name("sender");
    v.expected_sender = other;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SENDER_MISMATCH);
    v.expected_sender = sender;
    assert_int_equal(decode_validate(der, len, &v), 0);
    free(der);
    tb_free(m);
    /* sender as an rfc822Name where a directoryName is expected */
    m = tb_sample(PKIE_CMP_BODY_GENP, NULL);
    static const uint8_t mail[] = {0x81, 0x05, 'a', '@', 'b', '.', 'c'};
    pkie_cmp_dup(m, &m->header.sender, mail, sizeof(mail));
    struct pkie_cmp_mac_params p;
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SENDER_TYPE);
    free(der);
    tb_free(m);
    X509_NAME_free(other);
    X509_NAME_free(sender);
}

static uint8_t *sig_sample(int type, const char *sender_cn, const char *kid, size_t *len)
{
    struct pkie_cmp_msg *m = tb_sample(type, eckey);
    if (sender_cn != NULL) {
        X509_NAME *n = tb_name(sender_cn);
        pkie_cmp_gn_from_name(m, n, &m->header.sender);
        X509_NAME_free(n);
    } else {
        pkie_cmp_gn_from_name(m, NULL, &m->header.sender);
    }
    if (kid != NULL)
        pkie_cmp_dup(m, &m->header.senderKID, kid, strlen(kid));
    assert_int_equal(pkie_cmp_protect_sig(m, eckey, eccert, NULL, NULL), 0);
    uint8_t *der;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, len), 0);
    tb_free(m);
    return der;
}

static void test_signature_failures(void **state)
{
    (void)state;
    size_t len;
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.max_skew = 300;
    v.trusted = store;
    uint8_t *der = sig_sample(PKIE_CMP_BODY_IP, NULL, NULL, &len);
    assert_int_equal(decode_validate(der, len, &v), 0);
    /* no trust store, or a MAC-only receiver */
    v.trusted = NULL;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_NO_TRUST);
    v.secret = SECRET;
    v.secret_len = 6;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_WRONG_INTEGRITY);
    v.secret = NULL;
    /* a trust store that does not hold the signer */
    X509_STORE *other = tu_store("cmp/pki/other-root.crt");
    v.trusted = other;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    free(der);
    /* sender that is not the signer's subject */
    v.trusted = store;
    der = sig_sample(PKIE_CMP_BODY_IP, "impostor", NULL, &len);
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SENDER_MISMATCH);
    free(der);
    /* senderKID that is not the signer's SKID */
    der = sig_sample(PKIE_CMP_BODY_IP, NULL, "not-the-skid", &len);
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SENDERKID_MISMATCH);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_SENDERKID_MISMATCH),
                     PKIE_CMP_FI_badMessageCheck);
    free(der);
    /* no extraCerts and no matching certificate anywhere */
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
    pkie_cmp_gn_from_name(m, NULL, &m->header.sender);
    assert_int_equal(pkie_cmp_protect_sig(m, eckey, eccert, NULL, NULL), 0);
    m->extraCerts_count = 0;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    v.trusted = other;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SIGNER_NOT_FOUND);
    /* ... but the signer's certificate in the trust store itself is found */
    v.trusted = store;
    assert_int_equal(decode_validate(der, len, &v), 0);
    free(der);
    tb_free(m);
    X509_STORE_free(other);
    /* unknown protection algorithm */
    m = tb_sample(PKIE_CMP_BODY_PKICONF, NULL);
    static const uint8_t md5rsa[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                     0xF7, 0x0D, 0x01, 0x01, 0x04, 0x05, 0x00};
    pkie_cmp_dup(m, &m->header.protectionAlg, md5rsa, sizeof(md5rsa));
    pkie_cmp_dup(m, &m->protection, "xx", 2);
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_PROT_ALG);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_PROT_ALG), PKIE_CMP_FI_badAlg);
    free(der);
    tb_free(m);
}

/* An ECDSA signature that is not a DER ECDSA-Sig-Value makes OpenSSL's
 * EVP_DigestVerifyFinal return -1 (not 0): that must be a failure. */
static void test_unparsable_ecdsa_signature(void **state)
{
    (void)state;
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.max_skew = 300;
    v.trusted = store;
    static const uint8_t junk[][4] = {{'x', 'x'}, {0x30, 0x00}, {0x30, 0x02, 0x02, 0x00}};
    static const size_t junk_len[] = {2, 2, 4};
    for (size_t i = 0; i < 3; i++) {
        struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_IP, eckey);
        pkie_cmp_gn_from_name(m, NULL, &m->header.sender);
        assert_int_equal(pkie_cmp_protect_sig(m, eckey, eccert, NULL, NULL), 0);
        pkie_cmp_dup(m, &m->protection, junk[i], junk_len[i]);
        uint8_t *der;
        size_t len;
        assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
        assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_SIG_INVALID);
        free(der);
        tb_free(m);
    }
    /* the same through the POP check */
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_IR, eckey);
    static const uint8_t popjunk[] = {0x00, 'x', 'x'};
    assert_int_equal(pkie_crmf_popo_verify(&m->body.u.certReqs.msgs[0]), 0);
    pkie_cmp_dup(m, &m->body.u.certReqs.msgs[0].popo.signature, popjunk, sizeof(popjunk));
    assert_int_equal(pkie_crmf_popo_verify(&m->body.u.certReqs.msgs[0]), PKIE_ERR_CMP_POP);
    tb_free(m);
}

/* Give msgs[0] a POPOSigningKey with poposkInput {sender, publicKey of @p k}
 * signed by @p k (ECDSA with SHA-256). */
static void set_poposkinput(struct pkie_cmp_msg *m, EVP_PKEY *k)
{
    struct pkie_crmf_popo *p = &m->body.u.certReqs.msgs[0].popo;
    uint8_t in[512], *spki = NULL;
    int spki_len = i2d_PUBKEY(k, &spki);
    assert_true(spki_len > 0 && spki_len < 400);
    /* SEQUENCE { sender [0] rfc822Name "a@b.c", SubjectPublicKeyInfo } */
    static const uint8_t sender[] = {0xA0, 0x07, 0x81, 0x05, 'a', '@', 'b', '.', 'c'};
    size_t clen = sizeof(sender) + (size_t)spki_len, n = 0;
    in[n++] = 0x30;
    if (clen >= 0x80)
        in[n++] = 0x81;
    in[n++] = (uint8_t)clen;
    size_t hdr = n;
    memcpy(in + n, sender, sizeof(sender));
    n += sizeof(sender);
    memcpy(in + n, spki, (size_t)spki_len);
    n += (size_t)spki_len;
    static const uint8_t algid[] = {0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86,
                                    0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02};
    uint8_t sig[160];
    size_t sig_len = sizeof(sig) - 1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig + 1, &sig_len, in, n), 1);
    EVP_MD_CTX_free(ctx);
    sig[0] = 0;
    p->type = PKIE_CRMF_POPO_SIGNATURE;
    p->has_poposkInput = 1;
    p->poposkInput_sender = 1;
    assert_int_equal(pkie_cmp_dup(m, &p->poposkInput, in + hdr, n - hdr), 0);
    assert_int_equal(pkie_cmp_dup(m, &p->authInfo_sender, sender + 2, sizeof(sender) - 2), 0);
    assert_int_equal(pkie_cmp_dup(m, &p->poposkInput_publicKey, spki, (size_t)spki_len), 0);
    assert_int_equal(pkie_cmp_dup(m, &p->algorithmIdentifier, algid, sizeof(algid)), 0);
    assert_int_equal(pkie_cmp_dup(m, &p->signature, sig, sig_len + 1), 0);
    OPENSSL_free(spki);
}

/* RFC 4211 4.1: with poposkInput the template carries no publicKey (nor
 * subject). Otherwise a requester proves possession of its own key in
 * poposkInput and gets a certificate for any public key of the template. */
static void test_poposkinput_with_template_key(void **state)
{
    (void)state;
    EVP_PKEY *mine = tu_genkey("P-256");
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_IR, eckey);
    struct pkie_crmf_msg *rq = &m->body.u.certReqs.msgs[0];
    assert_true(rq->certReq.certTemplate.present & PKIE_CRMF_T_PUBLICKEY);
    set_poposkinput(m, mine);
    assert_int_equal(pkie_crmf_popo_verify(rq), PKIE_ERR_CMP_POP);
    /* a subject in the template is refused as well */
    rq->certReq.certTemplate.present &= ~(unsigned)PKIE_CRMF_T_PUBLICKEY;
    if (rq->certReq.certTemplate.present & PKIE_CRMF_T_SUBJECT) {
        assert_int_equal(pkie_crmf_popo_verify(rq), PKIE_ERR_CMP_POP);
        rq->certReq.certTemplate.present &= ~(unsigned)PKIE_CRMF_T_SUBJECT;
    }
    /* without them, the poposkInput signature is what is checked */
    assert_int_equal(pkie_crmf_popo_verify(rq), 0);
    uint8_t bad[160];
    memcpy(bad, rq->popo.signature.p, rq->popo.signature.len);
    bad[5] ^= 1;
    rq->popo.signature.p = bad;
    assert_int_equal(pkie_crmf_popo_verify(rq), PKIE_ERR_CMP_POP);
    tb_free(m);
    EVP_PKEY_free(mine);
}

static void test_unknown_critical_extension(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_CR, eckey);
    /* an extension 1.2.3.4 marked critical */
    static const uint8_t ext[] = {0x30, 0x0B, 0x06, 0x03, 0x2A, 0x03, 0x04,
                                  0x01, 0x01, 0xFF, 0x04, 0x01, 0x00};
    struct pkie_crmf_template *t = &m->body.u.certReqs.msgs[3].certReq.certTemplate;
    pkie_cmp_dup(m, &t->extensions, ext, sizeof(ext));
    struct pkie_cmp_mac_params p;
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    assert_int_equal(pkie_cmp_protect_mac(m, SECRET, 6, &p, NULL), 0);
    uint8_t *der;
    size_t len;
    assert_int_equal(pkie_cmp_msg_encode(m, &der, &len), 0);
    struct pkie_cmp_vctx v = mac_ctx();
    assert_int_equal(decode_validate(der, len, &v), 0);
    v.check_critical_ext = 1;
    assert_int_equal(decode_validate(der, len, &v), PKIE_ERR_CMP_CRITICAL_EXT);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_CRITICAL_EXT),
                     PKIE_CMP_FI_unacceptedExtension);
    free(der);
    tb_free(m);
}

static void test_pop_mutation(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m = tb_sample(PKIE_CMP_BODY_IR, eckey);
    assert_int_equal(pkie_crmf_popo_verify(&m->body.u.certReqs.msgs[0]), 0);
    /* change the template after signing */
    m->body.u.certReqs.msgs[0].certReq.certReqId = 99;
    assert_int_equal(pkie_crmf_popo_verify(&m->body.u.certReqs.msgs[0]), PKIE_ERR_CMP_POP);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_POP), PKIE_CMP_FI_badPOP);
    /* raVerified is not a signature */
    assert_int_equal(pkie_crmf_popo_verify(&m->body.u.certReqs.msgs[1]), PKIE_ERR_CMP_POP);
    tb_free(m);
}

static void test_failinfo_mapping(void **state)
{
    (void)state;
    static const struct {
        int err, bit;
    } map[] = {
        {PKIE_ERR_DER_TRUNCATED, PKIE_CMP_FI_badDataFormat},
        {PKIE_ERR_CMP_DECODE, PKIE_CMP_FI_badDataFormat},
        {PKIE_ERR_CMP_PROT_MISSING, PKIE_CMP_FI_badMessageCheck},
        {PKIE_ERR_CMP_MAC_MISMATCH, PKIE_CMP_FI_badMessageCheck},
        {PKIE_ERR_CMP_SIG_INVALID, PKIE_CMP_FI_badMessageCheck},
        {PKIE_ERR_CMP_WRONG_INTEGRITY, PKIE_CMP_FI_wrongIntegrity},
        {PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, PKIE_CMP_FI_signerNotTrusted},
        {PKIE_ERR_CMP_PVNO, PKIE_CMP_FI_unsupportedVersion},
        {PKIE_ERR_CMP_BODY_NOT_ALLOWED, PKIE_CMP_FI_badRequest},
        {PKIE_ERR_CMP_RECIPNONCE, PKIE_CMP_FI_badRecipientNonce},
        {PKIE_ERR_CMP_SENDER_NONCE, PKIE_CMP_FI_badSenderNonce},
        {PKIE_ERR_CMP_MSGTIME_SKEW, PKIE_CMP_FI_badTime},
        {PKIE_ERR_CMP_TID_IN_USE, PKIE_CMP_FI_transactionIdInUse},
        {PKIE_ERR_CMP_POP, PKIE_CMP_FI_badPOP},
        {PKIE_ERR_NOMEM, PKIE_CMP_FI_systemFailure},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        assert_int_equal(pkie_cmp_err_failinfo(map[i].err), map[i].bit);
    /* every message-layer error code (-200..-349) has a specific bit */
    for (int c = -200; c >= -349; c--) {
        if (strcmp(pkie_err_name(c), "UNKNOWN") == 0)
            continue;
        if (c == PKIE_ERR_CMP_ENCODE)
            continue;
        if (pkie_cmp_err_failinfo(c) == PKIE_CMP_FI_systemFailure)
            fail_msg("%s has no specific failure bit", pkie_err_name(c));
    }
    for (int b = 0; b <= PKIE_CMP_FI_MAX; b++)
        assert_non_null(pkie_cmp_failinfo_name(b));
    assert_null(pkie_cmp_failinfo_name(27));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_every_bit_flip_detected),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_dense_items_fit_arena),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_malformed_structures),
        cmocka_unit_test(test_validation_failures),
        cmocka_unit_test(test_replay_and_tid),
        cmocka_unit_test(test_sender_checks),
        cmocka_unit_test(test_signature_failures),
        cmocka_unit_test(test_unparsable_ecdsa_signature),
        cmocka_unit_test(test_poposkinput_with_template_key),
        cmocka_unit_test(test_unknown_critical_extension),
        cmocka_unit_test(test_pop_mutation),
        cmocka_unit_test(test_failinfo_mapping),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
