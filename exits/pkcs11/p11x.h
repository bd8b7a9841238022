/*
 * The PKCS#11 PKI exit (exits/pkcs11): internal interfaces.
 *
 * p11x_conf_*   the configuration string (pki.exit.conf) parser (conf.c): pure,
 *               no PKCS#11 and no OpenSSL, unit-tested and fuzzed
 * p11x_pin_*    reading the PIN from a file or an environment variable (conf.c)
 * p11x_sign_*   the pure parts of CryptData (sign.c): mechanism choice,
 *               DigestInfo for RSA PKCS#1 v1.5, raw r||s to DER for ECDSA
 * p11x_token_*  the process-wide module / token / login state and the
 *               per-task session (token.c)
 * p11x_rv_name  the CKR_* name of a PKCS#11 return value (token.c)
 *
 * See docs/exit-pkcs11.md.
 */
#ifndef PKIE_EXIT_P11X_H
#define PKIE_EXIT_P11X_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

/** Errors of the configuration parser and of the PIN reader (negative). */
enum p11x_err {
    P11X_OK = 0,
    P11X_E_SYNTAX = -1,       /**< an item is not key=value, or a stray character */
    P11X_E_UNKNOWN_KEY = -2,  /**< a key the exit does not know */
    P11X_E_DUPLICATE = -3,    /**< a key given twice */
    P11X_E_EMPTY = -4,        /**< key= with an empty value */
    P11X_E_QUOTE = -5,        /**< unterminated quote or bad escape */
    P11X_E_TOO_LONG = -6,     /**< a value longer than its field */
    P11X_E_MISSING = -7,      /**< a required key is absent */
    P11X_E_CONFLICT = -8,     /**< two keys that exclude each other */
    P11X_E_VALUE = -9,        /**< a value of the wrong form (relative path, bad hex...) */
    P11X_E_PIN_IN_CONF = -10, /**< pin= in the string: the PIN never goes there */
    P11X_E_PIN = -11,         /**< the PIN file or variable is unusable */
};

#define P11X_PATH_CAP  512u /**< a file path + NUL */
#define P11X_TOKEN_CAP 33u  /**< a token label (32 bytes in CK_TOKEN_INFO) + NUL */
#define P11X_LABEL_CAP 256u /**< an object label + NUL */
#define P11X_ID_MAX    64u  /**< bytes of a CKA_ID */
#define P11X_ENV_CAP   128u /**< an environment variable name + NUL */
#define P11X_PIN_CAP   256u /**< a PIN + NUL */

/** The parsed configuration string. Absent optional texts are "". */
struct p11x_conf {
    char module[P11X_PATH_CAP];     /**< module=: absolute path of the PKCS#11 library */
    char token[P11X_TOKEN_CAP];     /**< token=: label of the token (CKA_LABEL of the token) */
    char key_label[P11X_LABEL_CAP]; /**< key=: CKA_LABEL of the private key ("" with key-id) */
    uint8_t key_id[P11X_ID_MAX];    /**< key-id=: CKA_ID of the private key */
    size_t key_id_len;              /**< bytes of key_id (0: select by label) */
    char pin_file[P11X_PATH_CAP];   /**< pin-file=: file whose first line is the user PIN */
    char pin_env[P11X_ENV_CAP];     /**< pin-env=: environment variable holding the PIN */
    char chain[P11X_PATH_CAP];      /**< chain=: PEM file, our certificate first */
    char log[P11X_PATH_CAP];        /**< log=: optional file, one line per signature */
};

/**
 * Parse the configuration string @p text (NUL-terminated within @p cap bytes):
 * blank-separated items `key=value`; a value may be double-quoted (then it may
 * hold blanks, and `\"` and `\\` stand for `"` and `\`). Returns 0 or a
 * negative enum p11x_err with a message in @p err (@p errcap bytes).
 */
int p11x_conf_parse(const char *text, size_t cap, struct p11x_conf *c, char *err, size_t errcap);

/**
 * Read the user PIN named by @p c (first line of pin_file, which must be a
 * regular file not readable or writable by group or others; or the value of
 * environment variable pin_env) into @p pin (@p cap bytes, NUL-terminated),
 * its length in *@p len. 0 or P11X_E_PIN with a message in @p err. The caller
 * wipes @p pin.
 */
int p11x_pin_read(const struct p11x_conf *c, char *pin, size_t cap, size_t *len, char *err,
                  size_t errcap);

/** What C_Sign gets for one CryptData call (from p11x_sign_prepare). */
struct p11x_sign_plan {
    CK_MECHANISM_TYPE mech;     /**< CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_EDDSA */
    CK_RSA_PKCS_PSS_PARAMS pss; /**< the PSS parameters (mech CKM_RSA_PKCS_PSS) */
    const uint8_t *input;       /**< the bytes to give C_Sign (data, or prefixed) */
    size_t input_len;           /**< their length */
    uint8_t prefixed[19 + 64];  /**< DigestInfo prefix + digest (CKM_RSA_PKCS) */
    int ecdsa_der;              /**< 1: the raw r||s result must be DER encoded */
};

/**
 * Choose the mechanism for CryptData algorithm @p alg (CFTPKIE_SIGN_*) and
 * digest @p md (CFTPKIE_MD_*) over @p data (@p len bytes), for a key of type
 * @p key_type (CKK_RSA, CKK_EC, CKK_EC_EDWARDS). The plan points into @p data
 * or into its own buffer. 0, or -1 with a message in @p err (an algorithm the
 * key cannot do, a digest length that does not match the digest...).
 */
int p11x_sign_prepare(uint32_t alg, uint32_t md, const uint8_t *data, size_t len,
                      CK_KEY_TYPE key_type, struct p11x_sign_plan *plan, char *err, size_t errcap);

/**
 * Encode a raw ECDSA signature r||s (@p len bytes, even, 2..264) as the DER
 * Ecdsa-Sig-Value SEQUENCE { r INTEGER, s INTEGER } into @p out (@p cap
 * bytes); its length in *@p out_len. 0 or -1 (bad length, no room).
 */
int p11x_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/** Format an error text into @p err (@p cap bytes, may be NULL) and return -1. */
int p11x_fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** The name of a CKR_* value ("CKR_PIN_INCORRECT"), or "CKR_VENDOR_DEFINED"/"CKR_?". */
const char *p11x_rv_name(CK_RV rv);

/** The name of a CKM_* mechanism the exit uses ("CKM_ECDSA"...). */
const char *p11x_mech_name(CK_MECHANISM_TYPE m);

/* ---- token.c ----------------------------------------------------------- */

/** Per-task state: the task's own PKCS#11 session and the key found in it. */
struct p11x_task;

/**
 * Start a task: take a reference on the process-wide module state (dlopen,
 * C_GetFunctionList, C_Initialize with CKF_OS_LOCKING_OK, find the token,
 * log in with the PIN: all on the first reference), open this task's session
 * and find the private key. 0, or -1 with a message (naming the PKCS#11
 * function and CKR value) in @p err.
 */
int p11x_token_start(const struct p11x_conf *c, struct p11x_task **out, char *err, size_t errcap);

/** Sign with the task's key following @p plan; the signature into @p sig (@p cap
 *  bytes), its length in *@p sig_len. 0 or -1 with a message in @p err. */
int p11x_token_sign(struct p11x_task *t, const struct p11x_sign_plan *plan, uint8_t *sig,
                    size_t cap, size_t *sig_len, char *err, size_t errcap);

/** The CKK_* type of the task's key. */
CK_KEY_TYPE p11x_token_key_type(const struct p11x_task *t);

/** End a task: close its session; on the last reference C_Logout, C_Finalize.
 *  0, or -1 with a message in @p err (the state is released anyway). */
int p11x_token_end(struct p11x_task *t, char *err, size_t errcap);

#endif
