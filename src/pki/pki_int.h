/* Internals of src/pki shared between its files (not installed). */
#ifndef PKIE_PKI_INT_H
#define PKIE_PKI_INT_H

#include "pkie/pki.h"

#include <sqlite3.h>

/** Current schema version of the base file (table schema_version). */
#define PKI_SCHEMA_VERSION 1
/** Bytes of the password-check salt and derived value. */
#define PKI_PWCHECK_SALT   16
#define PKI_PWCHECK_LEN    32
/** Longest password accepted (bytes). */
#define PKI_PASSWORD_MAX   1024
/** Longest DER object (certificate, key, CRL) accepted from the base. */
#define PKI_DER_MAX        (16u * 1024u * 1024u)

/** A writable handle: the SQLite connection and the password. */
struct pkie_pki_store {
    sqlite3 *db;       /**< open connection */
    char *password;    /**< copy of the password, NULL when none (wiped on close) */
    unsigned kdf_iter; /**< PBKDF2 iterations for keys added */
    int pw_checked;    /**< password already matched the base's verifier */
};

/** One certificate of a snapshot. */
struct pki_ent {
    struct pkie_pki_entry pub; /**< public view; strings are owned here */
    EVP_PKEY *key;             /**< decrypted key, NULL when none / no password */
    STACK_OF(X509) *chain;     /**< leaf first, intermediates up to (excl.) the root */
};

/** The immutable snapshot. */
struct pkie_pki {
    struct pki_ent *ents;     /**< sorted by id */
    size_t n;                 /**< number of ents */
    STACK_OF(X509) *roots;    /**< root certificates (refs owned by ents) */
    STACK_OF(X509) *inters;   /**< intermediate certificates (refs owned by ents) */
    STACK_OF(X509_CRL) *crls; /**< CRLs (owned) */
    X509_STORE *store;        /**< roots + intermediates + CRLs */
};

/* store.c */
/** Open (and create/initialise) the SQLite file; checks mode, schema, integrity. */
int pki_db_open(const char *path, int create, sqlite3 **out);
/** Check @p password against the base's verifier; with @p set_if_none, create one
 *  (the caller must then hold a write transaction, BEGIN IMMEDIATE). *@p checked
 *  (may be NULL) = 1 when a verifier exists now and the password matched it. */
int pki_password_check(sqlite3 *db, const char *password, int set_if_none, unsigned iter,
                       int *checked);
/** Record a SQLite failure as PKIE_ERR_PKI_DB / PKI_CORRUPT and return the code. */
int pki_db_err(sqlite3 *db, int rc, const char *what);

/* keyenc.c */
/** PKCS#8 EncryptedPrivateKeyInfo DER (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256). */
int pki_key_encrypt(EVP_PKEY *key, const char *password, unsigned iter, unsigned char **der,
                    size_t *der_len);
/** Decrypt what pki_key_encrypt produced; PKIE_ERR_PKI_PASSWORD when it cannot. */
int pki_key_decrypt(const unsigned char *der, size_t der_len, const char *password, EVP_PKEY **out);
/** PBKDF2-HMAC-SHA256 of @p password. */
int pki_pbkdf2(const char *password, const unsigned char *salt, size_t salt_len, unsigned iter,
               unsigned char *out, size_t out_len);

/* text.c */
/** RFC 4514 text of @p name (UTF-8, malloc'd), NULL on failure. */
char *pki_name_text(const X509_NAME *name);
/** "YYYY-MM-DDTHH:MM:SSZ" of @p t (malloc'd), NULL on failure. */
char *pki_time_text(const ASN1_TIME *t);
/** Lower-case hex of the serial (malloc'd), NULL on failure. */
char *pki_serial_text(const ASN1_INTEGER *serial);
/** Lower-case hex SHA-256 of the DER of @p cert (malloc'd), NULL on failure. */
char *pki_fingerprint_text(X509 *cert);
/** Is @p cert self-signed (names match and its own key verifies it)? */
int pki_self_signed(X509 *cert);

/* dnfilter.c */
/** 1 when RFC 4514 @p subject matches @p pattern ('*' wildcard in values), else 0. */
int pki_dn_match(const char *pattern, const char *subject);

/* verify.c */
/** The TLS alert for an X509_V_ERR_* code, and the pkie error code through @p code. */
int pki_alert_for_x509_error(int x509_err, int *code);

/* snapshot.c */
/** The entry with @p id, NULL when none. */
struct pki_ent *pki_find(const struct pkie_pki *pki, const char *id);

#endif
