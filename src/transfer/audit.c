/* Audit: one JSON line per transfer, appended with one write(2). */
#include "catalog.h"
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
    struct pkie_xfer_catalog *cat; /* the catalog written in the same step, or NULL */
};

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

static int ts_now(char **b, size_t *l, size_t *c);

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

int pkie_xfer_audit_format(const struct pkie_xfer_audit_rec *r, char **out, size_t *outlen)
{
    char *b = NULL;
    size_t l = 0, c = 0;
    const struct pkie_xfer_peer empty = {0};
    const struct pkie_xfer_peer *p = r->peer ? r->peer : &empty;
    char hex[129];
    int rc = ts_now(&b, &l, &c);
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

static int ts_now(char **b, size_t *l, size_t *c)
{
    char ts[80];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(now.tv_nsec / 1000000) % 1000);
    return sb_printf(b, l, c, "{\"time\":\"%s\"", ts);
}

int pkie_xfer_audit_format_refusal(const struct pkie_xfer_refusal *r, char **out, size_t *outlen)
{
    char *b = NULL;
    size_t l = 0, c = 0;
    const struct pkie_xfer_peer empty = {0};
    const struct pkie_xfer_peer *p = r->peer ? r->peer : &empty;
    int alert = r->alert >= 0 && r->alert <= 255 ? r->alert : -1;
    int rc = ts_now(&b, &l, &c);
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

int pkie_xfer_audit_open(const char *path, struct pkie_xfer_audit **out)
{
    *out = NULL;
    struct pkie_xfer_audit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "audit");
    a->fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
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
    if (a->fd >= 0)
        close(a->fd);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* The catalog hook: commit @p ev's row right after its audit line (@p wrote:
 * the line is in the file), under the audit lock (docs/catalog.md, "Order").
 * A failure is logged; the audit's result stays the line's. */
static void catalog_step(struct pkie_xfer_audit *a, const struct pkie_xfer_catalog_event *ev,
                         int wrote)
{
    if (a->cat == NULL || ev == NULL)
        return;
    int64_t end = -1;
    if (wrote && a->fd >= 0) {
        off_t o = lseek(a->fd, 0, SEEK_CUR); /* O_APPEND: the end of our line */
        end = o >= 0 ? (int64_t)o : -1;
    }
    if (pkie_xfer_catalog_put(a->cat, ev, end) != 0)
        pkie_log_error("catalog", "catalog write failed: %s", pkie_err_last()->msg);
}

/* Append @p line (@p len bytes and room for one more) as one line. */
static int append_line(struct pkie_xfer_audit *a, char *line, size_t len,
                       const struct pkie_xfer_catalog_event *ev)
{
    line[len] = '\n'; /* the NUL's place: the buffer holds len + 1 bytes */
    pthread_mutex_lock(&a->lock);
    ssize_t w = a->fd >= 0 ? write(a->fd, line, len + 1) : (ssize_t)(len + 1);
    int e = errno;
    catalog_step(a, ev, w == (ssize_t)(len + 1));
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
    int rc = pkie_xfer_audit_format(r, &line, &len);
    return rc != 0 ? rc : append_line(a, line, len, &(struct pkie_xfer_catalog_event){.file = r});
}

int pkie_xfer_audit_refusal(struct pkie_xfer_audit *a, const struct pkie_xfer_refusal *r)
{
    pkie_metrics_handshake_failure(r->alert);
    if (a == NULL)
        return 0;
    char *line = NULL;
    size_t len = 0;
    int rc = pkie_xfer_audit_format_refusal(r, &line, &len);
    return rc != 0 ? rc
                   : append_line(a, line, len, &(struct pkie_xfer_catalog_event){.refusal = r});
}

void pkie_xfer_audit_set_catalog(struct pkie_xfer_audit *a, struct pkie_xfer_catalog *cat)
{
    if (a == NULL)
        return;
    int64_t missing = 0;
    if (cat != NULL && pkie_xfer_catalog_check_audit(cat, a->fd, &missing) != 0)
        pkie_log_error("catalog", "checking the catalog against the audit file: %s",
                       pkie_err_last()->msg);
    else if (missing > 0)
        pkie_log_warn("catalog",
                      "the audit file holds %" PRId64 " bytes of lines written after the "
                      "catalog's last record: a crash came between an audit line and its "
                      "catalog row; those sessions are in the audit file only",
                      missing);
    else if (missing < 0)
        pkie_log_warn("catalog",
                      "the audit file is %" PRId64 " bytes shorter than when the catalog "
                      "last recorded it (rotated or truncated?)",
                      -missing);
    pthread_mutex_lock(&a->lock);
    a->cat = cat;
    pthread_mutex_unlock(&a->lock);
}

int pkie_xfer_audit_catalog(struct pkie_xfer_audit *a, const struct pkie_xfer_audit_rec *r)
{
    if (a == NULL || a->cat == NULL)
        return 0;
    pthread_mutex_lock(&a->lock);
    int rc = pkie_xfer_catalog_put(a->cat, &(struct pkie_xfer_catalog_event){.file = r}, -1);
    pthread_mutex_unlock(&a->lock);
    return rc;
}
