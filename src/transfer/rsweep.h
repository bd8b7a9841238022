/* Internal: the receiver's expiry of partial transfers (partial_ttl), a part
 * of the monitor (monitor.c starts and ends it). Every sweep takes the
 * configuration of the generation current at that moment (rgen.c), so a
 * partner a reload adds, or whose directory a reload changes, is swept like
 * the others: once at start, then every quarter of partial_ttl (at most
 * hourly), and right after each reload (rsweep_kick). */
#ifndef PKIE_XFER_RSWEEP_H
#define PKIE_XFER_RSWEEP_H

#include <pthread.h>
#include <stdatomic.h>

struct rmon;

struct rsweep {
    struct rmon *m;
    int dirfd;          /* DIR (a restart-only key): partials of versions before
                           per-partner directories */
    long long ttl;      /* partial_ttl in s (restart-only) */
    long long every_ms; /* between two sweeps (rsweep_every_ms of ttl) */
    pthread_t th;
    int started;        /* th runs */
    pthread_mutex_t mu; /* cv, due; stop is written under it */
    pthread_cond_t cv;  /* on CLOCK_MONOTONIC */
    int due;            /* rsweep_kick: sweep now */
    atomic_int stop;    /* rsweep_end: the thread returns, a sweep ends at its next directory */
};

/* The time between two sweeps for @p ttl seconds: a quarter, at most an hour, in ms. */
long long rsweep_every_ms(long long ttl);
/* Open DIR (m->c->dir) and set up @p s for the monitor @p m (its current
 * generation set, m->stop set): 0, or PKIE_ERR_XFER_FILE / PKIE_ERR_INTERNAL
 * with nothing left to end. */
int rsweep_init(struct rsweep *s, struct rmon *m);
/* One sweep of every inbound directory of the current generation and DIR:
 * the partial transfers unchanged for over ttl go (never one in use); each
 * directory's removals and failures are logged, a failure does not stop the
 * others. Ends early once the monitor or the sweeper stops. */
void rsweep_once(struct rsweep *s);
/* Sweep once now (in the caller), then start the thread: 0 or PKIE_ERR_INTERNAL. */
int rsweep_start(struct rsweep *s);
/* A sweep as soon as possible (after a successful reload); no wait. */
void rsweep_kick(struct rsweep *s);
/* Stop and join the thread (at once: it waits on a condition variable and
 * sweeps no further directory), then free what rsweep_init made. */
void rsweep_end(struct rsweep *s);

#endif
