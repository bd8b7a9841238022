/* Sample CMP messages for the unit tests, built with our encoder. */
#include "cmp_test_build.h"
#include "cmp_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define B(m, dst, lit) assert_int_equal(pkie_cmp_dup((m), (dst), (lit), sizeof(lit) - 1), 0)

X509_NAME *tb_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"pkie test", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    return n;
}

static void name_der(struct pkie_cmp_msg *m, const char *cn, struct pkie_cmp_bytes *out)
{
    X509_NAME *n = tb_name(cn);
    unsigned char *der = NULL;
    int len = i2d_X509_NAME(n, &der);
    assert_true(len > 0);
    assert_int_equal(pkie_cmp_dup(m, out, der, (size_t)len), 0);
    OPENSSL_free(der);
    X509_NAME_free(n);
}

static void freetext(struct pkie_cmp_msg *m, struct pkie_cmp_freetext *ft, size_t n)
{
    ft->strs = pkie_cmp_alloc_array(m, n, sizeof(*ft->strs));
    ft->count = n;
    static const char *const texts[] = {"first text", "zweiter Text \xc3\xa4", "third"};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pkie_cmp_dup(m, &ft->strs[i], texts[i % 3], strlen(texts[i % 3])), 0);
}

static void some_cert(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *out, const char *file)
{
    X509 *c = tu_cert(file);
    assert_non_null(c);
    unsigned char *der = NULL;
    int len = i2d_X509(c, &der);
    assert_int_equal(pkie_cmp_dup(m, out, der, (size_t)len), 0);
    OPENSSL_free(der);
    X509_free(c);
}

/* SubjectPublicKeyInfo contents (without the SEQUENCE header) of @p key. */
static void spki_contents(struct pkie_cmp_msg *m, EVP_PKEY *key, struct pkie_cmp_bytes *out)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    assert_true(len > 4);
    size_t hdr = (der[1] & 0x80) ? 2 + (der[1] & 0x7F) : 2;
    assert_int_equal(pkie_cmp_dup(m, out, der + hdr, (size_t)len - hdr), 0);
    OPENSSL_free(der);
}

static void full_template(struct pkie_cmp_msg *m, struct pkie_crmf_template *t, EVP_PKEY *key,
                          int all)
{
    /* sha256WithRSAEncryption, NULL */
    static const uint8_t alg[] = {0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7,
                                  0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00};
    static const uint8_t serial[] = {0x00, 0x9F, 0x01};
    static const uint8_t uid[] = {0x04, 0xA0};
    /* basicConstraints CA:FALSE (critical), keyUsage digitalSignature */
    static const uint8_t exts[] = {0x30, 0x0C, 0x06, 0x03, 0x55, 0x1D, 0x13, 0x01, 0x01,
                                   0xFF, 0x04, 0x02, 0x30, 0x00, 0x30, 0x0B, 0x06, 0x03,
                                   0x55, 0x1D, 0x0F, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80};
    t->present = PKIE_CRMF_T_SUBJECT;
    name_der(m, "subject", &t->subject);
    if (key != NULL) {
        t->present |= PKIE_CRMF_T_PUBLICKEY;
        spki_contents(m, key, &t->publicKey);
    }
    if (!all)
        return;
    t->present |= PKIE_CRMF_T_VERSION | PKIE_CRMF_T_SERIALNUMBER | PKIE_CRMF_T_SIGNINGALG |
                  PKIE_CRMF_T_ISSUER | PKIE_CRMF_T_VALIDITY | PKIE_CRMF_T_ISSUERUID |
                  PKIE_CRMF_T_SUBJECTUID | PKIE_CRMF_T_EXTENSIONS;
    t->version = 2;
    pkie_cmp_dup(m, &t->serialNumber, serial, sizeof(serial));
    pkie_cmp_dup(m, &t->signingAlg, alg, sizeof(alg));
    name_der(m, "issuer", &t->issuer);
    t->notBefore.present = 1;
    t->notBefore.type = PKIE_DER_UTC_TIME;
    t->notBefore.time.secs = 1700000000;
    t->notAfter.present = 1;
    t->notAfter.type = PKIE_DER_GENERALIZED_TIME;
    t->notAfter.time.secs = 4102444800; /* 2100 */
    pkie_cmp_dup(m, &t->issuerUID, uid, sizeof(uid));
    pkie_cmp_dup(m, &t->subjectUID, uid, sizeof(uid));
    pkie_cmp_dup(m, &t->extensions, exts, sizeof(exts));
}

static void controls(struct pkie_cmp_msg *m, struct pkie_crmf_certreq *r)
{
    static const uint8_t token[] = {0x0C, 0x05, 't', 'o', 'k', 'e', 'n'};
    static const uint8_t auth[] = {0x0C, 0x04, 'a', 'u', 't', 'h'};
    static const uint8_t unknown[] = {0x04, 0x02, 0xBE, 0xEF};
    static const uint8_t regtok[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x01};
    static const uint8_t authn[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x02};
    static const uint8_t oldid[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x05};
    static const uint8_t other[] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x01};
    r->controls = pkie_cmp_alloc_array(m, 4, sizeof(*r->controls));
    r->controls_count = 4;
    pkie_cmp_dup(m, &r->controls[0].type, regtok, sizeof(regtok));
    pkie_cmp_dup(m, &r->controls[0].value, token, sizeof(token));
    pkie_cmp_dup(m, &r->controls[1].type, authn, sizeof(authn));
    pkie_cmp_dup(m, &r->controls[1].value, auth, sizeof(auth));
    /* oldCertID: CertId { directoryName, serial 5 } */
    struct pkie_cmp_bytes gn;
    X509_NAME *n = tb_name("old issuer");
    assert_int_equal(pkie_cmp_gn_from_name(m, n, &gn), 0);
    X509_NAME_free(n);
    uint8_t *cid = pkie_cmp_alloc(m, gn.len + 8);
    size_t k = 0;
    cid[k++] = 0x30;
    cid[k++] = (uint8_t)(gn.len + 3);
    memcpy(cid + k, gn.p, gn.len);
    k += gn.len;
    cid[k++] = 0x02;
    cid[k++] = 0x01;
    cid[k++] = 0x05;
    pkie_cmp_dup(m, &r->controls[2].type, oldid, sizeof(oldid));
    r->controls[2].value.p = cid;
    r->controls[2].value.len = k;
    pkie_cmp_dup(m, &r->controls[3].type, other, sizeof(other));
    pkie_cmp_dup(m, &r->controls[3].value, unknown, sizeof(unknown));
}

static void cert_reqs(struct pkie_cmp_msg *m, EVP_PKEY *key)
{
    struct pkie_crmf_reqs *rq = &m->body.u.certReqs;
    rq->count = 4;
    rq->msgs = pkie_cmp_alloc_array(m, rq->count, sizeof(*rq->msgs));
    for (size_t i = 0; i < rq->count; i++) {
        struct pkie_crmf_msg *r = &rq->msgs[i];
        r->certReq.certReqId = (int64_t)i;
        full_template(m, &r->certReq.certTemplate, key, i == 0 || i == 3);
        if (i == 0)
            controls(m, &r->certReq);
    }
    if (key != NULL)
        assert_int_equal(pkie_crmf_popo_sign(m, &rq->msgs[0], key, "SHA256"), 0);
    rq->msgs[1].popo.type = PKIE_CRMF_POPO_RAVERIFIED;
    rq->msgs[2].popo.type = PKIE_CRMF_POPO_KEYENCIPHERMENT;
    rq->msgs[2].popo.privkey_type = PKIE_CRMF_PRIVKEY_SUBSEQUENTMESSAGE;
    rq->msgs[2].popo.subsequentMessage = 1;
    rq->msgs[3].popo.type = PKIE_CRMF_POPO_KEYAGREEMENT;
    rq->msgs[3].popo.privkey_type = PKIE_CRMF_PRIVKEY_DHMAC;
    static const uint8_t bits[] = {0x00, 0x11, 0x22, 0x33};
    pkie_cmp_dup(m, &rq->msgs[3].popo.privkey, bits, sizeof(bits));
    /* regInfo on the second request: utf8Pairs */
    static const uint8_t pairs_oid[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x02, 0x01};
    static const uint8_t pairs[] = {0x0C, 0x04, 'a', '?', 'b', '%'};
    rq->msgs[1].regInfo = pkie_cmp_alloc_array(m, 1, sizeof(struct pkie_cmp_itav));
    rq->msgs[1].regInfo_count = 1;
    pkie_cmp_dup(m, &rq->msgs[1].regInfo[0].type, pairs_oid, sizeof(pairs_oid));
    pkie_cmp_dup(m, &rq->msgs[1].regInfo[0].value, pairs, sizeof(pairs));
}

static void status(struct pkie_cmp_msg *m, struct pkie_cmp_statusinfo *si, int64_t st,
                   uint32_t fail)
{
    si->status = st;
    if (fail) {
        si->has_failInfo = 1;
        si->failInfo = fail;
        freetext(m, &si->statusString, 2);
    }
}

static void cert_rep(struct pkie_cmp_msg *m)
{
    struct pkie_cmp_certrep *rep = &m->body.u.certRep;
    rep->caPubs_count = 2;
    rep->caPubs = pkie_cmp_alloc_array(m, 2, sizeof(*rep->caPubs));
    some_cert(m, &rep->caPubs[0], "cmp/pki/root.crt");
    some_cert(m, &rep->caPubs[1], "cmp/pki/inter.crt");
    rep->response_count = 3;
    rep->response = pkie_cmp_alloc_array(m, 3, sizeof(*rep->response));
    rep->response[0].certReqId = 0;
    status(m, &rep->response[0].status, PKIE_CMP_ACCEPTED, 0);
    rep->response[0].has_certifiedKeyPair = 1;
    some_cert(m, &rep->response[0].certifiedKeyPair.certOrEncCert, "cmp/pki/new-ec.crt");
    static const uint8_t info[] = "rsp";
    pkie_cmp_dup(m, &rep->response[0].rspInfo, info, 3);
    rep->response[1].certReqId = 1;
    status(m, &rep->response[1].status, PKIE_CMP_REJECTION,
           (1u << PKIE_CMP_FI_badPOP) | (1u << PKIE_CMP_FI_duplicateCertReq));
    /* an encrypted certificate (EncryptedValue kept opaque) and a publicationInfo */
    static const uint8_t encval[] = {0x30, 0x06, 0x03, 0x04, 0x00, 0xDE, 0xAD, 0x01};
    static const uint8_t pubinfo[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    rep->response[2].certReqId = 2;
    status(m, &rep->response[2].status, PKIE_CMP_GRANTED_WITH_MODS, 0);
    rep->response[2].has_certifiedKeyPair = 1;
    rep->response[2].certifiedKeyPair.certOrEncCert_type = PKIE_CMP_ENCRYPTEDCERT;
    pkie_cmp_dup(m, &rep->response[2].certifiedKeyPair.certOrEncCert, encval, sizeof(encval));
    pkie_cmp_dup(m, &rep->response[2].certifiedKeyPair.privateKey, encval, sizeof(encval));
    pkie_cmp_dup(m, &rep->response[2].certifiedKeyPair.publicationInfo, pubinfo, sizeof(pubinfo));
}

static void itavs(struct pkie_cmp_msg *m, struct pkie_cmp_itavs *g)
{
    static const uint8_t caCerts[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x04, 0x11};
    static const uint8_t crls[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x04, 0x16};
    g->count = 2;
    g->itav = pkie_cmp_alloc_array(m, 2, sizeof(*g->itav));
    pkie_cmp_dup(m, &g->itav[0].type, caCerts, sizeof(caCerts));
    pkie_cmp_dup(m, &g->itav[1].type, crls, sizeof(crls));
    static const uint8_t val[] = {0x30, 0x03, 0x02, 0x01, 0x07};
    pkie_cmp_dup(m, &g->itav[1].value, val, sizeof(val));
}

static void header(struct pkie_cmp_msg *m)
{
    X509_NAME *s = tb_name("sender"), *r = tb_name("recipient");
    assert_int_equal(pkie_cmp_header_init(m, PKIE_CMP_PVNO_2021, s, r, NULL, NULL), 0);
    X509_NAME_free(s);
    X509_NAME_free(r);
    B(m, &m->header.recipKID, "recipient-kid");
    B(m, &m->header.recipNonce, "0123456789abcdef");
    freetext(m, &m->header.freeText, 3);
    assert_int_equal(pkie_cmp_header_set_implicit_confirm(m), 0);
    static const uint8_t cwt[] = {0x18, 0x0F, '2', '0', '3', '0', '0', '1', '0',
                                  '2',  '0',  '3', '0', '4', '0', '5', 'Z'};
    assert_int_equal(pkie_cmp_header_add_itav(m, "1.3.6.1.5.5.7.4.14", cwt, sizeof(cwt)), 0);
    static const uint8_t prof[] = {0x30, 0x06, 0x0C, 0x04, 't', 'l', 's', '1'};
    assert_int_equal(pkie_cmp_header_add_itav(m, "1.3.6.1.5.5.7.4.21", prof, sizeof(prof)), 0);
    static const uint8_t unk[] = {0x02, 0x01, 0x2A};
    assert_int_equal(pkie_cmp_header_add_itav(m, "1.2.3.4.5", unk, sizeof(unk)), 0);
    assert_int_equal(pkie_cmp_header_add_itav(m, "1.2.3.4.6", NULL, 0), 0);
    assert_true(m->header.implicitConfirm);
    assert_true(m->header.has_confirmWaitTime);
    assert_int_equal(m->header.certProfile.count, 1);
}

struct pkie_cmp_msg *tb_sample(int type, EVP_PKEY *key)
{
    struct pkie_cmp_msg *m = pkie_cmp_msg_new();
    assert_non_null(m);
    header(m);
    m->body.type = type;
    switch (type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_CCR:
        cert_reqs(m, key);
        break;
    case PKIE_CMP_BODY_IP:
    case PKIE_CMP_BODY_CP:
    case PKIE_CMP_BODY_KUP:
    case PKIE_CMP_BODY_CCP:
        cert_rep(m);
        break;
    case PKIE_CMP_BODY_P10CR: {
        size_t len;
        uint8_t *csr = tu_read_file(tu_data("cmp/pki/new-rsa.csr.der"), &len);
        assert_non_null(csr);
        pkie_cmp_dup(m, &m->body.raw, csr, len);
        free(csr);
        break;
    }
    case PKIE_CMP_BODY_RR: {
        static const uint8_t reason[] = {0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55,
                                         0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01, 0x01};
        struct pkie_cmp_revreq *rr = &m->body.u.rr;
        rr->count = 2;
        rr->details = pkie_cmp_alloc_array(m, 2, sizeof(*rr->details));
        full_template(m, &rr->details[0].certDetails, NULL, 1);
        full_template(m, &rr->details[1].certDetails, NULL, 0);
        pkie_cmp_dup(m, &rr->details[0].crlEntryDetails, reason, sizeof(reason));
        break;
    }
    case PKIE_CMP_BODY_RP: {
        struct pkie_cmp_revrep *rp = &m->body.u.rp;
        rp->status_count = 2;
        rp->status = pkie_cmp_alloc_array(m, 2, sizeof(*rp->status));
        status(m, &rp->status[0], PKIE_CMP_ACCEPTED, 0);
        status(m, &rp->status[1], PKIE_CMP_REJECTION, 1u << PKIE_CMP_FI_badCertId);
        rp->revCerts_count = 1;
        rp->revCerts = pkie_cmp_alloc_array(m, 1, sizeof(*rp->revCerts));
        X509_NAME *n = tb_name("issuer");
        pkie_cmp_gn_from_name(m, n, &rp->revCerts[0].issuer);
        X509_NAME_free(n);
        static const uint8_t serial[] = {0x01, 0x00};
        pkie_cmp_dup(m, &rp->revCerts[0].serialNumber, serial, sizeof(serial));
        rp->crls_count = 1;
        rp->crls = pkie_cmp_alloc_array(m, 1, sizeof(*rp->crls));
        some_cert(m, &rp->crls[0], "cmp/pki/root.crt"); /* any SEQUENCE will do */
        break;
    }
    case PKIE_CMP_BODY_GENM:
    case PKIE_CMP_BODY_GENP:
        itavs(m, &m->body.u.genm);
        break;
    case PKIE_CMP_BODY_ERROR:
        status(m, &m->body.u.error.pKIStatusInfo, PKIE_CMP_REJECTION,
               1u << PKIE_CMP_FI_systemFailure);
        m->body.u.error.has_errorCode = 1;
        m->body.u.error.errorCode = 4242;
        freetext(m, &m->body.u.error.errorDetails, 1);
        break;
    case PKIE_CMP_BODY_CERTCONF: {
        static const uint8_t sha256[] = {0x30, 0x0B, 0x06, 0x09, 0x60, 0x86, 0x48,
                                         0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
        struct pkie_cmp_certconf *c = &m->body.u.certConf;
        c->count = 2;
        c->status = pkie_cmp_alloc_array(m, 2, sizeof(*c->status));
        B(m, &c->status[0].certHash, "0123456789abcdef0123456789abcdef");
        c->status[0].certReqId = 0;
        B(m, &c->status[1].certHash, "fedcba9876543210fedcba9876543210");
        c->status[1].certReqId = 1;
        c->status[1].has_statusInfo = 1;
        status(m, &c->status[1].statusInfo, PKIE_CMP_REJECTION, 1u << PKIE_CMP_FI_badCertTemplate);
        pkie_cmp_dup(m, &c->status[1].hashAlg, sha256, sizeof(sha256));
        break;
    }
    case PKIE_CMP_BODY_PKICONF:
        break;
    case PKIE_CMP_BODY_POLLREQ:
        m->body.u.pollReq.count = 2;
        m->body.u.pollReq.certReqId = pkie_cmp_alloc_array(m, 2, sizeof(int64_t));
        m->body.u.pollReq.certReqId[1] = 7;
        break;
    case PKIE_CMP_BODY_POLLREP:
        m->body.u.pollRep.count = 2;
        m->body.u.pollRep.entries =
            pkie_cmp_alloc_array(m, 2, sizeof(struct pkie_cmp_pollrep_entry));
        m->body.u.pollRep.entries[0].checkAfter = 60;
        m->body.u.pollRep.entries[1].certReqId = 1;
        m->body.u.pollRep.entries[1].checkAfter = 3600;
        freetext(m, &m->body.u.pollRep.entries[1].reason, 2);
        break;
    case PKIE_CMP_BODY_NESTED: {
        struct pkie_cmp_nested *n = &m->body.u.nested;
        n->count = 2;
        n->msgs = pkie_cmp_alloc_array(m, 2, sizeof(*n->msgs));
        n->msgs[0] = tb_sample(PKIE_CMP_BODY_IR, key);
        n->msgs[1] = tb_sample(PKIE_CMP_BODY_GENM, NULL);
        break;
    }
    default: { /* popdecc, popdecr, krr, krp, ckuann, cann, rann, crlann */
        static const uint8_t raw[] = {0x30, 0x03, 0x02, 0x01, 0x05};
        pkie_cmp_dup(m, &m->body.raw, raw, sizeof(raw));
        break;
    }
    }
    return m;
}

void tb_free(struct pkie_cmp_msg *m)
{
    if (m == NULL)
        return;
    if (m->body.type == PKIE_CMP_BODY_NESTED && !m->is_inner)
        for (size_t i = 0; i < m->body.u.nested.count; i++)
            if (m->body.u.nested.msgs[i] != NULL && m->body.u.nested.msgs[i]->arena != m->arena)
                tb_free(m->body.u.nested.msgs[i]);
    pkie_cmp_msg_free(m);
}
