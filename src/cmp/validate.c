/* Validation of a received PKIMessage (RFC 9810 section 5.1, RFC 9483
 * section 3.5) and the mapping of each failure to a PKIFailureInfo bit. */
#include "cmp_local.h"

#include <openssl/x509v3.h>
#include <time.h>

/* ---- name helpers ---------------------------------------------------------------- */

static X509_NAME *gn_to_name(const struct pkie_cmp_bytes *gn)
{
    struct pkie_cmp_bytes n;
    if (pkie_cmp_gn_dirname(gn, &n) != 0)
        return NULL;
    const unsigned char *q = n.p;
    return d2i_X509_NAME(NULL, &q, (long)n.len);
}

/* 1 when the cert's SKID equals the senderKID (or either is absent). */
static int kid_matches(X509 *c, const struct pkie_cmp_bytes *kid)
{
    if (kid->p == NULL)
        return 1;
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(c);
    if (skid == NULL)
        return 0;
    return (size_t)ASN1_STRING_length(skid) == kid->len &&
           memcmp(ASN1_STRING_get0_data(skid), kid->p, kid->len) == 0;
}

/* ---- signature protection -------------------------------------------------------- */

struct sigctx {
    STACK_OF(X509) *extra;   /* parsed extraCerts */
    STACK_OF(X509) *chain;   /* untrusted: extraCerts + vctx untrusted */
    STACK_OF(X509) *anchors; /* up-ref'd copy of the trust store's certificates */
    X509_NAME *sender;       /* sender as a Name (NULL when not a directoryName) */
};

static int try_signer(const struct pkie_cmp_msg *m, X509 *c)
{
    EVP_PKEY *pub = X509_get0_pubkey(c);
    if (pub == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_KEY_TYPE, "certificate without usable key");
    return pkie_cmp_verify_sig(m, pub);
}

static int candidate(const struct sigctx *s, const struct pkie_cmp_msg *m, X509 *c)
{
    if (s->sender != NULL && X509_NAME_cmp(X509_get_subject_name(c), s->sender) != 0)
        return 0;
    return kid_matches(c, &m->header.senderKID);
}

/* Find the certificate whose key verifies the protection. Returns it
 * (borrowed) or NULL with the error recorded in *err. */
static X509 *find_signer(struct sigctx *s, const struct pkie_cmp_msg *m,
                         const struct pkie_cmp_vctx *v, int *err)
{
    /* RFC 9483 3.3: the first extraCert is the protection certificate. */
    if (sk_X509_num(s->extra) > 0) {
        X509 *c = sk_X509_value(s->extra, 0);
        if (try_signer(m, c) == 0)
            return c;
    }
    /* The store's certificates are copied (up-ref'd) under the store's
     * lock, so a store shared with other threads may change meanwhile. */
    if (v->trusted != NULL && s->anchors == NULL &&
        (s->anchors = X509_STORE_get1_all_certs(v->trusted)) == NULL) {
        *err = PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "trust store certificates");
        return NULL;
    }
    STACK_OF(X509) *lists[2] = {s->chain, s->anchors};
    for (int l = 0; l < 2; l++) {
        for (int i = 0; lists[l] != NULL && i < sk_X509_num(lists[l]); i++) {
            X509 *c = sk_X509_value(lists[l], i);
            if (candidate(s, m, c) && try_signer(m, c) == 0)
                return c;
        }
    }
    *err = sk_X509_num(s->extra) > 0
               ? PKIE_ERR(PKIE_ERR_CMP_SIG_INVALID, "signature does not verify")
               : PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_FOUND, "no certificate verifies the signature");
    return NULL;
}

static int verify_chain(X509 *signer, STACK_OF(X509) *untrusted, const struct pkie_cmp_vctx *v,
                        int64_t now)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int r = 0;
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, v->trusted, signer, untrusted)) {
        X509_STORE_CTX_free(ctx);
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "X509_STORE_CTX");
    }
    if (v->now != 0)
        X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        r = PKIE_ERR(PKIE_ERR_CMP_SIGNER_NOT_TRUSTED, "signer chain: %s",
                     X509_verify_cert_error_string(e));
    }
    X509_STORE_CTX_free(ctx);
    return r;
}

static int check_signature(const struct pkie_cmp_msg *m, struct pkie_cmp_vctx *v, int64_t now)
{
    struct sigctx s = {NULL, NULL, NULL, NULL};
    int r = 0;
    s.extra = sk_X509_new_null();
    s.chain = sk_X509_new_null();
    if (s.extra == NULL || s.chain == NULL) {
        r = PKIE_ERR(PKIE_ERR_NOMEM, "stacks");
        goto err;
    }
    for (size_t i = 0; i < m->extraCerts_count; i++) {
        const unsigned char *q = m->extraCerts[i].p;
        X509 *c = d2i_X509(NULL, &q, (long)m->extraCerts[i].len);
        if (c == NULL) {
            r = PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "extraCerts[%zu] is not a certificate", i);
            goto err;
        }
        if (!sk_X509_push(s.extra, c)) {
            X509_free(c);
            r = PKIE_ERR(PKIE_ERR_NOMEM, "stack");
            goto err;
        }
        if (!X509_add_cert(s.chain, c, X509_ADD_FLAG_UP_REF)) {
            r = PKIE_ERR(PKIE_ERR_NOMEM, "stack");
            goto err;
        }
    }
    if (v->untrusted != NULL &&
        !X509_add_certs(s.chain, v->untrusted, X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP)) {
        r = PKIE_ERR(PKIE_ERR_NOMEM, "stack");
        goto err;
    }
    s.sender = gn_to_name(&m->header.sender);
    X509 *signer = find_signer(&s, m, v, &r);
    if (signer == NULL)
        goto err;
    /* The sender must name the signer, and senderKID identify its key. */
    if (s.sender == NULL || X509_NAME_cmp(s.sender, X509_get_subject_name(signer)) != 0) {
        r = PKIE_ERR(PKIE_ERR_CMP_SENDER_MISMATCH, "sender is not the signer's subject");
        goto err;
    }
    if (!kid_matches(signer, &m->header.senderKID)) {
        r = PKIE_ERR(PKIE_ERR_CMP_SENDERKID_MISMATCH, "senderKID is not the signer's SKID");
        goto err;
    }
    if ((r = verify_chain(signer, s.chain, v, now)) != 0)
        goto err;
    if (X509_up_ref(signer))
        v->signer = signer;
err:
    X509_NAME_free(s.sender);
    sk_X509_pop_free(s.extra, X509_free);
    sk_X509_pop_free(s.chain, X509_free);
    sk_X509_pop_free(s.anchors, X509_free);
    return r;
}

static int check_protection(const struct pkie_cmp_msg *m, struct pkie_cmp_vctx *v, int64_t now)
{
    if (m->protection.p == NULL || m->header.protectionAlg.p == NULL) {
        if (v->allow_unprotected)
            return 0;
        return PKIE_ERR(PKIE_ERR_CMP_PROT_MISSING, "message is not protected");
    }
    int is_mac = pkie_cmp_protection_is_mac(m);
    if (is_mac < 0)
        return is_mac;
    if (is_mac) {
        if (v->secret == NULL)
            return v->trusted ? PKIE_ERR(PKIE_ERR_CMP_WRONG_INTEGRITY, "MAC where a signature "
                                                                       "is expected")
                              : PKIE_ERR(PKIE_ERR_CMP_NO_SECRET, "no shared secret");
        return pkie_cmp_verify_mac(m, v->secret, v->secret_len, &v->mac);
    }
    if (v->trusted == NULL)
        return v->secret ? PKIE_ERR(PKIE_ERR_CMP_WRONG_INTEGRITY, "signature where a MAC is "
                                                                  "expected")
                         : PKIE_ERR(PKIE_ERR_CMP_NO_TRUST, "no trust store");
    return check_signature(m, v, now);
}

/* ---- template extensions ------------------------------------------------------------ */

static int known_extension(const uint8_t *oid, size_t len)
{
    /* id-ce (2.5.29) extensions a CA understands */
    static const uint8_t known[] = {14, 15, 17, 19, 30, 32, 33, 35, 36, 37, 54};
    if (len != 3 || oid[0] != 0x55 || oid[1] != 0x1D)
        return 0;
    for (size_t i = 0; i < sizeof(known); i++)
        if (oid[2] == known[i])
            return 1;
    return 0;
}

static int check_extensions(const struct pkie_crmf_template *t)
{
    if (!(t->present & PKIE_CRMF_T_EXTENSIONS))
        return 0;
    struct pkie_der d, e;
    pkie_der_init(&d, t->extensions.p, t->extensions.len);
    while (!pkie_der_at_end(&d)) {
        const uint8_t *oid;
        size_t len;
        int crit = 0;
        int r = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &e);
        if (r == 0)
            r = pkie_der_read_oid(&e, PKIE_DER_OID, &oid, &len);
        if (r == 0)
            r = pkie_der_read_bool_default(&e, PKIE_DER_BOOLEAN, 0, &crit);
        if (r != 0)
            return r;
        if (crit && !known_extension(oid, len)) {
            char txt[PKIE_DER_OID_TEXT_MAX];
            if (pkie_der_oid_to_text(oid, len, txt, sizeof(txt)) != 0)
                strcpy(txt, "?");
            return PKIE_ERR(PKIE_ERR_CMP_CRITICAL_EXT, "unknown critical extension %s", txt);
        }
    }
    return 0;
}

static int check_body_extensions(const struct pkie_cmp_body *b)
{
    int r = 0;
    switch (b->type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_CCR:
        for (size_t i = 0; r == 0 && i < b->u.certReqs.count; i++)
            r = check_extensions(&b->u.certReqs.msgs[i].certReq.certTemplate);
        break;
    default:
        break;
    }
    return r;
}

/* ---- the validation ------------------------------------------------------------------ */

static int bytes_eq(const struct pkie_cmp_bytes *a, const struct pkie_cmp_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

int pkie_cmp_msg_validate(const struct pkie_cmp_msg *m, struct pkie_cmp_vctx *v)
{
    if (m == NULL || v == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "validate");
    const struct pkie_cmp_header *h = &m->header;
    int64_t now = v->now ? v->now : (int64_t)time(NULL);
    int r;
    v->signer = NULL;
    if (h->pvno != PKIE_CMP_PVNO_2000 && h->pvno != PKIE_CMP_PVNO_2021)
        return PKIE_ERR(PKIE_ERR_CMP_PVNO, "pvno %lld", (long long)h->pvno);
    /* Protection first: nothing else in the header is trustworthy before. */
    if ((r = check_protection(m, v, now)) != 0)
        goto err;
    if (v->expected_sender != NULL) {
        X509_NAME *s = gn_to_name(&h->sender);
        int same = s != NULL && X509_NAME_cmp(s, v->expected_sender) == 0;
        X509_NAME_free(s);
        if (s == NULL) {
            r = PKIE_ERR(PKIE_ERR_CMP_SENDER_TYPE, "sender is not a directoryName");
            goto err;
        }
        if (!same) {
            r = PKIE_ERR(PKIE_ERR_CMP_SENDER_MISMATCH, "sender is not the expected peer");
            goto err;
        }
    }
    if (v->allowed_bodies != 0 &&
        (m->body.type < 0 || m->body.type > 31 || !(v->allowed_bodies & (1u << m->body.type)))) {
        r = PKIE_ERR(PKIE_ERR_CMP_BODY_NOT_ALLOWED, "body %s not allowed here",
                     pkie_cmp_body_name(m->body.type));
        goto err;
    }
    if (h->transactionID.p == NULL || h->transactionID.len == 0) {
        r = PKIE_ERR(PKIE_ERR_CMP_TID_MISSING, "no transactionID (or an empty one)");
        goto err;
    }
    if (v->expected_transactionID.p != NULL &&
        !bytes_eq(&h->transactionID, &v->expected_transactionID)) {
        r = PKIE_ERR(PKIE_ERR_CMP_TID_MISMATCH, "transactionID of another transaction");
        goto err;
    }
    if (v->tid_in_use != NULL &&
        v->tid_in_use(v->cb_arg, h->transactionID.p, h->transactionID.len)) {
        r = PKIE_ERR(PKIE_ERR_CMP_TID_IN_USE, "transactionID already in use");
        goto err;
    }
    if (h->senderNonce.p == NULL || h->senderNonce.len < 16) {
        r = PKIE_ERR(PKIE_ERR_CMP_SENDER_NONCE, "senderNonce missing or shorter than 128 bits");
        goto err;
    }
    if (v->nonce_seen != NULL && v->nonce_seen(v->cb_arg, h->senderNonce.p, h->senderNonce.len)) {
        r = PKIE_ERR(PKIE_ERR_CMP_NONCE_REPLAY, "senderNonce replayed");
        goto err;
    }
    if (v->expected_recipNonce.p != NULL &&
        (h->recipNonce.p == NULL || !bytes_eq(&h->recipNonce, &v->expected_recipNonce))) {
        r = PKIE_ERR(PKIE_ERR_CMP_RECIPNONCE, "recipNonce is not our senderNonce");
        goto err;
    }
    if (!h->has_messageTime && v->require_messageTime) {
        r = PKIE_ERR(PKIE_ERR_CMP_MSGTIME_MISSING, "no messageTime");
        goto err;
    }
    if (v->max_skew >= 0 && h->has_messageTime) {
        int64_t diff = h->messageTime.secs - now;
        if (diff > v->max_skew || -diff > v->max_skew) {
            r = PKIE_ERR(PKIE_ERR_CMP_MSGTIME_SKEW, "messageTime off by %lld s (max %lld)",
                         (long long)diff, (long long)v->max_skew);
            goto err;
        }
    }
    if (v->check_critical_ext && (r = check_body_extensions(&m->body)) != 0)
        goto err;
    return 0;
err:
    X509_free(v->signer);
    v->signer = NULL;
    return r;
}

/* ---- failure bits ------------------------------------------------------------------- */

int pkie_cmp_err_failinfo(int err)
{
    if (err <= -100 && err >= -199)
        return PKIE_CMP_FI_badDataFormat;
    switch (err) {
    case PKIE_ERR_CMP_DECODE:
    case PKIE_ERR_CMP_BODY_TYPE:
    case PKIE_ERR_CMP_CHOICE:
    case PKIE_ERR_CMP_COUNT:
    case PKIE_ERR_CMP_EMPTY_SEQ:
    case PKIE_ERR_CMP_NESTING:
    case PKIE_ERR_CMP_TOO_LARGE:
    case PKIE_ERR_CMP_ITAV:
    case PKIE_ERR_CMP_PEM:
    case PKIE_ERR_CMP_NAME:
    case PKIE_ERR_LIMIT:
        return PKIE_CMP_FI_badDataFormat;
    case PKIE_ERR_CMP_PROT_ALG:
    case PKIE_ERR_CMP_PROT_PARAMS:
    case PKIE_ERR_CMP_MAC_ITERATIONS:
    case PKIE_ERR_CMP_KEY_TYPE:
        return PKIE_CMP_FI_badAlg;
    case PKIE_ERR_CMP_PROT_MISSING:
    case PKIE_ERR_CMP_MAC_MISMATCH:
    case PKIE_ERR_CMP_SIG_INVALID:
    case PKIE_ERR_CMP_SENDER_MISMATCH:
    case PKIE_ERR_CMP_SENDERKID_MISMATCH:
    case PKIE_ERR_CMP_SENDER_TYPE:
        return PKIE_CMP_FI_badMessageCheck;
    case PKIE_ERR_CMP_NO_SECRET:
    case PKIE_ERR_CMP_NO_TRUST:
    case PKIE_ERR_CMP_WRONG_INTEGRITY:
        return PKIE_CMP_FI_wrongIntegrity;
    case PKIE_ERR_CMP_SIGNER_NOT_FOUND:
    case PKIE_ERR_CMP_SIGNER_NOT_TRUSTED:
        return PKIE_CMP_FI_signerNotTrusted;
    case PKIE_ERR_CMP_POP:
        return PKIE_CMP_FI_badPOP;
    case PKIE_ERR_CMP_PVNO:
        return PKIE_CMP_FI_unsupportedVersion;
    case PKIE_ERR_CMP_BODY_NOT_ALLOWED:
    case PKIE_ERR_CMP_TID_MISSING:
    case PKIE_ERR_CMP_TID_MISMATCH:
        return PKIE_CMP_FI_badRequest;
    case PKIE_ERR_CMP_TID_IN_USE:
        return PKIE_CMP_FI_transactionIdInUse;
    case PKIE_ERR_CMP_SENDER_NONCE:
    case PKIE_ERR_CMP_NONCE_REPLAY:
        return PKIE_CMP_FI_badSenderNonce;
    case PKIE_ERR_CMP_RECIPNONCE:
        return PKIE_CMP_FI_badRecipientNonce;
    case PKIE_ERR_CMP_MSGTIME_MISSING:
    case PKIE_ERR_CMP_MSGTIME_SKEW:
        return PKIE_CMP_FI_badTime;
    case PKIE_ERR_CMP_CRITICAL_EXT:
        return PKIE_CMP_FI_unacceptedExtension;
    default:
        return PKIE_CMP_FI_systemFailure;
    }
}
