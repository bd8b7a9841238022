/*
 * The `key = value` configuration reader.
 *
 * Syntax, one setting per line:
 *   # a comment (also after an unquoted value, when preceded by a blank)
 *   key = value                 blanks around key and value are ignored
 *   key = "quoted # value"      escapes: \\ \" \n \t
 *   key = 'literal \ value'     no escapes
 * Keys are [A-Za-z0-9_.-]+. A key not in the schema, a malformed line, a
 * value of the wrong type or out of range, a key given twice, or a required
 * key missing is an error whose message names origin and line.
 *
 * The caller describes the accepted keys with a table of pkie_conf_key; values
 * are stored into a caller's struct at the given offsets.
 */
#ifndef PKIE_CONF_H
#define PKIE_CONF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pkie_conf_type {
    PKIE_CONF_STRING,   /**< char * (malloc'ed; free with pkie_conf_free) */
    PKIE_CONF_INT,      /**< long long within [min, max] */
    PKIE_CONF_BOOL,     /**< int: true/false, yes/no, on/off, 1/0 */
    PKIE_CONF_ENUM,     /**< int: index into choices */
    PKIE_CONF_CALLBACK, /**< handed to cb; may repeat when the name is a pattern */
};

/** Callback for PKIE_CONF_CALLBACK keys: return 0 or a negative pkie_err. */
typedef int (*pkie_conf_cb)(void *dst, const char *key, const char *value, unsigned line,
                            void *arg);

struct pkie_conf_key {
    /** Exact key, or a pattern in which each "*" matches one segment
     *  without dots (e.g. "partner.*.cert"). */
    const char *name;
    enum pkie_conf_type type;
    size_t offset;              /**< destination offset (not for CALLBACK) */
    long long min, max;         /**< INT bounds (inclusive) */
    const char *const *choices; /**< ENUM: NULL-terminated list */
    int required;               /**< non-zero: missing is an error */
    pkie_conf_cb cb;            /**< CALLBACK handler */
    const char *help;           /**< one line for documentation and errors */
};

/** Maximum size of a configuration file or text. */
#define PKIE_CONF_MAX_SIZE (1u << 20)
/** Maximum length of one line. */
#define PKIE_CONF_MAX_LINE 8192

/**
 * Parse @p len bytes of @p text. @p origin names the source in errors
 * ("monitor.conf"). @p keys ends with an entry whose name is NULL. Returns 0 or
 * a PKIE_ERR_CONF_* code with the detail (origin:line: ...) in the error
 * record. Values already stored stay in @p dst on error: free them with
 * pkie_conf_free.
 */
int pkie_conf_parse(const char *text, size_t len, const char *origin,
                    const struct pkie_conf_key *keys, void *dst, void *cb_arg);

/** Read and parse a file (at most PKIE_CONF_MAX_SIZE bytes). */
int pkie_conf_load(const char *path, const struct pkie_conf_key *keys, void *dst, void *cb_arg);

/** Free the strings stored in @p dst by the STRING keys of @p keys. */
void pkie_conf_free(const struct pkie_conf_key *keys, void *dst);

#ifdef __cplusplus
}
#endif
#endif
