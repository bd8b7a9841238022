/*
 * The pure parts of CryptData: which PKCS#11 mechanism signs what the host
 * asks, the DigestInfo of RSASSA-PKCS1-v1_5, the DER form of an ECDSA
 * signature, and the names of CKR_* values for error texts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cftpkie.h"
#include "p11x.h"

int p11x_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* DigestInfo ::= SEQUENCE { AlgorithmIdentifier (NULL parameters), OCTET STRING }
 * up to the digest (RFC 8017, 9.2, note 1). */
static const uint8_t di_sha1[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                  0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t di_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
static const uint8_t di_sha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

struct md_info {
    uint32_t md;
    const char *name;
    size_t len;
    const uint8_t *di;
    size_t di_len;
    CK_MECHANISM_TYPE hash;
    CK_RSA_PKCS_MGF_TYPE mgf;
};

static const struct md_info mds[] = {
    {CFTPKIE_MD_SHA1, "SHA-1", 20, di_sha1, sizeof(di_sha1), CKM_SHA_1, CKG_MGF1_SHA1},
    {CFTPKIE_MD_SHA256, "SHA-256", 32, di_sha256, sizeof(di_sha256), CKM_SHA256, CKG_MGF1_SHA256},
    {CFTPKIE_MD_SHA384, "SHA-384", 48, di_sha384, sizeof(di_sha384), CKM_SHA384, CKG_MGF1_SHA384},
    {CFTPKIE_MD_SHA512, "SHA-512", 64, di_sha512, sizeof(di_sha512), CKM_SHA512, CKG_MGF1_SHA512},
};

static const struct md_info *md_find(uint32_t md)
{
    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
        if (mds[i].md == md)
            return &mds[i];
    return NULL;
}

static const char *key_type_name(CK_KEY_TYPE t)
{
    return t == CKK_RSA ? "RSA" : t == CKK_EC ? "EC" : t == CKK_EC_EDWARDS ? "EdDSA" : "?";
}

int p11x_sign_prepare(uint32_t alg, uint32_t md, const uint8_t *data, size_t len,
                      CK_KEY_TYPE key_type, struct p11x_sign_plan *plan, char *err, size_t cap)
{
    memset(plan, 0, sizeof(*plan));
    if (data == NULL || len == 0)
        return p11x_fail(err, cap, "CryptData: no data to sign");
    CK_KEY_TYPE want;
    switch (alg) {
    case CFTPKIE_SIGN_RSA_PKCS1:
    case CFTPKIE_SIGN_RSA_PSS:
        want = CKK_RSA;
        break;
    case CFTPKIE_SIGN_ECDSA:
        want = CKK_EC;
        break;
    case CFTPKIE_SIGN_ED25519:
        want = CKK_EC_EDWARDS;
        break;
    default:
        return p11x_fail(err, cap, "CryptData: unsupported signature algorithm %u", alg);
    }
    if (want != key_type)
        return p11x_fail(err, cap, "CryptData: algorithm %u needs an %s key, the token key is %s",
                         alg, key_type_name(want), key_type_name(key_type));
    if (alg == CFTPKIE_SIGN_ED25519) {
        if (md != CFTPKIE_MD_NONE)
            return p11x_fail(err, cap, "CryptData: Ed25519 with digest %u (expected none)", md);
        plan->mech = CKM_EDDSA;
        plan->input = data;
        plan->input_len = len;
        return 0;
    }
    const struct md_info *m = md_find(md);
    if (m == NULL)
        return p11x_fail(err, cap, "CryptData: unsupported digest %u", md);
    if (len != m->len)
        return p11x_fail(err, cap, "CryptData: %zu bytes of data for a %s digest (expected %zu)",
                         len, m->name, m->len);
    switch (alg) {
    case CFTPKIE_SIGN_ECDSA:
        plan->mech = CKM_ECDSA;
        plan->input = data;
        plan->input_len = len;
        plan->ecdsa_der = 1;
        break;
    case CFTPKIE_SIGN_RSA_PKCS1:
        plan->mech = CKM_RSA_PKCS;
        memcpy(plan->prefixed, m->di, m->di_len);
        memcpy(plan->prefixed + m->di_len, data, len);
        plan->input = plan->prefixed;
        plan->input_len = m->di_len + len;
        break;
    default: /* CFTPKIE_SIGN_RSA_PSS */
        plan->mech = CKM_RSA_PKCS_PSS;
        plan->pss.hashAlg = m->hash;
        plan->pss.mgf = m->mgf;
        plan->pss.sLen = m->len;
        plan->input = data;
        plan->input_len = len;
        break;
    }
    return 0;
}

/* Append the DER INTEGER of the unsigned big-endian @v (@n bytes). */
static size_t der_uint(const uint8_t *v, size_t n, uint8_t *out)
{
    while (n > 1 && v[0] == 0)
        v++, n--;
    size_t pad = (v[0] & 0x80) ? 1 : 0, o = 0;
    out[o++] = 0x02;
    size_t l = n + pad;
    if (l >= 0x80)
        out[o++] = 0x81;
    out[o++] = (uint8_t)l;
    if (pad)
        out[o++] = 0;
    memcpy(out + o, v, n);
    return o + n;
}

int p11x_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    /* r and s are at most 132 bytes each (P-521: 66), so each INTEGER fits a
     * one-byte long-form length and the SEQUENCE a two-byte one. */
    if (raw == NULL || len < 2 || len % 2 != 0 || len > 264)
        return -1;
    uint8_t body[2 * (3 + 1 + 132)];
    size_t h = len / 2;
    size_t bl = der_uint(raw, h, body);
    bl += der_uint(raw + h, h, body + bl);
    size_t hl = bl >= 0x100 ? 4 : bl >= 0x80 ? 3 : 2;
    if (hl + bl > cap)
        return -1;
    size_t o = 0;
    out[o++] = 0x30;
    if (bl >= 0x100) {
        out[o++] = 0x82;
        out[o++] = (uint8_t)(bl >> 8);
    } else if (bl >= 0x80) {
        out[o++] = 0x81;
    }
    out[o++] = (uint8_t)bl;
    memcpy(out + o, body, bl);
    *out_len = o + bl;
    return 0;
}

#define RV(x)                                                                                      \
    {                                                                                              \
        x, #x                                                                                      \
    }
static const struct {
    CK_RV rv;
    const char *name;
} rvs[] = {
    RV(CKR_OK),
    RV(CKR_CANCEL),
    RV(CKR_HOST_MEMORY),
    RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR),
    RV(CKR_FUNCTION_FAILED),
    RV(CKR_ARGUMENTS_BAD),
    RV(CKR_NO_EVENT),
    RV(CKR_NEED_TO_CREATE_THREADS),
    RV(CKR_CANT_LOCK),
    RV(CKR_ATTRIBUTE_READ_ONLY),
    RV(CKR_ATTRIBUTE_SENSITIVE),
    RV(CKR_ATTRIBUTE_TYPE_INVALID),
    RV(CKR_ATTRIBUTE_VALUE_INVALID),
    RV(CKR_DATA_INVALID),
    RV(CKR_DATA_LEN_RANGE),
    RV(CKR_DEVICE_ERROR),
    RV(CKR_DEVICE_MEMORY),
    RV(CKR_DEVICE_REMOVED),
    RV(CKR_FUNCTION_CANCELED),
    RV(CKR_FUNCTION_NOT_PARALLEL),
    RV(CKR_FUNCTION_NOT_SUPPORTED),
    RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_SIZE_RANGE),
    RV(CKR_KEY_TYPE_INCONSISTENT),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
    RV(CKR_MECHANISM_INVALID),
    RV(CKR_MECHANISM_PARAM_INVALID),
    RV(CKR_OBJECT_HANDLE_INVALID),
    RV(CKR_OPERATION_ACTIVE),
    RV(CKR_OPERATION_NOT_INITIALIZED),
    RV(CKR_PIN_INCORRECT),
    RV(CKR_PIN_INVALID),
    RV(CKR_PIN_LEN_RANGE),
    RV(CKR_PIN_EXPIRED),
    RV(CKR_PIN_LOCKED),
    RV(CKR_SESSION_CLOSED),
    RV(CKR_SESSION_COUNT),
    RV(CKR_SESSION_HANDLE_INVALID),
    RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    RV(CKR_SESSION_READ_ONLY),
    RV(CKR_SESSION_EXISTS),
    RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_NOT_RECOGNIZED),
    RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN),
    RV(CKR_USER_PIN_NOT_INITIALIZED),
    RV(CKR_USER_TYPE_INVALID),
    RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    RV(CKR_USER_TOO_MANY_TYPES),
    RV(CKR_BUFFER_TOO_SMALL),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

const char *p11x_rv_name(CK_RV rv)
{
    for (size_t i = 0; i < sizeof(rvs) / sizeof(rvs[0]); i++)
        if (rvs[i].rv == rv)
            return rvs[i].name;
    return (rv & CKR_VENDOR_DEFINED) ? "CKR_VENDOR_DEFINED" : "CKR_?";
}

const char *p11x_mech_name(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_ECDSA:
        return "CKM_ECDSA";
    case CKM_RSA_PKCS:
        return "CKM_RSA_PKCS";
    case CKM_RSA_PKCS_PSS:
        return "CKM_RSA_PKCS_PSS";
    case CKM_EDDSA:
        return "CKM_EDDSA";
    default:
        return "CKM_?";
    }
}
