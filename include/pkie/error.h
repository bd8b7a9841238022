/*
 * pkie error model.
 *
 * Every function that can fail returns an int (0 = success, a negative
 * pkie_err code on failure) or a pointer (NULL on failure). The detail of the
 * most recent failure is kept in a thread-local record: the code, a message,
 * the file:line where it was raised, an optional byte offset (for parsers)
 * and, when the failure came from OpenSSL, OpenSSL's error queue as text.
 *
 * Codes are stable numbers. Each module owns a range and lists its codes in
 * include/pkie/errors/<module>.def as PKIE_E(NAME, value, "description"):
 *   common  -1 ..  -99      der   -100 .. -199     cmp  -200 .. -399
 *   pki   -400 .. -499      exit  -500 .. -599     transfer -600 .. -699
 *   ca    -700 .. -799
 */
#ifndef PKIE_ERROR_H
#define PKIE_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Error codes: PKIE_OK or PKIE_ERR_<NAME> from the per-module lists. */
enum pkie_err {
    PKIE_OK = 0,
#define PKIE_E(name, value, text) PKIE_ERR_##name = (value),
#include "pkie/errors/common.def"
#include "pkie/errors/der.def"
#include "pkie/errors/cmp.def"
#include "pkie/errors/pki.def"
#include "pkie/errors/exit.def"
#include "pkie/errors/transfer.def"
#include "pkie/errors/ca.def"
#undef PKIE_E
};

/** No byte offset is attached to the error. */
#define PKIE_NO_OFFSET ((size_t)-1)

/** The detail of the last error raised on the calling thread. */
struct pkie_error {
    int code;          /**< a pkie_err value, PKIE_OK when none */
    const char *file;  /**< source file that raised it (static string) */
    int line;          /**< line in that file */
    size_t offset;     /**< byte offset into parsed input, or PKIE_NO_OFFSET */
    char msg[256];     /**< human-readable detail, NUL-terminated */
    char openssl[512]; /**< OpenSSL's error queue ("" when not involved) */
};

/** Stable short name of a code, e.g. "DER_TRUNCATED"; "UNKNOWN" if none. */
const char *pkie_err_name(int code);
/** One-line description of a code. */
const char *pkie_strerror(int code);

/**
 * Record an error for the calling thread and return @p code, so that a
 * function can `return PKIE_ERR(...)`. The OpenSSL error queue is left alone.
 */
int pkie_err_set(int code, const char *file, int line, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/** As pkie_err_set, and move OpenSSL's error queue into the record. */
int pkie_err_set_ossl(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** The calling thread's last error record (never NULL). */
const struct pkie_error *pkie_err_last(void);

/** Reset the calling thread's record to PKIE_OK (and drain OpenSSL's queue). */
void pkie_err_clear(void);

/**
 * Format the last error as "NAME: message (file:line, offset N) [openssl]"
 * into @p buf. Returns @p buf.
 */
char *pkie_err_format(char *buf, size_t cap);

#define PKIE_ERR(code, ...)         pkie_err_set((code), __FILE__, __LINE__, PKIE_NO_OFFSET, __VA_ARGS__)
#define PKIE_ERR_AT(code, off, ...) pkie_err_set((code), __FILE__, __LINE__, (off), __VA_ARGS__)
#define PKIE_ERR_OSSL(code, ...)    pkie_err_set_ossl((code), __FILE__, __LINE__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
