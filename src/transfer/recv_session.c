/* The receiving side of one connection (docs/protocol.md). */
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/transfer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_COMP "recv"

struct rsess {
    const struct pkie_xfer_recv_conf *c;
    const struct pkie_xfer_io *io;
    const struct pkie_xfer_peer *peer;
    struct pkie_xfer_audit *audit;
    struct pkie_xfer_recv_stats *stats;
    struct pkie_xfer_reader rd;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int stopping(const struct pkie_xfer_recv_conf *c)
{
    return c->stop != NULL && atomic_load(c->stop) != 0;
}

/* Report the current error record to the peer (best effort) and return its code. */
static int reply_error(struct rsess *s, int code)
{
    char text[PKIE_XFER_ERRTEXT_MAX + 1];
    const struct pkie_error *e = pkie_err_last();
    snprintf(text, sizeof(text), "%s: %s", pkie_err_name(code),
             e->code == code && e->msg[0] ? e->msg : pkie_strerror(code));
    int saved = code;
    struct pkie_error keep = *e;
    (void)pkie_xfer_send_error(s->io, code, text);
    /* keep the original detail for the caller's log */
    pkie_err_set(keep.code ? keep.code : saved, keep.file ? keep.file : __FILE__, keep.line,
                 keep.offset, "%s", keep.msg);
    return saved;
}

static void audit(struct rsess *s, const struct pkie_xfer_file *f, uint64_t t0, uint64_t bytes,
                  uint64_t resume, const uint8_t *sha, const char *result, int code)
{
    char err[300] = "";
    if (code != 0)
        snprintf(err, sizeof(err), "%s: %s", pkie_err_name(code),
                 pkie_err_last()->code == code ? pkie_err_last()->msg : pkie_strerror(code));
    struct pkie_xfer_audit_rec r = {
        .peer = s->peer,
        .file = f->name,
        .file_len = f->name_len,
        .tid = f->tid,
        .size = f->size,
        .bytes = bytes,
        .resume_offset = resume,
        .sha256 = sha,
        .duration_ms = now_ms() - t0,
        .result = result,
        .error = code ? err : NULL,
    };
    if (pkie_xfer_audit_write(s->audit, &r) != 0)
        pkie_log_error(LOG_COMP, "audit write failed: %s", pkie_err_last()->msg);
    pkie_metrics_transfer(s->peer ? s->peer->partner : NULL, "in", result, bytes, r.duration_ms);
    const char *partner = s->peer && s->peer->partner ? s->peer->partner : "?";
    if (code == 0)
        pkie_log_info(LOG_COMP, "%s: %s received (%" PRIu64 " bytes, resumed at %" PRIu64 ")",
                      partner, f->name, f->size, resume);
    else
        pkie_log_warn(LOG_COMP, "%s: %s %s: %s", partner, f->name, result, err);
    if (s->stats != NULL) {
        if (code == 0)
            s->stats->files_ok++;
        else
            s->stats->files_failed++;
    }
}

/* Receive one announced file. Returns 0 when the session may go on (the
 * file was confirmed or refused), else a fatal code. */
static int recv_file(struct rsess *s, const struct pkie_xfer_frame *ff)
{
    struct pkie_xfer_file f;
    int rc = pkie_xfer_parse_file(ff, &f);
    if (rc != 0)
        return reply_error(s, rc);
    uint64_t t0 = now_ms(), offset = 0, bytes = 0;
    struct pkie_xfer_rfile *rf = NULL;
    rc = pkie_xfer_rfile_open(s->c, &f, &rf, &offset);
    if (rc != 0) {
        /* The name is shown escaped in the audit; refuse this file, keep the session. */
        reply_error(s, rc);
        audit(s, &f, t0, 0, 0, NULL, "refused", rc);
        return pkie_xfer_error_is_file_level(rc) ? 0 : rc;
    }
    if (offset > 0)
        pkie_log_info(LOG_COMP, "%s: resuming at offset %" PRIu64 " of %" PRIu64, f.name, offset,
                      f.size);
    pkie_log_debug(LOG_COMP, "%s: FILE %" PRIu64 " bytes accepted, RESUME at %" PRIu64, f.name,
                   f.size, offset);
    struct pkie_xfer_resume res = {.offset = offset};
    memcpy(res.tid, f.tid, PKIE_XFER_TID_LEN);
    rc = pkie_xfer_send_resume(s->io, &res);
    if (rc != 0)
        goto fatal;
    for (;;) {
        struct pkie_xfer_frame fr;
        if (stopping(s->c)) {
            rc = PKIE_ERR(PKIE_ERR_XFER_SHUTDOWN, "receiver stopping at offset %" PRIu64,
                          pkie_xfer_rfile_offset(rf));
            goto fatal_reply;
        }
        rc = pkie_xfer_read_frame(&s->rd, &fr);
        if (rc == PKIE_ERR_XFER_CLOSED)
            rc = PKIE_ERR(PKIE_ERR_XFER_CLOSED, "connection closed at offset %" PRIu64,
                          pkie_xfer_rfile_offset(rf));
        if (rc != 0)
            goto fatal_reply;
        if (fr.type == PKIE_XFER_DATA) {
            rc = pkie_xfer_rfile_write(rf, fr.payload, fr.len);
            if (rc != 0)
                goto fatal_reply;
            bytes += fr.len;
            if (s->stats)
                s->stats->bytes += fr.len;
            continue;
        }
        if (fr.type == PKIE_XFER_ERROR) {
            /* the sender gives this file up (its source changed): nothing
             * of it is kept, the session goes on */
            struct pkie_xfer_error pe;
            if ((rc = pkie_xfer_parse_error(&fr, &pe)) != 0)
                goto fatal_reply;
            pkie_xfer_rfile_abandon(rf);
            pkie_xfer_rfile_close(rf);
            int code =
                strcmp(pkie_err_name(pe.code), "UNKNOWN") == 0 ? PKIE_ERR_XFER_PEER : pe.code;
            rc = PKIE_ERR(code, "sender: %s", pe.text);
            audit(s, &f, t0, bytes, offset, NULL, "failed", rc);
            pkie_xfer_reader_shrink(&s->rd);
            return 0;
        }
        if (fr.type != PKIE_XFER_END) {
            rc = PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED, "frame type %u during data", fr.type);
            goto fatal_reply;
        }
        uint8_t sha[32];
        if ((rc = pkie_xfer_parse_end(&fr, sha)) != 0)
            goto fatal_reply;
        if (pkie_xfer_rfile_offset(rf) != f.size) {
            rc = PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED, "END after %" PRIu64 " of %" PRIu64 " bytes",
                          pkie_xfer_rfile_offset(rf), f.size);
            goto fatal_reply;
        }
        pkie_log_debug(LOG_COMP, "%s: END after %" PRIu64 " bytes: verify, fsync, rename", f.name,
                       bytes);
        rc = pkie_xfer_rfile_finish(rf, sha);
        pkie_xfer_rfile_close(rf);
        rf = NULL;
        if (rc != 0) {
            reply_error(s, rc);
            audit(s, &f, t0, bytes, offset, NULL, "failed", rc);
            return pkie_xfer_error_is_file_level(rc) ? 0 : rc;
        }
        struct pkie_xfer_done d = {.size = f.size};
        memcpy(d.tid, f.tid, PKIE_XFER_TID_LEN);
        memcpy(d.sha256, sha, 32);
        audit(s, &f, t0, bytes, offset, sha, "ok", 0);
        rc = pkie_xfer_send_done(s->io, &d);
        if (rc != 0)
            pkie_log_warn(LOG_COMP, "%s: confirmation not sent: %s", f.name, pkie_err_last()->msg);
        pkie_xfer_reader_shrink(&s->rd);
        return rc;
    }
fatal_reply:
    reply_error(s, rc);
fatal:
    pkie_xfer_rfile_close(rf); /* checkpoint: resumable */
    audit(s, &f, t0, bytes, offset, NULL, "interrupted", rc);
    return rc;
}

int pkie_xfer_recv_session(const struct pkie_xfer_recv_conf *c, const struct pkie_xfer_io *io,
                           const struct pkie_xfer_peer *peer, struct pkie_xfer_audit *audit_sink,
                           struct pkie_xfer_recv_stats *stats)
{
    struct rsess s = {.c = c, .io = io, .peer = peer, .audit = audit_sink, .stats = stats};
    int rc = pkie_xfer_reader_init(&s.rd, io, PKIE_XFER_MAX_DATA);
    if (rc != 0)
        return rc;
    struct pkie_xfer_frame fr;
    struct pkie_xfer_hello theirs, ours = {1, PKIE_XFER_VERSION, 0};
    uint16_t version = 0;
    rc = pkie_xfer_read_frame(&s.rd, &fr);
    if (rc == 0)
        rc = pkie_xfer_parse_hello(&fr, &theirs);
    if (rc == 0)
        rc = pkie_xfer_version_pick(&ours, &theirs, &version);
    if (rc != 0) {
        if (rc != PKIE_ERR_XFER_CLOSED)
            reply_error(&s, rc);
        goto out;
    }
    pkie_log_debug(LOG_COMP, "HELLO: versions %u..%u, speaking %u", theirs.min_version,
                   theirs.max_version, version);
    struct pkie_xfer_hello reply = {version, version, 0};
    if ((rc = pkie_xfer_send_hello(io, &reply)) != 0)
        goto out;
    for (;;) {
        if (stopping(c)) {
            rc = PKIE_ERR(PKIE_ERR_XFER_SHUTDOWN, "receiver stopping");
            reply_error(&s, rc);
            break;
        }
        rc = pkie_xfer_read_frame(&s.rd, &fr);
        if (rc == PKIE_ERR_XFER_CLOSED) {
            rc = 0;
            break;
        }
        if (rc != 0) {
            reply_error(&s, rc);
            break;
        }
        if (fr.type == PKIE_XFER_BYE) {
            pkie_log_debug(LOG_COMP, "BYE: session done");
            break;
        }
        if (fr.type != PKIE_XFER_FILE) {
            rc = reply_error(&s, PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED,
                                          "frame type %u where FILE or BYE was expected", fr.type));
            break;
        }
        if ((rc = recv_file(&s, &fr)) != 0)
            break;
    }
out:
    pkie_xfer_reader_free(&s.rd);
    return rc;
}
