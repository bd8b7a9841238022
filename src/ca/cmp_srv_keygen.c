/* CMP server: central key generation (RFC 9483 4.1.6, RFC 9810 5.2.8): the key pair for a
 * template without a public key, and the EncryptedKey that carries it to the client. The key
 * exists only in memory (freed, and so cleared, with the request); only its certificate is
 * stored. */
#include "cmp_srv.h"
#include "pkie/cmp_envkey.h"
#include "pkie/error.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OID_EC      "1.2.840.10045.2.1"
#define OID_P256    "1.2.840.10045.3.1.7"
#define OID_P384    "1.3.132.0.34"
#define OID_RSA     "1.2.840.113549.1.1.1"
#define OID_ED25519 "1.3.101.112"

static int oid_is(const uint8_t *oid, size_t len, const char *text)
{
    uint8_t want[32];
    size_t n = 0;
    return pkie_der_oid_from_text(text, want, sizeof(want), &n) == 0 &&
           pkie_der_oid_equal(oid, len, want, n);
}

int srv_keygen_wanted(const struct pkie_crmf_template *t)
{
    if (!(t->present & PKIE_CRMF_T_PUBLICKEY))
        return 1;
    /* publicKey with the algorithm only: subjectPublicKey an empty BIT STRING */
    struct pkie_der d;
    const uint8_t *bits = NULL;
    size_t n = 0;
    unsigned unused = 0;
    pkie_der_init(&d, t->publicKey.p, t->publicKey.len);
    int wanted = pkie_der_skip(&d) == 0 &&
                 pkie_der_read_bit_string(&d, PKIE_DER_BIT_STRING, &bits, &n, &unused) == 0 &&
                 pkie_der_finish(&d) == 0 && n == 0;
    pkie_err_clear();
    return wanted;
}

/* Is @p type one of the comma-separated @p list? */
static int listed(const char *list, const char *type)
{
    size_t l = strlen(type);
    for (const char *p = list; p != NULL && *p != '\0';
         p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, type, l) == 0 && (p[l] == ',' || p[l] == '\0'))
            return 1;
    return 0;
}

/* The pkie_ca_key_generate name for the template's AlgorithmIdentifier (into @p buf), or
 * the profile's default when the template has none. */
static int key_type(const struct srv_req *r, const struct pkie_crmf_template *t, char *buf,
                    size_t cap)
{
    const char *list = r->profile->keygen;
    const char *comma = strchr(list, ',');
    size_t first = comma != NULL ? (size_t)(comma - list) : strlen(list);
    if (!(t->present & PKIE_CRMF_T_PUBLICKEY)) {
        snprintf(buf, cap, "%.*s", (int)first, list);
        return 0;
    }
    struct pkie_der d, alg;
    const uint8_t *oid = NULL, *param = NULL;
    size_t oid_len = 0, param_len = 0;
    pkie_der_init(&d, t->publicKey.p, t->publicKey.len);
    if (pkie_der_enter(&d, PKIE_DER_SEQUENCE, &alg) != 0 ||
        pkie_der_read_oid(&alg, PKIE_DER_OID, &oid, &oid_len) != 0)
        return PKIE_ERR(PKIE_ERR_CMP_DECODE, "template publicKey algorithm unreadable");
    if (oid_is(oid, oid_len, OID_EC)) {
        if (pkie_der_read_oid(&alg, PKIE_DER_OID, &param, &param_len) != 0)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "EC algorithm without a named curve");
        if (oid_is(param, param_len, OID_P256))
            snprintf(buf, cap, "ec:P-256");
        else if (oid_is(param, param_len, OID_P384))
            snprintf(buf, cap, "ec:P-384");
        else
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "central key generation: curve not offered");
    } else if (oid_is(oid, oid_len, OID_ED25519)) {
        snprintf(buf, cap, "ed25519");
    } else if (oid_is(oid, oid_len, OID_RSA)) {
        const char *p = strstr(list, "rsa:");
        if (p == NULL)
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "central key generation: RSA not offered");
        size_t l = strcspn(p, ",");
        snprintf(buf, cap, "%.*s", (int)l, p);
    } else {
        char text[PKIE_DER_OID_TEXT_MAX];
        if (pkie_der_oid_to_text(oid, oid_len, text, sizeof(text)) != 0)
            snprintf(text, sizeof(text), "?");
        pkie_err_clear();
        return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY, "central key generation of %s keys not offered",
                        text);
    }
    if (!listed(list, buf))
        return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY,
                        "central key generation of %s keys not offered by profile %s", buf,
                        r->profile->name);
    return 0;
}

/* SubjectPublicKeyInfo *contents* of a generated EC key (malloc'd), so that the certificate
 * takes them as they are instead of X509_set_pubkey's encoder (0.2 ms in OpenSSL 3.0); NULL
 * for other key types (the issuer then encodes the key). */
static uint8_t *ec_spki(EVP_PKEY *key, const char *type, size_t *len)
{
    const char *curve = strcmp(type, "ec:P-256") == 0   ? OID_P256
                        : strcmp(type, "ec:P-384") == 0 ? OID_P384
                                                        : NULL;
    uint8_t pub[1 + 2 * 48];
    size_t pub_len = 0;
    uint8_t *out = NULL;
    if (curve == NULL || EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                                         sizeof(pub), &pub_len) != 1)
        return NULL;
    struct pkie_derw w;
    pkie_derw_init(&w, 1024);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_EC);
    pkie_derw_oid_text(&w, PKIE_DER_OID, curve);
    pkie_derw_end(&w);
    pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, pub, pub_len, 0);
    if (pkie_derw_steal(&w, &out, len) != 0)
        out = NULL;
    pkie_derw_free(&w);
    pkie_err_clear();
    return out;
}

/* Domain parameters of P-256 and P-384, made once: a key generated from them copies the
 * group instead of building it from the curve's name (half of EVP_PKEY_Q_keygen's 0.3 M
 * instructions, bench/README.md). Shared read-only by the request threads. */
static EVP_PKEY *ec_params[2];
static pthread_once_t ec_params_once = PTHREAD_ONCE_INIT;

static void ec_params_init(void)
{
    static const char *const curves[2] = {"P-256", "P-384"};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                           (char *)(uintptr_t)curves[i], 0),
                          OSSL_PARAM_construct_end()};
        if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
            EVP_PKEY_fromdata(c, &ec_params[i], EVP_PKEY_KEY_PARAMETERS, p) != 1)
            ec_params[i] = NULL; /* pkie_ca_key_generate then */
        EVP_PKEY_CTX_free(c);
    }
    ERR_clear_error();
}

/* A new key of pkie_ca_key_generate's @p type. */
static EVP_PKEY *generate(const char *type)
{
    int i = strcmp(type, "ec:P-256") == 0 ? 0 : strcmp(type, "ec:P-384") == 0 ? 1 : -1;
    EVP_PKEY *k = NULL;
    if (i >= 0 && pthread_once(&ec_params_once, ec_params_init) == 0 && ec_params[i] != NULL) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ec_params[i], NULL);
        if (c == NULL || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1) {
            EVP_PKEY_free(k);
            k = NULL;
        }
        EVP_PKEY_CTX_free(c);
        if (k != NULL)
            return k;
        ERR_clear_error();
    }
    return pkie_ca_key_generate(type);
}

int srv_keygen(struct srv_req *r, const struct pkie_crmf_template *t, EVP_PKEY **key,
               uint8_t **spki, size_t *spki_len, uint8_t **env, size_t *env_len, int *failbit)
{
    char type[32];
    int allow = 0;
    *key = NULL;
    *env = NULL;
    *spki = NULL;
    if (r->profile->keygen == NULL || r->profile->keygen[0] == '\0') {
        *failbit = PKIE_CMP_FI_badCertTemplate;
        return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY,
                        "template without a public key: profile %s offers no central key "
                        "generation",
                        r->profile->name);
    }
    if (!r->have_client || pkie_ca_store_keygen_get(r->srv->store, r->client.ref, &allow) != 0 ||
        !allow) {
        *failbit = PKIE_CMP_FI_notAuthorized;
        return PKIE_ERR(PKIE_ERR_CA_POLICY_PROFILE,
                        "template without a public key: central key generation is not granted "
                        "to this client");
    }
    if (r->is_mac != 1) {
        int id = r->signer != NULL ? EVP_PKEY_get_base_id(X509_get0_pubkey(r->signer)) : 0;
        if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
            *failbit = PKIE_CMP_FI_badRequest;
            return PKIE_ERR(PKIE_ERR_CA_POLICY_KEY,
                            "central key generation: the key cannot be encrypted to the "
                            "signer's %s certificate (RSA or EC needed)",
                            id != 0 ? OBJ_nid2sn(id) : "missing");
        }
    }
    int rc = key_type(r, t, type, sizeof(type));
    if (rc != 0) {
        *failbit = PKIE_CMP_FI_badAlg;
        return rc;
    }
    if ((*key = generate(type)) == NULL) {
        *failbit = PKIE_CMP_FI_systemFailure;
        return pkie_err_last()->code;
    }
    *spki = ec_spki(*key, type, spki_len);
    /* the SignedData carries the KGA certificate alone: its issuer is in the answer's
     * extraCerts (the CMP signer's chain, or for a MAC the chain of the new certificate), so
     * the client does not decode it twice */
    struct pkie_cmp_envkey_kga kga = {r->srv->kga, r->srv->kga_key, NULL};
    struct pkie_cmp_envkey_recipient to = {0};
    if (r->is_mac == 1) {
        to.secret = r->client.secret;
        to.secret_len = r->client.secret_len;
    } else {
        to.cert = r->signer;
    }
    if ((rc = pkie_cmp_envkey_seal(*key, &kga, &to, env, env_len)) != 0) {
        *failbit = PKIE_CMP_FI_systemFailure;
        EVP_PKEY_free(*key);
        *key = NULL;
        free(*spki);
        *spki = NULL;
    }
    return rc;
}
