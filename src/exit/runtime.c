/*
 * The TLS runtime: load the exit once and probe it, open the internal PKI
 * base, build the SSL_CTX; SSL tasks (StartTask / EndTask).
 */
#include <errno.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/wipe.h"
#include "tls_int.h"

#define DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

static int read_password_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return PKIE_ERR(PKIE_ERR_IO, "pki.password: cannot open %s: %s", path, strerror(errno));
    if (fgets(buf, (int)cap, f) == NULL) {
        fclose(f);
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "pki.password: %s is empty", path);
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* One call in process or in helper @p h; a failed helper is an error whose
 * cause is in error_text (and logged). */
static int call_in(struct pkie_tls_runtime *rt, struct pkie_exit_helper *h, struct pkicom *z,
                   uint32_t phase, uint8_t *area, uint32_t area_len)
{
    if (h == NULL)
        return pkie_exit_call(rt->exit, z, phase);
    pkie_exit_call_prepare(z, phase);
    char cause[200];
    int rc = pkie_exit_helper_call(h, z, phase, area, area_len, cause, sizeof(cause));
    if (rc >= 0)
        return pkie_exit_answer(rt->exit, z, phase, rc);
    pkie_exit_answer(rt->exit, z, phase, CFTPKIE_HANDLED); /* restore the header */
    snprintf(z->error_text, sizeof(z->error_text), "exit helper failed: %s", cause);
    pkie_log_error("exit", "exit %s phase %s: task %llu session %llu: %s", rt->exit->name,
                   pkie_exit_phase_name(phase), (unsigned long long)z->host_task_ref,
                   (unsigned long long)z->host_session_ref, cause);
    return CFTPKIE_ERROR;
}

/* StartTask + EndTask with task id 0: the library answers, with an ABI the
 * host knows; an optional base password comes back. With isolation, in a
 * helper of its own. */
static int probe_exit(struct pkie_tls_runtime *rt, char *password, size_t cap)
{
    struct pkie_exit_helper *h = NULL;
    if (rt->isolation == PKIE_TLS_EXIT_PROCESS) {
        int rc = pkie_exit_helper_start(&rt->iso, &h);
        if (rc != 0)
            return rc;
    }
    struct pkicom *z = calloc(1, sizeof(*z));
    if (z == NULL) {
        pkie_exit_helper_stop(h);
        return PKIE_ERR(PKIE_ERR_NOMEM, "exit probe");
    }
    int ret = 0;
    memcpy(z->conf, rt->exit_conf, sizeof(z->conf));
    z->flags = CFTPKIE_F_PROBE;
    int rc = call_in(rt, h, z, CFTPKIE_START_TASK, NULL, 0);
    if (rc == CFTPKIE_ERROR) {
        ret = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit %s refused to start (StartTask: %s)",
                       rt->exit->name, z->error_text[0] ? z->error_text : "no text");
    } else {
        uint32_t mask, size;
        ret = pkie_exit_check_start_task(z, &mask, &size);
        if (ret == PKIE_ERR_EXIT_ABI)
            ret = PKIE_ERR(PKIE_ERR_EXIT_ABI,
                           "exit %s: ABI version %u unknown to the host (it knows 1..%u)",
                           rt->exit->name, z->exit_abi_version, CFTPKIE_ABI_VERSION);
        else if (ret != 0)
            ret = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "exit %s: invalid StartTask answer: %s",
                           rt->exit->name, pkie_err_last()->msg);
        else if (z->pki_password[0] != '\0' && password != NULL)
            snprintf(password, cap, "%s", z->pki_password);
    }
    pkie_wipe(z->pki_password, sizeof(z->pki_password));
    /* EndTask follows every StartTask. */
    z->flags = CFTPKIE_F_PROBE;
    call_in(rt, h, z, CFTPKIE_END_TASK, NULL, 0);
    pkie_exit_helper_stop(h);
    free(z);
    return ret;
}

static int build_ctx(struct pkie_tls_runtime *rt, const struct pkie_tls_conf *c)
{
    int minv = c->min_version ? c->min_version : PKIE_TLS_V1_2;
    int maxv = c->max_version ? c->max_version : PKIE_TLS_V1_3;
    if (minv > maxv)
        return PKIE_ERR(PKIE_ERR_EXIT_CONF, "tls.min_version above tls.max_version");
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SSL_CTX_new");
    rt->ctx = ctx;
    if (!SSL_CTX_set_min_proto_version(ctx, minv) || !SSL_CTX_set_max_proto_version(ctx, maxv))
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_CONF, "TLS versions");
    if (!SSL_CTX_set_cipher_list(ctx, c->ciphers ? c->ciphers : DEFAULT_CIPHERS))
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_CONF, "tls.ciphers: no usable cipher in \"%s\"",
                             c->ciphers ? c->ciphers : DEFAULT_CIPHERS);
    if (c->ciphersuites != NULL && !SSL_CTX_set_ciphersuites(ctx, c->ciphersuites))
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_CONF, "tls.ciphersuites: \"%s\"", c->ciphersuites);
    /* Every handshake is a full one: the exit sees every certificate. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Bulk transfers: read several records per recv() instead of two
     * syscalls per record (pkie_tls_read polls only after SSL_read asks). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return pkie_tls_ctx_callbacks(ctx);
}

/* pki.exit.isolation, pki.exit.timeout, pki.exit.user. */
static int setup_isolation(struct pkie_tls_runtime *rt, const struct pkie_tls_conf *c)
{
    rt->isolation = c->exit_isolation;
    rt->timeout_ms = (c->exit_timeout_s > 0 ? c->exit_timeout_s : 10) * 1000;
    if (rt->isolation == PKIE_TLS_EXIT_NONE)
        return 0;
    rt->libpath = strdup(c->exit_libpath);
    if (rt->libpath == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "runtime");
    rt->iso.libpath = rt->libpath;
    rt->iso.name = rt->exit->name;
    rt->iso.timeout_ms = rt->timeout_ms;
    if (c->exit_user != NULL) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(c->exit_user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
            return PKIE_ERR(PKIE_ERR_EXIT_CONF, "pki.exit.user: no user %s", c->exit_user);
        if (geteuid() != 0 && pw.pw_uid != geteuid())
            return PKIE_ERR(PKIE_ERR_EXIT_CONF,
                            "pki.exit.user = %s needs the monitor to run as root", c->exit_user);
        rt->iso.has_user = 1;
        rt->iso.uid = pw.pw_uid;
        rt->iso.gid = pw.pw_gid;
    }
    return 0;
}

int pkie_tls_runtime_open(const struct pkie_tls_conf *c, struct pkie_tls_runtime **out)
{
    char password[CFTPKIE_PASSWORD_CAP] = "";
    int rc;
    if (out == NULL || c == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "runtime: NULL argument");
    *out = NULL;
    /* A peer that closes early must not kill the process: writes to its
     * socket fail with EPIPE instead of raising SIGPIPE. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    struct pkie_tls_runtime *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "runtime");
    if (c->exit_conf != NULL)
        snprintf(rt->exit_conf, sizeof(rt->exit_conf), "%s", c->exit_conf);
    if (c->pki_type == PKIE_TLS_PKI_EXIT) {
        rc = pkie_exit_load(c->exit_libpath, &rt->exit);
        if (rc != 0)
            goto err;
        rc = setup_isolation(rt, c);
        if (rc != 0)
            goto err;
        rc = probe_exit(rt, c->pki_password_file ? NULL : password, sizeof(password));
        if (rc != 0)
            goto err;
    } else if (c->pki_type != PKIE_TLS_PKI_INTERNAL) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_CONF, "pki.type %d unknown", c->pki_type);
        goto err;
    } else if (c->pki_base == NULL) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_NO_BASE, "pki.type = internal needs pki.base");
        goto err;
    }
    if (c->pki_password_file != NULL) {
        rc = read_password_file(c->pki_password_file, password, sizeof(password));
        if (rc != 0)
            goto err;
    }
    if (c->pki_base != NULL) {
        rc = pkie_pki_open(c->pki_base, password[0] ? password : NULL, 0, &rt->pki);
        if (rc != 0)
            goto err;
    }
    pkie_wipe(password, sizeof(password));
    rc = build_ctx(rt, c);
    if (rc != 0)
        goto err;
    *out = rt;
    return 0;
err:
    pkie_wipe(password, sizeof(password));
    pkie_tls_runtime_close(rt);
    return rc;
}

void pkie_tls_runtime_close(struct pkie_tls_runtime *rt)
{
    if (rt == NULL)
        return;
    SSL_CTX_free(rt->ctx);
    pkie_pki_close(rt->pki);
    pkie_exit_unload(rt->exit);
    free(rt->libpath);
    free(rt);
}

const char *pkie_tls_runtime_exit_name(const struct pkie_tls_runtime *rt)
{
    return rt != NULL && rt->exit != NULL ? rt->exit->name : "internal";
}

struct pkie_pki *pkie_tls_runtime_pki(struct pkie_tls_runtime *rt)
{
    return rt != NULL ? rt->pki : NULL;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* StartTask in a new helper runs one task at a time: a PKCS#11 module's
 * file store (SoftHSM2's) is not read reliably while another process logs in
 * and rewrites it, as several helpers starting at once would. */
static pthread_mutex_t helper_start_mu = PTHREAD_MUTEX_INITIALIZER;

/* The helper failed: sessions it served are lost; restarts back off. */
static void helper_failed(struct pkie_tls_task *t)
{
    pkie_exit_helper_stop(t->h);
    t->h = NULL;
    t->dead_ref = t->max_ref;
    t->failures++;
    /* the first restart at once, then 100 ms, 200 ms, ... up to 5 s */
    long long delay = 0;
    if (t->failures >= 2)
        delay = t->failures >= 8 ? 5000 : 100LL << (t->failures - 2);
    if (delay > 5000)
        delay = 5000;
    t->retry_at = mono_ms() + delay;
}

static const char *rc_name(int rc)
{
    return rc == CFTPKIE_HANDLED ? "handled" : rc == CFTPKIE_NOT_HANDLED ? "not handled" : "error";
}

/* StartTask in the task's (new) helper; the answer is checked. With
 * @p restart the mask and area size must be the first StartTask's. */
static int task_start_call(struct pkie_tls_task *t, int restart)
{
    struct pkie_tls_runtime *rt = t->rt;
    struct pkicom *z = t->z;
    uint32_t flags = z->flags;
    uint64_t href = z->host_session_ref, eref = z->exit_session_ref;
    uint8_t *area = z->session_area;
    z->flags = 0;
    z->host_session_ref = 0;
    z->exit_session_ref = 0;
    z->session_area = NULL;
    z->exit_abi_version = 0;
    z->phase_mask = 0;
    z->session_area_size = 0;
    z->exit_task_ref = 0;
    if (t->h != NULL)
        pkie_exit_helper_reset_task(t->h);
    int rc = call_in(rt, t->h, z, CFTPKIE_START_TASK, NULL, 0);
    uint32_t mask = 0, size = 0;
    int ret = 0;
    if (rc == CFTPKIE_ERROR) {
        ret = PKIE_ERR(PKIE_ERR_EXIT_PHASE, "exit %s phase StartTask (task %u): error: %s",
                       rt->exit->name, t->task_id, z->error_text[0] ? z->error_text : "no text");
    } else if (pkie_exit_check_start_task(z, &mask, &size) != 0) {
        ret = PKIE_ERR(PKIE_ERR_EXIT_PHASE, "exit %s phase StartTask (task %u): invalid answer: %s",
                       rt->exit->name, t->task_id, pkie_err_last()->msg);
        pkie_log_error("exit", "%s", pkie_err_last()->msg);
    }
    pkie_wipe(z->pki_password, sizeof(z->pki_password));
    if (rc == CFTPKIE_NOT_HANDLED) {
        mask = 0; /* not handled: the host does everything */
        size = 0;
    }
    if (ret == 0 && restart && (mask != t->mask || size != t->area_size))
        ret = PKIE_ERR(PKIE_ERR_EXIT_PHASE,
                       "exit %s phase StartTask (task %u, restarted): mask 0x%x / area %u "
                       "differ from the first StartTask's 0x%x / %u",
                       rt->exit->name, t->task_id, mask, size, t->mask, t->area_size);
    if (!restart) {
        t->mask = ret == 0 ? mask : 0;
        t->area_size = ret == 0 ? size : 0;
    }
    if (restart) {
        z->flags = flags;
        z->host_session_ref = href;
        z->exit_session_ref = eref;
        z->session_area = area;
    }
    return ret;
}

/* The helper is gone: restart it (StartTask again) unless backing off. */
static int restart_helper(struct pkie_tls_task *t)
{
    struct pkie_tls_runtime *rt = t->rt;
    long long now = mono_ms();
    if (pkie_tls_stopping())
        return PKIE_ERR(PKIE_ERR_EXIT_PHASE, "stopping: the exit helper is not restarted");
    if (now < t->retry_at)
        return PKIE_ERR(PKIE_ERR_EXIT_PHASE,
                        "the exit helper failed %u times: next restart in %lld ms", t->failures,
                        t->retry_at - now);
    pthread_mutex_lock(&helper_start_mu);
    int rc = pkie_exit_helper_start(&rt->iso, &t->h);
    if (rc == 0) {
        pkie_log_warn("exit", "exit %s: task %u: helper restarted (failure %u), StartTask again",
                      rt->exit->name, t->task_id, t->failures);
        rc = task_start_call(t, 1);
    }
    pthread_mutex_unlock(&helper_start_mu);
    if (rc != 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", pkie_err_last()->msg);
        helper_failed(t);
        return PKIE_ERR(PKIE_ERR_EXIT_PHASE, "%s", msg);
    }
    return 0;
}

static int session_phase(uint32_t phase)
{
    return phase >= CFTPKIE_START_HANDSHAKE && phase <= CFTPKIE_END_SESSION;
}

/* The outcome of an EndSession not waited for (posted, or failed to post:
 * @p r < 0 with @p cause), for session @p ref: logged and counted as a
 * call's; a failed helper is replaced at the next call. */
static void end_session_done(struct pkie_tls_task *t, uint64_t ref, int r, int rc, const char *text,
                             size_t tcap, const char *cause)
{
    struct pkie_tls_runtime *rt = t->rt;
    const char *pn = pkie_exit_phase_name(CFTPKIE_END_SESSION);
    if (r < 0) {
        pkie_log_error("exit", "exit %s phase %s: task %u session %llu: %s", rt->exit->name, pn,
                       t->task_id, (unsigned long long)ref, cause);
        rc = CFTPKIE_ERROR;
        helper_failed(t);
    } else {
        rc = pkie_exit_answer_text(rt->exit, CFTPKIE_END_SESSION, rc, text, tcap);
        t->failures = 0; /* a session went through: restarts no longer back off */
    }
    pkie_metrics_exit_call(pn, rc);
    if (pkie_log_enabled(PKIE_LOG_TRACE))
        pkie_log(PKIE_LOG_TRACE, "exit", "exit %s phase %s: task %u session %llu: %s (posted)",
                 rt->exit->name, pn, t->task_id, (unsigned long long)ref, rc_name(rc));
}

/* Take the answer of the posted EndSession (@p nowait: only if it is there
 * or overdue). */
static void task_settle(struct pkie_tls_task *t, int nowait)
{
    if (!pkie_exit_helper_pending(t->h))
        return;
    char text[sizeof(t->z->error_text)], cause[200];
    int rc = 0;
    int r = pkie_exit_helper_settle(t->h, nowait, &rc, text, sizeof(text), cause, sizeof(cause));
    if (r != 1)
        end_session_done(t, t->pend_ref, r, rc, text, sizeof(text), cause);
}

/* A session a failed helper had seen is lost (its exit state died with the
 * helper), also once another session has started a new helper: nothing to
 * end, and no later phase in a helper that never saw it. */
static int session_lost(const struct pkie_tls_task *t, uint32_t phase, uint64_t ref)
{
    return session_phase(phase) && ref <= t->dead_ref;
}

/* Session @p ref has reached the running helper (a failure of it loses it). */
static void seen_by_helper(struct pkie_tls_task *t, uint64_t ref)
{
    if (ref > t->max_ref)
        t->max_ref = ref;
}

static int task_call_isolated(struct pkie_tls_task *t, uint32_t phase)
{
    struct pkicom *z = t->z;
    uint64_t ref = session_phase(phase) ? z->host_session_ref : 0;
    task_settle(t, 0); /* the helper serves one call at a time */
    int lost = session_lost(t, phase, ref);
    if (phase == CFTPKIE_END_TASK && t->h == NULL) {
        pkie_exit_call_prepare(z, phase);
        return CFTPKIE_NOT_HANDLED;
    }
    if (lost && (phase == CFTPKIE_END_SESSION || phase == CFTPKIE_HANDSHAKE_ALERT)) {
        pkie_exit_call_prepare(z, phase);
        return CFTPKIE_NOT_HANDLED;
    }
    if (lost || t->h == NULL) {
        int rc =
            lost ? PKIE_ERR(PKIE_ERR_EXIT_PHASE, "the exit helper that started this session failed")
                 : restart_helper(t);
        if (rc != 0) {
            pkie_exit_call_prepare(z, phase);
            snprintf(z->error_text, sizeof(z->error_text), "%s", pkie_err_last()->msg);
            pkie_log_error("exit", "exit %s phase %s: task %u session %llu: %s", t->rt->exit->name,
                           pkie_exit_phase_name(phase), t->task_id, (unsigned long long)ref,
                           z->error_text);
            return CFTPKIE_ERROR;
        }
    }
    seen_by_helper(t, ref);
    uint8_t *area = session_phase(phase) ? z->session_area : NULL;
    int rc = call_in(t->rt, t->h, z, phase, area, area != NULL ? t->area_size : 0);
    if (!pkie_exit_helper_alive(t->h))
        helper_failed(t);
    else if (phase == CFTPKIE_END_SESSION)
        t->failures = 0; /* a session went through: restarts no longer back off */
    return rc;
}

int pkie_tls_task_call(struct pkie_tls_task *t, uint32_t phase)
{
    int trace = pkie_log_enabled(PKIE_LOG_TRACE);
    long long t0 = trace ? mono_ms() : 0;
    int rc = t->rt->isolation == PKIE_TLS_EXIT_NONE ? pkie_exit_call(t->rt->exit, t->z, phase)
                                                    : task_call_isolated(t, phase);
    if (trace)
        pkie_log(PKIE_LOG_TRACE, "exit", "exit %s phase %s: task %u session %llu: %s (%lld ms)",
                 t->rt->exit->name, pkie_exit_phase_name(phase), t->task_id,
                 (unsigned long long)(session_phase(phase) ? t->z->host_session_ref : 0),
                 rc_name(rc), mono_ms() - t0);
    return rc;
}

int pkie_tls_task_post_end(struct pkie_tls_task *t)
{
    if (!t->end_async || t->h == NULL || t->rt->isolation != PKIE_TLS_EXIT_PROCESS)
        return 0;
    task_settle(t, 0); /* the helper serves one call at a time */
    struct pkicom *z = t->z;
    uint64_t ref = z->host_session_ref;
    if (t->h == NULL || session_lost(t, CFTPKIE_END_SESSION, ref))
        return 0; /* a restart, or nothing to end: as a call does it */
    char cause[200];
    pkie_exit_call_prepare(z, CFTPKIE_END_SESSION);
    uint8_t *area = z->session_area;
    if (pkie_exit_helper_post(t->h, z, CFTPKIE_END_SESSION, area, area != NULL ? t->area_size : 0,
                              cause, sizeof(cause)) != 0) {
        end_session_done(t, ref, -1, 0, NULL, 0, cause);
        return 1;
    }
    t->pend_ref = ref;
    seen_by_helper(t, ref);
    return 1;
}

void pkie_tls_task_async_end(struct pkie_tls_task *t, int on)
{
    if (t != NULL)
        t->end_async = on ? 1 : 0;
}

void pkie_tls_task_tick(struct pkie_tls_task *t)
{
    if (t != NULL && t->h != NULL)
        task_settle(t, 1);
}

int pkie_tls_task_start(struct pkie_tls_runtime *rt, uint32_t task_id, struct pkie_tls_task **out)
{
    if (rt == NULL || out == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "task: NULL argument");
    *out = NULL;
    struct pkie_tls_task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "task");
    t->rt = rt;
    t->task_id = task_id;
    if (rt->exit == NULL) {
        *out = t;
        return 0;
    }
    t->z = calloc(1, sizeof(*t->z));
    if (t->z == NULL) {
        free(t);
        return PKIE_ERR(PKIE_ERR_NOMEM, "task");
    }
    struct pkicom *z = t->z;
    z->host_task_ref = task_id;
    memcpy(z->conf, rt->exit_conf, sizeof(z->conf));
    int ret = 0;
    int iso = rt->isolation == PKIE_TLS_EXIT_PROCESS;
    if (iso) {
        pthread_mutex_lock(&helper_start_mu);
        ret = pkie_exit_helper_start(&rt->iso, &t->h);
    }
    if (ret == 0) {
        int trace = pkie_log_enabled(PKIE_LOG_TRACE);
        ret = task_start_call(t, 0);
        if (iso)
            pthread_mutex_unlock(&helper_start_mu);
        if (trace)
            pkie_log(PKIE_LOG_TRACE, "exit", "exit %s phase StartTask: task %u: %s", rt->exit->name,
                     task_id, ret == 0 ? "ok" : "error");
        if (ret != 0) {
            pkie_tls_task_end(t); /* EndTask follows every StartTask */
            return ret;
        }
    } else {
        pthread_mutex_unlock(&helper_start_mu);
        free(t->z);
        free(t);
        return ret;
    }
    *out = t;
    return 0;
}

void pkie_tls_task_end(struct pkie_tls_task *t)
{
    if (t == NULL)
        return;
    if (t->z != NULL) {
        t->z->host_session_ref = 0;
        t->z->exit_session_ref = 0;
        t->z->session_area = NULL;
        t->z->flags = 0;
        if (t->rt->isolation == PKIE_TLS_EXIT_NONE || t->h != NULL)
            pkie_tls_task_call(t, CFTPKIE_END_TASK);
        pkie_exit_helper_stop(t->h);
        t->h = NULL;
        pkie_wipe(t->z->key, sizeof(t->z->key));
        free(t->z);
    }
    pkie_exit_keycache_clear(&t->keycache);
    pkie_exit_verifier_clear(&t->verifier);
    free(t->chain_der);
    sk_X509_pop_free(t->chain, X509_free);
    EVP_PKEY_free(t->opq_key);
    EVP_PKEY_free(t->opq_pub);
    free(t);
}
