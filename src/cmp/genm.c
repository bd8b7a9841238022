/* The small bodies: genm/genp (ITAVs), error, certConf, pollReq, pollRep. */
#include "cmp_local.h"

int cmp_genm_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_itavs *g)
{
    struct pkie_der s;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_itavs_decode(dc, &s, 0, &g->itav, &g->count);
    return r;
}

void cmp_genm_encode(struct pkie_derw *w, const struct pkie_cmp_itavs *g)
{
    cmp_itavs_encode(w, PKIE_DER_SEQUENCE, g->itav, g->count);
}

int cmp_error_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_errormsg *e)
{
    struct pkie_der s;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_statusinfo_decode(dc, &s, &e->pKIStatusInfo);
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_INTEGER)) {
        e->has_errorCode = 1;
        r = pkie_der_read_int64(&s, PKIE_DER_INTEGER, &e->errorCode);
    }
    if (r == 0)
        r = cmp_freetext_decode_opt(dc, &s, &e->errorDetails);
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

void cmp_error_encode(struct pkie_derw *w, const struct pkie_cmp_errormsg *e)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    cmp_statusinfo_encode(w, &e->pKIStatusInfo);
    if (e->has_errorCode)
        pkie_derw_int64(w, PKIE_DER_INTEGER, e->errorCode);
    if (e->errorDetails.count)
        cmp_freetext_encode(w, PKIE_DER_SEQUENCE, &e->errorDetails);
    pkie_derw_end(w);
}

int cmp_certconf_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_certconf *c)
{
    struct pkie_der s;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_alloc_items(dc, &s, sizeof(struct pkie_cmp_certstatus), &arr, &c->count);
    if (r != 0)
        return r;
    c->status = arr;
    for (size_t i = 0; i < c->count; i++) {
        struct pkie_der e, in;
        int present;
        struct pkie_cmp_certstatus *cs = &c->status[i];
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &e);
        if (r == 0)
            r = cmp_read_octets(&e, PKIE_DER_OCTET_STRING, &cs->certHash);
        if (r == 0)
            r = pkie_der_read_int64(&e, PKIE_DER_INTEGER, &cs->certReqId);
        if (r == 0 && pkie_der_peek_is(&e, PKIE_DER_SEQUENCE)) {
            cs->has_statusInfo = 1;
            r = cmp_statusinfo_decode(dc, &e, &cs->statusInfo);
        }
        if (r == 0)
            r = pkie_der_enter_optional(&e, PKIE_DER_CTX_C(0), &in, &present);
        if (r == 0 && present) {
            r = cmp_read_algid(&in, PKIE_DER_SEQUENCE, &cs->hashAlg);
            if (r == 0)
                r = pkie_der_finish(&in);
        }
        if (r == 0)
            r = pkie_der_finish(&e);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(&s);
}

void cmp_certconf_encode(struct pkie_derw *w, const struct pkie_cmp_certconf *c)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < c->count; i++) {
        const struct pkie_cmp_certstatus *cs = &c->status[i];
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_octets(w, PKIE_DER_OCTET_STRING, cs->certHash.p, cs->certHash.len);
        pkie_derw_int64(w, PKIE_DER_INTEGER, cs->certReqId);
        if (cs->has_statusInfo)
            cmp_statusinfo_encode(w, &cs->statusInfo);
        if (cs->hashAlg.p != NULL) {
            pkie_derw_begin(w, PKIE_DER_CTX_C(0));
            cmp_w_bytes(w, &cs->hashAlg);
            pkie_derw_end(w);
        }
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}

int cmp_pollreq_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_pollreq *p)
{
    struct pkie_der s;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_alloc_items(dc, &s, sizeof(int64_t), &arr, &p->count);
    if (r != 0)
        return r;
    if (p->count == 0)
        return PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&s), "empty pollReq");
    p->certReqId = arr;
    for (size_t i = 0; i < p->count; i++) {
        struct pkie_der e;
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &e);
        if (r == 0)
            r = pkie_der_read_int64(&e, PKIE_DER_INTEGER, &p->certReqId[i]);
        if (r == 0)
            r = pkie_der_finish(&e);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(&s);
}

void cmp_pollreq_encode(struct pkie_derw *w, const struct pkie_cmp_pollreq *p)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < p->count; i++) {
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_int64(w, PKIE_DER_INTEGER, p->certReqId[i]);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}

int cmp_pollrep_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_pollrep *p)
{
    struct pkie_der s;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_alloc_items(dc, &s, sizeof(struct pkie_cmp_pollrep_entry), &arr, &p->count);
    if (r != 0)
        return r;
    if (p->count == 0)
        return PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&s), "empty pollRep");
    p->entries = arr;
    for (size_t i = 0; i < p->count; i++) {
        struct pkie_der e;
        struct pkie_cmp_pollrep_entry *pe = &p->entries[i];
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &e);
        if (r == 0)
            r = pkie_der_read_int64(&e, PKIE_DER_INTEGER, &pe->certReqId);
        if (r == 0)
            r = pkie_der_read_int64(&e, PKIE_DER_INTEGER, &pe->checkAfter);
        if (r == 0)
            r = cmp_freetext_decode_opt(dc, &e, &pe->reason);
        if (r == 0)
            r = pkie_der_finish(&e);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(&s);
}

void cmp_pollrep_encode(struct pkie_derw *w, const struct pkie_cmp_pollrep *p)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < p->count; i++) {
        const struct pkie_cmp_pollrep_entry *pe = &p->entries[i];
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_int64(w, PKIE_DER_INTEGER, pe->certReqId);
        pkie_derw_int64(w, PKIE_DER_INTEGER, pe->checkAfter);
        if (pe->reason.count)
            cmp_freetext_encode(w, PKIE_DER_SEQUENCE, &pe->reason);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}
