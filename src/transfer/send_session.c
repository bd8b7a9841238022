/* The sending side of one connection (docs/protocol.md). */
#include "sread.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* DATA payload per frame: header + payload fill exactly 16 TLS records of
 * 16 KiB (no short record per frame), and the piece read, hashed and encrypted
 * stays in the L2 cache between those three passes. */
#define SEND_DATA_LEN   (16u * 16384u - PKIE_XFER_HDR_LEN)
/* Files with this much to send are read and hashed ahead in another thread,
 * in READ_AHEAD_NBUF frames (the session thread only encrypts and sends). */
#define READ_AHEAD_MIN  (4u << 20)
#define READ_AHEAD_NBUF 4u

static void set_result(struct pkie_xfer_send_result *res, int code)
{
    res->code = code;
    const struct pkie_error *e = pkie_err_last();
    snprintf(res->error, sizeof(res->error), "%s: %s", pkie_err_name(code),
             e->code == code && e->msg[0] ? e->msg : pkie_strerror(code));
}

/* An ERROR frame from the peer becomes the current error; returns its code. */
static int peer_error(const struct pkie_xfer_frame *f)
{
    struct pkie_xfer_error e;
    int rc = pkie_xfer_parse_error(f, &e);
    if (rc != 0)
        return rc;
    int code = e.code;
    if (strcmp(pkie_err_name(code), "UNKNOWN") == 0)
        code = PKIE_ERR_XFER_PEER;
    return PKIE_ERR(code, "receiver: %s", e.text);
}

/* Read a reply of type @want; an ERROR frame becomes the error. */
static int read_reply(struct pkie_xfer_sender *s, uint8_t want, struct pkie_xfer_frame *f)
{
    int rc = pkie_xfer_read_frame(&s->reader, f);
    if (rc != 0)
        return rc;
    if (f->type == PKIE_XFER_ERROR)
        return peer_error(f);
    if (f->type != want)
        return PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED, "frame type %u where %u was expected", f->type,
                        want);
    return 0;
}

static int explain_write_failure(struct pkie_xfer_sender *s, int rc);
static int hello_answer(struct pkie_xfer_sender *s);

int pkie_xfer_sender_start(struct pkie_xfer_sender *s, const struct pkie_xfer_io *io)
{
    memset(s, 0, sizeof(*s));
    s->io = io;
    int rc = pkie_xfer_reader_init(&s->reader, io, 0);
    if (rc != 0)
        return rc;
    s->buf_cap = PKIE_XFER_HDR_LEN + (size_t)SEND_DATA_LEN;
    s->buf = malloc(s->buf_cap);
    if (s->buf == NULL) {
        s->broken = 1;
        return PKIE_ERR(PKIE_ERR_NOMEM, "send buffer");
    }
    struct pkie_xfer_hello ours = {1, PKIE_XFER_VERSION, 0};
    rc = pkie_xfer_send_hello(io, &ours);
    if (rc != 0) {
        rc = explain_write_failure(s, rc);
    } else if (ours.min_version == ours.max_version) {
        /* One version spoken: the first FILE need not wait for the answer
         * (one round trip less per session); hello_answer reads it. */
        s->hello_pending = 1;
        s->version = ours.max_version;
    } else {
        rc = hello_answer(s);
    }
    if (rc != 0)
        s->broken = 1;
    return rc;
}

/* The receiver's answer to our HELLO: its versions, and the one both speak. */
static int hello_answer(struct pkie_xfer_sender *s)
{
    struct pkie_xfer_hello ours = {1, PKIE_XFER_VERSION, 0}, theirs;
    struct pkie_xfer_frame f;
    s->hello_pending = 0;
    int rc = read_reply(s, PKIE_XFER_HELLO, &f);
    if (rc == 0)
        rc = pkie_xfer_parse_hello(&f, &theirs);
    if (rc == 0)
        rc = pkie_xfer_version_pick(&ours, &theirs, &s->version);
    if (rc == 0) {
        s->answered = 1;
        pkie_log_debug("send", "HELLO answered: protocol version %u", s->version);
    }
    return rc;
}

/* After a failed write: the receiver may have said why before closing. */
static int explain_write_failure(struct pkie_xfer_sender *s, int rc)
{
    struct pkie_xfer_frame f;
    struct pkie_error keep = *pkie_err_last();
    int rrc = pkie_xfer_read_frame(&s->reader, &f);
    if (rrc == 0 && f.type == PKIE_XFER_ERROR)
        return peer_error(&f);
    if (rrc != 0 && strstr(pkie_err_last()->msg, "alert") != NULL)
        return rrc; /* the TLS alert that ended the connection says more */
    pkie_err_set(keep.code, keep.file ? keep.file : __FILE__, keep.line, keep.offset, "%s",
                 keep.msg);
    return rc;
}

/* The source must still be the file seen at FILE (@p st0): fstat of the open
 * descriptor after each range read, and at END a stat of @p path too (a file
 * renamed over the path leaves the descriptor's file unchanged). */
static int check_source(int fd, const char *path, const char *name, const struct stat *st0)
{
    struct stat now;
    if (fstat(fd, &now) != 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "stat %s: %s", name, strerror(errno));
    if (!xfer_src_same(st0, &now))
        return PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s was modified during the transfer", name);
    if (path == NULL)
        return 0;
    if (stat(path, &now) != 0)
        return PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s was removed during the transfer: %s", name,
                        strerror(errno));
    if (!xfer_src_same(st0, &now))
        return PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s was replaced during the transfer", name);
    return 0;
}

/* Give up a file after FILE: tell the receiver (it drops the partial file and
 * the session goes on), keep our error. */
static int abandon_file(struct pkie_xfer_sender *s, int rc)
{
    struct pkie_error keep = *pkie_err_last();
    char text[PKIE_XFER_ERRTEXT_MAX + 1];
    snprintf(text, sizeof(text), "%s: the sender gave up the file", pkie_err_name(rc));
    if (pkie_xfer_send_error(s->io, rc, text) != 0)
        s->broken = 1;
    pkie_err_set(keep.code ? keep.code : rc, keep.file ? keep.file : __FILE__, keep.line,
                 keep.offset, "%s", keep.msg);
    return rc;
}

static int hash_prefix(struct pkie_xfer_sender *s, int fd, EVP_MD_CTX *md, uint64_t len)
{
    uint64_t pos = 0;
    while (pos < len) {
        size_t want = len - pos < SEND_DATA_LEN ? (size_t)(len - pos) : SEND_DATA_LEN;
        ssize_t n = pread(fd, s->buf, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PKIE_ERR(PKIE_ERR_XFER_CHANGED, "source shorter than %" PRIu64 " bytes", len);
        if (EVP_DigestUpdate(md, s->buf, (size_t)n) != 1)
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 update");
        pos += (uint64_t)n;
    }
    return 0;
}

/* Send @n bytes of data that follow PKIE_XFER_HDR_LEN bytes of room at
 * @frame as one DATA frame, and count them. */
static int send_data(struct pkie_xfer_sender *s, uint8_t *frame, size_t n, uint64_t *pos,
                     struct pkie_xfer_send_result *res, pkie_xfer_progress_fn progress,
                     void *progress_arg)
{
    pkie_xfer_put_header(frame, PKIE_XFER_DATA, (uint32_t)n);
    pkie_xfer_trace_frame("out", PKIE_XFER_DATA, (uint32_t)n, 0);
    int rc = pkie_xfer_write_all(s->io, frame, PKIE_XFER_HDR_LEN + n);
    if (rc != 0)
        return explain_write_failure(s, rc);
    *pos += n;
    res->bytes_sent += n;
    if (progress)
        progress(progress_arg, *pos, res->size);
    return 0;
}

/* Send [*pos, size) with the file read and hashed ahead in another thread.
 * Returns 0 with *pos at the end, or when the thread cannot start with *pos
 * unchanged (the caller's loop sends it); else an error, with *local set
 * when it is the source's (changed, unreadable), not the connection's. */
static int send_read_ahead(struct pkie_xfer_sender *s, int fd, const char *name, EVP_MD_CTX *md,
                           const struct stat *st0, uint64_t *pos, struct pkie_xfer_send_result *res,
                           pkie_xfer_progress_fn progress, void *progress_arg, int *local)
{
    struct xfer_sreader *sr = NULL;
    if (xfer_sreader_start(fd, *pos, res->size, SEND_DATA_LEN, READ_AHEAD_NBUF, PKIE_XFER_HDR_LEN,
                           md, st0, &sr) != 0)
        return 0;
    int rc = 0;
    for (;;) {
        uint8_t *b;
        size_t n;
        int e = xfer_sreader_next(sr, &b, &n);
        if (e == 1)
            break;
        if (e < 0) {
            *local = 1;
            if (e == -ENODATA)
                rc = PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s shrank during the transfer", name);
            else if (e == -ESTALE)
                rc = PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s was modified during the transfer", name);
            else
                rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "read %s: %s", name, strerror(-e));
            break;
        }
        if ((rc = send_data(s, b, n, pos, res, progress, progress_arg)) != 0)
            break;
    }
    xfer_sreader_free(sr);
    return rc;
}

int pkie_xfer_sender_file(struct pkie_xfer_sender *s, int fd, const char *name, const char *path,
                          const uint8_t tid[PKIE_XFER_TID_LEN], uint32_t mode,
                          pkie_xfer_progress_fn progress, void *progress_arg,
                          struct pkie_xfer_send_result *res)
{
    memset(res, 0, sizeof(*res));
    EVP_MD_CTX *md = NULL;
    struct pkie_xfer_frame f;
    struct stat st;
    int rc, local = 0;
    if (s->broken) {
        rc = PKIE_ERR(PKIE_ERR_XFER_CLOSED, "connection unusable");
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "%s is not a regular file", name);
        goto out;
    }
    res->size = (uint64_t)st.st_size;
    struct pkie_xfer_file ff = {.size = res->size, .mode = mode & 07777};
    memcpy(ff.tid, tid, PKIE_XFER_TID_LEN);
    ff.name_len = strlen(name);
    if ((rc = pkie_xfer_name_check(name, ff.name_len)) != 0)
        goto out;
    memcpy(ff.name, name, ff.name_len + 1);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    if ((rc = pkie_xfer_send_file(s->io, &ff)) != 0) {
        rc = explain_write_failure(s, rc);
        goto broken;
    }
    /* the answer to a HELLO sent with this FILE comes first */
    if (s->hello_pending && (rc = hello_answer(s)) != 0)
        goto broken;
    struct pkie_xfer_resume r;
    rc = read_reply(s, PKIE_XFER_RESUME, &f);
    if (rc == 0)
        rc = pkie_xfer_parse_resume(&f, &r);
    if (rc != 0) {
        if (f.type == PKIE_XFER_ERROR && pkie_xfer_error_is_file_level(rc))
            goto out; /* this file refused; the session goes on */
        goto broken;
    }
    if (memcmp(r.tid, tid, PKIE_XFER_TID_LEN) != 0 || r.offset > res->size) {
        rc = PKIE_ERR(PKIE_ERR_XFER_MALFORMED, "RESUME for another transfer or past the end");
        goto broken;
    }
    res->resume_offset = r.offset;
    pkie_log_debug("send", "%s: FILE %" PRIu64 " bytes, RESUME at %" PRIu64, name, res->size,
                   r.offset);
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 init");
        goto broken;
    }
    if ((rc = hash_prefix(s, fd, md, r.offset)) != 0 ||
        (rc = check_source(fd, NULL, name, &st)) != 0)
        goto abandon;
    uint64_t pos = r.offset;
    if (progress)
        progress(progress_arg, pos, res->size);
    if (res->size - pos >= READ_AHEAD_MIN &&
        (rc = send_read_ahead(s, fd, name, md, &st, &pos, res, progress, progress_arg, &local)) !=
            0)
        goto data_failed;
    while (pos < res->size) {
        uint64_t left = res->size - pos;
        size_t want = left < SEND_DATA_LEN ? (size_t)left : SEND_DATA_LEN;
        ssize_t n = pread(fd, s->buf + PKIE_XFER_HDR_LEN, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? PKIE_ERR(PKIE_ERR_XFER_FILE, "read %s: %s", name, strerror(errno))
                       : PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s shrank during the transfer", name);
            goto abandon;
        }
        if ((rc = check_source(fd, NULL, name, &st)) != 0)
            goto abandon;
        if (EVP_DigestUpdate(md, s->buf + PKIE_XFER_HDR_LEN, (size_t)n) != 1) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 update");
            goto broken;
        }
        if ((rc = send_data(s, s->buf, (size_t)n, &pos, res, progress, progress_arg)) != 0)
            goto broken;
    }
    /* nothing is confirmed for a file that changed after FILE */
    if ((rc = check_source(fd, path, name, &st)) != 0)
        goto abandon;
    unsigned mdlen = 0;
    if (EVP_DigestFinal_ex(md, res->sha256, &mdlen) != 1 || mdlen != 32) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 final");
        goto broken;
    }
    if ((rc = pkie_xfer_send_end(s->io, res->sha256)) != 0) {
        rc = explain_write_failure(s, rc);
        goto broken;
    }
    pkie_log_debug("send", "%s: END sent after %" PRIu64 " bytes, waiting for DONE", name,
                   res->bytes_sent);
    struct pkie_xfer_done d;
    rc = read_reply(s, PKIE_XFER_DONE, &f);
    if (rc == 0)
        rc = pkie_xfer_parse_done(&f, &d);
    if (rc != 0) {
        if (f.type == PKIE_XFER_ERROR && pkie_xfer_error_is_file_level(rc))
            goto out; /* e.g. hash mismatch: the receiver goes on */
        goto broken;
    }
    if (memcmp(d.tid, tid, PKIE_XFER_TID_LEN) != 0 || d.size != res->size ||
        memcmp(d.sha256, res->sha256, 32) != 0) {
        rc = PKIE_ERR(PKIE_ERR_XFER_MALFORMED, "DONE does not match the file sent");
        goto broken;
    }
    pkie_log_debug("send", "%s: DONE (confirmed)", name);
    rc = 0;
    goto out;
data_failed:
    if (s->broken || !local)
        goto broken;
abandon:
    /* a local reason (source changed or unreadable): the session stays */
    if (!s->broken)
        rc = abandon_file(s, rc);
    goto out;
broken:
    s->broken = 1;
out:
    EVP_MD_CTX_free(md);
    if (rc != 0)
        set_result(res, rc);
    return rc;
}

void pkie_xfer_sender_finish(struct pkie_xfer_sender *s)
{
    if (!s->broken && s->io != NULL)
        (void)pkie_xfer_send_frame(s->io, PKIE_XFER_BYE, NULL, 0);
    pkie_xfer_reader_free(&s->reader);
    free(s->buf);
    s->buf = NULL;
}
