/* Helpers shared by the files of src/ca (not part of the public API). */
#ifndef PKIE_CA_INTERNAL_H
#define PKIE_CA_INTERNAL_H

#include "pkie/ca.h"

#include <openssl/asn1.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#define DEK_LEN 32

struct ca_pg; /* PostgreSQL connection pool (store_pg.c) */

/* One durable write of a request: a certificate (serial != NULL) with its
 * transaction update, a claimed nonce, or both, committed together before the
 * request's answer leaves (SQLite: group commit in store_sq_commit.c;
 * PostgreSQL: one transaction in store_pg_certs.c). */
struct ca_write {
    struct ca_write *next;
    struct pkie_ca_nonce_claim *claim; /* nonce to write first, or NULL */
    const char *serial, *subject, *client_ref;
    const unsigned char *der;
    int der_len, status, tx_state;
    int64_t not_before, not_after, tx_id, cert_req_id;
    int nonce_kept;     /* the nonce row is written in this batch */
    int rc;             /* result (pkie_err) */
    pthread_mutex_t mu; /* with cv: wakes the waiter */
    pthread_cond_t cv;
    int wake; /* under mu: 0 wait, WAKE_DONE, WAKE_LEAD */
    char msg[256];
};

/** Which certificates pkie_ca_store_ops.cert_iter walks. */
enum ca_cert_iter { CA_ITER_ALL, CA_ITER_REVOKED, CA_ITER_TX };

/** The operations of one store backend (SQLite: store_sqlite.c and
 *  store_sq_*.c; PostgreSQL: store_pg*.c). store.c holds what both share
 *  (the data key, client secret encryption, in-flight nonce claims) and
 *  calls these; their contracts are those of the pkie_ca_store_* functions
 *  of the same name (serials already canonical). */
struct ca_store_ops {
    const char *name;
    void (*close)(struct pkie_ca_store *s); /* backend part only */
    int (*check)(struct pkie_ca_store *s);
    /* meta value @p key: PKIE_ERR_NOT_FOUND when absent */
    int (*meta_get)(struct pkie_ca_store *s, const char *key, uint8_t *out, size_t cap,
                    size_t *len);
    /* the wrapped data key and its salt, in one transaction */
    int (*dek_put)(struct pkie_ca_store *s, const uint8_t *salt, size_t slen,
                   const uint8_t *wrapped, size_t wlen);
    int (*put_ca)(struct pkie_ca_store *s, const char *name, const uint8_t *cert, size_t cert_len,
                  const char *key_pem);
    /* CA credential row: certificate DER and key PEM (NULL when none), malloc'd */
    int (*get_ca)(struct pkie_ca_store *s, const char *name, uint8_t **der, size_t *der_len,
                  char **pem);
    /* client row with its encrypted secret blob (EXISTS when the ref is taken) */
    int (*client_insert)(struct pkie_ca_store *s, const struct pkie_ca_client *c,
                         const uint8_t *blob, size_t blob_len, int64_t now);
    int (*client_get)(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c,
                      uint8_t *blob, size_t cap, size_t *blob_len);
    /* client_get with the stored-nonce lookup for @p a (NULL: the backend has none) */
    int (*client_get_ahead)(struct pkie_ca_store *s, const char *ref, struct pkie_ca_client *c,
                            uint8_t *blob, size_t cap, size_t *blob_len, struct pkie_ca_ahead *a);
    int (*client_remove)(struct pkie_ca_store *s, const char *ref);
    /* the client's central key generation grant (no row: denied) */
    int (*keygen_set)(struct pkie_ca_store *s, const char *ref, int allow);
    int (*keygen_get)(struct pkie_ca_store *s, const char *ref, int *allow);
    int (*client_list)(struct pkie_ca_store *s,
                       int (*cb)(void *arg, const struct pkie_ca_client *c), void *arg);
    /* one durable write (certificate and/or nonce); returns only once committed */
    int (*write)(struct pkie_ca_store *s, struct ca_write *w);
    int (*cert_set_status)(struct pkie_ca_store *s, const char *canon, int status, int reason);
    int (*cert_get)(struct pkie_ca_store *s, const char *canon, int with_der,
                    struct pkie_ca_cert *c);
    int (*cert_iter)(struct pkie_ca_store *s, enum ca_cert_iter which, int64_t tx_id, int with_der,
                     int (*cb)(void *arg, const struct pkie_ca_cert *c), void *arg);
    int (*cert_count)(struct pkie_ca_store *s, int64_t *n);
    int (*revoked_count)(struct pkie_ca_store *s, int64_t *n);
    int (*tx_create)(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len, int state,
                     const char *client_ref, const char *subject, const uint8_t *request,
                     size_t request_len, int64_t *id);
    int (*tx_get)(struct pkie_ca_store *s, int64_t id, const uint8_t *txid, size_t txid_len,
                  struct pkie_ca_tx *t);
    int (*tx_set_state)(struct pkie_ca_store *s, int64_t id, int from, int state,
                        const char *reason);
    int (*tx_list)(struct pkie_ca_store *s, int state,
                   int (*cb)(void *arg, const struct pkie_ca_tx *t), void *arg);
    int (*tx_expire)(struct pkie_ca_store *s, int64_t max_age, int *n);
    /* committed nonces: *what = 1 nonce seen, 2 (new_tx) txid used by another nonce, 0;
     * may also set c->tx_known and c->tx_state (see pkie_ca_store_tx_latest_state) */
    int (*nonce_seen)(struct pkie_ca_store *s, struct pkie_ca_nonce_claim *c, int *what);
    int (*nonce_purge)(struct pkie_ca_store *s, int64_t before, int *n);
    int (*txnonce_set)(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                       const uint8_t *nonce, size_t nonce_len, int64_t now);
    int (*txnonce_check)(struct pkie_ca_store *s, const uint8_t *txid, size_t txid_len,
                         const uint8_t *recip, size_t recip_len);
    int (*next_crl_number)(struct pkie_ca_store *s, int64_t *n);
};

extern const struct ca_store_ops pkie_ca_sqlite_ops;
extern const struct ca_store_ops pkie_ca_pg_ops;

/** Allocate a store with the shared fields set up (ops NULL). */
struct pkie_ca_store *pkie_ca_store_alloc(void);
/** Free what pkie_ca_store_alloc set up (after the backend's close). */
void pkie_ca_store_free(struct pkie_ca_store *s);
/** Open the SQLite backend on @p path (store_sqlite.c). */
int pkie_ca_sq_open(struct pkie_ca_store *s, const char *path, int create);
/** Open the PostgreSQL backend on @p conninfo (store_pg.c). */
int pkie_ca_pg_open(struct pkie_ca_store *s, const char *conninfo, int create);
/** Record that the database could not be reached on this thread (see
 *  pkie_ca_store_take_unavailable) and return PKIE_ERR_CA_UNAVAILABLE. */
int pkie_ca_store_unavailable(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Statements of the hot paths, prepared once per connection and kept
 *  (store.c holds their text). */
enum ca_sql {
    CA_SQL_BEGIN,        /* BEGIN IMMEDIATE */
    CA_SQL_COMMIT,       /* COMMIT */
    CA_SQL_ROLLBACK,     /* ROLLBACK */
    CA_SQL_SAVEPOINT,    /* SAVEPOINT one */
    CA_SQL_RELEASE,      /* RELEASE one */
    CA_SQL_ROLLBACK_TO,  /* ROLLBACK TO one */
    CA_SQL_NONCE_INSERT, /* remember a request nonce */
    CA_SQL_NONCE_SEEN,   /* a remembered nonce, or one of this transactionID */
    CA_SQL_CERT_INSERT,  /* a newly issued certificate */
    CA_SQL_TX_ISSUED,    /* transaction state and serial after issuance */
    CA_SQL_TX_CREATE,    /* new transaction */
    CA_SQL_TX_SET_STATE, /* transaction state change */
    CA_SQL_TX_BY_ID,     /* transaction by row id */
    CA_SQL_TX_BY_TXID,   /* latest transaction by transactionID */
    CA_SQL_TXNONCE_SET,  /* answer nonce of a transaction */
    CA_SQL_TXNONCE_GET,  /* answer nonce lookup */
    CA_SQL_CLIENT_GET,   /* client by reference */
    CA_SQL_CERT_GET,     /* certificate by serial */
    CA_SQL_COUNT
};

/** Columns read by cert_row / tx_row (store_certs.c). */
#define CA_CERT_COLS                                                                               \
    "serial,subject,status,reason,not_before,not_after,issued_at,revoked_at,client_ref,tx_id,"     \
    "cert_req_id,der"
#define CA_TX_COLS "id,txid,state,client_ref,subject,reason,serial,created,updated,request"

/** An open store: the shared part, then the SQLite backend's fields (the
 *  PostgreSQL backend keeps its own in pg). */
struct pkie_ca_store {
    const struct ca_store_ops *ops; /**< the backend */
    struct ca_pg *pg;               /**< PostgreSQL pool (NULL for SQLite) */
    sqlite3 *db;                    /**< the connection for writes */
    pthread_mutex_t mu;             /**< serialises all use of db */
    sqlite3 *rdb;                   /**< a second connection for reads: with WAL they never wait for
                                         a commit (and its fsync) in progress on db */
    pthread_mutex_t rmu;            /**< serialises all use of rdb */
    sqlite3_stmt *wst[CA_SQL_COUNT]; /**< cached statements on db (use under mu) */
    sqlite3_stmt *rst[CA_SQL_COUNT]; /**< cached statements on rdb (use under rmu) */
    int unlocked;                    /**< dek is valid */
    uint8_t dek[DEK_LEN];            /**< data key for client secrets */
    /* group commit (store_commit.c): one fsync for all waiting writes */
    pthread_mutex_t gc_mu;    /**< protects the fields below */
    struct ca_write *gc_head; /**< writes waiting for the next batch */
    int gc_busy;              /**< a thread is committing a batch */
    /* nonces claimed by requests in flight (store_nonces.c) */
    pthread_mutex_t nc_mu;               /**< protects nc_head */
    struct pkie_ca_nonce_claim *nc_head; /**< claims not yet released */
};

/** Record sqlite's last error as PKIE_ERR_CA_DB with @p what. */
int pkie_ca_db_err(struct pkie_ca_store *s, const char *what);
/** Run SQL without results. */
int pkie_ca_db_exec(struct pkie_ca_store *s, const char *sql);
/** Prepare one statement. */
int pkie_ca_db_prepare(struct pkie_ca_store *s, const char *sql, sqlite3_stmt **st);
/** Prepare one statement on the read connection (hold rmu). */
int pkie_ca_db_prepare_r(struct pkie_ca_store *s, const char *sql, sqlite3_stmt **st);
/** The cached statement @p id on db (hold mu), reset and without bindings;
 *  NULL with the error recorded. Give it back with pkie_ca_stmt_done. */
sqlite3_stmt *pkie_ca_stmt(struct pkie_ca_store *s, enum ca_sql id);
/** The same on the read connection rdb (hold rmu). */
sqlite3_stmt *pkie_ca_stmt_r(struct pkie_ca_store *s, enum ca_sql id);
/** Reset a cached statement after use (ends its read) and drop its bindings. */
void pkie_ca_stmt_done(sqlite3_stmt *st);
/** Run the cached statement @p id (no bindings, no rows) on db (hold mu). */
int pkie_ca_db_run(struct pkie_ca_store *s, enum ca_sql id);
/** Group commit (store_sq_commit.c): queue @p me and return once the batch
 *  holding it is committed; whoever finds no batch in progress runs
 *  @p commit on every queued write (setting each one's rc and msg). */
int pkie_ca_group_write(struct pkie_ca_store *s, struct ca_write *me,
                        void (*commit)(struct pkie_ca_store *s, struct ca_write *batch));
/** Insert a claimed nonce inside the open transaction on db (store_sq_nonces.c):
 *  0 or PKIE_ERR_CMP_NONCE_REPLAY. */
int pkie_ca_nonce_insert(struct pkie_ca_store *s, const struct pkie_ca_nonce_claim *c);
/** Public key from SubjectPublicKeyInfo *contents* for EC named curves and
 *  Ed25519 without OpenSSL's decoders; NULL otherwise (caller falls back). */
EVP_PKEY *pkie_ca_spki_to_pkey(const uint8_t *contents, size_t len);
/** Put SubjectPublicKeyInfo *contents* into @p x as they are (no re-encoding). */
int pkie_ca_x509_set_spki(X509 *x, const uint8_t *contents, size_t len);
/** Copy a possibly NULL column text into a bounded buffer. */
void pkie_ca_copy_text(char *dst, size_t cap, const unsigned char *src);

/** Seconds since the epoch of an ASN1_TIME; 0 on error. */
int64_t pkie_ca_asn1_time_secs(const ASN1_TIME *t);

#endif
