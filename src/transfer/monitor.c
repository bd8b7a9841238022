/*
 * The receiver monitor: one listening socket, an acceptor (this thread) and
 * `tasks` SSL tasks (rtask.c). The acceptor admits a connection through the
 * gate (connections not yet authenticated, in total and per peer address:
 * max_pending, max_pending_per_address) and hands it to the task holding the
 * fewest connections; the task drives its handshake without blocking. On stop
 * the tasks end their handshakes at once and their data phases at the next
 * checkpoint; a task that does not end within STOP_GRACE_MS (an exit call
 * that does not return, with isolation none) is abandoned and the monitor
 * returns all the same.
 */
#include "catalog.h"
#include "rmon.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

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

static int check_conf(const struct pkie_xfer_conf *c)
{
    if (c->listen == NULL || c->dir == NULL)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "listen and dir are required");
    if (c->n_partners == 0 || c->n_all_subjects == 0)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "no partner.NAME.subject configured");
    if (c->cert == NULL && c->tls.pki_type == PKIE_TLS_PKI_INTERNAL)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "cert (our certificate id) is required");
    return 0;
}

static int run(struct rmon *mp);

int pkie_xfer_monitor_run(const struct pkie_xfer_conf *c, atomic_int *stop)
{
    /* on the heap: an abandoned task keeps using it until the process exits */
    struct rmon *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "monitor");
    m->c = c;
    m->stop = stop;
    int rc = run(m);
    if (rc != PKIE_XFER_MONITOR_ABANDONED)
        free(m);
    return rc;
}

static int run(struct rmon *m)
{
    const struct pkie_xfer_conf *c = m->c;
    atomic_int *stop = m->stop;
    struct rtask *tasks = NULL;
    size_t started = 0, inited = 0, abandoned = 0;
    int lfd = -1, dirfd = -1;
    int rc = check_conf(c);
    if (rc != 0)
        return rc;
    dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "destination %s: %s", c->dir, strerror(errno));
    pkie_xfer_recv_conf_init(&m->rconf, dirfd);
    m->rconf.overwrite = c->overwrite;
    m->rconf.max_file_size = (uint64_t)c->max_file_size;
    m->rconf.checkpoint_bytes = (uint64_t)c->checkpoint;
    m->rconf.direct_io = c->direct_io;
    m->rconf.stop = stop;
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
    if ((rc = pkie_tls_runtime_open(&c->tls, &m->rt)) != 0)
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
                  c->listen, c->tasks, pkie_tls_runtime_exit_name(m->rt), c->dir, apath,
                  c->max_pending, c->max_pending_per_address, c->first_byte_timeout,
                  c->handshake_timeout);
    while (!atomic_load(stop)) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (poll(&pfd, 1, 200) > 0 && accept_some(m, lfd, tasks, started))
            poll(NULL, 0, 100);
    }
    pkie_log_info(LOG_COMP, "stopping: no new connections, sessions cut at a checkpoint");
    close(lfd);
    lfd = -1;
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
    pkie_tls_runtime_close(m->rt);
    pkie_xfer_audit_close(m->audit);
    pkie_xfer_catalog_close(m->catalog);
    xfer_gate_free(m->gate);
    close(dirfd);
    return rc;
}
