/*
 * The receiver's SSL tasks. Each task thread runs an epoll loop over the
 * connections it owns until their handshakes end, driving them with
 * non-blocking steps (pkie_tls_session_step): a peer that sends nothing or
 * trickles costs a descriptor and a little memory, never the task. Exit calls
 * run inside the steps, on this thread, one at a time (cftpkie.h); the
 * session's own pkicom inputs are restored before each (src/exit/session.c).
 * Deadlines: the first byte (first_byte_timeout, no exit call before it) and
 * the whole handshake (handshake_timeout), both from the accept. An
 * authenticated session's data phase runs in a thread of its own, blocking
 * with its timeouts as before, and is handed back to its task for EndSession.
 * A reload (rgen.c) makes a new generation current: the task starts an SSL
 * task on it at its next handshake and ends the older one (EndTask) once the
 * last session begun on it has ended.
 */
#include "rmon.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP "recv"
#define DRAIN_MS 2000
#define SCAN_MS  100 /* deadline checks at most this often */

struct rconn {
    struct rtask *t;
    struct rconn *next, *prev; /* t->hs, or t->inbox / t->ended (next only) */
    int fd;
    int gated; /* still counted by the gate */
    struct sockaddr_storage ss;
    long long t_accept, t_first; /* ms; t_first 0: no byte yet */
    struct pkie_tls_session *s;  /* from the first byte on */
    struct rtgen *tg;            /* the SSL task (and generation) of s */
    char addr[128];
    char addrport[160];
    uint16_t pport, lport;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct rtask *t)
{
    uint64_t one = 1;
    ssize_t w = write(t->evfd, &one, sizeof(one));
    (void)w; /* a full counter still wakes the task */
}

int rtask_init(struct rtask *t, struct rmon *m, uint32_t id)
{
    memset(t, 0, sizeof(*t));
    t->m = m;
    t->id = id;
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    t->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&t->mu, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (t->ep < 0 || t->evfd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->evfd, &ev) != 0)
        return PKIE_ERR(PKIE_ERR_IO, "SSL task %u: epoll: %s", id, strerror(errno));
    return 0;
}

/* ---- the task's SSL tasks, one per generation ---------------------------- */

/* StartTask on generation @p g (a reference the new entry takes over). Task
 * ids stay unique while SSL tasks of several generations overlap: generation
 * k's task i is i + (k - 1) * tasks. */
static int tg_start(struct rtask *t, struct rgen *g)
{
    struct rtgen *tg = calloc(1, sizeof(*tg));
    if (tg == NULL) {
        rgen_put(g);
        return PKIE_ERR(PKIE_ERR_NOMEM, "SSL task");
    }
    uint32_t id = t->id + (uint32_t)((g->id - 1) * (unsigned)t->m->c->tasks);
    int rc = pkie_tls_task_start(g->rt, id, &tg->tt);
    if (rc != 0) {
        rgen_put(g);
        free(tg);
        return rc;
    }
    /* EndSession does not hold the task up: the scan below ticks it */
    pkie_tls_task_async_end(tg->tt, 1);
    tg->g = g;
    tg->next = t->tgs;
    t->tgs = tg;
    return 0;
}

static void tg_end(struct rtask *t, struct rtgen *tg)
{
    for (struct rtgen **p = &t->tgs; *p != NULL; p = &(*p)->next)
        if (*p == tg) {
            *p = tg->next;
            break;
        }
    pkie_tls_task_end(tg->tt); /* EndTask */
    rgen_put(tg->g);
    free(tg);
}

/* A session of @p tg ended: an older generation's SSL task ends with its last. */
static void tg_release(struct rtask *t, struct rtgen *tg)
{
    if (--tg->users == 0 && tg != t->tgs)
        tg_end(t, tg);
}

/* The SSL task for a new handshake: the current generation's, started now
 * if a reload made a new one current (if its StartTask fails, the task's
 * newest serves on and the failure is logged once). */
static struct rtgen *tg_current(struct rtask *t)
{
    unsigned cur = rgen_current_id(t->m);
    if (cur != t->tgs->g->id && cur != t->failed_gen) {
        struct rgen *g = rgen_get(t->m);
        unsigned id = g->id;
        if (tg_start(t, g) != 0) {
            pkie_log_error(LOG_COMP,
                           "task %u: StartTask on the reloaded configuration (generation %u) "
                           "failed, new sessions keep generation %u: %s",
                           t->id, id, t->tgs->g->id, pkie_err_last()->msg);
            t->failed_gen = id;
        } else {
            pkie_log_debug(LOG_COMP, "task %u: new sessions take generation %u", t->id, id);
            struct rtgen *prev = t->tgs->next;
            if (prev != NULL && prev->users == 0)
                tg_end(t, prev);
        }
    }
    return t->tgs;
}

static void conn_free(struct rconn *c)
{
    if (c->gated)
        xfer_gate_release(c->t->m->gate, &c->ss);
    pkie_tls_session_end(c->s); /* EndSession (NULL: none began) */
    if (c->tg != NULL)
        tg_release(c->t, c->tg);
    if (c->fd >= 0)
        close(c->fd);
    atomic_fetch_sub(&c->t->load, 1);
    free(c);
}

void rtask_destroy(struct rtask *t)
{
    /* what the acceptor handed over after the thread ended */
    for (struct rconn *c = t->inbox, *n; c != NULL; c = n) {
        n = c->next;
        conn_free(c);
    }
    t->inbox = NULL;
    if (t->ep >= 0)
        close(t->ep);
    if (t->evfd >= 0)
        close(t->evfd);
    pthread_mutex_destroy(&t->mu);
}

int rtask_give(struct rtask *t, int fd, const struct sockaddr_storage *ss)
{
    struct rconn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "connection");
    c->t = t;
    c->fd = fd;
    c->ss = *ss;
    c->t_accept = now_ms();
    atomic_fetch_add(&t->load, 1);
    pthread_mutex_lock(&t->mu);
    c->next = t->inbox;
    t->inbox = c;
    wake(t);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* ---- the partner check (before HandshakeDone) ------------------------------ */

static int partner_check(void *arg, X509 *leaf, char *why, size_t cap)
{
    const struct pkie_xfer_conf *c = arg; /* the session's generation's */
    char *subject = xfer_dn_text(X509_get_subject_name(leaf));
    int ok = subject != NULL && pkie_xfer_conf_partner_for(c, subject) != NULL;
    if (!ok)
        snprintf(why, cap, "no partner for %s", subject ? subject : "?");
    free(subject);
    return ok ? 0 : 1;
}

/* ---- the data phase (a thread per authenticated session) ------------------- */

/* After a fatal error frame: close our side of the TCP stream and read what the
 * peer still sends, so that our last frame is not lost to a reset. */
static void linger_close(int fd)
{
    shutdown(fd, SHUT_WR);
    char buf[16384];
    long long t0 = now_ms();
    for (;;) {
        long long ms = now_ms() - t0;
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

static void serve_data(struct rconn *c)
{
    struct rmon *m = c->t->m;
    struct rgen *g = c->tg->g; /* held until EndSession: a reload does not change it */
    const struct pkie_xfer_conf *conf = g->c;
    uint32_t id = c->t->id;
    struct xfer_peer_info pi = {0};
    xfer_peer_info_fill(&pi, c->s);
    pi.peer.addr = c->addrport;
    /* the partner check let the session through: its subject has a partner */
    const struct pkie_xfer_partner *partner =
        pi.subject ? pkie_xfer_conf_partner_for(conf, pi.subject) : NULL;
    struct xfer_tls_stream st;
    xfer_tls_stream_init(&st, c->s, m->stop, conf->idle_timeout * 1000);
    if (partner == NULL) {
        pkie_log_warn(LOG_COMP, "task %u: %s presented %s: no partner", id, c->addrport,
                      pi.subject ? pi.subject : "no certificate");
        (void)pkie_xfer_send_error(&st.io, PKIE_ERR_XFER_DENIED, "no partner");
        (void)pkie_tls_shutdown(c->s);
        xfer_peer_info_free(&pi);
        return;
    }
    pi.peer.partner = partner->name;
    if (atomic_fetch_add(&m->data_sessions, 1) >= (unsigned)conf->max_sessions) {
        pkie_log_warn(LOG_COMP,
                      "task %u: session from %s (partner %s) refused: %lld sessions at once", id,
                      c->addrport, partner->name, conf->max_sessions);
        (void)pkie_xfer_send_error(&st.io, PKIE_ERR_XFER_OVERLOADED,
                                   "receiver at its limit of sessions; retry later");
        (void)pkie_tls_shutdown(c->s);
        atomic_fetch_sub(&m->data_sessions, 1);
        xfer_peer_info_free(&pi);
        return;
    }
    pkie_log_info(LOG_COMP, "task %u: session from %s: partner %s (%s), %s %s", id, c->addrport,
                  partner->name, pi.subject, pi.peer.tls_version, pi.peer.cipher);
    struct pkie_xfer_recv_stats stats = {0};
    struct pkie_xfer_recv_conf rconf = g->rconf; /* in the partner's directory, its names */
    rconf.dirfd = partner->dirfd;
    rconf.names = (const char *const *)partner->names;
    rconf.n_names = partner->n_names;
    pkie_metrics_session("active", 1);
    int rc = pkie_xfer_recv_session(&rconf, &st.io, &pi.peer, m->audit, &stats);
    pkie_metrics_session("active", -1);
    atomic_fetch_sub(&m->data_sessions, 1);
    (void)pkie_tls_shutdown(c->s);
    if (rc == 0) {
        pkie_log_info(LOG_COMP,
                      "task %u: session from %s ended: %u file(s) received, %u failed, %" PRIu64
                      " bytes",
                      id, c->addrport, stats.files_ok, stats.files_failed, stats.bytes);
    } else {
        linger_close(c->fd);
        pkie_log_warn(LOG_COMP, "task %u: session from %s cut: %s: %s", id, c->addrport,
                      pkie_err_name(rc), pkie_err_last()->msg);
    }
    xfer_peer_info_free(&pi);
}

static void *data_main(void *arg)
{
    struct rconn *c = arg;
    struct rtask *t = c->t;
    serve_data(c);
    /* back to the task for EndSession; the wake-up inside the lock, so the
     * task cannot end (and close evfd) between the two */
    pthread_mutex_lock(&t->mu);
    c->next = t->ended;
    t->ended = c;
    wake(t);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- the handshakes ------------------------------------------------------- */

static void hs_unlink(struct rtask *t, struct rconn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->hs = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
}

/* A refused session (the handshake failed, was refused, or ran out of time):
 * the log line, the audit line, then EndSession and close. */
static void hs_refuse(struct rtask *t, struct rconn *c, int rc)
{
    char reason[600];
    snprintf(reason, sizeof(reason), "%s: %s", pkie_err_name(rc), pkie_err_last()->msg);
    int alert = pkie_tls_alert(c->s);
    if (alert >= 0) /* the message names the alert and its direction */
        pkie_log_warn(LOG_COMP, "task %u: handshake with %s failed (alert %d): %s", t->id,
                      c->addrport, alert, pkie_err_last()->msg);
    else
        pkie_log_warn(LOG_COMP, "task %u: handshake with %s failed (no alert): %s", t->id,
                      c->addrport, pkie_err_last()->msg);
    struct xfer_peer_info pi = {0};
    if (c->s != NULL)
        xfer_peer_info_fill(&pi, c->s);
    pi.peer.addr = c->addrport;
    pi.peer.tls_version = pi.peer.cipher = NULL; /* nothing was negotiated */
    pi.peer.global_area = NULL;
    struct pkie_xfer_refusal r = {
        .peer = &pi.peer,
        .side = "receiver",
        .alert = alert,
        .alert_sent = pkie_tls_alert_sent(c->s),
        .reason = reason,
        .duration_ms = (int64_t)(now_ms() - (c->t_first ? c->t_first : c->t_accept)),
    };
    int arc = pkie_xfer_audit_refusal(t->m->audit, &r);
    if (arc != 0)
        pkie_log_error(LOG_COMP, "task %u: audit: %s", t->id, pkie_err_last()->msg);
    xfer_peer_info_free(&pi);
    hs_unlink(t, c);
    conn_free(c);
}

static void hs_authenticated(struct rtask *t, struct rconn *c)
{
    hs_unlink(t, c);
    xfer_gate_release(t->m->gate, &c->ss);
    c->gated = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512u << 10);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int e = pthread_create(&th, &attr, data_main, c);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        pkie_log_error(LOG_COMP, "task %u: session from %s: no thread for it: %s", t->id,
                       c->addrport, strerror(e));
        conn_free(c);
        return;
    }
    t->n_data++;
}

/* The first byte came: StartHandshake and the session. */
static int hs_begin(struct rtask *t, struct rconn *c)
{
    c->tg = tg_current(t);
    c->tg->users++;
    const struct pkie_xfer_conf *conf = c->tg->g->c;
    struct sockaddr_storage local;
    socklen_t sl = sizeof(local);
    char lhost[128];
    xfer_addr_text(&c->ss, c->addr, sizeof(c->addr), &c->pport);
    snprintf(c->addrport, sizeof(c->addrport), "%s:%u", c->addr, c->pport);
    if (getsockname(c->fd, (struct sockaddr *)&local, &sl) == 0)
        xfer_addr_text(&local, lhost, sizeof(lhost), &c->lport);
    struct pkie_tls_session_params p = {
        .is_server = 1,
        .partner_id = "",
        .peer_addr = c->addr,
        .peer_port = c->pport,
        .local_port = c->lport,
        .profile =
            {
                .cert_id = conf->cert,
                .ca_ids = (const char *const *)conf->ca_ids,
                .n_ca_ids = conf->n_ca_ids,
                .verify_depth = (int)conf->verify_depth,
                .dn_filters = conf->all_subjects,
                .n_dn_filters = conf->n_all_subjects,
            },
        .peer_check = partner_check,
        .peer_check_arg = (void *)(uintptr_t)conf,
    };
    return pkie_tls_session_begin(c->tg->tt, c->fd, &p, (int)conf->handshake_timeout * 1000, &c->s);
}

static void hs_event(struct rtask *t, struct rconn *c, uint32_t events)
{
    int rc;
    if (c->s == NULL) {
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && !(events & (EPOLLERR | EPOLLHUP)))
            return;
        if (n <= 0) { /* closed or reset before a byte: not a session */
            pkie_log_debug(LOG_COMP, "task %u: connection closed before its first byte", t->id);
            hs_unlink(t, c);
            conn_free(c);
            return;
        }
        c->t_first = now_ms();
        rc = hs_begin(t, c);
        if (rc != 0) {
            hs_refuse(t, c, rc);
            return;
        }
    }
    rc = pkie_tls_session_step(c->s);
    if (rc == PKIE_TLS_STEP_DONE) {
        hs_authenticated(t, c);
    } else if (rc < 0) {
        hs_refuse(t, c, rc);
    } else {
        struct epoll_event ev = {
            .events = rc == PKIE_TLS_STEP_WANT_WRITE ? EPOLLOUT : EPOLLIN,
            .data.ptr = c,
        };
        epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

/* Connections past their deadline. */
static void hs_expire(struct rtask *t, long long now)
{
    const struct xfer_gate_limits *l = &t->m->lim;
    for (struct rconn *c = t->hs, *n; c != NULL; c = n) {
        n = c->next;
        if (now < xfer_gate_deadline(l, c->t_accept, c->t_first))
            continue;
        if (c->s == NULL) {
            pkie_log_debug(LOG_COMP, "task %u: no first byte within %lld ms: closed", t->id,
                           l->first_byte_ms);
            hs_unlink(t, c);
            conn_free(c);
        } else {
            hs_refuse(
                t, c,
                PKIE_ERR(PKIE_ERR_TIMEOUT, "handshake deadline (%lld ms) passed", l->handshake_ms));
        }
    }
}

/* New connections and ended data phases. */
static void take_posted(struct rtask *t, int stopping)
{
    uint64_t v;
    while (read(t->evfd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
    }
    pthread_mutex_lock(&t->mu);
    struct rconn *in = t->inbox, *ended = t->ended;
    t->inbox = t->ended = NULL;
    pthread_mutex_unlock(&t->mu);
    for (struct rconn *c = ended, *n; c != NULL; c = n) {
        n = c->next;
        t->n_data--;
        conn_free(c); /* EndSession on the task's thread */
    }
    for (struct rconn *c = in, *n; c != NULL; c = n) {
        n = c->next;
        c->next = c->prev = NULL;
        c->gated = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (stopping || epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            conn_free(c);
            continue;
        }
        c->next = t->hs;
        if (t->hs != NULL)
            t->hs->prev = c;
        t->hs = c;
    }
}

void *rtask_main(void *arg)
{
    struct rtask *t = arg;
    struct rmon *m = t->m;
    int rc = tg_start(t, rgen_get(m));
    if (rc != 0) {
        pkie_log_error(LOG_COMP, "task %u: StartTask failed: %s", t->id, pkie_err_last()->msg);
        atomic_store(&m->failed, rc);
        atomic_store(m->stop, 1);
        atomic_store(&t->done, 1);
        return NULL;
    }
    atomic_fetch_add(&m->tasks_up, 1);
    struct epoll_event evs[64];
    long long last_scan = now_ms();
    for (;;) {
        atomic_store(&t->beat, now_ms());
        int stopping = atomic_load(m->stop);
        if (stopping) { /* handshakes end now; data phases at their next checkpoint */
            while (t->hs != NULL) {
                struct rconn *c = t->hs;
                hs_unlink(t, c);
                conn_free(c);
            }
            take_posted(t, 1);
            if (t->n_data == 0)
                break;
        }
        int n = epoll_wait(t->ep, evs, 64, SCAN_MS);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                take_posted(t, stopping);
            else
                hs_event(t, evs[i].data.ptr, evs[i].events);
        }
        long long now = now_ms();
        if (now - last_scan >= SCAN_MS) {
            hs_expire(t, now);
            for (struct rtgen *tg = t->tgs; tg != NULL; tg = tg->next)
                pkie_tls_task_tick(tg->tt); /* a posted EndSession's answer */
            last_scan = now;
        }
    }
    while (t->tgs != NULL) /* every session has ended: EndTask on each generation */
        tg_end(t, t->tgs);
    atomic_store(&t->done, 1);
    return NULL;
}
