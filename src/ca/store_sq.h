/* The SQLite backend's operations defined outside store_sqlite.c (its ops
 * table pkie_ca_sqlite_ops refers to them); contracts in ca_internal.h. */
#ifndef PKIE_CA_STORE_SQ_H
#define PKIE_CA_STORE_SQ_H

#include "ca_internal.h"

int pkie_ca_sq_write(struct pkie_ca_store *s, struct ca_write *me);
int pkie_ca_sq_cert_set_status(struct pkie_ca_store *s, const char *canon, int status, int reason);
int pkie_ca_sq_cert_get(struct pkie_ca_store *s, const char *canon, int with_der,
                        struct pkie_ca_cert *c);
int pkie_ca_sq_cert_iter(struct pkie_ca_store *s, enum ca_cert_iter which, int64_t tx_id,
                         int with_der, int (*cb)(void *arg, const struct pkie_ca_cert *c),
                         void *arg);
int pkie_ca_sq_cert_count(struct pkie_ca_store *s, int64_t *n);
int pkie_ca_sq_revoked_count(struct pkie_ca_store *s, int64_t *n);
int pkie_ca_sq_tx_create(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len, int state,
                         const char *client_ref, const char *subject, const uint8_t *request,
                         size_t request_len, int64_t *id);
int pkie_ca_sq_tx_get(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                      struct pkie_ca_tx *t);
int pkie_ca_sq_tx_set_state(struct pkie_ca_store *s, int64_t id, int from, int state,
                            const char *reason);
int pkie_ca_sq_tx_list(struct pkie_ca_store *s, int state,
                       int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg);
int pkie_ca_sq_tx_expire(struct pkie_ca_store *s, int64_t max_age, int *n);
int pkie_ca_sq_next_crl_number(struct pkie_ca_store *s, int64_t *n);
int pkie_ca_sq_keygen_set(struct pkie_ca_store *s, const char *ref, int allow);
int pkie_ca_sq_keygen_get(struct pkie_ca_store *s, const char *ref, int *allow);
int pkie_ca_sq_nonce_seen(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c, int *what);
int pkie_ca_sq_nonce_purge(struct pkie_ca_store *s, int64_t before, int *n);
int pkie_ca_sq_txnonce_set(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                           const uint8_t *nonce, size_t nonce_len, int64_t now);
int pkie_ca_sq_txnonce_check(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                             const uint8_t *recip, size_t recip_len);

#endif
