/* Proof of possession by signature (RFC 4211 section 4.1) and access to the
 * public key of a CertTemplate. */
#include "cmp_local.h"

#include <stdlib.h>

int cmp_sign_with_algid(struct pkie_cmp_msg *m, EVP_PKEY *key, const char *digest, int pss,
                        const uint8_t *data, size_t len, struct pkie_cmp_bytes *algid,
                        struct pkie_cmp_bytes *sig);

/* DER header of a SEQUENCE of @p len content bytes into @p out (>= 10 bytes). */
static size_t seq_hdr(uint8_t *out, size_t len)
{
    size_t n = 0, bytes = 0;
    out[n++] = 0x30;
    if (len < 0x80) {
        out[n++] = (uint8_t)len;
        return n;
    }
    for (size_t v = len; v; v >>= 8)
        bytes++;
    out[n++] = (uint8_t)(0x80 | bytes);
    for (size_t i = bytes; i > 0; i--)
        out[n++] = (uint8_t)(len >> (8 * (i - 1)));
    return n;
}

static EVP_PKEY *spki_contents_to_pkey(const struct pkie_cmp_bytes *c)
{
    uint8_t hdr[16];
    size_t n = seq_hdr(hdr, c->len);
    uint8_t *der = malloc(n + c->len);
    if (der == NULL)
        return NULL;
    memcpy(der, hdr, n);
    memcpy(der + n, c->p, c->len);
    const unsigned char *q = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)(n + c->len));
    free(der);
    return k;
}

EVP_PKEY *pkie_crmf_template_pubkey(const struct pkie_crmf_template *t)
{
    if (t == NULL || !(t->present & PKIE_CRMF_T_PUBLICKEY)) {
        PKIE_ERR(PKIE_ERR_NOT_FOUND, "template without publicKey");
        return NULL;
    }
    EVP_PKEY *k = spki_contents_to_pkey(&t->publicKey);
    if (k == NULL)
        PKIE_ERR_OSSL(PKIE_ERR_CMP_KEY_TYPE, "template publicKey not usable");
    return k;
}

int pkie_crmf_popo_verify(const struct pkie_crmf_msg *req)
{
    return pkie_crmf_popo_verify_key(req, NULL);
}

int pkie_crmf_popo_verify_key(const struct pkie_crmf_msg *req, EVP_PKEY *template_key)
{
    const struct pkie_crmf_popo *p = &req->popo;
    EVP_PKEY *pub = NULL;
    uint8_t *enc = NULL;
    int r;
    if (p->type != PKIE_CRMF_POPO_SIGNATURE)
        return PKIE_ERR(PKIE_ERR_CMP_POP, "popo is not a signature");
    if (p->signature.len < 1 || p->signature.p[0] != 0)
        return PKIE_ERR(PKIE_ERR_CMP_POP, "POP signature with unused bits");
    struct pkie_cmp_bytes sig = {p->signature.p + 1, p->signature.len - 1};
    /* RFC 4211 4.1: with poposkInput, subject and publicKey come from it and
     * the template must not carry them; else the key proven here need not be
     * the key that gets certified. */
    if (p->has_poposkInput &&
        (req->certReq.certTemplate.present & (PKIE_CRMF_T_PUBLICKEY | PKIE_CRMF_T_SUBJECT)))
        return PKIE_ERR(PKIE_ERR_CMP_POP, "poposkInput with a template subject or publicKey");
    if (p->has_poposkInput) {
        const unsigned char *q = p->poposkInput_publicKey.p;
        pub = d2i_PUBKEY(NULL, &q, (long)p->poposkInput_publicKey.len);
    } else if (template_key != NULL && EVP_PKEY_up_ref(template_key) == 1) {
        pub = template_key;
    } else {
        pub = pkie_crmf_template_pubkey(&req->certReq.certTemplate);
    }
    if (pub == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_CMP_POP, "no usable public key for POP");
    if (p->has_poposkInput) {
        uint8_t hdr[16];
        size_t n = seq_hdr(hdr, p->poposkInput.len);
        r = cmp_sig_verify_parts(pub, &p->algorithmIdentifier, &sig, hdr, n, p->poposkInput.p,
                                 p->poposkInput.len);
    } else if (req->certReq.der.p != NULL) {
        r = cmp_sig_verify_parts(pub, &p->algorithmIdentifier, &sig, NULL, 0, req->certReq.der.p,
                                 req->certReq.der.len);
    } else {
        struct pkie_derw w;
        const uint8_t *d;
        size_t len;
        pkie_derw_init(&w, (size_t)16 << 20);
        pkie_crmf_certreq_encode(&req->certReq, &w);
        r = pkie_derw_finish(&w, &d, &len);
        if (r == 0)
            r = cmp_sig_verify_parts(pub, &p->algorithmIdentifier, &sig, NULL, 0, d, len);
        pkie_derw_free(&w);
    }
    EVP_PKEY_free(pub);
    free(enc);
    if (r != 0 && r != PKIE_ERR_NOMEM)
        r = PKIE_ERR(PKIE_ERR_CMP_POP, "POP signature does not verify (%s)", pkie_err_name(r));
    return r;
}

int pkie_crmf_popo_sign(struct pkie_cmp_msg *m, struct pkie_crmf_msg *req, EVP_PKEY *key,
                        const char *digest)
{
    if (m == NULL || req == NULL || key == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "popo_sign");
    struct pkie_derw w;
    const uint8_t *d;
    size_t len;
    struct pkie_cmp_bytes sig;
    pkie_derw_init(&w, (size_t)16 << 20);
    pkie_crmf_certreq_encode(&req->certReq, &w);
    int r = pkie_derw_finish(&w, &d, &len);
    if (r == 0)
        r = cmp_sign_with_algid(m, key, digest, 0, d, len, &req->popo.algorithmIdentifier, &sig);
    pkie_derw_free(&w);
    if (r != 0)
        return r;
    /* BIT STRING contents: unused-bits octet 0, then the signature. */
    uint8_t *bits = pkie_cmp_alloc(m, sig.len + 1);
    if (bits == NULL)
        return pkie_err_last()->code;
    bits[0] = 0;
    memcpy(bits + 1, sig.p, sig.len);
    req->popo.type = PKIE_CRMF_POPO_SIGNATURE;
    req->popo.has_poposkInput = 0;
    req->popo.signature.p = bits;
    req->popo.signature.len = sig.len + 1;
    req->certReq.der.p = NULL;
    return 0;
}
