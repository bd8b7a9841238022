/* Building the client's request messages on the message layer (cmp_msg.h):
 * header, protection, and the bodies ir/cr/kur/p10cr, certConf, pollReq, rr,
 * genm and error. */
#include "client_internal.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OID_REGCTRL_OLDCERTID "1.3.6.1.5.5.7.5.1.5"

/* Copy the contents of the DER element at p into the arena (strip tag+len). */
static int dup_contents(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *dst, const uint8_t *p,
                        size_t len)
{
    struct pkie_der d;
    struct pkie_der_tlv t;
    pkie_der_init(&d, p, len);
    int rc = pkie_der_read_tlv(&d, &t);
    if (rc < 0)
        return rc;
    return pkie_cmp_dup(m, dst, t.val, t.len);
}

/* i2d into the arena: whole TLV (contents_only 0) or its contents. */
#define I2D_DUP(m, dst, obj, i2d, contents_only)                                                   \
    ({                                                                                             \
        unsigned char *buf_ = NULL;                                                                \
        int n_ = i2d((obj), &buf_);                                                                \
        int rc_;                                                                                   \
        if (n_ <= 0)                                                                               \
            rc_ = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encoding %s", #obj);                             \
        else if (contents_only)                                                                    \
            rc_ = dup_contents((m), (dst), buf_, (size_t)n_);                                      \
        else                                                                                       \
            rc_ = pkie_cmp_dup((m), (dst), buf_, (size_t)n_);                                      \
        OPENSSL_free(buf_);                                                                        \
        rc_;                                                                                       \
    })

static int oid_dup(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *dst, const char *text)
{
    uint8_t oid[PKIE_DER_OID_MAX_LEN];
    size_t len;
    int rc = pkie_der_oid_from_text(text, oid, sizeof(oid), &len);
    if (rc < 0)
        return rc;
    return pkie_cmp_dup(m, dst, oid, len);
}

const X509_NAME *cmp_sender_name(const struct pkie_cmp_ctx *ctx)
{
    if (ctx->cert != NULL)
        return X509_get_subject_name(ctx->cert);
    if (ctx->oldcert != NULL)
        return X509_get_subject_name(ctx->oldcert);
    if (ctx->cur.subject != NULL)
        return ctx->cur.subject;
    if (ctx->n_tmpls > 0 && ctx->tmpls[0].subject != NULL)
        return ctx->tmpls[0].subject;
    return NULL;
}

static const X509_NAME *recipient_name(const struct pkie_cmp_ctx *ctx)
{
    if (ctx->recipient != NULL)
        return ctx->recipient;
    if (ctx->srvcert != NULL)
        return X509_get_subject_name(ctx->srvcert);
    if (ctx->cur.issuer != NULL)
        return ctx->cur.issuer;
    if (ctx->oldcert != NULL)
        return X509_get_issuer_name(ctx->oldcert);
    if (ctx->cert != NULL)
        return X509_get_issuer_name(ctx->cert);
    return NULL;
}

struct pkie_cmp_msg *cmp_req_new(struct pkie_cmp_ctx *ctx, int body_type)
{
    struct pkie_cmp_msg *m = pkie_cmp_msg_new();
    if (m == NULL) {
        PKIE_ERR(PKIE_ERR_NOMEM, "CMP message");
        return NULL;
    }
    if (cmp_sender_name(ctx) == NULL && ctx->ref == NULL && ctx->secret != NULL) {
        PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "no sender name and no reference for MAC protection");
        goto err;
    }
    struct pkie_cmp_bytes tid = {ctx->transaction_id, ctx->transaction_id_len};
    struct pkie_cmp_bytes rn = {ctx->recip_nonce, ctx->recip_nonce_len};
    if (pkie_cmp_header_init(m, PKIE_CMP_PVNO_2000, cmp_sender_name(ctx), recipient_name(ctx),
                             ctx->have_tid ? &tid : NULL, ctx->have_recip_nonce ? &rn : NULL) < 0)
        goto err;
    if (!ctx->have_tid) {
        if (m->header.transactionID.len == 0 ||
            m->header.transactionID.len > sizeof(ctx->transaction_id)) {
            PKIE_ERR(PKIE_ERR_INTERNAL, "transactionID length");
            goto err;
        }
        memcpy(ctx->transaction_id, m->header.transactionID.p, m->header.transactionID.len);
        ctx->transaction_id_len = m->header.transactionID.len;
        ctx->have_tid = 1;
    }
    if (m->header.senderNonce.len > sizeof(ctx->sender_nonce)) {
        PKIE_ERR(PKIE_ERR_INTERNAL, "senderNonce length");
        goto err;
    }
    memcpy(ctx->sender_nonce, m->header.senderNonce.p, m->header.senderNonce.len);
    ctx->sender_nonce_len = m->header.senderNonce.len;
    int certreq = body_type == PKIE_CMP_BODY_IR || body_type == PKIE_CMP_BODY_CR ||
                  body_type == PKIE_CMP_BODY_KUR || body_type == PKIE_CMP_BODY_P10CR;
    if (certreq && ctx->opt[PKIE_CMP_OPT_IMPLICIT_CONFIRM] &&
        pkie_cmp_header_set_implicit_confirm(m) < 0)
        goto err;
    for (size_t i = 0; i < ctx->geninfo.n; i++)
        if (pkie_cmp_header_add_itav(m, ctx->geninfo.v[i].type, ctx->geninfo.v[i].value,
                                     ctx->geninfo.v[i].value_len) < 0)
            goto err;
    m->body.type = body_type;
    return m;
err:
    pkie_cmp_msg_free(m);
    return NULL;
}

static const char *md_name(int nid)
{
    switch (nid) {
    case NID_sha1:
    case NID_hmac_sha1:
        return "SHA1";
    case NID_sha224:
    case NID_hmacWithSHA224:
        return "SHA224";
    case NID_sha256:
    case NID_hmacWithSHA256:
        return "SHA256";
    case NID_sha384:
    case NID_hmacWithSHA384:
        return "SHA384";
    case NID_sha512:
    case NID_hmacWithSHA512:
        return "SHA512";
    default:
        return NULL;
    }
}

/* 1 when @p x is (by identity or content) already in @p sk. */
static int in_stack(STACK_OF(X509) *sk, X509 *x)
{
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (X509_cmp(sk_X509_value(sk, i), x) == 0)
            return 1;
    return 0;
}

/* What follows the signer certificate in the extraCerts of a signed request
 * (RFC 9483 section 3.3, as openssl cmp does): the chain of the signer built
 * through the untrusted certificates (no trust store needed, self-signed
 * roots left out), then the -extracerts certificates, without duplicates. */
int cmp_signer_chain(const struct pkie_cmp_ctx *ctx, STACK_OF(X509) **out)
{
    STACK_OF(X509) *res = sk_X509_new_null(), *built = NULL;
    *out = NULL;
    if (res == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "signer chain");
    if (sk_X509_num(ctx->untrusted) > 0) {
        built = X509_build_chain(ctx->cert, ctx->untrusted, NULL, 0, NULL, NULL);
        if (built == NULL) {
            sk_X509_free(res);
            return PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_CONFIG, "building the signer chain");
        }
    }
    STACK_OF(X509) *lists[] = {built, ctx->extracerts};
    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
        for (int i = 0; i < sk_X509_num(lists[l]); i++) {
            X509 *x = sk_X509_value(lists[l], i);
            if (X509_cmp(x, ctx->cert) == 0 || in_stack(res, x))
                continue;
            if (!X509_up_ref(x))
                goto nomem;
            if (!sk_X509_push(res, x)) {
                X509_free(x);
                goto nomem;
            }
        }
    }
    sk_X509_pop_free(built, X509_free);
    *out = res;
    return 0;
nomem:
    sk_X509_pop_free(built, X509_free);
    sk_X509_pop_free(res, X509_free);
    return PKIE_ERR(PKIE_ERR_NOMEM, "signer chain");
}

int cmp_req_protect_encode(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, uint8_t **der,
                           size_t *len)
{
    int rc;
    if (ctx->opt[PKIE_CMP_OPT_UNPROTECTED_SEND]) {
        for (int i = 0; i < sk_X509_num(ctx->extracerts); i++) {
            (void)i; /* extraCerts without protection are of no use: not sent */
        }
    } else if (ctx->secret != NULL) {
        struct pkie_cmp_mac_params p;
        int pbmac1 = ctx->opt[PKIE_CMP_OPT_PBMAC1];
        pkie_cmp_mac_params_default(&p, pbmac1 ? PKIE_CMP_MAC_PBMAC1 : PKIE_CMP_MAC_PBM);
        const char *owf = md_name(ctx->opt[PKIE_CMP_OPT_OWF]);
        const char *mac = md_name(ctx->opt[PKIE_CMP_OPT_MAC]);
        if (owf == NULL || mac == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "unsupported MAC or one-way function");
        if (!pbmac1)
            p.owf = owf;
        p.mac = mac;
        if (pbmac1 && strcmp(mac, "SHA1") == 0)
            p.mac = "SHA256";
        p.iterationCount = (unsigned)ctx->opt[PKIE_CMP_OPT_PBM_ITERATIONS];
        if (sk_X509_num(ctx->extracerts) > 0) {
            m->extraCerts = pkie_cmp_alloc_array(m, (size_t)sk_X509_num(ctx->extracerts),
                                                 sizeof(*m->extraCerts));
            if (m->extraCerts == NULL)
                return PKIE_ERR(PKIE_ERR_NOMEM, "extraCerts");
            for (int i = 0; i < sk_X509_num(ctx->extracerts); i++) {
                rc = I2D_DUP(m, &m->extraCerts[i], sk_X509_value(ctx->extracerts, i), i2d_X509, 0);
                if (rc < 0)
                    return rc;
            }
            m->extraCerts_count = (size_t)sk_X509_num(ctx->extracerts);
        }
        struct pkie_cmp_bytes kid = {ctx->ref, ctx->ref_len};
        rc = pkie_cmp_protect_mac(m, ctx->secret, ctx->secret_len, &p,
                                  ctx->ref != NULL ? &kid : NULL);
        if (rc < 0)
            return rc;
    } else if (ctx->key != NULL && ctx->cert != NULL) {
        struct pkie_cmp_sig_params sp = {md_name(ctx->opt[PKIE_CMP_OPT_DIGEST]), 0};
        if (sp.digest == NULL)
            sp.digest = "SHA256";
        STACK_OF(X509) *chain = NULL;
        if ((rc = cmp_signer_chain(ctx, &chain)) < 0)
            return rc;
        rc = pkie_cmp_protect_sig(m, ctx->key, ctx->cert, chain, &sp);
        sk_X509_pop_free(chain, X509_free);
        if (rc < 0)
            return rc;
    } else {
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG,
                        "no credentials for protecting requests (secret, or cert and key; "
                        "or unprotected requests)");
    }
    return pkie_cmp_msg_encode(m, der, len);
}

/* The reference certificate for template defaults: oldcert, else cert. */
static X509 *ref_cert(const struct pkie_cmp_ctx *ctx)
{
    return ctx->oldcert != NULL ? ctx->oldcert : ctx->cert;
}

EVP_PKEY *cmp_template_key(const struct pkie_cmp_ctx *ctx, const struct cmp_template *t)
{
    if (t->newkey != NULL)
        return t->newkey;
    if (ctx->p10csr != NULL)
        return X509_REQ_get0_pubkey(ctx->p10csr);
    return ctx->key;
}

static int set_time(struct pkie_cmp_time *t, time_t when)
{
    t->present = 1;
    t->time.secs = (int64_t)when;
    t->time.nanos = 0;
    struct tm tm;
    if (gmtime_r(&when, &tm) == NULL)
        return PKIE_ERR(PKIE_ERR_INTERNAL, "gmtime");
    t->type = tm.tm_year + 1900 < 2050 ? PKIE_DER_UTC_TIME : PKIE_DER_GENERALIZED_TIME;
    return 0;
}

/* Extensions for the template: reqexts, SANs (given or from the reference
 * certificate), policies, and those of the CSR. Caller frees. */
static STACK_OF(X509_EXTENSION) *template_exts(const struct pkie_cmp_ctx *ctx,
                                               const struct cmp_template *t, int body_type)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *ext = NULL;
    if (ctx->p10csr != NULL)
        exts = X509_REQ_get_extensions(ctx->p10csr);
    if (exts == NULL && (exts = sk_X509_EXTENSION_new_null()) == NULL)
        goto nomem;
    for (int i = 0; i < sk_X509_EXTENSION_num(t->exts); i++)
        if (!X509v3_add_ext(&exts, sk_X509_EXTENSION_value(t->exts, i), -1))
            goto nomem;
    if (sk_GENERAL_NAME_num(t->sans) > 0) {
        ext = X509V3_EXT_i2d(NID_subject_alt_name, ctx->opt[PKIE_CMP_OPT_SUBJECTALTNAME_CRITICAL],
                             t->sans);
        if (ext == NULL || !X509v3_add_ext(&exts, ext, -1))
            goto nomem;
        X509_EXTENSION_free(ext);
        ext = NULL;
    } else if (!ctx->opt[PKIE_CMP_OPT_SUBJECTALTNAME_NODEFAULT] && ref_cert(ctx) != NULL &&
               t->subject == NULL && body_type != PKIE_CMP_BODY_P10CR) {
        int idx = X509_get_ext_by_NID(ref_cert(ctx), NID_subject_alt_name, -1);
        if (idx >= 0 && X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) < 0 &&
            !X509v3_add_ext(&exts, X509_get_ext(ref_cert(ctx), idx), -1))
            goto nomem;
    }
    if (sk_ASN1_OBJECT_num(t->policies) > 0) {
        CERTIFICATEPOLICIES *pols = CERTIFICATEPOLICIES_new();
        if (pols == NULL)
            goto nomem;
        for (int i = 0; i < sk_ASN1_OBJECT_num(t->policies); i++) {
            POLICYINFO *pi = POLICYINFO_new();
            if (pi == NULL || !sk_POLICYINFO_push(pols, pi)) {
                POLICYINFO_free(pi);
                CERTIFICATEPOLICIES_free(pols);
                goto nomem;
            }
            ASN1_OBJECT_free(pi->policyid);
            pi->policyid = OBJ_dup(sk_ASN1_OBJECT_value(t->policies, i));
            if (pi->policyid == NULL) {
                CERTIFICATEPOLICIES_free(pols);
                goto nomem;
            }
        }
        ext = X509V3_EXT_i2d(NID_certificate_policies, ctx->opt[PKIE_CMP_OPT_POLICIES_CRITICAL],
                             pols);
        CERTIFICATEPOLICIES_free(pols);
        if (ext == NULL || !X509v3_add_ext(&exts, ext, -1))
            goto nomem;
        X509_EXTENSION_free(ext);
        ext = NULL;
    }
    return exts;
nomem:
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "template extensions");
    return NULL;
}

static int fill_certreqmsg(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m,
                           struct pkie_crmf_msg *r, const struct cmp_template *t, int64_t id,
                           int body_type)
{
    int rc;
    struct pkie_crmf_template *ct = &r->certReq.certTemplate;
    r->certReq.certReqId = id;
    X509 *ref = ref_cert(ctx);
    /* subject: given, else the CSR's, else the reference certificate's
     * (for ir/cr only when no SANs were given, as openssl cmp does) */
    const X509_NAME *subject = t->subject;
    if (subject == NULL && ctx->p10csr != NULL)
        subject = X509_REQ_get_subject_name(ctx->p10csr);
    if (subject == NULL && ref != NULL &&
        (body_type == PKIE_CMP_BODY_KUR || sk_GENERAL_NAME_num(t->sans) == 0))
        subject = X509_get_subject_name(ref);
    if (subject != NULL) {
        if ((rc = I2D_DUP(m, &ct->subject, subject, i2d_X509_NAME, 0)) < 0)
            return rc;
        ct->present |= PKIE_CRMF_T_SUBJECT;
    }
    const X509_NAME *issuer = t->issuer;
    if (issuer == NULL && ref != NULL)
        issuer = X509_get_issuer_name(ref);
    if (issuer != NULL) {
        if ((rc = I2D_DUP(m, &ct->issuer, issuer, i2d_X509_NAME, 0)) < 0)
            return rc;
        ct->present |= PKIE_CRMF_T_ISSUER;
    }
    EVP_PKEY *key = cmp_template_key(ctx, t);
    if (ctx->central_keygen) {
        if ((rc = cmp_ckg_template(ctx, m, ct, key)) < 0)
            return rc;
    } else {
        if (key == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "no key for the requested certificate");
        const uint8_t *spki;
        size_t spki_len;
        if ((rc = cmp_spkicache_get0(&ctx->spkicache, key, &spki, &spki_len)) < 0 ||
            (rc = dup_contents(m, &ct->publicKey, spki, spki_len)) < 0)
            return rc;
        ct->present |= PKIE_CRMF_T_PUBLICKEY;
    }
    if (t->days > 0) {
        time_t now = time(NULL);
        if ((rc = set_time(&ct->notBefore, now)) < 0 ||
            (rc = set_time(&ct->notAfter, now + (time_t)t->days * 86400)) < 0)
            return rc;
        ct->present |= PKIE_CRMF_T_VALIDITY;
    }
    STACK_OF(X509_EXTENSION) *exts = template_exts(ctx, t, body_type);
    if (exts == NULL)
        return pkie_err_last()->code;
    if (sk_X509_EXTENSION_num(exts) > 0) {
        rc = I2D_DUP(m, &ct->extensions, exts, i2d_X509_EXTENSIONS, 1);
        if (rc < 0) {
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            return rc;
        }
        ct->present |= PKIE_CRMF_T_EXTENSIONS;
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

    if (body_type == PKIE_CMP_BODY_KUR) {
        X509 *old = ctx->oldcert != NULL ? ctx->oldcert : ctx->cert;
        if (old == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "kur needs the certificate to update");
        /* id-regCtrl-oldCertID: CertId { issuer GeneralName, serialNumber } */
        struct pkie_derw w;
        pkie_derw_init(&w, 4096);
        pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
        pkie_derw_begin(&w, PKIE_DER_CTX_C(4));
        unsigned char *nb = NULL;
        int nl = i2d_X509_NAME(X509_get_issuer_name(old), &nb);
        unsigned char *sb = NULL;
        int sl = i2d_ASN1_INTEGER(X509_get0_serialNumber(old), &sb);
        if (nl > 0 && sl > 0) {
            pkie_derw_raw(&w, nb, (size_t)nl);
            pkie_derw_end(&w);
            pkie_derw_raw(&w, sb, (size_t)sl);
            pkie_derw_end(&w);
        }
        OPENSSL_free(nb);
        OPENSSL_free(sb);
        const uint8_t *val;
        size_t vlen;
        rc = (nl > 0 && sl > 0) ? pkie_derw_finish(&w, &val, &vlen)
                                : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "oldCertID");
        if (rc == 0) {
            r->certReq.controls = pkie_cmp_alloc(m, sizeof(*r->certReq.controls));
            if (r->certReq.controls == NULL)
                rc = PKIE_ERR(PKIE_ERR_NOMEM, "controls");
        }
        if (rc == 0)
            rc = oid_dup(m, &r->certReq.controls[0].type, OID_REGCTRL_OLDCERTID);
        if (rc == 0)
            rc = pkie_cmp_dup(m, &r->certReq.controls[0].value, val, vlen);
        pkie_derw_free(&w);
        if (rc < 0)
            return rc;
        r->certReq.controls_count = 1;
    }

    switch (ctx->central_keygen ? PKIE_CMP_POPO_NONE : ctx->opt[PKIE_CMP_OPT_POPO_METHOD]) {
    case PKIE_CMP_POPO_NONE:
        r->popo.type = PKIE_CRMF_POPO_NONE;
        break;
    case PKIE_CMP_POPO_RAVERIFIED:
        r->popo.type = PKIE_CRMF_POPO_RAVERIFIED;
        break;
    case PKIE_CMP_POPO_SIGNATURE: {
        /* a private key is needed; a public-only key cannot sign */
        if (t->newkey == NULL && ctx->key == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "signature POPO needs the new private key");
        EVP_PKEY *priv = t->newkey != NULL ? t->newkey : ctx->key;
        const char *md = md_name(ctx->opt[PKIE_CMP_OPT_DIGEST]);
        rc = pkie_crmf_popo_sign(m, r, priv, md != NULL ? md : "SHA256");
        if (rc < 0)
            return rc;
        break;
    }
    default:
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "POPO method keyEncipherment is not supported");
    }
    return 0;
}

int cmp_req_fill_certreq(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, int body_type)
{
    if (body_type == PKIE_CMP_BODY_P10CR) {
        if (ctx->p10csr == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "p10cr needs a CSR");
        return I2D_DUP(m, &m->body.raw, ctx->p10csr, i2d_X509_REQ, 0);
    }
    size_t n = ctx->n_tmpls > 0 ? ctx->n_tmpls : 1;
    if (body_type == PKIE_CMP_BODY_KUR && n > 1)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "kur takes exactly one template");
    struct pkie_crmf_msg *msgs = pkie_cmp_alloc_array(m, n, sizeof(*msgs));
    if (msgs == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "CertReqMessages");
    for (size_t i = 0; i < n; i++) {
        struct cmp_template cur = ctx->cur;
        const struct cmp_template *t = ctx->n_tmpls > 0 ? &ctx->tmpls[i] : &cur;
        if (ctx->n_tmpls == 0)
            cur.days = ctx->opt[PKIE_CMP_OPT_VALIDITY_DAYS];
        msgs[i].popo.type = PKIE_CRMF_POPO_NONE;
        int rc = fill_certreqmsg(ctx, m, &msgs[i], t, (int64_t)i, body_type);
        if (rc < 0)
            return rc;
    }
    m->body.u.certReqs.msgs = msgs;
    m->body.u.certReqs.count = n;
    return 0;
}

int cmp_req_fill_certconf(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, size_t n,
                          X509 *const *certs, const int64_t *ids, int fail_info, const char *text)
{
    (void)ctx;
    struct pkie_cmp_certstatus *st = pkie_cmp_alloc_array(m, n, sizeof(*st));
    if (n > 0 && st == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "certConf");
    for (size_t i = 0; i < n; i++) {
        EVP_MD *md = NULL;
        int fallback = 0;
        ASN1_OCTET_STRING *h = X509_digest_sig(certs[i], &md, &fallback);
        if (h == NULL)
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "certHash");
        int rc = pkie_cmp_dup(m, &st[i].certHash, ASN1_STRING_get0_data(h),
                              (size_t)ASN1_STRING_length(h));
        ASN1_OCTET_STRING_free(h);
        if (rc == 0 && fallback) {
            /* a signature algorithm without a hash (Ed25519: SHA-512, Ed448: SHAKE256):
             * certConf names the hash in hashAlg, which needs cmp2021 (RFC 9810 5.3.18) */
            X509_ALGOR *alg = X509_ALGOR_new();
            unsigned char *der = NULL;
            int len = -1;
            if (alg != NULL) {
                X509_ALGOR_set_md(alg, md);
                len = i2d_X509_ALGOR(alg, &der);
            }
            rc = len > 0 ? pkie_cmp_dup(m, &st[i].hashAlg, der, (size_t)len)
                         : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "hashAlg");
            OPENSSL_free(der);
            X509_ALGOR_free(alg);
            m->header.pvno = PKIE_CMP_PVNO_2021;
        }
        EVP_MD_free(md);
        if (rc < 0)
            return rc;
        st[i].certReqId = ids[i];
        if (fail_info != 0 || text != NULL) {
            st[i].has_statusInfo = 1;
            st[i].statusInfo.status = fail_info != 0 ? PKIE_CMP_REJECTION : PKIE_CMP_ACCEPTED;
            if (fail_info != 0) {
                st[i].statusInfo.has_failInfo = 1;
                st[i].statusInfo.failInfo = (uint32_t)fail_info;
            }
            if (text != NULL) {
                struct pkie_cmp_bytes *s = pkie_cmp_alloc(m, sizeof(*s));
                if (s == NULL || pkie_cmp_dup(m, s, text, strlen(text)) < 0)
                    return PKIE_ERR(PKIE_ERR_NOMEM, "statusString");
                st[i].statusInfo.statusString.strs = s;
                st[i].statusInfo.statusString.count = 1;
            }
        }
    }
    m->body.u.certConf.status = st;
    m->body.u.certConf.count = n;
    return 0;
}

int cmp_req_fill_pollreq(struct pkie_cmp_msg *m, const int64_t *ids, size_t n)
{
    int64_t *a = pkie_cmp_alloc_array(m, n, sizeof(*a));
    if (a == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "pollReq");
    memcpy(a, ids, n * sizeof(*a));
    m->body.u.pollReq.certReqId = a;
    m->body.u.pollReq.count = n;
    return 0;
}

int cmp_req_fill_rr(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m)
{
    /* issuer and serial number given, else those of the old certificate,
     * else the subject and public key of the CSR (ossl_cmp_rr_new) */
    X509 *old = ctx->oldcert;
    const X509_NAME *issuer = NULL;
    const ASN1_INTEGER *serial = NULL;
    if (ctx->serial != NULL && ctx->cur.issuer != NULL) {
        issuer = ctx->cur.issuer;
        serial = ctx->serial;
    } else if (old != NULL) {
        issuer = X509_get_issuer_name(old);
        serial = X509_get0_serialNumber(old);
    } else if (ctx->p10csr == NULL) {
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG,
                        "rr needs the certificate to revoke (oldcert, issuer and serial, or csr)");
    }
    struct pkie_cmp_revdetails *d = pkie_cmp_alloc(m, sizeof(*d));
    if (d == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "rr");
    int rc;
    if (issuer != NULL) {
        rc = I2D_DUP(m, &d->certDetails.issuer, issuer, i2d_X509_NAME, 0);
        if (rc == 0)
            rc = I2D_DUP(m, &d->certDetails.serialNumber, serial, i2d_ASN1_INTEGER, 1);
        d->certDetails.present = PKIE_CRMF_T_ISSUER | PKIE_CRMF_T_SERIALNUMBER;
    } else {
        rc = I2D_DUP(m, &d->certDetails.subject, X509_REQ_get_subject_name(ctx->p10csr),
                     i2d_X509_NAME, 0);
        if (rc == 0)
            rc = I2D_DUP(m, &d->certDetails.publicKey, X509_REQ_get0_pubkey(ctx->p10csr),
                         i2d_PUBKEY, 1);
        d->certDetails.present = PKIE_CRMF_T_SUBJECT | PKIE_CRMF_T_PUBLICKEY;
    }
    if (rc < 0)
        return rc;
    int reason = ctx->opt[PKIE_CMP_OPT_REVOCATION_REASON];
    if (reason >= 0) {
        ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
        X509_EXTENSION *ext = NULL;
        STACK_OF(X509_EXTENSION) *exts = NULL;
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "reasonCode");
        if (e != NULL && ASN1_ENUMERATED_set(e, reason) &&
            (ext = X509V3_EXT_i2d(NID_crl_reason, 0, e)) != NULL &&
            X509v3_add_ext(&exts, ext, -1) != NULL)
            rc = I2D_DUP(m, &d->crlEntryDetails, exts, i2d_X509_EXTENSIONS, 0);
        ASN1_ENUMERATED_free(e);
        X509_EXTENSION_free(ext);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        if (rc < 0)
            return rc;
        pkie_err_clear();
    }
    m->body.u.rr.details = d;
    m->body.u.rr.count = 1;
    return 0;
}

int cmp_req_fill_genm(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m)
{
    size_t n = ctx->genm_itavs.n;
    struct pkie_cmp_itav *a = n > 0 ? pkie_cmp_alloc_array(m, n, sizeof(*a)) : NULL;
    if (n > 0 && a == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "genm");
    for (size_t i = 0; i < n; i++) {
        const struct pkie_cmp_genm_itav *g = &ctx->genm_itavs.v[i];
        int rc = oid_dup(m, &a[i].type, g->type);
        if (rc == 0 && g->value != NULL)
            rc = pkie_cmp_dup(m, &a[i].value, g->value, g->value_len);
        if (rc < 0)
            return rc;
    }
    m->body.u.genm.itav = a;
    m->body.u.genm.count = n;
    return 0;
}

int cmp_req_fill_error(struct pkie_cmp_msg *m, int status, uint32_t failinfo, const char *text)
{
    struct pkie_cmp_errormsg *e = &m->body.u.error;
    e->pKIStatusInfo.status = status;
    if (failinfo != 0) {
        e->pKIStatusInfo.has_failInfo = 1;
        e->pKIStatusInfo.failInfo = failinfo;
    }
    if (text != NULL) {
        struct pkie_cmp_bytes *s = pkie_cmp_alloc(m, sizeof(*s));
        if (s == NULL || pkie_cmp_dup(m, s, text, strlen(text)) < 0)
            return PKIE_ERR(PKIE_ERR_NOMEM, "statusString");
        e->pKIStatusInfo.statusString.strs = s;
        e->pKIStatusInfo.statusString.count = 1;
    }
    return 0;
}

int pkie_cmp_update_request(struct pkie_cmp_ctx *ctx, const uint8_t *der, size_t len, int new_tid,
                            uint8_t **out, size_t *out_len)
{
    if (ctx == NULL || der == NULL || out == NULL || out_len == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL argument");
    struct pkie_cmp_msg *m = NULL;
    int rc = pkie_cmp_msg_decode(der, len, NULL, &m);
    if (rc < 0)
        return rc;
    int changed = 0;
    if (new_tid && ctx->have_tid) {
        m->header.transactionID.p = ctx->transaction_id;
        m->header.transactionID.len = ctx->transaction_id_len;
        changed = 1;
    }
    if (ctx->have_recip_nonce) { /* nothing to do for the first message */
        m->header.recipNonce.p = ctx->recip_nonce;
        m->header.recipNonce.len = ctx->recip_nonce_len;
        changed = 1;
    }
    if (!changed || m->header.protectionAlg.p == NULL) {
        rc = changed ? pkie_cmp_msg_encode(m, out, out_len) : 0;
        if (!changed) {
            *out = malloc(len);
            rc = *out != NULL ? 0 : PKIE_ERR(PKIE_ERR_NOMEM, "request copy");
            if (rc == 0) {
                memcpy(*out, der, len);
                *out_len = len;
            }
        }
        pkie_cmp_msg_free(m);
        return rc;
    }
    /* protected anew with the context's credentials, which bring their own
     * senderKID and extraCerts (OSSL_CMP_MSG_update_recipNonce) */
    memset(&m->header.protectionAlg, 0, sizeof(m->header.protectionAlg));
    memset(&m->header.senderKID, 0, sizeof(m->header.senderKID));
    memset(&m->protection, 0, sizeof(m->protection));
    m->extraCerts = NULL;
    m->extraCerts_count = 0;
    rc = cmp_req_protect_encode(ctx, m, out, out_len);
    pkie_cmp_msg_free(m);
    return rc;
}
