/*
 * Host side of exit isolation: spawn a helper process, call the exit in it
 * through shared memory with a deadline, copy each phase's fields in and out.
 * See isolate.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exit_int.h"
#include "isolate.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"
#include "pkie/wipe.h"

extern char **environ;

/* Keeps helper.c (whose constructor turns a started helper into one) in every
 * program linked with the runtime. */
void (*const pkie_exit_helper_entry)(void) = pkie_exit_helper_main;

struct pkie_exit_helper {
    pid_t pid;
    int pidfd; /* -1 when pidfd_open is not available: waitpid only */
    int chan;
    uint8_t *map;      /* the shared mapping (host view) */
    struct pkicom *sz; /* the shared pkicom */
    uint32_t seq;
    int timeout_ms;
    const char *name;
    /* a posted call (pkie_exit_helper_post) whose answer is not taken yet */
    uint32_t pend_seq;       /* 0: none */
    long long pend_deadline; /* ms, monotonic */
    int pend_limit;          /* its deadline in ms from the post (for the log) */
    int pend_late;           /* posted while stopping: not cut by the stop */
};

/* ---- the process-wide stop ------------------------------------------------ */

static volatile sig_atomic_t stopping;
static int stop_fd = -1;
static pthread_once_t stop_once = PTHREAD_ONCE_INIT;
static atomic_ulong spawns;

static void stop_init(void)
{
    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void pkie_tls_stop(void)
{
    int e = errno;
    stopping = 1;
    if (stop_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(stop_fd, &one, sizeof(one));
        (void)n;
    }
    errno = e;
}

int pkie_tls_stopping(void)
{
    return stopping != 0;
}

unsigned long pkie_exit_helper_spawns(void)
{
    return atomic_load(&spawns);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- start and stop ------------------------------------------------------- */

static const char *signame(int sig)
{
    const char *n = sigabbrev_np(sig);
    return n != NULL ? n : "?";
}

/* Describe how the helper ended (reaps it; kills it first if it still runs
 * after @p grace_ms). */
static void reap(struct pkie_exit_helper *h, int grace_ms, char *why, size_t cap)
{
    if (h->pid <= 0)
        return;
    int killed = 0;
    if (h->pidfd >= 0) {
        struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
        if (grace_ms > 0 && poll(&p, 1, grace_ms) > 0)
            ;
        else if (syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0) == 0)
            killed = 1;
    } else {
        long long end = now_ms() + grace_ms;
        int st;
        while (now_ms() < end && waitpid(h->pid, &st, WNOHANG) == 0)
            usleep(5000);
        if (kill(h->pid, SIGKILL) == 0)
            killed = 1;
    }
    int st = 0;
    pid_t r;
    do
        r = waitpid(h->pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (why != NULL && cap > 0) {
        if (r != h->pid)
            snprintf(why, cap, "helper pid %d: status unknown (%s)", (int)h->pid, strerror(errno));
        else if (killed)
            snprintf(why, cap, "helper pid %d killed", (int)h->pid);
        else if (WIFSIGNALED(st))
            snprintf(why, cap, "helper pid %d killed by signal %d (SIG%s)", (int)h->pid,
                     WTERMSIG(st), signame(WTERMSIG(st)));
        else if (WIFEXITED(st))
            snprintf(why, cap, "helper pid %d exited with status %d", (int)h->pid, WEXITSTATUS(st));
        else
            snprintf(why, cap, "helper pid %d ended (wait status 0x%x)", (int)h->pid, st);
    }
    h->pid = 0;
    if (h->pidfd >= 0)
        close(h->pidfd);
    h->pidfd = -1;
    if (h->chan >= 0)
        close(h->chan);
    h->chan = -1;
}

void pkie_exit_helper_stop(struct pkie_exit_helper *h)
{
    if (h == NULL)
        return;
    if (h->chan >= 0) {
        close(h->chan); /* the helper reads end of file and exits */
        h->chan = -1;
    }
    reap(h, stopping ? 200 : 2000, NULL, 0);
    if (h->map != NULL) {
        pkie_wipe(h->sz, sizeof(*h->sz));
        munmap(h->map, PKIE_EXIT_SHM_SIZE);
    }
    free(h);
}

int pkie_exit_helper_alive(const struct pkie_exit_helper *h)
{
    return h != NULL && h->pid > 0;
}

void pkie_exit_helper_reset_task(struct pkie_exit_helper *h)
{
    memset(h->sz->task_area, 0, sizeof(h->sz->task_area));
}

/* Wait for the channel (or the helper's end, or the stop) until @p deadline. 1:
 * readable, 0: timed out, -2: stopping. */
static int wait_chan(struct pkie_exit_helper *h, long long deadline, int watch_stop)
{
    for (;;) {
        struct pollfd p[3] = {{.fd = h->chan, .events = POLLIN},
                              {.fd = watch_stop ? stop_fd : -1, .events = POLLIN},
                              {.fd = h->pidfd, .events = POLLIN}};
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        int r = poll(p, 3, left > 1000000 ? 1000000 : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return 1; /* let the read tell */
        if (p[0].revents != 0 || p[2].revents != 0)
            return 1;
        if (p[1].revents != 0)
            return -2;
    }
}

/* One answer from the channel: 1 with *m, 0 end of file / error. */
static int read_msg(struct pkie_exit_helper *h, struct pkie_exit_helper_msg *m)
{
    ssize_t n;
    do
        n = recv(h->chan, m, sizeof(*m), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*m);
}

int pkie_exit_helper_start(const struct pkie_exit_iso *iso, struct pkie_exit_helper **out)
{
    *out = NULL;
    pthread_once(&stop_once, stop_init);
    if (strlen(iso->libpath) >= sizeof(((struct pkie_exit_helper_ctl *)0)->libpath))
        return PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit library path too long");
    struct pkie_exit_helper *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "exit helper");
    h->chan = -1;
    h->pidfd = -1;
    h->timeout_ms = iso->timeout_ms;
    h->name = iso->name;
    int sv[2] = {-1, -1}, mfd = -1, rc;
    posix_spawn_file_actions_t fa;
    int fa_init = 0;
    mfd = memfd_create("pkie-exit", MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, (off_t)PKIE_EXIT_SHM_SIZE) != 0) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit helper: shared memory: %s", strerror(errno));
        goto err;
    }
    h->map = mmap(NULL, PKIE_EXIT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (h->map == MAP_FAILED) {
        h->map = NULL;
        rc = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit helper: mmap: %s", strerror(errno));
        goto err;
    }
    h->sz = (struct pkicom *)(h->map + PKIE_EXIT_SHM_COM_OFF);
    struct pkie_exit_helper_ctl *ctl = (struct pkie_exit_helper_ctl *)h->map;
    ctl->magic = PKIE_EXIT_HELPER_MAGIC;
    ctl->has_user = iso->has_user ? 1u : 0u;
    ctl->uid = (uint32_t)iso->uid;
    ctl->gid = (uint32_t)iso->gid;
    ctl->host_pid = (int32_t)getpid();
    snprintf(ctl->libpath, sizeof(ctl->libpath), "%s", iso->libpath);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit helper: socketpair: %s", strerror(errno));
        goto err;
    }
    /* The helper gets its channel as 3, the mapping as 4, /dev/null as stdin
     * and stdout (an exit printing must not write into the monitor's output),
     * the monitor's stderr, and no other descriptor. */
    posix_spawn_file_actions_init(&fa);
    fa_init = 1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], PKIE_EXIT_HELPER_CHAN_FD);
    posix_spawn_file_actions_adddup2(&fa, mfd, PKIE_EXIT_HELPER_SHM_FD);
    posix_spawn_file_actions_addclosefrom_np(&fa, PKIE_EXIT_HELPER_SHM_FD + 1);
    size_t n = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    char **envp = calloc(n + 2, sizeof(*envp));
    if (envp == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "exit helper");
        goto err;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], PKIE_EXIT_HELPER_ENV "=", sizeof(PKIE_EXIT_HELPER_ENV)) != 0)
            envp[k++] = environ[i];
    static char marker[] = PKIE_EXIT_HELPER_ENV "=1";
    envp[k++] = marker;
    envp[k] = NULL;
    char a0[] = "pkie-exit-helper", a1[64];
    snprintf(a1, sizeof(a1), "%s", iso->name);
    char *argv[] = {a0, a1, NULL};
    atomic_fetch_add(&spawns, 1);
    /* No signal blocked (a task thread may block some), handlers back to
     * their defaults (posix_spawn does that for caught ones; ignored ones,
     * such as SIGPIPE, stay ignored). */
    posix_spawnattr_t sa;
    posix_spawnattr_init(&sa);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&sa, &none);
    posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK);
    int e = posix_spawn(&h->pid, "/proc/self/exe", &fa, &sa, argv, envp);
    posix_spawnattr_destroy(&sa);
    free(envp);
    posix_spawn_file_actions_destroy(&fa);
    fa_init = 0;
    if (e != 0) {
        h->pid = 0;
        rc = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit helper: cannot start /proc/self/exe: %s",
                      strerror(e));
        goto err;
    }
    close(sv[1]);
    sv[1] = -1;
    close(mfd);
    mfd = -1;
    h->chan = sv[0];
    sv[0] = -1;
    h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
    if (h->pidfd >= 0)
        (void)fcntl(h->pidfd, F_SETFD, FD_CLOEXEC);
    /* The helper answers once it has loaded the library. */
    struct pkie_exit_helper_msg m;
    int w = wait_chan(h, now_ms() + h->timeout_ms, 1);
    if (w == 1 && read_msg(h, &m) && m.seq == 0) {
        *out = h;
        return 0;
    }
    char why[160] = "";
    char err[sizeof(ctl->err)];
    memcpy(err, ctl->err, sizeof(err));
    err[sizeof(err) - 1] = '\0';
    reap(h, w == 1 ? 500 : 0, why, sizeof(why));
    if (err[0] != '\0')
        rc = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit %s: helper: %s", iso->name, err);
    else
        rc = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit %s: helper did not start: %s", iso->name,
                      w == 0    ? "timed out"
                      : w == -2 ? "stopping"
                                : why);
err:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (mfd >= 0)
        close(mfd);
    if (h->pid > 0)
        reap(h, 0, NULL, 0);
    if (h->chan >= 0)
        close(h->chan);
    if (h->map != NULL)
        munmap(h->map, PKIE_EXIT_SHM_SIZE);
    free(h);
    return rc;
}

/* ---- copying a phase's fields --------------------------------------------- */

#define SPAN(first, last)                                                                          \
    offsetof(struct pkicom, first),                                                                \
        offsetof(struct pkicom, last) + sizeof(((struct pkicom *)0)->last)

static void copy_span(struct pkicom *dst, const struct pkicom *src, size_t from, size_t to)
{
    memcpy((uint8_t *)dst + from, (const uint8_t *)src + from, to - from);
}

/* Bytes of a DER list: the sum of the first @p count lengths, within @p cap
 * (the host checks the lengths again on its own copy). */
static size_t der_total(const uint32_t *lens, uint32_t count, uint32_t max, size_t cap)
{
    size_t t = 0;
    if (count > max)
        count = max;
    for (uint32_t i = 0; i < count; i++) {
        if (lens[i] >= cap - t)
            return cap;
        t += lens[i];
    }
    return t;
}

#define COPY_DER(dst, src, cnt, lens, buf, max)                                                    \
    do {                                                                                           \
        (dst)->cnt = (src)->cnt;                                                                   \
        memcpy((dst)->lens, (src)->lens, sizeof((dst)->lens));                                     \
        memcpy((dst)->buf, (src)->buf,                                                             \
               der_total((dst)->lens, (dst)->cnt, (max), sizeof((dst)->buf)));                     \
    } while (0)

static int session_phase(uint32_t phase)
{
    return phase >= CFTPKIE_START_HANDSHAKE && phase <= CFTPKIE_END_SESSION;
}

/* Host -> shared: the header, the references, the phase's inputs and its
 * outputs as the host reset them (an output left unset must not come back as
 * the value of an earlier call). */
static void copy_in(struct pkicom *sh, const struct pkicom *z, uint32_t phase)
{
    copy_span(sh, z, SPAN(size, exit_session_ref));
    sh->session_area = NULL; /* set by the helper */
    sh->error_text[0] = '\0';
    if (session_phase(phase))
        copy_span(sh, z, SPAN(partner_id, dn_filters));
    switch (phase) {
    case CFTPKIE_START_TASK:
        memcpy(sh->conf, z->conf, sizeof(sh->conf));
        memset(sh->pki_password, 0, sizeof(sh->pki_password));
        break;
    case CFTPKIE_GET_CERTIFICATE:
        sh->chain_count = z->chain_count;
        COPY_DER(sh, z, ca_names_count, ca_names_len, ca_names, CFTPKIE_CA_NAMES_MAX);
        copy_span(sh, z, SPAN(n_sigalgs, sigalgs));
        break;
    case CFTPKIE_GET_CA_LIST:
        sh->ca_names_count = z->ca_names_count;
        break;
    case CFTPKIE_CHECK_CERTIFICATE:
        COPY_DER(sh, z, peer_count, peer_len, peer_chain, CFTPKIE_CHAIN_MAX);
        sh->accept = z->accept;
        sh->alert_code = z->alert_code;
        break;
    case CFTPKIE_CRYPT_DATA:
        copy_span(sh, z, SPAN(n_sigalgs, sigalgs));
        sh->sign_alg = z->sign_alg;
        sh->sign_digest = z->sign_digest;
        sh->data_len = z->data_len;
        memcpy(sh->data, z->data, z->data_len <= sizeof(sh->data) ? z->data_len : 0);
        sh->sig_len = z->sig_len;
        sh->key_len = z->key_len;
        break;
    case CFTPKIE_HANDSHAKE_ALERT:
        sh->alert_level = z->alert_level;
        sh->alert_code = z->alert_code;
        sh->alert_direction = z->alert_direction;
        break;
    case CFTPKIE_HANDSHAKE_DONE:
        COPY_DER(sh, z, peer_count, peer_len, peer_chain, CFTPKIE_CHAIN_MAX);
        copy_span(sh, z, SPAN(tls_version, cipher_name));
        memcpy(sh->global_area, z->global_area, sizeof(sh->global_area));
        break;
    default:
        break;
    }
}

/* Shared -> host: the phase's outputs only, each read once. */
static void copy_out(struct pkicom *z, struct pkicom *sh, uint32_t phase)
{
    memcpy(z->error_text, sh->error_text, sizeof(z->error_text));
    switch (phase) {
    case CFTPKIE_START_TASK:
        copy_span(z, sh, SPAN(exit_abi_version, session_area_size));
        z->exit_task_ref = sh->exit_task_ref;
        memcpy(z->pki_password, sh->pki_password, sizeof(z->pki_password));
        pkie_wipe(sh->pki_password, sizeof(sh->pki_password));
        break;
    case CFTPKIE_START_HANDSHAKE:
        z->exit_session_ref = sh->exit_session_ref;
        copy_span(z, sh, SPAN(cert_id, dn_filters));
        break;
    case CFTPKIE_GET_CERTIFICATE:
        COPY_DER(z, sh, chain_count, chain_len, chain, CFTPKIE_CHAIN_MAX);
        break;
    case CFTPKIE_GET_CA_LIST:
        COPY_DER(z, sh, ca_names_count, ca_names_len, ca_names, CFTPKIE_CA_NAMES_MAX);
        break;
    case CFTPKIE_CHECK_CERTIFICATE:
        z->accept = sh->accept;
        z->alert_code = sh->alert_code;
        break;
    case CFTPKIE_CRYPT_DATA:
        z->sig_len = sh->sig_len;
        memcpy(z->sig, sh->sig, sizeof(z->sig));
        z->key_len = sh->key_len;
        if (z->key_len > 0) {
            memcpy(z->key, sh->key, z->key_len <= sizeof(z->key) ? z->key_len : sizeof(z->key));
            pkie_wipe(sh->key, sizeof(sh->key));
        }
        break;
    case CFTPKIE_HANDSHAKE_DONE:
        memcpy(z->global_area, sh->global_area, sizeof(z->global_area));
        break;
    default:
        break;
    }
}

/* ---- the call ------------------------------------------------------------- */

/* Copy the request in and wake the helper. The request number, or 0 when
 * the channel is broken. */
static uint32_t send_request(struct pkie_exit_helper *h, const struct pkicom *z, uint32_t phase,
                             const uint8_t *area, uint32_t area_len)
{
    copy_in(h->sz, z, phase);
    if (area_len > 0)
        memcpy(h->map + PKIE_EXIT_SHM_AREA_OFF, area, area_len);
    struct pkie_exit_helper_msg m = {.seq = ++h->seq, .phase = phase, .area_len = area_len};
    if (h->seq == PKIE_EXIT_HELPER_FAILED || h->seq == 0)
        m.seq = h->seq = 1;
    ssize_t n;
    do
        n = send(h->chan, &m, sizeof(m), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(m) ? m.seq : 0;
}

/* Wait for the answer to request @p seq until @p deadline (watching the stop
 * unless @p late). 1 with *rc, or -1: the helper is then gone and @p cause
 * says why. */
static int take_answer(struct pkie_exit_helper *h, uint32_t seq, long long deadline, int late,
                       int limit, int32_t *rc, char *cause, size_t cap)
{
    int w = seq != 0 ? wait_chan(h, deadline, !late) : 1;
    struct pkie_exit_helper_msg a;
    if (w == 1 && seq != 0 && read_msg(h, &a) && a.seq == seq) {
        *rc = a.rc;
        return 1;
    }
    char why[160] = "";
    if (w == 0) {
        reap(h, 0, NULL, 0);
        snprintf(cause, cap, "no answer within %d ms (helper killed)", limit);
    } else if (w == -2) {
        reap(h, 0, NULL, 0);
        snprintf(cause, cap, "the process is stopping (helper killed)");
    } else {
        /* The channel broke: give the helper a moment to finish dying so that
         * its status tells why. */
        reap(h, 500, why, sizeof(why));
        snprintf(cause, cap, "channel closed: %s", why);
    }
    return -1;
}

/* The deadline of a call made now; *late: the process is stopping (a call
 * then gets at most 2 s and is not cut by the stop). */
static int call_limit(const struct pkie_exit_helper *h, int *late)
{
    *late = stopping != 0;
    return *late && h->timeout_ms > 2000 ? 2000 : h->timeout_ms;
}

/* Send a request for @p phase and record it as pending, its deadline from
 * now (*area_len: what was copied of the area). 0, or -1 when the helper is
 * gone or a pending answer was not taken (@p cause says why). */
static int post_request(struct pkie_exit_helper *h, const struct pkicom *z, uint32_t phase,
                        const uint8_t *area, uint32_t *area_len, char *cause, size_t cap)
{
    cause[0] = '\0';
    if (h->pid <= 0 || h->pend_seq != 0) {
        snprintf(cause, cap, h->pid <= 0 ? "no helper" : "a posted call is not settled");
        return -1;
    }
    int late;
    int limit = call_limit(h, &late);
    if (*area_len > CFTPKIE_SESSION_AREA_MAX || area == NULL)
        *area_len = 0;
    uint32_t seq = send_request(h, z, phase, area, *area_len);
    if (seq == 0) {
        int32_t rc;
        return take_answer(h, 0, 0, late, limit, &rc, cause, cap);
    }
    h->pend_seq = seq;
    h->pend_deadline = now_ms() + limit;
    h->pend_limit = limit;
    h->pend_late = late;
    return 0;
}

/* Wait for the pending answer until its deadline. Posted and taken before
 * the stop: the stop cuts the wait; taken once stopping: at most 2 s more
 * (or what is left of the deadline of a call posted while stopping), not
 * cut. 0 with *rc, or -1 (the helper is gone, @p cause says why). */
static int take_pending(struct pkie_exit_helper *h, int *rc, char *cause, size_t cap)
{
    long long now = now_ms();
    int late = h->pend_late || stopping != 0;
    long long deadline = h->pend_deadline;
    if (stopping != 0 && !h->pend_late && deadline > now + 2000)
        deadline = now + 2000;
    uint32_t seq = h->pend_seq;
    h->pend_seq = 0;
    int32_t r;
    if (take_answer(h, seq, deadline, late, h->pend_limit, &r, cause, cap) < 0)
        return -1;
    *rc = r < 0 ? CFTPKIE_ERROR + 1 : r;
    return 0;
}

int pkie_exit_helper_call(struct pkie_exit_helper *h, struct pkicom *z, uint32_t phase,
                          uint8_t *area, uint32_t area_len, char *cause, size_t cap)
{
    int rc;
    if (post_request(h, z, phase, area, &area_len, cause, cap) != 0 ||
        take_pending(h, &rc, cause, cap) != 0)
        return -1;
    copy_out(z, h->sz, phase);
    if (area_len > 0)
        memcpy(area, h->map + PKIE_EXIT_SHM_AREA_OFF, area_len);
    return rc;
}

int pkie_exit_helper_post(struct pkie_exit_helper *h, const struct pkicom *z, uint32_t phase,
                          const uint8_t *area, uint32_t area_len, char *cause, size_t cap)
{
    return post_request(h, z, phase, area, &area_len, cause, cap);
}

int pkie_exit_helper_pending(const struct pkie_exit_helper *h)
{
    return h != NULL && h->pend_seq != 0;
}

int pkie_exit_helper_settle(struct pkie_exit_helper *h, int nowait, int *rc, char *text,
                            size_t tcap, char *cause, size_t cap)
{
    cause[0] = '\0';
    if (h->pend_seq == 0)
        return 1;
    if (nowait && now_ms() < h->pend_deadline) {
        struct pollfd p[2] = {{.fd = h->chan, .events = POLLIN},
                              {.fd = h->pidfd, .events = POLLIN}};
        if (poll(p, 2, 0) == 0)
            return 1; /* not answered, within its deadline */
    }
    if (take_pending(h, rc, cause, cap) != 0)
        return -1;
    /* as the exit left it (the caller checks the text as a call's) */
    memcpy(text, h->sz->error_text,
           sizeof(h->sz->error_text) < tcap ? sizeof(h->sz->error_text) : tcap);
    return 0;
}
