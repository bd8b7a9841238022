/* A small in-process CMP responder for the client's unit tests, built on the
 * message layer (pkie/cmp_msg.h) and plugged in as the transfer callback: it
 * behaves like OpenSSL's mock server (issue, poll, grant implicit
 * confirmation, reject, send errors) and also answers the RFC 9483 general
 * messages that the 3.0 mock only echoes. */
#ifndef PKIE_TEST_CMP_RESPONDER_H
#define PKIE_TEST_CMP_RESPONDER_H

#include "pkie/cmp.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

/** Test PKI made in memory: root CA (also the issuing CA), CMP server,
 *  client signer, an unrelated root. EC P-256 everywhere. */
struct tpki {
    EVP_PKEY *root_key, *srv_key, *cli_key, *new_key, *other_key;
    X509 *root, *srv, *cli, *other_root;
};
void tpki_init(struct tpki *p);
void tpki_free(struct tpki *p);
/** A fresh EC P-256 key. */
EVP_PKEY *tpki_key(void);
/** A certificate for @p pub signed by @p ca_key (self-signed when ca is NULL). */
X509 *tpki_cert(const char *cn, EVP_PKEY *pub, X509 *ca, EVP_PKEY *ca_key, int is_ca);

struct responder {
    struct tpki *pki;
    const char *secret; /**< MAC-protect responses with it (else sign with srv) */
    int poll_count;     /**< answer 'waiting', then poll_count-1 pollRep */
    int check_after;    /**< checkAfter of the pollReps */
    int grant_implicit; /**< grant implicitConfirm when asked */
    int pkistatus;      /**< -1: normal; else the status of ip/cp/kup/rp */
    uint32_t failbits;  /**< failInfo with pkistatus */
    const char *statusstring;
    int send_error;          /**< answer every request with an error message */
    int unprot_neg;          /**< negative answers unprotected */
    int no_answer;           /**< the transfer fails with a timeout */
    int bad_recip;           /**< answer with a wrong recipNonce */
    int bad_tid;             /**< answer with a wrong transactionID */
    int wrong_cert;          /**< issue a certificate for another key */
    int echo_genm;           /**< genp echoes the genm (as the 3.0 mock) */
    const uint8_t *genp_raw; /**< when set, the value of every typed genp answer */
    size_t genp_raw_len;
    int skip_verify; /**< do not check the client's protection */
    X509 *signer;    /**< sign with this certificate and signer_key instead of srv */
    EVP_PKEY *signer_key;
    STACK_OF(X509) *signer_chain; /**< extraCerts after the signer (not owned) */
    int chain_in_certrep_only;    /**< signer_chain only in ip/cp/kup */
    X509 *issuer;                 /**< issue with this CA and issuer_key instead of the root */
    EVP_PKEY *issuer_key;
    /* record */
    int n_msgs;             /**< messages received */
    int bodies[32];         /**< their body types */
    int implicit_asked;     /**< last certificate request asked implicitConfirm */
    int rev_reason;         /**< CRLReason of the last rr, -1 none */
    unsigned rev_present;   /**< certDetails fields (PKIE_CRMF_T_*) of the last rr */
    uint8_t rev_serial[32]; /**< its serialNumber contents */
    size_t rev_serial_len;
    int n_certreqs;               /**< CertReqMsgs in the last ir/cr/kur */
    char last_subject[256];       /**< subject of the first template (oneline), "" none */
    int last_oldcertid;           /**< the first template had an oldCertID control */
    int last_prot_mac;            /**< last request was MAC protected (1), signed (0), none (-1) */
    int last_n_extracerts;        /**< extraCerts of the last request */
    char last_extracerts[4][128]; /**< subjects (oneline) of its first four extraCerts */
    /* state */
    int polls_left;
    STACK_OF(X509) *pending; /**< certificates held back while polling */
};

/** The pkie_cmp_transfer_fn: @p arg is a struct responder. */
int responder_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                       size_t *rsp_len, void *arg);
void responder_reset(struct responder *r);

#endif
