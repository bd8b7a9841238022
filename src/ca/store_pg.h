/* The PostgreSQL backend's shared pieces (store_pg.c: pool, statements,
 * schema; store_pg_certs.c: certificates, transactions, durable writes). */
#ifndef PKIE_CA_STORE_PG_H
#define PKIE_CA_STORE_PG_H

#include "ca_internal.h"
#include "pg_lib.h"

/** Statements prepared on each connection the first time it runs them. */
enum pg_sql {
    PG_META_GET,
    PG_CA_PUT,
    PG_CA_GET,
    PG_CLIENT_INSERT,
    PG_CLIENT_GET,
    PG_CLIENT_AHEAD,
    PG_CLIENT_REMOVE,
    PG_CLIENT_LIST,
    PG_WRITE_NONCE,
    PG_WRITE_CERT,
    PG_WRITE_BOTH,
    PG_CERT_REVOKE,
    PG_CERT_CONFIRM,
    PG_CERT_STATUS,
    PG_CERT_GET,
    PG_CERT_ALL,
    PG_CERT_REVOKED,
    PG_CERT_TX,
    PG_CERT_COUNT,
    PG_REVOKED_COUNT,
    PG_TX_CREATE,
    PG_TX_BY_ID,
    PG_TX_BY_TXID,
    PG_TX_SET_STATE,
    PG_TX_LIST,
    PG_TX_EXPIRE,
    PG_NONCE_SEEN,
    PG_NONCE_PURGE,
    PG_TXNONCE_SET,
    PG_TXNONCE_GET,
    PG_CRL_NEXT,
    PG_KEYGEN_SET,
    PG_KEYGEN_GET,
    PG_SQL_COUNT
};

#define PGP_MAX 16

/** Most writes one batch statement carries (store_pg_batch.c). */
#define PG_BATCH_MAX 32
/** Prepared-statement slots of a connection: the statements of enum pg_sql,
 *  then the batch write of n writes at PG_SQL_COUNT + n (n = 2..PG_BATCH_MAX). */
#define PG_SLOTS     (PG_SQL_COUNT + PG_BATCH_MAX + 1)

/** Parameters of one statement: text, decimal integers or binary (bytea). */
struct pgp {
    int n;
    const char *v[PGP_MAX];
    int len[PGP_MAX];
    int fmt[PGP_MAX];
    char num[PGP_MAX][24];
};

void pgp_text(struct pgp *p, const char *v);
void pgp_int(struct pgp *p, int64_t v);
void pgp_bin(struct pgp *p, const void *v, size_t len);

/** Run statement @p id on a pooled connection. 0 with the result in *res
 *  (binary format; NULL allowed to drop it; PQclear it otherwise);
 *  PKIE_ERR_EXISTS on a unique violation (the constraint's name in
 *  @p conflict, 64 bytes, when not NULL); PKIE_ERR_CA_UNAVAILABLE when the
 *  database cannot be reached; PKIE_ERR_CA_DB otherwise. */
int pg_query(struct pkie_ca_store *s, enum pg_sql id, const struct pgp *p, PGresult **res,
             char *conflict, const char *what);

/** Parameters as libpq takes them (NULL value: SQL NULL; fmt 1: binary). */
struct pg_args {
    int n;
    const char *const *v;
    const int *len;
    const int *fmt;
};

/** pg_query for any statement: @p sql, prepared per connection in @p slot
 *  (< PG_SLOTS; the same slot always with the same text). */
int pg_query_slot(struct pkie_ca_store *s, int slot, const char *sql, const struct pg_args *a,
                  PGresult **res, char *conflict, const char *what);

/** Column readers of a binary result. */
const struct pkie_pq *pg_lib(void);
int64_t pg_int(const PGresult *r, int row, int col);
void pg_str(const PGresult *r, int row, int col, char *dst, size_t cap);
/** Copy a bytea column (malloc'd; NULL and 0 for SQL NULL). */
int pg_blob(const PGresult *r, int row, int col, uint8_t **out, size_t *len);

/** The durable write of @p w: queued, and committed with the others queued
 *  meanwhile in one statement (store_pg_batch.c). */
int pkie_ca_pg_write(struct pkie_ca_store *s, struct ca_write *w);
/** One write alone, with the nonce of @p claim (NULL: none) in the same
 *  statement (store_pg_certs.c): precise errors (which constraint). */
int pkie_ca_pg_write_one(struct pkie_ca_store *s, struct ca_write *w,
                         struct pkie_ca_nonce_claim *claim);
int pkie_ca_pg_cert_set_status(struct pkie_ca_store *s, const char *canon, int status, int reason);
int pkie_ca_pg_cert_get(struct pkie_ca_store *s, const char *canon, int with_der,
                        struct pkie_ca_cert *c);
int pkie_ca_pg_cert_iter(struct pkie_ca_store *s, enum ca_cert_iter which, int64_t tx_id,
                         int with_der, int (*cb)(void *arg, const struct pkie_ca_cert *c),
                         void *arg);
int pkie_ca_pg_cert_count(struct pkie_ca_store *s, int64_t *n);
int pkie_ca_pg_revoked_count(struct pkie_ca_store *s, int64_t *n);
int pkie_ca_pg_tx_create(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len, int state,
                         const char *client_ref, const char *subject, const uint8_t *request,
                         size_t request_len, int64_t *id);
int pkie_ca_pg_tx_get(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                      struct pkie_ca_tx *t);
int pkie_ca_pg_tx_set_state(struct pkie_ca_store *s, int64_t id, int from, int state,
                            const char *reason);
int pkie_ca_pg_tx_list(struct pkie_ca_store *s, int state,
                       int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg);
int pkie_ca_pg_tx_expire(struct pkie_ca_store *s, int64_t max_age, int *n);

#endif
