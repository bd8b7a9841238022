/* PKIHeader: decode, encode, generalInfo views, and header building. */
#include "cmp_local.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <time.h>

static int explicit_octets(struct pkie_der *d, unsigned n, struct pkie_cmp_bytes *out)
{
    struct pkie_der in;
    int present;
    int r = pkie_der_enter_optional(d, PKIE_DER_CTX_C(n), &in, &present);
    if (r != 0 || !present)
        return r;
    r = cmp_read_octets(&in, PKIE_DER_OCTET_STRING, out);
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

int cmp_header_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_header *h)
{
    struct pkie_der s, in;
    int present;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = pkie_der_read_int64(&s, PKIE_DER_INTEGER, &h->pvno);
    if (r == 0)
        r = cmp_read_gn(&s, &h->sender);
    if (r == 0)
        r = cmp_read_gn(&s, &h->recipient);
    if (r != 0)
        return r;
    /* messageTime [0] GeneralizedTime */
    r = pkie_der_enter_optional(&s, PKIE_DER_CTX_C(0), &in, &present);
    if (r == 0 && present) {
        h->has_messageTime = 1;
        r = pkie_der_read_time(&in, PKIE_DER_GENERALIZED_TIME, PKIE_DER_GENERALIZED_TIME,
                               &h->messageTime);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    /* protectionAlg [1] AlgorithmIdentifier */
    if (r == 0)
        r = pkie_der_enter_optional(&s, PKIE_DER_CTX_C(1), &in, &present);
    if (r == 0 && present) {
        r = cmp_read_algid(&in, PKIE_DER_SEQUENCE, &h->protectionAlg);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    if (r == 0)
        r = explicit_octets(&s, 2, &h->senderKID);
    if (r == 0)
        r = explicit_octets(&s, 3, &h->recipKID);
    if (r == 0)
        r = explicit_octets(&s, 4, &h->transactionID);
    if (r == 0)
        r = explicit_octets(&s, 5, &h->senderNonce);
    if (r == 0)
        r = explicit_octets(&s, 6, &h->recipNonce);
    /* freeText [7] PKIFreeText */
    if (r == 0)
        r = pkie_der_enter_optional(&s, PKIE_DER_CTX_C(7), &in, &present);
    if (r == 0 && present) {
        r = cmp_freetext_decode(dc, &in, PKIE_DER_SEQUENCE, &h->freeText);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    /* generalInfo [8] SEQUENCE SIZE (1..MAX) OF InfoTypeAndValue */
    if (r == 0)
        r = pkie_der_enter_optional(&s, PKIE_DER_CTX_C(8), &in, &present);
    if (r == 0 && present) {
        struct pkie_der seq;
        r = pkie_der_enter(&in, PKIE_DER_SEQUENCE, &seq);
        if (r == 0)
            r = cmp_itavs_decode(dc, &seq, 0, &h->generalInfo, &h->generalInfo_count);
        if (r == 0 && h->generalInfo_count == 0)
            r = PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&seq), "empty generalInfo");
        if (r == 0)
            r = pkie_der_finish(&in);
        if (r == 0)
            r = cmp_header_scan_general_info(dc, h);
    }
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

int cmp_header_scan_general_info(const struct cmp_dec *dc, struct pkie_cmp_header *h)
{
    h->implicitConfirm = 0;
    h->has_confirmWaitTime = 0;
    for (size_t i = 0; i < h->generalInfo_count; i++) {
        const struct pkie_cmp_itav *v = &h->generalInfo[i];
        struct pkie_der d;
        int r = 0;
        if (v->value.p != NULL)
            pkie_der_init(&d, v->value.p, v->value.len);
        if (cmp_oid_is(&v->type, &cmp_oid_implicitConfirm)) {
            /* ImplicitConfirmValue ::= NULL (absent tolerated) */
            if (v->value.p != NULL)
                r = pkie_der_read_null(&d, PKIE_DER_NULL);
            h->implicitConfirm = 1;
        } else if (cmp_oid_is(&v->type, &cmp_oid_confirmWaitTime)) {
            if (v->value.p == NULL)
                return PKIE_ERR(PKIE_ERR_CMP_ITAV, "confirmWaitTime without value");
            r = pkie_der_read_time(&d, PKIE_DER_GENERALIZED_TIME, PKIE_DER_GENERALIZED_TIME,
                                   &h->confirmWaitTime);
            h->has_confirmWaitTime = 1;
        } else if (cmp_oid_is(&v->type, &cmp_oid_certProfile)) {
            if (v->value.p == NULL)
                return PKIE_ERR(PKIE_ERR_CMP_ITAV, "certProfile without value");
            if (dc == NULL)
                return PKIE_ERR(PKIE_ERR_INTERNAL, "certProfile scan without arena");
            r = cmp_freetext_decode(dc, &d, PKIE_DER_SEQUENCE, &h->certProfile);
        } else {
            continue;
        }
        if (r == 0 && v->value.p != NULL)
            r = pkie_der_finish(&d);
        if (r != 0)
            return PKIE_ERR(PKIE_ERR_CMP_ITAV, "malformed known generalInfo ITAV (%s)",
                            pkie_err_name(r));
    }
    return 0;
}

static void explicit_octets_enc(struct pkie_derw *w, unsigned n, const struct pkie_cmp_bytes *b)
{
    if (b->p == NULL)
        return;
    pkie_derw_begin(w, PKIE_DER_CTX_C(n));
    pkie_derw_octets(w, PKIE_DER_OCTET_STRING, b->p, b->len);
    pkie_derw_end(w);
}

int pkie_cmp_header_encode(const struct pkie_cmp_header *h, struct pkie_derw *w)
{
    if (h->sender.p == NULL || h->recipient.p == NULL) {
        cmp_w_fail(w, PKIE_ERR(PKIE_ERR_CMP_ENCODE, "header without sender or recipient"));
        return w->err;
    }
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_int64(w, PKIE_DER_INTEGER, h->pvno);
    cmp_w_bytes(w, &h->sender);
    cmp_w_bytes(w, &h->recipient);
    if (h->has_messageTime) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(0));
        pkie_derw_time(w, PKIE_DER_GENERALIZED_TIME, PKIE_DER_GENERALIZED_TIME, &h->messageTime);
        pkie_derw_end(w);
    }
    if (h->protectionAlg.p != NULL) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(1));
        cmp_w_bytes(w, &h->protectionAlg);
        pkie_derw_end(w);
    }
    explicit_octets_enc(w, 2, &h->senderKID);
    explicit_octets_enc(w, 3, &h->recipKID);
    explicit_octets_enc(w, 4, &h->transactionID);
    explicit_octets_enc(w, 5, &h->senderNonce);
    explicit_octets_enc(w, 6, &h->recipNonce);
    if (h->freeText.count) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(7));
        cmp_freetext_encode(w, PKIE_DER_SEQUENCE, &h->freeText);
        pkie_derw_end(w);
    }
    if (h->generalInfo_count) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(8));
        cmp_itavs_encode(w, PKIE_DER_SEQUENCE, h->generalInfo, h->generalInfo_count);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
    return w->err;
}

/* ---- GeneralName helpers --------------------------------------------------- */

int pkie_cmp_gn_dirname(const struct pkie_cmp_bytes *gn, struct pkie_cmp_bytes *name)
{
    if (gn == NULL || gn->p == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_NAME, "no GeneralName");
    struct pkie_der d, in;
    pkie_der_init(&d, gn->p, gn->len);
    if (!pkie_der_peek_is(&d, PKIE_DER_CTX_C(4)))
        return PKIE_ERR(PKIE_ERR_CMP_NAME, "GeneralName is not a directoryName");
    int r = pkie_der_enter(&d, PKIE_DER_CTX_C(4), &in);
    if (r == 0)
        r = pkie_der_read_raw(&in, PKIE_DER_SEQUENCE, &name->p, &name->len);
    return r;
}

int pkie_cmp_gn_from_name(struct pkie_cmp_msg *m, const X509_NAME *name, struct pkie_cmp_bytes *gn)
{
    unsigned char *der = NULL;
    X509_NAME *empty = NULL;
    if (name == NULL) {
        empty = X509_NAME_new();
        if (empty == NULL)
            return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "X509_NAME_new");
        name = empty;
    }
    int len = i2d_X509_NAME(name, &der);
    X509_NAME_free(empty);
    if (len <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "i2d_X509_NAME");
    struct pkie_derw w;
    pkie_derw_init(&w, (size_t)len + 16);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(4));
    pkie_derw_raw(&w, der, (size_t)len);
    pkie_derw_end(&w);
    OPENSSL_free(der);
    const uint8_t *out;
    size_t out_len;
    int r = pkie_derw_finish(&w, &out, &out_len);
    if (r == 0)
        r = pkie_cmp_dup(m, gn, out, out_len);
    pkie_derw_free(&w);
    return r;
}

/* ---- header building -------------------------------------------------------- */

static int random_bytes(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *dst, size_t n)
{
    uint8_t *p = pkie_cmp_alloc(m, n);
    if (p == NULL)
        return pkie_err_last()->code;
    if (RAND_bytes(p, (int)n) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "RAND_bytes");
    dst->p = p;
    dst->len = n;
    return 0;
}

int pkie_cmp_header_init(struct pkie_cmp_msg *m, int pvno, const X509_NAME *sender,
                         const X509_NAME *recipient, const struct pkie_cmp_bytes *tid,
                         const struct pkie_cmp_bytes *recipNonce)
{
    if (m == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "no message");
    struct pkie_cmp_header *h = &m->header;
    h->pvno = pvno;
    int r = pkie_cmp_gn_from_name(m, sender, &h->sender);
    if (r == 0)
        r = pkie_cmp_gn_from_name(m, recipient, &h->recipient);
    if (r != 0)
        return r;
    h->has_messageTime = 1;
    h->messageTime.secs = (int64_t)time(NULL);
    h->messageTime.nanos = 0;
    if (tid != NULL && tid->p != NULL)
        r = pkie_cmp_dup(m, &h->transactionID, tid->p, tid->len);
    else
        r = random_bytes(m, &h->transactionID, 16);
    if (r == 0)
        r = random_bytes(m, &h->senderNonce, 16);
    if (r == 0 && recipNonce != NULL && recipNonce->p != NULL)
        r = pkie_cmp_dup(m, &h->recipNonce, recipNonce->p, recipNonce->len);
    return r;
}

int pkie_cmp_header_add_itav(struct pkie_cmp_msg *m, const char *oid_text, const uint8_t *value,
                             size_t value_len)
{
    if (m == NULL || oid_text == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "add_itav");
    struct pkie_cmp_header *h = &m->header;
    struct pkie_cmp_itav *arr =
        pkie_cmp_alloc_array(m, h->generalInfo_count + 1, sizeof(struct pkie_cmp_itav));
    if (arr == NULL)
        return pkie_err_last()->code;
    if (h->generalInfo_count)
        memcpy(arr, h->generalInfo, h->generalInfo_count * sizeof(*arr));
    struct pkie_cmp_itav *v = &arr[h->generalInfo_count];
    uint8_t oid[PKIE_DER_OID_MAX_LEN];
    size_t oid_len;
    int r = pkie_der_oid_from_text(oid_text, oid, sizeof(oid), &oid_len);
    if (r == 0)
        r = pkie_cmp_dup(m, &v->type, oid, oid_len);
    if (r == 0 && value != NULL) {
        r = pkie_der_validate(value, value_len);
        if (r == 0)
            r = pkie_cmp_dup(m, &v->value, value, value_len);
    }
    if (r != 0)
        return r;
    h->generalInfo = arr;
    h->generalInfo_count++;
    struct cmp_dec dc = {m->arena, PKIE_CMP_DEFAULT_MAX_ITEMS, 0, 0};
    return cmp_header_scan_general_info(&dc, h);
}

int pkie_cmp_header_set_implicit_confirm(struct pkie_cmp_msg *m)
{
    static const uint8_t null_der[] = {0x05, 0x00};
    if (m != NULL && m->header.implicitConfirm)
        return 0;
    return pkie_cmp_header_add_itav(m, PKIE_CMP_OID_IT_IMPLICIT_CONFIRM, null_der,
                                    sizeof(null_der));
}
