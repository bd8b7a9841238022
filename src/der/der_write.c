/* DER writer: appends canonical DER to a bounded buffer; constructed
 * elements reserve one length octet and are patched when closed. */
#include "der_internal.h"

#include "pkie/wipe.h"

#include <stdlib.h>
#include <string.h>

void pkie_derw_init(struct pkie_derw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    pkie_buf_init(&w->out, max);
}

void pkie_derw_init_secret(struct pkie_derw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    pkie_buf_init_secret(&w->out, max);
}

void pkie_derw_free(struct pkie_derw *w)
{
    pkie_buf_free(&w->out);
    w->depth = 0;
}

static int fail(struct pkie_derw *w, int rc)
{
    if (w->err == 0)
        w->err = rc;
    return rc;
}

/* Encode the identifier octets of @p tag into b (6 bytes); returns the
 * count, or 0 for universal tag 0 (end-of-contents), which DER never writes. */
static size_t tag_octets(uint32_t tag, uint8_t *b)
{
    uint32_t cls = PKIE_DER_TAG_CLASS(tag), num = PKIE_DER_TAG_NUMBER(tag);
    uint32_t cons = PKIE_DER_TAG_CONSTRUCTED(tag);
    if (cls == PKIE_DER_CLASS_UNIVERSAL && num == 0)
        return 0;
    size_t n = 0;
    uint8_t id = (uint8_t)((cls << 6) | (cons << 5));
    if (num < 31) {
        b[n++] = (uint8_t)(id | num);
    } else {
        b[n++] = (uint8_t)(id | 0x1F);
        int shift = 28;
        while (shift > 0 && (num >> shift) == 0)
            shift -= 7;
        for (; shift > 0; shift -= 7)
            b[n++] = (uint8_t)(0x80 | ((num >> shift) & 0x7F));
        b[n++] = (uint8_t)(num & 0x7F);
    }
    return n;
}

/* Encode a definite length into b (5 bytes); returns the count. */
static size_t len_octets(size_t len, uint8_t *b)
{
    if (len < 0x80) {
        b[0] = (uint8_t)len;
        return 1;
    }
    size_t n = 0;
    for (size_t v = len; v != 0; v >>= 8)
        n++;
    b[0] = (uint8_t)(0x80 | n);
    for (size_t i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    return n + 1;
}

/* Universal types have a fixed form (the reader's rule, der_header). */
static int check_form(uint32_t tag)
{
    uint32_t num = PKIE_DER_TAG_NUMBER(tag);
    if (PKIE_DER_TAG_CLASS(tag) != PKIE_DER_CLASS_UNIVERSAL || num >= 31)
        return 0;
    int cons = num == 8 || num == 11 || num == 16 || num == 17 || num == 29;
    if (cons != (int)PKIE_DER_TAG_CONSTRUCTED(tag))
        return PKIE_ERR(PKIE_ERR_DER_CONSTRUCTED, "universal type %u in the wrong form", num);
    return 0;
}

/* Append a whole primitive element: tag, length, the optional prefix octet
 * @p pre (when @p has_pre: the sign octet of an INTEGER, the unused-bits
 * octet of a BIT STRING) and @p len bytes of @p val. @p val may point into
 * the writer's own buffer (copying an element already written): room is
 * reserved first and the source found again after the buffer moved. */
static int put_elem(struct pkie_derw *w, uint32_t tag, int has_pre, uint8_t pre, const void *val,
                    size_t len)
{
    if (w->err != 0)
        return w->err;
    size_t clen = len + (has_pre ? 1 : 0);
    if (len >= 0xFFFFFFFFu)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_LENGTH_OVERFLOW, "element of %zu bytes", len));
    int rc = check_form(tag);
    if (rc != 0)
        return fail(w, rc);
    uint8_t tb[6];
    size_t tn = tag_octets(tag, tb);
    if (tn == 0)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_TAG, "universal tag 0 cannot be written"));
    const uint8_t *src = val, *data = w->out.data;
    int alias = len > 0 && data != NULL && src >= data && src < data + w->out.len;
    size_t off = alias ? (size_t)(src - data) : 0;
    uint8_t lb[9];
    size_t ln = len_octets(clen, lb);
    if (clen > SIZE_MAX - 16)
        return fail(w, PKIE_ERR(PKIE_ERR_LIMIT, "element too large"));
    rc = pkie_buf_reserve(&w->out, tn + ln + clen);
    if (rc != 0)
        return fail(w, rc);
    if (alias)
        src = w->out.data + off;
    /* Nothing below allocates: the room is reserved. */
    (void)pkie_buf_append(&w->out, tb, tn);
    (void)pkie_buf_append(&w->out, lb, ln);
    if (has_pre)
        (void)pkie_buf_append_byte(&w->out, pre);
    if (len > 0) {
        memmove(w->out.data + w->out.len, src, len);
        w->out.len += len;
    }
    return 0;
}

static int put_prim(struct pkie_derw *w, uint32_t tag, const void *val, size_t len)
{
    return put_elem(w, tag, 0, 0, val, len);
}

static int begin(struct pkie_derw *w, uint32_t tag, int set_of)
{
    if (w->err != 0)
        return w->err;
    if (!PKIE_DER_TAG_CONSTRUCTED(tag))
        return fail(w, PKIE_ERR(PKIE_ERR_ARG, "pkie_derw_begin with a primitive tag"));
    if (w->depth >= PKIE_DER_MAX_DEPTH)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_DEPTH, "nesting deeper than %d", PKIE_DER_MAX_DEPTH));
    int rc = check_form(tag);
    if (rc != 0)
        return fail(w, rc);
    uint8_t tb[7];
    size_t tn = tag_octets(tag, tb);
    if (tn == 0)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_TAG, "universal tag 0 cannot be written"));
    tb[tn++] = 0; /* the length octet, patched by pkie_derw_end */
    rc = pkie_buf_append(&w->out, tb, tn);
    if (rc != 0)
        return fail(w, rc);
    w->open[w->depth] = w->out.len - 1;
    w->is_set_of[w->depth] = (uint8_t)(set_of != 0);
    w->depth++;
    return 0;
}

int pkie_derw_begin(struct pkie_derw *w, uint32_t tag)
{
    return begin(w, tag, 0);
}

int pkie_derw_begin_set_of(struct pkie_derw *w, uint32_t tag)
{
    return begin(w, tag, 1);
}

struct span {
    size_t off, len;
};

static int span_cmp(const uint8_t *base, const struct span *a, const struct span *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(base + a->off, base + b->off, n);
    if (c != 0)
        return c;
    for (size_t i = n; i < a->len; i++)
        if (base[a->off + i] != 0)
            return 1;
    for (size_t i = n; i < b->len; i++)
        if (base[b->off + i] != 0)
            return -1;
    return 0;
}

/* Sort the elements in data[from, from + len) by encoding (X.690 11.6). */
static int sort_set_of(struct pkie_derw *w, size_t from, size_t len)
{
    uint8_t *data = w->out.data;
    size_t n = 0;
    struct pkie_der d;
    pkie_der_init(&d, data + from, len);
    while (!pkie_der_at_end(&d)) {
        if (pkie_der_skip(&d) != 0)
            return PKIE_ERR(PKIE_ERR_INTERNAL, "SET OF contents are not DER");
        n++;
    }
    if (n < 2)
        return 0;
    int rc = 0;
    struct span *s = calloc(2 * n, sizeof(*s));
    uint8_t *tmp = malloc(len);
    if (s == NULL || tmp == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "no memory to sort a SET OF");
        goto err;
    }
    pkie_der_init(&d, data + from, len);
    for (size_t i = 0; i < n; i++) {
        struct pkie_der_tlv t;
        (void)pkie_der_read_tlv(&d, &t);
        s[i].off = (size_t)(t.tlv - data);
        s[i].len = t.tlv_len;
    }
    /* Bottom-up merge sort: stable, O(n log n), no recursion. */
    struct span *a = s, *b = s + n;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = span_cmp(data, &a[j], &a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        struct span *x = a;
        a = b;
        b = x;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(tmp + pos, data + a[i].off, a[i].len);
        pos += a[i].len;
    }
    memcpy(data + from, tmp, len);
err:
    free(s);
    if (tmp != NULL)
        pkie_wipe_free(tmp, len);
    return rc;
}

int pkie_derw_end(struct pkie_derw *w)
{
    if (w->err != 0)
        return w->err;
    if (w->depth == 0)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_WRITE, "pkie_derw_end without an open element"));
    size_t lpos = w->open[w->depth - 1];
    size_t clen = w->out.len - lpos - 1;
    if (clen > 0xFFFFFFFFu)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_LENGTH_OVERFLOW, "element of %zu bytes", clen));
    if (w->is_set_of[w->depth - 1]) {
        int rc = sort_set_of(w, lpos + 1, clen);
        if (rc != 0)
            return fail(w, rc);
    }
    uint8_t lb[9];
    size_t ln = len_octets(clen, lb);
    if (ln > 1) {
        int rc = pkie_buf_reserve(&w->out, ln - 1);
        if (rc != 0)
            return fail(w, rc);
        memmove(w->out.data + lpos + ln, w->out.data + lpos + 1, clen);
        w->out.len += ln - 1;
    }
    memcpy(w->out.data + lpos, lb, ln);
    w->depth--;
    return 0;
}

int pkie_derw_raw(struct pkie_derw *w, const uint8_t *tlv, size_t len)
{
    if (w->err != 0)
        return w->err;
    struct pkie_der d;
    pkie_der_init(&d, tlv, len);
    d.depth = w->depth;
    struct pkie_der_tlv t;
    int rc = pkie_der_read_tlv(&d, &t);
    if (rc == 0)
        rc = pkie_der_finish(&d);
    if (rc == 0)
        rc = der_check_element(tlv, &t, w->depth);
    if (rc != 0)
        return fail(w, rc);
    const uint8_t *data = w->out.data;
    if (data != NULL && tlv >= data && tlv < data + w->out.len) {
        /* copying an element already written: the buffer may move */
        size_t off = (size_t)(tlv - data);
        rc = pkie_buf_reserve(&w->out, len);
        if (rc != 0)
            return fail(w, rc);
        memmove(w->out.data + w->out.len, w->out.data + off, len);
        w->out.len += len;
        return 0;
    }
    rc = pkie_buf_append(&w->out, tlv, len);
    if (rc != 0)
        return fail(w, rc);
    return 0;
}

int pkie_derw_tlv(struct pkie_derw *w, uint32_t tag, const void *val, size_t len)
{
    if (w->err != 0)
        return w->err;
    if (PKIE_DER_TAG_CONSTRUCTED(tag))
        return fail(w, PKIE_ERR(PKIE_ERR_ARG, "pkie_derw_tlv with a constructed tag"));
    if (PKIE_DER_TAG_CLASS(tag) == PKIE_DER_CLASS_UNIVERSAL) {
        int rc = der_check_content(tag, val, len, 0);
        if (rc != 0)
            return fail(w, rc);
    }
    return put_prim(w, tag, val, len);
}

/* Write contents checked against universal @p type under @p tag. */
static int put_typed(struct pkie_derw *w, uint32_t tag, uint32_t type, const void *val, size_t len)
{
    if (w->err != 0)
        return w->err;
    if (PKIE_DER_TAG_CONSTRUCTED(tag))
        return fail(w, PKIE_ERR(PKIE_ERR_ARG, "a primitive type written with a constructed tag"));
    int rc = der_check_content(type, val, len, 0);
    if (rc != 0)
        return fail(w, rc);
    return put_prim(w, tag, val, len);
}

int pkie_derw_int64(struct pkie_derw *w, uint32_t tag, int64_t v)
{
    uint8_t b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)u;
        u >>= 8;
    }
    size_t s = 0;
    while (s < 7 && ((b[s] == 0x00 && !(b[s + 1] & 0x80)) || (b[s] == 0xFF && (b[s + 1] & 0x80))))
        s++;
    return put_typed(w, tag, PKIE_DER_INTEGER, b + s, 8 - s);
}

int pkie_derw_integer(struct pkie_derw *w, uint32_t tag, const uint8_t *twos, size_t len)
{
    return put_typed(w, tag, PKIE_DER_INTEGER, twos, len);
}

int pkie_derw_uint_bytes(struct pkie_derw *w, uint32_t tag, const uint8_t *mag, size_t len)
{
    if (w->err != 0)
        return w->err;
    while (len > 0 && mag[0] == 0) {
        mag++;
        len--;
    }
    if (len == 0 || (mag[0] & 0x80)) {
        /* prepend the sign octet */
        if (PKIE_DER_TAG_CONSTRUCTED(tag))
            return fail(w, PKIE_ERR(PKIE_ERR_ARG, "INTEGER written with a constructed tag"));
        return put_elem(w, tag, 1, 0x00, mag, len);
    }
    return put_typed(w, tag, PKIE_DER_INTEGER, mag, len);
}

int pkie_derw_bool(struct pkie_derw *w, uint32_t tag, int v)
{
    uint8_t b = v ? 0xFF : 0x00;
    return put_typed(w, tag, PKIE_DER_BOOLEAN, &b, 1);
}

int pkie_derw_null(struct pkie_derw *w, uint32_t tag)
{
    return put_typed(w, tag, PKIE_DER_NULL, "", 0);
}

int pkie_derw_oid(struct pkie_derw *w, uint32_t tag, const uint8_t *oid, size_t len)
{
    return put_typed(w, tag, PKIE_DER_OID, oid, len);
}

int pkie_derw_oid_text(struct pkie_derw *w, uint32_t tag, const char *text)
{
    if (w->err != 0)
        return w->err;
    uint8_t oid[PKIE_DER_OID_MAX_LEN];
    size_t len;
    int rc = pkie_der_oid_from_text(text, oid, sizeof(oid), &len);
    if (rc != 0)
        return fail(w, rc);
    return pkie_derw_oid(w, tag, oid, len);
}

int pkie_derw_octets(struct pkie_derw *w, uint32_t tag, const void *p, size_t len)
{
    return put_typed(w, tag, PKIE_DER_OCTET_STRING, p, len);
}

int pkie_derw_bit_string(struct pkie_derw *w, uint32_t tag, const uint8_t *bits, size_t len,
                         unsigned unused)
{
    if (w->err != 0)
        return w->err;
    if (PKIE_DER_TAG_CONSTRUCTED(tag))
        return fail(w, PKIE_ERR(PKIE_ERR_ARG, "BIT STRING written with a constructed tag"));
    if (unused > 7 || (len == 0 && unused != 0) ||
        (len > 0 && (bits[len - 1] & ((1u << unused) - 1u)) != 0))
        return fail(w, PKIE_ERR(PKIE_ERR_DER_BITSTRING, "bad unused bits %u", unused));
    return put_elem(w, tag, 1, (uint8_t)unused, bits, len);
}

int pkie_derw_named_bits(struct pkie_derw *w, uint32_t tag, uint32_t bits)
{
    uint8_t b[4] = {0};
    int top = -1;
    for (int i = 0; i < 32; i++) {
        if (bits & (1u << i)) {
            b[i / 8] |= (uint8_t)(0x80u >> (i % 8));
            top = i;
        }
    }
    if (top < 0)
        return pkie_derw_bit_string(w, tag, b, 0, 0);
    return pkie_derw_bit_string(w, tag, b, (size_t)top / 8 + 1, 7u - (unsigned)top % 8);
}

int pkie_derw_string(struct pkie_derw *w, uint32_t tag, uint32_t type, const char *s, size_t len)
{
    if (type != PKIE_DER_UTF8_STRING && type != PKIE_DER_PRINTABLE_STRING &&
        type != PKIE_DER_IA5_STRING)
        return fail(w, PKIE_ERR(PKIE_ERR_ARG, "not a character string type"));
    return put_typed(w, tag, type, s, len);
}

int pkie_derw_time(struct pkie_derw *w, uint32_t tag, uint32_t type, const struct pkie_der_time *t)
{
    if (w->err != 0)
        return w->err;
    char buf[32];
    int n = der_format_time(type, t, buf);
    if (n < 0)
        return fail(w, n);
    return put_typed(w, tag, type, buf, (size_t)n);
}

int pkie_derw_x509_time(struct pkie_derw *w, const struct pkie_der_time *t)
{
    if (w->err != 0)
        return w->err;
    if (t->nanos != 0)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_TIME, "an X.509 Time has whole seconds only"));
    /* 1950-01-01T00:00:00Z and 2050-01-01T00:00:00Z */
    uint32_t type = t->secs >= -631152000 && t->secs < 2524608000 ? PKIE_DER_UTC_TIME
                                                                  : PKIE_DER_GENERALIZED_TIME;
    return pkie_derw_time(w, type, type, t);
}

int pkie_derw_finish(struct pkie_derw *w, const uint8_t **out, size_t *len)
{
    if (w->err != 0)
        return w->err;
    if (w->depth != 0)
        return fail(w, PKIE_ERR(PKIE_ERR_DER_WRITE, "%u element(s) still open", w->depth));
    *out = w->out.data;
    *len = w->out.len;
    return 0;
}

int pkie_derw_steal(struct pkie_derw *w, uint8_t **out, size_t *len)
{
    const uint8_t *p;
    size_t n;
    int rc = pkie_derw_finish(w, &p, &n);
    if (rc != 0)
        return rc;
    if (w->out.data == NULL) {
        *out = malloc(1);
        if (*out == NULL)
            return fail(w, PKIE_ERR(PKIE_ERR_NOMEM, "no memory"));
        *len = 0;
        return 0;
    }
    *out = pkie_buf_steal(&w->out, len);
    return 0;
}
