/*
 * The receiver's file state machine: a hidden partial file and a small state
 * file (durable offset) per transfer id, both created relative to the
 * destination directory fd with O_NOFOLLOW; checkpoints (fdatasync of the data,
 * then of the state); on completion fsync, SHA-256 check, atomic rename without
 * overwrite, directory fsync, and only then the confirmation. Large files
 * go through the direct writer (dwrite.h) where the file system allows it.
 */
#include "dwrite.h"

#include "pkie/error.h"
#include "pkie/transfer.h"
#include "pkie/wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <pthread.h>

#define DEFAULT_CHECKPOINT (64ull << 20)
#define REHASH_CHUNK       (1u << 20)
/* Start the writeback of every this many bytes written, so that a checkpoint's
 * or END's fsync finds most of the data already on its way to the disk. */
#define WRITEBACK_CHUNK    (8ull << 20)
/* Direct I/O: for files with at least DIRECT_MIN bytes to come, DIRECT_NBUF
 * staging buffers of DIRECT_BUF bytes (one filling, the others being hashed
 * and written; the third absorbs the disk's slower moments, such as a
 * checkpoint's flush). */
#define DIRECT_MIN         (16ull << 20)
#define DIRECT_BUF         (4u << 20)
#define DIRECT_NBUF        3u
/* At most this many files at once in direct I/O per process (3 threads and
 * 12 MiB each): a receiver with many SSL tasks stays bounded in memory, and
 * the files beyond it go through the page cache. */
#define DIRECT_MAX_FILES   8u

static atomic_uint direct_active;
static pthread_mutex_t reserve_mu = PTHREAD_MUTEX_INITIALIZER;
/* State record: fixed width, rewritten in place. */
#define STATE_FMT "PKIEPART 1 %32s %20" PRIu64 " %20" PRIu64 "\n"
#define STATE_LEN (11 + 32 + 1 + 20 + 1 + 20 + 1)

struct pkie_xfer_rfile {
    const struct pkie_xfer_recv_conf *c;
    struct pkie_xfer_file f;
    char part[256];
    char state[256];
    int part_fd;
    int state_fd;
    uint64_t off;      /* bytes written */
    uint64_t durable;  /* bytes made durable and recorded (under dmu) */
    int rewrite_state; /* record again even if not beyond durable (under dmu) */
    pthread_mutex_t dmu;
    uint64_t resumed_from; /* offset the transfer resumed from */
    uint64_t since_ckpt;
    uint64_t writeback_from; /* start of the range not yet handed to writeback */
    EVP_MD_CTX *md;
    int finished;
    struct xfer_dwriter *dw; /* non-NULL: writes go through the direct writer */
    int dfd;                 /* its O_DIRECT descriptor, else -1 */
    int broken;              /* a direct write failed: no more data, resume from durable */
    int autosync;            /* the direct writer checkpoints in the background */
};

void pkie_xfer_recv_conf_init(struct pkie_xfer_recv_conf *c, int dirfd)
{
    memset(c, 0, sizeof(*c));
    c->dirfd = dirfd;
    c->checkpoint_bytes = DEFAULT_CHECKPOINT;
    c->direct_io = 1;
}

int pkie_xfer_partial_name(const char *name, const uint8_t tid[PKIE_XFER_TID_LEN],
                           const char *suffix, char *out, size_t cap)
{
    char hex[2 * PKIE_XFER_TID_LEN + 1];
    pkie_xfer_hex(tid, PKIE_XFER_TID_LEN, hex);
    size_t fixed = 1 + 1 + strlen(hex) + 1 + strlen(suffix); /* "." name "." hex "." suffix */
    size_t nlen = strlen(name);
    if (fixed >= 255)
        return PKIE_ERR(PKIE_ERR_ARG, "suffix too long");
    if (nlen > 255 - fixed)
        nlen = 255 - fixed;
    /* Do not cut inside a UTF-8 sequence. */
    while (nlen > 0 && nlen < strlen(name) && ((unsigned char)name[nlen] & 0xc0) == 0x80)
        nlen--;
    int n = snprintf(out, cap, ".%.*s.%s.%s", (int)nlen, name, hex, suffix);
    if (n < 0 || (size_t)n >= cap)
        return PKIE_ERR(PKIE_ERR_LIMIT, "partial name does not fit");
    return 0;
}

static ssize_t do_write(const struct pkie_xfer_recv_conf *c, int fd, const void *buf, size_t len,
                        off_t off)
{
    if (c->write_fn != NULL)
        return c->write_fn(fd, buf, len, off, c->write_arg);
    return pwrite(fd, buf, len, off);
}

/* Messages name the transfer (the sender's own name for it), never the
 * hidden partial or state file: they go to the sender in ERROR frames. */
static int file_err(const char *what, const char *which, const char *name, int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return PKIE_ERR(PKIE_ERR_XFER_DISK_FULL, "%s %s %s: %s", what, which, name, strerror(e));
    return PKIE_ERR(PKIE_ERR_XFER_FILE, "%s %s %s: %s", what, which, name, strerror(e));
}

/* Write and fdatasync the state record; 0 or an errno (*what: the step). */
static int state_write(struct pkie_xfer_rfile *rf, uint64_t offset, const char **what)
{
    char hex[2 * PKIE_XFER_TID_LEN + 1], rec[STATE_LEN + 1];
    pkie_xfer_hex(rf->f.tid, PKIE_XFER_TID_LEN, hex);
    int n = snprintf(rec, sizeof(rec), STATE_FMT, hex, rf->f.size, offset);
    *what = "format";
    if (n != STATE_LEN)
        return EOVERFLOW;
    *what = "write";
    ssize_t w = pwrite(rf->state_fd, rec, STATE_LEN, 0);
    if (w != STATE_LEN)
        return w < 0 ? errno : ENOSPC;
    *what = "fsync";
    return fdatasync(rf->state_fd) == 0 ? 0 : errno;
}

static int state_store(struct pkie_xfer_rfile *rf, uint64_t offset)
{
    const char *what;
    int e = state_write(rf, offset, &what);
    return e == 0 ? 0 : file_err(what, "resume state of", rf->f.name, e);
}

/* Record @offset as durable unless a later one already is (the session and
 * the direct writer's sync thread both record); 0 or an errno. */
static int durable_advance(struct pkie_xfer_rfile *rf, uint64_t offset, const char **what)
{
    int e = 0;
    pthread_mutex_lock(&rf->dmu);
    if (offset > rf->durable || rf->rewrite_state) {
        e = state_write(rf, offset, what);
        if (e == 0) {
            rf->durable = offset;
            rf->rewrite_state = 0;
        }
    }
    pthread_mutex_unlock(&rf->dmu);
    return e;
}

static uint64_t durable_get(struct pkie_xfer_rfile *rf)
{
    pthread_mutex_lock(&rf->dmu);
    uint64_t v = rf->rewrite_state ? UINT64_MAX : rf->durable;
    pthread_mutex_unlock(&rf->dmu);
    return v;
}

/* The direct writer's sync thread: data before @offset is on the disk. */
static int on_durable(void *arg, uint64_t offset)
{
    const char *what;
    return durable_advance(arg, offset, &what);
}

/* Read the state record: 1 when present (size and offset filled), 0 when empty. */
static int state_load(struct pkie_xfer_rfile *rf, uint64_t *size, uint64_t *offset)
{
    char rec[STATE_LEN + 1];
    ssize_t n = pread(rf->state_fd, rec, STATE_LEN, 0);
    if (n < 0)
        return file_err("read", "resume state of", rf->f.name, errno);
    if (n == 0)
        return 0;
    rec[n] = '\0';
    char hex[33], want[33];
    if (n != STATE_LEN ||
        sscanf(rec, "PKIEPART 1 %32s %" SCNu64 " %" SCNu64, hex, size, offset) != 3)
        return PKIE_ERR(PKIE_ERR_XFER_RESUME, "resume state of %s is damaged", rf->f.name);
    pkie_xfer_hex(rf->f.tid, PKIE_XFER_TID_LEN, want);
    if (strcmp(hex, want) != 0 || *offset > *size)
        return PKIE_ERR(PKIE_ERR_XFER_RESUME, "resume state of %s does not match", rf->f.name);
    return 1;
}

/* Hash the first @len bytes of the partial file again. */
static int rehash_prefix(struct pkie_xfer_rfile *rf, uint64_t len)
{
    uint8_t *buf = malloc(REHASH_CHUNK);
    if (buf == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "rehash buffer");
    int rc = 0;
    uint64_t pos = 0;
    while (pos < len) {
        size_t want = len - pos < REHASH_CHUNK ? (size_t)(len - pos) : REHASH_CHUNK;
        ssize_t n = pread(rf->part_fd, buf, want, (off_t)pos);
        if (n <= 0) {
            rc = n < 0 ? file_err("read", "data of", rf->f.name, errno)
                       : PKIE_ERR(PKIE_ERR_XFER_RESUME, "data of %s shorter than recorded",
                                  rf->f.name);
            break;
        }
        if (EVP_DigestUpdate(rf->md, buf, (size_t)n) != 1) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 update");
            break;
        }
        pos += (uint64_t)n;
    }
    free(buf);
    return rc;
}

/* Whether the file system gives direct I/O alignments that the direct writer
 * meets (statx, Linux 6.1+); without them (tmpfs, older kernels) the page
 * cache is used. */
static int dio_supported(int fd)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) != 0 ||
        (sx.stx_mask & STATX_DIOALIGN) == 0)
        return 0;
    uint32_t m = sx.stx_dio_mem_align, o = sx.stx_dio_offset_align;
    return m != 0 && o != 0 && XFER_DIO_ALIGN % m == 0 && XFER_DIO_ALIGN % o == 0;
}

/* Try to write the rest of the file through the direct writer; on any
 * refusal the buffered path stays in use. */
/* Stop the direct writer (its threads are joined) and give its place back. */
static void direct_end(struct pkie_xfer_rfile *rf)
{
    if (rf->dw == NULL)
        return;
    xfer_dwriter_free(rf->dw);
    rf->dw = NULL;
    atomic_fetch_sub(&direct_active, 1);
}

static void direct_start(struct pkie_xfer_rfile *rf, uint64_t start)
{
    if (!dio_supported(rf->part_fd))
        return;
    if (atomic_fetch_add(&direct_active, 1) >= DIRECT_MAX_FILES) {
        atomic_fetch_sub(&direct_active, 1);
        return;
    }
    int dfd = openat(rf->c->dirfd, rf->part, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        atomic_fetch_sub(&direct_active, 1);
        return;
    }
    struct stat a, b;
    if (fstat(dfd, &a) != 0 || fstat(rf->part_fd, &b) != 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino ||
        xfer_dwriter_start(dfd, rf->part_fd, start, DIRECT_BUF, DIRECT_NBUF, rf->c->write_fn,
                           rf->c->write_arg, &rf->dw) != 0) {
        close(dfd);
        atomic_fetch_sub(&direct_active, 1);
        return;
    }
    /* SHA-256 in a thread of the writer: the session only decrypts and copies */
    if (xfer_dwriter_hash(rf->dw, rf->md) != 0) {
        direct_end(rf);
        close(dfd);
        return;
    }
    rf->dfd = dfd;
    /* checkpoints in the background: the session goes on receiving while
     * the disk flushes (else they run in the session, as on the buffered path) */
    rf->autosync = rf->c->checkpoint_bytes != 0 &&
                   xfer_dwriter_autosync(rf->dw, rf->c->checkpoint_bytes, on_durable, rf) == 0;
}

/* End direct writing after @e (a positive errno): what reached the file is
 * the offset; the session cannot go on with this file (its hash has seen
 * bytes the file lacks), a new one resumes from the durable offset. */
static int direct_fail(struct pkie_xfer_rfile *rf, int e)
{
    rf->off = xfer_dwriter_written(rf->dw);
    direct_end(rf);
    close(rf->dfd);
    rf->dfd = -1;
    rf->broken = 1;
    return file_err("write", "data of", rf->f.name, e);
}

/* Everything received into the file (direct I/O only; else nothing to do). */
static int direct_flush(struct pkie_xfer_rfile *rf)
{
    int e = rf->dw != NULL ? -xfer_dwriter_flush(rf->dw) : 0;
    return e != 0 ? direct_fail(rf, e) : 0;
}

int pkie_xfer_rfile_direct(const struct pkie_xfer_rfile *rf)
{
    return rf->dw != NULL;
}

int pkie_xfer_rfile_open(const struct pkie_xfer_recv_conf *c, const struct pkie_xfer_file *f,
                         struct pkie_xfer_rfile **out, uint64_t *offset)
{
    *out = NULL;
    *offset = 0;
    int rc = pkie_xfer_name_check(f->name, f->name_len);
    if (rc != 0)
        return rc;
    /* the partner's names (partner.NAME.names), before the directory is
     * looked at: a refused name learns nothing of what it holds */
    if (!pkie_xfer_names_allowed(c->names, c->n_names, f->name, f->name_len))
        return PKIE_ERR(PKIE_ERR_XFER_DENIED,
                        "%s is not among the names this partner may send (partner.NAME.names)",
                        f->name);
    if (c->max_file_size != 0 && f->size > c->max_file_size)
        return PKIE_ERR(PKIE_ERR_XFER_TOO_BIG, "%" PRIu64 " bytes, at most %" PRIu64, f->size,
                        c->max_file_size);
    struct stat st;
    if (!c->overwrite && fstatat(c->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return PKIE_ERR(PKIE_ERR_XFER_EXISTS, "%s exists", f->name);

    int locked = 0; /* we hold the state file's lock */
    struct pkie_xfer_rfile *rf = calloc(1, sizeof(*rf));
    if (rf == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "rfile");
    if (pthread_mutex_init(&rf->dmu, NULL) != 0) {
        free(rf);
        return PKIE_ERR(PKIE_ERR_NOMEM, "rfile lock");
    }
    rf->c = c;
    rf->f = *f;
    rf->part_fd = rf->state_fd = rf->dfd = -1;
    if ((rc = pkie_xfer_partial_name(f->name, f->tid, "part", rf->part, sizeof(rf->part))) != 0 ||
        (rc = pkie_xfer_partial_name(f->name, f->tid, "state", rf->state, sizeof(rf->state))) != 0)
        goto err;
    rf->md = EVP_MD_CTX_new();
    if (rf->md == NULL || EVP_DigestInit_ex(rf->md, EVP_sha256(), NULL) != 1) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 init");
        goto err;
    }
    int fl = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    /* the name is reserved from FILE on: checked and our state file made
     * under one lock, so of two transfers of a name the second sees the first */
    pthread_mutex_lock(&reserve_mu);
    rc = pkie_xfer_name_reserved(c->dirfd, f->name, f->tid);
    if (rc == 0)
        rf->state_fd = openat(c->dirfd, rf->state, fl, 0600);
    int e = errno;
    pthread_mutex_unlock(&reserve_mu);
    if (rc != 0)
        goto err;
    if (rf->state_fd < 0) {
        rc = file_err("create", "resume state of", rf->f.name, e);
        goto err;
    }
    if (flock(rf->state_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? PKIE_ERR(PKIE_ERR_XFER_BUSY, "transfer of %s is active elsewhere", f->name)
                 : file_err("lock", "resume state of", rf->f.name, errno);
        goto err;
    }
    locked = 1;
    if (fstat(rf->state_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "resume state of %s is not a regular file", rf->f.name);
        goto err;
    }
    uint64_t rsize = 0, roff = 0;
    rc = state_load(rf, &rsize, &roff);
    if (rc < 0)
        goto err;
    if (rc == 1 && rsize != f->size) {
        rc = PKIE_ERR(PKIE_ERR_XFER_RESUME, "%s: size %" PRIu64 " announced, %" PRIu64 " recorded",
                      f->name, f->size, rsize);
        goto err;
    }
    rf->part_fd = openat(c->dirfd, rf->part, fl, 0600);
    if (rf->part_fd < 0) {
        rc = file_err("create", "data of", rf->f.name, errno);
        goto err;
    }
    if (fstat(rf->part_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "data of %s is not a regular file", rf->f.name);
        goto err;
    }
    if ((uint64_t)st.st_size < roff)
        roff = 0; /* the recorded prefix is gone: start again */
    if (ftruncate(rf->part_fd, (off_t)roff) != 0) {
        rc = file_err("truncate", "data of", rf->f.name, errno);
        goto err;
    }
    if (roff > 0 && (rc = rehash_prefix(rf, roff)) != 0)
        goto err;
    rf->off = rf->durable = rf->resumed_from = rf->writeback_from = roff;
    /* A new transfer records nothing yet: an empty or lost state file means
     * "start at 0", which is always safe. The first checkpoint writes it. */
    if (roff > 0 && (rc = state_store(rf, roff)) != 0)
        goto err;
    uint64_t dmin = c->direct_min != 0 ? c->direct_min : DIRECT_MIN;
    if (c->direct_io && f->size - roff >= dmin)
        direct_start(rf, roff);
    *offset = roff;
    *out = rf;
    return 0;
err:
    /* a transfer refused before it recorded anything leaves nothing behind
     * (an empty state file would reserve the name) */
    if (locked && fstat(rf->state_fd, &st) == 0 && st.st_size == 0) {
        if (rf->part_fd < 0 || (fstat(rf->part_fd, &st) == 0 && st.st_size == 0))
            unlinkat(c->dirfd, rf->part, 0);
        unlinkat(c->dirfd, rf->state, 0);
    }
    if (rf->part_fd >= 0)
        close(rf->part_fd);
    if (rf->state_fd >= 0)
        close(rf->state_fd);
    EVP_MD_CTX_free(rf->md);
    pthread_mutex_destroy(&rf->dmu);
    free(rf);
    return rc;
}

uint64_t pkie_xfer_rfile_offset(const struct pkie_xfer_rfile *rf)
{
    return rf->off;
}

uint64_t pkie_xfer_rfile_resumed_from(const struct pkie_xfer_rfile *rf)
{
    return rf->resumed_from;
}

int pkie_xfer_rfile_checkpoint(struct pkie_xfer_rfile *rf)
{
    if (rf->finished || rf->part_fd < 0)
        return PKIE_ERR(PKIE_ERR_STATE, "transfer is closed");
    int rc = direct_flush(rf);
    if (rc != 0)
        return rc;
    if (durable_get(rf) == rf->off)
        return 0;
    if (fdatasync(rf->part_fd) != 0)
        return file_err("fsync", "data of", rf->f.name, errno);
    const char *what;
    int e = durable_advance(rf, rf->off, &what);
    if (e != 0)
        return file_err(what, "resume state of", rf->f.name, e);
    rf->since_ckpt = 0;
    return 0;
}

static int buffered_write(struct pkie_xfer_rfile *rf, const void *buf, size_t len);

int pkie_xfer_rfile_write(struct pkie_xfer_rfile *rf, const void *buf, size_t len)
{
    if (rf->finished || rf->part_fd < 0)
        return PKIE_ERR(PKIE_ERR_STATE, "transfer is closed");
    if (rf->broken)
        return PKIE_ERR(PKIE_ERR_STATE, "%s: a write failed, the transfer must resume", rf->f.name);
    if (len > rf->f.size - rf->off)
        return PKIE_ERR(PKIE_ERR_XFER_TOO_BIG, "data past the announced size %" PRIu64, rf->f.size);
    if (rf->dw != NULL) {
        int e = -xfer_dwriter_append(rf->dw, buf, len); /* it hashes them too */
        if (e != 0)
            return direct_fail(rf, e);
        rf->off += len;
        rf->since_ckpt += len;
    } else {
        int rc = buffered_write(rf, buf, len);
        if (rc != 0)
            return rc;
    }
    /* (with direct I/O the writer's sync thread checkpoints, if it runs) */
    if (!rf->autosync && rf->c->checkpoint_bytes != 0 && rf->since_ckpt >= rf->c->checkpoint_bytes)
        return pkie_xfer_rfile_checkpoint(rf);
    return 0;
}

/* Write through the page cache, hash, and start the writeback now and then. */
static int buffered_write(struct pkie_xfer_rfile *rf, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t n = do_write(rf->c, rf->part_fd, p, left, (off_t)rf->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return file_err("write", "data of", rf->f.name, n < 0 ? errno : ENOSPC);
        if (EVP_DigestUpdate(rf->md, p, (size_t)n) != 1)
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 update");
        rf->off += (uint64_t)n;
        rf->since_ckpt += (uint64_t)n;
        p += n;
        left -= (size_t)n;
    }
    if (rf->off - rf->writeback_from >= WRITEBACK_CHUNK) {
        /* A hint only (asynchronous, no durability promised): errors such as
         * a file system without writeback are ignored. */
        (void)sync_file_range(rf->part_fd, (off_t)rf->writeback_from,
                              (off_t)(rf->off - rf->writeback_from), SYNC_FILE_RANGE_WRITE);
        rf->writeback_from = rf->off;
    }
    return 0;
}

int pkie_xfer_rfile_finish(struct pkie_xfer_rfile *rf, const uint8_t sha256[32])
{
    uint8_t got[EVP_MAX_MD_SIZE];
    unsigned glen = 0;
    if (rf->finished || rf->part_fd < 0)
        return PKIE_ERR(PKIE_ERR_STATE, "transfer is closed");
    if (rf->broken)
        return PKIE_ERR(PKIE_ERR_STATE, "%s: a write failed, the transfer must resume", rf->f.name);
    int rc = direct_flush(rf);
    if (rc != 0)
        return rc;
    if (rf->off != rf->f.size)
        return PKIE_ERR(PKIE_ERR_XFER_UNEXPECTED, "END after %" PRIu64 " of %" PRIu64 " bytes",
                        rf->off, rf->f.size);
    if (EVP_DigestFinal_ex(rf->md, got, &glen) != 1 || glen != 32)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256 final");
    rf->finished = 1;
    if (pkie_memeq_ct(got, sha256, 32) != 0) {
        unlinkat(rf->c->dirfd, rf->part, 0);
        unlinkat(rf->c->dirfd, rf->state, 0);
        return PKIE_ERR(PKIE_ERR_XFER_HASH, "%s: SHA-256 of the data differs from END", rf->f.name);
    }
    mode_t mode = (mode_t)((rf->f.mode & 0777) | 0600);
    if (fchmod(rf->part_fd, mode) != 0)
        return file_err("chmod", "data of", rf->f.name, errno);
    if (fsync(rf->part_fd) != 0)
        return file_err("fsync", "data of", rf->f.name, errno);
    int r = rf->c->overwrite
                ? renameat(rf->c->dirfd, rf->part, rf->c->dirfd, rf->f.name)
                : renameat2(rf->c->dirfd, rf->part, rf->c->dirfd, rf->f.name, RENAME_NOREPLACE);
    if (r != 0) {
        int e = errno;
        rf->finished = 0; /* still a partial file: resumable */
        pthread_mutex_lock(&rf->dmu);
        rf->rewrite_state = 1; /* the state record is written again on close */
        pthread_mutex_unlock(&rf->dmu);
        if (e == EEXIST)
            return PKIE_ERR(PKIE_ERR_XFER_EXISTS, "%s exists", rf->f.name);
        return file_err("rename", "data of", rf->f.name, e);
    }
    if (fsync(rf->c->dirfd) != 0)
        return file_err("fsync", "the directory of", rf->f.name, errno);
    unlinkat(rf->c->dirfd, rf->state, 0);
    return 0;
}

void pkie_xfer_rfile_abandon(struct pkie_xfer_rfile *rf)
{
    if (rf == NULL || rf->finished || rf->part_fd < 0)
        return;
    rf->finished = 1; /* no checkpoint on close */
    unlinkat(rf->c->dirfd, rf->part, 0);
    unlinkat(rf->c->dirfd, rf->state, 0);
}

void pkie_xfer_rfile_close(struct pkie_xfer_rfile *rf)
{
    if (rf == NULL)
        return;
    /* a failed direct write ends direct writing: the second try records
     * what reached the file */
    if (!rf->finished && rf->part_fd >= 0 && pkie_xfer_rfile_checkpoint(rf) != 0 && rf->broken)
        (void)pkie_xfer_rfile_checkpoint(rf);
    direct_end(rf); /* joins its threads: none uses rf after this */
    if (rf->dfd >= 0)
        close(rf->dfd);
    if (rf->part_fd >= 0)
        close(rf->part_fd);
    if (rf->state_fd >= 0)
        close(rf->state_fd); /* releases the lock */
    EVP_MD_CTX_free(rf->md);
    pthread_mutex_destroy(&rf->dmu);
    free(rf);
}
