/* Unit tests over the messages captured from OpenSSL's CMP client and mock
 * server (tests/data/cmp, see its README.md): every file decodes, re-encodes
 * to the identical bytes and verifies (MAC with "test", signatures against
 * pki/root.crt); wrong secrets and foreign trust anchors fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp_test_util.h"
#include "pkie/cmp_msg.h"
#include "pkie/error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t SECRET[] = "test";

struct fixture {
    char name[256];
    uint8_t *der;
    size_t len;
};

static struct fixture *fixtures;
static size_t nfixtures;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct fixture *)a)->name, ((const struct fixture *)b)->name);
}

static int load(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", tu_data("cmp"));
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".der") != 0)
            continue;
        if (nfixtures == cap) {
            cap = cap ? cap * 2 : 64;
            fixtures = realloc(fixtures, cap * sizeof(*fixtures));
        }
        struct fixture *f = &fixtures[nfixtures];
        snprintf(f->name, sizeof(f->name), "%s", e->d_name);
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f->der = tu_read_file(path, &f->len);
        if (f->der == NULL)
            return -1;
        nfixtures++;
    }
    closedir(d);
    qsort(fixtures, nfixtures, sizeof(*fixtures), cmp_name);
    return nfixtures > 0 ? 0 : -1;
}

static int unload(void **state)
{
    (void)state;
    for (size_t i = 0; i < nfixtures; i++)
        free(fixtures[i].der);
    free(fixtures);
    return 0;
}

static struct pkie_cmp_msg *decode_ok(const struct fixture *f)
{
    struct pkie_cmp_msg *m = NULL;
    int r = pkie_cmp_msg_decode(f->der, f->len, NULL, &m);
    if (r != 0) {
        char buf[600];
        fprintf(stderr, "%s: %s\n", f->name, pkie_err_format(buf, sizeof(buf)));
    }
    assert_int_equal(r, 0);
    return m;
}

static void test_decode_reencode_identical(void **state)
{
    (void)state;
    assert_true(nfixtures >= 40);
    for (size_t i = 0; i < nfixtures; i++) {
        struct pkie_cmp_msg *m = decode_ok(&fixtures[i]);
        uint8_t *out;
        size_t len;
        assert_int_equal(pkie_cmp_msg_encode(m, &out, &len), 0);
        if (len != fixtures[i].len || memcmp(out, fixtures[i].der, len) != 0)
            fail_msg("%s: re-encoding differs (%zu vs %zu bytes)", fixtures[i].name, len,
                     fixtures[i].len);
        /* The decoded views cover the input exactly. */
        assert_ptr_equal(m->der.p, fixtures[i].der);
        assert_int_equal(m->der.len, fixtures[i].len);
        free(out);
        pkie_cmp_msg_free(m);
    }
}

static void test_copy_option(void **state)
{
    (void)state;
    struct pkie_cmp_decode_opts o = {{0, 0, 0}, 1};
    uint8_t *dup = malloc(fixtures[0].len);
    memcpy(dup, fixtures[0].der, fixtures[0].len);
    struct pkie_cmp_msg *m;
    assert_int_equal(pkie_cmp_msg_decode(dup, fixtures[0].len, &o, &m), 0);
    memset(dup, 0, fixtures[0].len);
    free(dup);
    uint8_t *out;
    size_t len;
    assert_int_equal(pkie_cmp_msg_encode(m, &out, &len), 0);
    assert_int_equal(len, fixtures[0].len);
    assert_memory_equal(out, fixtures[0].der, len);
    free(out);
    pkie_cmp_msg_free(m);
}

static void test_protection_verifies(void **state)
{
    (void)state;
    X509_STORE *root = tu_store("cmp/pki/root.crt");
    X509_STORE *other = tu_store("cmp/pki/other-root.crt");
    assert_non_null(root);
    assert_non_null(other);
    size_t nmac = 0, nsig = 0, nnone = 0;
    for (size_t i = 0; i < nfixtures; i++) {
        const char *name = fixtures[i].name;
        struct pkie_cmp_msg *m = decode_ok(&fixtures[i]);
        struct pkie_cmp_vctx v;
        memset(&v, 0, sizeof(v));
        v.max_skew = -1;
        int kind = m->protection.p ? pkie_cmp_protection_is_mac(m) : -1;
        if (kind == 1) {
            nmac++;
            int r = pkie_cmp_verify_mac(m, SECRET, 4, NULL);
            if (r != 0)
                fail_msg("%s: MAC: %s", name, pkie_err_last()->msg);
            assert_int_equal(pkie_cmp_verify_mac(m, (const uint8_t *)"tesT", 4, NULL),
                             PKIE_ERR_CMP_MAC_MISMATCH);
            v.secret = SECRET;
            v.secret_len = 4;
            assert_int_equal(pkie_cmp_msg_validate(m, &v), 0);
            v.secret = (const uint8_t *)"nope";
            assert_int_equal(pkie_cmp_msg_validate(m, &v), PKIE_ERR_CMP_MAC_MISMATCH);
        } else if (kind == 0) {
            nsig++;
            v.trusted = root;
            int r = pkie_cmp_msg_validate(m, &v);
            if (r != 0)
                fail_msg("%s: signature: %s", name, pkie_err_last()->msg);
            assert_non_null(v.signer);
            X509_free(v.signer);
            v.trusted = other;
            assert_int_equal(pkie_cmp_msg_validate(m, &v), PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
            assert_null(v.signer);
            /* A MAC-only receiver refuses a signature. */
            v.trusted = NULL;
            v.secret = SECRET;
            v.secret_len = 4;
            assert_int_equal(pkie_cmp_msg_validate(m, &v), PKIE_ERR_CMP_WRONG_INTEGRITY);
        } else {
            nnone++;
            assert_null(m->protection.p);
            v.secret = SECRET;
            v.secret_len = 4;
            assert_int_equal(pkie_cmp_msg_validate(m, &v), PKIE_ERR_CMP_PROT_MISSING);
            v.allow_unprotected = 1;
            assert_int_equal(pkie_cmp_msg_validate(m, &v), 0);
        }
        pkie_cmp_msg_free(m);
    }
    assert_true(nmac > 10);
    assert_true(nsig > 10);
    assert_true(nnone >= 2);
    X509_STORE_free(root);
    X509_STORE_free(other);
}

static void test_popo_signatures_verify(void **state)
{
    (void)state;
    size_t n = 0;
    for (size_t i = 0; i < nfixtures; i++) {
        struct pkie_cmp_msg *m = decode_ok(&fixtures[i]);
        int t = m->body.type;
        if (t == PKIE_CMP_BODY_IR || t == PKIE_CMP_BODY_CR || t == PKIE_CMP_BODY_KUR) {
            for (size_t k = 0; k < m->body.u.certReqs.count; k++) {
                const struct pkie_crmf_msg *rq = &m->body.u.certReqs.msgs[k];
                if (rq->popo.type != PKIE_CRMF_POPO_SIGNATURE)
                    continue;
                int r = pkie_crmf_popo_verify(rq);
                if (r != 0)
                    fail_msg("%s: POP: %s", fixtures[i].name, pkie_err_last()->msg);
                n++;
            }
        }
        pkie_cmp_msg_free(m);
    }
    assert_true(n >= 5);
}

static const struct fixture *find(const char *name)
{
    for (size_t i = 0; i < nfixtures; i++)
        if (strcmp(fixtures[i].name, name) == 0)
            return &fixtures[i];
    fail_msg("fixture %s missing", name);
    return NULL;
}

static void test_known_fields(void **state)
{
    (void)state;
    /* ip of ir_mac: one response, accepted, a certificate, caPubs with the root */
    struct pkie_cmp_msg *m = decode_ok(find("ir_mac.rsp1.der"));
    assert_int_equal(m->body.type, PKIE_CMP_BODY_IP);
    assert_int_equal(m->header.pvno, 2);
    assert_int_equal(m->body.u.certRep.response_count, 1);
    assert_int_equal(m->body.u.certRep.response[0].status.status, PKIE_CMP_ACCEPTED);
    assert_true(m->body.u.certRep.response[0].has_certifiedKeyPair);
    assert_int_equal(m->body.u.certRep.caPubs_count, 1);
    assert_int_equal(m->header.transactionID.len, 16);
    assert_int_equal(m->header.senderNonce.len, 16);
    assert_int_equal(m->header.recipNonce.len, 16);
    assert_int_equal(m->header.senderKID.len, 4);
    assert_memory_equal(m->header.senderKID.p, "test", 4);
    pkie_cmp_msg_free(m);
    /* rejection with badCertId and statusString (-failurebits 33554436 = bits 2 and 25) */
    m = decode_ok(find("reject.rsp1.der"));
    const struct pkie_cmp_statusinfo *si = &m->body.u.certRep.response[0].status;
    assert_int_equal(si->status, PKIE_CMP_REJECTION);
    assert_true(si->has_failInfo);
    assert_int_equal(si->failInfo, 1u << PKIE_CMP_FI_badCertId);
    assert_int_equal(si->statusString.count, 1);
    assert_int_equal(si->statusString.strs[0].len, strlen("pkie test rejection"));
    pkie_cmp_msg_free(m);
    m = decode_ok(find("reject_unprot.rsp1.der"));
    si = &m->body.u.certRep.response[0].status;
    assert_int_equal(si->failInfo,
                     (1u << PKIE_CMP_FI_badRequest) | (1u << PKIE_CMP_FI_systemFailure));
    pkie_cmp_msg_free(m);
    /* implicitConfirm requested in generalInfo */
    m = decode_ok(find("implicit_granted.req1.der"));
    assert_true(m->header.implicitConfirm);
    pkie_cmp_msg_free(m);
    m = decode_ok(find("implicit_granted.rsp1.der"));
    assert_true(m->header.implicitConfirm);
    pkie_cmp_msg_free(m);
    /* polling */
    m = decode_ok(find("poll.rsp2.der"));
    assert_int_equal(m->body.type, PKIE_CMP_BODY_POLLREP);
    assert_int_equal(m->body.u.pollRep.count, 1);
    assert_int_equal(m->body.u.pollRep.entries[0].checkAfter, 1);
    pkie_cmp_msg_free(m);
    m = decode_ok(find("poll.req2.der"));
    assert_int_equal(m->body.type, PKIE_CMP_BODY_POLLREQ);
    pkie_cmp_msg_free(m);
    /* rr: one RevDetails with serial and issuer; rp with revCerts */
    m = decode_ok(find("rr_keycompromise.req1.der"));
    assert_int_equal(m->body.type, PKIE_CMP_BODY_RR);
    assert_int_equal(m->body.u.rr.count, 1);
    assert_true(m->body.u.rr.details[0].certDetails.present & PKIE_CRMF_T_SERIALNUMBER);
    assert_true(m->body.u.rr.details[0].certDetails.present & PKIE_CRMF_T_ISSUER);
    assert_non_null(m->body.u.rr.details[0].crlEntryDetails.p);
    pkie_cmp_msg_free(m);
    m = decode_ok(find("rr_warning.rsp1.der"));
    assert_int_equal(m->body.u.rp.status[0].status, PKIE_CMP_REVOCATION_WARNING);
    pkie_cmp_msg_free(m);
    /* error message */
    m = decode_ok(find("error_sig.rsp1.der"));
    assert_int_equal(m->body.type, PKIE_CMP_BODY_ERROR);
    assert_true(m->body.u.error.pKIStatusInfo.statusString.count >= 1);
    pkie_cmp_msg_free(m);
    /* p10cr keeps the CSR */
    m = decode_ok(find("p10cr_mac.req1.der"));
    assert_int_equal(m->body.type, PKIE_CMP_BODY_P10CR);
    size_t csr_len;
    uint8_t *csr = tu_read_file(tu_data("cmp/pki/new-rsa.csr.der"), &csr_len);
    assert_non_null(csr);
    assert_int_equal(m->body.raw.len, csr_len);
    assert_memory_equal(m->body.raw.p, csr, csr_len);
    free(csr);
    pkie_cmp_msg_free(m);
    /* ip_chain: 3 extraCerts */
    m = decode_ok(find("ip_chain.rsp1.der"));
    assert_int_equal(m->extraCerts_count, 3);
    pkie_cmp_msg_free(m);
}

static void test_transaction_continuity(void **state)
{
    (void)state;
    /* rsp1 answers req1: same transactionID, recipNonce = req1's senderNonce */
    struct pkie_cmp_msg *rq = decode_ok(find("ir_mac.req1.der"));
    struct pkie_cmp_msg *rs = decode_ok(find("ir_mac.rsp1.der"));
    struct pkie_cmp_msg *rq2 = decode_ok(find("ir_mac.req2.der"));
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.secret = SECRET;
    v.secret_len = 4;
    v.max_skew = -1;
    v.expected_transactionID = rq->header.transactionID;
    v.expected_recipNonce = rq->header.senderNonce;
    v.allowed_bodies = PKIE_CMP_BODY_BIT(PKIE_CMP_BODY_IP) | PKIE_CMP_BODY_BIT(PKIE_CMP_BODY_ERROR);
    assert_int_equal(pkie_cmp_msg_validate(rs, &v), 0);
    /* the answer to a later request carries another recipNonce: replay */
    v.expected_recipNonce = rq2->header.senderNonce;
    assert_int_equal(pkie_cmp_msg_validate(rs, &v), PKIE_ERR_CMP_RECIPNONCE);
    assert_int_equal(pkie_cmp_err_failinfo(PKIE_ERR_CMP_RECIPNONCE), PKIE_CMP_FI_badRecipientNonce);
    /* another transaction */
    struct pkie_cmp_msg *other = decode_ok(find("p10cr_mac.req1.der"));
    v.expected_recipNonce = rq->header.senderNonce;
    v.expected_transactionID = other->header.transactionID;
    assert_int_equal(pkie_cmp_msg_validate(rs, &v), PKIE_ERR_CMP_TID_MISMATCH);
    /* body not allowed in this state (an ip where a pkiconf is due) */
    v.expected_transactionID = rq->header.transactionID;
    v.allowed_bodies = PKIE_CMP_BODY_BIT(PKIE_CMP_BODY_PKICONF);
    assert_int_equal(pkie_cmp_msg_validate(rs, &v), PKIE_ERR_CMP_BODY_NOT_ALLOWED);
    /* stale messageTime: pretend it is a day later */
    v.allowed_bodies = 0;
    v.max_skew = 300;
    v.now = rs->header.messageTime.secs + 86400;
    assert_int_equal(pkie_cmp_msg_validate(rs, &v), PKIE_ERR_CMP_MSGTIME_SKEW);
    v.now = rs->header.messageTime.secs + 10;
    assert_int_equal(pkie_cmp_msg_validate(rs, &v), 0);
    pkie_cmp_msg_free(rq);
    pkie_cmp_msg_free(rs);
    pkie_cmp_msg_free(rq2);
    pkie_cmp_msg_free(other);
}

static void test_iteration_bounds(void **state)
{
    (void)state;
    struct pkie_cmp_msg *m = decode_ok(find("ir_mac.req1.der"));
    struct pkie_cmp_mac_limits lim = {501, 1000};
    assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 4, &lim), PKIE_ERR_CMP_MAC_ITERATIONS);
    lim.iter_min = 100;
    lim.iter_max = 499;
    assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 4, &lim), PKIE_ERR_CMP_MAC_ITERATIONS);
    lim.iter_max = 500;
    assert_int_equal(pkie_cmp_verify_mac(m, SECRET, 4, &lim), 0);
    pkie_cmp_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_reencode_identical),
        cmocka_unit_test(test_copy_option),
        cmocka_unit_test(test_protection_verifies),
        cmocka_unit_test(test_popo_signatures_verify),
        cmocka_unit_test(test_known_fields),
        cmocka_unit_test(test_transaction_continuity),
        cmocka_unit_test(test_iteration_bounds),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
