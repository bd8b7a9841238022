/* CA store, both backends: certificates and transactions (argument checks
 * here, the SQL behind s->ops). */
#include "ca_internal.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <string.h>

void pkie_ca_cert_clear(struct pkie_ca_cert *c)
{
    if (c == NULL)
        return;
    free(c->der);
    c->der = NULL;
    c->der_len = 0;
}

void pkie_ca_tx_clear(struct pkie_ca_tx *t)
{
    if (t == NULL)
        return;
    free(t->request);
    t->request = NULL;
    t->request_len = 0;
}

int pkie_ca_store_cert_set_status(struct pkie_ca_store *s, const char *serial, int status,
                                  int reason)
{
    char canon[48];
    int rc = pkie_ca_serial_canon(serial, canon, sizeof(canon));
    return rc != 0 ? rc : s->ops->cert_set_status(s, canon, status, reason);
}

int pkie_ca_store_cert_get(struct pkie_ca_store *s, const char *serial, int with_der,
                           struct pkie_ca_cert *c)
{
    char canon[48];
    memset(c, 0, sizeof(*c));
    int rc = pkie_ca_serial_canon(serial, canon, sizeof(canon));
    return rc != 0 ? rc : s->ops->cert_get(s, canon, with_der, c);
}

int pkie_ca_store_cert_list(struct pkie_ca_store *s, int revoked_only,
                            int (*cb)(void *arg, const struct pkie_ca_cert *c), void *arg)
{
    return s->ops->cert_iter(s, revoked_only ? CA_ITER_REVOKED : CA_ITER_ALL, 0, revoked_only, cb,
                             arg);
}

int pkie_ca_store_tx_certs(struct pkie_ca_store *s, int64_t tx_id,
                           int (*cb)(void *arg, const struct pkie_ca_cert *c), void *arg)
{
    return s->ops->cert_iter(s, CA_ITER_TX, tx_id, 1, cb, arg);
}

int pkie_ca_store_cert_count(struct pkie_ca_store *s, int64_t *n)
{
    return s->ops->cert_count(s, n);
}

int pkie_ca_store_revoked_count(struct pkie_ca_store *s, int64_t *n)
{
    return s->ops->revoked_count(s, n);
}

int pkie_ca_store_keygen_set(struct pkie_ca_store *s, const char *ref, int allow)
{
    return s->ops->keygen_set(s, ref, allow);
}

int pkie_ca_store_keygen_get(struct pkie_ca_store *s, const char *ref, int *allow)
{
    return s->ops->keygen_get(s, ref, allow);
}

int pkie_ca_store_tx_create(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                            int state, const char *client_ref, const char *subject,
                            const uint8_t *request, size_t request_len, int64_t *id)
{
    if (txid_len == 0 || txid_len > 64)
        return PKIE_ERR(PKIE_ERR_ARG, "transactionID must have 1..64 bytes");
    return s->ops->tx_create(s, txid, txid_len, state, client_ref != NULL ? client_ref : "",
                             subject != NULL ? subject : "", request, request_len, id);
}

int pkie_ca_store_tx_get(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                         struct pkie_ca_tx *t)
{
    memset(t, 0, sizeof(*t));
    return s->ops->tx_get(s, id, txid, txid_len, t);
}

int pkie_ca_store_tx_set_state(struct pkie_ca_store *s, int64_t id, int from, int state,
                               const char *reason)
{
    return s->ops->tx_set_state(s, id, from, state, reason);
}

int pkie_ca_store_tx_list(struct pkie_ca_store *s, int state,
                          int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg)
{
    return s->ops->tx_list(s, state, cb, arg);
}

int pkie_ca_store_tx_expire(struct pkie_ca_store *s, int64_t max_age, int *n)
{
    *n = 0;
    return s->ops->tx_expire(s, max_age, n);
}

int pkie_ca_store_next_crl_number(struct pkie_ca_store *s, int64_t *n)
{
    return s->ops->next_crl_number(s, n);
}
