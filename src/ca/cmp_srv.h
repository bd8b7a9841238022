/* Internals of the CMP server engine (src/ca/cmp_srv*.c). */
#ifndef PKIE_CA_CMP_SRV_H
#define PKIE_CA_CMP_SRV_H

#include "ca_internal.h"
#include "pkie/cmp_msg.h"
#include "pkie/cmp_server.h"

#include <pthread.h>

struct pkie_ca_server {
    struct pkie_ca_store *store;
    X509 *root;
    X509 *issuer;
    EVP_PKEY *issuer_key;
    X509 *signer;
    EVP_PKEY *signer_key;
    X509 *kga; /* key generation authority: signs centrally generated keys */
    EVP_PKEY *kga_key;
    STACK_OF(X509) *chain; /* issuer (and root when distinct): the signer's chain */
    X509_STORE *trusted;   /* root: anchors for signature-protected requests */
    uint8_t *issuer_der, *root_der;
    size_t issuer_der_len, root_der_len;
    char *crl_url;
    int64_t check_after, tx_timeout, max_skew;
    pthread_mutex_t crl_mu;
    uint8_t *crl_der; /* cached CRL */
    size_t crl_len;
    int64_t crl_time;
    int crl_dirty;
    int64_t crl_revoked; /* revoked count in the store when the CRL was built */
};

/* One request being answered. */
struct srv_req {
    struct pkie_ca_server *srv;
    const struct pkie_cmp_msg *m; /* the request */
    int is_mac;                   /* 1 MAC, 0 signature, -1 not authenticated */
    struct pkie_ca_client client; /* the client (MAC: by senderKID; sig: owner of signer) */
    int have_client;
    X509 *signer;                          /* signature: the verified signer */
    const struct pkie_ca_profile *profile; /* issuance profile */
    struct pkie_cmp_msg *resp;             /* the answer being built */
    int implicit;                          /* implicitConfirm granted */
    struct pkie_ca_nonce_claim nonce;      /* the request's senderNonce, written with its
                                              first durable write or before the answer */
    struct pkie_ca_ahead ahead;            /* its stored-nonce lookup, read with the MAC
                                              client's row */
};

/* Building the answer (cmp_srv_resp.c). */
/* Start the answer: header mirrors the request (tid, recipNonce). */
int srv_resp_new(struct srv_req *r, int body_type);
/* Turn r->resp into an error message (any previous body dropped). */
int srv_resp_error(struct srv_req *r, int failbit, const char *text);
/* A PKIFreeText of one string, in the response's arena. */
int srv_freetext(struct pkie_cmp_msg *m, struct pkie_cmp_freetext *ft, const char *text);
/* Protect r->resp like the request (MAC in kind, else signed by the CMP signer; implicit
 * confirmation when granted) and encode it into *out (malloc'd). */
int srv_resp_finish(struct srv_req *r, uint8_t **out, size_t *len);

/* Body handlers: fill r->resp (or return a negative pkie_err for an error reply,
 * with *failbit set). */
int srv_certreq(struct srv_req *r, int *failbit);
int srv_pollreq(struct srv_req *r, int *failbit);
int srv_certconf(struct srv_req *r, int *failbit);
int srv_rr(struct srv_req *r, int *failbit);
int srv_genm(struct srv_req *r, int *failbit);
int srv_error_msg(struct srv_req *r, int *failbit);

/* Central key generation (cmp_srv_keygen.c). */
/* 1 when the template leaves the key to the CA: no publicKey, or only its algorithm. */
int srv_keygen_wanted(const struct pkie_crmf_template *t);
/* Generate the key pair for @p t (its algorithm, else the profile's default) if the client
 * and profile allow it, and seal it to the requester: *env is the EncryptedKey TLV
 * (malloc'd), *key the new key (the caller frees it, which clears it), *spki its
 * SubjectPublicKeyInfo contents for an EC key (malloc'd; NULL for other types). */
int srv_keygen(struct srv_req *r, const struct pkie_crmf_template *t, EVP_PKEY **key,
               uint8_t **spki, size_t *spki_len, uint8_t **env, size_t *env_len, int *failbit);

/* The result of a request for pkie_ca_requests_total (cmp_srv_resp.c): "failed"
 * when no answer could be made (@p rc non-zero or @p resp NULL), "rejected" for
 * an error message or a rejected status, "waiting" for a waiting status or
 * pollRep, else "accepted". */
const char *srv_outcome(const struct pkie_cmp_msg *resp, int rc);

/* Mark the cached CRL stale (after a revocation; cmp_srv_crl.c). */
void srv_crl_dirty(struct pkie_ca_server *srv);

#endif
