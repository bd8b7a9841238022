/* In-process CMP responder for the client's unit tests (see responder.h). */
#include "responder.h"

#include "pkie/cmp_msg.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>

EVP_PKEY *tpki_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx(&c, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    if (e != NULL)
        X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

X509 *tpki_cert(const char *cn, EVP_PKEY *pub, X509 *ca, EVP_PKEY *ca_key, int is_ca)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"pkie unit", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_version(x, 2);
    BIGNUM *bn = BN_new();
    BN_rand(bn, 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, ca != NULL ? X509_get_subject_name(ca) : n);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_set_pubkey(x, pub);
    add_ext(x, ca, NID_subject_key_identifier, "hash");
    if (ca != NULL)
        add_ext(x, ca, NID_authority_key_identifier, "keyid");
    add_ext(x, ca, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, ca, NID_key_usage,
            is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    X509_sign(x, ca_key, EVP_sha256());
    X509_NAME_free(n);
    return x;
}

void tpki_init(struct tpki *p)
{
    memset(p, 0, sizeof(*p));
    p->root_key = tpki_key();
    p->srv_key = tpki_key();
    p->cli_key = tpki_key();
    p->new_key = tpki_key();
    p->other_key = tpki_key();
    p->root = tpki_cert("unit root", p->root_key, NULL, p->root_key, 1);
    p->srv = tpki_cert("unit server", p->srv_key, p->root, p->root_key, 0);
    p->cli = tpki_cert("unit client", p->cli_key, p->root, p->root_key, 0);
    p->other_root = tpki_cert("unit other root", p->other_key, NULL, p->other_key, 1);
}

void tpki_free(struct tpki *p)
{
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->srv_key);
    EVP_PKEY_free(p->cli_key);
    EVP_PKEY_free(p->new_key);
    EVP_PKEY_free(p->other_key);
    X509_free(p->root);
    X509_free(p->srv);
    X509_free(p->cli);
    X509_free(p->other_root);
}

void responder_reset(struct responder *r)
{
    sk_X509_pop_free(r->pending, X509_free);
    struct tpki *pki = r->pki;
    memset(r, 0, sizeof(*r));
    r->pki = pki;
    r->pkistatus = -1;
    r->rev_reason = -1;
}

static int dup_i2d_cert(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *dst, X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    int rc = n > 0 ? pkie_cmp_dup(m, dst, der, (size_t)n) : PKIE_ERR_CRYPTO;
    OPENSSL_free(der);
    return rc;
}

static void set_status(struct responder *r, struct pkie_cmp_msg *m, struct pkie_cmp_statusinfo *si,
                       int status)
{
    si->status = status;
    if (status != PKIE_CMP_ACCEPTED && r->failbits != 0) {
        si->has_failInfo = 1;
        si->failInfo = r->failbits;
    }
    if (r->statusstring != NULL) {
        struct pkie_cmp_bytes *s = pkie_cmp_alloc(m, sizeof(*s));
        pkie_cmp_dup(m, s, r->statusstring, strlen(r->statusstring));
        si->statusString.strs = s;
        si->statusString.count = 1;
    }
}

static X509 *issue(struct responder *r, EVP_PKEY *pub, const char *cn)
{
    EVP_PKEY *k = r->wrong_cert ? r->pki->other_key : pub;
    if (r->issuer != NULL)
        return tpki_cert(cn, k, r->issuer, r->issuer_key, 0);
    return tpki_cert(cn, k, r->pki->root, r->pki->root_key, 0);
}

/* Fill a CertRepMessage from the certificates (NULL = per status). */
static void certrep(struct responder *r, struct pkie_cmp_msg *out, STACK_OF(X509) *certs,
                    const int64_t *ids, int status)
{
    size_t n = (size_t)sk_X509_num(certs);
    struct pkie_cmp_certresp *rs = pkie_cmp_alloc_array(out, n, sizeof(*rs));
    for (size_t i = 0; i < n; i++) {
        rs[i].certReqId = ids[i];
        set_status(r, out, &rs[i].status, status);
        if (status == PKIE_CMP_ACCEPTED || status == PKIE_CMP_GRANTED_WITH_MODS) {
            rs[i].has_certifiedKeyPair = 1;
            rs[i].certifiedKeyPair.certOrEncCert_type = PKIE_CMP_CERTIFICATE;
            dup_i2d_cert(out, &rs[i].certifiedKeyPair.certOrEncCert, sk_X509_value(certs, (int)i));
        }
    }
    out->body.u.certRep.response = rs;
    out->body.u.certRep.response_count = n;
    struct pkie_cmp_bytes *ca = pkie_cmp_alloc(out, sizeof(*ca));
    dup_i2d_cert(out, ca, r->pki->root);
    out->body.u.certRep.caPubs = ca;
    out->body.u.certRep.caPubs_count = 1;
}

static int64_t pending_ids[64];
static int pending_type;

static void genp(struct responder *r, const struct pkie_cmp_msg *m, struct pkie_cmp_msg *out)
{
    size_t n = m->body.u.genm.count;
    struct pkie_cmp_itav *a = n > 0 ? pkie_cmp_alloc_array(out, n, sizeof(*a)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct pkie_cmp_itav *in = &m->body.u.genm.itav[i];
        char oid[PKIE_DER_OID_TEXT_MAX];
        pkie_der_oid_to_text(in->type.p, in->type.len, oid, sizeof(oid));
        pkie_cmp_dup(out, &a[i].type, in->type.p, in->type.len);
        if (in->value.p != NULL)
            pkie_cmp_dup(out, &a[i].value, in->value.p, in->value.len);
        if (r->echo_genm)
            continue;
        struct pkie_derw w;
        pkie_derw_init(&w, 1 << 16);
        unsigned char *der = NULL;
        int dl = 0;
        const char *rsp_oid = oid;
        if (strcmp(oid, PKIE_CMP_OID_IT_CA_CERTS) == 0) {
            dl = i2d_X509(r->pki->root, &der);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_raw(&w, der, (size_t)dl);
            pkie_derw_end(&w);
        } else if (strcmp(oid, PKIE_CMP_OID_IT_ROOT_CA_CERT) == 0) {
            /* new root (self-signed with other_key) and its link signed by the old root */
            X509 *nn = tpki_cert("unit new root", r->pki->other_key, NULL, r->pki->other_key, 1);
            X509 *no =
                tpki_cert("unit new root", r->pki->other_key, r->pki->root, r->pki->root_key, 1);
            rsp_oid = PKIE_CMP_OID_IT_ROOT_CA_KEYUPDATE;
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            dl = i2d_X509(nn, &der);
            pkie_derw_raw(&w, der, (size_t)dl);
            OPENSSL_free(der);
            der = NULL;
            pkie_derw_begin(&w, PKIE_DER_CTX_C(0));
            dl = i2d_X509(no, &der);
            pkie_derw_raw(&w, der, (size_t)dl);
            pkie_derw_end(&w);
            pkie_derw_end(&w);
            X509_free(nn);
            X509_free(no);
        } else if (strcmp(oid, PKIE_CMP_OID_IT_CRL_STATUS_LIST) == 0) {
            X509_CRL *crl = X509_CRL_new();
            X509_CRL_set_version(crl, 1);
            X509_CRL_set_issuer_name(crl, X509_get_subject_name(r->pki->root));
            ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL));
            X509_CRL_set1_lastUpdate(crl, t);
            ASN1_TIME_free(t);
            X509_CRL_sign(crl, r->pki->root_key, EVP_sha256());
            rsp_oid = PKIE_CMP_OID_IT_CRLS;
            dl = i2d_X509_CRL(crl, &der);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_raw(&w, der, (size_t)dl);
            pkie_derw_end(&w);
            X509_CRL_free(crl);
        } else if (strcmp(oid, PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES) == 0) {
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_oid_text(&w, PKIE_DER_OID, "1.2.840.10045.2.1");
            pkie_derw_oid_text(&w, PKIE_DER_OID, "1.2.840.10045.3.1.7");
            pkie_derw_end(&w);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_oid_text(&w, PKIE_DER_OID, "1.3.101.112");
            pkie_derw_end(&w);
            pkie_derw_end(&w);
        } else if (strcmp(oid, PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE) == 0) {
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* CertTemplate with a subject */
            unsigned char *nd = NULL;
            int nl = i2d_X509_NAME(X509_get_subject_name(r->pki->cli), &nd);
            pkie_derw_begin(&w, PKIE_DER_CTX_C(5));
            pkie_derw_raw(&w, nd, (size_t)nl);
            pkie_derw_end(&w);
            OPENSSL_free(nd);
            pkie_derw_end(&w);
            pkie_derw_end(&w);
        } else {
            pkie_derw_free(&w);
            continue;
        }
        OPENSSL_free(der);
        const uint8_t *p;
        size_t len;
        if (r->genp_raw != NULL)
            pkie_cmp_dup(out, &a[i].value, r->genp_raw, r->genp_raw_len);
        else if (pkie_derw_finish(&w, &p, &len) == 0)
            pkie_cmp_dup(out, &a[i].value, p, len);
        pkie_derw_free(&w);
        uint8_t ob[PKIE_DER_OID_MAX_LEN];
        size_t ol;
        pkie_der_oid_from_text(rsp_oid, ob, sizeof(ob), &ol);
        pkie_cmp_dup(out, &a[i].type, ob, ol);
    }
    out->body.u.genm.itav = a;
    out->body.u.genm.count = n;
}

int responder_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                       size_t *rsp_len, void *arg)
{
    (void)ctx;
    struct responder *r = arg;
    struct pkie_cmp_msg *m = NULL, *out = NULL;
    X509_NAME *peer = NULL;
    STACK_OF(X509) *certs = NULL;
    int rc;
    if (r->no_answer)
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "test responder: no answer");
    if ((rc = pkie_cmp_msg_decode(req, req_len, NULL, &m)) < 0)
        return rc;
    if (r->n_msgs < 32)
        r->bodies[r->n_msgs] = m->body.type;
    r->n_msgs++;
    r->last_prot_mac = m->protection.p == NULL ? -1 : pkie_cmp_protection_is_mac(m);
    r->last_n_extracerts = (int)m->extraCerts_count;
    memset(r->last_extracerts, 0, sizeof(r->last_extracerts));
    for (size_t i = 0; i < m->extraCerts_count && i < 4; i++) {
        const unsigned char *p = m->extraCerts[i].p;
        X509 *x = d2i_X509(NULL, &p, (long)m->extraCerts[i].len);
        if (x != NULL)
            X509_NAME_oneline(X509_get_subject_name(x), r->last_extracerts[i],
                              (int)sizeof(r->last_extracerts[i]));
        X509_free(x);
    }
    /* the client's protection must verify */
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    X509_STORE *st = X509_STORE_new();
    X509_STORE_add_cert(st, r->pki->root);
    v.secret = (const uint8_t *)r->secret;
    v.secret_len = r->secret != NULL ? strlen(r->secret) : 0;
    v.trusted = st;
    v.allow_unprotected = 1;
    v.max_skew = -1;
    rc = r->skip_verify ? 0 : pkie_cmp_msg_validate(m, &v);
    X509_free(v.signer);
    X509_STORE_free(st);
    if (rc < 0)
        goto out;

    struct pkie_cmp_bytes name;
    if (pkie_cmp_gn_dirname(&m->header.sender, &name) == 0) {
        const unsigned char *p = name.p;
        peer = d2i_X509_NAME(NULL, &p, (long)name.len);
    }
    out = pkie_cmp_msg_new();
    uint8_t bogus[16] = {1, 2, 3};
    struct pkie_cmp_bytes tid = m->header.transactionID, rn = m->header.senderNonce;
    if (r->bad_tid)
        tid = (struct pkie_cmp_bytes){bogus, sizeof(bogus)};
    if (r->bad_recip)
        rn = (struct pkie_cmp_bytes){bogus, sizeof(bogus)};
    if ((rc = pkie_cmp_header_init(
             out, PKIE_CMP_PVNO_2000,
             X509_get_subject_name(r->signer != NULL ? r->signer : r->pki->srv), peer, &tid, &rn)) <
        0)
        goto out;
    int negative = 0;
    int type = m->body.type;
    if (r->send_error && type != PKIE_CMP_BODY_CERTCONF && type != PKIE_CMP_BODY_ERROR) {
        out->body.type = PKIE_CMP_BODY_ERROR;
        set_status(r, out, &out->body.u.error.pKIStatusInfo, PKIE_CMP_REJECTION);
        negative = 1;
    } else if (type == PKIE_CMP_BODY_IR || type == PKIE_CMP_BODY_CR || type == PKIE_CMP_BODY_KUR ||
               type == PKIE_CMP_BODY_P10CR) {
        certs = sk_X509_new_null();
        size_t n = type == PKIE_CMP_BODY_P10CR ? 1 : m->body.u.certReqs.count;
        r->n_certreqs = (int)n;
        r->implicit_asked = m->header.implicitConfirm;
        for (size_t i = 0; i < n && i < 64; i++) {
            EVP_PKEY *pub;
            if (type == PKIE_CMP_BODY_P10CR) {
                const unsigned char *p = m->body.raw.p;
                X509_REQ *csr = d2i_X509_REQ(NULL, &p, (long)m->body.raw.len);
                pub = csr != NULL ? X509_REQ_get_pubkey(csr) : NULL;
                X509_REQ_free(csr);
                pending_ids[i] = -1;
            } else {
                const struct pkie_crmf_certreq *cr = &m->body.u.certReqs.msgs[i].certReq;
                pub = pkie_crmf_template_pubkey(&cr->certTemplate);
                if (i == 0) {
                    r->last_subject[0] = '\0';
                    r->last_oldcertid = cr->has_oldCertID;
                    if (cr->certTemplate.present & PKIE_CRMF_T_SUBJECT) {
                        const unsigned char *p = cr->certTemplate.subject.p;
                        X509_NAME *sn = d2i_X509_NAME(NULL, &p, (long)cr->certTemplate.subject.len);
                        if (sn != NULL)
                            X509_NAME_oneline(sn, r->last_subject, sizeof(r->last_subject));
                        X509_NAME_free(sn);
                    }
                }
                pending_ids[i] = m->body.u.certReqs.msgs[i].certReq.certReqId;
            }
            if (pub == NULL) {
                rc = PKIE_ERR(PKIE_ERR_CMP_DECODE, "test responder: no public key");
                goto out;
            }
            sk_X509_push(certs, issue(r, pub, "unit new"));
            EVP_PKEY_free(pub);
        }
        pending_type = type == PKIE_CMP_BODY_IR    ? PKIE_CMP_BODY_IP
                       : type == PKIE_CMP_BODY_KUR ? PKIE_CMP_BODY_KUP
                                                   : PKIE_CMP_BODY_CP;
        out->body.type = pending_type;
        int status = r->pkistatus >= 0 ? r->pkistatus : PKIE_CMP_ACCEPTED;
        if (r->poll_count > 0) {
            status = PKIE_CMP_WAITING;
            r->polls_left = r->poll_count - 1;
            sk_X509_pop_free(r->pending, X509_free);
            r->pending = certs;
            certs = NULL;
            STACK_OF(X509) *nulls = sk_X509_new_null();
            for (size_t i = 0; i < n; i++)
                sk_X509_push(nulls, r->pki->root); /* placeholders, no cert sent */
            certrep(r, out, nulls, pending_ids, status);
            sk_X509_free(nulls);
        } else {
            certrep(r, out, certs, pending_ids, status);
            negative = status == PKIE_CMP_REJECTION;
            if (r->grant_implicit && r->implicit_asked)
                pkie_cmp_header_set_implicit_confirm(out);
        }
    } else if (type == PKIE_CMP_BODY_POLLREQ) {
        if (r->polls_left > 0) {
            r->polls_left--;
            out->body.type = PKIE_CMP_BODY_POLLREP;
            size_t n = m->body.u.pollReq.count;
            struct pkie_cmp_pollrep_entry *e = pkie_cmp_alloc_array(out, n, sizeof(*e));
            for (size_t i = 0; i < n; i++) {
                e[i].certReqId = m->body.u.pollReq.certReqId[i];
                e[i].checkAfter = r->check_after;
            }
            out->body.u.pollRep.entries = e;
            out->body.u.pollRep.count = n;
        } else {
            out->body.type = pending_type;
            certrep(r, out, r->pending, pending_ids, PKIE_CMP_ACCEPTED);
        }
    } else if (type == PKIE_CMP_BODY_CERTCONF || type == PKIE_CMP_BODY_ERROR) {
        out->body.type = PKIE_CMP_BODY_PKICONF;
    } else if (type == PKIE_CMP_BODY_RR) {
        out->body.type = PKIE_CMP_BODY_RP;
        struct pkie_cmp_statusinfo *si = pkie_cmp_alloc(out, sizeof(*si));
        int status = r->pkistatus >= 0 ? r->pkistatus : PKIE_CMP_ACCEPTED;
        set_status(r, out, si, status);
        negative = status == PKIE_CMP_REJECTION;
        out->body.u.rp.status = si;
        out->body.u.rp.status_count = 1;
        r->rev_reason = -1;
        const struct pkie_crmf_template *cd = &m->body.u.rr.details[0].certDetails;
        r->rev_present = cd->present;
        r->rev_serial_len =
            cd->serialNumber.len <= sizeof(r->rev_serial) ? cd->serialNumber.len : 0;
        if (r->rev_serial_len > 0)
            memcpy(r->rev_serial, cd->serialNumber.p, r->rev_serial_len);
        const struct pkie_cmp_bytes *ed = &m->body.u.rr.details[0].crlEntryDetails;
        if (ed->p != NULL) {
            const unsigned char *p = ed->p;
            X509_EXTENSIONS *exts = d2i_X509_EXTENSIONS(NULL, &p, (long)ed->len);
            ASN1_ENUMERATED *e = X509V3_get_d2i(exts, NID_crl_reason, NULL, NULL);
            if (e != NULL)
                r->rev_reason = (int)ASN1_ENUMERATED_get(e);
            ASN1_ENUMERATED_free(e);
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        }
    } else if (type == PKIE_CMP_BODY_GENM) {
        out->body.type = PKIE_CMP_BODY_GENP;
        genp(r, m, out);
    } else {
        rc = PKIE_ERR(PKIE_ERR_UNSUPPORTED, "test responder: body %d", type);
        goto out;
    }
    if (!(negative && r->unprot_neg)) {
        if (r->secret != NULL) {
            struct pkie_cmp_mac_params p;
            pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
            rc = pkie_cmp_protect_mac(out, (const uint8_t *)r->secret, strlen(r->secret), &p, NULL);
        } else {
            struct pkie_cmp_sig_params sp = {"SHA256", 0};
            int certrep = out->body.type == PKIE_CMP_BODY_IP ||
                          out->body.type == PKIE_CMP_BODY_CP || out->body.type == PKIE_CMP_BODY_KUP;
            STACK_OF(X509) *chain = certrep || !r->chain_in_certrep_only ? r->signer_chain : NULL;
            rc = pkie_cmp_protect_sig(out, r->signer_key != NULL ? r->signer_key : r->pki->srv_key,
                                      r->signer != NULL ? r->signer : r->pki->srv, chain, &sp);
        }
        if (rc < 0)
            goto out;
    }
    rc = pkie_cmp_msg_encode(out, rsp, rsp_len);
out:
    sk_X509_pop_free(certs, X509_free);
    X509_NAME_free(peer);
    pkie_cmp_msg_free(m);
    pkie_cmp_msg_free(out);
    return rc;
}
