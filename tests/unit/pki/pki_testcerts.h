/* Test certificates made at test time with OpenSSL's API (tests/unit/pki). */
#ifndef PKIE_TEST_PKI_TESTCERTS_H
#define PKIE_TEST_PKI_TESTCERTS_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/** Key types the helpers make. */
enum tc_keytype { TC_EC, TC_RSA, TC_ED25519 };

/** A new key (aborts the test on failure). */
EVP_PKEY *tc_key(enum tc_keytype type);

/** Options of tc_cert. */
struct tc_opts {
    const char *cn;       /**< subject CN */
    const char *o;        /**< subject O (NULL: "pkie test") */
    int ca;               /**< 1: basicConstraints CA:TRUE, keyCertSign|cRLSign */
    long not_before_days; /**< offset of notBefore from now in days (e.g. -1) */
    long not_after_days;  /**< offset of notAfter from now in days (e.g. 30) */
    long serial;          /**< serial number */
};

/**
 * A certificate for @p key, issued by @p issuer (NULL: self-signed) with
 * @p issuer_key (NULL: @p key). Signed with SHA-256 (Ed25519: no digest).
 */
X509 *tc_cert(const struct tc_opts *o, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key);

/** A CRL of @p issuer listing @p revoked (n serials); thisUpdate offset in seconds. */
X509_CRL *tc_crl(X509 *issuer, EVP_PKEY *issuer_key, const long *revoked, size_t n,
                 long this_update_offset);

/** Write PEM of a certificate / key (unencrypted) to @p path. */
void tc_write_cert(const char *path, X509 *cert);
void tc_write_key(const char *path, EVP_PKEY *key);

#endif

/** A small PKI made once per test program. */
struct tc_world {
    char dir[256]; /**< temporary directory (removed by tc_world_free) */
    EVP_PKEY *root_key, *inter_key, *inter2_key, *other_key;
    X509 *root, *inter, *inter2, *other_root;
    EVP_PKEY *user_key; /**< RSA */
    X509 *user;         /**< CN=alice, by inter */
    EVP_PKEY *ec_key, *ed_key;
    X509 *user_ec, *user_ed;          /**< CN=bob (EC), CN=carol (Ed25519), by inter */
    X509 *expired, *revoked, *notyet; /**< by inter; revoked is on crl */
    X509 *deep;                       /**< CN=deep, by inter2 (by inter, by root) */
    X509 *stranger;                   /**< CN=mallory, by other_root */
    X509 *badsig;                     /**< names of inter, signed by other_key */
    X509_CRL *crl;                    /**< by inter, revokes revoked */
    X509_CRL *crl_old;                /**< by inter, older, empty */
    X509_CRL *crl_other;              /**< by other_root */
};

/** Build the world (aborts on failure). */
struct tc_world *tc_world_new(void);
void tc_world_free(struct tc_world *w);
/** "<dir>/<name>" into a static buffer per call slot (0..3). */
const char *tc_path(struct tc_world *w, int slot, const char *name);
