/* PKIMessage and PKIBody: top-level decode and encode, nested messages, the
 * ProtectedPart, and names of body types, statuses and failure bits. */
#include "cmp_local.h"

#include <stdlib.h>
#include <strings.h>

/* ---- PKIBody ----------------------------------------------------------------- */

static int nested_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_nested *n)
{
    if (dc->nest >= dc->max_nesting)
        return PKIE_ERR_AT(PKIE_ERR_CMP_NESTING, pkie_der_offset(d), "nesting deeper than %u",
                           dc->max_nesting);
    struct pkie_der s;
    void *arr;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r == 0)
        r = cmp_alloc_items(dc, &s, sizeof(struct pkie_cmp_msg *), &arr, &n->count);
    if (r != 0)
        return r;
    if (n->count == 0)
        return PKIE_ERR_AT(PKIE_ERR_CMP_EMPTY_SEQ, pkie_der_offset(&s), "empty nested");
    n->msgs = arr;
    struct cmp_dec inner = *dc;
    inner.nest++;
    for (size_t i = 0; i < n->count; i++) {
        struct pkie_cmp_msg *m = cmp_arena_alloc(dc->arena, sizeof(*m));
        if (m == NULL)
            return pkie_err_last()->code;
        m->arena = dc->arena;
        m->is_inner = 1;
        n->msgs[i] = m;
        if ((r = cmp_msg_decode_into(&inner, &s, m)) != 0)
            return r;
    }
    return pkie_der_finish(&s);
}

int cmp_body_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_body *b)
{
    uint32_t tag;
    struct pkie_der in;
    int r = pkie_der_peek_tag(d, &tag);
    if (r != 0)
        return r;
    if (PKIE_DER_TAG_CLASS(tag) != PKIE_DER_CLASS_CONTEXT || !PKIE_DER_TAG_CONSTRUCTED(tag) ||
        PKIE_DER_TAG_NUMBER(tag) > PKIE_CMP_BODY_MAX)
        return PKIE_ERR_AT(PKIE_ERR_CMP_BODY_TYPE, pkie_der_offset(d), "PKIBody tag 0x%08x", tag);
    b->type = (int)PKIE_DER_TAG_NUMBER(tag);
    if ((r = pkie_der_enter(d, tag, &in)) != 0)
        return r;
    switch (b->type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_CCR:
        r = cmp_crmf_reqs_decode(dc, &in, &b->u.certReqs);
        break;
    case PKIE_CMP_BODY_IP:
    case PKIE_CMP_BODY_CP:
    case PKIE_CMP_BODY_KUP:
    case PKIE_CMP_BODY_CCP:
        r = cmp_certrep_decode(dc, &in, &b->u.certRep);
        break;
    case PKIE_CMP_BODY_P10CR:
        r = cmp_read_raw(&in, PKIE_DER_SEQUENCE, &b->raw);
        break;
    case PKIE_CMP_BODY_RR:
        r = cmp_revreq_decode(dc, &in, &b->u.rr);
        break;
    case PKIE_CMP_BODY_RP:
        r = cmp_revrep_decode(dc, &in, &b->u.rp);
        break;
    case PKIE_CMP_BODY_PKICONF:
        r = pkie_der_read_null(&in, PKIE_DER_NULL);
        break;
    case PKIE_CMP_BODY_NESTED:
        r = nested_decode(dc, &in, &b->u.nested);
        break;
    case PKIE_CMP_BODY_GENM:
    case PKIE_CMP_BODY_GENP:
        r = cmp_genm_decode(dc, &in, &b->u.genm);
        break;
    case PKIE_CMP_BODY_ERROR:
        r = cmp_error_decode(dc, &in, &b->u.error);
        break;
    case PKIE_CMP_BODY_CERTCONF:
        r = cmp_certconf_decode(dc, &in, &b->u.certConf);
        break;
    case PKIE_CMP_BODY_POLLREQ:
        r = cmp_pollreq_decode(dc, &in, &b->u.pollReq);
        break;
    case PKIE_CMP_BODY_POLLREP:
        r = cmp_pollrep_decode(dc, &in, &b->u.pollRep);
        break;
    default: /* popdecc, popdecr, krr, krp, ckuann, cann, rann, crlann: kept opaque */
        r = cmp_read_raw(&in, 0, &b->raw);
        break;
    }
    if (r == 0)
        r = pkie_der_finish(&in);
    return r;
}

int pkie_cmp_body_encode(const struct pkie_cmp_body *b, struct pkie_derw *w)
{
    if (b->type < 0 || b->type > PKIE_CMP_BODY_MAX) {
        cmp_w_fail(w, PKIE_ERR(PKIE_ERR_CMP_ENCODE, "body type %d", b->type));
        return w->err;
    }
    pkie_derw_begin(w, PKIE_DER_CTX_C((unsigned)b->type));
    switch (b->type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_CCR:
        cmp_crmf_reqs_encode(w, &b->u.certReqs);
        break;
    case PKIE_CMP_BODY_IP:
    case PKIE_CMP_BODY_CP:
    case PKIE_CMP_BODY_KUP:
    case PKIE_CMP_BODY_CCP:
        cmp_certrep_encode(w, &b->u.certRep);
        break;
    case PKIE_CMP_BODY_RR:
        cmp_revreq_encode(w, &b->u.rr);
        break;
    case PKIE_CMP_BODY_RP:
        cmp_revrep_encode(w, &b->u.rp);
        break;
    case PKIE_CMP_BODY_PKICONF:
        pkie_derw_null(w, PKIE_DER_NULL);
        break;
    case PKIE_CMP_BODY_NESTED:
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        for (size_t i = 0; i < b->u.nested.count; i++)
            pkie_cmp_msg_encode_to(b->u.nested.msgs[i], w);
        pkie_derw_end(w);
        break;
    case PKIE_CMP_BODY_GENM:
    case PKIE_CMP_BODY_GENP:
        cmp_genm_encode(w, &b->u.genm);
        break;
    case PKIE_CMP_BODY_ERROR:
        cmp_error_encode(w, &b->u.error);
        break;
    case PKIE_CMP_BODY_CERTCONF:
        cmp_certconf_encode(w, &b->u.certConf);
        break;
    case PKIE_CMP_BODY_POLLREQ:
        cmp_pollreq_encode(w, &b->u.pollReq);
        break;
    case PKIE_CMP_BODY_POLLREP:
        cmp_pollrep_encode(w, &b->u.pollRep);
        break;
    default: /* p10cr and the opaque types */
        if (b->raw.p == NULL)
            cmp_w_fail(w, PKIE_ERR(PKIE_ERR_CMP_ENCODE, "body %s without content",
                                   pkie_cmp_body_name(b->type)));
        cmp_w_bytes(w, &b->raw);
        break;
    }
    pkie_derw_end(w);
    return w->err;
}

/* ---- PKIMessage ------------------------------------------------------------------ */

int cmp_msg_decode_into(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_msg *m)
{
    struct pkie_der s, in;
    struct pkie_der_tlv t;
    int present;
    struct pkie_der peek = *d;
    int r = pkie_der_read_tlv(&peek, &t);
    if (r == 0)
        r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &s);
    if (r != 0)
        return r;
    m->der.p = t.tlv;
    m->der.len = t.tlv_len;
    m->header_der.p = s.p;
    if ((r = cmp_header_decode(dc, &s, &m->header)) != 0)
        return r;
    m->header_der.len = (size_t)(s.p - m->header_der.p);
    m->body_der.p = s.p;
    if ((r = cmp_body_decode(dc, &s, &m->body)) != 0)
        return r;
    m->body_der.len = (size_t)(s.p - m->body_der.p);
    /* protection [0] PKIProtection (BIT STRING) */
    r = pkie_der_enter_optional(&s, PKIE_DER_CTX_C(0), &in, &present);
    if (r == 0 && present) {
        unsigned unused;
        r = pkie_der_read_bit_string(&in, PKIE_DER_BIT_STRING, &m->protection.p, &m->protection.len,
                                     &unused);
        if (r == 0 && unused != 0)
            r = PKIE_ERR_AT(PKIE_ERR_CMP_DECODE, pkie_der_offset(&in),
                            "protection with unused bits");
        if (r == 0 && m->protection.p == NULL)
            m->protection.p = t.tlv; /* present but empty: any non-NULL pointer */
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    /* extraCerts [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate */
    if (r == 0)
        r = cmp_certs_decode_opt(dc, &s, PKIE_DER_CTX_C(1), "extraCerts", &m->extraCerts,
                                 &m->extraCerts_count);
    if (r == 0)
        r = pkie_der_finish(&s);
    return r;
}

int pkie_cmp_msg_decode(const uint8_t *der, size_t len, const struct pkie_cmp_decode_opts *opts,
                        struct pkie_cmp_msg **out)
{
    struct pkie_cmp_limits lim = {PKIE_CMP_DEFAULT_MAX_MSG_LEN, PKIE_CMP_DEFAULT_MAX_ITEMS,
                                  PKIE_CMP_DEFAULT_MAX_NESTING};
    int copy = 0;
    if (out == NULL || (der == NULL && len != 0))
        return PKIE_ERR(PKIE_ERR_ARG, "decode");
    *out = NULL;
    if (opts != NULL) {
        if (opts->limits.max_msg_len)
            lim.max_msg_len = opts->limits.max_msg_len;
        if (opts->limits.max_items)
            lim.max_items = opts->limits.max_items;
        if (opts->limits.max_nesting)
            lim.max_nesting = opts->limits.max_nesting;
        copy = opts->copy;
    }
    if (len > lim.max_msg_len)
        return PKIE_ERR(PKIE_ERR_CMP_TOO_LARGE, "message of %zu bytes (limit %zu)", len,
                        lim.max_msg_len);
    /* One chunk normally holds the message and all its arrays. */
    size_t first = sizeof(struct pkie_cmp_msg) + 1024 + len / 2 + (copy ? len : 0);
    struct pkie_cmp_arena *a = cmp_arena_new(first, 64 * len + 65536 + (copy ? len : 0));
    if (a == NULL)
        return pkie_err_last()->code;
    struct pkie_cmp_msg *m = cmp_arena_alloc(a, sizeof(*m));
    if (m == NULL) {
        cmp_arena_free(a);
        return pkie_err_last()->code;
    }
    m->arena = a;
    if (copy && len) {
        uint8_t *c = cmp_arena_alloc(a, len);
        if (c == NULL) {
            cmp_arena_free(a);
            return pkie_err_last()->code;
        }
        memcpy(c, der, len);
        der = c;
    }
    struct cmp_dec dc = {a, lim.max_items, 0, lim.max_nesting};
    struct pkie_der d;
    pkie_der_init(&d, der, len);
    int r = cmp_msg_decode_into(&dc, &d, m);
    if (r == 0)
        r = pkie_der_finish(&d);
    if (r != 0) {
        cmp_arena_free(a);
        return r;
    }
    *out = m;
    return 0;
}

struct pkie_cmp_msg *pkie_cmp_msg_new(void)
{
    struct pkie_cmp_arena *a = cmp_arena_new(4096, 0);
    if (a == NULL)
        return NULL;
    struct pkie_cmp_msg *m = cmp_arena_alloc(a, sizeof(*m));
    if (m == NULL) {
        cmp_arena_free(a);
        return NULL;
    }
    m->arena = a;
    m->header.pvno = PKIE_CMP_PVNO_2000;
    m->body.type = -1;
    return m;
}

void pkie_cmp_msg_free(struct pkie_cmp_msg *m)
{
    if (m == NULL || m->is_inner)
        return;
    cmp_arena_free(m->arena);
}

int pkie_cmp_protected_part_encode(const struct pkie_cmp_msg *m, struct pkie_derw *w)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_cmp_header_encode(&m->header, w);
    pkie_cmp_body_encode(&m->body, w);
    pkie_derw_end(w);
    return w->err;
}

int pkie_cmp_msg_encode_to(const struct pkie_cmp_msg *m, struct pkie_derw *w)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_cmp_header_encode(&m->header, w);
    pkie_cmp_body_encode(&m->body, w);
    if (m->protection.p != NULL) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(0));
        pkie_derw_bit_string(w, PKIE_DER_BIT_STRING, m->protection.p, m->protection.len, 0);
        pkie_derw_end(w);
    }
    if (m->extraCerts_count) {
        pkie_derw_begin(w, PKIE_DER_CTX_C(1));
        cmp_certs_encode(w, m->extraCerts, m->extraCerts_count);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
    return w->err;
}

/* Largest encoding we produce. */
#define ENCODE_MAX ((size_t)64 << 20)

int pkie_cmp_msg_encode(const struct pkie_cmp_msg *m, uint8_t **out, size_t *len)
{
    if (m == NULL || out == NULL || len == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "encode");
    struct pkie_derw w;
    pkie_derw_init(&w, ENCODE_MAX);
    if (m->der.len)
        pkie_buf_reserve(&w.out, m->der.len);
    pkie_cmp_msg_encode_to(m, &w);
    int r = pkie_derw_steal(&w, out, len);
    pkie_derw_free(&w);
    return r;
}

/* ---- ProtectedPart feeding ---------------------------------------------------------- */

/* DER header of a SEQUENCE with @p len content bytes; returns its size. */
static size_t seq_header(uint8_t *out, size_t len)
{
    size_t n = 0;
    out[n++] = 0x30;
    if (len < 0x80) {
        out[n++] = (uint8_t)len;
        return n;
    }
    size_t bytes = 0;
    for (size_t v = len; v; v >>= 8)
        bytes++;
    out[n++] = (uint8_t)(0x80 | bytes);
    for (size_t i = bytes; i > 0; i--)
        out[n++] = (uint8_t)(len >> (8 * (i - 1)));
    return n;
}

static int decoded_parts(const struct pkie_cmp_msg *m)
{
    return m->header_der.p != NULL && m->body_der.p != NULL &&
           m->header_der.p + m->header_der.len == m->body_der.p;
}

int cmp_protected_part_feed(const struct pkie_cmp_msg *m, cmp_update_fn update, void *ctx)
{
    if (decoded_parts(m)) {
        uint8_t hdr[16];
        size_t body = m->header_der.len + m->body_der.len;
        size_t n = seq_header(hdr, body);
        int r = update(ctx, hdr, n);
        if (r == 0)
            r = update(ctx, m->header_der.p, body);
        return r;
    }
    struct pkie_derw w;
    pkie_derw_init(&w, ENCODE_MAX);
    const uint8_t *p;
    size_t len;
    pkie_cmp_protected_part_encode(m, &w);
    int r = pkie_derw_finish(&w, &p, &len);
    if (r == 0)
        r = update(ctx, p, len);
    pkie_derw_free(&w);
    return r;
}

int cmp_protected_part_der(const struct pkie_cmp_msg *m, uint8_t **out, size_t *len)
{
    if (decoded_parts(m)) {
        uint8_t hdr[16];
        size_t body = m->header_der.len + m->body_der.len;
        size_t n = seq_header(hdr, body);
        uint8_t *p = malloc(n + body);
        if (p == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "ProtectedPart");
        memcpy(p, hdr, n);
        memcpy(p + n, m->header_der.p, body);
        *out = p;
        *len = n + body;
        return 0;
    }
    struct pkie_derw w;
    pkie_derw_init(&w, ENCODE_MAX);
    pkie_cmp_protected_part_encode(m, &w);
    int r = pkie_derw_steal(&w, out, len);
    pkie_derw_free(&w);
    return r;
}

/* ---- names --------------------------------------------------------------------------- */

static const char *const body_names[] = {
    "ir",     "ip",      "cr",     "cp",   "p10cr", "popdecc", "popdecr",  "kur",     "kup",
    "krr",    "krp",     "rr",     "rp",   "ccr",   "ccp",     "ckuann",   "cann",    "rann",
    "crlann", "pkiconf", "nested", "genm", "genp",  "error",   "certConf", "pollReq", "pollRep",
};

const char *pkie_cmp_body_name(int type)
{
    if (type < 0 || type > PKIE_CMP_BODY_MAX)
        return "unknown";
    return body_names[type];
}

int pkie_cmp_body_answer(int req)
{
    /* RFC 9810 5.3 / RFC 9483 4: the body that answers each request body (besides error,
     * and pollRep while waiting); the one map client and server use */
    static const signed char answer[PKIE_CMP_BODY_MAX + 1] = {
        [PKIE_CMP_BODY_IR] = PKIE_CMP_BODY_IP,
        [PKIE_CMP_BODY_CR] = PKIE_CMP_BODY_CP,
        [PKIE_CMP_BODY_P10CR] = PKIE_CMP_BODY_CP,
        [PKIE_CMP_BODY_KUR] = PKIE_CMP_BODY_KUP,
        [PKIE_CMP_BODY_KRR] = PKIE_CMP_BODY_KRP,
        [PKIE_CMP_BODY_RR] = PKIE_CMP_BODY_RP,
        [PKIE_CMP_BODY_CCR] = PKIE_CMP_BODY_CCP,
        [PKIE_CMP_BODY_GENM] = PKIE_CMP_BODY_GENP,
        [PKIE_CMP_BODY_CERTCONF] = PKIE_CMP_BODY_PKICONF,
        [PKIE_CMP_BODY_ERROR] = PKIE_CMP_BODY_PKICONF,
        [PKIE_CMP_BODY_POLLREQ] = PKIE_CMP_BODY_POLLREP,
    };
    if (req < 0 || req > PKIE_CMP_BODY_MAX || (answer[req] == 0 && req != PKIE_CMP_BODY_IR))
        return -1;
    return answer[req];
}

int pkie_cmp_body_from_name(const char *name)
{
    for (int i = 0; name != NULL && i <= PKIE_CMP_BODY_MAX; i++)
        if (strcasecmp(body_names[i], name) == 0)
            return i;
    return -1;
}

const char *pkie_cmp_status_name(int64_t status)
{
    static const char *const names[] = {
        "accepted",          "grantedWithMods",        "rejection",        "waiting",
        "revocationWarning", "revocationNotification", "keyUpdateWarning",
    };
    if (status < 0 || status > 6)
        return "unknown";
    return names[status];
}

const char *pkie_cmp_failinfo_name(int bit)
{
    static const char *const names[] = {
        "badAlg",
        "badMessageCheck",
        "badRequest",
        "badTime",
        "badCertId",
        "badDataFormat",
        "wrongAuthority",
        "incorrectData",
        "missingTimeStamp",
        "badPOP",
        "certRevoked",
        "certConfirmed",
        "wrongIntegrity",
        "badRecipientNonce",
        "timeNotAvailable",
        "unacceptedPolicy",
        "unacceptedExtension",
        "addInfoNotAvailable",
        "badSenderNonce",
        "badCertTemplate",
        "signerNotTrusted",
        "transactionIdInUse",
        "unsupportedVersion",
        "notAuthorized",
        "systemUnavail",
        "systemFailure",
        "duplicateCertReq",
    };
    if (bit < 0 || bit > PKIE_CMP_FI_MAX)
        return NULL;
    return names[bit];
}
