/* CMP server: certificate requests (ir, cr, kur, p10cr), polling, certConf. */
#include "cmp_srv.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <openssl/bn.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQS 64
#define P10CR_ID (-1) /* certReqId of the answer to a p10cr (RFC 9810 5.3.4, RFC 9483 4.1.4) */

/* One certificate request, parsed from CRMF or PKCS#10. */
struct creq {
    int64_t certReqId;
    X509_NAME *subject;
    EVP_PKEY *pubkey;
    STACK_OF(X509_EXTENSION) *exts;
    int64_t not_before, not_after;
    const uint8_t *spki; /* SPKI contents, when pubkey came from them */
    size_t spki_len;
    EVP_PKEY *newkey;  /* central key generation: the key pair made by the CA */
    uint8_t *env;      /* ... and the EncryptedKey carrying it to the client */
    uint8_t *own_spki; /* ... and its SubjectPublicKeyInfo contents (EC keys) */
    size_t env_len;
    int failbit; /* >= 0: refused before issuance */
    char why[256];
};

static void creq_free(struct creq *c)
{
    X509_NAME_free(c->subject);
    EVP_PKEY_free(c->pubkey);
    EVP_PKEY_free(c->newkey); /* frees (and clears) the private key */
    free(c->env);
    free(c->own_spki);
    sk_X509_EXTENSION_pop_free(c->exts, X509_EXTENSION_free);
}

static void refuse(struct creq *c, int failbit)
{
    c->failbit = failbit;
    snprintf(c->why, sizeof(c->why), "%s", pkie_err_last()->msg);
    pkie_err_clear();
}

static int fail(struct creq *c, int failbit, const char *why)
{
    c->failbit = failbit;
    snprintf(c->why, sizeof(c->why), "%s", why);
    return -1;
}

static int parse_exts(const struct pkie_cmp_bytes *contents, STACK_OF(X509_EXTENSION) **out)
{
    /* The template keeps the SEQUENCE OF contents: put the SEQUENCE header back. */
    size_t n = contents->len;
    if (n > (1u << 20))
        return PKIE_ERR(PKIE_ERR_LIMIT, "template extensions too large");
    uint8_t *buf = malloc(n + 6);
    if (buf == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "extensions");
    size_t h = 0;
    buf[h++] = 0x30;
    if (n < 0x80)
        buf[h++] = (uint8_t)n;
    else if (n < 0x100) {
        buf[h++] = 0x81;
        buf[h++] = (uint8_t)n;
    } else if (n < 0x10000) {
        buf[h++] = 0x82;
        buf[h++] = (uint8_t)(n >> 8);
        buf[h++] = (uint8_t)n;
    } else {
        buf[h++] = 0x83;
        buf[h++] = (uint8_t)(n >> 16);
        buf[h++] = (uint8_t)(n >> 8);
        buf[h++] = (uint8_t)n;
    }
    if (n > 0)
        memcpy(buf + h, contents->p, n);
    const unsigned char *q = buf;
    int rc = 0;
    *out = d2i_X509_EXTENSIONS(NULL, &q, (long)(h + n));
    if (*out == NULL || q != buf + h + n)
        rc = PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "template extensions");
    free(buf);
    return rc;
}

static int parse_crmf(struct srv_req *r, const struct pkie_cmp_msg *m,
                      const struct pkie_crmf_msg *cm, struct creq *c)
{
    const struct pkie_crmf_template *t = &cm->certReq.certTemplate;
    c->certReqId = cm->certReq.certReqId;
    if (t->present & (PKIE_CRMF_T_SERIALNUMBER | PKIE_CRMF_T_SIGNINGALG | PKIE_CRMF_T_ISSUERUID |
                      PKIE_CRMF_T_SUBJECTUID))
        return fail(c, PKIE_CMP_FI_badCertTemplate,
                    "template sets serialNumber, signingAlg or a unique identifier");
    if (t->present & PKIE_CRMF_T_ISSUER) {
        const unsigned char *q = t->issuer.p;
        X509_NAME *iss = d2i_X509_NAME(NULL, &q, (long)t->issuer.len);
        int ok = iss != NULL && X509_NAME_cmp(iss, X509_get_subject_name(r->srv->issuer)) == 0;
        X509_NAME_free(iss);
        if (!ok)
            return fail(c, PKIE_CMP_FI_wrongAuthority, "template names another issuer");
    }
    if (t->present & PKIE_CRMF_T_SUBJECT) {
        const unsigned char *q = t->subject.p;
        c->subject = d2i_X509_NAME(NULL, &q, (long)t->subject.len);
        if (c->subject == NULL)
            return fail(c, PKIE_CMP_FI_badCertTemplate, "template subject unreadable");
    }
    if (srv_keygen_wanted(t)) {
        /* central key generation: POPO must be absent (RFC 9483 4.1.6) */
        if (cm->popo.type != PKIE_CRMF_POPO_NONE)
            return fail(c, PKIE_CMP_FI_badPOP,
                        "proof-of-possession for a key the CA is asked to generate");
        int fb = PKIE_CMP_FI_systemFailure;
        if (srv_keygen(r, t, &c->newkey, &c->own_spki, &c->spki_len, &c->env, &c->env_len, &fb) !=
            0) {
            refuse(c, fb);
            return -1;
        }
        c->spki = c->own_spki; /* NULL (not EC): the issuer encodes the key */
        c->pubkey = c->newkey;
        EVP_PKEY_up_ref(c->pubkey);
    } else if (t->present & PKIE_CRMF_T_PUBLICKEY) {
        c->pubkey = pkie_ca_spki_to_pkey(t->publicKey.p, t->publicKey.len);
        if (c->pubkey != NULL) {
            c->spki = t->publicKey.p;
            c->spki_len = t->publicKey.len;
        }
    }
    if (c->pubkey == NULL)
        c->pubkey = pkie_crmf_template_pubkey(t);
    if (c->pubkey == NULL)
        return fail(c, PKIE_CMP_FI_badCertTemplate, "template publicKey unusable");
    if ((t->present & PKIE_CRMF_T_EXTENSIONS) && parse_exts(&t->extensions, &c->exts) != 0)
        return fail(c, PKIE_CMP_FI_badCertTemplate, "template extensions unreadable");
    if (t->notBefore.present)
        c->not_before = t->notBefore.time.secs;
    if (t->notAfter.present)
        c->not_after = t->notAfter.time.secs;
    if (c->newkey == NULL && cm->popo.type != PKIE_CRMF_POPO_SIGNATURE)
        return fail(c, PKIE_CMP_FI_badPOP, "only signature proof-of-possession is accepted");
    /* c->pubkey is the template's publicKey: the check need not decode it again */
    if (c->newkey == NULL && pkie_crmf_popo_verify_key(cm, c->pubkey) != 0) {
        refuse(c, PKIE_CMP_FI_badPOP);
        return -1;
    }
    if (m->body.type == PKIE_CMP_BODY_KUR) {
        /* kur: the old certificate is the signer's; defaults come from it. */
        if (cm->certReq.has_oldCertID) {
            const struct pkie_cmp_bytes *sn = &cm->certReq.oldCertID.serialNumber;
            BIGNUM *a =
                sn->len > 0 && (sn->p[0] & 0x80) == 0 ? BN_bin2bn(sn->p, (int)sn->len, NULL) : NULL;
            BIGNUM *b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(r->signer), NULL);
            int same = a != NULL && b != NULL && BN_cmp(a, b) == 0;
            BN_free(a);
            BN_free(b);
            if (!same)
                return fail(c, PKIE_CMP_FI_badCertId, "oldCertID is not the signer's certificate");
        }
        if (c->subject == NULL &&
            (c->subject = X509_NAME_dup(X509_get_subject_name(r->signer))) == NULL)
            return fail(c, PKIE_CMP_FI_systemFailure, "out of memory");
    }
    return 0;
}

static int parse_p10(const struct pkie_cmp_msg *m, struct creq *c)
{
    const unsigned char *q = m->body.raw.p;
    c->certReqId = P10CR_ID;
    X509_REQ *req = q != NULL ? d2i_X509_REQ(NULL, &q, (long)m->body.raw.len) : NULL;
    if (req == NULL)
        return fail(c, PKIE_CMP_FI_badDataFormat, "PKCS#10 request unreadable");
    EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
    int ok = pk != NULL && X509_REQ_verify(req, pk) == 1;
    if (ok) {
        c->pubkey = pk;
        EVP_PKEY_up_ref(pk);
        c->subject = X509_NAME_dup(X509_REQ_get_subject_name(req));
        c->exts = X509_REQ_get_extensions(req);
    }
    X509_REQ_free(req);
    if (!ok)
        return fail(c, PKIE_CMP_FI_badPOP, "PKCS#10 signature does not verify");
    return 0;
}

/* Issue for every request of @p m (the request, or the stored one on an approved poll). */
static int issue_all(struct srv_req *r, const struct pkie_cmp_msg *m, int64_t tx_id)
{
    struct creq cr[MAX_REQS];
    size_t n = m->body.type == PKIE_CMP_BODY_P10CR ? 1 : m->body.u.certReqs.count;
    int implicit = m->header.implicitConfirm;
    int rc = 0;
    if (n == 0 || n > MAX_REQS)
        return PKIE_ERR(PKIE_ERR_LIMIT, "%zu certificate requests in one message (1..%d)", n,
                        MAX_REQS);
    memset(cr, 0, sizeof(cr));
    if (!implicit && tx_id == 0) {
        char subj[512] = "";
        rc = pkie_ca_store_tx_create(r->srv->store, m->header.transactionID.p,
                                     m->header.transactionID.len, PKIE_CA_TX_APPROVED,
                                     r->have_client ? r->client.ref : "", subj, NULL, 0, &tx_id);
        if (rc != 0)
            return rc;
    }
    if ((rc = srv_resp_new(r, pkie_cmp_body_answer(m->body.type))) != 0)
        return rc;
    struct pkie_cmp_certrep *rep = &r->resp->body.u.certRep;
    rep->response = pkie_cmp_alloc_array(r->resp, n, sizeof(*rep->response));
    if (rep->response == NULL)
        return pkie_err_last()->code;
    rep->response_count = n;
    struct pkie_ca_issuer iss = {r->srv->issuer, r->srv->issuer_key, r->srv->crl_url};
    int issued = 0;
    for (size_t i = 0; i < n; i++) {
        struct creq *c = &cr[i];
        struct pkie_cmp_certresp *out = &rep->response[i];
        c->failbit = -1;
        if (m->body.type == PKIE_CMP_BODY_P10CR)
            parse_p10(m, c);
        else
            parse_crmf(r, m, &m->body.u.certReqs.msgs[i], c);
        out->certReqId = c->certReqId;
        for (size_t j = 0; j < i && c->failbit < 0; j++)
            if (cr[j].certReqId == c->certReqId)
                fail(c, PKIE_CMP_FI_badRequest, "certReqId used twice");
        X509 *x = NULL;
        if (c->failbit < 0) {
            struct pkie_ca_request req = {.subject = c->subject,
                                          .pubkey = c->pubkey,
                                          .exts = c->exts,
                                          .not_before = c->not_before,
                                          .not_after = c->not_after,
                                          .old_cert = r->signer,
                                          .spki = c->spki,
                                          .spki_len = c->spki_len,
                                          .nonce = &r->nonce};
            x = pkie_ca_enroll(r->srv->store, &iss, r->have_client ? &r->client : NULL, r->profile,
                               &req, implicit ? PKIE_CA_CERT_CONFIRMED : PKIE_CA_CERT_ISSUED, tx_id,
                               c->certReqId, implicit ? PKIE_CA_TX_CLOSED : PKIE_CA_TX_ISSUED);
            if (x == NULL) {
                int code = pkie_err_last()->code;
                if (code == PKIE_ERR_CA_DB || code == PKIE_ERR_CA_SERIAL ||
                    code == PKIE_ERR_NOMEM || code == PKIE_ERR_CMP_NONCE_REPLAY ||
                    code == PKIE_ERR_CMP_TID_IN_USE) {
                    /* the store failed, or refused the request's nonce written with
                     * the certificate: no certificate may leave */
                    rc = code;
                    break;
                }
                refuse(c, code == PKIE_ERR_CA_POLICY_KEY   ? PKIE_CMP_FI_badAlg
                          : code == PKIE_ERR_CA_POLICY_EXT ? PKIE_CMP_FI_unacceptedExtension
                                                           : PKIE_CMP_FI_badCertTemplate);
            }
        }
        if (x == NULL) {
            out->status.status = PKIE_CMP_REJECTION;
            out->status.has_failInfo = 1;
            out->status.failInfo = 1u << c->failbit;
            if (srv_freetext(r->resp, &out->status.statusString, c->why) != 0) {
                rc = pkie_err_last()->code;
                break;
            }
            continue;
        }
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        X509_free(x);
        out->status.status = PKIE_CMP_ACCEPTED;
        out->has_certifiedKeyPair = 1;
        out->certifiedKeyPair.certOrEncCert_type = PKIE_CMP_CERTIFICATE;
        rc = len > 0 ? pkie_cmp_dup(r->resp, &out->certifiedKeyPair.certOrEncCert, der, (size_t)len)
                     : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode certificate");
        OPENSSL_free(der);
        if (rc == 0 && c->env != NULL)
            rc = pkie_cmp_dup(r->resp, &out->certifiedKeyPair.privateKey, c->env, c->env_len);
        if (rc != 0)
            break;
        issued++;
    }
    for (size_t i = 0; i < n; i++)
        creq_free(&cr[i]);
    if (rc != 0)
        return rc;
    if (tx_id > 0 && (implicit || issued == 0))
        (void)pkie_ca_store_tx_set_state(r->srv->store, tx_id, -1, PKIE_CA_TX_CLOSED, NULL);
    r->implicit = implicit && issued > 0;
    if (r->is_mac == 1 && m->body.type == PKIE_CMP_BODY_IR && issued > 0) {
        /* MAC-based initial enrollment: give the trust anchor (RFC 9483 4.1.1). */
        rep->caPubs = pkie_cmp_alloc(r->resp, sizeof(*rep->caPubs));
        if (rep->caPubs == NULL)
            return pkie_err_last()->code;
        rep->caPubs[0].p = r->srv->root_der;
        rep->caPubs[0].len = r->srv->root_der_len;
        rep->caPubs_count = 1;
    }
    if (r->is_mac == 1 && issued > 0) {
        /* the chain of the new certificate, to let the client build its path */
        size_t k = X509_cmp(r->srv->issuer, r->srv->root) != 0 ? 2 : 1;
        r->resp->extraCerts = pkie_cmp_alloc_array(r->resp, k, sizeof(*r->resp->extraCerts));
        if (r->resp->extraCerts == NULL)
            return pkie_err_last()->code;
        r->resp->extraCerts[0].p = r->srv->issuer_der;
        r->resp->extraCerts[0].len = r->srv->issuer_der_len;
        if (k == 2) {
            r->resp->extraCerts[1].p = r->srv->root_der;
            r->resp->extraCerts[1].len = r->srv->root_der_len;
        }
        r->resp->extraCerts_count = k;
    }
    return 0;
}

static int tx_open(int state)
{
    return state == PKIE_CA_TX_WAITING || state == PKIE_CA_TX_APPROVED ||
           state == PKIE_CA_TX_ISSUED;
}

static const char *client_ref(const struct srv_req *r)
{
    return r->have_client ? r->client.ref : "";
}

int srv_certreq(struct srv_req *r, int *failbit)
{
    const struct pkie_cmp_msg *m = r->m;
    if (!r->have_client) {
        *failbit = PKIE_CMP_FI_notAuthorized;
        return PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CLIENT, "no client registration for this sender");
    }
    if (m->body.type == PKIE_CMP_BODY_KUR && r->is_mac != 0) {
        *failbit = PKIE_CMP_FI_wrongIntegrity;
        return PKIE_ERR(PKIE_ERR_CMP_WRONG_INTEGRITY, "kur must be signed with the old key");
    }
    int st = -1; /* (read with the nonce lookup when the store could) */
    if (pkie_ca_store_tx_latest_state(r->srv->store, &r->nonce, m->header.transactionID.p,
                                      m->header.transactionID.len, &st) == 0 &&
        st >= 0 && tx_open(st)) {
        *failbit = PKIE_CMP_FI_transactionIdInUse;
        return PKIE_ERR(PKIE_ERR_CMP_TID_IN_USE, "transactionID already in use");
    }
    pkie_err_clear();
    if (!r->client.manual) {
        int rc = issue_all(r, m, 0);
        if (rc == PKIE_ERR_CMP_NONCE_REPLAY || rc == PKIE_ERR_CMP_TID_IN_USE)
            *failbit = pkie_cmp_err_failinfo(rc);
        else if (rc != 0)
            *failbit = PKIE_CMP_FI_systemUnavail;
        return rc;
    }
    /* Manual approval: keep the request, answer "waiting". */
    size_t n = m->body.type == PKIE_CMP_BODY_P10CR ? 1 : m->body.u.certReqs.count;
    char subj[512] = "";
    if (m->body.type != PKIE_CMP_BODY_P10CR && n > 0) {
        const struct pkie_crmf_template *tp = &m->body.u.certReqs.msgs[0].certReq.certTemplate;
        const unsigned char *q = tp->subject.p;
        X509_NAME *nm = q != NULL ? d2i_X509_NAME(NULL, &q, (long)tp->subject.len) : NULL;
        if (nm != NULL)
            pkie_ca_name_text(nm, subj, sizeof(subj));
        X509_NAME_free(nm);
    }
    if (n == 0 || n > MAX_REQS) {
        *failbit = PKIE_CMP_FI_badRequest;
        return PKIE_ERR(PKIE_ERR_LIMIT, "%zu certificate requests (1..%d)", n, MAX_REQS);
    }
    int64_t id = 0;
    int rc = pkie_ca_store_tx_create(r->srv->store, m->header.transactionID.p,
                                     m->header.transactionID.len, PKIE_CA_TX_WAITING, client_ref(r),
                                     subj, m->der.p, m->der.len, &id);
    if (rc == 0)
        rc = srv_resp_new(r, pkie_cmp_body_answer(m->body.type));
    if (rc != 0) {
        *failbit = PKIE_CMP_FI_systemUnavail;
        return rc;
    }
    pkie_log_info("ca", "transaction %lld from %s waits for approval", (long long)id,
                  client_ref(r));
    struct pkie_cmp_certrep *rep = &r->resp->body.u.certRep;
    rep->response = pkie_cmp_alloc_array(r->resp, n, sizeof(*rep->response));
    if (rep->response == NULL)
        return pkie_err_last()->code;
    rep->response_count = n;
    for (size_t i = 0; i < n; i++) {
        rep->response[i].certReqId = m->body.type == PKIE_CMP_BODY_P10CR
                                         ? P10CR_ID
                                         : m->body.u.certReqs.msgs[i].certReq.certReqId;
        rep->response[i].status.status = PKIE_CMP_WAITING;
    }
    return 0;
}

static int same_client(const struct srv_req *r, const struct pkie_ca_tx *t, int *failbit)
{
    if (strcmp(t->client_ref, client_ref(r)) != 0) {
        *failbit = PKIE_CMP_FI_notAuthorized;
        return PKIE_ERR(PKIE_ERR_CMP_TID_MISMATCH, "transaction belongs to another client");
    }
    return 0;
}

int srv_pollreq(struct srv_req *r, int *failbit)
{
    const struct pkie_cmp_msg *m = r->m;
    struct pkie_ca_tx t;
    struct pkie_cmp_msg *orig = NULL;
    int rc = pkie_ca_store_tx_get(r->srv->store, 0, m->header.transactionID.p,
                                  m->header.transactionID.len, &t);
    if (rc != 0) {
        *failbit = PKIE_CMP_FI_badRequest;
        return rc;
    }
    if ((rc = same_client(r, &t, failbit)) != 0)
        goto out;
    if (t.state == PKIE_CA_TX_WAITING) {
        const struct pkie_cmp_pollreq *pr = &m->body.u.pollReq;
        if ((rc = srv_resp_new(r, PKIE_CMP_BODY_POLLREP)) != 0)
            goto out;
        struct pkie_cmp_pollrep *rep = &r->resp->body.u.pollRep;
        size_t n = pr->count > 0 ? pr->count : 1;
        rep->entries = pkie_cmp_alloc_array(r->resp, n, sizeof(*rep->entries));
        if (rep->entries == NULL) {
            rc = pkie_err_last()->code;
            goto out;
        }
        rep->count = n;
        for (size_t i = 0; i < n; i++) {
            rep->entries[i].certReqId = pr->count > 0 ? pr->certReqId[i] : 0;
            rep->entries[i].checkAfter = r->srv->check_after;
        }
        /* touch the transaction so it does not expire while the client polls */
        (void)pkie_ca_store_tx_set_state(r->srv->store, t.id, PKIE_CA_TX_WAITING,
                                         PKIE_CA_TX_WAITING, NULL);
        goto out;
    }
    if (t.state != PKIE_CA_TX_APPROVED && t.state != PKIE_CA_TX_REJECTED) {
        *failbit = PKIE_CMP_FI_badRequest;
        rc = PKIE_ERR(PKIE_ERR_STATE, "transaction is not waiting");
        goto out;
    }
    if (t.request == NULL || pkie_cmp_msg_decode(t.request, t.request_len, NULL, &orig) != 0) {
        *failbit = PKIE_CMP_FI_systemFailure;
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "stored request unreadable");
        goto out;
    }
    if (t.state == PKIE_CA_TX_APPROVED) {
        rc = issue_all(r, orig, t.id);
        if (rc != 0)
            *failbit = PKIE_CMP_FI_systemUnavail;
        goto out;
    }
    /* rejected by the operator */
    size_t n = orig->body.type == PKIE_CMP_BODY_P10CR ? 1 : orig->body.u.certReqs.count;
    if ((rc = srv_resp_new(r, pkie_cmp_body_answer(orig->body.type))) != 0)
        goto out;
    struct pkie_cmp_certrep *rep = &r->resp->body.u.certRep;
    rep->response = pkie_cmp_alloc_array(r->resp, n, sizeof(*rep->response));
    if (rep->response == NULL) {
        rc = pkie_err_last()->code;
        goto out;
    }
    rep->response_count = n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct pkie_cmp_certresp *o = &rep->response[i];
        o->certReqId = orig->body.type == PKIE_CMP_BODY_P10CR
                           ? P10CR_ID
                           : orig->body.u.certReqs.msgs[i].certReq.certReqId;
        o->status.status = PKIE_CMP_REJECTION;
        o->status.has_failInfo = 1;
        o->status.failInfo = 1u << PKIE_CMP_FI_notAuthorized;
        rc = srv_freetext(r->resp, &o->status.statusString,
                          t.reason[0] != '\0' ? t.reason : "rejected");
    }
    if (rc == 0)
        (void)pkie_ca_store_tx_set_state(r->srv->store, t.id, PKIE_CA_TX_REJECTED,
                                         PKIE_CA_TX_CLOSED, NULL);
out:
    pkie_cmp_msg_free(orig);
    pkie_ca_tx_clear(&t);
    return rc;
}

/* ---- certConf ---------------------------------------------------------------------------- */

struct txcert {
    char serial[48];
    int64_t certReqId;
    int status;
    X509 *x;
    int seen;
};

struct txcerts {
    struct txcert c[MAX_REQS];
    size_t n;
};

static int collect(void *arg, const struct pkie_ca_cert *c)
{
    struct txcerts *t = arg;
    if (t->n >= MAX_REQS)
        return 0;
    struct txcert *e = &t->c[t->n];
    const unsigned char *p = c->der;
    e->x = d2i_X509(NULL, &p, (long)c->der_len);
    if (e->x == NULL)
        return 0;
    snprintf(e->serial, sizeof(e->serial), "%s", c->serial);
    e->certReqId = c->cert_req_id;
    e->status = c->status;
    t->n++;
    return 0;
}

static int hash_matches(const struct pkie_cmp_certstatus *st, X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const EVP_MD *type = NULL;
    if (st->hashAlg.p != NULL) {
        const unsigned char *q = st->hashAlg.p;
        X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &q, (long)st->hashAlg.len);
        const ASN1_OBJECT *obj = NULL;
        if (alg != NULL)
            X509_ALGOR_get0(&obj, NULL, NULL, alg);
        type = obj != NULL ? EVP_get_digestbyobj(obj) : NULL;
        X509_ALGOR_free(alg);
        if (type == NULL || X509_digest(x, type, md, &len) != 1)
            return 0;
    } else {
        ASN1_OCTET_STRING *h = X509_digest_sig(x, NULL, NULL);
        if (h == NULL)
            return 0;
        len = (unsigned)ASN1_STRING_length(h);
        if (len > sizeof(md))
            len = 0;
        memcpy(md, ASN1_STRING_get0_data(h), len);
        ASN1_OCTET_STRING_free(h);
    }
    return len > 0 && st->certHash.len == len && memcmp(st->certHash.p, md, len) == 0;
}

int srv_certconf(struct srv_req *r, int *failbit)
{
    const struct pkie_cmp_msg *m = r->m;
    struct pkie_ca_tx t;
    struct txcerts tc;
    memset(&tc, 0, sizeof(tc));
    int rc = pkie_ca_store_tx_get(r->srv->store, 0, m->header.transactionID.p,
                                  m->header.transactionID.len, &t);
    if (rc != 0) {
        *failbit = PKIE_CMP_FI_badRequest;
        return rc;
    }
    if ((rc = same_client(r, &t, failbit)) != 0)
        goto out;
    if (t.state != PKIE_CA_TX_ISSUED) {
        *failbit = PKIE_CMP_FI_badRequest;
        rc = PKIE_ERR(PKIE_ERR_STATE, "no certificate awaits confirmation in this transaction");
        goto out;
    }
    if ((rc = pkie_ca_store_tx_certs(r->srv->store, t.id, collect, &tc)) != 0) {
        *failbit = PKIE_CMP_FI_systemUnavail;
        goto out;
    }
    const struct pkie_cmp_certconf *cc = &m->body.u.certConf;
    for (size_t i = 0; i < cc->count; i++) {
        const struct pkie_cmp_certstatus *st = &cc->status[i];
        struct txcert *e = NULL;
        for (size_t j = 0; j < tc.n; j++)
            if (tc.c[j].status == PKIE_CA_CERT_ISSUED &&
                (tc.c[j].certReqId == st->certReqId ||
                 /* the one certificate of a p10cr: -1 (RFC 9810; OpenSSL 3.2 and later) or 0
                  * (older clients; and what this CA answered before it said -1) */
                 (tc.n == 1 && (tc.c[j].certReqId == P10CR_ID || tc.c[j].certReqId == 0) &&
                  (st->certReqId == P10CR_ID || st->certReqId == 0))))
                e = &tc.c[j];
        if (e == NULL || e->seen) {
            *failbit = PKIE_CMP_FI_badCertId;
            rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CERT, "certConf for unknown certReqId %lld",
                          (long long)st->certReqId);
            goto out;
        }
        if (!hash_matches(st, e->x)) {
            *failbit = PKIE_CMP_FI_badCertId;
            rc = PKIE_ERR(PKIE_ERR_CA_UNKNOWN_CERT, "certHash does not match certReqId %lld",
                          (long long)st->certReqId);
            goto out;
        }
        e->seen = st->has_statusInfo && st->statusInfo.status == PKIE_CMP_REJECTION ? 2 : 1;
    }
    /* Commit the outcome: accepted ones are confirmed; rejected or unmentioned are revoked. */
    int revoked = 0;
    for (size_t j = 0; j < tc.n; j++) {
        if (tc.c[j].status != PKIE_CA_CERT_ISSUED)
            continue;
        int ok = tc.c[j].seen == 1;
        rc = pkie_ca_store_cert_set_status(r->srv->store, tc.c[j].serial,
                                           ok ? PKIE_CA_CERT_CONFIRMED : PKIE_CA_CERT_REVOKED,
                                           ok ? -1 : 5 /* cessationOfOperation */);
        if (rc != 0) {
            *failbit = PKIE_CMP_FI_systemUnavail;
            goto out;
        }
        revoked += !ok;
        if (!ok)
            pkie_log_info("ca", "certificate %s rejected by the client: revoked", tc.c[j].serial);
    }
    if (revoked)
        srv_crl_dirty(r->srv);
    (void)pkie_ca_store_tx_set_state(r->srv->store, t.id, PKIE_CA_TX_ISSUED, PKIE_CA_TX_CLOSED,
                                     NULL);
    rc = srv_resp_new(r, PKIE_CMP_BODY_PKICONF);
out:
    for (size_t j = 0; j < tc.n; j++)
        X509_free(tc.c[j].x);
    pkie_ca_tx_clear(&t);
    return rc;
}

/* ---- error from the client --------------------------------------------------------------- */

int srv_error_msg(struct srv_req *r, int *failbit)
{
    const struct pkie_cmp_msg *m = r->m;
    struct pkie_ca_tx t;
    (void)failbit;
    if (pkie_ca_store_tx_get(r->srv->store, 0, m->header.transactionID.p,
                             m->header.transactionID.len, &t) == 0) {
        if (strcmp(t.client_ref, client_ref(r)) == 0 && tx_open(t.state)) {
            if (t.state == PKIE_CA_TX_ISSUED) {
                struct txcerts tc;
                memset(&tc, 0, sizeof(tc));
                if (pkie_ca_store_tx_certs(r->srv->store, t.id, collect, &tc) == 0)
                    for (size_t j = 0; j < tc.n; j++)
                        if (tc.c[j].status == PKIE_CA_CERT_ISSUED)
                            (void)pkie_ca_store_cert_set_status(r->srv->store, tc.c[j].serial,
                                                                PKIE_CA_CERT_REVOKED, 5);
                for (size_t j = 0; j < tc.n; j++)
                    X509_free(tc.c[j].x);
                srv_crl_dirty(r->srv);
            }
            (void)pkie_ca_store_tx_set_state(r->srv->store, t.id, -1, PKIE_CA_TX_CLOSED,
                                             "error from client");
        }
        pkie_ca_tx_clear(&t);
    }
    pkie_err_clear();
    return srv_resp_new(r, PKIE_CMP_BODY_PKICONF);
}
