/* Internal state of the CMP client context (src/cmp/client only). */
#ifndef PKIE_CMP_CLIENT_INTERNAL_H
#define PKIE_CMP_CLIENT_INTERNAL_H

#include "certcache.h"
#include "http.h"
#include "pkie/buf.h"
#include "pkie/cmp.h"

#include <stdint.h>
#include <time.h>

/** Default and hard maximum of the response size bound. */
#define PKIE_CMP_DEFAULT_MAX_RESP (1u << 20)
#define PKIE_CMP_HARD_MAX_RESP    (64u << 20)
/** Longest reference / secret / URL parts accepted from the caller. */
#define PKIE_CMP_MAX_REF          1024
#define PKIE_CMP_MAX_SECRET       4096

/** One saved certificate template (pkie_cmp_ctx_push_template). */
struct cmp_template {
    X509_NAME *subject;
    X509_NAME *issuer;
    STACK_OF(GENERAL_NAME) *sans;
    STACK_OF(X509_EXTENSION) *exts;
    STACK_OF(ASN1_OBJECT) *policies;
    EVP_PKEY *newkey;
    int days;
};

struct pkie_cmp_ctx {
    /* transport */
    char *server_host; /* without brackets */
    int server_port;   /* 0 = scheme default */
    int server_tls;    /* https:// given */
    char *path;
    char *proxy;    /* NULL = environment */
    char *no_proxy; /* NULL = environment */
    char *tls_trusted;
    char *tls_host;
    char *tls_cert, *tls_key, *tls_keypass;
    STACK_OF(X509) *tls_extra; /* sent after the tls_cert chain */

    /* caches kept across transactions (see certcache.h) */
    struct cmp_certcache certcache; /* CA certificates of extraCerts and caPubs */
    struct cmp_spkicache spkicache; /* SubjectPublicKeyInfo of the template key */
    pkie_cmp_transfer_fn transfer;
    void *transfer_arg;
    pkie_cmp_msg_hook_fn msg_hook;
    void *msg_hook_arg;
    struct cmp_http http; /* connection kept between messages (http.c) */

    /* options */
    int opt[PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS + 1];

    /* credentials */
    uint8_t *ref;
    size_t ref_len;
    uint8_t *secret;
    size_t secret_len;
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *extracerts;

    /* server authentication */
    X509_STORE *trusted;
    X509 *srvcert;
    STACK_OF(X509) *untrusted;
    X509_NAME *expected_sender;
    X509_NAME *recipient;
    X509_STORE *out_trusted;
    /* extraCerts of validated responses, newest first (PKIE_CMP_OPT_NO_CACHE_EXTRACERTS) */
    STACK_OF(X509) *extracerts_kept;

    /* request contents */
    struct cmp_template cur;
    struct cmp_template *tmpls;
    size_t n_tmpls;
    X509_REQ *p10csr;
    X509 *oldcert;
    ASN1_INTEGER *serial; /* rr by issuer and serial number */
    struct pkie_cmp_genm_itavs geninfo;
    struct pkie_cmp_genm_itavs genm_itavs;
    pkie_cmp_certconf_fn certconf;
    void *certconf_arg;

    /* transaction state */
    time_t end_time; /* 0 = no total timeout */
    int pending;     /* a 'waiting' certificate request is in progress */
    int pending_type;
    int have_tid;
    uint8_t transaction_id[64];
    size_t transaction_id_len;
    uint8_t sender_nonce[64];
    size_t sender_nonce_len;
    uint8_t recip_nonce[64];
    size_t recip_nonce_len;
    int have_recip_nonce;
    size_t n_req;        /* requests in the pending ir/cr/kur/p10cr */
    int64_t req_ids[64]; /* their certReqIds */
    X509 *got[64];       /* certificates received so far, per request */
    int waiting[64];     /* still waiting, per request */
    int rsp_body_type;   /* ip, cp or kup */
    /* central key generation (ckg.c) */
    int central_keygen;    /* requests leave the key to the CA */
    EVP_PKEY *ckg_got[64]; /* keys received so far, per request */
    X509 *ckg_kga;         /* the KGA certificate last verified against trusted */
    /* PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS, once an ip was accepted that way (ta_in_ip.c) */
    X509 *ta_ip_signer;      /* its signer, pinned for the rest of the transaction */
    X509_STORE *ta_ip_store; /* the self-signed extraCerts it chained to */

    /* results */
    int status;
    int failinfo;
    char *status_string;
    STACK_OF(X509) *new_certs;
    STACK_OF(X509) *capubs;
    STACK_OF(X509) *extracerts_in;
    STACK_OF(X509) *new_chain;
    X509 *validated_srvcert;
    EVP_PKEY *new_pkey; /* the centrally generated key of the first request */
};

/** Clear the results of the previous transaction. */
void cmp_ctx_clear_results(struct pkie_cmp_ctx *ctx);
/** Release one template's contents. */
void cmp_template_clear(struct cmp_template *t);
/** Copy an ITAV into a list. */
int cmp_itavs_add(struct pkie_cmp_genm_itavs *l, const char *type_oid, const uint8_t *value,
                  size_t value_len);
/** Free the entries of a list, keep the list struct. */
void cmp_itavs_clear(struct pkie_cmp_genm_itavs *l);
/** Set the status string (joined), replacing the old one. */
int cmp_ctx_set_status_string(struct pkie_cmp_ctx *ctx, const char *s);
/** Sender name of requests (NULL = NULL-DN). */
const X509_NAME *cmp_sender_name(const struct pkie_cmp_ctx *ctx);
/** The key of a template (new key, CSR key, else the client key). */
EVP_PKEY *cmp_template_key(const struct pkie_cmp_ctx *ctx, const struct cmp_template *t);
/** A new request with its header filled (tid, nonces, generalInfo). */
struct pkie_cmp_msg *cmp_req_new(struct pkie_cmp_ctx *ctx, int body_type);
/** Protect (MAC, signature or none as configured) and encode. */
int cmp_req_protect_encode(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, uint8_t **der,
                           size_t *len);
int cmp_req_fill_certreq(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, int body_type);
int cmp_req_fill_certconf(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m, size_t n,
                          X509 *const *certs, const int64_t *ids, int fail_info, const char *text);
int cmp_req_fill_pollreq(struct pkie_cmp_msg *m, const int64_t *ids, size_t n);
int cmp_req_fill_rr(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m);
int cmp_req_fill_genm(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m);
int cmp_req_fill_error(struct pkie_cmp_msg *m, int status, uint32_t failinfo, const char *text);
/** Send @p req, receive and validate the answer; *rsp and *buf (the DER the
 *  message points into) are the caller's to free on success. An error
 *  message from the server is recorded and returned as
 *  PKIE_ERR_CMP_CLIENT_ERROR_MSG; a body outside @p expected is an error. */
int cmp_send_receive(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *req, uint32_t expected,
                     struct pkie_cmp_msg **rsp, uint8_t **buf);
/** Record a PKIStatusInfo as the context's status results. */
void cmp_ctx_record_status(struct pkie_cmp_ctx *ctx, const struct pkie_cmp_statusinfo *si);
/** The certificates after the signer in the extraCerts of a signed request:
 *  the signer's chain through ctx->untrusted (no self-signed roots), then
 *  ctx->extracerts, without duplicates; *out is a new stack owned by the caller. */
int cmp_signer_chain(const struct pkie_cmp_ctx *ctx, STACK_OF(X509) **out);
/** Verify @p cert against @p store with every certificate the context knows as
 *  intermediates; the X509_STORE_CTX (caller frees) when verified, else NULL. */
X509_STORE_CTX *cmp_verify_new(struct pkie_cmp_ctx *ctx, X509_STORE *store, X509 *cert);
/** The store that verifies newly enrolled certificates: out_trusted, else the anchor an ip
 *  was accepted with (PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS), else trusted (may be NULL). */
X509_STORE *cmp_new_cert_store(const struct pkie_cmp_ctx *ctx);
/** Keep the certificates of @p certs (the extraCerts of a validated response) in
 *  ctx->extracerts_kept unless PKIE_CMP_OPT_NO_CACHE_EXTRACERTS. */
int cmp_keep_extracerts(struct pkie_cmp_ctx *ctx, STACK_OF(X509) *certs);
/** PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS: validate the signed ip @p m with a self-signed
 *  certificate of its extraCerts as trust anchor (the new certificate of certReqId 0 must
 *  chain to it too); @p v as for pkie_cmp_msg_validate (v->signer set on success). On
 *  success the signer and anchor are remembered for the transaction. */
int cmp_ta_in_ip(struct pkie_cmp_ctx *ctx, const struct pkie_cmp_msg *m, struct pkie_cmp_vctx *v);
/** Build the chain of the new certificate into ctx->new_chain (best effort). */
void cmp_build_new_chain(struct pkie_cmp_ctx *ctx, X509 *cert);
/** Drop the state of a transaction (certificates received, tid, nonces). */
void cmp_txn_forget(struct pkie_cmp_ctx *ctx);
/** Start a transaction: clear results, new transactionID, start the clock. */
void cmp_txn_start(struct pkie_cmp_ctx *ctx);
/* Central key generation (ckg.c). */
/** Free the keys received in the current transaction. */
void cmp_ckg_forget(struct pkie_cmp_ctx *ctx);
/** Forget the KGA certificate verified against the trust store (the store changes or the
 *  context goes). */
void cmp_ckg_forget_kga(struct pkie_cmp_ctx *ctx);
/** Free the published key. */
void cmp_ckg_clear_result(struct pkie_cmp_ctx *ctx);
/** Template publicKey for central key generation: the AlgorithmIdentifier of @p alg_of with
 *  an empty key, or nothing when @p alg_of is NULL. */
int cmp_ckg_template(struct pkie_cmp_ctx *ctx, struct pkie_cmp_msg *m,
                     struct pkie_crmf_template *ct, EVP_PKEY *alg_of);
/** Take the privateKey of request @p i's CertifiedKeyPair (the answer's extraCerts are in
 *  ctx->extracerts_in): required with
 *  central key generation, refused without it; opened and checked (pkie/cmp_envkey.h). */
int cmp_ckg_take(struct pkie_cmp_ctx *ctx, size_t i, const struct pkie_cmp_ckp *ckp);
/** Move the first request's key to the results (pkie_cmp_ctx_get0_new_pkey). */
int cmp_ckg_publish(struct pkie_cmp_ctx *ctx);

#endif
