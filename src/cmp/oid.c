/* Object identifiers used by the CMP layer, as DER contents bytes, and the
 * algorithm tables of protection (digests, HMACs, signatures). */
#include "cmp_local.h"

#include <openssl/crypto.h>
#include <strings.h>

#define OID(name, ...)                                                                             \
    static const uint8_t name##_b[] = {__VA_ARGS__};                                               \
    const struct cmp_oid cmp_oid_##name = {name##_b, sizeof(name##_b)}

/* id-it (1.3.6.1.5.5.7.4) */
OID(implicitConfirm, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x04, 0x0D);
OID(confirmWaitTime, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x04, 0x0E);
OID(certProfile, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x04, 0x15);
/* id-regCtrl (1.3.6.1.5.5.7.5.1) */
OID(regToken, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x01);
OID(authenticator, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x02);
OID(oldCertID, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x05);
/* protection */
OID(pbm, 0x2A, 0x86, 0x48, 0x86, 0xF6, 0x7D, 0x07, 0x42, 0x0D);
OID(pbmac1, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0E);
OID(pbkdf2, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C);
OID(rsassa_pss, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A);
OID(mgf1, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08);
OID(ed25519, 0x2B, 0x65, 0x70);
OID(ed448, 0x2B, 0x65, 0x71);
/* digests */
OID(sha1, 0x2B, 0x0E, 0x03, 0x02, 0x1A);
OID(sha224, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04);
OID(sha256, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01);
OID(sha384, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02);
OID(sha512, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03);
/* HMACs */
OID(hmac_sha1_ipsec, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x08, 0x01, 0x02);
OID(hmac_sha1, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x07);
OID(hmac_sha224, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x08);
OID(hmac_sha256, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09);
OID(hmac_sha384, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x0A);
OID(hmac_sha512, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x0B);
/* signatures */
OID(rsa_sha1, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05);
OID(rsa_sha224, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0E);
OID(rsa_sha256, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B);
OID(rsa_sha384, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C);
OID(rsa_sha512, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D);
OID(ecdsa_sha1, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01);
OID(ecdsa_sha224, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x01);
OID(ecdsa_sha256, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02);
OID(ecdsa_sha384, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03);
OID(ecdsa_sha512, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04);

struct md_entry {
    const char *md;
    const struct cmp_oid *oid;
};

static const struct md_entry digests[] = {
    {"SHA1", &cmp_oid_sha1},     {"SHA224", &cmp_oid_sha224}, {"SHA256", &cmp_oid_sha256},
    {"SHA384", &cmp_oid_sha384}, {"SHA512", &cmp_oid_sha512},
};

static const struct md_entry hmacs[] = {
    {"SHA1", &cmp_oid_hmac_sha1},     {"SHA1", &cmp_oid_hmac_sha1_ipsec},
    {"SHA224", &cmp_oid_hmac_sha224}, {"SHA256", &cmp_oid_hmac_sha256},
    {"SHA384", &cmp_oid_hmac_sha384}, {"SHA512", &cmp_oid_hmac_sha512},
};

struct sig_entry {
    int kind;
    const char *md;
    const struct cmp_oid *oid;
};

static const struct sig_entry sigs[] = {
    {CMP_SIG_RSA, "SHA256", &cmp_oid_rsa_sha256},
    {CMP_SIG_RSA, "SHA384", &cmp_oid_rsa_sha384},
    {CMP_SIG_RSA, "SHA512", &cmp_oid_rsa_sha512},
    {CMP_SIG_RSA, "SHA224", &cmp_oid_rsa_sha224},
    {CMP_SIG_RSA, "SHA1", &cmp_oid_rsa_sha1},
    {CMP_SIG_ECDSA, "SHA256", &cmp_oid_ecdsa_sha256},
    {CMP_SIG_ECDSA, "SHA384", &cmp_oid_ecdsa_sha384},
    {CMP_SIG_ECDSA, "SHA512", &cmp_oid_ecdsa_sha512},
    {CMP_SIG_ECDSA, "SHA224", &cmp_oid_ecdsa_sha224},
    {CMP_SIG_ECDSA, "SHA1", &cmp_oid_ecdsa_sha1},
    {CMP_SIG_RSA_PSS, NULL, &cmp_oid_rsassa_pss},
    {CMP_SIG_ED25519, NULL, &cmp_oid_ed25519},
    {CMP_SIG_ED448, NULL, &cmp_oid_ed448},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int oid_eq(const struct cmp_oid *o, const uint8_t *p, size_t len)
{
    return o->len == len && memcmp(o->p, p, len) == 0;
}

const char *cmp_oid_digest(const uint8_t *oid, size_t len)
{
    for (size_t i = 0; i < N(digests); i++)
        if (oid_eq(digests[i].oid, oid, len))
            return digests[i].md;
    return NULL;
}

const char *cmp_oid_hmac(const uint8_t *oid, size_t len)
{
    for (size_t i = 0; i < N(hmacs); i++)
        if (oid_eq(hmacs[i].oid, oid, len))
            return hmacs[i].md;
    return NULL;
}

static const struct cmp_oid *by_name(const struct md_entry *t, size_t n, const char *md)
{
    if (md == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(t[i].md, md) == 0 ||
            (strncasecmp(md, "SHA-", 4) == 0 && strcasecmp(t[i].md + 3, md + 4) == 0))
            return t[i].oid;
    return NULL;
}

const struct cmp_oid *cmp_oid_for_digest(const char *md)
{
    return by_name(digests, N(digests), md);
}

const struct cmp_oid *cmp_oid_for_hmac(const char *md)
{
    return by_name(hmacs, N(hmacs), md);
}

int cmp_oid_sig(const uint8_t *oid, size_t len, int *kind, const char **md)
{
    for (size_t i = 0; i < N(sigs); i++)
        if (oid_eq(sigs[i].oid, oid, len)) {
            *kind = sigs[i].kind;
            *md = sigs[i].md;
            return 0;
        }
    return PKIE_ERR(PKIE_ERR_CMP_PROT_ALG, "unknown signature algorithm");
}

const struct cmp_oid *cmp_oid_for_sig(int kind, const char *md)
{
    for (size_t i = 0; i < N(sigs); i++) {
        if (sigs[i].kind != kind)
            continue;
        if (sigs[i].md == NULL || (md != NULL && strcasecmp(sigs[i].md, md) == 0))
            return sigs[i].oid;
    }
    return NULL;
}

int cmp_algid_split(const struct pkie_cmp_bytes *algid, struct pkie_cmp_bytes *oid,
                    struct pkie_cmp_bytes *params)
{
    struct pkie_der d, in;
    pkie_der_init(&d, algid->p, algid->len);
    int r = pkie_der_enter(&d, PKIE_DER_SEQUENCE, &in);
    if (r == 0)
        r = pkie_der_read_oid(&in, PKIE_DER_OID, &oid->p, &oid->len);
    if (r != 0)
        return r;
    params->p = NULL;
    params->len = 0;
    if (!pkie_der_at_end(&in)) {
        struct pkie_der_tlv t;
        r = pkie_der_read_tlv(&in, &t);
        if (r != 0)
            return r;
        params->p = t.tlv;
        params->len = t.tlv_len;
    }
    return pkie_der_finish(&in);
}

/* ---- fetched digests --------------------------------------------------------- */

static EVP_MD *fetched[sizeof(digests) / sizeof(digests[0])];
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;

static void fetch_digests(void)
{
    for (size_t i = 0; i < N(digests); i++)
        fetched[i] = EVP_MD_fetch(NULL, digests[i].md, NULL);
}

const EVP_MD *cmp_md(const char *name)
{
    if (name == NULL || !CRYPTO_THREAD_run_once(&fetch_once, fetch_digests))
        return NULL;
    for (size_t i = 0; i < N(digests); i++)
        if (strcmp(digests[i].md, name) == 0 && fetched[i] != NULL)
            return fetched[i];
    return EVP_get_digestbyname(name);
}
