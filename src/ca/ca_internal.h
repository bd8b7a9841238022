/* Helpers shared by the files of src/ca (not part of the public API). */
#ifndef PKIE_CA_INTERNAL_H
#define PKIE_CA_INTERNAL_H

#include "pkie/ca.h"

#include <openssl/asn1.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#define DEK_LEN 32

struct ca_insert;  /* a certificate waiting for the group commit (store_certs.c) */
struct nonce_item; /* a nonce waiting for its group commit (store_nonces.c) */

/** The open database; every use holds mu. */
struct pkie_ca_store {
    sqlite3 *db;          /**< the connection for writes */
    pthread_mutex_t mu;   /**< serialises all use of db */
    sqlite3 *rdb;         /**< a second connection for reads: with WAL they never wait for
                               a commit (and its fsync) in progress on db */
    pthread_mutex_t rmu;  /**< serialises all use of rdb */
    int unlocked;         /**< dek is valid */
    uint8_t dek[DEK_LEN]; /**< data key for client secrets */
    /* group commit of issued certificates: one fsync for all waiting inserts */
    pthread_mutex_t gc_mu;     /**< protects the fields below */
    pthread_cond_t gc_cond;    /**< signalled when a batch is committed */
    struct ca_insert *gc_head; /**< inserts waiting for the next batch */
    int gc_busy;               /**< a thread is committing a batch */
    /* group commit of remembered nonces (store_nonces.c), same scheme */
    pthread_mutex_t nc_mu;      /**< protects the fields below */
    pthread_cond_t nc_cond;     /**< signalled when a batch is committed */
    struct nonce_item *nc_head; /**< nonces waiting for the next batch */
    int nc_busy;                /**< a thread is committing a batch */
};

/** Record sqlite's last error as PKIE_ERR_CA_DB with @p what. */
int pkie_ca_db_err(struct pkie_ca_store *s, const char *what);
/** Run SQL without results. */
int pkie_ca_db_exec(struct pkie_ca_store *s, const char *sql);
/** Prepare one statement. */
int pkie_ca_db_prepare(struct pkie_ca_store *s, const char *sql, sqlite3_stmt **st);
/** Prepare one statement on the read connection (hold rmu). */
int pkie_ca_db_prepare_r(struct pkie_ca_store *s, const char *sql, sqlite3_stmt **st);
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
