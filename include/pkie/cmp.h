/*
 * pkie CMP client (RFC 4210/9810, CRMF RFC 4211, CMP over HTTP RFC 6712/9811,
 * Lightweight CMP Profile RFC 9483).
 *
 * A struct pkie_cmp_ctx holds everything one client needs: where the server
 * is, how to reach it, how to protect requests and authenticate responses,
 * what to ask for, and, after each transaction, what came back. The
 * transaction functions mirror the semantics of OpenSSL's CMP client API
 * (OSSL_CMP_exec_*_ses, OSSL_CMP_try_certreq, OSSL_CMP_certConf_cb), but are
 * implemented on pkie's own message layer (pkie/cmp_msg.h): OpenSSL supplies
 * the cryptography and the X.509 objects only.
 *
 * Ownership: setters taking an OpenSSL object take a reference of their own
 * (up_ref or duplicate); the caller keeps and frees its own. Getters return
 * pointers owned by the context, valid until the next transaction, reinit or
 * free, unless the name says get1 (then the caller frees the result).
 *
 * Every transaction first clears the results of the previous one. After a
 * transaction, successful or not, pkie_cmp_ctx_get_status(),
 * pkie_cmp_ctx_get_failinfo() and pkie_cmp_ctx_get_status_string() tell
 * what the server said (if it said anything), and the thread's error record
 * (pkie/error.h) says why the client failed.
 */
#ifndef PKIE_CMP_H
#define PKIE_CMP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pkie/cmp_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The client context (opaque). */
struct pkie_cmp_ctx;

/* ---- constants ----------------------------------------------------------- */

/** Certificate request types: the PKIBody choice numbers of RFC 4210. */
enum pkie_cmp_req_type {
    PKIE_CMP_IR = 0,    /**< initialization request */
    PKIE_CMP_CR = 2,    /**< certification request */
    PKIE_CMP_P10CR = 4, /**< PKCS#10 certification request */
    PKIE_CMP_KUR = 7,   /**< key update request */
};

/** pkie_cmp_ctx_get_status() before any PKIStatus was received. The
 *  PKIStatus values and PKIFailureInfo bits are enum pkie_cmp_status and enum
 *  pkie_cmp_failinfo of pkie/cmp_msg.h, named by pkie_cmp_status_name() and
 *  pkie_cmp_failinfo_name(). */
#define PKIE_CMP_STATUS_NONE (-1)

/** Proof-of-possession methods (the -popo values of openssl cmp). */
enum pkie_cmp_popo {
    PKIE_CMP_POPO_NONE = -1,      /**< no POPO (only with RA-verified setups) */
    PKIE_CMP_POPO_RAVERIFIED = 0, /**< raVerified */
    PKIE_CMP_POPO_SIGNATURE = 1,  /**< signature with the new key (default) */
    PKIE_CMP_POPO_KEYENC = 2,     /**< key encipherment (not supported: an error) */
};

/** Integer options, set with pkie_cmp_ctx_set_option(). */
enum pkie_cmp_option {
    /** Request implicit confirmation (implicitConfirm in generalInfo). Default 0. */
    PKIE_CMP_OPT_IMPLICIT_CONFIRM,
    /** Never send certConf, even when the server did not grant implicit
     *  confirmation. Violates RFC 4210; for tests. Default 0. */
    PKIE_CMP_OPT_DISABLE_CONFIRM,
    /** Accept error messages and negative responses (ip/cp/kup/rp with
     *  rejection, pkiConf) with missing or invalid protection. Default 0. */
    PKIE_CMP_OPT_UNPROTECTED_ERRORS,
    /** Send requests without protection. Default 0. */
    PKIE_CMP_OPT_UNPROTECTED_SEND,
    /** enum pkie_cmp_popo. Default PKIE_CMP_POPO_SIGNATURE. */
    PKIE_CMP_OPT_POPO_METHOD,
    /** Digest NID for signatures (protection and POPO). Default NID_sha256. */
    PKIE_CMP_OPT_DIGEST,
    /** Owf NID of PasswordBasedMac. Default NID_sha256. */
    PKIE_CMP_OPT_OWF,
    /** MAC NID of PasswordBasedMac (NID_hmac_sha1, NID_hmacWithSHA256...).
     *  Default NID_hmac_sha1 as openssl cmp. */
    PKIE_CMP_OPT_MAC,
    /** Use PBMAC1 (RFC 9481) instead of PasswordBasedMac. Default 0. */
    PKIE_CMP_OPT_PBMAC1,
    /** Iteration count of the MAC key derivation. Default 500. */
    PKIE_CMP_OPT_PBM_ITERATIONS,
    /** CRLReason for rr (0..6, 8..10), -1 for none. Default -1. */
    PKIE_CMP_OPT_REVOCATION_REASON,
    /** Requested validity in days (0 = let the CA choose). Default 0. */
    PKIE_CMP_OPT_VALIDITY_DAYS,
    /** Do not copy SANs from the reference certificate. Default 0. */
    PKIE_CMP_OPT_SUBJECTALTNAME_NODEFAULT,
    /** Mark the SAN extension critical. Default 0. */
    PKIE_CMP_OPT_SUBJECTALTNAME_CRITICAL,
    /** Mark the certificatePolicies extension critical. Default 0. */
    PKIE_CMP_OPT_POLICIES_CRITICAL,
    /** Do not require digitalSignature in the server's signer certificate. */
    PKIE_CMP_OPT_IGNORE_KEYUSAGE,
    /** Accept messageTime outside the allowed skew (seconds, 0 = no check). */
    PKIE_CMP_OPT_MAX_SKEW,
    /** 0: close the connection after each message; 1: ask for keep-alive
     *  (default); 2: require it (an error when the server closes mid-transaction). */
    PKIE_CMP_OPT_KEEP_ALIVE,
    /** Seconds per request-response round trip, 0 = unlimited. Default 120. */
    PKIE_CMP_OPT_MSG_TIMEOUT,
    /** Seconds for a whole transaction including polling, 0 = unlimited. Default 0. */
    PKIE_CMP_OPT_TOTAL_TIMEOUT,
    /** Largest response accepted in bytes; the transfer is aborted past it.
     *  Default 1 MiB (1048576), at most 64 MiB. */
    PKIE_CMP_OPT_MAX_RESP_SIZE,
    /** Use TLS even when the server URL has no https:// scheme. Default 0. */
    PKIE_CMP_OPT_TLS_USED,
    /** Do not keep the certificates of the extraCerts of a validated response for
     *  later messages and transactions (openssl cmp -no_cache_extracerts,
     *  OSSL_CMP_OPT_NO_CACHE_EXTRACERTS). By default they are kept (at most
     *  PKIE_CMP_KEPT_EXTRACERTS_MAX, newest first) as intermediates for validating later
     *  responses and newly enrolled certificates. A response's own extraCerts are used for
     *  that response in any case. Setting 1 drops what was kept. Default 0. */
    PKIE_CMP_OPT_NO_CACHE_EXTRACERTS,
    /** For a signed ip whose signer does not chain to the trust store: accept a
     *  self-signed certificate of the ip's extraCerts as trust anchor when both the
     *  signer and the newly enrolled certificate (certReqId 0) chain to it; the signer is
     *  then pinned for the rest of the transaction and the anchor verifies the new
     *  certificate. 3GPP TS 33.310 quirk of openssl cmp 4.0 -ta_in_ip_extracerts
     *  (OSSL_CMP_OPT_PERMIT_TA_IN_EXTRACERTS_FOR_IR): trust on first use, the anchor
     *  is not authenticated. Default 0. */
    PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS,
};

/** Most certificates kept from extraCerts (PKIE_CMP_OPT_NO_CACHE_EXTRACERTS). */
#define PKIE_CMP_KEPT_EXTRACERTS_MAX 32

/** Direction for the message hook. */
enum pkie_cmp_msg_dir {
    PKIE_CMP_MSG_SENT = 0,     /**< a request, as it goes to the transport */
    PKIE_CMP_MSG_RECEIVED = 1, /**< a response, as it came from the transport */
};

/** One InfoTypeAndValue owned by the caller: the infoType OID and the DER of
 *  infoValue (struct pkie_cmp_itav of cmp_msg.h is a view into a message). */
struct pkie_cmp_genm_itav {
    char type[80];    /**< infoType in dotted form, e.g. "1.3.6.1.5.5.7.4.17" */
    uint8_t *value;   /**< DER of infoValue (whole TLV); NULL when absent */
    size_t value_len; /**< length of @c value, 0 when absent */
};

/** A list of ITAVs (as returned by pkie_cmp_exec_genm). */
struct pkie_cmp_genm_itavs {
    struct pkie_cmp_genm_itav *v; /**< array of @c n entries */
    size_t n;                     /**< number of entries */
};

/** Free a list returned by the library (NULL is fine). */
void pkie_cmp_genm_itavs_free(struct pkie_cmp_genm_itavs *itavs);

/* The well-known infoType OIDs (PKIE_CMP_OID_IT_*) are in pkie/cmp_msg.h, shared with the
 * server. */

/* ---- callbacks ----------------------------------------------------------- */

/**
 * Transfer function: send the DER request @p req (@p req_len bytes) and give
 * back the DER response in @p *rsp (malloc'ed, the library frees it) and
 * @p *rsp_len. Return 0, or a negative pkie_err (with the error record set).
 * The default is HTTP(S) with libcrypto's HTTP client; tests install their own to run client
 * and server in one process.
 */
typedef int (*pkie_cmp_transfer_fn)(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len,
                                    uint8_t **rsp, size_t *rsp_len, void *arg);

/**
 * Certificate confirmation callback, called for each newly enrolled
 * certificate before certConf is sent. @p fail_info is what the library
 * found so far (0 = nothing wrong); the callback returns the failure bits to
 * report (0 = accept) and may set @p *text to a statusString (static or owned
 * by the callback's state, valid until the transaction ends).
 */
typedef int (*pkie_cmp_certconf_fn)(struct pkie_cmp_ctx *ctx, X509 *cert, int fail_info,
                                    const char **text);

/** Message hook: sees every request sent and response received (DER). */
typedef void (*pkie_cmp_msg_hook_fn)(struct pkie_cmp_ctx *ctx, enum pkie_cmp_msg_dir dir,
                                     const uint8_t *der, size_t len, void *arg);

/* ---- context lifecycle --------------------------------------------------- */

/** A new context with the defaults above. NULL when out of memory. */
struct pkie_cmp_ctx *pkie_cmp_ctx_new(void);
/** Free the context, its HTTP connection and every result; wipes secrets. */
void pkie_cmp_ctx_free(struct pkie_cmp_ctx *ctx);
/** Forget the transaction state and results (not the settings), so that a
 *  new transaction can start. Keeps the HTTP connection open. */
int pkie_cmp_ctx_reinit(struct pkie_cmp_ctx *ctx);

/* ---- transport ----------------------------------------------------------- */

/**
 * Server as "[http[s]://]host[:port][/path]" (host may be [IPv6]). The port
 * defaults to 80 (443 with https). A path in @p url sets the path too.
 */
int pkie_cmp_ctx_set_server(struct pkie_cmp_ctx *ctx, const char *url);
/** HTTP path ("CMP alias") at the server; default "/". */
int pkie_cmp_ctx_set_path(struct pkie_cmp_ctx *ctx, const char *path);
/** HTTP(S) proxy "[http[s]://]host[:port]"; NULL = from the environment
 *  (http_proxy/https_proxy), "" = none. */
int pkie_cmp_ctx_set_proxy(struct pkie_cmp_ctx *ctx, const char *proxy);
/** Comma-separated hosts reached without proxy; NULL = from the environment. */
int pkie_cmp_ctx_set_no_proxy(struct pkie_cmp_ctx *ctx, const char *no_proxy);
/** TLS trust anchors for the server's TLS certificate (PEM file); setting it
 *  implies TLS. Host name checking uses @p tls_host when non-NULL. */
int pkie_cmp_ctx_set_tls_trusted(struct pkie_cmp_ctx *ctx, const char *pem_file,
                                 const char *tls_host);
/** Optional TLS client certificate and key (PEM files, key optionally
 *  encrypted with @p keypass). */
int pkie_cmp_ctx_set_tls_client(struct pkie_cmp_ctx *ctx, const char *cert_file,
                                const char *key_file, const char *keypass);
/** Add @p cert (up-referenced) to the certificates sent after the TLS client
 *  certificate (and the chain in its PEM file), as openssl cmp's -tls_extra.
 *  Needs a TLS client certificate (pkie_cmp_ctx_set_tls_client): without
 *  one, the TLS connection fails with PKIE_ERR_CMP_CLIENT_TLS. */
int pkie_cmp_ctx_add_tls_extra(struct pkie_cmp_ctx *ctx, X509 *cert);
/** Replace HTTP with @p fn (NULL restores HTTP). */
int pkie_cmp_ctx_set_transfer_cb(struct pkie_cmp_ctx *ctx, pkie_cmp_transfer_fn fn, void *arg);
/** Observe every message sent and received (NULL removes the hook). */
int pkie_cmp_ctx_set_msg_hook(struct pkie_cmp_ctx *ctx, pkie_cmp_msg_hook_fn fn, void *arg);
/** The transfer argument set with pkie_cmp_ctx_set_transfer_cb. */
void *pkie_cmp_ctx_get_transfer_arg(const struct pkie_cmp_ctx *ctx);

/**
 * The default transfer: POST @p req as application/pkixcmp to the context's
 * server over one kept-alive connection (libcrypto's HTTP client, the one
 * openssl cmp uses) and check the answer (HTTP 200,
 * Content-Type application/pkixcmp, size within PKIE_CMP_OPT_MAX_RESP_SIZE,
 * the message timeout and what is left of the total timeout). Exposed so
 * that a transfer callback can wrap it.
 */
int pkie_cmp_http_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len,
                           uint8_t **rsp, size_t *rsp_len, void *arg);

/**
 * Take over the transactionID of the transaction in progress (1..64 bytes);
 * the following requests carry it and responses must match it. For a
 * transfer callback that replays captured responses, as openssl cmp -rspin
 * does with OSSL_CMP_CTX_set1_transactionID.
 */
int pkie_cmp_ctx_set1_transactionID(struct pkie_cmp_ctx *ctx, const uint8_t *tid, size_t len);
/** Replace the senderNonce of the request just sent, i.e. what the response
 *  must carry as recipNonce (1..64 bytes); for replays as above. */
int pkie_cmp_ctx_set1_senderNonce(struct pkie_cmp_ctx *ctx, const uint8_t *nonce, size_t len);

/* ---- options ------------------------------------------------------------- */

/** Set an integer option. PKIE_ERR_ARG for an unknown option or a value out
 *  of its range. */
int pkie_cmp_ctx_set_option(struct pkie_cmp_ctx *ctx, enum pkie_cmp_option opt, int value);
/** Current value of an option (-1 for an unknown option). */
int pkie_cmp_ctx_get_option(const struct pkie_cmp_ctx *ctx, enum pkie_cmp_option opt);

/* ---- client credentials -------------------------------------------------- */

/** Reference (senderKID) for MAC protection, or for signatures without a
 *  certificate. Copied. */
int pkie_cmp_ctx_set_ref(struct pkie_cmp_ctx *ctx, const uint8_t *ref, size_t len);
/** Shared secret for MAC protection (copied; wiped on free). When set, MAC
 *  protection is used even if a certificate and key are set. */
int pkie_cmp_ctx_set_secret(struct pkie_cmp_ctx *ctx, const uint8_t *secret, size_t len);
/** Client signer certificate (its subject is the sender; default reference
 *  for the template of cr, kur and rr). */
int pkie_cmp_ctx_set_cert(struct pkie_cmp_ctx *ctx, X509 *cert);
/** Client signer private key, matching the certificate. */
int pkie_cmp_ctx_set_key(struct pkie_cmp_ctx *ctx, EVP_PKEY *key);
/** Add a certificate to extraCerts of every protected request (after the
 *  signer and its chain, duplicates left out; e.g. a root to send along). */
int pkie_cmp_ctx_add_extracert(struct pkie_cmp_ctx *ctx, X509 *cert);

/* ---- server authentication ----------------------------------------------- */

/** Trust anchors for signature-protected responses (and the default
 *  certConf check). The context keeps a reference. */
int pkie_cmp_ctx_set_trusted(struct pkie_cmp_ctx *ctx, X509_STORE *store);
/** Pin the server's signer certificate: responses must be signed by it,
 *  without chain validation. */
int pkie_cmp_ctx_set_srvcert(struct pkie_cmp_ctx *ctx, X509 *cert);
/** Add an untrusted intermediate for chain building: of responses, of new
 *  certificates, and of the client certificate, whose chain (without a
 *  self-signed root) follows it in the extraCerts of signed requests. */
int pkie_cmp_ctx_add_untrusted(struct pkie_cmp_ctx *ctx, X509 *cert);
/** Expected sender of responses; default the subject of the srvcert. */
int pkie_cmp_ctx_set_expected_sender(struct pkie_cmp_ctx *ctx, const X509_NAME *name);
/** Recipient of requests; default: srvcert subject, issuer, issuer of
 *  oldcert or cert, else NULL-DN. */
int pkie_cmp_ctx_set_recipient(struct pkie_cmp_ctx *ctx, const X509_NAME *name);
/** Trust anchors for the default certConf check (pkie_cmp_certconf_cb);
 *  default: the trusted store. */
int pkie_cmp_ctx_set_out_trusted(struct pkie_cmp_ctx *ctx, X509_STORE *store);

/* ---- what to request ----------------------------------------------------- */

/** Subject of the requested certificate. */
int pkie_cmp_ctx_set_subject(struct pkie_cmp_ctx *ctx, const X509_NAME *name);
/** Issuer to put into the certificate template. */
int pkie_cmp_ctx_set_issuer(struct pkie_cmp_ctx *ctx, const X509_NAME *name);
/** Serial number of the certificate to revoke: with the issuer
 *  (pkie_cmp_ctx_set_issuer) it names it in rr instead of the old
 *  certificate (copied; NULL clears). */
int pkie_cmp_ctx_set1_serialNumber(struct pkie_cmp_ctx *ctx, const ASN1_INTEGER *serial);
/** Add a subjectAltName (copied). */
int pkie_cmp_ctx_add_san(struct pkie_cmp_ctx *ctx, const GENERAL_NAME *name);
/** Add a requested extension (copied); replaces one with the same OID. */
int pkie_cmp_ctx_add_reqext(struct pkie_cmp_ctx *ctx, const X509_EXTENSION *ext);
/** Add a certificate policy OID (dotted or short name). */
int pkie_cmp_ctx_add_policy(struct pkie_cmp_ctx *ctx, const char *oid);
/** Key of the requested certificate: a private key (needed for the
 *  signature POPO) or a public key (POPO none/raVerified). Default: the
 *  client key. */
int pkie_cmp_ctx_set_newkey(struct pkie_cmp_ctx *ctx, EVP_PKEY *key);
/** Central key generation (RFC 9483 4.1.6) for ir/cr/kur: the template carries no public key
 *  (only the algorithm of the new key when one is set with pkie_cmp_ctx_set_newkey), POPO
 *  is absent, and the key the CA generates is taken from the answer's EnvelopedData:
 *  decrypted with the MAC secret or the client key, its KGA signer checked against the
 *  trust store and for id-kp-cmKGA, and matched to the certificate. */
int pkie_cmp_ctx_set_central_keygen(struct pkie_cmp_ctx *ctx, int on);
/** The centrally generated private key of the last enrollment (NULL if none; owned by ctx). */
EVP_PKEY *pkie_cmp_ctx_get0_new_pkey(const struct pkie_cmp_ctx *ctx);
/** PKCS#10 request for p10cr (and a template source for ir/cr/kur). */
int pkie_cmp_ctx_set_p10csr(struct pkie_cmp_ctx *ctx, X509_REQ *csr);
/** Certificate to update (kur), to revoke (rr), and reference for the
 *  template's subject and SANs. Default for kur: the client certificate. */
int pkie_cmp_ctx_set_oldcert(struct pkie_cmp_ctx *ctx, X509 *cert);
/**
 * Save the current template (subject, issuer, SANs, extensions, policies,
 * validity, new key) as one more certificate request and clear those fields.
 * An ir/cr then sends every saved request, in order, with certReqId 0, 1...;
 * when none was saved it sends the current template alone.
 */
int pkie_cmp_ctx_push_template(struct pkie_cmp_ctx *ctx);
/** Add an ITAV to generalInfo of every request (copied). @p value_der may be NULL. */
int pkie_cmp_ctx_add_geninfo(struct pkie_cmp_ctx *ctx, const char *type_oid,
                             const uint8_t *value_der, size_t value_len);
/** Add an ITAV to the body of the next genm (copied). */
int pkie_cmp_ctx_add_genm_itav(struct pkie_cmp_ctx *ctx, const char *type_oid,
                               const uint8_t *value_der, size_t value_len);
/** Drop the ITAVs added for genm. */
void pkie_cmp_ctx_clear_genm_itavs(struct pkie_cmp_ctx *ctx);
/** Callback checking each new certificate before certConf (NULL = none,
 *  the default, as RFC 4210 does not require the client to validate). */
int pkie_cmp_ctx_set_certconf_cb(struct pkie_cmp_ctx *ctx, pkie_cmp_certconf_fn fn, void *arg);
/** The argument set with pkie_cmp_ctx_set_certconf_cb. */
void *pkie_cmp_ctx_get_certconf_arg(const struct pkie_cmp_ctx *ctx);

/* ---- results ------------------------------------------------------------- */

/** PKIStatus of the last response that carried one, PKIE_CMP_STATUS_NONE if none. */
int pkie_cmp_ctx_get_status(const struct pkie_cmp_ctx *ctx);
/** PKIFailureInfo bits of the last response (0 when none). */
int pkie_cmp_ctx_get_failinfo(const struct pkie_cmp_ctx *ctx);
/** statusString of the last response, its parts joined by "; " ("" if none). */
const char *pkie_cmp_ctx_get_status_string(const struct pkie_cmp_ctx *ctx);
/** Format "<status>; failure info: <bit names>; StatusString: <text>" of the
 *  last response into @p buf; returns @p buf. */
char *pkie_cmp_ctx_snprint_status(const struct pkie_cmp_ctx *ctx, char *buf, size_t cap);
/** The (first) newly enrolled certificate, NULL if none. */
X509 *pkie_cmp_ctx_get_new_cert(const struct pkie_cmp_ctx *ctx);
/** All certificates enrolled by the last ir/cr, in certReqId order
 *  (NULL entries are impossible: a rejected request fails the call). */
STACK_OF(X509) *pkie_cmp_ctx_get_new_certs(const struct pkie_cmp_ctx *ctx);
/** caPubs of the last ip, NULL if none. Owned by the context; the certificates
 *  in it and in pkie_cmp_ctx_get_extracerts_in may be the same objects across
 *  transactions (each distinct encoding is decoded once): take references
 *  with X509_up_ref and do not modify them. */
STACK_OF(X509) *pkie_cmp_ctx_get_capubs(const struct pkie_cmp_ctx *ctx);
/** extraCerts of the last response, NULL if none (see above). */
STACK_OF(X509) *pkie_cmp_ctx_get_extracerts_in(const struct pkie_cmp_ctx *ctx);
/** Chain of the new certificate (without it, up to and including the trust
 *  anchor) when it could be built from the trusted store, the untrusted
 *  certificates, extraCerts and caPubs; NULL otherwise. */
STACK_OF(X509) *pkie_cmp_ctx_get_new_chain(const struct pkie_cmp_ctx *ctx);
/** The server's signer certificate of the last protected response, or NULL. */
X509 *pkie_cmp_ctx_get_validated_srvcert(const struct pkie_cmp_ctx *ctx);

/* ---- transactions -------------------------------------------------------- */

/** Initialization request: the new certificate (owned by @p ctx) or NULL. */
X509 *pkie_cmp_exec_ir(struct pkie_cmp_ctx *ctx);
/** Certification request: the new certificate or NULL. */
X509 *pkie_cmp_exec_cr(struct pkie_cmp_ctx *ctx);
/** PKCS#10 request (pkie_cmp_ctx_set_p10csr): the new certificate or NULL. */
X509 *pkie_cmp_exec_p10cr(struct pkie_cmp_ctx *ctx);
/** Key update request for the old certificate: the new certificate or NULL. */
X509 *pkie_cmp_exec_kur(struct pkie_cmp_ctx *ctx);

/**
 * Start or continue a certificate request without blocking on polling.
 * First call (no request pending): sends a request of @p req_type. Later
 * calls (a 'waiting' status was received): polls, unless @p *check_after is
 * negative on entry, which aborts the transaction by sending an error message.
 * Returns 1 when the certificate is available (pkie_cmp_ctx_get_new_cert) or
 * the abort succeeded; 0 on error; -1 when the server said 'waiting': then
 * @p *check_after (when @p check_after is not NULL) holds the seconds to wait
 * before calling again with the same arguments.
 */
int pkie_cmp_try_certreq(struct pkie_cmp_ctx *ctx, int req_type, int *check_after);

/**
 * Revocation request for the old certificate (with the revocation reason
 * option). Returns the old certificate (owned by @p ctx) when the status is
 * accepted or grantedWithMods, and also, with a warning logged, for
 * revocationWarning and revocationNotification; NULL for rejection, waiting,
 * keyUpdateWarning and every other error.
 */
X509 *pkie_cmp_exec_rr(struct pkie_cmp_ctx *ctx);
/**
 * Revocation request naming the certificate as OpenSSL does: by issuer and
 * serial number when both are set, else by the old certificate, else by the
 * subject and public key of the PKCS#10 CSR. The statuses are taken as by
 * pkie_cmp_exec_rr. Returns 0 or a negative PKIE_ERR_* code.
 */
int pkie_cmp_exec_revoke(struct pkie_cmp_ctx *ctx);

/**
 * A request read from a file (openssl cmp -reqin) made fit for the current
 * transaction, as OSSL_CMP_MSG_update_recipNonce and (with @p new_tid)
 * OSSL_CMP_MSG_update_transactionID do: the recipNonce becomes the
 * senderNonce of the last response (none before the first), the
 * transactionID that of the context; a protected request is then protected
 * anew with the context's credentials. @p *out (malloc'ed) gets the DER, the
 * input's copy when nothing changes. Returns 0 or a negative PKIE_ERR_* code.
 */
int pkie_cmp_update_request(struct pkie_cmp_ctx *ctx, const uint8_t *der, size_t len, int new_tid,
                            uint8_t **out, size_t *out_len);

/** General message with the ITAVs added by pkie_cmp_ctx_add_genm_itav:
 *  returns the ITAVs of the genp (caller frees with pkie_cmp_genm_itavs_free), or
 *  NULL on error. */
struct pkie_cmp_genm_itavs *pkie_cmp_exec_genm(struct pkie_cmp_ctx *ctx);

/**
 * Default certificate confirmation check: @p fail_info unchanged when it is
 * not 0; else 0 when @p cert verifies against the out_trusted store (or the
 * trusted store) with the untrusted certificates, extraCerts and caPubs as
 * intermediates; else (1 << PKIE_CMP_FI_incorrectData) with @p *text set.
 */
int pkie_cmp_certconf_cb(struct pkie_cmp_ctx *ctx, X509 *cert, int fail_info, const char **text);

/* ---- typed general messages (RFC 9483 section 4.3) ------------------------ */

/** genm caCerts: @p *out gets the CA certificates (caller frees; NULL when the
 *  server has none). Returns 0 or a negative pkie_err. */
int pkie_cmp_get1_caCerts(struct pkie_cmp_ctx *ctx, STACK_OF(X509) **out);

/**
 * genm rootCaCert with the current root @p old_with_old (may be NULL). On
 * success @p *new_with_new is the new root (NULL when no update is
 * available); @p *new_with_old and @p *old_with_new the link certificates
 * (optional in the answer). The new root must be self-signed; newWithOld must
 * carry the new root's key and verify with the old root's key; oldWithNew
 * must carry the old root's key and verify with the new root's key.
 * Returns 0 or a negative pkie_err.
 */
int pkie_cmp_get1_rootCaCert(struct pkie_cmp_ctx *ctx, X509 *old_with_old, X509 **new_with_new,
                             X509 **new_with_old, X509 **old_with_new);

/** genm certReqTemplate: @p *tmpl gets the DER of the CertTemplate and
 *  @p *keyspec the DER of the key specification controls (either may be NULL
 *  when absent; caller frees with OPENSSL_free). Both NULL: no template. */
int pkie_cmp_get1_certReqTemplate(struct pkie_cmp_ctx *ctx, uint8_t **tmpl, size_t *tmpl_len,
                                  uint8_t **keyspec, size_t *keyspec_len);

/**
 * genm crlStatusList for a CRL named as OSSL_CMP_CRLSTATUS_create names it
 * (with only directory names): by @p cert's CRL distribution point, else
 * (without @p cert) by the issuing distribution point of @p last, else by
 * the issuer (authority key identifier, issuer name) of @p cert, else of
 * @p last; with the thisUpdate of @p last. Either may be NULL, not both. @p *crl gets
 * the newer CRL, or NULL when none is newer.
 */
int pkie_cmp_get1_crlUpdate(struct pkie_cmp_ctx *ctx, X509 *cert, const X509_CRL *last,
                            X509_CRL **crl);

/** genm signKeyPairTypes: the algorithm identifiers the CA accepts for
 *  signing keys (caller frees with sk_X509_ALGOR_pop_free(.., X509_ALGOR_free);
 *  NULL with 0 returned when the server lists none). */
int pkie_cmp_get1_signKeyPairTypes(struct pkie_cmp_ctx *ctx, STACK_OF(X509_ALGOR) **out);

#ifdef __cplusplus
}
#endif
#endif
