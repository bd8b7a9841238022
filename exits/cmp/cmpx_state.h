/* The CMP exit's process-wide state (state.c, files.c, names.c). */
#ifndef PKIE_EXIT_CMPX_STATE_H
#define PKIE_EXIT_CMPX_STATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cftpkie.h"
#include "cmpx.h"

#define CMPX_POLICY_MAX     64        /**< bytes of a renewal policy text, with its NUL */
#define CMPX_IDENT_FILE_MAX (1 << 20) /**< identity.pem larger than this is refused */

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
    STACK_OF(X509) *chain;            /**< the chain as stored in identity.pem (leaf first) */
    char policy[CMPX_POLICY_MAX];     /**< renewal policy of its writer ("" if unknown) */
    struct cmpx_ident *older;         /**< the identity it replaced */
};

/** What identifies one version of identity.pem on disk (a rename changes the
 *  inode, a rewrite the mtime or size). All zero when the file is absent. */
struct cmpx_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int present; /**< 1 when the file exists */
};

#define CMPX_IDENT_FILE "identity.pem"  /**< key then chain, 0600 */
#define CMPX_LOCK_FILE  "identity.lock" /**< flock()ed by enrollment and renewal */

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

/* ident.c */
/** Seconds since the epoch of @p t (0 when absent or invalid). */
time_t cmpx_asn1_time(const ASN1_TIME *t);
/** An identity of @p key, @p leaf and @p chain (references taken; chain may
 *  hold the leaf and the root: the served chain leaves both out). */
struct cmpx_ident *cmpx_ident_new(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain);
/** Free @p id and the identities it replaced. */
void cmpx_ident_free(struct cmpx_ident *id);
/** Read @p dir/identity.pem: 0 and *out, 1 when absent, or a negative
 *  pkie_err naming what is wrong (no key, no certificate, key mismatch).
 *  @p st (optional) gets the stamp of the file actually read. */
int cmpx_ident_read(const char *dir, struct cmpx_ident **out, struct cmpx_stamp *st);
/** Write @p id to @p dir/identity.pem atomically (0600); @p st (optional)
 *  gets the new file's stamp. Call with the lock held. */
int cmpx_ident_save(const char *dir, const struct cmpx_ident *id, struct cmpx_stamp *st);
/** Stamp of @p dir/identity.pem (present = 0 when absent). 0 or pkie_err. */
int cmpx_stamp_of(const char *dir, struct cmpx_stamp *s);
/** 1 when both stamps name the same version of the file. */
int cmpx_stamp_eq(const struct cmpx_stamp *a, const struct cmpx_stamp *b);
/** Take the exclusive advisory lock of @p dir (blocks): an fd, or a negative
 *  pkie_err. Separate calls conflict even within one process. */
int cmpx_lock_take(const char *dir);
/** Release what cmpx_lock_take returned (ignores a negative fd). */
void cmpx_lock_release(int fd);
/** 0 when @p cand (read from disk) may replace @p cur (NULL: none): another
 *  certificate, same subject, not older, not expired at @p now, chaining to
 *  @p anchors through its chain and @p cas. Else a negative pkie_err. */
int cmpx_ident_adoptable(const struct cmpx_ident *cand, const struct cmpx_ident *cur,
                         X509_STORE *anchors, STACK_OF(X509) *cas, time_t now);

/* names.c */
/** X509_NAME of "/O=x/CN=y" or "CN=y,O=x" (no escapes), NULL on error. */
X509_NAME *cmpx_name_parse(const char *text);
/** Add the SANs "DNS:a,IP:b,URI:c,email:d" to @p add(ctx, gn). */
int cmpx_sans_parse(const char *text, int (*add)(void *arg, const GENERAL_NAME *gn), void *arg);

#endif
