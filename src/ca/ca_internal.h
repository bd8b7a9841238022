/* Helpers shared by the files of src/ca (not part of the public API). */
#ifndef PKIE_CA_INTERNAL_H
#define PKIE_CA_INTERNAL_H

#include "pkie/ca.h"

#include <openssl/asn1.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#define DEK_LEN 32

struct ca_write; /* a write waiting for the group commit (store_commit.c) */

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

/** The open database; every use holds mu. */
struct pkie_ca_store {
    sqlite3 *db;         /**< the connection for writes */
    pthread_mutex_t mu;  /**< serialises all use of db */
    sqlite3 *rdb;        /**< a second connection for reads: with WAL they never wait for
                              a commit (and its fsync) in progress on db */
    pthread_mutex_t rmu; /**< serialises all use of rdb */
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
/** Insert a claimed nonce inside the open transaction on db (store_commit.c):
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
