/* The catalog's writer thread: group commit (catalog_queue.h). */
#include "catalog_queue.h"

#include "pkie/error.h"
#include "pkie/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One queued event with everything its pointers reach, in one allocation. */
struct qev {
    struct qev *next;
    struct pkie_xfer_catalog_event ev;
    struct pkie_xfer_audit_rec rec;
    struct pkie_xfer_refusal ref;
    struct pkie_xfer_peer peer;
    uint8_t ga[64], tid[PKIE_XFER_TID_LEN], sha[32];
    int64_t audit_end, ended_ms, arrived; /* arrived: CLOCK_MONOTONIC ms */
    char data[];
};

struct pkie_xfer_catq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct qev *head, *tail;
    size_t n;
    int stop;
    pthread_t th;
    struct pkie_xfer_catalog *cat;
    pthread_mutex_t *dblock;
    size_t batch;     /* commit at this many queued */
    int64_t delay_ms; /* or this long after the oldest arrived */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copy @p s (@p n bytes and a NUL) to *@p at; NULL stays NULL. */
static const char *put(char **at, const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *d = *at;
    memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

static const char *put_str(char **at, const char *s)
{
    return s ? put(at, s, strlen(s)) : NULL;
}

static struct qev *copy_event(const struct pkie_xfer_catalog_event *ev)
{
    const struct pkie_xfer_audit_rec *r = ev->file;
    const struct pkie_xfer_refusal *f = ev->refusal;
    const struct pkie_xfer_peer *p = r ? r->peer : f->peer;
    size_t flen = r && r->file ? (r->file_len ? r->file_len : strlen(r->file)) : 0;
    size_t total = 0;
    if (p != NULL)
        total += slen(p->partner) + slen(p->addr) + slen(p->subject) + slen(p->issuer) +
                 slen(p->serial) + slen(p->tls_version) + slen(p->cipher);
    if (r != NULL)
        total += (r->file ? flen + 1 : 0) + slen(r->result) + slen(r->error);
    else
        total += slen(f->side) + slen(f->reason);
    struct qev *q = calloc(1, sizeof(*q) + total);
    if (q == NULL)
        return NULL;
    char *at = q->data;
    const struct pkie_xfer_peer *qp = NULL;
    if (p != NULL) {
        q->peer = (struct pkie_xfer_peer){.partner = put_str(&at, p->partner),
                                          .addr = put_str(&at, p->addr),
                                          .subject = put_str(&at, p->subject),
                                          .issuer = put_str(&at, p->issuer),
                                          .serial = put_str(&at, p->serial),
                                          .tls_version = put_str(&at, p->tls_version),
                                          .cipher = put_str(&at, p->cipher)};
        if (p->global_area != NULL) {
            memcpy(q->ga, p->global_area, sizeof(q->ga));
            q->peer.global_area = q->ga;
        }
        qp = &q->peer;
    }
    if (r != NULL) {
        q->rec = *r;
        q->rec.peer = qp;
        q->rec.file = r->file ? put(&at, r->file, flen) : NULL;
        q->rec.file_len = flen;
        q->rec.result = put_str(&at, r->result);
        q->rec.error = put_str(&at, r->error);
        if (r->tid != NULL)
            q->rec.tid = memcpy(q->tid, r->tid, sizeof(q->tid));
        if (r->sha256 != NULL)
            q->rec.sha256 = memcpy(q->sha, r->sha256, sizeof(q->sha));
        q->ev.file = &q->rec;
    } else {
        q->ref = *f;
        q->ref.peer = qp;
        q->ref.side = put_str(&at, f->side);
        q->ref.reason = put_str(&at, f->reason);
        q->ev.refusal = &q->ref;
    }
    return q;
}

/* Commit the list @p head (in order) under the database lock. */
static void commit(struct pkie_xfer_catq *q, struct qev *head)
{
    size_t n = 0;
    for (struct qev *e = head; e != NULL; e = e->next)
        n++;
    struct pkie_xfer_catalog_item *it = calloc(n, sizeof(*it));
    pthread_mutex_lock(q->dblock);
    size_t i = 0;
    for (struct qev *e = head; e != NULL; e = e->next, i++) {
        struct pkie_xfer_catalog_item one = {&e->ev, e->audit_end, e->ended_ms};
        if (it != NULL)
            it[i] = one;
        else
            (void)pkie_xfer_catalog_put_many(q->cat, &one, 1); /* no memory: one by one */
    }
    if (it != NULL)
        (void)pkie_xfer_catalog_put_many(q->cat, it, n);
    pthread_mutex_unlock(q->dblock);
    free(it);
    while (head != NULL) {
        struct qev *next = head->next;
        free(head);
        head = next;
    }
}

static void *writer(void *arg)
{
    struct pkie_xfer_catq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop &&
               (q->n == 0 || (q->n < q->batch && mono_ms() < q->head->arrived + q->delay_ms))) {
            if (q->n == 0) {
                pthread_cond_wait(&q->cv, &q->mu);
            } else {
                int64_t due = q->head->arrived + q->delay_ms;
                struct timespec ts = {.tv_sec = (time_t)(due / 1000),
                                      .tv_nsec = (long)(due % 1000) * 1000000};
                (void)pthread_cond_timedwait(&q->cv, &q->mu, &ts);
            }
        }
        if (q->n == 0)
            break; /* stopped and drained */
        struct qev *batch = q->head;
        q->head = q->tail = NULL;
        q->n = 0;
        pthread_mutex_unlock(&q->mu); /* never held while taking the database lock */
        commit(q, batch);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int pkie_xfer_catq_start(struct pkie_xfer_catalog *cat, pthread_mutex_t *dblock, size_t batch,
                         int64_t delay_ms, struct pkie_xfer_catq **out)
{
    *out = NULL;
    struct pkie_xfer_catq *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "catalog queue");
    q->cat = cat;
    q->dblock = dblock;
    q->batch = batch > 0 ? batch : 1;
    q->delay_ms = delay_ms > 0 ? delay_ms : 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&q->th, NULL, writer, q);
    if (e != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        free(q);
        return PKIE_ERR(PKIE_ERR_INTERNAL, "catalog writer thread: %s", strerror(e));
    }
    *out = q;
    return 0;
}

int pkie_xfer_catq_push(struct pkie_xfer_catq *q, const struct pkie_xfer_catalog_event *ev,
                        int64_t audit_end, int64_t ended_ms)
{
    if (ev == NULL || (ev->file == NULL) == (ev->refusal == NULL))
        return PKIE_ERR(PKIE_ERR_ARG, "catalog: no event");
    struct qev *e = copy_event(ev);
    if (e == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "catalog queue");
    e->audit_end = audit_end;
    e->ended_ms = ended_ms;
    e->arrived = mono_ms();
    pthread_mutex_lock(&q->mu);
    if (q->n >= PKIE_XFER_CATQ_MAX) {
        pthread_mutex_unlock(&q->mu);
        free(e);
        return PKIE_ERR(PKIE_ERR_LIMIT, "catalog queue full (%u records): the catalog is stuck",
                        (unsigned)PKIE_XFER_CATQ_MAX);
    }
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->n++;
    /* wake the writer only when it has something new to do: the first event
     * starts its timer, a full batch commits at once */
    if (q->n == 1 || q->n == q->batch)
        pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void pkie_xfer_catq_stop(struct pkie_xfer_catq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
