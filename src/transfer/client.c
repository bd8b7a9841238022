/*
 * The sender client: one or more workers (o->parallel), each a thread with its
 * own SSL task of one shared runtime, take the next unsent file from a shared
 * counter and send it over their own connections, opened with the exit
 * runtime's handshake. A broken connection is opened again (up to `retries`
 * times per worker) and the file resumes with the same transfer id from the
 * offset the receiver has made durable. One worker runs in the calling thread.
 */
#include "sread.h"
#include "tlsio.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP    "send"
#define MAX_WORKERS 64

/* What the workers share. `mu` guards next, active and what they write into
 * the options (current, tls_version, tls_cipher) and the progress callback;
 * an item belongs to the worker that took it. */
struct send_shared {
    const struct pkie_xfer_conf *c;
    struct pkie_xfer_send_opts *o;
    struct pkie_xfer_send_item *items;
    size_t n;
    const char *state_dir;
    const char *dest;
    struct pkie_tls_runtime *rt;
    pthread_mutex_t mu;
    size_t next; /* first item no worker took */
    int active;  /* workers that have not given up */
};

struct send_worker {
    struct send_shared *sh;
    uint32_t id;              /* SSL task id, 1..N */
    size_t cur;               /* item being sent */
    int retries;              /* what is left of this worker's retry budget */
    struct xfer_peer_info pi; /* the open session's receiver (for the catalog) */
    pthread_t th;
    int started; /* th is running */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_item(struct pkie_xfer_send_item *it, int code)
{
    it->res.code = code;
    const struct pkie_error *e = pkie_err_last();
    snprintf(it->res.error, sizeof(it->res.error), "%s: %s", pkie_err_name(code),
             e->code == code && e->msg[0] ? e->msg : pkie_strerror(code));
}

static int is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* Do the partner's patterns admit @p subject? */
static int partner_admits(const struct pkie_xfer_partner *p, const char *subject)
{
    for (size_t i = 0; subject != NULL && i < p->n_subjects; i++)
        if (pkie_xfer_dn_match(p->subjects[i], subject))
            return 1;
    return 0;
}

/* One audit line for a session refused before any file: @p reason, or
 * with @p code the current error record as "NAME: message". */
static void audit_refusal(struct send_shared *sh, struct pkie_tls_session *s, int alert,
                          int alert_sent, int code, const char *reason)
{
    char text[PKIE_XFER_ERRTEXT_MAX + 1];
    if (code != 0) {
        snprintf(text, sizeof(text), "%s: %s", pkie_err_name(code), pkie_err_last()->msg);
        reason = text;
    }
    struct xfer_peer_info pi = {0};
    if (s != NULL)
        xfer_peer_info_fill(&pi, s);
    pi.peer.partner = sh->o->partner;
    pi.peer.addr = sh->dest;
    pi.peer.tls_version = pi.peer.cipher = NULL; /* no session came of it */
    pi.peer.global_area = NULL;
    struct pkie_xfer_refusal r = {
        .peer = &pi.peer,
        .side = "sender",
        .alert = alert,
        .alert_sent = alert_sent,
        .reason = reason,
        .duration_ms = -1,
    };
    if (pkie_xfer_audit_refusal(sh->o->audit, &r) != 0)
        pkie_log_error(LOG_COMP, "audit write failed: %s", pkie_err_last()->msg);
    xfer_peer_info_free(&pi);
}

/* Open a connection, run the handshake and check the receiver is the
 * partner (its subject matches partner.NAME.subject, whatever the PKI exit
 * answered). *alert: the TLS alert of a failed handshake, else -1. */
static int open_session(struct send_shared *sh, struct pkie_tls_task *t, int *fd,
                        struct pkie_tls_session **s, int *alert)
{
    const struct pkie_xfer_conf *c = sh->c;
    struct pkie_xfer_send_opts *o = sh->o;
    const struct pkie_xfer_partner *partner =
        o->partner ? pkie_xfer_conf_partner(c, o->partner) : NULL;
    *alert = -1;
    pkie_log_debug(LOG_COMP, "connecting to %s", sh->dest);
    int rc = xfer_connect(o->host, o->port, (int)c->handshake_timeout * 1000, fd);
    if (rc != 0)
        return rc;
    /* the exit sees our local port (StartHandshake .. EndSession) */
    struct sockaddr_storage local_ss;
    socklen_t sl = sizeof(local_ss);
    char lhost[128];
    uint16_t lport = 0;
    if (getsockname(*fd, (struct sockaddr *)&local_ss, &sl) == 0)
        xfer_addr_text(&local_ss, lhost, sizeof(lhost), &lport);
    struct pkie_tls_session_params p = {
        .is_server = 0,
        .partner_id = o->partner ? o->partner : "",
        .peer_addr = o->host,
        .peer_port = (uint16_t)atoi(o->port),
        .local_port = lport,
        .sni = is_ip_literal(o->host) ? NULL : o->host,
        .profile =
            {
                .cert_id = c->cert,
                .ca_ids = (const char *const *)c->ca_ids,
                .n_ca_ids = c->n_ca_ids,
                .verify_depth = (int)c->verify_depth,
                .dn_filters = partner ? (const char *const *)partner->subjects : NULL,
                .n_dn_filters = partner ? partner->n_subjects : 0,
            },
    };
    rc = pkie_tls_session_handshake(t, *fd, &p, (int)c->handshake_timeout * 1000, s);
    if (rc != 0) {
        int sent = *s ? pkie_tls_alert_sent(*s) : 0;
        *alert = *s ? pkie_tls_alert(*s) : -1;
        char msg[256], al[96] = "";
        snprintf(msg, sizeof(msg), "%s", pkie_err_last()->msg);
        if (*alert >= 0)
            snprintf(al, sizeof(al), " (alert %d %s %s)", *alert, pkie_tls_alert_name(*alert),
                     sent ? "sent" : "received");
        rc = PKIE_ERR(PKIE_ERR_XFER_TLS, "TLS handshake with %s failed%s: %s", sh->dest, al, msg);
        audit_refusal(sh, *s, *alert, sent, rc, NULL);
        pkie_tls_session_end(*s);
        *s = NULL;
        close(*fd);
        *fd = -1;
        return rc;
    }
    pkie_log_debug(LOG_COMP, "handshake with %s done: %s %s", sh->dest, pkie_tls_version(*s),
                   pkie_tls_cipher(*s));
    if (partner != NULL) {
        struct xfer_peer_info pi = {0};
        xfer_peer_info_fill(&pi, *s);
        int ok = partner_admits(partner, pi.subject);
        if (!ok)
            rc = PKIE_ERR(PKIE_ERR_XFER_DENIED,
                          "receiver %s is not partner %s: its subject %s matches no "
                          "partner.%s.subject",
                          sh->dest, partner->name, pi.subject ? pi.subject : "(none)",
                          partner->name);
        xfer_peer_info_free(&pi);
        if (!ok) {
            audit_refusal(sh, *s, -1, 0, rc, NULL);
            pkie_tls_session_end(*s); /* nothing sent: no close_notify either */
            *s = NULL;
            close(*fd);
            *fd = -1;
            return rc;
        }
        pkie_log_debug(LOG_COMP, "receiver is partner %s", partner->name);
    }
    return 0;
}

/* The session carried a reply: its TLS version and cipher go to the summary
 * (never those of a refused session). */
static void publish_tls(struct send_shared *sh, struct pkie_tls_session *s)
{
    pthread_mutex_lock(&sh->mu);
    snprintf(sh->o->tls_version, sizeof(sh->o->tls_version), "%s", pkie_tls_version(s));
    snprintf(sh->o->tls_cipher, sizeof(sh->o->tls_cipher), "%s", pkie_tls_cipher(s));
    pthread_mutex_unlock(&sh->mu);
}

static void close_session(struct pkie_tls_session *s, int fd, int clean)
{
    /* BYE and DONE said all: our close_notify goes out, the receiver's is
     * not awaited (one round trip less per session) */
    if (s != NULL && clean)
        (void)pkie_tls_close_notify(s);
    pkie_tls_session_end(s);
    if (fd >= 0)
        close(fd);
}

static void pause_ms(int ms)
{
    usleep((useconds_t)ms * 1000u);
}

/* After a failed attempt (error @p rc, TLS alert @p alert): 1 once paused
 * when another attempt may succeed and the worker's budget allows it, else 0.
 * Refusals are not retried; a full disk only after disk_full_delay_ms. */
static int retry_after(struct send_worker *w, int rc, int alert)
{
    const struct pkie_xfer_send_opts *o = w->sh->o;
    enum pkie_xfer_retry k = pkie_xfer_retry_kind(rc, alert);
    if (k == PKIE_XFER_RETRY_NO) {
        pkie_log_info(LOG_COMP, "%s: not retried (a refusal)", pkie_err_name(rc));
        return 0;
    }
    if (w->retries-- <= 0)
        return 0;
    int ms = k == PKIE_XFER_RETRY_LATER ? o->disk_full_delay_ms : o->retry_delay_ms;
    pkie_log_info(LOG_COMP, "%s: retrying in %d ms (%d retries left)", pkie_err_name(rc), ms,
                  w->retries);
    pause_ms(ms);
    return 1;
}

/* Take the next item nobody took: 1 and its index, or 0 when none is left. */
static int take(struct send_shared *sh, size_t *idx)
{
    pthread_mutex_lock(&sh->mu);
    int got = sh->next < sh->n;
    if (got)
        *idx = sh->next++;
    pthread_mutex_unlock(&sh->mu);
    return got;
}

/* The worker stops. The items nobody took stay for the other workers; when it
 * was the last and stops on @p rc (not 0), it fails them with rc, as the
 * serial sender failed every remaining file (rc 0 leaves them to the summary's
 * "not sent"). */
static void leave(struct send_worker *w, int rc)
{
    struct send_shared *sh = w->sh;
    pthread_mutex_lock(&sh->mu);
    int drain = --sh->active == 0 && rc != 0;
    size_t from = sh->next;
    if (drain)
        sh->next = sh->n;
    pthread_mutex_unlock(&sh->mu);
    for (size_t i = from; drain && i < sh->n; i++)
        fail_item(&sh->items[i], rc);
}

/* Progress of one worker: the caller's callback, one worker at a time, with
 * o->current naming the item. */
static void worker_progress(void *arg, uint64_t done, uint64_t total)
{
    struct send_worker *w = arg;
    pthread_mutex_lock(&w->sh->mu);
    w->sh->o->current = w->cur;
    w->sh->o->progress(w->sh->o->progress_arg, done, total);
    pthread_mutex_unlock(&w->sh->mu);
}

/* The catalog's word for the sender's outcome @p rc of a file: as the
 * receiver audits it where the sender can tell (docs/catalog.md). */
static const char *send_result(int rc, const struct pkie_xfer_sender *snd)
{
    if (rc == 0)
        return "ok";
    if (snd->broken)
        return "interrupted";
    switch (rc) {
    case PKIE_ERR_XFER_NAME:
    case PKIE_ERR_XFER_EXISTS:
    case PKIE_ERR_XFER_TOO_BIG:
    case PKIE_ERR_XFER_BUSY:
    case PKIE_ERR_XFER_RESERVED:
    case PKIE_ERR_XFER_DENIED:
        return "refused";
    default:
        return "failed";
    }
}

/* The sender's record of item w->cur in the catalog (no audit line). */
static void catalog_file(struct send_worker *w, const struct pkie_xfer_sender *snd,
                         const uint8_t tid[PKIE_XFER_TID_LEN], int rc, uint64_t ms)
{
    const struct pkie_xfer_send_item *it = &w->sh->items[w->cur];
    struct pkie_xfer_audit_rec r = {
        .peer = &w->pi.peer,
        .file = it->name,
        .tid = tid,
        .size = it->res.size,
        .bytes = it->res.bytes_sent,
        .resume_offset = it->res.resume_offset,
        .sha256 = rc == 0 ? it->res.sha256 : NULL,
        .duration_ms = ms,
        .result = send_result(rc, snd),
        .error = rc == 0 ? NULL : it->res.error,
    };
    if (pkie_xfer_audit_catalog(w->sh->o->audit, &r) != 0)
        pkie_log_error(LOG_COMP, "catalog write failed: %s", pkie_err_last()->msg);
}

/* Send item w->cur over the session: its transfer id from the state
 * directory, FILE .. DONE, the id dropped once confirmed. */
static int send_one(struct send_worker *w, struct pkie_xfer_sender *snd)
{
    struct send_shared *sh = w->sh;
    struct pkie_xfer_send_opts *o = sh->o;
    struct pkie_xfer_send_item *it = &sh->items[w->cur];
    double t0 = now_s();
    pthread_mutex_lock(&sh->mu);
    o->current = w->cur;
    pthread_mutex_unlock(&sh->mu);
    it->attempts++;
    int rc, ffd = open(it->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (ffd < 0 || fstat(ffd, &sb) != 0) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "%s: %s", it->path, strerror(errno));
        fail_item(it, rc);
        if (ffd >= 0)
            close(ffd);
        return rc;
    }
    if (it->have_seen && !xfer_src_same(&it->seen, &sb)) {
        /* a resumed attempt: the receiver's prefix is of the file seen first */
        rc = PKIE_ERR(PKIE_ERR_XFER_CHANGED, "%s changed since the first attempt", it->name);
        fail_item(it, rc);
        close(ffd);
        return rc;
    }
    it->seen = sb;
    it->have_seen = 1;
    uint8_t tid[PKIE_XFER_TID_LEN];
    int reused = 0, announced = 0;
    rc = pkie_xfer_sendstate_get(sh->state_dir, sh->dest, it->path, ffd, tid, &reused);
    if (rc == 0) {
        announced = 1;
        if (reused)
            pkie_log_info(LOG_COMP, "%s: transfer id kept from an earlier run", it->name);
        rc = pkie_xfer_sender_file(snd, ffd, it->name, it->path, tid, (uint32_t)sb.st_mode & 0777,
                                   o->progress ? worker_progress : NULL, w, &it->res);
    } else {
        fail_item(it, rc);
    }
    it->seconds += now_s() - t0;
    /* FILE went out and the receiver answered the session: a transfer to
     * record (a session refused before any reply is a refusal record) */
    if (o->audit != NULL && announced && (snd->answered || !snd->broken))
        catalog_file(w, snd, tid, rc, (uint64_t)((now_s() - t0) * 1000));
    if (rc == 0) {
        it->confirmed = 1;
        (void)pkie_xfer_sendstate_drop(sh->state_dir, sh->dest, it->path, ffd);
    }
    close(ffd);
    return rc;
}

/* Files over one session: until no item is left, the session broke (w->cur
 * is then to resume) or, with session_per_file, after one file. Returns 1
 * when w->cur holds an item still to send. */
static int send_files(struct send_worker *w, struct pkie_xfer_sender *snd)
{
    for (;;) {
        int rc = send_one(w, snd);
        if (rc != 0 && snd->broken)
            return 1; /* reconnect and resume this file */
        if (rc == PKIE_ERR_XFER_BUSY && w->retries-- > 0) {
            /* the receiver still holds this id from a connection that
             * died: wait for it to notice, then ask again */
            pkie_log_warn(LOG_COMP, "%s: %s; retrying", w->sh->items[w->cur].name,
                          w->sh->items[w->cur].res.error);
            pause_ms(w->sh->o->retry_delay_ms);
            continue;
        }
        if (!take(w->sh, &w->cur))
            return 0;
        if (w->sh->o->session_per_file)
            return 1;
    }
}

/* One worker: an SSL task, sessions opened (and reopened) until no item is
 * left, its retries are spent or the receiver refused. */
static void worker_run(struct send_worker *w)
{
    struct send_shared *sh = w->sh;
    struct pkie_tls_task *t = NULL;
    int rc = pkie_tls_task_start(sh->rt, w->id, &t);
    if (rc != 0) {
        leave(w, rc);
        return;
    }
    int have = take(sh, &w->cur);
    while (have) {
        int fd = -1, alert = -1;
        struct pkie_tls_session *s = NULL;
        struct pkie_xfer_send_item *it = &sh->items[w->cur];
        rc = open_session(sh, t, &fd, &s, &alert);
        if (rc != 0) {
            it->attempts++;
            it->alert = alert;
            pkie_log_warn(LOG_COMP, "%s", pkie_err_last()->msg);
            fail_item(it, rc);
            if (retry_after(w, rc, alert))
                continue;
            break;
        }
        if (sh->o->audit != NULL) {
            xfer_peer_info_fill(&w->pi, s);
            w->pi.peer.partner = sh->o->partner;
            w->pi.peer.addr = sh->dest;
        }
        struct xfer_tls_stream st;
        xfer_tls_stream_init(&st, s, NULL, sh->c->idle_timeout * 1000);
        /* DATA frames go out as 16 records per socket write, not one each */
        if (pkie_tls_coalesce_writes(s, XFER_SEND_BATCH) != 0)
            pkie_log_debug(LOG_COMP, "write batching off: %s", pkie_err_last()->msg);
        struct pkie_xfer_sender snd;
        rc = pkie_xfer_sender_start(&snd, &st.io);
        if (rc == 0) {
            have = send_files(w, &snd);
            rc = snd.broken ? sh->items[w->cur].res.code : 0;
        } else {
            it->attempts++;
            fail_item(it, rc);
        }
        int broken = snd.broken;
        if (snd.answered)
            publish_tls(sh, s);
        else if (broken) /* refused before any reply, e.g. TLS 1.3's late alert */
            audit_refusal(sh, s, st.alert, 0, 0, sh->items[w->cur].res.error);
        pkie_xfer_sender_finish(&snd);
        close_session(s, fd, !broken);
        xfer_peer_info_free(&w->pi);
        if (broken && have) {
            it = &sh->items[w->cur];
            it->alert = st.alert;
            pkie_log_warn(LOG_COMP, "%s: session ended: %s", it->name, it->res.error);
            if (retry_after(w, rc, st.alert))
                continue;
            if (pkie_xfer_retry_kind(rc, st.alert) != PKIE_XFER_RETRY_NO)
                rc = 0; /* retries spent: the rest is "not sent", as before */
            break;
        }
    }
    leave(w, have ? rc : 0);
    pkie_tls_task_end(t);
}

static void *worker_main(void *arg)
{
    worker_run(arg);
    return NULL;
}

int pkie_xfer_client_send(const struct pkie_xfer_conf *c, struct pkie_xfer_send_opts *o,
                          struct pkie_xfer_send_item *items, size_t n)
{
    struct send_shared sh = {.c = c, .o = o, .items = items, .n = n};
    struct send_worker *w = NULL;
    char *state_dir = NULL;
    char dest[512];
    int rc, first_err = 0;
    size_t nw = o->parallel > 1 ? (size_t)o->parallel : 1;
    for (size_t i = 0; i < n; i++)
        items[i].alert = -1;
    if (nw > MAX_WORKERS)
        nw = MAX_WORKERS;
    if (nw > n) /* never more workers than files */
        nw = n > 0 ? n : 1;
    pthread_mutex_init(&sh.mu, NULL);
    snprintf(dest, sizeof(dest), "%s:%s", o->host, o->port);
    sh.dest = dest;
    if (o->state_dir != NULL || c->state_dir != NULL)
        state_dir = strdup(o->state_dir ? o->state_dir : c->state_dir);
    else
        state_dir = pkie_xfer_sendstate_default_dir();
    if (state_dir == NULL) {
        rc = PKIE_ERR(PKIE_ERR_CONF_MISSING, "no state directory (set state_dir or HOME)");
        goto out;
    }
    sh.state_dir = state_dir;
    if ((rc = pkie_tls_runtime_open(&c->tls, &sh.rt)) != 0)
        goto out;
    if ((w = calloc(nw, sizeof(*w))) == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "%zu send workers", nw);
        goto out;
    }
    sh.active = (int)nw;
    for (size_t i = 0; i < nw; i++)
        w[i] = (struct send_worker){.sh = &sh, .id = (uint32_t)i + 1, .retries = o->retries};
    /* worker 1 runs in this thread, the others in their own */
    for (size_t i = 1; i < nw; i++) {
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            pkie_log_warn(LOG_COMP, "%zu of %zu send workers started", i, nw);
            pthread_mutex_lock(&sh.mu);
            sh.active -= (int)(nw - i);
            pthread_mutex_unlock(&sh.mu);
            break;
        }
        w[i].started = 1;
    }
    worker_run(&w[0]);
    for (size_t i = 1; i < nw; i++)
        if (w[i].started)
            pthread_join(w[i].th, NULL);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        if (!items[i].confirmed && items[i].res.code == 0 && rc != 0) {
            fail_item(&items[i], rc); /* nothing started: our own setup failed */
        } else if (!items[i].confirmed && items[i].res.code == 0) {
            items[i].res.code = PKIE_ERR_XFER_CLOSED;
            snprintf(items[i].res.error, sizeof(items[i].res.error),
                     "not sent: the connection could not be used");
        }
        /* a local setup failure (configuration, PKI base) is not retryable */
        items[i].retryable =
            !items[i].confirmed && rc == 0 &&
            pkie_xfer_retry_kind(items[i].res.code, items[i].alert) != PKIE_XFER_RETRY_NO;
    }
    for (size_t i = 0; i < n; i++)
        if (!items[i].confirmed && first_err == 0)
            first_err = items[i].res.code ? items[i].res.code : PKIE_ERR_XFER_CLOSED;
    if (rc == 0)
        rc = first_err;
    free(w);
    pkie_tls_runtime_close(sh.rt);
    pthread_mutex_destroy(&sh.mu);
    free(state_dir);
    return rc;
}
