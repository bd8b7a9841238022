/*
 * The trace PKI exit: asks for every phase and appends one line per call to
 * the file named by its configuration string (pki.exit.conf), with the phase,
 * the task and session references of host and exit, and the phase's inputs.
 * It answers "not handled" everywhere, so the internal PKI base does the work.
 *
 * Line format (one line per call, fields separated by one blank):
 *   <Phase> task=<host task> xtask=<exit task> session=<host session>
 *     xsession=<exit session> calls=<calls in this session> <inputs...>
 * The exit's task reference is 1000000 + the host's task id; its session
 * reference is (task << 32) | host session. The per-session private area (16
 * bytes) counts the calls of the session.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cftpkie.h"

static const char *const names[] = {"?",
                                    "StartTask",
                                    "StartHandshake",
                                    "GetCertificate",
                                    "GetCAList",
                                    "CheckCertificate",
                                    "CryptData",
                                    "HandshakeAlert",
                                    "HandshakeDone",
                                    "EndSession",
                                    "EndTask"};

struct line {
    char buf[2048];
    size_t len;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *l, const char *fmt, ...)
{
    if (l->len >= sizeof(l->buf) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < sizeof(l->buf) - l->len ? (size_t)n : sizeof(l->buf) - 1 - l->len;
}

/* Texts from the host are printed with blanks and controls replaced. */
static void add_text(struct line *l, const char *key, const char *s, size_t cap)
{
    char t[300];
    size_t i = 0;
    for (; i < cap && i < sizeof(t) - 1 && s[i] != '\0'; i++)
        t[i] = (s[i] <= ' ' || s[i] == 0x7f) ? '_' : s[i];
    t[i] = '\0';
    add(l, " %s=%s", key, t);
}

static void inputs(struct line *l, const struct pkicom *z)
{
    switch (z->phase) {
    case CFTPKIE_START_TASK:
        add(l, " flags=%u", z->flags);
        add_text(l, "conf", z->conf, sizeof(z->conf));
        break;
    case CFTPKIE_START_HANDSHAKE:
        add(l, " role=%s", (z->flags & CFTPKIE_F_SERVER) ? "server" : "client");
        add_text(l, "partner", z->partner_id, sizeof(z->partner_id));
        add_text(l, "peer", z->peer_addr, sizeof(z->peer_addr));
        add(l, " peer_port=%u local_port=%u", z->peer_port, z->local_port);
        add_text(l, "sni", z->sni, sizeof(z->sni));
        add_text(l, "cert_id", z->cert_id, sizeof(z->cert_id));
        add(l, " ca_ids=%u", z->n_ca_ids);
        for (uint32_t i = 0; i < z->n_ca_ids && i < CFTPKIE_CA_IDS_MAX; i++)
            add_text(l, "ca", z->ca_ids[i], sizeof(z->ca_ids[i]));
        add(l, " depth=%d dn_filters=%u", z->verify_depth, z->n_dn_filters);
        break;
    case CFTPKIE_GET_CERTIFICATE:
        add(l, " role=%s ca_names=%u sigalgs=%u",
            (z->flags & CFTPKIE_F_SERVER) ? "server" : "client", z->ca_names_count, z->n_sigalgs);
        add_text(l, "cert_id", z->cert_id, sizeof(z->cert_id));
        break;
    case CFTPKIE_GET_CA_LIST:
        add(l, " ca_ids=%u", z->n_ca_ids);
        break;
    case CFTPKIE_CHECK_CERTIFICATE:
        add(l, " peer_count=%u leaf_len=%u depth=%d", z->peer_count,
            z->peer_count ? z->peer_len[0] : 0, z->verify_depth);
        break;
    case CFTPKIE_CRYPT_DATA:
        add(l, " alg=%u digest=%u data_len=%u", z->sign_alg, z->sign_digest, z->data_len);
        break;
    case CFTPKIE_HANDSHAKE_ALERT:
        add(l, " level=%u code=%u direction=%s", z->alert_level, z->alert_code,
            z->alert_direction == CFTPKIE_ALERT_SENT ? "sent" : "received");
        break;
    case CFTPKIE_HANDSHAKE_DONE:
        add(l, " version=0x%04x cipher=0x%04x", z->tls_version, z->cipher_id);
        add_text(l, "cipher_name", z->cipher_name, sizeof(z->cipher_name));
        add(l, " peer_count=%u", z->peer_count);
        break;
    default:
        break;
    }
}

__attribute__((visibility("default"))) int cftpkie(struct pkicom *zpki)
{
    /* ABI: any host of version >= 1 (an exit built for an older version runs on a newer host);
     * this exit uses version 1 fields only (a later field: CFTPKIE_HAS()). */
    if (zpki == NULL || zpki->abi_version < 1 || zpki->size < CFTPKIE_V1_END)
        return CFTPKIE_ERROR;
    uint32_t ph = zpki->phase;
    if (ph == CFTPKIE_START_TASK) {
        zpki->exit_abi_version = CFTPKIE_ABI_VERSION;
        zpki->phase_mask = CFTPKIE_MASK_ALL;
        zpki->session_area_size = 16;
        zpki->exit_task_ref = 1000000u + zpki->host_task_ref;
        if (memchr(zpki->conf, '\0', sizeof(zpki->conf)) == NULL || zpki->conf[0] == '\0') {
            snprintf(zpki->error_text, sizeof(zpki->error_text),
                     "trace exit: pki.exit.conf must name the trace file");
            return CFTPKIE_ERROR;
        }
        /* The trace file path is kept in the task public area. */
        snprintf((char *)zpki->task_area, sizeof(zpki->task_area), "%s", zpki->conf);
    }
    if (ph == CFTPKIE_START_HANDSHAKE)
        zpki->exit_session_ref = (zpki->host_task_ref << 32) | zpki->host_session_ref;
    uint32_t calls = 0;
    if (zpki->session_area != NULL && zpki->host_session_ref != 0) {
        memcpy(&calls, zpki->session_area, sizeof(calls));
        calls++;
        memcpy(zpki->session_area, &calls, sizeof(calls));
    }
    struct line l = {.len = 0};
    add(&l, "%s task=%llu xtask=%llu session=%llu xsession=%llu calls=%u",
        ph < sizeof(names) / sizeof(names[0]) ? names[ph] : "?",
        (unsigned long long)zpki->host_task_ref, (unsigned long long)zpki->exit_task_ref,
        (unsigned long long)zpki->host_session_ref, (unsigned long long)zpki->exit_session_ref,
        calls);
    inputs(&l, zpki);
    add(&l, "\n");
    if (l.buf[l.len - 1] != '\n')
        l.buf[l.len - 1] = '\n';
    const char *path = (const char *)zpki->task_area;
    if (memchr(path, '\0', sizeof(zpki->task_area)) != NULL && path[0] != '\0') {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, l.buf, l.len); /* one write: lines never interleave */
            (void)w;
            close(fd);
        }
    }
    return ph == CFTPKIE_START_TASK ? CFTPKIE_HANDLED : CFTPKIE_NOT_HANDLED;
}
