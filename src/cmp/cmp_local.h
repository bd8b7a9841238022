/* Internal declarations shared by the files of src/cmp (not installed). */
#ifndef PKIE_CMP_LOCAL_H
#define PKIE_CMP_LOCAL_H

#include "pkie/cmp_msg.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <stdint.h>
#include <string.h>

/* ---- arena (arena.c) ------------------------------------------------------ */

/** Create an arena whose first chunk holds @p first bytes; @p max bounds the
 *  total it may ever allocate (0 = no bound beyond size_t). */
struct pkie_cmp_arena *cmp_arena_new(size_t first, size_t max);
void cmp_arena_free(struct pkie_cmp_arena *a);
/** Zeroed, max_align_t-aligned allocation (NULL + error recorded on failure). */
void *cmp_arena_alloc(struct pkie_cmp_arena *a, size_t n);
/** Array allocation with overflow check. */
void *cmp_arena_array(struct pkie_cmp_arena *a, size_t count, size_t size);

/* ---- decoding context ----------------------------------------------------- */

struct cmp_dec {
    struct pkie_cmp_arena *arena;
    size_t max_items;
    unsigned nest;
    unsigned max_nesting;
};

/** Count the elements of @p seq (without consuming it); PKIE_ERR_CMP_COUNT
 *  past dc->max_items. Every element is checked as a TLV. */
int cmp_count(const struct cmp_dec *dc, const struct pkie_der *seq, size_t *n);
/** Count and allocate an array of the elements of @p seq (NULL when 0). */
int cmp_alloc_items(const struct cmp_dec *dc, const struct pkie_der *seq, size_t size, void **arr,
                    size_t *n);

/** Read an element with @p tag (any tag when 0) as a validated DER TLV. */
int cmp_read_raw(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out);
/** Read the contents of a constructed element with @p tag, validated as a
 *  sequence of DER elements (for IMPLICIT-tagged SEQUENCEs kept opaque). */
int cmp_read_contents(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out);
/** OCTET STRING contents with @p tag (p never NULL on success). */
int cmp_read_octets(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out);
/** An AlgorithmIdentifier TLV (SEQUENCE { OID, params OPTIONAL }) validated. */
int cmp_read_algid(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out);
/** A GeneralName TLV (any context tag 0..8), validated. */
int cmp_read_gn(struct pkie_der *d, struct pkie_cmp_bytes *out);
/** A BIT STRING's complete contents (unused-bits octet first), checked. */
int cmp_read_bits_raw(struct pkie_der *d, uint32_t tag, struct pkie_cmp_bytes *out);

int cmp_freetext_decode(const struct cmp_dec *dc, struct pkie_der *d, uint32_t tag,
                        struct pkie_cmp_freetext *ft);
/** Optional PKIFreeText with plain SEQUENCE tag. */
int cmp_freetext_decode_opt(const struct cmp_dec *dc, struct pkie_der *d,
                            struct pkie_cmp_freetext *ft);
int cmp_statusinfo_decode(const struct cmp_dec *dc, struct pkie_der *d,
                          struct pkie_cmp_statusinfo *si);
/** SEQUENCE OF ITAV (or ATV when @p atv: value required) with @p tag. */
int cmp_itavs_decode(const struct cmp_dec *dc, struct pkie_der *seq, int atv,
                     struct pkie_cmp_itav **arr, size_t *n);
int cmp_certid_decode(struct pkie_der *d, struct pkie_crmf_certid *c);
int cmp_template_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_crmf_template *t);
int cmp_certs_decode(const struct cmp_dec *dc, struct pkie_der *seq, struct pkie_cmp_bytes **arr,
                     size_t *n);
/** Optional `[tag] EXPLICIT SEQUENCE SIZE (1..MAX) OF CMPCertificate` (caPubs,
 *  crls, extraCerts): absent leaves arr and n alone; empty is an error naming @p what. */
int cmp_certs_decode_opt(const struct cmp_dec *dc, struct pkie_der *d, uint32_t tag,
                         const char *what, struct pkie_cmp_bytes **arr, size_t *n);

int cmp_header_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_header *h);
int cmp_body_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_body *b);
int cmp_crmf_reqs_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_crmf_reqs *r);
int cmp_certrep_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_certrep *r);
int cmp_revreq_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_revreq *r);
int cmp_revrep_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_revrep *r);
int cmp_genm_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_itavs *g);
int cmp_error_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_errormsg *e);
int cmp_certconf_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_certconf *c);
int cmp_pollreq_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_pollreq *p);
int cmp_pollrep_decode(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_pollrep *p);
/** One PKIMessage from @p d into @p m (arena already set). */
int cmp_msg_decode_into(const struct cmp_dec *dc, struct pkie_der *d, struct pkie_cmp_msg *m);
/** Derive the known-ITAV views of a header from its generalInfo. */
int cmp_header_scan_general_info(const struct cmp_dec *dc, struct pkie_cmp_header *h);
/** Derive the known-control views of a CertRequest from its controls. */
int cmp_certreq_scan_controls(struct pkie_crmf_certreq *r);

/* ---- encoding helpers ----------------------------------------------------- */

/** Append pre-validated bytes to the writer (sticky-error aware). */
static inline void cmp_w_append(struct pkie_derw *w, const uint8_t *p, size_t len)
{
    if (w->err != 0 || len == 0)
        return;
    int r = pkie_buf_append(&w->out, p, len);
    if (r != 0)
        w->err = r;
}
static inline void cmp_w_bytes(struct pkie_derw *w, const struct pkie_cmp_bytes *b)
{
    cmp_w_append(w, b->p, b->len);
}
/** Mark the writer failed with @p code (once). */
static inline void cmp_w_fail(struct pkie_derw *w, int code)
{
    if (w->err == 0)
        w->err = code;
}

void cmp_freetext_encode(struct pkie_derw *w, uint32_t tag, const struct pkie_cmp_freetext *ft);
void cmp_statusinfo_encode(struct pkie_derw *w, const struct pkie_cmp_statusinfo *si);
void cmp_itavs_encode(struct pkie_derw *w, uint32_t tag, const struct pkie_cmp_itav *arr, size_t n);
void cmp_certid_encode(struct pkie_derw *w, const struct pkie_crmf_certid *c);
void cmp_certs_encode(struct pkie_derw *w, const struct pkie_cmp_bytes *arr, size_t n);
void cmp_crmf_reqs_encode(struct pkie_derw *w, const struct pkie_crmf_reqs *r);
void cmp_certrep_encode(struct pkie_derw *w, const struct pkie_cmp_certrep *r);
void cmp_revreq_encode(struct pkie_derw *w, const struct pkie_cmp_revreq *r);
void cmp_revrep_encode(struct pkie_derw *w, const struct pkie_cmp_revrep *r);
void cmp_genm_encode(struct pkie_derw *w, const struct pkie_cmp_itavs *g);
void cmp_error_encode(struct pkie_derw *w, const struct pkie_cmp_errormsg *e);
void cmp_certconf_encode(struct pkie_derw *w, const struct pkie_cmp_certconf *c);
void cmp_pollreq_encode(struct pkie_derw *w, const struct pkie_cmp_pollreq *p);
void cmp_pollrep_encode(struct pkie_derw *w, const struct pkie_cmp_pollrep *p);

/* ---- OIDs (contents bytes) (oid.c) --------------------------------------- */

struct cmp_oid {
    const uint8_t *p;
    size_t len;
};
extern const struct cmp_oid cmp_oid_implicitConfirm, cmp_oid_confirmWaitTime, cmp_oid_certProfile,
    cmp_oid_regToken, cmp_oid_authenticator, cmp_oid_oldCertID, cmp_oid_pbm, cmp_oid_pbmac1,
    cmp_oid_pbkdf2, cmp_oid_rsassa_pss, cmp_oid_mgf1, cmp_oid_ed25519, cmp_oid_ed448;

static inline int cmp_oid_is(const struct pkie_cmp_bytes *b, const struct cmp_oid *o)
{
    return b->len == o->len && memcmp(b->p, o->p, o->len) == 0;
}

/** Digest name for a hash AlgorithmIdentifier OID (SHA1/224/256/384/512), or NULL. */
const char *cmp_oid_digest(const uint8_t *oid, size_t len);
/** HMAC digest name for an HMAC OID (RFC 4231/8018 hmacWithSHAx, or the
 *  1.3.6.1.5.5.8.1.2 hmac-sha1 of RFC 4211), or NULL. */
const char *cmp_oid_hmac(const uint8_t *oid, size_t len);
/** OID contents of the digest algorithm / hmacWithX named @p md (NULL unknown). */
const struct cmp_oid *cmp_oid_for_digest(const char *md);
const struct cmp_oid *cmp_oid_for_hmac(const char *md);

/** The digest named @p name (canonical names of the tables above), fetched
 *  once per process (faster than an implicit fetch per use). */
const EVP_MD *cmp_md(const char *name);

/** Signature algorithm kinds. */
enum cmp_sig_kind { CMP_SIG_RSA, CMP_SIG_RSA_PSS, CMP_SIG_ECDSA, CMP_SIG_ED25519, CMP_SIG_ED448 };
/** Signature algorithm from an OID: kind and digest name (NULL for EdDSA, PSS). */
int cmp_oid_sig(const uint8_t *oid, size_t len, int *kind, const char **md);
const struct cmp_oid *cmp_oid_for_sig(int kind, const char *md);

/** Split an AlgorithmIdentifier TLV into OID contents and params TLV (p NULL
 *  when absent). */
int cmp_algid_split(const struct pkie_cmp_bytes *algid, struct pkie_cmp_bytes *oid,
                    struct pkie_cmp_bytes *params);

/* ---- protection internals (protect_*.c) ---------------------------------- */

/** Feed the ProtectedPart DER of @p m to @p update (no copy for decoded
 *  messages, an encoding otherwise). Returns 0 or an error. */
typedef int (*cmp_update_fn)(void *ctx, const uint8_t *p, size_t len);
int cmp_protected_part_feed(const struct pkie_cmp_msg *m, cmp_update_fn update, void *ctx);
/** The ProtectedPart DER as one contiguous malloc'd buffer (for EdDSA). */
int cmp_protected_part_der(const struct pkie_cmp_msg *m, uint8_t **out, size_t *len);

/** Signature over data with a key and an AlgorithmIdentifier (verify). */
int cmp_sig_verify_parts(EVP_PKEY *pub, const struct pkie_cmp_bytes *algid,
                         const struct pkie_cmp_bytes *sig, const uint8_t *prefix, size_t prefix_len,
                         const uint8_t *data, size_t data_len);

#endif
