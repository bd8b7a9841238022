/* CertRepMessage (ip, cp, kup, ccp): caPubs, CertResponse, CertifiedKeyPair. */
#include "cmp_local.h"

static int explicit_raw(struct pkie_der *d, unsigned n, struct pkie_cmp_bytes *out)
{
    struct pkie_der in;
    int r = pkie_der_enter(d, PKIE_DER_CTX_C(n), &in);
    if (r == 0)
        r = cmp_read_raw(&in, 0, out);
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

static void explicit_raw_enc(struct pkie_derw *w, unsigned n, const struct pkie_cmp_bytes *b)
{
    pkie_derw_begin(w, PKIE_DER_CTX_C(n));
    cmp_w_bytes(w, b);
    pkie_derw_end(w);
}

/* EncryptedKey ::= CHOICE { encryptedValue SEQUENCE, envelopedData [0] }. */
static int check_encrypted_key(const struct pkie_cmp_bytes *b)
{
    if (b->p[0] != 0x30 && b->p[0] != 0xA0)
        return PKIE_ERR(PKIE_ERR_CMP_CHOICE, "EncryptedKey tag 0x%02x", b->p[0]);
    return 0;
}

static int ckp_decode(struct pkie_der *d, struct pkie_cmp_ckp *k)
{
    struct pkie_der s;
    uint32_t tag;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = pkie_der_peek_tag(&s, &tag);
    if (r != 0)
        return r;
    if (tag == PKIE_DER_CTX_C(0)) {
        k->certOrEncCert_type = PKIE_CMP_CERTIFICATE;
        struct pkie_der in;
        r = pkie_der_enter(&s, tag, &in);
        if (r == 0)
            r = cmp_read_raw(&in, PKIE_DER_SEQUENCE, &k->certOrEncCert);
        if (r == 0)
            r = pkie_der_finish(&in);
    } else if (tag == PKIE_DER_CTX_C(1)) {
        k->certOrEncCert_type = PKIE_CMP_ENCRYPTEDCERT;
        r = explicit_raw(&s, 1, &k->certOrEncCert);
        if (r == 0)
            r = check_encrypted_key(&k->certOrEncCert);
    } else {
        return PKIE_ERR_AT(PKIE_ERR_CMP_CHOICE, pkie_der_offset(&s), "CertOrEncCert tag");
    }
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_CTX_C(0))) {
        r = explicit_raw(&s, 0, &k->privateKey);
        if (r == 0)
            r = check_encrypted_key(&k->privateKey);
    }
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_CTX_C(1))) {
        r = explicit_raw(&s, 1, &k->publicationInfo);
        if (r == 0 && k->publicationInfo.p[0] != 0x30)
            r = PKIE_ERR(PKIE_ERR_CMP_DECODE, "PKIPublicationInfo is not a SEQUENCE");
    }
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

static int certresp_decode(const struct cmp_dec *dc, struct pkie_der *d,
                           struct pkie_cmp_certresp *c)
{
    struct pkie_der s;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = pkie_der_read_int64(&s, PKIE_DER_INTEGER, &c->certReqId);
    if (r == 0)
        r = cmp_statusinfo_decode(dc, &s, &c->status);
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_SEQUENCE)) {
        c->has_certifiedKeyPair = 1;
        r = ckp_decode(&s, &c->certifiedKeyPair);
    }
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_OCTET_STRING))
        r = cmp_read_octets(&s, PKIE_DER_OCTET_STRING, &c->rspInfo);
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

int cmp_certrep_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_certrep *rep)
{
    struct pkie_der s, seq;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_certs_decode_opt(dc, &s, PKIE_DER_CTX_C(1), "caPubs", &rep->caPubs,
                                 &rep->caPubs_count);
    if (r == 0)
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &seq);
    if (r == 0)
        r = cmp_alloc_items(dc, &seq, sizeof(struct pkie_cmp_certresp), &arr, &rep->response_count);
    if (r != 0)
        return r;
    rep->response = arr;
    for (size_t i = 0; i < rep->response_count; i++)
        if ((r = certresp_decode(dc, &seq, &rep->response[i])) != 0)
            return r;
    r = pkie_der_finish(&seq);
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

void cmp_certrep_encode(struct pkie_derw *w, const struct pkie_cmp_certrep *rep)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    if (rep->caPubs_count) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(1));
        cmp_certs_encode(w, rep->caPubs, rep->caPubs_count);
        pkie_derw_end(w);
    }
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < rep->response_count; i++) {
        const struct pkie_cmp_certresp *c = &rep->response[i];
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_int64(w, PKIE_DER_INTEGER, c->certReqId);
        cmp_statusinfo_encode(w, &c->status);
        if (c->has_certifiedKeyPair) {
            const struct pkie_cmp_ckp *k = &c->certifiedKeyPair;
            pkie_derw_begin(w, PKIE_DER_SEQUENCE);
            explicit_raw_enc(w, k->certOrEncCert_type == PKIE_CMP_ENCRYPTEDCERT ? 1 : 0,
                             &k->certOrEncCert);
            if (k->privateKey.p != NULL)
                explicit_raw_enc(w, 0, &k->privateKey);
            if (k->publicationInfo.p != NULL)
                explicit_raw_enc(w, 1, &k->publicationInfo);
            pkie_derw_end(w);
        }
        if (c->rspInfo.p != NULL)
            pkie_derw_octets(w, PKIE_DER_OCTET_STRING, c->rspInfo.p, c->rspInfo.len);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
    pkie_derw_end(w);
}
