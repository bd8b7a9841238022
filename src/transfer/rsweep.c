/*
 * The receiver's expiry of partial transfers (partial_ttl): a thread of the
 * monitor. A partial transfer unchanged for over partial_ttl is removed
 * (partials.c: never one in use) from every inbound directory of the
 * generation current at the time of the sweep, and from DIR itself (partial
 * transfers of versions before per-partner directories). The sweeps: once at
 * start before the monitor listens, every quarter of partial_ttl (at most
 * hourly), and right after each reload, so that a directory a reload brings
 * in is swept at once. partial_ttl and DIR need a restart (rgen.c); the
 * directories come from the generation, which the sweep holds a reference to.
 */
#include "rsweep.h"
#include "rmon.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP "recv"

long long rsweep_every_ms(long long ttl)
{
    long long every = ttl / 4 < 3600 ? ttl / 4 : 3600;
    return (every > 0 ? every : 1) * 1000;
}

int rsweep_init(struct rsweep *s, struct rmon *m)
{
    memset(s, 0, sizeof(*s));
    s->m = m;
    s->ttl = m->c->partial_ttl;
    s->every_ms = rsweep_every_ms(s->ttl);
    atomic_init(&s->stop, 0);
    s->dirfd = open(m->c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "destination %s: %s", m->c->dir, strerror(errno));
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&s->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&s->mu, NULL) != 0) {
        pthread_cond_destroy(&s->cv);
        ok = 0;
    }
    if (!ok) {
        close(s->dirfd);
        s->dirfd = -1;
        return PKIE_ERR(PKIE_ERR_INTERNAL, "partial expiry: cannot set up its condition variable");
    }
    return 0;
}

static int stopping(const struct rsweep *s)
{
    return atomic_load(&s->stop) || atomic_load(s->m->stop);
}

/* One inbound directory: a failure is logged, the others are still swept. */
static int sweep_in(void *arg, int dirfd, const char *partners)
{
    const struct rsweep *s = arg;
    if (stopping(s))
        return 1;
    unsigned n = 0;
    if (pkie_xfer_partials_expire(dirfd, (time_t)s->ttl, time(NULL), &n) != 0)
        pkie_log_warn(LOG_COMP, "partial expiry (partner %s): %s", partners, pkie_err_last()->msg);
    else if (n > 0)
        pkie_log_info(LOG_COMP,
                      "removed %u partial transfer(s) unchanged for over %lld s (partner %s)", n,
                      s->ttl, partners);
    return 0;
}

void rsweep_once(struct rsweep *s)
{
    struct rgen *g = rgen_get(s->m);
    if (pkie_xfer_inboxes_each(g->c, s->dirfd, NULL, sweep_in, s) < 0)
        pkie_log_warn(LOG_COMP, "partial expiry: %s", pkie_err_last()->msg);
    rgen_put(g);
}

static struct timespec after_ms(long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *sweep_main(void *arg)
{
    struct rsweep *s = arg;
    struct timespec next = after_ms(s->every_ms);
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop)) {
        if (!s->due && !passed(&next)) {
            pthread_cond_timedwait(&s->cv, &s->mu, &next);
            continue; /* woken, timed out or spuriously: look again */
        }
        s->due = 0;
        pthread_mutex_unlock(&s->mu);
        rsweep_once(s);
        next = after_ms(s->every_ms);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int rsweep_start(struct rsweep *s)
{
    rsweep_once(s);
    if (pthread_create(&s->th, NULL, sweep_main, s) != 0)
        return PKIE_ERR(PKIE_ERR_INTERNAL, "cannot start the partial expiry thread");
    s->started = 1;
    return 0;
}

void rsweep_kick(struct rsweep *s)
{
    pthread_mutex_lock(&s->mu);
    s->due = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void rsweep_end(struct rsweep *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->th, NULL);
    s->started = 0;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    if (s->dirfd >= 0)
        close(s->dirfd);
    s->dirfd = -1;
}
