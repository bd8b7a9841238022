/* Internal interfaces of src/exit (not installed). */
#ifndef PKIE_EXIT_INT_H
#define PKIE_EXIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cftpkie.h"

/* ---- loader (loader.c) ---------------------------------------------------- */

/** A loaded exit library. */
struct pkie_exit {
    void *handle;                   /**< dlopen handle (never closed) */
    int (*fn)(struct pkicom *zpki); /**< the cftpkie symbol */
    char name[64];                  /**< base name of the library, for log lines */
};

/** dlopen(@p path, RTLD_NOW|RTLD_LOCAL) and resolve cftpkie. */
int pkie_exit_load(const char *path, struct pkie_exit **out);
/** Free the descriptor (the library stays mapped). */
void pkie_exit_unload(struct pkie_exit *x);
/** Name of a phase ("StartTask", ...; "?" for others). */
const char *pkie_exit_phase_name(uint32_t phase);
/**
 * Call the exit for @p phase: set the header of @p z (size, ABI, phase), reset
 * error_text, call, and normalise the answer: CFTPKIE_HANDLED,
 * CFTPKIE_NOT_HANDLED or CFTPKIE_ERROR (any other value). On CFTPKIE_ERROR
 * logs a line naming the exit, the phase and its error text.
 */
int pkie_exit_call(const struct pkie_exit *x, struct pkicom *z, uint32_t phase);
/** The first half of pkie_exit_call: the header set, error_text reset. */
void pkie_exit_call_prepare(struct pkicom *z, uint32_t phase);
/** The second half: the header restored, @p rc (what the exit returned)
 *  normalised and an error logged. */
int pkie_exit_answer(const struct pkie_exit *x, struct pkicom *z, uint32_t phase, int rc);
/** pkie_exit_answer without a pkicom: @p text (@p cap bytes) is the exit's
 *  error_text as it left it. */
int pkie_exit_answer_text(const struct pkie_exit *x, uint32_t phase, int rc, const char *text,
                          size_t cap);

/* ---- validation of what an exit returns (validate.c) ---------------------- */

/** Alert codes an exit may ask for when refusing a peer (CheckCertificate). */
int pkie_exit_alert_allowed(uint32_t code);
/** Error text NUL-terminated within capacity (0) or PKIE_ERR_EXIT_ANSWER. */
int pkie_exit_check_text(const char *text, size_t cap);
/** StartTask outputs: ABI, mask, private area size. */
int pkie_exit_check_start_task(const struct pkicom *z, uint32_t *mask, uint32_t *area_size);

/** A copy of the session profile, owned (strings inside the struct). */
struct pkie_exit_profile {
    char cert_id[CFTPKIE_ID_CAP];
    uint32_t n_ca_ids;
    char ca_ids[CFTPKIE_CA_IDS_MAX][CFTPKIE_ID_CAP];
    int32_t verify_depth;
    uint32_t n_dn_filters;
    char dn_filters[CFTPKIE_DN_FILTERS_MAX][CFTPKIE_NAME_CAP];
};
/** StartHandshake outputs: a profile that is well formed (texts terminated,
 *  counts within capacity, depth 1..CFTPKIE_CHAIN_MAX). */
int pkie_exit_check_profile(const struct pkicom *z, struct pkie_exit_profile *out);
/** GetCertificate outputs: 1..CHAIN_MAX certificates, lengths within capacity,
 *  each exactly one DER certificate. *@p chain: leaf first. */
int pkie_exit_check_chain(const struct pkicom *z, STACK_OF(X509) **chain);
/** GetCAList outputs: 0..CA_NAMES_MAX DER Names within capacity. */
int pkie_exit_check_ca_names(const struct pkicom *z, STACK_OF(X509_NAME) **names);
/** CheckCertificate outputs: *@p accept 1 or 0; on refusal *@p alert from the
 *  allowed list (0 becomes 42). An unknown alert code is an invalid answer. */
int pkie_exit_check_verdict(const struct pkicom *z, int *accept, int *alert);

/** What a signature is over (CryptData inputs). */
struct pkie_exit_sign_req {
    uint32_t alg;       /**< CFTPKIE_SIGN_* */
    const EVP_MD *md;   /**< digest (NULL for Ed25519) */
    const uint8_t *tbs; /**< digest or message */
    size_t tbs_len;     /**< its length */
};
/**
 * CryptData outputs: either a signature (1..SIG_CAP bytes) that verifies with
 * @p leaf_pub over @p req, or a PKCS#8 key (1..KEY_CAP bytes) that parses and
 * matches @p leaf_pub, with which the host signs. The signature lands in
 * @p sig (capacity *@p sig_len, set to the length). Wipes z->key.
 */
int pkie_exit_check_signature(struct pkicom *z, EVP_PKEY *leaf_pub,
                              const struct pkie_exit_sign_req *req, uint8_t *sig, size_t *sig_len);
/** A PKCS#8 key an exit returned, kept parsed by its task (the same bytes
 *  are not parsed again). */
struct pkie_exit_keycache {
    uint8_t *der;      /**< the DER bytes (wiped on change and free) */
    size_t len;        /**< their length */
    EVP_PKEY *key;     /**< the parsed key */
    EVP_PKEY *matched; /**< a leaf key @c key was found equal to (a reference), NULL: none */
};
/**
 * A verification context a task keeps for the leaf key it last checked an
 * exit's signature with: the same key, algorithm and digest reuse it instead
 * of building one per signature. Only a successful verification leaves it set.
 */
struct pkie_exit_verifier {
    EVP_PKEY *pub;     /**< the key (a reference), NULL: empty */
    uint32_t alg;      /**< CFTPKIE_SIGN_* it was set up for */
    int md_type;       /**< NID of its digest */
    EVP_PKEY_CTX *ctx; /**< initialised for verification (key, padding, digest) */
};
/** As pkie_exit_check_signature, with a key cache and a verifier (NULL: none). */
int pkie_exit_check_signature_cached(struct pkicom *z, EVP_PKEY *leaf_pub,
                                     const struct pkie_exit_sign_req *req, uint8_t *sig,
                                     size_t *sig_len, struct pkie_exit_keycache *kc,
                                     struct pkie_exit_verifier *v);
/** Free the cached key and wipe its bytes. */
void pkie_exit_keycache_clear(struct pkie_exit_keycache *kc);
/** As pkie_exit_verify_sig, reusing @p v (NULL: none) when it was set up for
 *  the same key, algorithm and digest. */
int pkie_exit_verify_sig_with(struct pkie_exit_verifier *v, EVP_PKEY *pub,
                              const struct pkie_exit_sign_req *req, const uint8_t *sig,
                              size_t sig_len);
/** Free the verifier's context and key reference. */
void pkie_exit_verifier_clear(struct pkie_exit_verifier *v);
/** Sign @p req with @p key (host side, for a PKCS#8 answer or a fallback key). */
int pkie_exit_sign_with_key(EVP_PKEY *key, const struct pkie_exit_sign_req *req, uint8_t *sig,
                            size_t *sig_len);
/** Verify @p sig over @p req with @p pub: 0 when it verifies. */
int pkie_exit_verify_sig(EVP_PKEY *pub, const struct pkie_exit_sign_req *req, const uint8_t *sig,
                         size_t sig_len);

/** Encode @p chain into the peer_* fields (count, lengths, DER). */
int pkie_exit_put_peer_chain(struct pkicom *z, STACK_OF(X509) *chain, int leaf_only);
/** Encode @p names into the ca_names fields (client GetCertificate input). */
int pkie_exit_put_ca_names(struct pkicom *z, const STACK_OF(X509_NAME) *names);

/* ---- opaque keys: a built-in OpenSSL provider (opaque.c) ------------------ */

/**
 * Sign callback of an opaque key: @p req describes the operation; write the
 * signature to @p sig (capacity *@p sig_len) and set *@p sig_len. 0 or a
 * negative pkie_err.
 */
typedef int (*pkie_opaque_sign_fn)(void *arg, const struct pkie_exit_sign_req *req, uint8_t *sig,
                                   size_t *sig_len);
/**
 * A private key whose signatures are made by @p fn(@p arg): its public half is
 * @p pub (RSA, EC or Ed25519; up-referenced). Usable with SSL_use_cert_and_key
 * and EVP_DigestSign. RSA padding PKCS#1 v1.5 and PSS (salt = digest length).
 */
EVP_PKEY *pkie_opaque_key_new(EVP_PKEY *pub, pkie_opaque_sign_fn fn, void *arg);

#endif
