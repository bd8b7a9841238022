/*
 * The exit helper process (pki.exit.isolation = process): this executable
 * started again by the host with PKIE_EXIT_HELPER=1 in its environment. A
 * constructor takes over before main(): it maps the shared pkicom, drops what
 * it does not need (descriptors, privileges, the user), installs the seccomp
 * filter, loads the exit library and serves calls until its channel closes.
 * A call is a request number in the call words (isolate.h); after answering,
 * the helper watches for the next one as long as the host's linger_us says,
 * then sleeps on its channel until the host rings.
 */

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"

static struct pkie_exit_helper_ctl *ctl;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    if (ctl != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctl->err, sizeof(ctl->err), fmt, ap);
        va_end(ap);
    }
    struct pkie_exit_helper_msg m = {.seq = PKIE_EXIT_HELPER_FAILED};
    (void)send(PKIE_EXIT_HELPER_CHAN_FD, &m, sizeof(m), MSG_NOSIGNAL);
    _exit(120);
}

static void on_sigsys(int sig)
{
    (void)sig;
    _exit(126);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The next request after @p last: watched for @p linger_us, then slept for on
 * the channel (the host rings when it sees helper_sleeps). Ends the helper
 * when the host closes the channel. */
static uint32_t next_request(struct pkie_exit_call_words *w, uint32_t last, uint32_t linger_us)
{
    uint32_t s;
    if (linger_us > 0) {
        long long end = now_ns() + (long long)linger_us * 1000;
        for (unsigned i = 1;; i++) {
            s = atomic_load_explicit(&w->req_seq, memory_order_acquire);
            if (s != last)
                return s;
            cpu_relax();
            if ((i & 31) == 0 && now_ns() >= end)
                break;
        }
    }
    atomic_store(&w->helper_sleeps, 1);
    atomic_thread_fence(memory_order_seq_cst);
    for (;;) {
        s = atomic_load_explicit(&w->req_seq, memory_order_acquire);
        if (s != last)
            break;
        uint8_t ring[16];
        ssize_t n = recv(PKIE_EXIT_HELPER_CHAN_FD, ring, sizeof(ring), 0);
        if (n < 0 && errno == EAGAIN) {
            /* the exit made the channel non-blocking */
            struct pollfd p = {.fd = PKIE_EXIT_HELPER_CHAN_FD, .events = POLLIN};
            (void)poll(&p, 1, -1);
            continue;
        }
        if (n == 0 || (n < 0 && errno != EINTR))
            _exit(0); /* the host closed the channel: the task ended */
    }
    atomic_store_explicit(&w->helper_sleeps, 0, memory_order_relaxed);
    return s;
}

void pkie_exit_helper_main(void)
{
    const int ch = PKIE_EXIT_HELPER_CHAN_FD;
    /* The helper must end with the task thread that started it. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct stat st;
    if (fstat(PKIE_EXIT_HELPER_SHM_FD, &st) != 0 || (size_t)st.st_size != PKIE_EXIT_SHM_SIZE)
        _exit(121);
    uint8_t *map = mmap(NULL, PKIE_EXIT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                        PKIE_EXIT_HELPER_SHM_FD, 0);
    if (map == MAP_FAILED)
        _exit(122);
    close(PKIE_EXIT_HELPER_SHM_FD);
    ctl = (struct pkie_exit_helper_ctl *)map;
    if (ctl->magic != PKIE_EXIT_HELPER_MAGIC)
        _exit(123);
    if (getppid() != (pid_t)ctl->host_pid)
        _exit(124); /* the host is already gone */
    /* Nothing but the channel, stdin/stdout (/dev/null) and stderr. */
    (void)close_range(PKIE_EXIT_HELPER_CHAN_FD + 1, ~0u, 0);
    unsetenv(PKIE_EXIT_HELPER_ENV);
    /* No core dump, no ptrace by other processes of the user. */
    (void)prctl(PR_SET_DUMPABLE, 0);
    if (ctl->has_user) {
        if (setgroups(0, NULL) != 0 || setgid((gid_t)ctl->gid) != 0 || setuid((uid_t)ctl->uid) != 0)
            fail("pki.exit.user: cannot switch to uid %u gid %u: %s", ctl->uid, ctl->gid,
                 strerror(errno));
        if (setuid(0) == 0 && ctl->uid != 0)
            fail("pki.exit.user: root privileges could be regained");
    }
    /* The sandbox traps an attempt of the exit on the channel (sandbox.c):
     * the helper ends as when its channel broke. */
    struct sigaction sa = {.sa_handler = on_sigsys};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        _exit(127);
    if (pkie_exit_sandbox() != 0)
        fail("seccomp filter: %s", strerror(errno));
    ctl->libpath[sizeof(ctl->libpath) - 1] = '\0';
    char path[sizeof(ctl->libpath)];
    memcpy(path, ctl->libpath, sizeof(path));
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *e = dlerror();
        fail("%s", e ? e : "dlopen failed");
    }
    void *sym = dlsym(lib, "cftpkie");
    if (sym == NULL)
        fail("%s exports no cftpkie function", path);
    int (*fn)(struct pkicom *);
    memcpy(&fn, &sym, sizeof(fn));
    struct pkicom *z = (struct pkicom *)(map + PKIE_EXIT_SHM_COM_OFF);
    uint8_t *area = map + PKIE_EXIT_SHM_AREA_OFF;
    struct pkie_exit_call_words *w = (struct pkie_exit_call_words *)(map + PKIE_EXIT_SHM_CALL_OFF);
    struct pkie_exit_helper_msg m = {.seq = 0};
    if (send(ch, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
        _exit(125);
    uint32_t last = 0, linger = 0;
    for (;;) {
        uint32_t seq = next_request(w, last, linger);
        last = seq;
        uint32_t area_len = w->area_len;
        linger = w->linger_us;
        if (linger > PKIE_EXIT_LINGER_MAX_US)
            linger = PKIE_EXIT_LINGER_MAX_US;
        z->session_area = area_len > 0 ? area : NULL;
        int32_t rc = fn(z);
        atomic_store_explicit(&w->rc, rc, memory_order_relaxed);
        atomic_store_explicit(&w->ans_ns, (uint64_t)now_ns(), memory_order_relaxed);
        atomic_store_explicit(&w->ans_seq, seq, memory_order_release);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&w->host_sleeps, memory_order_relaxed) != 0) {
            uint8_t ring = 1;
            if (send(ch, &ring, 1, MSG_NOSIGNAL) != 1)
                _exit(126);
        }
    }
}

/* Runs before main() of any program linked with the runtime: in a helper,
 * main() is never reached. */
__attribute__((constructor)) static void helper_ctor(void)
{
    const char *v = getenv(PKIE_EXIT_HELPER_ENV);
    if (v != NULL && strcmp(v, "1") == 0)
        pkie_exit_helper_main();
}
