/*
 * The receiver monitor: one listening socket, an accept queue and `tasks` SSL
 * tasks. Each task is a worker thread that runs StartTask once, then serves
 * one connection at a time (handshake through the exit runtime, partner check,
 * the transfer session, EndSession) and runs EndTask when the monitor stops.
 */
#include "tlsio.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP "recv"
#define DRAIN_MS 2000

struct queue {
    int *fds;
    size_t cap, head, n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct monitor {
    const struct pkie_xfer_conf *c;
    atomic_int *stop;
    struct pkie_tls_runtime *rt;
    struct pkie_xfer_recv_conf rconf;
    struct pkie_xfer_audit *audit;
    struct queue q;
    atomic_int failed;
};

struct worker {
    struct monitor *m;
    uint32_t id;
    pthread_t th;
};

static int queue_push(struct queue *q, int fd)
{
    pthread_mutex_lock(&q->mu);
    if (q->n == q->cap) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    q->fds[(q->head + q->n) % q->cap] = fd;
    q->n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* Next connection, or -1 once the monitor stops. */
static int queue_pop(struct queue *q, atomic_int *stop)
{
    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && !atomic_load(stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    int fd = -1;
    if (q->n > 0 && !atomic_load(stop)) {
        fd = q->fds[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    pthread_mutex_unlock(&q->mu);
    return fd;
}

/* After a fatal error frame: close our side of the TCP stream and read what the
 * peer still sends, so that our last frame is not lost to a reset. */
static void linger_close(int fd)
{
    shutdown(fd, SHUT_WR);
    char buf[16384];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= DRAIN_MS)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(DRAIN_MS - ms)) <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
}

static void serve(struct monitor *m, struct pkie_tls_task *t, uint32_t task_id, int fd)
{
    const struct pkie_xfer_conf *c = m->c;
    struct sockaddr_storage peer_ss, local_ss;
    socklen_t sl = sizeof(peer_ss);
    char addr[128] = "?", lhost[128], addrport[160];
    uint16_t pport = 0, lport = 0;
    if (getpeername(fd, (struct sockaddr *)&peer_ss, &sl) == 0)
        xfer_addr_text(&peer_ss, addr, sizeof(addr), &pport);
    sl = sizeof(local_ss);
    if (getsockname(fd, (struct sockaddr *)&local_ss, &sl) == 0)
        xfer_addr_text(&local_ss, lhost, sizeof(lhost), &lport);
    snprintf(addrport, sizeof(addrport), "%s:%u", addr, pport);

    struct pkie_tls_session_params p = {
        .is_server = 1,
        .partner_id = "",
        .peer_addr = addr,
        .peer_port = pport,
        .local_port = lport,
        .profile =
            {
                .cert_id = c->cert,
                .ca_ids = (const char *const *)c->ca_ids,
                .n_ca_ids = c->n_ca_ids,
                .verify_depth = (int)c->verify_depth,
                .dn_filters = c->all_subjects,
                .n_dn_filters = c->n_all_subjects,
            },
    };
    struct pkie_tls_session *s = NULL;
    struct xfer_peer_info pi = {0};
    int rc = pkie_tls_session_handshake(t, fd, &p, (int)c->handshake_timeout * 1000, &s);
    if (rc != 0) {
        pkie_log_warn(LOG_COMP, "task %u: handshake with %s failed (alert %d): %s", task_id,
                      addrport, s ? pkie_tls_alert(s) : -1, pkie_err_last()->msg);
        goto out;
    }
    xfer_peer_info_fill(&pi, s);
    pi.peer.addr = addrport;
    const struct pkie_xfer_partner *partner =
        pi.subject ? pkie_xfer_conf_partner_for(c, pi.subject) : NULL;
    struct xfer_tls_stream st;
    xfer_tls_stream_init(&st, s, m->stop, c->idle_timeout * 1000);
    if (partner == NULL) {
        pkie_log_warn(LOG_COMP, "task %u: %s presented %s: no partner", task_id, addrport,
                      pi.subject ? pi.subject : "no certificate");
        char text[300];
        snprintf(text, sizeof(text), "no partner for %s", pi.subject ? pi.subject : "?");
        (void)pkie_xfer_send_error(&st.io, PKIE_ERR_XFER_DENIED, text);
        (void)pkie_tls_shutdown(s);
        goto out;
    }
    pi.peer.partner = partner->name;
    pkie_log_info(LOG_COMP, "task %u: session from %s: partner %s (%s), %s %s", task_id, addrport,
                  partner->name, pi.subject, pi.peer.tls_version, pi.peer.cipher);
    struct pkie_xfer_recv_stats stats = {0};
    rc = pkie_xfer_recv_session(&m->rconf, &st.io, &pi.peer, m->audit, &stats);
    if (rc == 0) {
        (void)pkie_tls_shutdown(s);
        pkie_log_info(LOG_COMP,
                      "task %u: session from %s ended: %u file(s) received, %u failed, %" PRIu64
                      " bytes",
                      task_id, addrport, stats.files_ok, stats.files_failed, stats.bytes);
    } else {
        (void)pkie_tls_shutdown(s);
        linger_close(fd);
        pkie_log_warn(LOG_COMP, "task %u: session from %s cut: %s: %s", task_id, addrport,
                      pkie_err_name(rc), pkie_err_last()->msg);
    }
out:
    pkie_tls_session_end(s);
    close(fd);
    xfer_peer_info_free(&pi);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct monitor *m = w->m;
    struct pkie_tls_task *t = NULL;
    int rc = pkie_tls_task_start(m->rt, w->id, &t);
    if (rc != 0) {
        pkie_log_error(LOG_COMP, "task %u: StartTask failed: %s", w->id, pkie_err_last()->msg);
        atomic_store(&m->failed, rc);
        atomic_store(m->stop, 1);
        return NULL;
    }
    for (;;) {
        int fd = queue_pop(&m->q, m->stop);
        if (fd < 0)
            break;
        serve(m, t, w->id, fd);
    }
    pkie_tls_task_end(t);
    return NULL;
}

int pkie_xfer_monitor_run(const struct pkie_xfer_conf *c, atomic_int *stop)
{
    struct monitor m = {.c = c, .stop = stop};
    struct worker *workers = NULL;
    size_t started = 0;
    int lfd = -1, dirfd = -1, rc;
    int qinit = 0;
    if (c->listen == NULL || c->dir == NULL)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "listen and dir are required");
    if (c->n_partners == 0 || c->n_all_subjects == 0)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "no partner.NAME.subject configured");
    if (c->cert == NULL && c->tls.pki_type == PKIE_TLS_PKI_INTERNAL)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "cert (our certificate id) is required");
    dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "destination %s: %s", c->dir, strerror(errno));
    pkie_xfer_recv_conf_init(&m.rconf, dirfd);
    m.rconf.overwrite = c->overwrite;
    m.rconf.max_file_size = (uint64_t)c->max_file_size;
    m.rconf.checkpoint_bytes = (uint64_t)c->checkpoint;
    m.rconf.direct_io = c->direct_io;
    m.rconf.stop = stop;
    char apath[4096];
    if (c->audit != NULL)
        snprintf(apath, sizeof(apath), "%s", c->audit);
    else
        snprintf(apath, sizeof(apath), "%s/.pkie-audit.log", c->dir);
    if ((rc = pkie_xfer_audit_open(apath, &m.audit)) != 0)
        goto out;
    if ((rc = pkie_tls_runtime_open(&c->tls, &m.rt)) != 0)
        goto out;
    m.q.cap = (size_t)c->max_pending;
    m.q.fds = calloc(m.q.cap, sizeof(int));
    if (m.q.fds == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "accept queue");
        goto out;
    }
    pthread_mutex_init(&m.q.mu, NULL);
    pthread_cond_init(&m.q.cv, NULL);
    qinit = 1;
    if ((rc = xfer_listen(c->listen, 512, &lfd)) != 0)
        goto out;
    workers = calloc((size_t)c->tasks, sizeof(*workers));
    if (workers == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "workers");
        goto out;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512u << 10);
    for (; started < (size_t)c->tasks; started++) {
        workers[started].m = &m;
        workers[started].id = (uint32_t)started + 1;
        if (pthread_create(&workers[started].th, &attr, worker_main, &workers[started]) != 0) {
            rc = PKIE_ERR(PKIE_ERR_INTERNAL, "cannot start SSL task %zu", started + 1);
            atomic_store(stop, 1);
            break;
        }
    }
    pthread_attr_destroy(&attr);
    pkie_log_info(LOG_COMP, "listening on %s, %lld SSL task(s), PKI %s, destination %s, audit %s",
                  c->listen, c->tasks, pkie_tls_runtime_exit_name(m.rt), c->dir, apath);
    while (!atomic_load(stop)) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        int r = poll(&pfd, 1, 200);
        if (r <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        xfer_socket_tune(fd);
        if (queue_push(&m.q, fd) != 0) {
            pkie_log_warn(LOG_COMP, "accept queue full (%zu): connection refused", m.q.cap);
            close(fd);
        }
    }
    pkie_log_info(LOG_COMP, "stopping: no new connections, sessions cut at a checkpoint");
    close(lfd);
    lfd = -1;
    pthread_mutex_lock(&m.q.mu);
    pthread_cond_broadcast(&m.q.cv);
    pthread_mutex_unlock(&m.q.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(workers[i].th, NULL);
    if (rc == 0)
        rc = atomic_load(&m.failed);
    pkie_log_info(LOG_COMP, "stopped");
out:
    if (lfd >= 0)
        close(lfd);
    if (qinit) {
        while (m.q.n > 0) {
            close(m.q.fds[m.q.head]);
            m.q.head = (m.q.head + 1) % m.q.cap;
            m.q.n--;
        }
        pthread_mutex_destroy(&m.q.mu);
        pthread_cond_destroy(&m.q.cv);
    }
    free(m.q.fds);
    free(workers);
    pkie_tls_runtime_close(m.rt);
    pkie_xfer_audit_close(m.audit);
    close(dirfd);
    return rc;
}
