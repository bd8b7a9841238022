/*
 * The CMP server engine of the embedded CA (src/ca/cmp_srv*.c), built on the
 * CMP message layer (pkie/cmp_msg.h) and the CA store (pkie/ca.h).
 *
 * pkie_ca_server_handle takes one DER PKIMessage and always produces one DER
 * PKIMessage to send back: the answer, or a protected error message. It
 * handles ir, cr, p10cr, kur, rr, genm, certConf, pollReq and error:
 *  - MAC-protected requests (PasswordBasedMac, PBMAC1) from registered client
 *    references (senderKID); signature-protected requests from certificates
 *    this CA issued and has not revoked;
 *  - the answer is protected the way the request was (MAC with the client's
 *    secret, or signed by the CMP signer with its chain in extraCerts); an
 *    answer to a request that could not be authenticated is signed;
 *  - an issued certificate and the transaction state are committed to the
 *    store before the answer is returned.
 * The engine is thread-safe: one server serves all HTTP worker threads.
 */
#ifndef PKIE_CMP_SERVER_H
#define PKIE_CMP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "pkie/ca.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Parameters of pkie_ca_server_open. */
struct pkie_ca_server_params {
    const char *dir;     /**< CA directory (pkie ca init) */
    const char *pass;    /**< CA passphrase */
    const char *crl_url; /**< CRL distribution point put into certificates (NULL: none) */
    int64_t check_after; /**< checkAfter of pollRep, seconds (0: 1) */
    int64_t tx_timeout;  /**< idle transactions expire after this many seconds (0: 300) */
    int64_t max_skew;    /**< accepted messageTime skew, seconds (0: 600; < 0: no check) */
    const char *db;      /**< store (see pkie_ca_store_open); NULL: DIR/ca.db */
};

/** A CMP server over one CA directory. */
struct pkie_ca_server;

/** Open the CA directory, decrypt the keys, prepare the trust store. */
int pkie_ca_server_open(const struct pkie_ca_server_params *p, struct pkie_ca_server **out);
/** Close (NULL allowed). */
void pkie_ca_server_close(struct pkie_ca_server *srv);

/**
 * Answer one request. @p profile selects the issuance profile
 * (/.well-known/cmp/p/NAME; NULL: the client's own). On return *resp is a
 * malloc'd DER PKIMessage; the return value is 0 whenever *resp is set (also
 * for an error message) and negative only if no answer could be produced.
 */
int pkie_ca_server_handle(struct pkie_ca_server *srv, const char *profile, const uint8_t *req,
                          size_t len, uint8_t **resp, size_t *resp_len);

/** The current CRL (DER, malloc'd), rebuilt when a revocation happened or it got old. */
int pkie_ca_server_crl(struct pkie_ca_server *srv, uint8_t **der, size_t *len);

/** Expire idle transactions (see pkie_ca_store_tx_expire), @p n gets the count; and forget
 *  the senderNonces older than 2 x max_skew + tx_timeout (see docs/ca.md, replay). */
int pkie_ca_server_expire(struct pkie_ca_server *srv, int *n);

/** The server's store (for tests and the serve command). */
struct pkie_ca_store *pkie_ca_server_store(struct pkie_ca_server *srv);

#ifdef __cplusplus
}
#endif
#endif
