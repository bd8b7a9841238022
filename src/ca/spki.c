/* SubjectPublicKeyInfo without OpenSSL 3's decoder machinery (its per-call
 * decoder lookup dominated the cost of an enrollment): EC named curves and
 * Ed25519 are imported directly, anything else falls back to d2i. */
#include "ca_internal.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>
#include <string.h>

/* Split SPKI contents into the AlgorithmIdentifier TLV and the key bits. */
static int split(const uint8_t *c, size_t len, const uint8_t **alg, size_t *alg_len,
                 const uint8_t **bits, size_t *bits_len)
{
    struct pkie_der d;
    unsigned unused = 0;
    pkie_der_init(&d, c, len);
    if (pkie_der_read_raw(&d, PKIE_DER_SEQUENCE, alg, alg_len) != 0 ||
        pkie_der_read_bit_string(&d, PKIE_DER_BIT_STRING, bits, bits_len, &unused) != 0 ||
        unused != 0 || pkie_der_finish(&d) != 0) {
        pkie_err_clear();
        return -1;
    }
    return 0;
}

/* Parameters-only keys of the named curves: a copy of one takes the public
 * point (checked to be on the curve) far cheaper than EVP_PKEY_fromdata,
 * which builds the curve's group anew each time. */
static const char *const curves[] = {"P-256", "P-384", "P-521"};
static EVP_PKEY *curve_params[3];
static pthread_once_t curves_once = PTHREAD_ONCE_INIT;

static void curves_init(void)
{
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                             (char *)(uintptr_t)curves[i], 0),
            OSSL_PARAM_construct_end(),
        };
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &curve_params[i], EVP_PKEY_KEY_PARAMETERS, params) != 1)
            curve_params[i] = NULL; /* ec_import falls back to EVP_PKEY_fromdata */
        EVP_PKEY_CTX_free(ctx);
    }
}

static EVP_PKEY *ec_import(size_t curve, const uint8_t *bits, size_t bits_len)
{
    EVP_PKEY *k = NULL;
    pthread_once(&curves_once, curves_init);
    if (curve_params[curve] != NULL) {
        k = EVP_PKEY_dup(curve_params[curve]);
        if (k != NULL && EVP_PKEY_set1_encoded_public_key(k, bits, bits_len) != 1) {
            EVP_PKEY_free(k);
            k = NULL;
        }
        return k;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx != NULL) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                             (char *)(uintptr_t)curves[curve], 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)bits,
                                              bits_len),
            OSSL_PARAM_construct_end(),
        };
        /* the import rejects a point that is not on the curve */
        if (EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
            k = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static int oid_text_is(const ASN1_OBJECT *o, const char *text)
{
    char buf[64];
    return o != NULL && OBJ_obj2txt(buf, sizeof(buf), o, 1) > 0 && strcmp(buf, text) == 0;
}

EVP_PKEY *pkie_ca_spki_to_pkey(const uint8_t *c, size_t len)
{
    const uint8_t *alg_tlv, *bits;
    size_t alg_len, bits_len;
    EVP_PKEY *k = NULL;
    if (split(c, len, &alg_tlv, &alg_len, &bits, &bits_len) != 0)
        return NULL;
    const unsigned char *q = alg_tlv;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &q, (long)alg_len);
    const ASN1_OBJECT *obj = NULL;
    int ptype = 0;
    const void *pval = NULL;
    if (alg == NULL)
        return NULL;
    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    int nid = OBJ_obj2nid(obj);
    if (nid == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT) {
        const ASN1_OBJECT *curve = pval;
        int idx = oid_text_is(curve, "1.2.840.10045.3.1.7") ? 0
                  : oid_text_is(curve, "1.3.132.0.34")      ? 1
                  : oid_text_is(curve, "1.3.132.0.35")      ? 2
                                                            : -1;
        if (idx >= 0)
            k = ec_import((size_t)idx, bits, bits_len);
    } else if (nid == NID_ED25519 && ptype == V_ASN1_UNDEF && bits_len == 32) {
        k = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, bits, bits_len);
    }
    X509_ALGOR_free(alg);
    pkie_err_clear();
    return k;
}

int pkie_ca_x509_set_spki(X509 *x, const uint8_t *c, size_t len)
{
    const uint8_t *alg_tlv, *bits;
    size_t alg_len, bits_len;
    if (split(c, len, &alg_tlv, &alg_len, &bits, &bits_len) != 0 || bits_len > INT32_MAX)
        return PKIE_ERR(PKIE_ERR_ARG, "malformed SubjectPublicKeyInfo");
    const unsigned char *q = alg_tlv;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &q, (long)alg_len);
    const ASN1_OBJECT *obj = NULL;
    int ptype = 0;
    const void *pval = NULL;
    if (alg == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_ARG, "SubjectPublicKeyInfo algorithm");
    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    void *param = NULL;
    int known = 1; /* parameters absent (V_ASN1_UNDEF), NULL, an OID or a SEQUENCE */
    if (ptype == V_ASN1_OBJECT)
        param = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        param = ASN1_STRING_dup(pval);
    else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
        known = 0;
    unsigned char *enc = OPENSSL_malloc(bits_len > 0 ? bits_len : 1);
    ASN1_OBJECT *o = OBJ_dup(obj);
    X509_ALGOR_free(alg);
    int ok = known && enc != NULL && o != NULL &&
             (param != NULL || ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF);
    if (ok) {
        memcpy(enc, bits, bits_len);
        ok = X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), o, ptype, param, enc, (int)bits_len) ==
             1;
    }
    if (!ok) {
        ASN1_OBJECT_free(o);
        OPENSSL_free(enc);
        if (ptype == V_ASN1_OBJECT)
            ASN1_OBJECT_free(param);
        else
            ASN1_STRING_free(param);
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "set SubjectPublicKeyInfo");
    }
    return 0;
}
