/* Reading back one audit line for the catalog's replay (audit_line.h). */
#include "audit_line.h"

#include "pkie/error.h"
#include "pkie/utf8.h"

#include <stdlib.h>
#include <string.h>

/* Validated by SQLite first (no row: not a JSON object); then the numbers,
 * the types of the members and the ASCII-only members (hex, time, event). */
const char pkie_xfer_audit_line_sql[] =
    "SELECT json_type(j, '$.time'), json_extract(j, '$.time'),"
    " json_type(j, '$.event'), json_extract(j, '$.event'),"
    " json_type(j, '$.size'), json_extract(j, '$.size'),"
    " json_type(j, '$.bytes'), json_extract(j, '$.bytes'),"
    " json_type(j, '$.resume_offset'), json_extract(j, '$.resume_offset'),"
    " json_type(j, '$.duration_ms'), json_extract(j, '$.duration_ms'),"
    " json_type(j, '$.alert'), json_extract(j, '$.alert'),"
    " json_type(j, '$.transfer_id'), json_extract(j, '$.transfer_id'),"
    " json_type(j, '$.sha256'), json_extract(j, '$.sha256'),"
    " json_type(j, '$.global_area'), json_extract(j, '$.global_area')"
    " FROM (SELECT ?1 AS j) WHERE json_valid(j) AND json_type(j) = 'object'";

/* Column pairs (type, value) of pkie_xfer_audit_line_sql. */
enum {
    C_TIME = 0,
    C_EVENT = 2,
    C_SIZE = 4,
    C_BYTES = 6,
    C_RESUME = 8,
    C_DUR = 10,
    C_ALERT = 12,
    C_TID = 14,
    C_SHA = 16,
    C_GA = 18
};

static const char *const keys[AL_N] = {
    [AL_PARTNER] = "partner",    [AL_PEER] = "peer",          [AL_SUBJECT] = "peer_subject",
    [AL_ISSUER] = "peer_issuer", [AL_SERIAL] = "peer_serial", [AL_TLS] = "tls_version",
    [AL_CIPHER] = "cipher",      [AL_FILE] = "file",          [AL_RESULT] = "result",
    [AL_ERROR] = "error",        [AL_SIDE] = "side",
};

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int pkie_xfer_audit_str_decode(const char *p, const char *end, char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (p >= end || *p != '"')
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: expected a string");
    p++;
    /* never longer than its escaped form */
    char *b = malloc((size_t)(end - p) + 1);
    if (b == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "audit line");
    size_t l = 0;
    while (p < end && *p != '"') {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\\') {
            if (end - p < 2)
                break;
            char e = p[1];
            if (e == '"' || e == '\\') {
                b[l++] = e;
                p += 2;
            } else if (e == 'n' || e == 'r' || e == 't') {
                b[l++] = e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
                p += 2;
            } else if (e == 'u' && end - p >= 6) {
                int v = 0;
                for (int i = 2; i < 6 && v >= 0; i++) {
                    int h = hexval(p[i]);
                    v = h < 0 ? -1 : v * 16 + h;
                }
                /* what the writer emits: a control character other than
                 * \n \r \t, DEL, or \udcXX for a byte (0x80..0xff) that is
                 * not UTF-8 */
                if ((v >= 0 && v < 0x20 && v != '\n' && v != '\r' && v != '\t') || v == 0x7f)
                    b[l++] = (char)v;
                else if (v >= 0xdc80 && v <= 0xdcff)
                    b[l++] = (char)(v & 0xff);
                else
                    break;
                p += 6;
            } else {
                break;
            }
        } else if (ch < 0x20 || ch == 0x7f) {
            break; /* the writer escapes these */
        } else if (ch < 0x80) {
            b[l++] = (char)ch;
            p++;
        } else {
            size_t sl = pkie_utf8_seq_len((const unsigned char *)p, (size_t)(end - p));
            if (sl == 0)
                break; /* raw bytes are valid UTF-8 */
            memcpy(b + l, p, sl);
            l += sl;
            p += sl;
        }
    }
    if (p >= end || *p != '"') {
        free(b);
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: a string the audit never writes");
    }
    b[l] = '\0';
    *out = b;
    *n = l;
    return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the string whose quote is at @p p (valid JSON). */
static const char *skip_str(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p < end ? p + 1 : end;
}

/* Past the value at @p p (valid JSON). */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = skip_str(p, end);
            if (depth == 0)
                return p;
            continue;
        }
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (*p == ',' && depth == 0) {
            return p;
        }
        p++;
    }
    return end;
}

/* The value of the first top-level member @p key of the object in [p, end)
 * (validated by SQLite), or NULL when absent. */
static const char *find_member(const char *p, const char *end, const char *key)
{
    size_t kl = strlen(key);
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return NULL;
        const char *k = p + 1;
        p = skip_str(p, end);
        int match = (size_t)(p - 1 - k) == kl && memcmp(k, key, kl) == 0;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        if (match)
            return p;
        p = skip_ws(skip_value(p, end), end);
        if (p >= end || *p != ',')
            return NULL;
        p++;
    }
}

static int col_is(sqlite3_stmt *st, int i, const char *type)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL && strcmp((const char *)t, type) == 0;
}

/* A non-negative integer member, or -1 when null is allowed and given. */
static int get_uint(sqlite3_stmt *st, int i, int null_ok, int64_t *v, const char *name)
{
    if (null_ok && col_is(st, i, "null")) {
        *v = -1;
        return 0;
    }
    if (!col_is(st, i, "integer") || sqlite3_column_int64(st, i + 1) < 0)
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: %s is not a non-negative integer", name);
    *v = sqlite3_column_int64(st, i + 1);
    return 0;
}

/* A hex member of exactly @p n bytes into @p out (*set: 0 when null). */
static int get_hex(sqlite3_stmt *st, int i, uint8_t *out, size_t n, int *set, const char *name)
{
    *set = 0;
    if (col_is(st, i, "null") || sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0; /* null, or absent (a refusal has no global area) */
    const char *h = col_is(st, i, "text") ? (const char *)sqlite3_column_text(st, i + 1) : NULL;
    if (h == NULL || strlen(h) != 2 * n)
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: %s is not %zu hex bytes", name, n);
    for (size_t k = 0; k < n; k++) {
        int a = hexval(h[2 * k]), b = hexval(h[2 * k + 1]);
        if (a < 0 || b < 0)
            return PKIE_ERR(PKIE_ERR_ARG, "audit line: %s is not lower-case hex", name);
        out[k] = (uint8_t)(a * 16 + b);
    }
    *set = 1;
    return 0;
}

void pkie_xfer_audit_line_free(struct pkie_xfer_audit_line *l)
{
    for (int i = 0; i < AL_N; i++) {
        free(l->str[i]);
        l->str[i] = NULL;
    }
}

static int parse_strings(const char *line, size_t len, struct pkie_xfer_audit_line *out)
{
    const char *end = line + len;
    for (int i = 0; i < AL_N; i++) {
        const char *v = find_member(line, end, keys[i]);
        if (v == NULL || (end - v >= 4 && memcmp(v, "null", 4) == 0))
            continue; /* absent or null */
        size_t n = 0;
        int rc = pkie_xfer_audit_str_decode(v, end, &out->str[i], &n);
        if (rc != 0)
            return PKIE_ERR(PKIE_ERR_ARG, "audit line: \"%s\": not a string the audit writes",
                            keys[i]);
        if (i == AL_FILE)
            out->file_len = n;
        else if (memchr(out->str[i], '\0', n) != NULL)
            return PKIE_ERR(PKIE_ERR_ARG, "audit line: \"%s\" holds NUL", keys[i]);
    }
    return 0;
}

static int parse_fields(sqlite3_stmt *st, const char *line, size_t len,
                        struct pkie_xfer_audit_line *out)
{
    const char *ts =
        col_is(st, C_TIME, "text") ? (const char *)sqlite3_column_text(st, C_TIME + 1) : NULL;
    /* RFC 3339 as the writer gives it (a duration is TIME's other form) */
    if (ts == NULL || strlen(ts) != 24 || ts[4] != '-' || ts[23] != 'Z' ||
        pkie_xfer_time_parse(ts, 0, &out->time_ms) != 0)
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: no valid \"time\"");
    int rc = parse_strings(line, len, out);
    if (rc != 0)
        return rc;
    struct pkie_xfer_peer *p = &out->peer;
    p->partner = out->str[AL_PARTNER];
    p->addr = out->str[AL_PEER];
    p->subject = out->str[AL_SUBJECT];
    p->issuer = out->str[AL_ISSUER];
    p->serial = out->str[AL_SERIAL];
    p->tls_version = out->str[AL_TLS];
    p->cipher = out->str[AL_CIPHER];
    int set = 0;
    if ((rc = get_hex(st, C_GA, out->global_area, 64, &set, "global_area")) != 0)
        return rc;
    p->global_area = set ? out->global_area : NULL;
    int64_t dur, v;
    if (col_is(st, C_EVENT, "text")) {
        const char *ev = (const char *)sqlite3_column_text(st, C_EVENT + 1);
        if (ev == NULL || strcmp(ev, "refused") != 0 || out->str[AL_SIDE] == NULL)
            return PKIE_ERR(PKIE_ERR_ARG, "audit line: unknown event");
        if ((rc = get_uint(st, C_DUR, 1, &dur, "duration_ms")) != 0 ||
            (rc = get_uint(st, C_ALERT, 1, &v, "alert")) != 0)
            return rc;
        out->ref = (struct pkie_xfer_refusal){.peer = p,
                                              .side = out->str[AL_SIDE],
                                              .alert = v <= 255 ? (int)v : -1,
                                              .reason = out->str[AL_ERROR],
                                              .duration_ms = dur};
        out->ev.refusal = &out->ref;
        return 0;
    }
    if (!col_is(st, C_EVENT, "null") && sqlite3_column_type(st, C_EVENT) != SQLITE_NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: unknown event");
    if (out->str[AL_RESULT] == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: no result");
    struct pkie_xfer_audit_rec *r = &out->rec;
    int64_t size, bytes, resume;
    if ((rc = get_uint(st, C_SIZE, 0, &size, "size")) != 0 ||
        (rc = get_uint(st, C_BYTES, 0, &bytes, "bytes")) != 0 ||
        (rc = get_uint(st, C_RESUME, 0, &resume, "resume_offset")) != 0 ||
        (rc = get_uint(st, C_DUR, 0, &dur, "duration_ms")) != 0)
        return rc;
    int has_tid = 0, has_sha = 0;
    if ((rc = get_hex(st, C_TID, out->tid, PKIE_XFER_TID_LEN, &has_tid, "transfer_id")) != 0 ||
        (rc = get_hex(st, C_SHA, out->sha256, 32, &has_sha, "sha256")) != 0)
        return rc;
    *r = (struct pkie_xfer_audit_rec){.peer = p,
                                      .file = out->str[AL_FILE],
                                      .file_len = out->file_len,
                                      .tid = has_tid ? out->tid : NULL,
                                      .size = (uint64_t)size,
                                      .bytes = (uint64_t)bytes,
                                      .resume_offset = (uint64_t)resume,
                                      .sha256 = has_sha ? out->sha256 : NULL,
                                      .duration_ms = (uint64_t)dur,
                                      .result = out->str[AL_RESULT],
                                      .error = out->str[AL_ERROR]};
    out->ev.file = r;
    return 0;
}

int pkie_xfer_audit_line_parse(sqlite3_stmt *st, const char *line, size_t len,
                               struct pkie_xfer_audit_line *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > 64u * 1024u || memchr(line, '\0', len) != NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "audit line: empty, too long or holding NUL");
    int rc = sqlite3_bind_text(st, 1, line, (int)len, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                                  : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        rc = parse_fields(st, line, len, out);
    else if (rc == SQLITE_DONE)
        rc = PKIE_ERR(PKIE_ERR_ARG, "audit line: not a JSON object");
    else
        rc = PKIE_ERR(PKIE_ERR_ARG, "audit line: not JSON (SQLite code %d)", rc);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}
