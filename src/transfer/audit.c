/* Audit: one JSON line per transfer, appended with one write(2). */
#include "catalog.h"
#include "catalog_queue.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/transfer.h"
#include "pkie/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_MAX_LINE (64u * 1024u)

struct pkie_xfer_audit {
    int fd; /* -1: no audit file (a sender's catalog only) */
    pthread_mutex_t lock;
    struct pkie_xfer_catalog *cat; /* the catalog the rows go to, or NULL */
    struct pkie_xfer_catq *q;      /* its writer thread (NULL: commit in the step) */
};

/* Bytes of audit lines the startup replay reads at most. */
#define AUDIT_REPLAY_MAX ((int64_t)64 * 1024 * 1024)

static int sb_reserve(char **buf, size_t *len, size_t *cap, size_t extra)
{
    if (*len + extra + 1 > AUDIT_MAX_LINE)
        return PKIE_ERR(PKIE_ERR_LIMIT, "audit line over %u bytes", AUDIT_MAX_LINE);
    if (*len + extra + 1 <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 512;
    while (ncap < *len + extra + 1)
        ncap *= 2;
    char *n = realloc(*buf, ncap);
    if (n == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "audit line");
    *buf = n;
    *cap = ncap;
    return 0;
}

static int sb_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    int rc = sb_reserve(buf, len, cap, n);
    if (rc != 0)
        return rc;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static int sb_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int sb_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return PKIE_ERR(PKIE_ERR_INTERNAL, "audit field too long");
    return sb_add(buf, len, cap, tmp, (size_t)n);
}

int pkie_xfer_json_escape(char **buf, size_t *len, size_t *cap, const char *s, size_t slen)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0;
    for (size_t i = 0; i < slen && rc == 0;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = sb_add(buf, len, cap, e, 2);
            i++;
        } else if (c == '\n') {
            rc = sb_add(buf, len, cap, "\\n", 2);
            i++;
        } else if (c == '\r') {
            rc = sb_add(buf, len, cap, "\\r", 2);
            i++;
        } else if (c == '\t') {
            rc = sb_add(buf, len, cap, "\\t", 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            rc = sb_printf(buf, len, cap, "\\u%04x", c);
            i++;
        } else {
            size_t l = pkie_utf8_seq_len(p + i, slen - i);
            if (l == 0) {
                /* a byte that is not UTF-8: \udcXX, a lone low surrogate that
                 * valid UTF-8 never holds (as Python's surrogateescape,
                 * PEP 383): lossless, docs/protocol.md "Audit" */
                rc = sb_printf(buf, len, cap, "\\udc%02x", c);
                i++;
            } else {
                rc = sb_add(buf, len, cap, s + i, l);
                i += l;
            }
        }
    }
    if (rc == 0)
        rc = sb_reserve(buf, len, cap, 0); /* always NUL-terminated */
    if (rc == 0)
        (*buf)[*len] = '\0';
    return rc;
}

static int ts_at(char **b, size_t *l, size_t *c, int64_t ms);

static int add_str(char **b, size_t *l, size_t *c, const char *key, const char *v)
{
    int rc = sb_printf(b, l, c, ",\"%s\":", key);
    if (rc != 0)
        return rc;
    if (v == NULL)
        return sb_add(b, l, c, "null", 4);
    if ((rc = sb_add(b, l, c, "\"", 1)) != 0 ||
        (rc = pkie_xfer_json_escape(b, l, c, v, strlen(v))) != 0)
        return rc;
    return sb_add(b, l, c, "\"", 1);
}

/* The peer's fields: partner, address, certificate subject, issuer, serial. */
static int add_peer(char **b, size_t *l, size_t *c, const struct pkie_xfer_peer *p)
{
    int rc = add_str(b, l, c, "partner", p->partner);
    if (rc == 0)
        rc = add_str(b, l, c, "peer", p->addr);
    if (rc == 0)
        rc = add_str(b, l, c, "peer_subject", p->subject);
    if (rc == 0)
        rc = add_str(b, l, c, "peer_issuer", p->issuer);
    if (rc == 0)
        rc = add_str(b, l, c, "peer_serial", p->serial);
    return rc;
}

/* As add_str for @p n bytes that may hold NUL (0: up to the first NUL). */
static int add_bytes(char **b, size_t *l, size_t *c, const char *key, const char *v, size_t n)
{
    if (v == NULL || n == 0)
        return add_str(b, l, c, key, v);
    int rc = sb_printf(b, l, c, ",\"%s\":\"", key);
    if (rc == 0)
        rc = pkie_xfer_json_escape(b, l, c, v, n);
    return rc != 0 ? rc : sb_add(b, l, c, "\"", 1);
}

/* Close the object begun in *b (after a step that returned @p rc) and hand it
 * out, or free it on error. */
static int finish_object(int rc, char *b, size_t l, size_t c, char **out, size_t *outlen)
{
    if (rc == 0)
        rc = sb_add(&b, &l, &c, "}", 1);
    if (rc != 0) {
        free(b);
        return rc;
    }
    *out = b;
    *outlen = l;
    return 0;
}

/* pkie_xfer_audit_format with the line's time @p ms (the catalog row's end). */
static int format_at(const struct pkie_xfer_audit_rec *r, int64_t ms, char **out, size_t *outlen)
{
    char *b = NULL;
    size_t l = 0, c = 0;
    const struct pkie_xfer_peer empty = {0};
    const struct pkie_xfer_peer *p = r->peer ? r->peer : &empty;
    char hex[129];
    int rc = ts_at(&b, &l, &c, ms);
    if (rc == 0)
        rc = add_peer(&b, &l, &c, p);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "tls_version", p->tls_version);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "cipher", p->cipher);
    if (rc == 0)
        rc = add_bytes(&b, &l, &c, "file", r->file, r->file ? r->file_len : 0);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "transfer_id",
                     r->tid ? pkie_xfer_hex(r->tid, PKIE_XFER_TID_LEN, hex) : NULL);
    if (rc == 0)
        rc = sb_printf(&b, &l, &c,
                       ",\"size\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"resume_offset\":%" PRIu64
                       ",\"duration_ms\":%" PRIu64,
                       r->size, r->bytes, r->resume_offset, r->duration_ms);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "sha256", r->sha256 ? pkie_xfer_hex(r->sha256, 32, hex) : NULL);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "result", r->result ? r->result : "failed");
    if (rc == 0)
        rc = add_str(&b, &l, &c, "error", r->error);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "global_area",
                     p->global_area ? pkie_xfer_hex(p->global_area, 64, hex) : NULL);
    return finish_object(rc, b, l, c, out, outlen);
}

int pkie_xfer_audit_format(const struct pkie_xfer_audit_rec *r, char **out, size_t *outlen)
{
    return format_at(r, pkie_xfer_now_ms(), out, outlen);
}

/* The line's "time": @p ms since the epoch (pkie_xfer_now_ms), RFC 3339 UTC
 * with milliseconds; the catalog row's end is the same value. */
static int ts_at(char **b, size_t *l, size_t *c, int64_t ms)
{
    char ts[32];
    pkie_xfer_time_format(ms, ts);
    return sb_printf(b, l, c, "{\"time\":\"%s\"", ts);
}

static int format_refusal_at(const struct pkie_xfer_refusal *r, int64_t ms, char **out,
                             size_t *outlen)
{
    char *b = NULL;
    size_t l = 0, c = 0;
    const struct pkie_xfer_peer empty = {0};
    const struct pkie_xfer_peer *p = r->peer ? r->peer : &empty;
    int alert = r->alert >= 0 && r->alert <= 255 ? r->alert : -1;
    int rc = ts_at(&b, &l, &c, ms);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "event", "refused");
    if (rc == 0)
        rc = add_str(&b, &l, &c, "side", r->side);
    if (rc == 0)
        rc = add_peer(&b, &l, &c, p);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "stage", "handshake");
    if (rc == 0 && alert >= 0)
        rc = sb_printf(&b, &l, &c, ",\"alert\":%d", alert);
    else if (rc == 0)
        rc = sb_add(&b, &l, &c, ",\"alert\":null", 13);
    if (rc == 0)
        rc = add_str(&b, &l, &c, "alert_direction",
                     alert < 0       ? NULL
                     : r->alert_sent ? "sent"
                                     : "received");
    if (rc == 0)
        rc = add_str(&b, &l, &c, "alert_name", alert >= 0 ? pkie_tls_alert_name(alert) : NULL);
    if (rc == 0 && r->duration_ms >= 0)
        rc = sb_printf(&b, &l, &c, ",\"duration_ms\":%" PRId64, r->duration_ms);
    else if (rc == 0)
        rc = sb_printf(&b, &l, &c, ",\"duration_ms\":null");
    if (rc == 0)
        rc = add_str(&b, &l, &c, "result", "refused");
    if (rc == 0)
        rc = add_str(&b, &l, &c, "error", r->reason ? r->reason : "refused");
    return finish_object(rc, b, l, c, out, outlen);
}

int pkie_xfer_audit_format_refusal(const struct pkie_xfer_refusal *r, char **out, size_t *outlen)
{
    return format_refusal_at(r, pkie_xfer_now_ms(), out, outlen);
}

int pkie_xfer_audit_open(const char *path, struct pkie_xfer_audit **out)
{
    *out = NULL;
    struct pkie_xfer_audit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "audit");
    /* read-write: the catalog's startup replay reads back the lines after
     * its last row (write-only when that is all the file allows) */
    a->fd = path ? open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
    if (path != NULL && a->fd < 0 && errno == EACCES)
        a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (path != NULL && a->fd < 0) {
        int e = errno;
        free(a);
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "audit file %s: %s", path, strerror(e));
    }
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return 0;
}

void pkie_xfer_audit_close(struct pkie_xfer_audit *a)
{
    if (a == NULL)
        return;
    pkie_xfer_catq_stop(a->q); /* commits every queued row, then joins */
    if (a->fd >= 0)
        close(a->fd);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* The catalog hook: queue @p ev's row (ended @p ms, the line's time) right
 * after its audit line (@p wrote: the line is in the file), under the audit
 * lock, so that rows keep the lines' order (docs/catalog.md, "Order"). The
 * writer thread commits it within PKIE_XFER_CATQ_DELAY_MS; without one it
 * commits here. A failure is logged; the audit's result stays the line's. */
static void catalog_step(struct pkie_xfer_audit *a, const struct pkie_xfer_catalog_event *ev,
                         int64_t ms, int wrote)
{
    if (a->cat == NULL || ev == NULL)
        return;
    int64_t end = -1;
    if (wrote && a->fd >= 0) {
        off_t o = lseek(a->fd, 0, SEEK_CUR); /* O_APPEND: the end of our line */
        end = o >= 0 ? (int64_t)o : -1;
    }
    struct pkie_xfer_catalog_item it = {.ev = ev, .audit_end = end, .ended_ms = ms};
    if (a->q != NULL) {
        if (pkie_xfer_catq_push(a->q, ev, end, ms) != 0)
            pkie_log_error("catalog", "catalog write failed: %s", pkie_err_last()->msg);
    } else {
        (void)pkie_xfer_catalog_put_many(a->cat, &it, 1); /* logs its failure */
    }
}

/* Append @p line (@p len bytes and room for one more) as one line. */
static int append_line(struct pkie_xfer_audit *a, char *line, size_t len,
                       const struct pkie_xfer_catalog_event *ev, int64_t ms)
{
    line[len] = '\n'; /* the NUL's place: the buffer holds len + 1 bytes */
    pthread_mutex_lock(&a->lock);
    ssize_t w = a->fd >= 0 ? write(a->fd, line, len + 1) : (ssize_t)(len + 1);
    int e = errno;
    catalog_step(a, ev, ms, w == (ssize_t)(len + 1));
    pthread_mutex_unlock(&a->lock);
    free(line);
    if (w != (ssize_t)(len + 1))
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "audit write: %s", w < 0 ? strerror(e) : "short");
    return 0;
}

int pkie_xfer_audit_write(struct pkie_xfer_audit *a, const struct pkie_xfer_audit_rec *r)
{
    if (a == NULL)
        return 0;
    char *line = NULL;
    size_t len = 0;
    int64_t ms = pkie_xfer_now_ms();
    int rc = format_at(r, ms, &line, &len);
    return rc != 0 ? rc
                   : append_line(a, line, len, &(struct pkie_xfer_catalog_event){.file = r}, ms);
}

int pkie_xfer_audit_refusal(struct pkie_xfer_audit *a, const struct pkie_xfer_refusal *r)
{
    pkie_metrics_handshake_failure(r->alert);
    if (a == NULL)
        return 0;
    char *line = NULL;
    size_t len = 0;
    int64_t ms = pkie_xfer_now_ms();
    int rc = format_refusal_at(r, ms, &line, &len);
    return rc != 0 ? rc
                   : append_line(a, line, len, &(struct pkie_xfer_catalog_event){.refusal = r}, ms);
}

/* Log what the startup replay did. */
static void log_replay(const struct pkie_xfer_catalog_replay *st)
{
    if (st->replayed > 0)
        pkie_log_info("catalog", "replayed %" PRIu64 " audit line(s) into the catalog",
                      st->replayed);
    if (st->bad > 0)
        pkie_log_warn("catalog",
                      "%" PRIu64 " audit line(s) after offset %" PRId64
                      " could not be read back into the catalog (the first at offset %" PRId64
                      "); they are in the audit file only",
                      st->bad, st->from, st->first_bad);
    if (st->cut)
        pkie_log_warn("catalog", "the audit file ends with a line cut short (no newline): "
                                 "not replayed");
    if (st->skipped > 0)
        pkie_log_warn("catalog",
                      "the audit file holds %" PRId64 " bytes of lines written after the "
                      "catalog's last record, more than the replay reads (%" PRId64
                      " bytes): those sessions are in the audit file only",
                      st->skipped, AUDIT_REPLAY_MAX);
    if (st->shorter > 0)
        pkie_log_warn("catalog",
                      "the audit file is %" PRId64 " bytes shorter than when the catalog "
                      "last recorded it (rotated or truncated?)",
                      st->shorter);
}

void pkie_xfer_audit_set_catalog(struct pkie_xfer_audit *a, struct pkie_xfer_catalog *cat)
{
    if (a == NULL)
        return;
    struct pkie_xfer_catalog_replay st;
    pthread_mutex_lock(&a->lock);
    struct pkie_xfer_catq *old = a->q;
    a->q = NULL;
    pthread_mutex_unlock(&a->lock);
    pkie_xfer_catq_stop(old); /* a sink set twice: the old writer drains first */
    pthread_mutex_lock(&a->lock);
    if (cat != NULL && pkie_xfer_catalog_replay(cat, a->fd, AUDIT_REPLAY_MAX, &st) != 0)
        pkie_log_error("catalog", "replaying the audit file into the catalog: %s",
                       pkie_err_last()->msg);
    else if (cat != NULL)
        log_replay(&st);
    a->cat = cat;
    if (cat != NULL && pkie_xfer_catq_start(cat, &a->lock, PKIE_XFER_CATQ_BATCH,
                                            PKIE_XFER_CATQ_DELAY_MS, &a->q) != 0)
        pkie_log_warn("catalog", "%s: committing each row in its step instead",
                      pkie_err_last()->msg);
    pthread_mutex_unlock(&a->lock);
}

int pkie_xfer_audit_catalog(struct pkie_xfer_audit *a, const struct pkie_xfer_audit_rec *r)
{
    if (a == NULL || a->cat == NULL)
        return 0;
    struct pkie_xfer_catalog_event ev = {.file = r};
    int64_t ms = pkie_xfer_now_ms();
    if (a->q != NULL)
        return pkie_xfer_catq_push(a->q, &ev, -1, ms);
    struct pkie_xfer_catalog_item it = {.ev = &ev, .audit_end = -1, .ended_ms = ms};
    pthread_mutex_lock(&a->lock);
    size_t failed = pkie_xfer_catalog_put_many(a->cat, &it, 1);
    pthread_mutex_unlock(&a->lock);
    return failed ? PKIE_ERR(PKIE_ERR_IO, "catalog write failed") : 0;
}
