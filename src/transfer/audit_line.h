/*
 * Reading back one audit line (audit.c writes them) for the catalog's replay
 * at startup (docs/catalog.md, "Order, durability and what a crash leaves").
 *
 * SQLite's JSON functions validate the line and give its numbers; the
 * strings are decoded by a strict decoder of the audit's own escaping
 * (pkie_xfer_json_escape: \u0000 for NUL, \udcXX for a byte that is not
 * UTF-8), so a file name comes back with its exact bytes. A line holding
 * anything the writer never emits is refused.
 */
#ifndef PKIE_XFER_AUDIT_LINE_H
#define PKIE_XFER_AUDIT_LINE_H

#include "catalog.h"
#include "pkie/transfer.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/** The SQL a caller prepares once for pkie_xfer_audit_line_parse. */
extern const char pkie_xfer_audit_line_sql[];

enum {
    AL_PARTNER,
    AL_PEER,
    AL_SUBJECT,
    AL_ISSUER,
    AL_SERIAL,
    AL_TLS,
    AL_CIPHER,
    AL_FILE,
    AL_RESULT,
    AL_ERROR,
    AL_SIDE,
    AL_N
};

/** One parsed line: ev points into the members. */
struct pkie_xfer_audit_line {
    struct pkie_xfer_catalog_event ev;
    struct pkie_xfer_audit_rec rec;
    struct pkie_xfer_refusal ref;
    struct pkie_xfer_peer peer;
    uint8_t tid[PKIE_XFER_TID_LEN], sha256[32], global_area[64];
    int64_t time_ms; /**< the line's "time" */
    char *str[AL_N]; /**< decoded strings (NULL: null) */
    size_t file_len; /**< bytes of str[AL_FILE] */
};

/**
 * Parse @p line (@p len bytes, no newline) with @p st (prepared from
 * pkie_xfer_audit_line_sql). 0, or PKIE_ERR_ARG naming what is wrong; *out
 * is freed with pkie_xfer_audit_line_free either way.
 */
int pkie_xfer_audit_line_parse(sqlite3_stmt *st, const char *line, size_t len,
                               struct pkie_xfer_audit_line *out);
void pkie_xfer_audit_line_free(struct pkie_xfer_audit_line *l);

/**
 * Decode the JSON string whose opening quote is at @p p (@p end: end of the
 * text) into a malloc'ed buffer (*out, NUL-terminated, *n bytes): only what
 * pkie_xfer_json_escape writes is accepted. PKIE_ERR_ARG otherwise.
 */
int pkie_xfer_audit_str_decode(const char *p, const char *end, char **out, size_t *n);

#endif
