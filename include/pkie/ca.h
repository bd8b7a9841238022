/*
 * pkie embedded CA: store, issuance policy, CRL and the HTTP transport.
 *
 * A CA lives in one directory (mode 0700) and one store: by default `ca.db`
 * in that directory, an SQLite database in WAL mode with synchronous=FULL; or
 * a PostgreSQL database (libpq, loaded at run time only then) that several
 * CA nodes share. The store holds the CA certificates and their keys
 * (PKCS#8, PBES2 AES-256-CBC + PBKDF2-HMAC-SHA256, encrypted with the CA
 * passphrase), the registered CMP clients (their MAC secrets encrypted with
 * AES-256-GCM under a data key that the passphrase unwraps), the issued
 * certificates, the CMP transactions and the CRL number. Public copies of the
 * certificates are written next to it as PEM files (mode 0600).
 *
 * Every write is one database transaction committed (fsync, or PostgreSQL's
 * synchronous commit) before the caller continues, so a certificate handed out has been made
 * durable first. Serial numbers are 128 random bits, unique by a PRIMARY KEY: a collision (or a
 * restart) can never reuse one.
 *
 * All functions return 0 / a negative pkie_err (detail in pkie_err_last()),
 * or a pointer / NULL. A store handle may be used from several threads: its
 * calls are serialised internally.
 */
#ifndef PKIE_CA_H
#define PKIE_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest client reference, subject/SAN pattern and profile name (bytes). */
#define PKIE_CA_REF_MAX        128
#define PKIE_CA_PATTERN_MAX    512
#define PKIE_CA_PROFILE_MAX    64
/** Longest MAC secret a client may register (bytes). */
#define PKIE_CA_SECRET_MAX     256
/** Current database schema version. */
#define PKIE_CA_SCHEMA_VERSION 3

/** Names of the CA credentials kept in the store. */
#define PKIE_CA_ROOT   "root"   /**< self-signed root */
#define PKIE_CA_ISSUER "issuer" /**< issuing CA (the root itself when no intermediate) */
#define PKIE_CA_SIGNER "signer" /**< CMP protection signer, issued by the issuing CA */
#define PKIE_CA_KGA                                                                                \
    "kga" /**< key generation authority (id-kp-cmKGA): signs centrally                             \
               generated keys; made at init, or on first open of an older                          \
               CA directory (pkie_ca_kga_ensure) */

/** An open CA database. */
struct pkie_ca_store;
struct pkie_ca_nonce_claim;

/** Status of an issued certificate. */
enum pkie_ca_cert_status {
    PKIE_CA_CERT_ISSUED = 0,    /**< issued, waiting for certConf */
    PKIE_CA_CERT_CONFIRMED = 1, /**< confirmed (certConf or implicit confirmation) */
    PKIE_CA_CERT_REVOKED = 2,   /**< revoked (rr, `pkie ca revoke`, rejecting certConf) */
};

/** State of a CMP transaction. */
enum pkie_ca_tx_state {
    PKIE_CA_TX_WAITING = 0,  /**< waiting for manual approval */
    PKIE_CA_TX_APPROVED = 1, /**< approved, certificate not yet delivered */
    PKIE_CA_TX_REJECTED = 2, /**< rejected by the operator */
    PKIE_CA_TX_ISSUED = 3,   /**< certificate delivered, waiting for certConf */
    PKIE_CA_TX_CLOSED = 4,   /**< finished (confirmed, revoked, or answered) */
    PKIE_CA_TX_EXPIRED = 5,  /**< abandoned and timed out */
};

/** A registered CMP client (MAC-based enrollment). */
struct pkie_ca_client {
    char ref[PKIE_CA_REF_MAX + 1];      /**< senderKID / reference */
    uint8_t secret[PKIE_CA_SECRET_MAX]; /**< MAC secret (clear, wiped by the caller) */
    size_t secret_len;                  /**< bytes in secret */
    char subject_pattern[PKIE_CA_PATTERN_MAX +
                         1]; /**< allowed subjects (see pkie_ca_pattern_match_name) */
    char san_pattern[PKIE_CA_PATTERN_MAX + 1]; /**< allowed SANs, "" = none allowed */
    char profile[PKIE_CA_PROFILE_MAX + 1];     /**< issuance profile name */
    int manual;                                /**< 1: requests wait for `pending approve` */
    int64_t created;                           /**< registration time (seconds, UTC) */
};

/** One issued certificate as the store keeps it. */
struct pkie_ca_cert {
    char serial[48];                      /**< serial, uppercase hex without leading zeros */
    char subject[512];                    /**< subject, one line (see pkie_ca_name_text) */
    int status;                           /**< enum pkie_ca_cert_status */
    int reason;                           /**< CRLReason when revoked, else -1 */
    int64_t not_before;                   /**< validity start */
    int64_t not_after;                    /**< validity end */
    int64_t issued_at;                    /**< time of issuance */
    int64_t revoked_at;                   /**< time of revocation, 0 when not revoked */
    char client_ref[PKIE_CA_REF_MAX + 1]; /**< who enrolled it ("" = signature/other) */
    int64_t tx_id;                        /**< transaction row that issued it, 0 if none */
    int64_t cert_req_id;                  /**< certReqId within that transaction */
    uint8_t *der;                         /**< the certificate (malloc'd, NULL if not asked) */
    size_t der_len;                       /**< bytes in der */
};

/** One CMP transaction as the store keeps it. */
struct pkie_ca_tx {
    int64_t id;                           /**< row id (used by `pending approve ID`) */
    uint8_t txid[64];                     /**< CMP transactionID */
    size_t txid_len;                      /**< bytes in txid */
    int state;                            /**< enum pkie_ca_tx_state */
    char client_ref[PKIE_CA_REF_MAX + 1]; /**< requesting client */
    char subject[512];                    /**< requested subject (for `pending list`) */
    char reason[256];                     /**< rejection text */
    char serial[48];                      /**< issued certificate, "" if none */
    int64_t created;                      /**< creation time */
    int64_t updated;                      /**< last state change */
    uint8_t *request;                     /**< stored request (malloc'd, may be NULL) */
    size_t request_len;                   /**< bytes in request */
};

/* ---- store ------------------------------------------------------------ */

/**
 * Open (or with @p create, create) the store at @p path: a PostgreSQL
 * connection string when pkie_ca_db_is_url() says so, else an SQLite file
 * (WAL, synchronous=FULL, foreign keys). Creates the schema or migrates it to
 * PKIE_CA_SCHEMA_VERSION (PKIE_ERR_CA_SCHEMA for a newer one). A PostgreSQL
 * connection string must not carry a password (PKIE_ERR_ARG): libpq reads it
 * from ~/.pgpass, PGPASSFILE or PGPASSWORD.
 */
int pkie_ca_store_open(const char *path, int create, struct pkie_ca_store **out);
/** 1 when @p db names a PostgreSQL database: a postgresql:// or postgres://
 *  URI or a libpq key=value connection string; 0 for a file path. */
int pkie_ca_db_is_url(const char *db);
/** The backend's name: "sqlite" or "postgresql". */
const char *pkie_ca_store_backend(const struct pkie_ca_store *s);
/** 1 when a store call on this thread failed because the database could not
 *  be reached (PKIE_ERR_CA_UNAVAILABLE) since the last call; clears it. The
 *  HTTP transport answers such requests with 503. */
int pkie_ca_store_take_unavailable(void);
/** The same without clearing it. */
int pkie_ca_store_unavailable_seen(void);
/** Close the database (NULL allowed). */
void pkie_ca_store_close(struct pkie_ca_store *s);
/** Check the database: SQLite's PRAGMA integrity_check answers "ok"; on
 *  PostgreSQL, the constraints the CA relies on are in place. */
int pkie_ca_store_check(struct pkie_ca_store *s);

/**
 * Derive the data key from @p pass: on a new store, create and wrap a random
 * one; on an existing store, unwrap it (PKIE_ERR_CA_PASSWORD if wrong). Needed
 * before client secrets can be read or written.
 */
int pkie_ca_store_unlock(struct pkie_ca_store *s, const char *pass);

/** Store a CA credential: certificate DER and encrypted PKCS#8 PEM key (may be NULL). */
int pkie_ca_store_put_ca(struct pkie_ca_store *s, const char *name, const uint8_t *cert,
                         size_t cert_len, const char *key_pem);
/** Load a CA credential; @p key may be NULL to load only the certificate. */
int pkie_ca_store_get_ca(struct pkie_ca_store *s, const char *name, const char *pass, X509 **cert,
                         EVP_PKEY **key);

/** Register a client (PKIE_ERR_EXISTS if the reference is taken). Store must be unlocked. */
int pkie_ca_store_client_add(struct pkie_ca_store *s, const struct pkie_ca_client *c);
/** Look a client up by reference, secret decrypted (PKIE_ERR_CA_UNKNOWN_CLIENT). */
int pkie_ca_store_client_get(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c);
/** A request's stored-nonce lookup read ahead with its client's row: the
 *  caller sets the inputs, the store the outputs (PostgreSQL only; SQLite
 *  leaves done 0 and the claim asks the database itself). */
struct pkie_ca_ahead {
    const uint8_t *nonce; /**< in: the request's senderNonce */
    size_t nonce_len;     /**< in: its length */
    const uint8_t *txid;  /**< in: its transactionID */
    size_t txid_len;      /**< in: its length */
    int new_tx;           /**< in: the request opens a transaction */
    int done;             /**< out: the lookup below was made */
    int what;             /**< out: 1 nonce stored, 2 (new_tx) transactionID used by another */
    int tx_known;         /**< out: tx_state read (new_tx) */
    int tx_state;         /**< out: latest transaction with that transactionID, -1 none */
};
/** pkie_ca_store_client_get, also reading in the same round trip what
 *  pkie_ca_store_nonce_claim_ahead will need for @p a's nonce. */
int pkie_ca_store_client_get_ahead(struct pkie_ca_store *s, const char *ref,
                                   struct pkie_ca_client *c, struct pkie_ca_ahead *a);
/** Remove a client (PKIE_ERR_CA_UNKNOWN_CLIENT if absent). */
int pkie_ca_store_client_remove(struct pkie_ca_store *s, const char *ref);
/** Call @p cb for each client (secrets not filled in); stops on a non-zero return. */
int pkie_ca_store_client_list(struct pkie_ca_store *s,
                              int (*cb)(void *arg, const struct pkie_ca_client *c), void *arg);

/* Central key generation grant per client (store_keygen.c, table client_keygen, created on
 * first use so older databases need no schema change). */
/** Allow (1) or deny (0) central key generation to client @p ref. */
int pkie_ca_store_keygen_set(struct pkie_ca_store *s, const char *ref, int allow);
/** *allow = 1 when client @p ref may ask for central key generation (default 0). */
int pkie_ca_store_keygen_get(struct pkie_ca_store *s, const char *ref, int *allow);

/**
 * Insert a newly issued certificate. PKIE_ERR_EXISTS if its serial is taken
 * (the caller draws another). When @p tx_id > 0 the transaction's state and
 * serial are updated in the same SQLite transaction.
 */
int pkie_ca_store_cert_insert(struct pkie_ca_store *s, X509 *cert, int status,
                              const char *client_ref, int64_t tx_id, int64_t cert_req_id,
                              int tx_state);
/** The same, writing the nonce of @p claim (may be NULL) in the same SQLite
 *  transaction if it is active and not yet committed; a nonce refused there
 *  (PKIE_ERR_CMP_NONCE_REPLAY) fails the insert. */
int pkie_ca_store_cert_insert_claim(struct pkie_ca_store *s, X509 *cert, int status,
                                    const char *client_ref, int64_t tx_id, int64_t cert_req_id,
                                    int tx_state, struct pkie_ca_nonce_claim *claim);
/** Call @p cb for each certificate of transaction @p tx_id (with DER), by certReqId. */
int pkie_ca_store_tx_certs(struct pkie_ca_store *s, int64_t tx_id,
                           int (*cb)(void *arg, const struct pkie_ca_cert *c), void *arg);
/** Change a certificate's status (revocation sets reason and time). */
int pkie_ca_store_cert_set_status(struct pkie_ca_store *s, const char *serial, int status,
                                  int reason);
/** Look a certificate up by serial (hex, any case, leading zeros ignored); @p with_der fills der.
 */
int pkie_ca_store_cert_get(struct pkie_ca_store *s, const char *serial, int with_der,
                           struct pkie_ca_cert *c);
/** Release what pkie_ca_store_cert_get allocated. */
void pkie_ca_cert_clear(struct pkie_ca_cert *c);
/** Call @p cb for each certificate (revoked_only: only revoked ones), ordered by issuance. */
int pkie_ca_store_cert_list(struct pkie_ca_store *s, int revoked_only,
                            int (*cb)(void *arg, const struct pkie_ca_cert *c), void *arg);
/** Number of revoked certificates in the store (a certificate is never
 *  un-revoked: a change tells a cached CRL is stale, whichever node revoked). */
int pkie_ca_store_revoked_count(struct pkie_ca_store *s, int64_t *n);
/** Number of certificates in the store. */
int pkie_ca_store_cert_count(struct pkie_ca_store *s, int64_t *n);

/** Create a transaction; its row id is returned in @p id. */
int pkie_ca_store_tx_create(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                            int state, const char *client_ref, const char *subject,
                            const uint8_t *request, size_t request_len, int64_t *id);
/** Find a transaction by row id (@p id > 0) or, when id is 0, by CMP transactionID. */
int pkie_ca_store_tx_get(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                         struct pkie_ca_tx *t);
/** Release what pkie_ca_store_tx_get allocated. */
void pkie_ca_tx_clear(struct pkie_ca_tx *t);
/**
 * Move a transaction to @p state if it is in @p from (or any state when from
 * is -1); PKIE_ERR_STATE if it is not. @p reason may be NULL.
 */
int pkie_ca_store_tx_set_state(struct pkie_ca_store *s, int64_t id, int from, int state,
                               const char *reason);
/** Call @p cb for each transaction in @p state (-1: all). */
int pkie_ca_store_tx_list(struct pkie_ca_store *s, int state,
                          int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg);
/**
 * Expire transactions not touched for @p max_age seconds: waiting/approved
 * ones become expired; issued ones (no certConf came) become closed and their
 * certificate is revoked (cessationOfOperation), as RFC 9810 says an
 * unconfirmed certificate must not be used. Returns the count in @p n.
 */
int pkie_ca_store_tx_expire(struct pkie_ca_store *s, int64_t max_age, int *n);

/** Longest senderNonce and transactionID remembered (bytes). */
#define PKIE_CA_NONCE_MAX 64

/** A request's senderNonce, claimed when the request is authenticated and
 *  written durably with the request's first durable write (or by
 *  pkie_ca_store_nonce_commit), before its answer leaves. */
struct pkie_ca_nonce_claim {
    uint8_t nonce[PKIE_CA_NONCE_MAX]; /**< the senderNonce */
    size_t nonce_len;                 /**< its length */
    uint8_t txid[PKIE_CA_NONCE_MAX];  /**< the request's transactionID */
    size_t txid_len;                  /**< its length (may be 0) */
    int new_tx;                       /**< the request opens a transaction */
    int64_t now;                      /**< time recorded with the nonce */
    int active;                       /**< registered among the requests in flight */
    int committed;                    /**< the nonce is durably stored */
    int tid_refused;                  /**< refused: its transactionID was in use */
    int tx_known; /**< tx_state was read with the stored-nonce lookup (new_tx; PostgreSQL) */
    int tx_state; /**< then: state of the latest transaction with this transactionID, -1 none */
    struct pkie_ca_nonce_claim *next; /**< next request in flight (store's list) */
};

/**
 * The state of the latest transaction with transactionID @p txid in *state
 * (-1: none): the one read with the stored-nonce lookup of the claim @p c when
 * that lookup read it (a new transaction's claim on PostgreSQL: one round
 * trip less per enrollment) and @p txid is the claim's, else read now.
 * PKIE_ERR_CA_DB / PKIE_ERR_CA_UNAVAILABLE when the store cannot be read.
 */
/**
 * pkie_ca_store_nonce_claim using, when @p a (may be NULL) was read for the
 * same nonce, transactionID and new_tx, its lookup instead of asking the
 * database again. The claim is still checked against the requests in flight
 * first; the database lookup then precedes it, so a replay racing its
 * original at this node may pass the claim and is refused at its durable
 * write (the nonce's unique key), as one racing it at another node is.
 */
int pkie_ca_store_nonce_claim_ahead(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c,
                                    const uint8_t *nonce, size_t nonce_len, const uint8_t *txid,
                                    size_t txid_len, int new_tx, int64_t now,
                                    const struct pkie_ca_ahead *a);
int pkie_ca_store_tx_latest_state(struct pkie_ca_store *s, const struct pkie_ca_nonce_claim *c,
                                  const uint8_t *txid, size_t txid_len, int *state);

/**
 * Remember the senderNonce of an accepted request, with its transactionID and
 * the time @p now (committed before returning). PKIE_ERR_CMP_NONCE_REPLAY if
 * the nonce was seen before; when @p new_tx (ir, cr, kur, p10cr),
 * PKIE_ERR_CMP_TID_IN_USE if a remembered request carried the same
 * transactionID; PKIE_ERR_CMP_SENDER_NONCE for an empty or over-long nonce.
 */
int pkie_ca_store_nonce_remember(struct pkie_ca_store *s, const uint8_t *nonce, size_t nonce_len,
                                 const uint8_t *txid, size_t txid_len, int new_tx, int64_t now);
/**
 * Claim the senderNonce of an authenticated request: checked at once against
 * the requests in flight and the stored nonces, written later (see
 * pkie_ca_store_nonce_commit). Errors as pkie_ca_store_nonce_remember; on
 * PKIE_ERR_CMP_TID_IN_USE the claim stays active (the nonce is still kept
 * once committed). Release every claim that is active with
 * pkie_ca_store_nonce_release.
 */
int pkie_ca_store_nonce_claim(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c,
                              const uint8_t *nonce, size_t nonce_len, const uint8_t *txid,
                              size_t txid_len, int new_tx, int64_t now);
/** Write an active claim's nonce durably unless a certificate insert already
 *  carried it (group commit; 0 when there is nothing to write). */
int pkie_ca_store_nonce_commit(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c);
/** Take a claim off the list of requests in flight (after its commit, or to drop it). */
void pkie_ca_store_nonce_release(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c);
/** Forget the nonces (and transaction nonces) remembered before @p before (seconds);
 *  count of request nonces in @p n (may be NULL). */
int pkie_ca_store_nonce_purge(struct pkie_ca_store *s, int64_t before, int *n);
/** Record @p nonce, the senderNonce of our answer in transaction @p txid that
 *  expects a follow-up (certConf or pollReq), replacing the previous one. */
int pkie_ca_store_txnonce_set(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                              const uint8_t *nonce, size_t nonce_len, int64_t now);
/** 0 when no answer nonce is recorded for @p txid or @p recip equals it;
 *  PKIE_ERR_CMP_RECIPNONCE otherwise. */
int pkie_ca_store_txnonce_check(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                                const uint8_t *recip, size_t recip_len);
/** Allocate the next CRL number (durably incremented). */
int pkie_ca_store_next_crl_number(struct pkie_ca_store *s, int64_t *n);

/* ---- names and patterns ------------------------------------------------ */

/** One-line text of a name: "CN=a,O=b" in the order of the RDNs. */
int pkie_ca_name_text(const X509_NAME *name, char *buf, size_t cap);
/** Parse "/CN=a/O=b" (openssl style) or "CN=a,O=b" into a name. */
X509_NAME *pkie_ca_name_parse(const char *text);
/**
 * Validate a pattern: a name in the text form of pkie_ca_name_text where a
 * value may use `*` (any run of characters other than ',') and `?`.
 */
int pkie_ca_pattern_check(const char *pattern);
/** 1 if @p name matches @p pattern, 0 if not. */
int pkie_ca_pattern_match_name(const char *pattern, const X509_NAME *name);
/**
 * 1 if every entry of @p gens matches one of the comma-separated entries of
 * @p pattern ("DNS:*.example.com,IP:127.0.0.1,email:*@example.com,URI:..."),
 * 0 if not. An empty pattern allows no SAN.
 */
int pkie_ca_pattern_match_sans(const char *pattern, const GENERAL_NAMES *gens);

/* ---- issuance ---------------------------------------------------------- */

/** An issuance profile: what a client registered with it may obtain. */
struct pkie_ca_profile {
    const char *name;    /**< profile name (path segment of /.well-known/cmp/p/NAME) */
    int64_t validity;    /**< default and maximum validity, seconds */
    int allow_rsa_bits;  /**< smallest RSA modulus allowed (0: RSA refused) */
    int allow_ec;        /**< EC keys on P-256/P-384/P-521 allowed */
    int allow_ed25519;   /**< Ed25519 allowed */
    uint32_t key_usage;  /**< keyUsage bits (X509v3_KU_*) a request may ask for */
    uint32_t default_ku; /**< keyUsage set when the request has none */
    const char *ekus;    /**< comma-separated EKU short names allowed */
    const char *keygen;  /**< key types the CA generates centrally for this profile, comma-
                              separated pkie_ca_key_generate names, the first being the
                              default (the certReqTemplate key spec); NULL: none */
};

/** The built-in profile called @p name, NULL if none. */
const struct pkie_ca_profile *pkie_ca_profile_find(const char *name);

/** A certificate request, independent of how it arrived. */
struct pkie_ca_request {
    const X509_NAME *subject;             /**< requested subject (required) */
    EVP_PKEY *pubkey;                     /**< public key (required) */
    const STACK_OF(X509_EXTENSION) *exts; /**< requested extensions, may be NULL */
    int64_t not_before;                   /**< requested start, 0 = now */
    int64_t not_after;                    /**< requested end, 0 = profile default */
    X509 *old_cert;                       /**< kur: the certificate being updated, else NULL */
    const uint8_t *spki; /**< optional: the SubjectPublicKeyInfo SEQUENCE *contents* that
                              pubkey came from, copied into the certificate as received
                              (the returned X509 then has no cached key: encode it) */
    size_t spki_len;     /**< bytes at spki */
    struct pkie_ca_nonce_claim *nonce; /**< optional: the request's claimed nonce, written
                                            with the certificate */
};

/** The issuing side: CA certificate and key, and the CRL URL to embed. */
struct pkie_ca_issuer {
    X509 *cert;          /**< issuing CA certificate */
    EVP_PKEY *key;       /**< its private key */
    const char *crl_url; /**< CRL distribution point, NULL for none */
};

/**
 * Check @p req against @p client's patterns and @p prof. 0 if it may be issued,
 * else a PKIE_ERR_CA_POLICY_* code (detail in the error record).
 */
int pkie_ca_policy_check(const struct pkie_ca_client *client, const struct pkie_ca_profile *prof,
                         const struct pkie_ca_request *req);

/**
 * Build and sign a certificate for @p req (policy already checked): random
 * 128-bit serial, validity clipped to the profile and to the issuer,
 * extensions filtered by @p prof, SKI/AKI/basicConstraints added. The caller
 * inserts it into the store (and draws again on PKIE_ERR_EXISTS).
 */
X509 *pkie_ca_issue_cert(const struct pkie_ca_issuer *iss, const struct pkie_ca_profile *prof,
                         const struct pkie_ca_request *req);

/**
 * Issue and store: policy, build, insert (retrying on a serial collision),
 * all committed before returning. @p tx_id / @p tx_state as in
 * pkie_ca_store_cert_insert.
 */
X509 *pkie_ca_enroll(struct pkie_ca_store *s, const struct pkie_ca_issuer *iss,
                     const struct pkie_ca_client *client, const struct pkie_ca_profile *prof,
                     const struct pkie_ca_request *req, int status, int64_t tx_id,
                     int64_t cert_req_id, int tx_state);

/** Serial as uppercase hex without leading zeros into @p buf (48 bytes suffice). */
int pkie_ca_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t cap);
/** Canonicalise user-typed hex (optional 0x, any case, leading zeros, ':' separators). */
int pkie_ca_serial_canon(const char *in, char *buf, size_t cap);
/** Current time in seconds since the epoch. */
int64_t pkie_ca_now(void);

/** A fresh random positive 128-bit serial. */
ASN1_INTEGER *pkie_ca_serial_new(void);

/** Sign a CRL listing every revoked certificate of the store (next CRL number). */
X509_CRL *pkie_ca_crl_build(struct pkie_ca_store *s, const struct pkie_ca_issuer *iss,
                            int64_t next_update_secs);

/* ---- keys -------------------------------------------------------------- */

/** Generate a key: "ec:P-256", "ec:P-384", "rsa:3072" (rsa:N, N >= 2048), "ed25519". */
EVP_PKEY *pkie_ca_key_generate(const char *type);
/** Encrypt @p key as PKCS#8 PEM (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256). Free with free(). */
char *pkie_ca_key_encrypt(EVP_PKEY *key, const char *pass);
/** Decrypt a PEM from pkie_ca_key_encrypt (PKIE_ERR_CA_PASSWORD on a wrong passphrase). */
EVP_PKEY *pkie_ca_key_decrypt(const char *pem, const char *pass);
/**
 * Read the passphrase: from @p pass_file if not NULL (first line), else from
 * @p spec "env:VAR", else from the environment variable PKIE_CA_PASS.
 * Returns a malloc'd string (free with pkie_wipe_free_str) or NULL.
 */
char *pkie_ca_pass_read(const char *pass_file, const char *spec);

/* ---- CA directory ------------------------------------------------------ */

/** Parameters of pkie_ca_dir_init. */
struct pkie_ca_init_params {
    const char *dir;      /**< CA directory (created 0700) */
    const char *subject;  /**< root subject */
    const char *key_type; /**< see pkie_ca_key_generate; default ec:P-256 */
    int intermediate;     /**< also create an issuing intermediate */
    const char *pass;     /**< passphrase protecting the keys */
    int64_t root_days;    /**< root validity in days (default 3650) */
    const char *db;       /**< store (see pkie_ca_store_open); NULL: DIR/ca.db */
};

/** Create a CA directory: database, keys, root, optional intermediate, CMP signer. */
int pkie_ca_dir_init(const struct pkie_ca_init_params *p);
/** Load the key generation authority credential (PKIE_CA_KGA), creating it first when the
 *  store has none: a certificate with extendedKeyUsage id-kp-cmKGA issued by @p issuer. */
int pkie_ca_kga_ensure(struct pkie_ca_store *s, const char *pass, X509 *issuer,
                       EVP_PKEY *issuer_key, X509 **cert, EVP_PKEY **key);
/** Open DIR/ca.db (must exist) and unlock it with @p pass (NULL: leave locked). */
int pkie_ca_dir_open(const char *dir, const char *pass, struct pkie_ca_store **out);
/** The same with the store @p db (NULL: DIR/ca.db); DIR must be a CA directory. */
int pkie_ca_dir_open_db(const char *dir, const char *db, const char *pass,
                        struct pkie_ca_store **out);

/* ---- HTTP transport ------------------------------------------------------ */

/** Largest request body accepted (bytes); larger ones get 413. */
#define PKIE_CA_HTTP_MAX_BODY ((size_t)1 << 20)

/**
 * Answer one CMP request: @p profile is the NAME of /.well-known/cmp/p/NAME,
 * or NULL for /pkix/ and /.well-known/cmp. Set *resp (malloc'd) and 0 to send
 * 200 application/pkixcmp; a negative return sends 500.
 */
typedef int (*pkie_ca_http_handler)(void *arg, const char *profile, const uint8_t *req, size_t len,
                                    uint8_t **resp, size_t *resp_len);
/** Produce the current CRL (DER, malloc'd) for GET /crl. */
typedef int (*pkie_ca_http_crl)(void *arg, uint8_t **der, size_t *len);

/** Parameters of pkie_ca_http_start. */
struct pkie_ca_http_params {
    const char *listen;           /**< "127.0.0.1:PORT" or "[::1]:PORT" (PORT 0: any) */
    const char *tls_cert;         /**< PEM file for HTTPS (NULL: plain HTTP) */
    const char *tls_key;          /**< PEM key file for HTTPS */
    unsigned threads;             /**< worker threads (0: 4) */
    unsigned timeout;             /**< idle connection timeout, seconds (0: 10) */
    size_t max_body;              /**< largest body (0: PKIE_CA_HTTP_MAX_BODY) */
    pkie_ca_http_handler handler; /**< CMP handler (required) */
    pkie_ca_http_crl crl;         /**< CRL producer (NULL: GET /crl is 404) */
    void *arg;                    /**< passed to handler and crl */
};

/** A running HTTP server. */
struct pkie_ca_http;

/** Start serving in background threads. */
int pkie_ca_http_start(const struct pkie_ca_http_params *p, struct pkie_ca_http **out);
/** The port actually bound (useful with PORT 0). */
uint16_t pkie_ca_http_port(const struct pkie_ca_http *h);
/** Stop serving and free (NULL allowed); waits for requests in progress. */
void pkie_ca_http_stop(struct pkie_ca_http *h);

#ifdef __cplusplus
}
#endif
#endif
