/*
 * The sender's read-ahead: one thread fills a ring of chunks in file order
 * (pread, then SHA-256), the session thread takes them in the same order.
 * Chunk number q lives in c[q % nbuf]; the one handed out stays the caller's
 * until its next call.
 */
#include "sread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_BUF 8u

struct chunk {
    uint8_t *p; /* headroom, then the data */
    size_t len; /* data bytes */
};

struct xfer_sreader {
    int fd;
    uint64_t pos, size; /* next offset to read (the thread's), end */
    size_t chunk, headroom;
    unsigned nbuf;
    EVP_MD_CTX *md;
    struct stat ident; /* the file as it must stay (have_ident) */
    int have_ident;
    uint8_t *mem;
    struct chunk c[MAX_BUF];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    uint64_t produced; /* chunks read and hashed */
    uint64_t released; /* chunks the caller is done with */
    int handed;        /* chunk number released is out with the caller */
    int err;           /* errno of a failed read (ENODATA: the file shrank, ESTALE:
                          it changed), sticky */
    int eof;           /* everything up to size was read */
    int quit;
};

/* Read @want bytes at @at fully: 0, ENODATA at an early end, or an errno. */
static int read_full(int fd, uint8_t *p, size_t want, uint64_t at)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, p + got, want - got, (off_t)(at + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno != 0 ? errno : EIO;
        if (n == 0)
            return ENODATA;
        got += (size_t)n;
    }
    return 0;
}

int xfer_src_same(const struct stat *was, const struct stat *now)
{
    return was->st_dev == now->st_dev && was->st_ino == now->st_ino &&
           was->st_size == now->st_size && was->st_mtim.tv_sec == now->st_mtim.tv_sec &&
           was->st_mtim.tv_nsec == now->st_mtim.tv_nsec &&
           was->st_ctim.tv_sec == now->st_ctim.tv_sec &&
           was->st_ctim.tv_nsec == now->st_ctim.tv_nsec;
}

/* After a read: ESTALE when the file is no longer the one watched. */
static int check_ident(const struct xfer_sreader *r)
{
    struct stat now;
    if (!r->have_ident)
        return 0;
    if (fstat(r->fd, &now) != 0)
        return errno != 0 ? errno : EIO;
    return xfer_src_same(&r->ident, &now) ? 0 : ESTALE;
}

static void *reader_main(void *arg)
{
    struct xfer_sreader *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->quit) {
        if (r->pos >= r->size) {
            r->eof = 1;
            pthread_cond_broadcast(&r->cv);
            break;
        }
        while (r->produced - r->released >= r->nbuf && !r->quit)
            pthread_cond_wait(&r->cv, &r->mu); /* every buffer is full or out */
        if (r->quit)
            break;
        struct chunk *c = &r->c[r->produced % r->nbuf];
        size_t want = r->size - r->pos < r->chunk ? (size_t)(r->size - r->pos) : r->chunk;
        uint64_t at = r->pos;
        pthread_mutex_unlock(&r->mu);
        int err = read_full(r->fd, c->p + r->headroom, want, at);
        if (err == 0)
            err = check_ident(r);
        if (err == 0 && EVP_DigestUpdate(r->md, c->p + r->headroom, want) != 1)
            err = EIO;
        pthread_mutex_lock(&r->mu);
        if (err != 0) {
            r->err = err;
            pthread_cond_broadcast(&r->cv);
            break;
        }
        c->len = want;
        r->pos += want;
        r->produced++;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int xfer_sreader_start(int fd, uint64_t pos, uint64_t size, size_t chunk, unsigned nbuf,
                       size_t headroom, EVP_MD_CTX *md, const struct stat *ident,
                       struct xfer_sreader **out)
{
    *out = NULL;
    if (nbuf < 2 || nbuf > MAX_BUF || chunk == 0 || md == NULL || pos > size || headroom > 4096 ||
        chunk > SIZE_MAX / MAX_BUF - 4096 - 64)
        return -EINVAL;
    struct xfer_sreader *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    size_t stride = (headroom + chunk + 63) & ~(size_t)63;
    r->mem = malloc(stride * nbuf);
    if (r->mem == NULL) {
        free(r);
        return -ENOMEM;
    }
    r->fd = fd;
    r->pos = pos;
    r->size = size;
    r->chunk = chunk;
    r->headroom = headroom;
    r->nbuf = nbuf;
    r->md = md;
    if (ident != NULL) {
        r->ident = *ident;
        r->have_ident = 1;
    }
    for (unsigned i = 0; i < nbuf; i++)
        r->c[i].p = r->mem + (size_t)i * stride;
    int rc = pthread_mutex_init(&r->mu, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&r->cv, NULL)) != 0)
        pthread_mutex_destroy(&r->mu);
    if (rc == 0 && (rc = pthread_create(&r->thread, NULL, reader_main, r)) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
    }
    if (rc != 0) {
        free(r->mem);
        free(r);
        return -rc;
    }
    *out = r;
    return 0;
}

int xfer_sreader_next(struct xfer_sreader *r, uint8_t **buf, size_t *len)
{
    pthread_mutex_lock(&r->mu);
    if (r->handed) {
        r->released++;
        r->handed = 0;
        pthread_cond_broadcast(&r->cv);
    }
    while (r->produced == r->released && r->err == 0 && !r->eof)
        pthread_cond_wait(&r->cv, &r->mu);
    int rc;
    if (r->produced > r->released && r->err != ESTALE) {
        /* chunks read before an error still go out, not after a change */
        struct chunk *c = &r->c[r->released % r->nbuf];
        *buf = c->p;
        *len = c->len;
        r->handed = 1;
        rc = 0;
    } else {
        rc = r->err != 0 ? -r->err : 1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void xfer_sreader_free(struct xfer_sreader *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->mem);
    free(r);
}
