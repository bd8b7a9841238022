/* Thread-local error record and code tables (see include/pkie/error.h). */
#include "pkie/error.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local struct pkie_error tls_err;

const char *pkie_err_name(int code)
{
    switch (code) {
    case PKIE_OK:
        return "OK";
#define PKIE_E(name, value, text)                                                                  \
    case (value):                                                                                  \
        return #name;
#include "pkie/errors/common.def"
#include "pkie/errors/der.def"
#include "pkie/errors/cmp.def"
#include "pkie/errors/pki.def"
#include "pkie/errors/exit.def"
#include "pkie/errors/transfer.def"
#include "pkie/errors/ca.def"
#undef PKIE_E
    default:
        return "UNKNOWN";
    }
}

const char *pkie_strerror(int code)
{
    switch (code) {
    case PKIE_OK:
        return "success";
#define PKIE_E(name, value, text)                                                                  \
    case (value):                                                                                  \
        return text;
#include "pkie/errors/common.def"
#include "pkie/errors/der.def"
#include "pkie/errors/cmp.def"
#include "pkie/errors/pki.def"
#include "pkie/errors/exit.def"
#include "pkie/errors/transfer.def"
#include "pkie/errors/ca.def"
#undef PKIE_E
    default:
        return "unknown error";
    }
}

static void record(int code, const char *file, int line, size_t offset, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static void record(int code, const char *file, int line, size_t offset, const char *fmt, va_list ap)
{
    tls_err.code = code;
    tls_err.file = file;
    tls_err.line = line;
    tls_err.offset = offset;
    tls_err.openssl[0] = '\0';
    if (fmt != NULL)
        vsnprintf(tls_err.msg, sizeof(tls_err.msg), fmt, ap);
    else
        tls_err.msg[0] = '\0';
}

int pkie_err_set(int code, const char *file, int line, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, file, line, offset, fmt, ap);
    va_end(ap);
    return code;
}

/* Drain OpenSSL's queue into the record, oldest first, "; "-separated. */
static void capture_openssl(void)
{
    size_t used = 0;
    unsigned long e;
    const char *efile, *data;
    int eline, flags;
    while ((e = ERR_get_error_all(&efile, &eline, NULL, &data, &flags)) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        int n = snprintf(tls_err.openssl + used, sizeof(tls_err.openssl) - used, "%s%s%s%s",
                         used ? "; " : "", one, (flags & ERR_TXT_STRING) && data ? ": " : "",
                         (flags & ERR_TXT_STRING) && data ? data : "");
        if (n < 0 || (size_t)n >= sizeof(tls_err.openssl) - used) {
            used = sizeof(tls_err.openssl) - 1;
            ERR_clear_error();
            break;
        }
        used += (size_t)n;
    }
}

int pkie_err_set_ossl(int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, file, line, PKIE_NO_OFFSET, fmt, ap);
    va_end(ap);
    capture_openssl();
    return code;
}

const struct pkie_error *pkie_err_last(void)
{
    return &tls_err;
}

void pkie_err_clear(void)
{
    memset(&tls_err, 0, sizeof(tls_err));
    tls_err.offset = PKIE_NO_OFFSET;
    ERR_clear_error();
}

char *pkie_err_format(char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return buf;
    const struct pkie_error *e = &tls_err;
    char off[48] = "";
    if (e->offset != PKIE_NO_OFFSET)
        snprintf(off, sizeof(off), ", offset %zu", e->offset);
    snprintf(buf, cap, "%s: %s (%s:%d%s)%s%s%s", pkie_err_name(e->code),
             e->msg[0] ? e->msg : pkie_strerror(e->code), e->file ? e->file : "?", e->line, off,
             e->openssl[0] ? " [" : "", e->openssl, e->openssl[0] ? "]" : "");
    return buf;
}
