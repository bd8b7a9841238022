/*
 * The receiver's direct writer: a ring of aligned buffers; the session thread
 * fills one while a writer thread writes the others, in order, with the
 * O_DIRECT descriptor, and an optional hash thread feeds them, in order, to
 * the digest (both only read a handed buffer, so they work on it at once); an
 * optional sync thread makes what was written durable in the background.
 * Buffers are numbered in the order they are handed over; buffer number q is
 * slots[q % nbuf]. One mutex and one condition variable for all.
 */
#include "dwrite.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MAX_BUF 8u

struct slot {
    uint8_t *p;
    size_t len;    /* bytes in the buffer */
    uint64_t off;  /* file offset of p[0] (aligned) */
    size_t hashed; /* p[0, hashed) went into the digest (or is not to) */
};

struct xfer_dwriter {
    int dfd, bfd;
    size_t bufsz;
    unsigned nbuf;
    pkie_xfer_write_fn fn;
    void *arg;
    uint8_t *mem;
    EVP_MD_CTX *md; /* digest of the appended bytes, or NULL */
    struct slot slots[MAX_BUF];
    unsigned cur;    /* slot being filled (number queued), owned by the appending thread */
    uint64_t queued; /* buffers handed over */
    uint64_t wseq;   /* buffers written by the writer thread */
    uint64_t hseq;   /* buffers hashed by the hash thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    pthread_t hasher;
    int has_hasher;
    int quit;
    int err;          /* errno of the first failed write: sticky */
    uint64_t written; /* [start, written) is in the file */
    /* background checkpoints (xfer_dwriter_autosync) */
    pthread_t syncer;
    int has_syncer;
    uint64_t sync_every;
    uint64_t sync_last; /* written at the last request */
    uint64_t sync_want; /* pending request: sync up to here (0: none) */
    xfer_durable_fn durable;
    void *durable_arg;
};

/* Write all of @len at @off; *done receives the bytes written. 0 or an errno. */
static int write_all(const struct xfer_dwriter *w, int fd, const uint8_t *p, size_t len,
                     uint64_t off, size_t *done)
{
    *done = 0;
    while (*done < len) {
        size_t want = len - *done;
        off_t at = (off_t)(off + *done);
        ssize_t n =
            w->fn ? w->fn(fd, p + *done, want, at, w->arg) : pwrite(fd, p + *done, want, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno != 0 ? errno : EIO;
        if (n == 0)
            return ENOSPC;
        *done += (size_t)n;
    }
    return 0;
}

/* Record the outcome of writing [off, off + done), and ask for a background
 * checkpoint when one is due; caller holds mu. */
static void note_write(struct xfer_dwriter *w, uint64_t off, size_t done, int err)
{
    if (w->err != 0)
        return;
    if (off + done > w->written)
        w->written = off + done;
    w->err = err;
    if (err == 0 && w->has_syncer && w->written - w->sync_last >= w->sync_every) {
        w->sync_last = w->written;
        w->sync_want = w->written;
        pthread_cond_broadcast(&w->cv);
    }
}

static void *syncer_main(void *arg)
{
    struct xfer_dwriter *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->sync_want == 0 && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->sync_want == 0)
            break; /* stopping, and the last request is done */
        uint64_t off = w->sync_want;
        w->sync_want = 0;
        pthread_mutex_unlock(&w->mu);
        /* every write before off has completed: this fdatasync covers it */
        int err = fdatasync(w->dfd) == 0 ? 0 : errno;
        if (err == 0)
            err = w->durable(w->durable_arg, off);
        pthread_mutex_lock(&w->mu);
        if (err != 0 && w->err == 0)
            w->err = err;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Hash what @s holds beyond what was hashed: called by the hash thread for
 * handed buffers, in order, or by flush with the threads idle, so the bytes go
 * into the digest in file order. 0 or an errno. */
static int hash_slot(struct xfer_dwriter *w, struct slot *s)
{
    if (w->md == NULL || s->hashed >= s->len)
        return 0;
    if (EVP_DigestUpdate(w->md, s->p + s->hashed, s->len - s->hashed) != 1)
        return EIO;
    s->hashed = s->len;
    return 0;
}

/* Buffers both threads are done with (caller holds mu). */
static uint64_t done_seq(const struct xfer_dwriter *w)
{
    return w->has_hasher && w->hseq < w->wseq ? w->hseq : w->wseq;
}

/* The loop of a stage thread (writing or hashing): it takes each handed
 * buffer in order, does its part outside the lock and counts it in *seq. Both
 * only read the buffer, so they can work on the same one at once. */
static void run_stage(struct xfer_dwriter *w, uint64_t *seq, int writes)
{
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (*seq == w->queued && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (*seq == w->queued)
            break; /* stopping, and every handed buffer is done */
        struct slot *s = &w->slots[*seq % w->nbuf];
        int err = w->err;
        size_t done = 0;
        pthread_mutex_unlock(&w->mu);
        if (err == 0) /* after a failure the rest is dropped: the prefix stays exact */
            err = writes ? write_all(w, w->dfd, s->p, s->len, s->off, &done) : hash_slot(w, s);
        pthread_mutex_lock(&w->mu);
        if (writes)
            note_write(w, s->off, done, err);
        else if (err != 0 && w->err == 0)
            w->err = err;
        (*seq)++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
    struct xfer_dwriter *w = arg;
    run_stage(w, &w->wseq, 1);
    return NULL;
}

static void *hasher_main(void *arg)
{
    struct xfer_dwriter *w = arg;
    run_stage(w, &w->hseq, 0);
    return NULL;
}

int xfer_dwriter_start(int dfd, int bfd, uint64_t start, size_t bufsz, unsigned nbuf,
                       pkie_xfer_write_fn fn, void *arg, struct xfer_dwriter **out)
{
    *out = NULL;
    if (nbuf < 2 || nbuf > MAX_BUF || bufsz == 0 || bufsz % XFER_DIO_ALIGN != 0 ||
        bufsz > SIZE_MAX / nbuf)
        return -EINVAL;
    struct xfer_dwriter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    void *mem = NULL;
    int rc = posix_memalign(&mem, XFER_DIO_ALIGN, bufsz * nbuf);
    if (rc != 0) {
        free(w);
        return -rc;
    }
    w->mem = mem;
    w->dfd = dfd;
    w->bfd = bfd;
    w->bufsz = bufsz;
    w->nbuf = nbuf;
    w->fn = fn;
    w->arg = arg;
    for (unsigned i = 0; i < nbuf; i++)
        w->slots[i].p = w->mem + (size_t)i * bufsz;
    /* An unaligned start: the buffer begins with the block's bytes already in the file. */
    uint64_t base = start & ~(uint64_t)(XFER_DIO_ALIGN - 1);
    size_t head = (size_t)(start - base);
    if (head > 0) {
        ssize_t n = pread(bfd, w->slots[0].p, head, (off_t)base);
        if (n != (ssize_t)head) {
            rc = n < 0 ? errno : EIO;
            goto err;
        }
    }
    w->slots[0].off = base;
    w->slots[0].len = head;
    w->slots[0].hashed = head; /* the bytes before start are not new */
    w->written = start;
    if ((rc = pthread_mutex_init(&w->mu, NULL)) != 0)
        goto err;
    if ((rc = pthread_cond_init(&w->cv, NULL)) != 0) {
        pthread_mutex_destroy(&w->mu);
        goto err;
    }
    if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        goto err;
    }
    *out = w;
    return 0;
err:
    free(w->mem);
    free(w);
    return -rc;
}

int xfer_dwriter_hash(struct xfer_dwriter *w, EVP_MD_CTX *md)
{
    if (md == NULL)
        return -EINVAL;
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    if (w->md != NULL || w->queued != 0 || w->slots[w->cur].len != w->slots[w->cur].hashed)
        rc = EINVAL;
    if (rc == 0) {
        w->md = md;
        w->hseq = w->queued;
        rc = pthread_create(&w->hasher, NULL, hasher_main, w);
        w->has_hasher = rc == 0;
        if (rc != 0)
            w->md = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return -rc;
}

int xfer_dwriter_autosync(struct xfer_dwriter *w, uint64_t every, xfer_durable_fn durable,
                          void *arg)
{
    if (w->has_syncer || every == 0 || durable == NULL)
        return -EINVAL;
    pthread_mutex_lock(&w->mu);
    w->sync_every = every;
    w->sync_last = w->written;
    w->durable = durable;
    w->durable_arg = arg;
    int rc = pthread_create(&w->syncer, NULL, syncer_main, w);
    w->has_syncer = rc == 0;
    pthread_mutex_unlock(&w->mu);
    return -rc;
}

/* Hand the full current buffer over and wait for the next one to be free. */
static int hand_over(struct xfer_dwriter *w)
{
    struct slot *s = &w->slots[w->cur];
    uint64_t next_off = s->off + s->len;
    pthread_mutex_lock(&w->mu);
    w->queued++;
    pthread_cond_broadcast(&w->cv);
    w->cur = (unsigned)(w->queued % w->nbuf);
    /* buffer number queued reuses the slot of number queued - nbuf */
    while (w->queued - done_seq(w) >= w->nbuf)
        pthread_cond_wait(&w->cv, &w->mu);
    struct slot *n = &w->slots[w->cur];
    n->off = next_off;
    n->len = 0;
    n->hashed = 0;
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return -err;
}

int xfer_dwriter_append(struct xfer_dwriter *w, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        struct slot *s = &w->slots[w->cur];
        size_t n = w->bufsz - s->len;
        if (n > len)
            n = len;
        memcpy(s->p + s->len, p, n);
        s->len += n;
        p += n;
        len -= n;
        if (s->len == w->bufsz) {
            int rc = hand_over(w);
            if (rc != 0)
                return rc;
        }
    }
    pthread_mutex_lock(&w->mu);
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return -err;
}

int xfer_dwriter_flush(struct xfer_dwriter *w)
{
    pthread_mutex_lock(&w->mu);
    while (done_seq(w) < w->queued)
        pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    if (err != 0)
        return -err;
    /* The threads are idle: write the current buffer here, its whole
     * blocks directly, the rest buffered. The partial block stays in the
     * buffer; the next direct write of that block rewrites the same bytes. */
    struct slot *s = &w->slots[w->cur];
    size_t full = s->len & ~(size_t)(XFER_DIO_ALIGN - 1), rest = s->len - full, done = 0;
    err = hash_slot(w, s);
    if (err == 0 && full > 0)
        err = write_all(w, w->dfd, s->p, full, s->off, &done);
    if (err == 0 && rest > 0) {
        size_t more = 0;
        err = write_all(w, w->bfd, s->p + full, rest, s->off + full, &more);
        done += more;
    }
    pthread_mutex_lock(&w->mu);
    note_write(w, s->off, done, err);
    pthread_mutex_unlock(&w->mu);
    if (err != 0)
        return -err;
    memmove(s->p, s->p + full, rest);
    s->off += full;
    s->len = rest;
    s->hashed = rest;
    return 0;
}

uint64_t xfer_dwriter_written(struct xfer_dwriter *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t v = w->written;
    pthread_mutex_unlock(&w->mu);
    return v;
}

void xfer_dwriter_free(struct xfer_dwriter *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->has_hasher)
        pthread_join(w->hasher, NULL);
    if (w->has_syncer)
        pthread_join(w->syncer, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->mem);
    free(w);
}
