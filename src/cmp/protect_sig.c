/* Signature protection (RFC 9810 5.1.3.3, RFC 9481 section 3): RSA PKCS#1
 * v1.5 and RSASSA-PSS, ECDSA, Ed25519/Ed448 over the DER of ProtectedPart,
 * with the signer chain in extraCerts. Also the generic sign/verify helpers
 * used for POP signatures. */
#include "cmp_local.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <strings.h>

/* Parsed signature AlgorithmIdentifier. */
struct sig_alg {
    int kind;         /* enum cmp_sig_kind */
    const char *md;   /* digest (NULL for EdDSA) */
    const char *mgf1; /* PSS: MGF1 digest */
    int64_t salt_len; /* PSS: salt length */
};

/* HashAlgorithm inside PSS params: SEQUENCE { OID, NULL? }. */
static int pss_hash(struct pkie_der *d, const char **md)
{
    struct pkie_der a;
    const uint8_t *oid;
    size_t len;
    int r = pkie_der_enter(d, PKIE_DER_SEQUENCE, &a);
    if (r == 0)
        r = pkie_der_read_oid(&a, PKIE_DER_OID, &oid, &len);
    if (r == 0 && !pkie_der_at_end(&a))
        r = pkie_der_read_null(&a, PKIE_DER_NULL);
    if (r == 0)
        r = pkie_der_finish(&a);
    if (r == 0 && (*md = cmp_oid_digest(oid, len)) == NULL)
        r = PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PSS hash not supported");
    return r;
}

static int parse_pss(const struct pkie_cmp_bytes *params, struct sig_alg *s)
{
    struct pkie_der d, p, in, mgf;
    const uint8_t *oid;
    size_t len;
    int present, r;
    s->md = "SHA1";
    s->mgf1 = "SHA1";
    s->salt_len = 20;
    if (params->p == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "RSASSA-PSS without parameters");
    pkie_der_init(&d, params->p, params->len);
    r = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &p);
    if (r == 0)
        r = pkie_der_enter_optional(&p, PKIE_DER_CTX_C(0), &in, &present);
    if (r == 0 && present) {
        r = pss_hash(&in, &s->md);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    if (r == 0)
        r = pkie_der_enter_optional(&p, PKIE_DER_CTX_C(1), &in, &present);
    if (r == 0 && present) {
        r = pkie_der_enter(&in, PKIE_DER_SEQUENCE, &mgf);
        if (r == 0)
            r = pkie_der_read_oid(&mgf, PKIE_DER_OID, &oid, &len);
        if (r == 0 && !(len == cmp_oid_mgf1.len && memcmp(oid, cmp_oid_mgf1.p, len) == 0))
            return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "PSS mask generation is not MGF1");
        if (r == 0)
            r = pss_hash(&mgf, &s->mgf1);
        if (r == 0)
            r = pkie_der_finish(&mgf);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    if (r == 0)
        r = pkie_der_enter_optional(&p, PKIE_DER_CTX_C(2), &in, &present);
    if (r == 0 && present) {
        r = pkie_der_read_int64(&in, PKIE_DER_INTEGER, &s->salt_len);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    if (r == 0)
        r = pkie_der_enter_optional(&p, PKIE_DER_CTX_C(3), &in, &present);
    if (r == 0 && present) {
        int64_t trailer;
        r = pkie_der_read_int64(&in, PKIE_DER_INTEGER, &trailer);
        if (r == 0 && trailer != 1)
            r = PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "PSS trailerField %lld", (long long)trailer);
        if (r == 0)
            r = pkie_der_finish(&in);
    }
    if (r == 0)
        r = pkie_der_finish(&p);
    if (r == 0)
        r = pkie_der_finish(&d);
    if (r == 0 && (s->salt_len < 0 || s->salt_len > 1024))
        r = PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "PSS saltLength");
    if (r != 0 && r != PKIE_ERR_CMP_PROT_ALG && r != PKIE_ERR_CMP_PROT_PARAMS)
        r = PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "PSS parameters (%s)", pkie_err_name(r));
    return r;
}

static int sig_alg_parse(const struct pkie_cmp_bytes *algid, struct sig_alg *s)
{
    struct pkie_cmp_bytes oid, params;
    memset(s, 0, sizeof(*s));
    int r = cmp_algid_split(algid, &oid, &params);
    if (r != 0)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "signature algorithm (%s)", pkie_err_name(r));
    if ((r = cmp_oid_sig(oid.p, oid.len, &s->kind, &s->md)) != 0)
        return r;
    switch (s->kind) {
    case CMP_SIG_RSA_PSS:
        return parse_pss(&params, s);
    case CMP_SIG_RSA:
        /* parameters NULL (absent tolerated) */
        if (params.p != NULL && !(params.len == 2 && params.p[0] == 0x05 && params.p[1] == 0))
            return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "RSA signature parameters not NULL");
        return 0;
    default:
        if (params.p != NULL)
            return PKIE_ERR(PKIE_ERR_CMP_PROT_PARAMS, "parameters must be absent");
        return 0;
    }
}

static int key_fits(EVP_PKEY *key, int kind)
{
    switch (kind) {
    case CMP_SIG_RSA:
    case CMP_SIG_RSA_PSS:
        return EVP_PKEY_is_a(key, "RSA") ||
               (kind == CMP_SIG_RSA_PSS && EVP_PKEY_is_a(key, "RSA-PSS"));
    case CMP_SIG_ECDSA:
        return EVP_PKEY_is_a(key, "EC");
    case CMP_SIG_ED25519:
        return EVP_PKEY_is_a(key, "ED25519");
    case CMP_SIG_ED448:
        return EVP_PKEY_is_a(key, "ED448");
    default:
        return 0;
    }
}

static int pss_setup(EVP_PKEY_CTX *pctx, const struct sig_alg *s)
{
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)s->salt_len) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, s->mgf1, NULL) <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PSS parameters");
    return 0;
}

int cmp_sig_verify_parts(EVP_PKEY *pub, const struct pkie_cmp_bytes *algid,
                         const struct pkie_cmp_bytes *sig, const uint8_t *prefix, size_t prefix_len,
                         const uint8_t *data, size_t data_len)
{
    struct sig_alg s;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t *joined = NULL;
    int r = sig_alg_parse(algid, &s);
    if (r != 0)
        return r;
    if (!key_fits(pub, s.kind))
        return PKIE_ERR(PKIE_ERR_CMP_KEY_TYPE, "key type does not fit the signature algorithm");
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "EVP_MD_CTX");
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, s.md, NULL, NULL, pub, NULL) != 1) {
        r = PKIE_ERR_OSSL(PKIE_ERR_CMP_SIG_INVALID, "verify init");
        goto err;
    }
    if (s.kind == CMP_SIG_RSA_PSS && (r = pss_setup(pctx, &s)) != 0)
        goto err;
    int ok;
    if (s.md == NULL) {
        /* EdDSA is one-shot: join prefix and data. */
        const uint8_t *msg = data;
        if (prefix_len) {
            joined = malloc(prefix_len + data_len);
            if (joined == NULL) {
                r = PKIE_ERR(PKIE_ERR_NOMEM, "signature input");
                goto err;
            }
            memcpy(joined, prefix, prefix_len);
            memcpy(joined + prefix_len, data, data_len);
            msg = joined;
        }
        ok = EVP_DigestVerify(ctx, sig->p, sig->len, msg, prefix_len + data_len);
    } else {
        ok = EVP_DigestVerifyUpdate(ctx, prefix, prefix_len) == 1 &&
             EVP_DigestVerifyUpdate(ctx, data, data_len) == 1 &&
             EVP_DigestVerifyFinal(ctx, sig->p, sig->len) == 1; /* -1: unparsable (ECDSA) */
    }
    if (ok != 1)
        r = PKIE_ERR_OSSL(PKIE_ERR_CMP_SIG_INVALID, "signature does not verify");
err:
    free(joined);
    EVP_MD_CTX_free(ctx);
    return r;
}

static int pp_collect(void *ctx, const uint8_t *p, size_t len)
{
    struct pkie_buf *b = ctx;
    return pkie_buf_append(b, p, len);
}

int pkie_cmp_verify_sig(const struct pkie_cmp_msg *m, EVP_PKEY *pub)
{
    if (m == NULL || pub == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "verify_sig");
    if (m->protection.p == NULL || m->header.protectionAlg.p == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_MISSING, "message is not protected");
    struct pkie_cmp_bytes sig = m->protection;
    if (m->header_der.p != NULL && m->body_der.p != NULL &&
        m->header_der.p + m->header_der.len == m->body_der.p) {
        uint8_t hdr[16];
        size_t body = m->header_der.len + m->body_der.len, n = 0;
        hdr[n++] = 0x30;
        if (body < 0x80) {
            hdr[n++] = (uint8_t)body;
        } else {
            size_t bytes = 0;
            for (size_t v = body; v; v >>= 8)
                bytes++;
            hdr[n++] = (uint8_t)(0x80 | bytes);
            for (size_t i = bytes; i > 0; i--)
                hdr[n++] = (uint8_t)(body >> (8 * (i - 1)));
        }
        return cmp_sig_verify_parts(pub, &m->header.protectionAlg, &sig, hdr, n, m->header_der.p,
                                    body);
    }
    struct pkie_buf b;
    pkie_buf_init(&b, (size_t)64 << 20);
    int r = cmp_protected_part_feed(m, pp_collect, &b);
    if (r == 0)
        r = cmp_sig_verify_parts(pub, &m->header.protectionAlg, &sig, NULL, 0, b.data, b.len);
    pkie_buf_free(&b);
    return r;
}

/* ---- signing --------------------------------------------------------------------- */

static void hash_algid(struct pkie_derw *w, const struct cmp_oid *oid)
{
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_oid(w, PKIE_DER_OID, oid->p, oid->len);
    pkie_derw_end(w);
}

/* AlgorithmIdentifier for signing with @p key; fills @p s. */
static int sig_algid_for_key(EVP_PKEY *key, const char *digest, int pss, struct pkie_derw *w,
                             struct sig_alg *s)
{
    memset(s, 0, sizeof(*s));
    const char *md = digest ? digest : "SHA256";
    if (EVP_PKEY_is_a(key, "ED25519"))
        s->kind = CMP_SIG_ED25519, md = NULL;
    else if (EVP_PKEY_is_a(key, "ED448"))
        s->kind = CMP_SIG_ED448, md = NULL;
    else if (EVP_PKEY_is_a(key, "EC"))
        s->kind = CMP_SIG_ECDSA;
    else if (EVP_PKEY_is_a(key, "RSA"))
        s->kind = pss ? CMP_SIG_RSA_PSS : CMP_SIG_RSA;
    else
        return PKIE_ERR(PKIE_ERR_CMP_KEY_TYPE, "unsupported key type %s",
                        EVP_PKEY_get0_type_name(key));
    const struct cmp_oid *mdoid = md ? cmp_oid_for_digest(md) : NULL;
    if (md != NULL && mdoid == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "digest %s", md);
    if (md != NULL)
        md = cmp_oid_digest(mdoid->p, mdoid->len); /* canonical name */
    s->md = md;
    const struct cmp_oid *oid = cmp_oid_for_sig(s->kind, md);
    if (oid == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "no signature algorithm for %s", md ? md : "EdDSA");
    pkie_derw_begin(w, PKIE_DER_SEQUENCE);
    pkie_derw_oid(w, PKIE_DER_OID, oid->p, oid->len);
    if (s->kind == CMP_SIG_RSA) {
        pkie_derw_null(w, PKIE_DER_NULL);
    } else if (s->kind == CMP_SIG_RSA_PSS) {
        s->mgf1 = md;
        s->salt_len = EVP_MD_get_size(EVP_get_digestbyname(md));
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_begin(w, PKIE_DER_CTX_C(0));
        hash_algid(w, mdoid);
        pkie_derw_end(w);
        pkie_derw_begin(w, PKIE_DER_CTX_C(1));
        pkie_derw_begin(w, PKIE_DER_SEQUENCE);
        pkie_derw_oid(w, PKIE_DER_OID, cmp_oid_mgf1.p, cmp_oid_mgf1.len);
        hash_algid(w, mdoid);
        pkie_derw_end(w);
        pkie_derw_end(w);
        pkie_derw_begin(w, PKIE_DER_CTX_C(2));
        pkie_derw_int64(w, PKIE_DER_INTEGER, s->salt_len);
        pkie_derw_end(w);
        pkie_derw_end(w);
    }
    pkie_derw_end(w);
    return w->err;
}

/* Sign @p len bytes with @p key per @p s; signature malloc'd into *sig. */
static int sign_data(EVP_PKEY *key, const struct sig_alg *s, const uint8_t *data, size_t len,
                     uint8_t **sig, size_t *sig_len)
{
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int r = 0;
    *sig = NULL;
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "EVP_MD_CTX");
    if (EVP_DigestSignInit_ex(ctx, &pctx, s->md, NULL, NULL, key, NULL) != 1) {
        r = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "sign init");
        goto err;
    }
    if (s->kind == CMP_SIG_RSA_PSS && (r = pss_setup(pctx, s)) != 0)
        goto err;
    if (EVP_DigestSign(ctx, NULL, sig_len, data, len) != 1 || (*sig = malloc(*sig_len)) == NULL ||
        EVP_DigestSign(ctx, *sig, sig_len, data, len) != 1) {
        r = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "sign");
        free(*sig);
        *sig = NULL;
    }
err:
    EVP_MD_CTX_free(ctx);
    return r;
}

/* Exported to pop.c through a local declaration. */
int cmp_sign_with_algid(struct pkie_cmp_msg *m, EVP_PKEY *key, const char *digest, int pss,
                        const uint8_t *data, size_t len, struct pkie_cmp_bytes *algid,
                        struct pkie_cmp_bytes *sig);

int cmp_sign_with_algid(struct pkie_cmp_msg *m, EVP_PKEY *key, const char *digest, int pss,
                        const uint8_t *data, size_t len, struct pkie_cmp_bytes *algid,
                        struct pkie_cmp_bytes *sig)
{
    struct pkie_derw w;
    struct sig_alg s;
    const uint8_t *a;
    size_t alen;
    uint8_t *sg = NULL;
    size_t sg_len = 0;
    pkie_derw_init(&w, 1024);
    int r = sig_algid_for_key(key, digest, pss, &w, &s);
    if (r == 0)
        r = pkie_derw_finish(&w, &a, &alen);
    if (r == 0)
        r = sign_data(key, &s, data, len, &sg, &sg_len);
    if (r == 0)
        r = pkie_cmp_dup(m, algid, a, alen);
    if (r == 0)
        r = pkie_cmp_dup(m, sig, sg, sg_len);
    free(sg);
    pkie_derw_free(&w);
    return r;
}

static int is_empty_sender(const struct pkie_cmp_bytes *gn)
{
    static const uint8_t empty[] = {0xA4, 0x02, 0x30, 0x00};
    return gn->p == NULL || (gn->len == sizeof(empty) && memcmp(gn->p, empty, gn->len) == 0);
}

static int add_cert(struct pkie_cmp_msg *m, X509 *c, struct pkie_cmp_bytes *dst)
{
    unsigned char *der = NULL;
    int len = i2d_X509(c, &der);
    if (len <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "i2d_X509");
    int r = pkie_cmp_dup(m, dst, der, (size_t)len);
    OPENSSL_free(der);
    return r;
}

int pkie_cmp_protect_sig(struct pkie_cmp_msg *m, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
                         const struct pkie_cmp_sig_params *p)
{
    uint8_t *pp = NULL;
    size_t pp_len = 0;
    if (m == NULL || key == NULL || cert == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "protect_sig");
    if (X509_check_private_key(cert, key) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CMP_KEY_TYPE, "key does not match the certificate");
    int r = 0;
    if (is_empty_sender(&m->header.sender))
        r = pkie_cmp_gn_from_name(m, X509_get_subject_name(cert), &m->header.sender);
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cert);
    if (r == 0 && skid != NULL && m->header.senderKID.p == NULL)
        r = pkie_cmp_dup(m, &m->header.senderKID, ASN1_STRING_get0_data(skid),
                         (size_t)ASN1_STRING_length(skid));
    /* extraCerts: the signer, its chain, then what was there before. */
    size_t nchain = chain ? (size_t)sk_X509_num(chain) : 0;
    size_t n = 1 + nchain + m->extraCerts_count;
    struct pkie_cmp_bytes *certs = NULL;
    if (r == 0 && (certs = pkie_cmp_alloc_array(m, n, sizeof(*certs))) == NULL)
        r = pkie_err_last()->code;
    if (r == 0)
        r = add_cert(m, cert, &certs[0]);
    for (size_t i = 0; r == 0 && i < nchain; i++)
        r = add_cert(m, sk_X509_value(chain, (int)i), &certs[1 + i]);
    if (r != 0)
        return r;
    for (size_t i = 0; i < m->extraCerts_count; i++)
        certs[1 + nchain + i] = m->extraCerts[i];
    m->extraCerts = certs;
    m->extraCerts_count = n;
    /* Build protectionAlg first: it is part of the protected header. */
    struct pkie_derw w;
    struct sig_alg s;
    const uint8_t *a;
    size_t alen;
    pkie_derw_init(&w, 1024);
    r = sig_algid_for_key(key, p ? p->digest : NULL, p ? p->rsa_pss : 0, &w, &s);
    if (r == 0)
        r = pkie_derw_finish(&w, &a, &alen);
    if (r == 0)
        r = pkie_cmp_dup(m, &m->header.protectionAlg, a, alen);
    pkie_derw_free(&w);
    m->der.p = m->header_der.p = m->body_der.p = NULL;
    if (r == 0)
        r = cmp_protected_part_der(m, &pp, &pp_len);
    uint8_t *sg = NULL;
    size_t sg_len = 0;
    if (r == 0)
        r = sign_data(key, &s, pp, pp_len, &sg, &sg_len);
    if (r == 0)
        r = pkie_cmp_dup(m, &m->protection, sg, sg_len);
    free(sg);
    free(pp);
    return r;
}
