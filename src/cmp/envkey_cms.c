/* Central key envelope: CMS ContentInfo around the bare SignedData / EnvelopedData. */
#include "envkey_local.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <stdlib.h>
#include <string.h>

/* A CMS ContentInfo of type @p oid around @p tlv, whose first (tag) byte is read as 0x30
 * (the EncryptedKey carries the EnvelopedData as [0] IMPLICIT). */
CMS_ContentInfo *envkey_ci_wrap(const char *oid, const uint8_t *tlv, size_t len)
{
    struct pkie_derw w;
    const uint8_t *der = NULL;
    size_t n = 0;
    CMS_ContentInfo *ci = NULL;
    uint8_t *copy = len > 0 ? malloc(len) : NULL;
    if (copy == NULL) {
        PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
        return NULL;
    }
    memcpy(copy, tlv, len);
    copy[0] = 0x30;
    pkie_derw_init_secret(&w, 2 * MAX_ENVELOPE);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, oid);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0));
    pkie_derw_raw(&w, copy, len);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    if (pkie_derw_finish(&w, &der, &n) == 0) {
        const unsigned char *p = der;
        ci = d2i_CMS_ContentInfo(NULL, &p, (long)n);
        if (ci != NULL && p != der + n) {
            CMS_ContentInfo_free(ci);
            ci = NULL;
        }
        if (ci == NULL)
            PKIE_ERR_OSSL(PKIE_ERR_CMP_DECODE, "%s unreadable",
                          strcmp(oid, OID_SIGNED_DATA) == 0 ? "SignedData" : "EnvelopedData");
    }
    pkie_derw_free(&w);
    pkie_wipe(copy, len);
    free(copy);
    return ci;
}

/* The content [0] of a ContentInfo encoding: the bare SignedData / EnvelopedData, malloc'd. */
int envkey_ci_unwrap(CMS_ContentInfo *ci, uint8_t **out, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(ci, &der);
    struct pkie_der d, s, c;
    struct pkie_der_tlv t;
    int rc;
    if (n <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode CMS");
    pkie_der_init(&d, der, (size_t)n);
    if ((rc = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s)) == 0 && (rc = pkie_der_skip(&s)) == 0 &&
        (rc = pkie_der_enter(&s, PKIE_DER_CTX_C(0), &c)) == 0 &&
        (rc = pkie_der_read_tlv(&c, &t)) == 0) {
        if ((*out = malloc(t.tlv_len)) == NULL)
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
        else {
            memcpy(*out, t.tlv, t.tlv_len);
            *len = t.tlv_len;
        }
    }
    OPENSSL_clear_free(der, (size_t)n);
    return rc;
}

/* The bytes written to a memory BIO, malloc'd (the BIO is cleared when freed). */
int envkey_bio_take(BIO *b, uint8_t **out, size_t *len)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n <= 0 || (size_t)n > MAX_ENVELOPE)
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "envelope content of %ld bytes", n);
    if ((*out = malloc((size_t)n)) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "envelope");
    memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
    return 0;
}

void envkey_ci_free_secret(CMS_ContentInfo *ci)
{
    if (ci == NULL)
        return;
    ASN1_OCTET_STRING **pos = CMS_get0_content(ci);
    if (pos != NULL && *pos != NULL)
        OPENSSL_cleanse((*pos)->data, (size_t)(*pos)->length);
    CMS_ContentInfo_free(ci);
}
