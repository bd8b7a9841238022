/* CRMF (RFC 4211): CertReqMessages, CertReqMsg, CertRequest, CertTemplate,
 * Controls and ProofOfPossession, decode and encode. */
#include "cmp_local.h"

/* ---- CertTemplate ------------------------------------------------------------ */

static int explicit_name(struct pkie_der *d, unsigned n, struct pkie_cmp_bytes *out)
{
    struct pkie_der in;
    int r = pkie_der_enter(d, PKIE_DER_CTX_C(n), &in);
    if (r == 0)
        r = cmp_read_raw(&in, PKIE_DER_SEQUENCE, out);
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

/* SubjectPublicKeyInfo contents: AlgorithmIdentifier, BIT STRING. */
static int check_spki_contents(const struct pkie_cmp_bytes *c)
{
    struct pkie_der d;
    struct pkie_cmp_bytes alg, bits;
    pkie_der_init(&d, c->p, c->len);
    int r = cmp_read_algid(&d, PKIE_DER_SEQUENCE, &alg);
    if (r == 0)
        r = cmp_read_bits_raw(&d, PKIE_DER_BIT_STRING, &bits);
    if (r == 0)
        r = pkie_der_finish(&d);
    return r;
}

static int check_algid_contents(const struct pkie_cmp_bytes *c)
{
    struct pkie_der d;
    const uint8_t *oid;
    size_t len;
    pkie_der_init(&d, c->p, c->len);
    int r = pkie_der_read_oid(&d, PKIE_DER_OID, &oid, &len);
    if (r == 0 && !pkie_der_at_end(&d))
        r = pkie_der_skip(&d);
    if (r == 0)
        r = pkie_der_finish(&d);
    return r;
}

static int check_extensions_contents(const struct pkie_cmp_bytes *c)
{
    struct pkie_der d, e;
    pkie_der_init(&d, c->p, c->len);
    if (pkie_der_at_end(&d))
        return PKIE_ERR(PKIE_ERR_CMP_EMPTY_SEQ, "empty Extensions");
    while (!pkie_der_at_end(&d)) {
        const uint8_t *oid, *val;
        size_t oid_len, val_len;
        int crit;
        int r = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &e);
        if (r == 0)
            r = pkie_der_read_oid(&e, PKIE_DER_OID, &oid, &oid_len);
        if (r == 0)
            r = pkie_der_read_bool_default(&e, PKIE_DER_BOOLEAN, 0, &crit);
        if (r == 0)
            r = pkie_der_read_octets(&e, PKIE_DER_OCTET_STRING, &val, &val_len);
        if (r == 0)
            r = pkie_der_finish(&e);
        if (r != 0)
            return r;
    }
    return 0;
}

static int validity_time(struct pkie_der *v, unsigned n, struct pkie_cmp_time *t)
{
    struct pkie_der in;
    int r = pkie_der_enter_optional(v, PKIE_DER_CTX_C(n), &in, &t->present);
    if (r != 0 || !t->present)
        return r;
    r = pkie_der_read_any_time(&in, &t->time, &t->type);
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

int cmp_template_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_crmf_template *t)
{
    (void)dc;
    struct pkie_der s, v;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r != 0)
        return r;
    if (pkie_der_peek_is(&s, PKIE_DER_CTX(0))) {
        t->present |= PKIE_CRMF_T_VERSION;
        if ((r = pkie_der_read_int64(&s, PKIE_DER_CTX(0), &t->version)) != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX(1))) {
        t->present |= PKIE_CRMF_T_SERIALNUMBER;
        r = pkie_der_read_integer(&s, PKIE_DER_CTX(1), &t->serialNumber.p, &t->serialNumber.len);
        if (r != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX_C(2))) {
        t->present |= PKIE_CRMF_T_SIGNINGALG;
        r = cmp_read_contents(&s, PKIE_DER_CTX_C(2), &t->signingAlg);
        if (r == 0)
            r = check_algid_contents(&t->signingAlg);
        if (r != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX_C(3))) {
        t->present |= PKIE_CRMF_T_ISSUER;
        if ((r = explicit_name(&s, 3, &t->issuer)) != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX_C(4))) {
        t->present |= PKIE_CRMF_T_VALIDITY;
        r = pkie_der_enter(&s, PKIE_DER_CTX_C(4), &v);
        if (r == 0)
            r = validity_time(&v, 0, &t->notBefore);
        if (r == 0)
            r = validity_time(&v, 1, &t->notAfter);
        if (r == 0)
            r = pkie_der_finish(&v);
        if (r != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX_C(5))) {
        t->present |= PKIE_CRMF_T_SUBJECT;
        if ((r = explicit_name(&s, 5, &t->subject)) != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX_C(6))) {
        t->present |= PKIE_CRMF_T_PUBLICKEY;
        r = cmp_read_contents(&s, PKIE_DER_CTX_C(6), &t->publicKey);
        if (r == 0)
            r = check_spki_contents(&t->publicKey);
        if (r != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX(7))) {
        t->present |= PKIE_CRMF_T_ISSUERUID;
        if ((r = cmp_read_bits_raw(&s, PKIE_DER_CTX(7), &t->issuerUID)) != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX(8))) {
        t->present |= PKIE_CRMF_T_SUBJECTUID;
        if ((r = cmp_read_bits_raw(&s, PKIE_DER_CTX(8), &t->subjectUID)) != 0)
            return r;
    }
    if (pkie_der_peek_is(&s, PKIE_DER_CTX_C(9))) {
        t->present |= PKIE_CRMF_T_EXTENSIONS;
        r = cmp_read_contents(&s, PKIE_DER_CTX_C(9), &t->extensions);
        if (r == 0)
            r = check_extensions_contents(&t->extensions);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(&s);
}

static void contents_enc(struct pkie_derw *w, unsigned n, const struct pkie_cmp_bytes *b)
{
    pkie_derw_begin(w, PKIE_DER_CTX_C(n));
    cmp_w_bytes(w, b);
    pkie_derw_end(w);
}

static void time_enc(struct pkie_derw *w, unsigned n, const struct pkie_cmp_time *t)
{
    if (!t->present)
        return;
    pkie_derw_begin(w, PKIE_DER_CTX_C(n));
    pkie_derw_time(w, t->type, t->type, &t->time);
    pkie_derw_end(w);
}

static void bits_raw_enc(struct pkie_derw *w, uint32_t tag, const struct pkie_cmp_bytes *b)
{
    if (b->len == 0) {
        cmp_w_fail(w, PKIE_ERR(PKIE_ERR_CMP_ENCODE, "BIT STRING without unused-bits octet"));
        return;
    }
    pkie_derw_bit_string(w, tag, b->p + 1, b->len - 1, b->p[0]);
}

int pkie_crmf_template_encode(const struct pkie_crmf_template *t, struct pkie_derw *w)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    if (t->present & PKIE_CRMF_T_VERSION)
        pkie_derw_int64(w, PKIE_DER_CTX(0), t->version);
    if (t->present & PKIE_CRMF_T_SERIALNUMBER)
        pkie_derw_integer(w, PKIE_DER_CTX(1), t->serialNumber.p, t->serialNumber.len);
    if (t->present & PKIE_CRMF_T_SIGNINGALG)
        contents_enc(w, 2, &t->signingAlg);
    if (t->present & PKIE_CRMF_T_ISSUER)
        contents_enc(w, 3, &t->issuer);
    if (t->present & PKIE_CRMF_T_VALIDITY) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(4));
        time_enc(w, 0, &t->notBefore);
        time_enc(w, 1, &t->notAfter);
        pkie_derw_end(w);
    }
    if (t->present & PKIE_CRMF_T_SUBJECT)
        contents_enc(w, 5, &t->subject);
    if (t->present & PKIE_CRMF_T_PUBLICKEY)
        contents_enc(w, 6, &t->publicKey);
    if (t->present & PKIE_CRMF_T_ISSUERUID)
        bits_raw_enc(w, PKIE_DER_CTX(7), &t->issuerUID);
    if (t->present & PKIE_CRMF_T_SUBJECTUID)
        bits_raw_enc(w, PKIE_DER_CTX(8), &t->subjectUID);
    if (t->present & PKIE_CRMF_T_EXTENSIONS)
        contents_enc(w, 9, &t->extensions);
    pkie_derw_end(w);
    return w->err;
}

/* ---- Controls ------------------------------------------------------------------ */

int cmp_certreq_scan_controls(struct pkie_crmf_certreq *r)
{
    r->regToken.p = r->authenticator.p = NULL;
    r->has_oldCertID = 0;
    for (size_t i = 0; i < r->controls_count; i++) {
        const struct pkie_cmp_itav *c = &r->controls[i];
        struct pkie_der d;
        const char *s;
        int e = 0;
        pkie_der_init(&d, c->value.p, c->value.len);
        if (cmp_oid_is(&c->type, &cmp_oid_regToken)) {
            e = pkie_der_read_string(&d, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, &s,
                                     &r->regToken.len);
            r->regToken.p = (const uint8_t *)(s ? s : "");
        } else if (cmp_oid_is(&c->type, &cmp_oid_authenticator)) {
            e = pkie_der_read_string(&d, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, &s,
                                     &r->authenticator.len);
            r->authenticator.p = (const uint8_t *)(s ? s : "");
        } else if (cmp_oid_is(&c->type, &cmp_oid_oldCertID)) {
            e = cmp_certid_decode(&d, &r->oldCertID);
            r->has_oldCertID = 1;
        } else {
            continue;
        }
        if (e == 0)
            e = pkie_der_finish(&d);
        if (e != 0)
            return PKIE_ERR(PKIE_ERR_CMP_ITAV, "malformed known control (%s)", pkie_err_name(e));
    }
    return 0;
}

static int certreq_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_crmf_certreq *r)
{
    struct pkie_der s, c;
    struct pkie_der_tlv tlv;
    struct pkie_der peek = *d;
    int e = pkie_der_read_tlv(&peek, &tlv);
    if (e == 0)
        e = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (e != 0)
        return e;
    r->der.p = tlv.tlv;
    r->der.len = tlv.tlv_len;
    e = pkie_der_read_int64(&s, PKIE_DER_INTEGER, &r->certReqId);
    if (e == 0)
        e = cmp_template_decode(dc, &s, &r->certTemplate);
    if (e == 0 && pkie_der_peek_is(&s, PKIE_DER_SEQUENCE)) {
        e = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &c);
        if (e == 0)
            e = cmp_itavs_decode(dc, &c, 1, &r->controls, &r->controls_count);
        if (e == 0 && r->controls_count == 0)
            e = PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&c), "empty Controls");
        if (e == 0)
            e = cmp_certreq_scan_controls(r);
    }
    if (e == 0)
        e = pkie_der_finish(&s);
    return e;
}

int pkie_crmf_certreq_encode(const struct pkie_crmf_certreq *r, struct pkie_derw *w)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_int64(w, PKIE_DER_INTEGER, r->certReqId);
    pkie_crmf_template_encode(&r->certTemplate, w);
    if (r->controls_count)
        cmp_itavs_encode(w, PKIE_DER_SEQUENCE, r->controls, r->controls_count);
    pkie_derw_end(w);
    return w->err;
}

/* ---- ProofOfPossession ------------------------------------------------------------ */

static int poposkinput_decode(struct pkie_crmf_popo *p)
{
    struct pkie_der d, in;
    pkie_der_init(&d, p->poposkInput.p, p->poposkInput.len);
    int r;
    if (pkie_der_peek_is(&d, PKIE_DER_CTX_C(0))) {
        p->poposkInput_sender = 1;
        r = pkie_der_enter(&d, PKIE_DER_CTX_C(0), &in);
        if (r == 0)
            r = cmp_read_gn(&in, &p->authInfo_sender);
        if (r == 0)
            r = pkie_der_finish(&in);
    } else {
        r = cmp_read_raw(&d, PKIE_DER_SEQUENCE, &p->publicKeyMAC);
    }
    if (r == 0)
        r = cmp_read_raw(&d, PKIE_DER_SEQUENCE, &p->poposkInput_publicKey);
    if (r == 0)
        r = pkie_der_finish(&d);
    return r;
}

static int popo_decode(struct pkie_der *d, struct pkie_crmf_popo *p)
{
    struct pkie_der in;
    uint32_t tag;
    int r = pkie_der_peek_tag(d, &tag);
    if (r != 0)
        return r;
    if (tag == PKIE_DER_CTX(0)) {
        p->type = PKIE_CRMF_POPO_RAVERIFIED;
        return pkie_der_read_null(d, PKIE_DER_CTX(0));
    }
    if (tag == PKIE_DER_CTX_C(1)) {
        p->type = PKIE_CRMF_POPO_SIGNATURE;
        r = pkie_der_enter(d, PKIE_DER_CTX_C(1), &in);
        if (r == 0 && pkie_der_peek_is(&in, PKIE_DER_CTX_C(0))) {
            p->has_poposkInput = 1;
            r = cmp_read_contents(&in, PKIE_DER_CTX_C(0), &p->poposkInput);
            if (r == 0)
                r = poposkinput_decode(p);
        }
        if (r == 0)
            r = cmp_read_algid(&in, PKIE_DER_SEQUENCE, &p->algorithmIdentifier);
        if (r == 0)
            r = cmp_read_bits_raw(&in, PKIE_DER_BIT_STRING, &p->signature);
        if (r == 0)
            r = pkie_der_finish(&in);
        return r;
    }
    if (tag != PKIE_DER_CTX_C(2) && tag != PKIE_DER_CTX_C(3))
        return PKIE_ERR_AT(PKIE_ERR_CMP_CHOICE, pkie_der_offset(d), "ProofOfPossession tag");
    p->type = (int)PKIE_DER_TAG_NUMBER(tag) + 1;
    r = pkie_der_enter(d, tag, &in);
    if (r == 0)
        r = pkie_der_peek_tag(&in, &tag);
    if (r != 0)
        return r;
    if (tag == PKIE_DER_CTX(0) || tag == PKIE_DER_CTX(2)) {
        p->privkey_type = (int)PKIE_DER_TAG_NUMBER(tag);
        r = cmp_read_bits_raw(&in, tag, &p->privkey);
    } else if (tag == PKIE_DER_CTX(1)) {
        p->privkey_type = PKIE_CRMF_PRIVKEY_SUBSEQUENTMESSAGE;
        r = pkie_der_read_int64(&in, tag, &p->subsequentMessage);
    } else if (tag == PKIE_DER_CTX_C(3) || tag == PKIE_DER_CTX_C(4)) {
        p->privkey_type = (int)PKIE_DER_TAG_NUMBER(tag);
        r = cmp_read_contents(&in, tag, &p->privkey);
    } else {
        r = PKIE_ERR_AT(PKIE_ERR_CMP_CHOICE, pkie_der_offset(&in), "POPOPrivKey tag");
    }
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

static void popo_encode(struct pkie_derw *w, const struct pkie_crmf_popo *p)
{
    switch (p->type) {
    case PKIE_CRMF_POPO_NONE:
        return;
    case PKIE_CRMF_POPO_RAVERIFIED:
        pkie_derw_null(w, PKIE_DER_CTX(0));
        return;
    case PKIE_CRMF_POPO_SIGNATURE:
        pkie_derw_begin(w, PKIE_DER_CTX_C(1));
        if (p->has_poposkInput) {
            pkie_derw_begin(w, PKIE_DER_CTX_C(0));
            if (p->poposkInput_sender) {
                pkie_derw_begin(w, PKIE_DER_CTX_C(0));
                cmp_w_bytes(w, &p->authInfo_sender);
                pkie_derw_end(w);
            } else {
                cmp_w_bytes(w, &p->publicKeyMAC);
            }
            cmp_w_bytes(w, &p->poposkInput_publicKey);
            pkie_derw_end(w);
        }
        cmp_w_bytes(w, &p->algorithmIdentifier);
        bits_raw_enc(w, PKIE_DER_BIT_STRING, &p->signature);
        pkie_derw_end(w);
        return;
    case PKIE_CRMF_POPO_KEYENCIPHERMENT:
    case PKIE_CRMF_POPO_KEYAGREEMENT:
        pkie_derw_begin(w, PKIE_DER_CTX_C((unsigned)p->type - 1));
        switch (p->privkey_type) {
        case PKIE_CRMF_PRIVKEY_THISMESSAGE:
        case PKIE_CRMF_PRIVKEY_DHMAC:
            bits_raw_enc(w, PKIE_DER_CTX((unsigned)p->privkey_type), &p->privkey);
            break;
        case PKIE_CRMF_PRIVKEY_SUBSEQUENTMESSAGE:
            pkie_derw_int64(w, PKIE_DER_CTX(1), p->subsequentMessage);
            break;
        case PKIE_CRMF_PRIVKEY_AGREEMAC:
        case PKIE_CRMF_PRIVKEY_ENCRYPTEDKEY:
            contents_enc(w, (unsigned)p->privkey_type, &p->privkey);
            break;
        default:
            cmp_w_fail(w, PKIE_ERR(PKIE_ERR_CMP_ENCODE, "POPOPrivKey type %d", p->privkey_type));
        }
        pkie_derw_end(w);
        return;
    default:
        cmp_w_fail(w, PKIE_ERR(PKIE_ERR_CMP_ENCODE, "popo type %d", p->type));
    }
}

/* ---- CertReqMsg / CertReqMessages ------------------------------------------------- */

static int crmf_msg_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_crmf_msg *m)
{
    struct pkie_der s, ri;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = certreq_decode(dc, &s, &m->certReq);
    m->popo.type = PKIE_CRMF_POPO_NONE;
    if (r == 0 && !pkie_der_at_end(&s) && !pkie_der_peek_is(&s, PKIE_DER_SEQUENCE))
        r = popo_decode(&s, &m->popo);
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_SEQUENCE)) {
        r = pkie_der_enter(&s, PKIE_DER_SEQUENCE, &ri);
        if (r == 0)
            r = cmp_itavs_decode(dc, &ri, 1, &m->regInfo, &m->regInfo_count);
        if (r == 0 && m->regInfo_count == 0)
            r = PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&ri), "empty regInfo");
    }
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

int cmp_crmf_reqs_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_crmf_reqs *rq)
{
    struct pkie_der s;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_alloc_items(dc, &s, sizeof(struct pkie_crmf_msg), &arr, &rq->count);
    if (r != 0)
        return r;
    if (rq->count == 0)
        return PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&s), "empty CertReqMessages");
    rq->msgs = arr;
    for (size_t i = 0; i < rq->count; i++)
        if ((r = crmf_msg_decode(dc, &s, &rq->msgs[i])) != 0)
            return r;
    return pkie_der_finish(&s);
}

void cmp_crmf_reqs_encode(struct pkie_derw *w, const struct pkie_crmf_reqs *rq)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < rq->count; i++) {
        const struct pkie_crmf_msg *m = &rq->msgs[i];
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_crmf_certreq_encode(&m->certReq, w);
        popo_encode(w, &m->popo);
        if (m->regInfo_count)
            cmp_itavs_encode(w, PKIE_DER_SEQUENCE, m->regInfo, m->regInfo_count);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}
