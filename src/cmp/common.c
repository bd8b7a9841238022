/* Shared CMP building blocks: bounded SEQUENCE OF handling, opaque TLVs,
 * PKIFreeText, PKIStatusInfo, InfoTypeAndValue lists, CertId and certificate
 * lists, in both directions. */
#include "cmp_local.h"

int cmp_count(const struct cmp_dec *dc, const struct pkie_der *seq, size_t *n)
{
    struct pkie_der d = *seq;
    size_t c = 0;
    while (!pkie_der_at_end(&d)) {
        if (c >= dc->max_items)
            return PKIE_ERR_AT(PKIE_ERR_CMP_COUNT, pkie_der_offset(&d), "more than %zu elements",
                               dc->max_items);
        int r = pkie_der_skip(&d);
        if (r != 0)
            return r;
        c++;
    }
    *n = c;
    return 0;
}

int cmp_alloc_items(const struct cmp_dec *dc, const struct pkie_der *seq, size_t size, void **arr,
                    size_t *n)
{
    int r = cmp_count(dc, seq, n);
    if (r != 0)
        return r;
    *arr = NULL;
    if (*n == 0)
        return 0;
    *arr = cmp_arena_array(dc->arena, *n, size);
    return *arr ? 0 : pkie_err_last()->code;
}

int cmp_read_raw(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out)
{
    struct pkie_der_tlv t;
    struct pkie_der save = *d;
    int r = tag ? pkie_der_expect(d, tag, &t) : pkie_der_read_tlv(d, &t);
    if (r != 0)
        return r;
    if (PKIE_DER_TAG_CONSTRUCTED(t.tag)) {
        r = pkie_der_validate(t.tlv, t.tlv_len);
        if (r != 0) {
            *d = save;
            return r;
        }
    }
    out->p = t.tlv;
    out->len = t.tlv_len;
    return 0;
}

int cmp_read_contents(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out)
{
    struct pkie_der_tlv t;
    struct pkie_der save = *d;
    int r = pkie_der_expect(d, tag, &t);
    if (r != 0)
        return r;
    r = pkie_der_validate(t.tlv, t.tlv_len);
    if (r != 0) {
        *d = save;
        return r;
    }
    out->p = t.val;
    out->len = t.len;
    return 0;
}

static const uint8_t empty_marker[1];

int cmp_read_octets(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out)
{
    int r = pkie_der_read_octets(d, tag, &out->p, &out->len);
    if (r == 0 && out->p == NULL)
        out->p = empty_marker;
    return r;
}

int cmp_read_algid(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out)
{
    struct pkie_der save = *d;
    int r = cmp_read_raw(d, tag, out);
    if (r != 0)
        return r;
    /* The inner SEQUENCE must start with an OID. */
    struct pkie_der a, in;
    pkie_der_init(&a, out->p, out->len);
    a.base = d->base;
    if (tag != PKIE_DER_SEQUENCE)
        r = pkie_der_enter(&a, tag, &in);
    else
        r = pkie_der_enter(&a, PKIE_DER_SEQUENCE, &in);
    const uint8_t *oid;
    size_t oid_len;
    if (r == 0)
        r = pkie_der_read_oid(&in, PKIE_DER_OID, &oid, &oid_len);
    if (r == 0 && !pkie_der_at_end(&in))
        r = pkie_der_skip(&in);
    if (r == 0)
        r = pkie_der_finish(&in);
    if (r != 0)
        *d = save;
    return r;
}

int cmp_read_gn(struct pkie_der *d, struct pkie_cmp_bytes *out)
{
    uint32_t tag;
    int r = pkie_der_peek_tag(d, &tag);
    if (r != 0)
        return r;
    if (PKIE_DER_TAG_CLASS(tag) != PKIE_DER_CLASS_CONTEXT || PKIE_DER_TAG_NUMBER(tag) > 8)
        return PKIE_ERR_AT(PKIE_ERR_CMP_CHOICE, pkie_der_offset(d), "GeneralName tag");
    /* otherName [0], x400Address [3], directoryName [4], ediPartyName [5]
     * are constructed; the string and address choices are primitive. */
    unsigned n = PKIE_DER_TAG_NUMBER(tag);
    int cons = (n == 0 || n == 3 || n == 4 || n == 5);
    if (PKIE_DER_TAG_CONSTRUCTED(tag) != (unsigned)cons)
        return PKIE_ERR_AT(PKIE_ERR_DER_CONSTRUCTED, pkie_der_offset(d), "GeneralName form");
    r = cmp_read_raw(d, tag, out);
    if (r == 0 && n == 4) {
        /* directoryName [4] EXPLICIT Name: exactly one RDNSequence. */
        struct pkie_der g, in;
        pkie_der_init(&g, out->p, out->len);
        r = pkie_der_enter(&g, tag, &in);
        if (r == 0 && !pkie_der_peek_is(&in, PKIE_DER_SEQUENCE))
            r = PKIE_ERR(PKIE_ERR_CMP_DECODE, "directoryName is not a SEQUENCE");
        if (r == 0)
            r = pkie_der_skip(&in);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    return r;
}

int cmp_read_bits_raw(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out)
{
    const uint8_t *bits;
    size_t len;
    unsigned unused;
    struct pkie_der save = *d;
    int r = pkie_der_read_bit_string(d, tag, &bits, &len, &unused);
    if (r != 0)
        return r;
    (void)bits;
    (void)unused;
    /* Contents are the unused-bits octet followed by the bits. */
    struct pkie_der_tlv t;
    struct pkie_der again = save;
    r = pkie_der_read_tlv(&again, &t);
    if (r != 0)
        return r;
    out->p = t.val;
    out->len = t.len;
    return 0;
}

/* ---- PKIFreeText ----------------------------------------------------------- */

int cmp_freetext_decode(const struct cmp_dec *dc, struct pkie_der *d, uint32_t tag,
                        struct pkie_cmp_freetext *ft)
{
    struct pkie_der seq;
    int r = pkie_der_enter(d, tag, &seq);
    if (r != 0)
        return r;
    void *arr;
    r = cmp_alloc_items(dc, &seq, sizeof(struct pkie_cmp_bytes), &arr, &ft->count);
    if (r != 0)
        return r;
    if (ft->count == 0)
        return PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&seq), "empty PKIFreeText");
    ft->strs = arr;
    for (size_t i = 0; i < ft->count; i++) {
        const char *s;
        r = pkie_der_read_string(&seq, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, &s,
                                 &ft->strs[i].len);
        if (r != 0)
            return r;
        ft->strs[i].p = s ? (const uint8_t *)s : empty_marker;
    }
    return pkie_der_finish(&seq);
}

int cmp_freetext_decode_opt(const struct cmp_dec *dc, struct pkie_der *d,
                            struct pkie_cmp_freetext *ft)
{
    ft->count = 0;
    ft->strs = NULL;
    if (!pkie_der_peek_is(d, PKIE_DER_SEQUENCE))
        return 0;
    return cmp_freetext_decode(dc, d, PKIE_DER_SEQUENCE, ft);
}

void cmp_freetext_encode(struct pkie_derw *w, uint32_t tag, const struct pkie_cmp_freetext *ft)
{
    pkie_derw_begin(w, tag);
    for (size_t i = 0; i < ft->count; i++)
        pkie_derw_string(w, PKIE_DER_UTF8_STRING, PKIE_DER_UTF8_STRING, (const char *)ft->strs[i].p,
                         ft->strs[i].len);
    pkie_derw_end(w);
}

/* ---- PKIStatusInfo --------------------------------------------------------- */

int cmp_statusinfo_decode(const struct cmp_dec *dc, struct pkie_der *d,
                          struct pkie_cmp_statusinfo *si)
{
    struct pkie_der s;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = pkie_der_read_int64(&s, PKIE_DER_INTEGER, &si->status);
    if (r == 0)
        r = cmp_freetext_decode_opt(dc, &s, &si->statusString);
    if (r == 0 && pkie_der_peek_is(&s, PKIE_DER_BIT_STRING)) {
        si->has_failInfo = 1;
        r = pkie_der_read_named_bits(&s, PKIE_DER_BIT_STRING, &si->failInfo);
    }
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

void cmp_statusinfo_encode(struct pkie_derw *w, const struct pkie_cmp_statusinfo *si)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_int64(w, PKIE_DER_INTEGER, si->status);
    if (si->statusString.count)
        cmp_freetext_encode(w, PKIE_DER_SEQUENCE, &si->statusString);
    if (si->has_failInfo)
        pkie_derw_named_bits(w, PKIE_DER_BIT_STRING, si->failInfo);
    pkie_derw_end(w);
}

/* ---- InfoTypeAndValue / AttributeTypeAndValue lists ----------------------- */

int cmp_itavs_decode(const struct cmp_dec *dc, struct pkie_der *seq, int atv,
                     struct pkie_cmp_itav **arr, size_t *n)
{
    void *a;
    int r = cmp_alloc_items(dc, seq, sizeof(struct pkie_cmp_itav), &a, n);
    if (r != 0)
        return r;
    *arr = a;
    for (size_t i = 0; i < *n; i++) {
        struct pkie_der it;
        struct pkie_cmp_itav *v = &(*arr)[i];
        r = pkie_der_enter(seq, PKIE_DER_SEQUENCE, &it);
        if (r == 0)
            r = pkie_der_read_oid(&it, PKIE_DER_OID, &v->type.p, &v->type.len);
        if (r == 0 && (atv || !pkie_der_at_end(&it)))
            r = cmp_read_raw(&it, 0, &v->value);
        if (r == 0)
            r = pkie_der_finish(&it);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(seq);
}

void cmp_itavs_encode(struct pkie_derw *w, uint32_t tag, const struct pkie_cmp_itav *arr, size_t n)
{
    pkie_derw_begin(w, tag);
    for (size_t i = 0; i < n; i++) {
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_oid(w, PKIE_DER_OID, arr[i].type.p, arr[i].type.len);
        if (arr[i].value.p != NULL)
            cmp_w_bytes(w, &arr[i].value);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
}

/* ---- CertId, certificate lists --------------------------------------------- */

int cmp_certid_decode(struct pkie_der *d, struct pkie_crmf_certid *c)
{
    struct pkie_der s;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_read_gn(&s, &c->issuer);
    if (r == 0)
        r = pkie_der_read_integer(&s, PKIE_DER_INTEGER, &c->serialNumber.p, &c->serialNumber.len);
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

void cmp_certid_encode(struct pkie_derw *w, const struct pkie_crmf_certid *c)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    cmp_w_bytes(w, &c->issuer);
    pkie_derw_integer(w, PKIE_DER_INTEGER, c->serialNumber.p, c->serialNumber.len);
    pkie_derw_end(w);
}

int cmp_certs_decode(const struct cmp_dec *dc, struct pkie_der *seq, struct pkie_cmp_bytes **arr,
                     size_t *n)
{
    void *a;
    int r = cmp_alloc_items(dc, seq, sizeof(struct pkie_cmp_bytes), &a, n);
    if (r != 0)
        return r;
    *arr = a;
    for (size_t i = 0; i < *n; i++) {
        /* CMPCertificate ::= CHOICE { x509v3PKCert Certificate }: a SEQUENCE. */
        r = cmp_read_raw(seq, PKIE_DER_SEQUENCE, &(*arr)[i]);
        if (r != 0)
            return r;
    }
    return pkie_der_finish(seq);
}

int cmp_certs_decode_opt(const struct cmp_dec *dc, struct pkie_der *d, uint32_t tag,
                         const char *what, struct pkie_cmp_bytes **arr, size_t *n)
{
    struct pkie_der in, seq;
    int present;
    int r = pkie_der_enter_optional(d, tag, &in, &present);
    if (r != 0 || !present)
        return r;
    r = pkie_der_enter(&in, PKIE_DER_SEQUENCE, &seq);
    if (r == 0)
        r = cmp_certs_decode(dc, &seq, arr, n);
    if (r == 0 && *n == 0)
        r = PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&seq), "empty %s", what);
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

void cmp_certs_encode(struct pkie_derw *w, const struct pkie_cmp_bytes *arr, size_t n)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    for (size_t i = 0; i < n; i++)
        cmp_w_bytes(w, &arr[i]);
    pkie_derw_end(w);
}
