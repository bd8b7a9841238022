/* Issuance policy: the profiles (what a client registered with one may obtain) and the
 * checks of a request against its client and profile. */
#include "ca_internal.h"
#include "pkie/error.h"

#include <openssl/core_names.h>
#include <openssl/x509v3.h>
#include <string.h>

#define DAY 86400

#define KU_ALLOWED                                                                                 \
    (X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION | X509v3_KU_KEY_ENCIPHERMENT |        \
     X509v3_KU_KEY_AGREEMENT | X509v3_KU_DATA_ENCIPHERMENT)

/* Key types the CA generates for central key generation: the first is the default (announced
 * as the key specification of certReqTemplate), used when the request names no algorithm. */
#define KEYGEN_TYPES "ec:P-256,ec:P-384,rsa:3072,ed25519"

static const struct pkie_ca_profile profiles[] = {
    {.name = "default",
     .validity = 365 * DAY,
     .allow_rsa_bits = 2048,
     .allow_ec = 1,
     .allow_ed25519 = 1,
     .key_usage = KU_ALLOWED,
     .default_ku = X509v3_KU_DIGITAL_SIGNATURE,
     .ekus = "serverAuth,clientAuth,emailProtection",
     .keygen = KEYGEN_TYPES},
    {.name = "tls",
     .validity = 90 * DAY,
     .allow_rsa_bits = 2048,
     .allow_ec = 1,
     .allow_ed25519 = 1,
     .key_usage = KU_ALLOWED,
     .default_ku = X509v3_KU_DIGITAL_SIGNATURE,
     .ekus = "serverAuth,clientAuth",
     .keygen = KEYGEN_TYPES},
    {.name = "short",
     .validity = DAY,
     .allow_rsa_bits = 2048,
     .allow_ec = 1,
     .allow_ed25519 = 1,
     .key_usage = KU_ALLOWED,
     .default_ku = X509v3_KU_DIGITAL_SIGNATURE,
     .ekus = "serverAuth,clientAuth",
     .keygen = "ec:P-256"},
};

const struct pkie_ca_profile *pkie_ca_profile_find(const char *name)
{
    if (name == NULL || name[0] == '\0')
        name = "default";
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

static int key_allowed(const struct pkie_ca_profile *prof, EVP_PKEY *k)
{
    char group[64];
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
        if (prof->allow_rsa_bits == 0 || EVP_PKEY_get_bits(k) < prof->allow_rsa_bits)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "RSA key of %d bits (minimum %d)",
                            EVP_PKEY_get_bits(k), prof->allow_rsa_bits);
        return 0;
    case EVP_PKEY_EC:
        if (!prof->allow_ec)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "EC keys not allowed");
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           NULL) != 1)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "EC key without a named curve");
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0 &&
            strcmp(group, "secp521r1") != 0 && strcmp(group, "P-256") != 0 &&
            strcmp(group, "P-384") != 0 && strcmp(group, "P-521") != 0)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "EC curve %s not allowed", group);
        return 0;
    case EVP_PKEY_ED25519:
        if (!prof->allow_ed25519)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "Ed25519 not allowed");
        return 0;
    default:
        return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "key type %s not allowed",
                        OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
    }
}

static int eku_allowed(const struct pkie_ca_profile *prof, const EXTENDED_KEY_USAGE *eku)
{
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const char *sn = OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)));
        size_t l = strlen(sn);
        const char *p = prof->ekus;
        int ok = 0;
        while (!ok && (p = strstr(p, sn)) != NULL) {
            ok = (p == prof->ekus || p[-1] == ',') && (p[l] == ',' || p[l] == '\0');
            p += l;
        }
        if (!ok)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_EXT, "extendedKeyUsage %s not allowed", sn);
    }
    return 0;
}

static int ext_check(const char *san_pattern, const struct pkie_ca_profile *prof,
                     const X509_EXTENSION *ext)
{
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object((X509_EXTENSION *)(uintptr_t)ext));
    int rc = 0;
    if (nid != NID_subject_alt_name && nid != NID_basic_constraints && nid != NID_key_usage &&
        nid != NID_ext_key_usage)
        return 0; /* other extensions are dropped when the certificate is built */
    void *v = X509V3_EXT_d2i((X509_EXTENSION *)(uintptr_t)ext);
    switch (nid) {
    case NID_subject_alt_name:
        if (v == NULL)
            rc = PKIE_ERR(PKIE_ERR_CA_POLICY_EXT, "unparsable subjectAltName");
        else if (!pkie_ca_pattern_match_sans(san_pattern, v))
            rc = PKIE_ERR(PKIE_ERR_CA_POLICY_SAN, "subjectAltName outside '%s'", san_pattern);
        GENERAL_NAMES_free(v);
        break;
    case NID_basic_constraints:
        if (v == NULL || ((BASIC_CONSTRAINTS *)v)->ca)
            rc = PKIE_ERR(PKIE_ERR_CA_POLICY_EXT, "CA certificates are not issued");
        BASIC_CONSTRAINTS_free(v);
        break;
    case NID_key_usage: {
        ASN1_BIT_STRING *ku = v;
        uint32_t bits = 0;
        for (int b = 0; ku != NULL && b < 9; b++)
            if (ASN1_BIT_STRING_get_bit(ku, b))
                bits |= b < 8 ? (0x80u >> b) : 0x8000u;
        if (ku == NULL || (bits & ~prof->key_usage) != 0)
            rc = PKIE_ERR(PKIE_ERR_CA_POLICY_EXT, "keyUsage 0x%x not allowed", bits);
        ASN1_BIT_STRING_free(ku);
        break;
    }
    case NID_ext_key_usage:
        rc = v == NULL ? PKIE_ERR(PKIE_ERR_CA_POLICY_EXT, "unparsable extendedKeyUsage")
                       : eku_allowed(prof, v);
        EXTENDED_KEY_USAGE_free(v);
        break;
    default:
        break;
    }
    return rc;
}

int pkie_ca_policy_check(const struct pkie_ca_client *client, const struct pkie_ca_profile *prof,
                         const struct pkie_ca_request *req)
{
    char text[512];
    if (prof == NULL)
        return PKIE_ERR(PKIE_ERR_CA_POLICY_PROFILE, "no profile");
    if (req->pubkey == NULL)
        return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "request has no public key");
    if (req->subject == NULL || X509_NAME_entry_count(req->subject) == 0)
        return PKIE_ERR(PKIE_ERR_CA_POLICY_SUBJECT, "request has no subject");
    if (client != NULL && !pkie_ca_pattern_match_name(client->subject_pattern, req->subject)) {
        if (pkie_ca_name_text(req->subject, text, sizeof(text)) != 0)
            snprintf(text, sizeof(text), "?");
        return PKIE_ERR(PKIE_ERR_CA_POLICY_SUBJECT, "subject '%s' does not match '%s'", text,
                        client->subject_pattern);
    }
    int rc = key_allowed(prof, req->pubkey);
    if (rc != 0)
        return rc;
    if (req->not_after != 0 && req->not_before != 0 && req->not_after <= req->not_before)
        return PKIE_ERR(PKIE_ERR_CA_POLICY_VALIDITY, "notAfter before notBefore");
    for (int i = 0; i < sk_X509_EXTENSION_num(req->exts); i++) {
        const X509_EXTENSION *e = sk_X509_EXTENSION_value(req->exts, i);
        rc = ext_check(client != NULL ? client->san_pattern : "", prof, e);
        if (rc != 0)
            return rc;
    }
    return 0;
}
