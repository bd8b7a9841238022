/* The CMP exit's process-wide state (state.c, files.c, names.c). */
#ifndef PKIE_EXIT_CMPX_STATE_H
#define PKIE_EXIT_CMPX_STATE_H

#include <pthread.h>
#include <stdint.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cftpkie.h"
#include "cmpx.h"

/** One enrolled identity: key and chain. Identities are never freed before
 *  the library is unloaded (a session keeps using the one it started with). */
struct cmpx_ident {
    uint64_t gen;                     /**< 1, 2...: generation, kept in the session area */
    EVP_PKEY *key;                    /**< the private key (never leaves the exit) */
    X509 *leaf;                       /**< our certificate */
    uint32_t count;                   /**< certificates in der (leaf first) */
    uint32_t lens[CFTPKIE_CHAIN_MAX]; /**< DER length of each */
    uint8_t *der;                     /**< leaf then intermediates, DER */
    size_t der_len;                   /**< bytes of der */
    time_t not_before, not_after;     /**< validity of the leaf */
    struct cmpx_ident *older;         /**< the identity it replaced */
};

/** CA certificates and CRL; swapped as a whole under the trust lock. */
struct cmpx_trust {
    STACK_OF(X509) *cas;                      /**< CA certificates (verified to an anchor) */
    X509_CRL *crl;                            /**< current CRL of the issuing CA, or NULL */
    uint32_t names_count;                     /**< CA names for GetCAList */
    uint32_t names_len[CFTPKIE_CA_NAMES_MAX]; /**< DER length of each */
    uint8_t *names;                           /**< DER Names */
    size_t names_total;                       /**< bytes of names */
};

/* state.c */
/** Initialise once per process (conf file @p conf_path; enroll or renew when
 *  needed; start the refresh thread). Later calls return the first result
 *  unless it failed (then they try again). */
int cmpx_init(const char *conf_path);
/** The current identity (valid until unload). */
struct cmpx_ident *cmpx_current(void);
/** The identity of generation @p gen, NULL if none. */
struct cmpx_ident *cmpx_by_gen(uint64_t gen);
/** Cheap check for StartHandshake: wakes the refresh thread when a renewal
 *  is due (a time comparison otherwise). */
void cmpx_handshake_tick(void);
/** Read access to the trust (CA certificates, CRL, anchors). */
void cmpx_trust_lock(const struct cmpx_trust **t, X509_STORE **anchors, int *crl_check);
/** Release cmpx_trust_lock. */
void cmpx_trust_unlock(void);
/** Log a line to standard error with the exit's prefix. */
void cmpx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* files.c */
int cmpx_dir_prepare(const char *dir);
int cmpx_path(char *out, size_t cap, const char *dir, const char *name);
int cmpx_write_atomic(const char *dir, const char *name, const void *data, size_t len);
int cmpx_write_bio(const char *dir, const char *name, BIO *b);
STACK_OF(X509) *cmpx_load_certs(const char *path);
int cmpx_read_secret(const char *path, char *buf, size_t cap);

/* names.c */
/** X509_NAME of "/O=x/CN=y" or "CN=y,O=x" (no escapes), NULL on error. */
X509_NAME *cmpx_name_parse(const char *text);
/** Add the SANs "DNS:a,IP:b,URI:c,email:d" to @p add(ctx, gn). */
int cmpx_sans_parse(const char *text, int (*add)(void *arg, const GENERAL_NAME *gn), void *arg);

#endif
