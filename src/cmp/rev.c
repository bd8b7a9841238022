/* Revocation: RevReqContent (rr) and RevRepContent (rp). */
#include "cmp_local.h"

int cmp_revreq_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_revreq *rr)
{
    struct pkie_der s;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_alloc_items(dc, &s, sizeof(struct pkie_cmp_revdetails), &arr, &rr->count);
    if (r != 0)
        return r;
    rr->details = arr;
    for (size_t i = 0; i < rr->count; i++) {
        struct pkie_der e;
        struct pkie_cmp_revdetails *rd = &rr->details[i];
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &e);
        if (r == 0)
            r = cmp_template_decode(dc, &e, &rd->certDetails);
        if (r == 0 && !pkie_der_at_end(&e))
            r = cmp_read_raw(&e, PKIE_DER_SEQUENCE, &rd->crlEntryDetails);
        if (r == 0)
            r = pkie_der_finish(&e);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(&s);
}

void cmp_revreq_encode(struct pkie_derw *w, const struct pkie_cmp_revreq *rr)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < rr->count; i++) {
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_crmf_template_encode(&rr->details[i].certDetails, w);
        if (rr->details[i].crlEntryDetails.p != NULL)
            cmp_w_bytes(w, &rr->details[i].crlEntryDetails);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}

int cmp_revrep_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_revrep *rp)
{
    struct pkie_der s, seq, in;
    void *arr;
    int present;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &seq);
    if (r == 0)
        r = cmp_alloc_items(dc, &seq, sizeof(struct pkie_cmp_statusinfo), &arr, &rp->status_count);
    if (r != 0)
        return r;
    if (rp->status_count == 0)
        return PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&seq), "empty status");
    rp->status = arr;
    for (size_t i = 0; i < rp->status_count; i++)
        if ((r = cmp_statusinfo_decode(dc, &seq, &rp->status[i])) != 0)
            return r;
    if ((r = pkie_der_finish(&seq)) != 0)
        return r;
    /* revCerts [0] SEQUENCE SIZE (1..MAX) OF CertId */
    r = pkie_der_enter_optional(&s, PKIE_DER_CTX_C(0), &in, &present);
    if (r == 0 && present) {
        r = pkie_der_enter(&in, PKIE_DER_SEQUENCE, &seq);
        if (r == 0)
            r = cmp_alloc_items(dc, &seq, sizeof(struct pkie_crmf_certid), &arr,
                                &rp->revCerts_count);
        if (r != 0)
            return r;
        rp->revCerts_empty = rp->revCerts_count == 0; /* tolerated: names nothing */
        rp->revCerts = arr;
        for (size_t i = 0; i < rp->revCerts_count; i++)
            if ((r = cmp_certid_decode(&seq, &rp->revCerts[i])) != 0)
                return r;
        r = pkie_der_finish(&seq);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    /* crls [1] SEQUENCE SIZE (1..MAX) OF CertificateList */
    if (r == 0)
        r = cmp_certs_decode_opt(dc, &s, PKIE_DER_CTX_C(1), "crls", &rp->crls, &rp->crls_count);
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

void cmp_revrep_encode(struct pkie_derw *w, const struct pkie_cmp_revrep *rp)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < rp->status_count; i++)
        cmp_statusinfo_encode(w, &rp->status[i]);
    pkie_derw_end(w);
    if (rp->revCerts_count || rp->revCerts_empty) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(0));
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        for (size_t i = 0; i < rp->revCerts_count; i++)
            cmp_certid_encode(w, &rp->revCerts[i]);
        pkie_derw_end(w);
        pkie_derw_end(w);
    }
    if (rp->crls_count) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(1));
        cmp_certs_encode(w, rp->crls, rp->crls_count);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}
