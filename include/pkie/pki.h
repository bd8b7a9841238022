/*
 * pkie internal PKI base (src/pki).
 *
 * The base is one SQLite file (created mode 0600, WAL journal, foreign keys
 * on, a schema_version table) that holds certificates by id (type root,
 * inter or user), their private keys encrypted at rest with the PKI password
 * (PKCS#8 EncryptedPrivateKeyInfo, PBES2 AES-256-CBC + PBKDF2-HMAC-SHA256),
 * and CRLs. See docs/pki-base.md.
 *
 * Two handles:
 *  - struct pkie_pki: an immutable in-memory snapshot loaded by
 *    pkie_pki_open (X509 objects, an X509_STORE of the CAs with their CRLs,
 *    private keys decrypted once). Every runtime call (get_chain,
 *    get_ca_names, verify_chain, sign) reads only the snapshot and is safe to
 *    call from many threads at once; none touches SQLite.
 *  - struct pkie_pki_store: a writable handle on the file for management
 *    (import, delete, CRL import), used by `pkie pki`. Changes are seen by
 *    snapshots opened afterwards.
 *
 * Runtime contract with src/exit: /work/notes/pki-exit-contract.md.
 */
#ifndef PKIE_PKI_H
#define PKIE_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <time.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default PBKDF2-HMAC-SHA256 iteration count for new keys and the password check. */
#define PKIE_PKI_KDF_ITER_DEFAULT 600000u
/** Smallest iteration count accepted (tests use it to stay quick). */
#define PKIE_PKI_KDF_ITER_MIN     10000u
/** Longest certificate id (bytes); ids are [A-Za-z0-9._:@-], 1..64 characters. */
#define PKIE_PKI_ID_MAX           64
/** Longest chain get_chain / verify_chain will build. */
#define PKIE_PKI_CHAIN_MAX        10

/** Type of a certificate of the base. */
enum pkie_pki_type {
    PKIE_PKI_TYPE_DETECT = 0, /**< on import: detect from the certificate */
    PKIE_PKI_ROOT = 1,        /**< self-signed CA: a trust anchor */
    PKIE_PKI_INTER = 2,       /**< CA certified by another CA */
    PKIE_PKI_USER = 3,        /**< end entity (our certificate or a partner's) */
};

/** An open PKI base: an immutable in-memory snapshot of the SQLite file, safe to
 *  share between threads. */
struct pkie_pki;

/**
 * Open the base at @p path (SQLite file, created 0600 if @p create and it does
 * not exist) and load its snapshot. @p password: the PKI password that decrypts
 * private keys (NULL: keys are unavailable; get_chain with a key and sign then
 * fail with PKIE_ERR_PKI_NO_KEY). A wrong password fails with
 * PKIE_ERR_PKI_PASSWORD; a file that is not a PKI base with PKIE_ERR_PKI_CORRUPT.
 */
int pkie_pki_open(const char *path, const char *password, int create, struct pkie_pki **out);
/** Free the snapshot (keys are wiped by OpenSSL on free). NULL is accepted. */
void pkie_pki_close(struct pkie_pki *pki);

/** Security profile of a session, as StartHandshake carries it (the exit may change it). */
struct pkie_pki_profile {
    const char *cert_id;           /**< id of our certificate (with key) to present */
    const char *const *ca_ids;     /**< ids of the root/intermediate CAs we accept
                                        (trust anchors) */
    size_t n_ca_ids;               /**< number of entries of ca_ids */
    int verify_depth;              /**< max chain depth, e.g. 4: as OpenSSL's
                                        X509_VERIFY_PARAM_set_depth, the number of
                                        intermediate CAs allowed between the leaf and
                                        the trust anchor, 1..10 (configuration
                                        files refuse 0; through this API a value
                                        <= 0 means 4, above 10 means 10) */
    const char *const *dn_filters; /**< accepted peer subject DN patterns (RFC 4514
                                        text, '*' wildcard per attribute value);
                                        none = any */
    size_t n_dn_filters;           /**< number of entries of dn_filters */
    int peer_role;                 /**< what the peer is in the TLS session, for the
                                        purpose check (keyUsage, extendedKeyUsage) of
                                        its chain: PKIE_PKI_PEER_CLIENT (we are the
                                        server), PKIE_PKI_PEER_SERVER, or
                                        PKIE_PKI_PEER_ANY (0): the leaf must be fit for
                                        one of the two */
};

/** Values of pkie_pki_profile.peer_role. */
enum pkie_pki_peer_role {
    PKIE_PKI_PEER_ANY = 0,    /**< TLS client or server authentication */
    PKIE_PKI_PEER_CLIENT = 1, /**< TLS client authentication (OpenSSL's "sslclient") */
    PKIE_PKI_PEER_SERVER = 2, /**< TLS server authentication (OpenSSL's "sslserver") */
};

/**
 * GetCertificate: chain for @p cert_id, leaf first, then the intermediates of
 * the base up to (not including) the self-signed root, as TLS sends it. Caller
 * frees with OSSL_STACK_OF_X509_free or sk_X509_pop_free(.., X509_free).
 * @p key: when not NULL, receives the private key (EVP_PKEY_free); fails with
 * PKIE_ERR_PKI_NO_KEY when the certificate has none or the base was opened
 * without password. Unknown id: PKIE_ERR_PKI_UNKNOWN_ID.
 */
int pkie_pki_get_chain(struct pkie_pki *pki, const char *cert_id, STACK_OF(X509) **chain,
                       EVP_PKEY **key);

/**
 * GetCAList: subject names of the CAs in @p ids (caller frees:
 * sk_X509_NAME_pop_free(.., X509_NAME_free)). An unknown id or an id that is
 * not a root/inter fails (PKIE_ERR_PKI_UNKNOWN_ID / PKIE_ERR_PKI_TYPE).
 */
int pkie_pki_get_ca_names(struct pkie_pki *pki, const char *const *ids, size_t n,
                          STACK_OF(X509_NAME) **names);

/**
 * CheckCertificate: verify a peer chain (leaf first) against the profile's CA
 * ids (trust anchors; an intermediate listed there is an anchor too), depth,
 * DN filters (on the leaf subject), validity and the base's CRLs (checked for
 * every issuer the base has a CRL of). Returns 0 when accepted; on refusal a
 * negative PKIE_ERR_PKI_CERT_* and *alert = the TLS alert code:
 *   42 bad_certificate (PKIE_ERR_PKI_CERT_BAD): malformed, bad signature, not
 *      yet valid, not usable for its purpose, bad extensions;
 *   44 certificate_revoked (PKIE_ERR_PKI_CERT_REVOKED);
 *   45 certificate_expired (PKIE_ERR_PKI_CERT_EXPIRED), also an expired CRL;
 *   48 unknown_ca (PKIE_ERR_PKI_CERT_UNKNOWN_CA): no path to an anchor of the
 *      profile, chain longer than verify_depth, issuer not a CA;
 *   49 access_denied (PKIE_ERR_PKI_CERT_DENIED): DN filter mismatch;
 *   46 certificate_unknown (PKIE_ERR_PKI_CERT_UNKNOWN) otherwise.
 * Invalid arguments (NULL pki, profile or chain, empty chain): PKIE_ERR_ARG
 * and *alert = 80 internal_error. CA ids the base does not hold (or that are
 * not CAs) are skipped; with no anchor left every chain is refused with 48.
 * Thread-safe; touches no file.
 */
int pkie_pki_verify_chain(struct pkie_pki *pki, const struct pkie_pki_profile *prof,
                          STACK_OF(X509) *peer_chain, int *alert);

/**
 * CryptData: sign @p tbs with the key of @p cert_id (EVP_PKEY_sign semantics:
 * @p tbs is the digest for RSA/ECDSA (made with @p md; for RSA @p rsa_padding
 * is RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING with salt length = digest
 * length, MGF1 with @p md), or the message itself for Ed25519/Ed448 (@p md
 * and @p rsa_padding ignored). @p sig has capacity *@p sig_len on input;
 * *@p sig_len is the signature length on output. @p sig NULL: only the
 * maximum length is returned in *@p sig_len.
 */
int pkie_pki_sign(struct pkie_pki *pki, const char *cert_id, const EVP_MD *md, int rsa_padding,
                  const unsigned char *tbs, size_t tbs_len, unsigned char *sig, size_t *sig_len);

/* ---- read access to the snapshot (CLI, diagnostics) ---------------------- */

/** One certificate of a snapshot; every field is owned by the snapshot. */
struct pkie_pki_entry {
    const char *id;          /**< unique id */
    enum pkie_pki_type type; /**< root, inter or user */
    X509 *cert;              /**< the certificate (do not free; X509_up_ref to keep) */
    int has_key;             /**< 1 when the base holds a private key for it */
    const char *subject;     /**< subject, RFC 4514 text */
    const char *issuer;      /**< issuer, RFC 4514 text */
    const char *serial;      /**< serial number, hexadecimal */
    const char *not_before;  /**< "YYYY-MM-DDTHH:MM:SSZ" */
    const char *not_after;   /**< "YYYY-MM-DDTHH:MM:SSZ" */
    const char *sha256;      /**< SHA-256 fingerprint of the DER, lower-case hex */
};

/** Number of certificates in the snapshot. */
size_t pkie_pki_count(const struct pkie_pki *pki);
/** The @p i-th certificate (ordered by id), NULL when out of range. */
const struct pkie_pki_entry *pkie_pki_entry_at(const struct pkie_pki *pki, size_t i);
/** The certificate with @p id, NULL when none (no error recorded). */
const struct pkie_pki_entry *pkie_pki_find(const struct pkie_pki *pki, const char *id);
/** Number of CRLs in the snapshot. */
size_t pkie_pki_crl_count(const struct pkie_pki *pki);
/** The @p i-th CRL (owned by the snapshot), NULL when out of range. */
X509_CRL *pkie_pki_crl_at(const struct pkie_pki *pki, size_t i);

/**
 * Verify the certificate @p id of the base against the base itself: trust
 * anchors are all its roots, intermediates come from the base, CRLs apply as
 * in verify_chain, depth PKIE_PKI_CHAIN_MAX. Returns 0 or a PKIE_ERR_PKI_CERT_*
 * code with *@p alert as verify_chain; @p detail (capacity @p cap, may be NULL)
 * receives OpenSSL's verification message.
 */
int pkie_pki_check(struct pkie_pki *pki, const char *id, int *alert, char *detail, size_t cap);

/* ---- management (writable handle on the file) ---------------------------- */

/** A writable handle on the base file (not thread-safe; one user at a time). */
struct pkie_pki_store;

/**
 * Open the base file at @p path for changes (created 0600 if @p create).
 * @p password: needed to add keys; checked against the base's password
 * verifier when the base has one (PKIE_ERR_PKI_PASSWORD); the first key stored
 * creates the verifier, so that every key of a base has the same password.
 * NULL: certificates and CRLs only.
 */
int pkie_pki_store_open(const char *path, const char *password, int create,
                        struct pkie_pki_store **out);
/** Close the handle (wipes the password copy). NULL is accepted. */
void pkie_pki_store_close(struct pkie_pki_store *st);
/** PBKDF2 iteration count for keys added from now on (>= PKIE_PKI_KDF_ITER_MIN). */
int pkie_pki_store_set_kdf_iter(struct pkie_pki_store *st, unsigned iter);
/**
 * Add certificate @p cert under @p id with @p type (PKIE_PKI_TYPE_DETECT:
 * self-signed CA -> root, other CA -> inter, else user; an explicit type that
 * contradicts the certificate fails with PKIE_ERR_PKI_TYPE) and, if not NULL,
 * its private key @p key (must match: PKIE_ERR_PKI_KEY_MISMATCH; needs the
 * password: PKIE_ERR_PKI_NO_PASSWORD). Duplicate id: PKIE_ERR_PKI_DUPLICATE_ID.
 * @p type_out (may be NULL) receives the type stored.
 */
int pkie_pki_store_add(struct pkie_pki_store *st, const char *id, enum pkie_pki_type type,
                       X509 *cert, EVP_PKEY *key, enum pkie_pki_type *type_out);
/**
 * Checks before importing @p cert as @p type (PKIE_PKI_TYPE_DETECT: as
 * pkie_pki_store_add would store it): valid at @p now (else
 * PKIE_ERR_PKI_VALIDITY: expired or not yet valid) and, for a user
 * certificate, issued by a CA of the base whose key verifies its signature
 * (else PKIE_ERR_PKI_NO_ISSUER). The message says why. `pkie pki import`
 * refuses on these unless --force.
 */
int pkie_pki_store_import_check(struct pkie_pki_store *st, X509 *cert, enum pkie_pki_type type,
                                time_t now);
/** Delete certificate @p id and its key (PKIE_ERR_PKI_UNKNOWN_ID if none). */
int pkie_pki_store_delete(struct pkie_pki_store *st, const char *id);
/**
 * Add a CRL. Its issuer must be a CA of the base whose key verifies the CRL's
 * signature (PKIE_ERR_PKI_CRL_ISSUER). It replaces an older CRL of the same
 * issuer; an older one than the one held is refused (PKIE_ERR_EXISTS).
 */
int pkie_pki_store_add_crl(struct pkie_pki_store *st, X509_CRL *crl);

/** "root", "inter", "user" (or "?"). */
const char *pkie_pki_type_name(enum pkie_pki_type type);
/** Parse "root"/"inter"/"user"; returns PKIE_ERR_ARG on anything else. */
int pkie_pki_type_parse(const char *s, enum pkie_pki_type *out);
/** The type a certificate would be detected as (see pkie_pki_store_add). */
enum pkie_pki_type pkie_pki_type_detect(X509 *cert);
/** 0 when @p id is a valid id, PKIE_ERR_PKI_BAD_ID otherwise. */
int pkie_pki_id_check(const char *id);

/* ---- DN filters, for exits that apply the host's profile themselves ---- */

/** RFC 4514 text of @p name, as DN filters are matched against (UTF-8,
 *  malloc'd: free()), NULL on failure. */
char *pkie_pki_name_text(const X509_NAME *name);
/** 1 when the RFC 4514 text @p subject matches the DN filter @p pattern
 *  ('*' matches one attribute value), else 0. */
int pkie_pki_dn_match(const char *pattern, const char *subject);

#ifdef __cplusplus
}
#endif
#endif
