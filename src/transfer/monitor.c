/*
 * The receiver monitor: one listening socket, an acceptor (this thread) and
 * `tasks` SSL tasks (rtask.c). The acceptor admits a connection through the
 * gate (connections not yet authenticated, in total and per peer address:
 * max_pending, max_pending_per_address) and hands it to the task holding the
 * fewest connections; the task drives its handshake without blocking. On stop
 * the tasks end their handshakes at once and their data phases at the next
 * checkpoint; a task that does not end within STOP_GRACE_MS (an exit call
 * that does not return, with isolation none) is abandoned and the monitor
 * returns all the same. The expiry of partial transfers (rsweep.c) runs
 * beside them: a sweep before the socket listens, then on a thread of its
 * own, periodically and after each reload, ended before the tasks are.
 *
 * Under systemd (src/common/sdnotify.h; no-ops without $NOTIFY_SOCKET) this
 * loop says READY=1 once the socket listens and every task has started,
 * STATUS= when the number of sessions changes, RELOADING=1 .. READY=1 around
 * a reload (rgen.c), STOPPING=1 on stop, and WATCHDOG=1 at half
 * $WATCHDOG_USEC, but only while this loop and every SSL task's loop keep
 * turning (a task stuck in an exit call stops the keep-alives).
 */
#include "catalog.h"
#include "rmon.h"
#include "rsweep.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP      "recv"
#define STOP_GRACE_MS 8000 /* SIGTERM ends the monitor within 10 s */
#define ACCEPT_BURST  64   /* accepts per wake-up before the stop flag is read again */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rlim_t nofile_limit(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 0;
}

/* Every connection not yet authenticated holds a descriptor: raise the soft
 * RLIMIT_NOFILE to the hard one and say when max_pending does not fit. */
static void raise_nofile(const struct pkie_xfer_conf *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t want = (rlim_t)c->max_pending + (rlim_t)c->tasks * 4 + 64;
    if (nofile_limit() < want)
        pkie_log_warn(LOG_COMP,
                      "RLIMIT_NOFILE %llu is below max_pending and the tasks' needs (%llu): "
                      "connections past it wait in the kernel's backlog",
                      (unsigned long long)nofile_limit(), (unsigned long long)want);
}

static struct rtask *least_loaded(struct rtask *tasks, size_t n)
{
    struct rtask *best = NULL;
    unsigned bl = 0;
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&tasks[i].done))
            continue;
        unsigned l = atomic_load(&tasks[i].load);
        if (best == NULL || l < bl) {
            best = &tasks[i];
            bl = l;
        }
    }
    return best;
}

/* Accept what is pending: each connection through the gate to a task.
 * Returns 1 when out of descriptors or memory (the caller backs off: the
 * listening socket stays readable), else 0. */
static int accept_some(struct rmon *m, int lfd, struct rtask *tasks, size_t n)
{
    for (int k = 0; k < ACCEPT_BURST; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                pkie_log_warn(LOG_COMP, "accept: %s (RLIMIT_NOFILE %llu): backing off",
                              strerror(errno), (unsigned long long)nofile_limit());
                return 1;
            }
            return 0; /* EAGAIN, or an error of that connection only */
        }
        if (xfer_gate_admit(m->gate, &ss) != 0) {
            char host[128];
            uint16_t port;
            xfer_addr_text(&ss, host, sizeof(host), &port);
            pkie_log_debug(LOG_COMP, "connection from %s:%u refused: %s", host, port,
                           pkie_err_last()->msg);
            close(fd);
            continue;
        }
        xfer_socket_tune(fd);
        struct rtask *t = least_loaded(tasks, n);
        if (t == NULL || rtask_give(t, fd, &ss) != 0) {
            xfer_gate_release(m->gate, &ss);
            close(fd);
        }
    }
    return 0;
}

/* Wait up to STOP_GRACE_MS for every started task to end; join those that
 * did. Returns the number abandoned. */
static size_t stop_tasks(struct rtask *tasks, size_t started)
{
    long long deadline = mono_ms() + STOP_GRACE_MS;
    size_t stuck;
    for (;;) {
        stuck = 0;
        for (size_t i = 0; i < started; i++)
            stuck += !atomic_load(&tasks[i].done);
        if (stuck == 0 || mono_ms() >= deadline)
            break;
        poll(NULL, 0, 20);
    }
    for (size_t i = 0; i < started; i++) {
        if (atomic_load(&tasks[i].done)) {
            pthread_join(tasks[i].th, NULL);
            tasks[i].started = 0;
        } else {
            pkie_log_error(LOG_COMP,
                           "task %u did not end within %d s (an exit call that does not "
                           "return?): abandoned",
                           tasks[i].id, STOP_GRACE_MS / 1000);
        }
    }
    return stuck;
}

/* Every started task's loop turned within @p ms (a done task counts as alive:
 * the monitor is stopping or failed and says so itself). */
static int tasks_alive(struct rtask *tasks, size_t n, long long now, long long ms)
{
    for (size_t i = 0; i < n; i++)
        if (!atomic_load(&tasks[i].done) && now - atomic_load(&tasks[i].beat) > ms)
            return 0;
    return 1;
}

static void say_status(struct rmon *m, const char *what)
{
    pkie_sd_status("%s%slistening on %s, %u session(s), configuration generation %u", what,
                   what[0] ? "; " : "", m->c->listen, atomic_load(&m->data_sessions),
                   rgen_current_id(m));
}

/* SIGHUP: RELOADING=1, a new generation or the old one kept, READY=1.
 * Returns 0 when the new generation is current. */
static int reload(struct rmon *m)
{
    unsigned before = rgen_current_id(m);
    pkie_sd_reloading();
    pkie_log_info(LOG_COMP, "SIGHUP: re-reading %s", m->conf_path ? m->conf_path : "(none)");
    char what[600];
    int rc = rgen_reload(m);
    if (rc == 0) {
        struct rgen *g = rgen_get(m);
        pkie_log_info(LOG_COMP,
                      "reloaded: generation %u (%zu partner(s), certificate %s, PKI %s) for new "
                      "sessions; sessions in flight keep generation %u",
                      g->id, g->c->n_partners, g->c->cert ? g->c->cert : "(exit)",
                      pkie_tls_runtime_exit_name(g->rt), before);
        snprintf(what, sizeof(what), "reloaded");
        rgen_put(g);
    } else {
        pkie_log_error(LOG_COMP, "reload refused, generation %u keeps serving: %s", before,
                       pkie_err_last()->msg);
        snprintf(what, sizeof(what), "reload refused (%.500s)", pkie_err_last()->msg);
    }
    char st[800];
    snprintf(st, sizeof(st), "%s; listening on %s, %u session(s), configuration generation %u",
             what, m->c->listen, atomic_load(&m->data_sessions), rgen_current_id(m));
    pkie_sd_ready(st);
    return rc;
}

static int run(struct rmon *mp, const struct pkie_xfer_monitor_ctl *ctl);

int pkie_xfer_monitor_serve(const struct pkie_xfer_conf *c, const struct pkie_xfer_monitor_ctl *ctl)
{
    /* on the heap: an abandoned task keeps using it until the process exits */
    struct rmon *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "monitor");
    m->c = c;
    m->stop = ctl->stop;
    m->conf_path = ctl->conf_path;
    pthread_mutex_init(&m->gen_mu, NULL);
    int rc = run(m, ctl);
    if (rc != PKIE_XFER_MONITOR_ABANDONED && rc != PKIE_XFER_MONITOR_ABANDONED_FAILED) {
        pthread_mutex_destroy(&m->gen_mu);
        free(m);
    }
    return rc;
}

int pkie_xfer_monitor_run(const struct pkie_xfer_conf *c, atomic_int *stop)
{
    struct pkie_xfer_monitor_ctl ctl = {.stop = stop, .wake_fd = -1};
    return pkie_xfer_monitor_serve(c, &ctl);
}

static int run(struct rmon *m, const struct pkie_xfer_monitor_ctl *ctl)
{
    const struct pkie_xfer_conf *c = m->c;
    atomic_int *stop = m->stop;
    struct rtask *tasks = NULL;
    size_t started = 0, inited = 0, abandoned = 0;
    int lfd = -1, swept = 0;
    struct rsweep sw;
    int rc = rmon_check_conf(c);
    if (rc != 0)
        return rc;
    m->lim = (struct xfer_gate_limits){
        .max_total = (unsigned)c->max_pending,
        .max_per_addr = (unsigned)c->max_pending_per_address,
        .first_byte_ms = c->first_byte_timeout * 1000,
        .handshake_ms = c->handshake_timeout * 1000,
    };
    char apath[4096];
    if (c->audit != NULL)
        snprintf(apath, sizeof(apath), "%s", c->audit);
    else
        snprintf(apath, sizeof(apath), "%s/.pkie-audit.log", c->dir);
    raise_nofile(c);
    if ((rc = xfer_gate_new(&m->lim, &m->gate)) != 0)
        goto out;
    if ((rc = pkie_xfer_audit_open(apath, &m->audit)) != 0)
        goto out;
    if (c->catalog != NULL && ((rc = pkie_xfer_catalog_dir_check(c->catalog, c->dir)) != 0 ||
                               (rc = pkie_xfer_catalog_open(c->catalog, "in", &m->catalog)) != 0))
        goto out;
    pkie_xfer_audit_set_catalog(m->audit, m->catalog);
    if ((rc = rgen_first(m, c)) != 0)
        goto out;
    /* partial transfers expired before anything is served, then periodically */
    if ((rc = rsweep_init(&sw, m)) != 0)
        goto out;
    swept = 1;
    if ((rc = rsweep_start(&sw)) != 0)
        goto out;
    if ((rc = xfer_listen(c->listen, 512, &lfd)) != 0)
        goto out;
    int fl = fcntl(lfd, F_GETFL);
    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0) {
        rc = PKIE_ERR(PKIE_ERR_IO, "listening socket: %s", strerror(errno));
        goto out;
    }
    tasks = calloc((size_t)c->tasks, sizeof(*tasks));
    if (tasks == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "tasks");
        goto out;
    }
    for (; inited < (size_t)c->tasks; inited++)
        if ((rc = rtask_init(&tasks[inited], m, (uint32_t)inited + 1)) != 0) {
            inited++;
            goto out;
        }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512u << 10);
    for (; started < (size_t)c->tasks; started++) {
        if (pthread_create(&tasks[started].th, &attr, rtask_main, &tasks[started]) != 0) {
            rc = PKIE_ERR(PKIE_ERR_INTERNAL, "cannot start SSL task %zu", started + 1);
            atomic_store(stop, 1);
            break;
        }
        tasks[started].started = 1;
    }
    pthread_attr_destroy(&attr);
    pkie_log_info(LOG_COMP,
                  "listening on %s, %lld SSL task(s), PKI %s, destination %s, audit %s; "
                  "unauthenticated connections: %lld, %lld per address, first byte %lld s, "
                  "handshake %lld s",
                  c->listen, c->tasks, pkie_tls_runtime_exit_name(m->gen->rt), c->dir, apath,
                  c->max_pending, c->max_pending_per_address, c->first_byte_timeout,
                  c->handshake_timeout);
    struct pkie_sd_pacer pacer;
    pkie_sd_pacer_init(&pacer);
    int ready = 0;
    unsigned said = 0;
    long long said_at = 0;
    while (!atomic_load(stop)) {
        struct pollfd pfd[2] = {{.fd = lfd, .events = POLLIN},
                                {.fd = ctl->wake_fd, .events = POLLIN}};
        long long now = mono_ms();
        int n = poll(pfd, ctl->wake_fd >= 0 ? 2 : 1, pkie_sd_pacer_wait_ms(&pacer, now, 200));
        if (n > 0 && (pfd[0].revents & POLLIN) && accept_some(m, lfd, tasks, started))
            poll(NULL, 0, 100);
        if (n > 0 && ctl->wake_fd >= 0 && (pfd[1].revents & POLLIN)) {
            char b[64];
            while (read(ctl->wake_fd, b, sizeof(b)) > 0) {
            }
        }
        if (atomic_load(stop))
            break;
        if (!ready && atomic_load(&m->tasks_up) == started) {
            /* the socket listens and every task has started: handshakes run */
            ready = 1;
            char st[600];
            snprintf(st, sizeof(st), "listening on %s, %lld SSL task(s), 0 session(s)", c->listen,
                     c->tasks);
            pkie_sd_ready(st);
        }
        /* a reload's new or moved partner directories are swept at once */
        if (ready && ctl->reload != NULL && atomic_exchange(ctl->reload, 0) && reload(m) == 0)
            rsweep_kick(&sw);
        now = mono_ms();
        unsigned sessions = atomic_load(&m->data_sessions);
        if (ready && sessions != said && now - said_at >= 1000) {
            say_status(m, "");
            said = sessions;
            said_at = now;
        }
        /* keep-alives only from a monitor whose acceptor and tasks all turn */
        if (ready && pacer.every_ms > 0 && tasks_alive(tasks, started, now, pacer.every_ms * 2))
            pkie_sd_pacer_tick(&pacer, now);
    }
    pkie_sd_stopping();
    pkie_sd_status("stopping: no new connections, sessions cut at a checkpoint");
    pkie_log_info(LOG_COMP, "stopping: no new connections, sessions cut at a checkpoint");
    close(lfd);
    lfd = -1;
    rsweep_end(&sw);
    swept = 0;
    abandoned = stop_tasks(tasks, started);
    if (rc == 0)
        rc = atomic_load(&m->failed);
    if (abandoned == 0)
        pkie_log_info(LOG_COMP, "stopped");
    else
        pkie_log_info(LOG_COMP, "stopped, %zu SSL task(s) abandoned", abandoned);
out:
    if (lfd >= 0)
        close(lfd);
    if (swept)
        rsweep_end(&sw); /* before the current generation it sweeps goes */
    if (abandoned > 0) {
        /* The stuck tasks may still use the runtime, the gate, the audit and
         * their own state: all of it stays until the process exits. */
        if (rc != 0)
            pkie_log_error(LOG_COMP, "%s", pkie_err_last()->msg);
        return rc != 0 ? PKIE_XFER_MONITOR_ABANDONED_FAILED : PKIE_XFER_MONITOR_ABANDONED;
    }
    for (size_t i = 0; i < inited; i++)
        rtask_destroy(&tasks[i]);
    free(tasks);
    if (m->gen != NULL)
        rgen_release_current(m);
    pkie_xfer_audit_close(m->audit);
    pkie_xfer_catalog_close(m->catalog);
    xfer_gate_free(m->gate);
    return rc;
}
