/*
 * The CMP PKI exit (exits/cmp): internal interfaces.
 *
 * cmpx_conf_*   the exit's configuration file (conf.c), parsed with pkie/conf.h
 * cmpx_renew_*  the renewal-window arithmetic (conf.c), pure and unit-tested
 * cmpx_state_*  the process-wide state: identity, CA certificates, CRL,
 *               enrollment and the background refresh thread (state.c)
 */
#ifndef PKIE_EXIT_CMPX_H
#define PKIE_EXIT_CMPX_H

#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

/** Key types the exit can generate. */
enum cmpx_key_type {
    CMPX_KEY_EC_P256 = 0, /**< ec:P-256 (default) */
    CMPX_KEY_EC_P384,     /**< ec:P-384 */
    CMPX_KEY_RSA_2048,    /**< rsa:2048 */
    CMPX_KEY_RSA_3072,    /**< rsa:3072 */
    CMPX_KEY_ED25519,     /**< ed25519 */
};

/** The parsed configuration (see docs/cmp-exit.md). */
struct cmpx_conf {
    char *ca_url;            /**< CMP server URL, "http://host:port/path" (required) */
    char *ref;               /**< reference (senderKID) of the first enrollment */
    char *secret_file;       /**< file whose first line is the shared secret */
    char *subject;           /**< subject of the requested certificate (required) */
    char *san;               /**< comma-separated SANs "DNS:a,IP:1.2.3.4" (optional) */
    char *key_type_text;     /**< key_type as written */
    char *renew_before_txt;  /**< renew_before as written */
    char *trust_anchor;      /**< PEM file of the CA's root(s) (required) */
    char *dir;               /**< private directory (required; created 0700) */
    char *refresh_txt;       /**< refresh as written */
    char *retry_min_txt;     /**< retry_min as written */
    char *retry_max_txt;     /**< retry_max as written */
    char *key_file;          /**< optional PEM key for the first IR (default: a new key) */
    long long validity_days; /**< requested validity, 0 = the CA chooses */
    int crl_check;           /**< refuse peers when no CRL is known (default 1) */
    long long timeout;       /**< seconds per CMP round trip (default 10) */
    /* derived */
    enum cmpx_key_type key_type; /**< parsed key_type */
    long long renew_before;      /**< seconds before notAfter, when renew_percent == 0 */
    int renew_percent;           /**< 1..100: renew when this % of the validity remains */
    long long refresh;           /**< seconds between CA certificate / CRL refreshes */
    long long retry_min;         /**< first retry delay after a failure (seconds) */
    long long retry_max;         /**< largest retry delay (seconds) */
};

/** Parse @p len bytes of configuration text; @p origin names it in errors.
 *  0 or a negative pkie_err (the error record names the key). */
int cmpx_conf_parse(const char *text, size_t len, const char *origin, struct cmpx_conf *c);
/** Read and parse the configuration file @p path. */
int cmpx_conf_load(const char *path, struct cmpx_conf *c);
/** Free what cmpx_conf_parse stored. */
void cmpx_conf_free(struct cmpx_conf *c);

/** Record error @p rc with "@p prefix: <the current error message>". */
int cmpx_err_wrap(int rc, const char *prefix);

/** Parse a duration "N", "Ns", "Nm", "Nh", "Nd" into seconds (0..10 years).
 *  0 or a negative pkie_err. */
int cmpx_duration_parse(const char *text, long long *out);

/**
 * The time from which a certificate valid from @p not_before to @p not_after
 * is to be renewed under @p c's window: not_after - renew_before, or, with a
 * percentage, not_after - validity * percent / 100. Never before not_before.
 */
time_t cmpx_renew_at(const struct cmpx_conf *c, time_t not_before, time_t not_after);

/** 1 when a renewal is due at @p now for that certificate, else 0. */
int cmpx_renew_due(const struct cmpx_conf *c, time_t not_before, time_t not_after, time_t now);

/** The delay before retry number @p attempt (1, 2...): retry_min doubled each
 *  time, at most retry_max. */
long long cmpx_backoff(const struct cmpx_conf *c, unsigned attempt);

#endif
