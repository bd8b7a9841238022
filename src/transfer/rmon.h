/* Internal: the receiver monitor's parts (monitor.c: set-up, the acceptor and
 * the bounded stop; rtask.c: the SSL tasks' event loops and the data phases). */
#ifndef PKIE_XFER_RMON_H
#define PKIE_XFER_RMON_H

#include "gate.h"
#include "tlsio.h"

#include <pthread.h>
#include <stdatomic.h>

struct rconn;

/* The monitor, shared by the acceptor, the tasks and the data phases. */
struct rmon {
    const struct pkie_xfer_conf *c;
    atomic_int *stop;
    struct pkie_tls_runtime *rt;
    struct pkie_xfer_recv_conf rconf;
    struct pkie_xfer_audit *audit;
    struct pkie_xfer_catalog *catalog; /* catalog = (NULL: none), written through audit */
    struct xfer_gate *gate;
    struct xfer_gate_limits lim;
    atomic_int failed;         /* a task could not start: its error */
    atomic_uint data_sessions; /* data phases running, all tasks (max_sessions) */
};

/* One SSL task: a thread with an epoll loop over the connections it owns in
 * their handshakes; every exit call of its sessions runs on it, one at a time.
 * Authenticated sessions run their data phase in a thread of their own and
 * come back here for EndSession. */
struct rtask {
    struct rmon *m;
    uint32_t id;
    pthread_t th;
    int started;         /* th runs */
    int ep;              /* epoll: the connections in handshake, evfd */
    int evfd;            /* eventfd: inbox or ended has entries */
    pthread_mutex_t mu;  /* inbox, ended */
    struct rconn *inbox; /* accepted, handed over by the acceptor */
    struct rconn *ended; /* data phases over: EndSession due */
    struct rconn *hs;    /* the connections in handshake (task thread only) */
    unsigned n_data;     /* data phases running (task thread only) */
    atomic_uint load;    /* connections held: the acceptor's choice */
    atomic_int done;     /* the thread has returned (EndTask called) */
};

int rtask_init(struct rtask *t, struct rmon *m, uint32_t id);
/* Free what rtask_init made (after the thread was joined, or never started). */
void rtask_destroy(struct rtask *t);
/* The task's thread. */
void *rtask_main(void *arg);
/* Hand an accepted connection (admitted by the gate) to the task. On failure
 * the caller closes it and releases the gate. */
int rtask_give(struct rtask *t, int fd, const struct sockaddr_storage *ss);

#endif
