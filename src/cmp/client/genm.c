/* Typed general messages of the Lightweight CMP Profile (RFC 9483 section
 * 4.3): caCerts, rootCaCert, certReqTemplate, crlStatusList, and
 * signKeyPairTypes (RFC 4210 appendix E.5). */
#include "client_internal.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>

/* Send one ITAV of type @p req_oid and find the answer of type @p rsp_oid.
 * Its value, a SEQUENCE, is entered into *seq. Returns 1 when the answer
 * carries a value, 0 when it has none, or a negative error; *itavs (free it
 * in every case) owns the bytes *seq points to. */
static int genm_seq(struct pkie_cmp_ctx *ctx, const char *req_oid, const uint8_t *val,
                    size_t val_len, const char *rsp_oid, struct pkie_cmp_genm_itavs **itavs,
                    struct pkie_der *seq)
{
    struct pkie_cmp_genm_itavs saved = ctx->genm_itavs;
    memset(&ctx->genm_itavs, 0, sizeof(ctx->genm_itavs));
    int rc = cmp_itavs_add(&ctx->genm_itavs, req_oid, val, val_len);
    *itavs = NULL;
    if (rc == 0) {
        *itavs = pkie_cmp_exec_genm(ctx);
        if (*itavs == NULL)
            rc = pkie_err_last()->code < 0 ? pkie_err_last()->code : PKIE_ERR_INTERNAL;
    }
    cmp_itavs_clear(&ctx->genm_itavs);
    ctx->genm_itavs = saved;
    if (rc < 0)
        return rc;
    const struct pkie_cmp_genm_itav *found = NULL;
    for (size_t i = 0; i < (*itavs)->n; i++) {
        if (strcmp((*itavs)->v[i].type, rsp_oid) != 0)
            continue;
        if (found != NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "genp holds %s twice", rsp_oid);
        found = &(*itavs)->v[i];
    }
    if (found == NULL)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "genp without an ITAV of type %s", rsp_oid);
    if (found->value == NULL)
        return 0;
    struct pkie_der d;
    pkie_der_init(&d, found->value, found->value_len);
    if ((rc = pkie_der_enter(&d, PKIE_DER_SEQUENCE, seq)) < 0 || (rc = pkie_der_finish(&d)) < 0)
        return rc;
    return 1;
}

static X509 *cert_from_tlv(const uint8_t *p, size_t len)
{
    const unsigned char *q = p;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    if (x == NULL || q != p + len) {
        X509_free(x);
        PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_PROTOCOL, "bad certificate in genp");
        return NULL;
    }
    return x;
}

static void *cert_decode(const uint8_t *p, size_t len)
{
    return cert_from_tlv(p, len);
}

static void cert_free(void *x)
{
    X509_free(x);
}

static void *algor_decode(const uint8_t *p, size_t len)
{
    const unsigned char *q = p;
    X509_ALGOR *a = d2i_X509_ALGOR(NULL, &q, (long)len);
    if (a == NULL || q != p + len) {
        X509_ALGOR_free(a);
        PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_PROTOCOL, "bad AlgorithmIdentifier in genp");
        return NULL;
    }
    return a;
}

static void algor_free(void *a)
{
    X509_ALGOR_free(a);
}

/* Decode each element of the SEQUENCE OF @p seq (each itself a SEQUENCE)
 * with @p decode and push it on @p st. */
static int seq_of_decode(struct pkie_der *seq, void *(*decode)(const uint8_t *, size_t),
                         void (*free_fn)(void *), OPENSSL_STACK *st)
{
    while (!pkie_der_at_end(seq)) {
        struct pkie_der_tlv t;
        int rc = pkie_der_expect(seq, PKIE_DER_SEQUENCE, &t);
        if (rc < 0)
            return rc;
        void *e = decode(t.tlv, t.tlv_len);
        if (e == NULL)
            return pkie_err_last()->code;
        if (!OPENSSL_sk_push(st, e)) {
            free_fn(e);
            return PKIE_ERR(PKIE_ERR_NOMEM, "genp list");
        }
    }
    return 0;
}

int pkie_cmp_get1_caCerts(struct pkie_cmp_ctx *ctx, STACK_OF(X509) **out)
{
    if (ctx == NULL || out == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL argument");
    *out = NULL;
    struct pkie_cmp_genm_itavs *l;
    struct pkie_der seq;
    int rc = genm_seq(ctx, PKIE_CMP_OID_IT_CA_CERTS, NULL, 0, PKIE_CMP_OID_IT_CA_CERTS, &l, &seq);
    if (rc <= 0)
        goto out;
    if ((*out = sk_X509_new_null()) == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "caCerts");
        goto out;
    }
    rc = seq_of_decode(&seq, cert_decode, cert_free, (OPENSSL_STACK *)*out);
    if (rc == 0 && sk_X509_num(*out) == 0)
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "caCerts: empty SEQUENCE SIZE (1..MAX)");
out:
    if (rc < 0) {
        sk_X509_pop_free(*out, X509_free);
        *out = NULL;
    }
    pkie_cmp_genm_itavs_free(l);
    return rc < 0 ? rc : 0;
}

/* Does @p cert carry @p key and verify with @p signer_key? */
static int link_ok(X509 *cert, EVP_PKEY *key, EVP_PKEY *signer_key)
{
    return EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1 && X509_verify(cert, signer_key) == 1;
}

int pkie_cmp_get1_rootCaCert(struct pkie_cmp_ctx *ctx, X509 *old_with_old, X509 **new_with_new,
                             X509 **new_with_old, X509 **old_with_new)
{
    if (ctx == NULL || new_with_new == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL argument");
    X509 *nn = NULL, *no = NULL, *on = NULL;
    unsigned char *old_der = NULL;
    int old_len = 0;
    *new_with_new = NULL;
    if (new_with_old != NULL)
        *new_with_old = NULL;
    if (old_with_new != NULL)
        *old_with_new = NULL;
    if (old_with_old != NULL && (old_len = i2d_X509(old_with_old, &old_der)) <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encoding oldWithOld");
    struct pkie_cmp_genm_itavs *l;
    struct pkie_der seq;
    struct pkie_der_tlv t;
    int rc =
        genm_seq(ctx, PKIE_CMP_OID_IT_ROOT_CA_CERT, old_der, (size_t)(old_len > 0 ? old_len : 0),
                 PKIE_CMP_OID_IT_ROOT_CA_KEYUPDATE, &l, &seq);
    OPENSSL_free(old_der);
    if (rc <= 0) /* absent: no update available */
        goto out;
    if ((rc = pkie_der_expect(&seq, PKIE_DER_SEQUENCE, &t)) < 0)
        goto out;
    if ((nn = cert_from_tlv(t.tlv, t.tlv_len)) == NULL) {
        rc = pkie_err_last()->code;
        goto out;
    }
    for (unsigned tag = 0; tag <= 1; tag++) {
        struct pkie_der inner;
        int present;
        if ((rc = pkie_der_enter_optional(&seq, PKIE_DER_CTX_C(tag), &inner, &present)) < 0)
            goto out;
        if (!present)
            continue;
        if ((rc = pkie_der_expect(&inner, PKIE_DER_SEQUENCE, &t)) < 0 ||
            (rc = pkie_der_finish(&inner)) < 0)
            goto out;
        X509 *x = cert_from_tlv(t.tlv, t.tlv_len);
        if (x == NULL) {
            rc = pkie_err_last()->code;
            goto out;
        }
        if (tag == 0)
            no = x;
        else
            on = x;
    }
    if ((rc = pkie_der_finish(&seq)) < 0)
        goto out;
    EVP_PKEY *newk = X509_get0_pubkey(nn);
    if (newk == NULL || X509_self_signed(nn, 1) != 1) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED, "rootCaKeyUpdate: newWithNew is not a "
                                                     "valid self-signed certificate");
        goto out;
    }
    if (old_with_old != NULL) {
        EVP_PKEY *oldk = X509_get0_pubkey(old_with_old);
        if (no == NULL) {
            rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                          "rootCaKeyUpdate: newWithOld missing, the new root cannot be "
                          "authenticated with the old one");
            goto out;
        }
        if (!link_ok(no, newk, oldk)) {
            rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                          "rootCaKeyUpdate: newWithOld does not carry the new key or does not "
                          "verify with the old root");
            goto out;
        }
        if (on != NULL && !link_ok(on, oldk, newk)) {
            rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_UNTRUSTED,
                          "rootCaKeyUpdate: oldWithNew does not carry the old key or does not "
                          "verify with the new root");
            goto out;
        }
    }
    *new_with_new = nn;
    nn = NULL;
    if (new_with_old != NULL) {
        *new_with_old = no;
        no = NULL;
    }
    if (old_with_new != NULL) {
        *old_with_new = on;
        on = NULL;
    }
out:
    ERR_clear_error();
    X509_free(nn);
    X509_free(no);
    X509_free(on);
    pkie_cmp_genm_itavs_free(l);
    return rc < 0 ? rc : 0;
}

static int dup_out(const uint8_t *p, size_t len, uint8_t **out, size_t *out_len)
{
    *out = OPENSSL_malloc(len);
    if (*out == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "copy");
    memcpy(*out, p, len);
    if (out_len != NULL)
        *out_len = len;
    return 0;
}

int pkie_cmp_get1_certReqTemplate(struct pkie_cmp_ctx *ctx, uint8_t **tmpl, size_t *tmpl_len,
                                  uint8_t **keyspec, size_t *keyspec_len)
{
    if (ctx == NULL || tmpl == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL argument");
    *tmpl = NULL;
    if (keyspec != NULL)
        *keyspec = NULL;
    struct pkie_cmp_genm_itavs *l;
    struct pkie_der seq;
    struct pkie_der_tlv t, k;
    int rc = genm_seq(ctx, PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE, NULL, 0,
                      PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE, &l, &seq);
    if (rc <= 0)
        goto out;
    if ((rc = pkie_der_expect(&seq, PKIE_DER_SEQUENCE, &t)) < 0)
        goto out;
    int has_k = !pkie_der_at_end(&seq);
    if (has_k && (rc = pkie_der_expect(&seq, PKIE_DER_SEQUENCE, &k)) < 0)
        goto out;
    if ((rc = pkie_der_finish(&seq)) < 0)
        goto out;
    if ((rc = dup_out(t.tlv, t.tlv_len, tmpl, tmpl_len)) < 0)
        goto out;
    if (has_k && keyspec != NULL && (rc = dup_out(k.tlv, k.tlv_len, keyspec, keyspec_len)) < 0) {
        OPENSSL_free(*tmpl);
        *tmpl = NULL;
    }
out:
    pkie_cmp_genm_itavs_free(l);
    return rc < 0 ? rc : 0;
}

/* CRLStatus for @p cert: its first CRL distribution point name, else its
 * issuer, and thisUpdate of @p last. DER into *out (OPENSSL_free). */
/* GeneralNames of exactly one directory name (gennames_allowed, only_DN) */
static int one_dirname(const GENERAL_NAMES *gns)
{
    return gns != NULL && sk_GENERAL_NAME_num(gns) == 1 &&
           sk_GENERAL_NAME_value(gns, 0)->type == GEN_DIRNAME;
}

/* GeneralNames holding one directory name, or NULL */
static GENERAL_NAMES *dirname(const X509_NAME *name)
{
    GENERAL_NAMES *gns = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    X509_NAME *n = X509_NAME_dup(name);
    if (gns != NULL && gn != NULL && n != NULL) {
        GENERAL_NAME_set0_value(gn, GEN_DIRNAME, n);
        n = NULL;
        if (sk_GENERAL_NAME_push(gns, gn))
            gn = NULL;
    }
    X509_NAME_free(n);
    GENERAL_NAME_free(gn);
    if (sk_GENERAL_NAME_num(gns) != 1) {
        GENERAL_NAMES_free(gns);
        gns = NULL;
    }
    return gns;
}

static int crl_status_list(X509 *cert, const X509_CRL *last, uint8_t **out, size_t *out_len)
{
    struct pkie_derw w;
    unsigned char *src = NULL, *tu = NULL;
    int src_len = -1, tu_len = 0, rc;
    /* the source as OSSL_CMP_CRLSTATUS_create(last, cert, only_DN = 1)
     * takes it: with a certificate, its first distribution point name (else
     * a CRLissuer that is one directory name); without, the issuing
     * distribution point of the CRL; failing those, the issuer named in the
     * authority key identifier (if one directory name), else the issuer name
     * of the certificate, else of the CRL */
    const GENERAL_NAMES *issuer = NULL;
    STACK_OF(DIST_POINT) *dps = NULL;
    ISSUING_DIST_POINT *idp = NULL;
    AUTHORITY_KEYID *akid = NULL;
    GENERAL_NAMES *own = NULL;
    if (cert != NULL) {
        dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
        for (int i = 0; src_len <= 0 && i < sk_DIST_POINT_num(dps); i++) {
            DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
            if (dp->distpoint != NULL)
                src_len = i2d_DIST_POINT_NAME(dp->distpoint, &src);
            else if (issuer == NULL && one_dirname(dp->CRLissuer))
                issuer = dp->CRLissuer;
        }
    } else {
        idp = X509_CRL_get_ext_d2i(last, NID_issuing_distribution_point, NULL, NULL);
        if (idp != NULL && idp->distpoint != NULL)
            src_len = i2d_DIST_POINT_NAME(idp->distpoint, &src);
    }
    int issuer_src = src_len <= 0;
    if (issuer_src) {
        OPENSSL_free(src);
        src = NULL;
        if (issuer == NULL) {
            akid = cert != NULL
                       ? X509_get_ext_d2i(cert, NID_authority_key_identifier, NULL, NULL)
                       : X509_CRL_get_ext_d2i(last, NID_authority_key_identifier, NULL, NULL);
            if (akid != NULL && one_dirname(akid->issuer))
                issuer = akid->issuer;
            else
                issuer = own =
                    dirname(cert != NULL ? X509_get_issuer_name(cert) : X509_CRL_get_issuer(last));
        }
        src_len = issuer != NULL ? i2d_GENERAL_NAMES(issuer, &src) : -1;
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    ISSUING_DIST_POINT_free(idp);
    AUTHORITY_KEYID_free(akid);
    GENERAL_NAMES_free(own);
    if (last != NULL)
        tu_len = i2d_ASN1_TIME(X509_CRL_get0_lastUpdate(last), &tu);
    if (src_len <= 0 || tu_len < 0) {
        OPENSSL_free(src);
        OPENSSL_free(tu);
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "building CRLStatus");
    }
    pkie_derw_init(&w, 65536);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);                  /* SEQUENCE OF CRLStatus */
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);                  /* CRLStatus */
    pkie_derw_begin(&w, PKIE_DER_CTX_C(issuer_src ? 1 : 0)); /* CRLSource, EXPLICIT */
    pkie_derw_raw(&w, src, (size_t)src_len);
    pkie_derw_end(&w);
    if (tu_len > 0)
        pkie_derw_raw(&w, tu, (size_t)tu_len);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    OPENSSL_free(src);
    OPENSSL_free(tu);
    const uint8_t *p;
    size_t len;
    rc = pkie_derw_finish(&w, &p, &len);
    if (rc == 0)
        rc = dup_out(p, len, out, out_len);
    pkie_derw_free(&w);
    return rc;
}

int pkie_cmp_get1_crlUpdate(struct pkie_cmp_ctx *ctx, X509 *cert, const X509_CRL *last,
                            X509_CRL **crl)
{
    if (ctx == NULL || (cert == NULL && last == NULL) || crl == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL argument");
    *crl = NULL;
    uint8_t *val = NULL;
    size_t val_len = 0;
    int rc = crl_status_list(cert, last, &val, &val_len);
    if (rc < 0)
        return rc;
    struct pkie_cmp_genm_itavs *l;
    struct pkie_der seq;
    struct pkie_der_tlv t;
    rc = genm_seq(ctx, PKIE_CMP_OID_IT_CRL_STATUS_LIST, val, val_len, PKIE_CMP_OID_IT_CRLS, &l,
                  &seq);
    OPENSSL_free(val);
    if (rc <= 0) /* absent: no newer CRL */
        goto out;
    if ((rc = pkie_der_expect(&seq, PKIE_DER_SEQUENCE, &t)) < 0)
        goto out;
    if (!pkie_der_at_end(&seq)) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "crls: more CRLs than requested");
        goto out;
    }
    const unsigned char *q = t.tlv;
    *crl = d2i_X509_CRL(NULL, &q, (long)t.tlv_len);
    if (*crl == NULL || q != t.tlv + t.tlv_len) {
        X509_CRL_free(*crl);
        *crl = NULL;
        rc = PKIE_ERR_OSSL(PKIE_ERR_CMP_CLIENT_PROTOCOL, "bad CRL in genp");
    }
out:
    pkie_cmp_genm_itavs_free(l);
    return rc < 0 ? rc : 0;
}

int pkie_cmp_get1_signKeyPairTypes(struct pkie_cmp_ctx *ctx, STACK_OF(X509_ALGOR) **out)
{
    if (ctx == NULL || out == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL argument");
    *out = NULL;
    struct pkie_cmp_genm_itavs *l;
    struct pkie_der seq;
    int rc = genm_seq(ctx, PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES, NULL, 0,
                      PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES, &l, &seq);
    if (rc <= 0)
        goto out;
    if ((*out = sk_X509_ALGOR_new_null()) == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "algorithms");
        goto out;
    }
    rc = seq_of_decode(&seq, algor_decode, algor_free, (OPENSSL_STACK *)*out);
out:
    if (rc < 0) {
        sk_X509_ALGOR_pop_free(*out, X509_ALGOR_free);
        *out = NULL;
    }
    pkie_cmp_genm_itavs_free(l);
    return rc < 0 ? rc : 0;
}
