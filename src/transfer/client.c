/*
 * The sender client: one SSL task, connections to the receiver with the exit
 * runtime's handshake, files sent in order; a broken connection is opened
 * again (up to `retries` times) and the file resumes with the same transfer id
 * from the offset the receiver has made durable.
 */
#include "tlsio.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/transfer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP "send"

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

/* Open a connection and run the handshake. */
static int open_session(const struct pkie_xfer_conf *c, struct pkie_xfer_send_opts *o,
                        struct pkie_tls_task *t, int *fd, struct pkie_tls_session **s)
{
    const struct pkie_xfer_partner *partner =
        o->partner ? pkie_xfer_conf_partner(c, o->partner) : NULL;
    int rc = xfer_connect(o->host, o->port, (int)c->handshake_timeout * 1000, fd);
    if (rc != 0)
        return rc;
    struct pkie_tls_session_params p = {
        .is_server = 0,
        .partner_id = o->partner ? o->partner : "",
        .peer_addr = o->host,
        .peer_port = (uint16_t)atoi(o->port),
        .local_port = 0,
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
        int alert = *s ? pkie_tls_alert(*s) : -1;
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", pkie_err_last()->msg);
        pkie_tls_session_end(*s);
        *s = NULL;
        close(*fd);
        *fd = -1;
        return PKIE_ERR(PKIE_ERR_XFER_TLS, "TLS handshake with %s:%s failed (alert %d): %s",
                        o->host, o->port, alert, msg);
    }
    snprintf(o->tls_version, sizeof(o->tls_version), "%s", pkie_tls_version(*s));
    snprintf(o->tls_cipher, sizeof(o->tls_cipher), "%s", pkie_tls_cipher(*s));
    return 0;
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

int pkie_xfer_client_send(const struct pkie_xfer_conf *c, struct pkie_xfer_send_opts *o,
                          struct pkie_xfer_send_item *items, size_t n)
{
    struct pkie_tls_runtime *rt = NULL;
    struct pkie_tls_task *t = NULL;
    char *state_dir = NULL;
    char dest[512];
    int rc, first_err = 0;
    size_t next = 0;
    int retries_left = o->retries;
    snprintf(dest, sizeof(dest), "%s:%s", o->host, o->port);
    if (o->state_dir != NULL || c->state_dir != NULL)
        state_dir = strdup(o->state_dir ? o->state_dir : c->state_dir);
    else
        state_dir = pkie_xfer_sendstate_default_dir();
    if (state_dir == NULL) {
        rc = PKIE_ERR(PKIE_ERR_CONF_MISSING, "no state directory (set state_dir or HOME)");
        goto out;
    }
    if ((rc = pkie_tls_runtime_open(&c->tls, &rt)) != 0 ||
        (rc = pkie_tls_task_start(rt, 1, &t)) != 0)
        goto out;
    while (next < n) {
        int fd = -1;
        struct pkie_tls_session *s = NULL;
        rc = open_session(c, o, t, &fd, &s);
        if (rc != 0) {
            pkie_log_warn(LOG_COMP, "%s", pkie_err_last()->msg);
            if (retries_left-- > 0) {
                usleep((useconds_t)o->retry_delay_ms * 1000u);
                continue;
            }
            for (size_t i = next; i < n; i++)
                fail_item(&items[i], rc);
            break;
        }
        struct xfer_tls_stream st;
        xfer_tls_stream_init(&st, s, NULL, c->idle_timeout * 1000);
        /* DATA frames go out as 16 records per socket write, not one each */
        if (pkie_tls_coalesce_writes(s, XFER_SEND_BATCH) != 0)
            pkie_log_debug(LOG_COMP, "write batching off: %s", pkie_err_last()->msg);
        struct pkie_xfer_sender snd;
        rc = pkie_xfer_sender_start(&snd, &st.io);
        if (rc != 0) {
            fail_item(&items[next], rc);
            pkie_xfer_sender_finish(&snd);
            close_session(s, fd, 0);
            if (pkie_xfer_error_is_file_level(rc) || rc == PKIE_ERR_XFER_DENIED ||
                rc == PKIE_ERR_XFER_VERSION || retries_left-- <= 0) {
                for (size_t i = next; i < n; i++)
                    fail_item(&items[i], rc);
                break;
            }
            usleep((useconds_t)o->retry_delay_ms * 1000u);
            continue;
        }
        while (next < n) {
            struct pkie_xfer_send_item *it = &items[next];
            double t0 = now_s();
            o->current = next;
            it->attempts++;
            int ffd = open(it->path, O_RDONLY | O_CLOEXEC);
            struct stat sb;
            if (ffd < 0 || fstat(ffd, &sb) != 0) {
                rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "%s: %s", it->path, strerror(errno));
                fail_item(it, rc);
                if (ffd >= 0)
                    close(ffd);
                next++;
                continue;
            }
            uint8_t tid[PKIE_XFER_TID_LEN];
            int reused = 0;
            rc = pkie_xfer_sendstate_get(state_dir, dest, it->path, ffd, tid, &reused);
            if (rc == 0) {
                if (reused)
                    pkie_log_info(LOG_COMP, "%s: transfer id kept from an earlier run", it->name);
                rc = pkie_xfer_sender_file(&snd, ffd, it->name, tid, (uint32_t)sb.st_mode & 0777,
                                           o->progress, o->progress_arg, &it->res);
            } else {
                fail_item(it, rc);
            }
            it->seconds += now_s() - t0;
            if (rc == 0) {
                it->confirmed = 1;
                (void)pkie_xfer_sendstate_drop(state_dir, dest, it->path, ffd);
            }
            close(ffd);
            if (rc != 0 && snd.broken)
                break; /* reconnect and resume this file */
            if (rc == PKIE_ERR_XFER_BUSY && retries_left-- > 0) {
                /* the receiver still holds this id from a connection that
                 * died: wait for it to notice, then ask again */
                pkie_log_warn(LOG_COMP, "%s: %s; retrying", it->name, it->res.error);
                usleep((useconds_t)o->retry_delay_ms * 1000u);
                continue;
            }
            next++;
            if (o->session_per_file)
                break;
        }
        int broken = snd.broken;
        pkie_xfer_sender_finish(&snd);
        close_session(s, fd, !broken);
        if (broken && next < n) {
            pkie_log_warn(LOG_COMP, "%s: connection lost: %s", items[next].name,
                          items[next].res.error);
            if (retries_left-- <= 0)
                break;
            usleep((useconds_t)o->retry_delay_ms * 1000u);
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        if (!items[i].confirmed && items[i].res.code == 0) {
            items[i].res.code = rc ? rc : PKIE_ERR_XFER_CLOSED;
            snprintf(items[i].res.error, sizeof(items[i].res.error),
                     "not sent: the connection could not be used");
        }
    for (size_t i = 0; i < n; i++)
        if (!items[i].confirmed && first_err == 0)
            first_err = items[i].res.code ? items[i].res.code : PKIE_ERR_XFER_CLOSED;
    if (rc == 0)
        rc = first_err;
    pkie_tls_task_end(t);
    pkie_tls_runtime_close(rt);
    free(state_dir);
    return rc;
}
