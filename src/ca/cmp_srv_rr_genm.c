/* CMP server: revocation (rr) and general messages (genm). */
#include "cmp_srv.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <openssl/bn.h>
#include <stdlib.h>
#include <string.h>

/* ---- rr ------------------------------------------------------------------------------ */

static int crl_reason(const struct pkie_cmp_bytes *exts_tlv)
{
    if (exts_tlv->p == NULL)
        return 0;
    const unsigned char *q = exts_tlv->p;
    STACK_OF(X509_EXTENSION) *exts = d2i_X509_EXTENSIONS(NULL, &q, (long)exts_tlv->len);
    int reason = 0;
    int idx = exts != NULL ? X509v3_get_ext_by_NID(exts, NID_crl_reason, -1) : -1;
    if (idx >= 0) {
        ASN1_ENUMERATED *e = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx));
        long v = e != NULL ? ASN1_ENUMERATED_get(e) : 0;
        reason = v >= 0 && v <= 10 && v != 7 && v != 8 ? (int)v : 0;
        ASN1_ENUMERATED_free(e);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return reason;
}

static void set_status(struct pkie_cmp_statusinfo *si, int status, int failbit)
{
    si->status = status;
    if (failbit >= 0) {
        si->has_failInfo = 1;
        si->failInfo = 1u << failbit;
    }
}

/* Revoke one certificate; returns the failure bit, or -1 on success. */
static int revoke_one(struct srv_req *r, const struct pkie_cmp_revdetails *d)
{
    const struct pkie_crmf_template *t = &d->certDetails;
    char hex[48];
    struct pkie_ca_cert rec;
    if (!(t->present & PKIE_CRMF_T_SERIALNUMBER) || t->serialNumber.len == 0 ||
        t->serialNumber.len > 20 || (t->serialNumber.p[0] & 0x80) != 0)
        return PKIE_CMP_FI_badCertId;
    if (t->present & PKIE_CRMF_T_ISSUER) {
        const unsigned char *q = t->issuer.p;
        X509_NAME *iss = d2i_X509_NAME(NULL, &q, (long)t->issuer.len);
        int ok = iss != NULL && X509_NAME_cmp(iss, X509_get_subject_name(r->srv->issuer)) == 0;
        X509_NAME_free(iss);
        if (!ok)
            return PKIE_CMP_FI_badCertId;
    }
    BIGNUM *bn = BN_bin2bn(t->serialNumber.p, (int)t->serialNumber.len, NULL);
    char *h = bn != NULL ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (h == NULL || strlen(h) >= sizeof(hex)) {
        OPENSSL_free(h);
        return PKIE_CMP_FI_systemFailure;
    }
    strcpy(hex, h);
    OPENSSL_free(h);
    if (pkie_ca_store_cert_get(r->srv->store, hex, 0, &rec) != 0) {
        pkie_err_clear();
        return PKIE_CMP_FI_badCertId;
    }
    /* Who may revoke: the holder (signed with that very certificate), or the client
     * that enrolled it. */
    int allowed = 0;
    if (r->signer != NULL) {
        char shex[48];
        allowed = pkie_ca_serial_hex(X509_get0_serialNumber(r->signer), shex, sizeof(shex)) == 0 &&
                  strcmp(shex, hex) == 0;
    }
    if (!allowed && r->have_client && rec.client_ref[0] != '\0' &&
        strcmp(rec.client_ref, r->client.ref) == 0)
        allowed = 1;
    if (!allowed)
        return PKIE_CMP_FI_notAuthorized;
    if (rec.status == PKIE_CA_CERT_REVOKED)
        return PKIE_CMP_FI_certRevoked;
    int rc = pkie_ca_store_cert_set_status(r->srv->store, hex, PKIE_CA_CERT_REVOKED,
                                           crl_reason(&d->crlEntryDetails));
    if (rc != 0) {
        pkie_err_clear();
        return rc == PKIE_ERR_CA_REVOKED ? PKIE_CMP_FI_certRevoked : PKIE_CMP_FI_systemUnavail;
    }
    pkie_log_info("ca", "certificate %s revoked by rr", hex);
    return -1;
}

int srv_rr(struct srv_req *r, int *failbit)
{
    const struct pkie_cmp_revreq *rr = &r->m->body.u.rr;
    if (rr->count == 0 || rr->count > 64) {
        *failbit = PKIE_CMP_FI_badRequest;
        return PKIE_ERR(PKIE_ERR_LIMIT, "%zu revocation requests (1..64)", rr->count);
    }
    int rc = srv_resp_new(r, PKIE_CMP_BODY_RP);
    if (rc != 0)
        return rc;
    struct pkie_cmp_revrep *rp = &r->resp->body.u.rp;
    rp->status = pkie_cmp_alloc_array(r->resp, rr->count, sizeof(*rp->status));
    if (rp->status == NULL)
        return pkie_err_last()->code;
    rp->status_count = rr->count;
    int any = 0;
    for (size_t i = 0; i < rr->count; i++) {
        int fb = revoke_one(r, &rr->details[i]);
        set_status(&rp->status[i], fb < 0 ? PKIE_CMP_ACCEPTED : PKIE_CMP_REJECTION, fb);
        if (fb >= 0 && (rc = srv_freetext(r->resp, &rp->status[i].statusString,
                                          pkie_cmp_failinfo_name(fb))) != 0)
            return rc;
        any |= fb < 0;
    }
    if (any)
        srv_crl_dirty(r->srv);
    return 0;
}

/* ---- genm ------------------------------------------------------------------------------- */

static int oid_is(const struct pkie_cmp_bytes *oid, const char *text)
{
    uint8_t want[32];
    size_t n = 0;
    return pkie_der_oid_from_text(text, want, sizeof(want), &n) == 0 &&
           pkie_der_oid_equal(oid->p, oid->len, want, n);
}

static int alg_id(struct pkie_derw *w, const char *oid, const char *param_oid, int null_param)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(w, PKIE_DER_OID, oid);
    if (param_oid != NULL)
        pkie_derw_oid_text(w, PKIE_DER_OID, param_oid);
    if (null_param)
        pkie_derw_null(w, PKIE_DER_NULL);
    return pkie_derw_end(w);
}

/* Append an ITAV to the genp; @p w holds the value (NULL: none). */
static int add_itav(struct srv_req *r, struct pkie_cmp_itav *dst, const char *oid,
                    struct pkie_derw *w)
{
    uint8_t o[32];
    size_t olen = 0;
    int rc = pkie_der_oid_from_text(oid, o, sizeof(o), &olen);
    if (rc == 0)
        rc = pkie_cmp_dup(r->resp, &dst->type, o, olen);
    if (rc == 0 && w != NULL) {
        const uint8_t *p = NULL;
        size_t n = 0;
        rc = pkie_derw_finish(w, &p, &n);
        if (rc == 0)
            rc = pkie_cmp_dup(r->resp, &dst->value, p, n);
    }
    return rc;
}

int srv_genm(struct srv_req *r, int *failbit)
{
    const struct pkie_cmp_itavs *in = &r->m->body.u.genm;
    int rc = srv_resp_new(r, PKIE_CMP_BODY_GENP);
    if (rc != 0)
        return rc;
    if (in->count > 16) {
        *failbit = PKIE_CMP_FI_badRequest;
        return PKIE_ERR(PKIE_ERR_LIMIT, "more than 16 ITAVs");
    }
    struct pkie_cmp_itavs *out = &r->resp->body.u.genm;
    out->itav = pkie_cmp_alloc_array(r->resp, in->count + 1, sizeof(*out->itav));
    if (out->itav == NULL)
        return pkie_err_last()->code;
    for (size_t i = 0; i < in->count && rc == 0; i++) {
        const struct pkie_cmp_bytes *type = &in->itav[i].type;
        struct pkie_cmp_itav *dst = &out->itav[out->count];
        struct pkie_derw w;
        pkie_derw_init(&w, 1 << 20);
        if (oid_is(type, PKIE_CMP_OID_IT_CA_CERTS)) { /* caCerts */
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_raw(&w, r->srv->issuer_der, r->srv->issuer_der_len);
            if (X509_cmp(r->srv->issuer, r->srv->root) != 0)
                pkie_derw_raw(&w, r->srv->root_der, r->srv->root_der_len);
            pkie_derw_end(&w);
            rc = add_itav(r, dst, PKIE_CMP_OID_IT_CA_CERTS, &w);
            out->count++;
        } else if (oid_is(type, PKIE_CMP_OID_IT_ROOT_CA_CERT)) { /* rootCaCert -> rootCaKeyUpdate:
                                                                    no update */
            rc = add_itav(r, dst, PKIE_CMP_OID_IT_ROOT_CA_KEYUPDATE, NULL);
            out->count++;
        } else if (oid_is(type, PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE)) { /* certReqTemplate */
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* certTemplate: nothing imposed */
            pkie_derw_end(&w);
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* keySpec */
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            pkie_derw_oid_text(&w, PKIE_DER_OID, "1.3.6.1.5.5.7.5.1.11"); /* id-regCtrl-algId */
            alg_id(&w, "1.2.840.10045.2.1", "1.2.840.10045.3.1.7", 0);
            pkie_derw_end(&w);
            pkie_derw_end(&w);
            pkie_derw_end(&w);
            rc = add_itav(r, dst, PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE, &w);
            out->count++;
        } else if (oid_is(type, PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES)) { /* signKeyPairTypes */
            pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
            alg_id(&w, "1.2.840.10045.2.1", "1.2.840.10045.3.1.7", 0);
            alg_id(&w, "1.2.840.10045.2.1", "1.3.132.0.34", 0);
            alg_id(&w, "1.2.840.113549.1.1.1", NULL, 1);
            alg_id(&w, "1.3.101.112", NULL, 0);
            pkie_derw_end(&w);
            rc = add_itav(r, dst, PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES, &w);
            out->count++;
        } else if (oid_is(type, PKIE_CMP_OID_IT_CRL_STATUS_LIST) ||
                   oid_is(type, PKIE_CMP_OID_IT_CURRENT_CRL)) { /* crlStatusList, currentCRL */
            uint8_t *crl = NULL;
            size_t crl_len = 0;
            int list = oid_is(type, PKIE_CMP_OID_IT_CRL_STATUS_LIST);
            rc = pkie_ca_server_crl(r->srv, &crl, &crl_len);
            if (rc == 0) {
                if (list)
                    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
                pkie_derw_raw(&w, crl, crl_len);
                if (list)
                    pkie_derw_end(&w);
                rc =
                    add_itav(r, dst, list ? PKIE_CMP_OID_IT_CRLS : PKIE_CMP_OID_IT_CURRENT_CRL, &w);
                out->count++;
            }
            free(crl);
        }
        /* other infoTypes are not answered (RFC 9810 5.3.19: the CA may ignore them) */
        pkie_derw_free(&w);
    }
    if (rc != 0)
        *failbit = PKIE_CMP_FI_systemFailure;
    return rc;
}
