/* Internal: the receiver monitor's parts (monitor.c: set-up, the acceptor and
 * the bounded stop; rgen.c: the reloadable configuration; rtask.c: the SSL
 * tasks' event loops and the data phases; rsweep.c: the expiry of partial
 * transfers). */
#ifndef PKIE_XFER_RMON_H
#define PKIE_XFER_RMON_H

#include "gate.h"
#include "tlsio.h"

#include <pthread.h>
#include <stdatomic.h>

struct rconn;
struct rmon;

/* A generation of the reloadable configuration (SIGHUP): an immutable
 * snapshot of the partners, the TLS runtime (PKI base, certificates, exit
 * settings, SSL_CTX) and the receiving settings. The monitor holds the
 * current one; a session holds the one its handshake began with until it
 * ends, so a reload never changes a session in flight. */
struct rgen {
    atomic_uint refs;
    unsigned id;              /* 1 at start, then one more per reload */
    struct pkie_xfer_conf *c; /* the configuration (owned unless own_c is 0) */
    int own_c;
    struct pkie_tls_runtime *rt;
    struct pkie_xfer_recv_conf rconf;
};

/* listen, dir, a partner and (internal PKI) cert are set: 0 or a PKIE_ERR_CONF_*. */
int rmon_check_conf(const struct pkie_xfer_conf *c);
/* The first generation, from the caller's configuration @p c (not owned). */
int rgen_first(struct rmon *m, const struct pkie_xfer_conf *c);
/* SIGHUP: re-read m->conf_path; on success the new generation is current
 * (new handshakes take it), else the old one stays and the error is set. */
int rgen_reload(struct rmon *m);
/* A reference to the current generation (release with rgen_put). */
struct rgen *rgen_get(struct rmon *m);
void rgen_put(struct rgen *g);
/* The id of the current generation (no lock). */
unsigned rgen_current_id(struct rmon *m);
/* At exit: drop the monitor's reference to the current generation. */
void rgen_release_current(struct rmon *m);

/* The monitor, shared by the acceptor, the tasks and the data phases. */
struct rmon {
    const struct pkie_xfer_conf *c; /* the configuration at start: what a reload may not
                                       change (listen, dir, audit, tasks, limits) */
    const char *conf_path;          /* re-read by a reload (NULL: no reload) */
    atomic_int *stop;
    pthread_mutex_t gen_mu; /* gen */
    struct rgen *gen;       /* the current generation */
    atomic_uint gen_id;     /* gen->id */
    struct pkie_xfer_audit *audit;
    struct pkie_xfer_catalog *catalog; /* catalog = (NULL: none), written through audit */
    struct xfer_gate *gate;
    struct xfer_gate_limits lim;
    atomic_int failed;         /* a task could not start: its error */
    atomic_uint data_sessions; /* data phases running, all tasks (max_sessions) */
    atomic_uint tasks_up;      /* tasks past their first StartTask */
};

/* A task's SSL task (StartTask .. EndTask) for one generation: new
 * handshakes use the task's newest; an older one ends once its last
 * session has ended. */
struct rtgen {
    struct rgen *g;
    struct pkie_tls_task *tt;
    unsigned users; /* sessions begun on it (task thread only) */
    struct rtgen *next;
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
    struct rtgen *tgs;   /* newest first (task thread only) */
    unsigned failed_gen; /* a generation whose StartTask failed: not retried */
    atomic_llong beat;   /* CLOCK_MONOTONIC ms of the loop's last turn (watchdog) */
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
