/*
 * The exit helper process (pki.exit.isolation = process): this executable
 * started again by the host with PKIE_EXIT_HELPER=1 in its environment. A
 * constructor takes over before main(): it maps the shared pkicom, drops what
 * it does not need (descriptors, privileges, the user), installs the seccomp
 * filter, loads the exit library and serves calls until its channel closes.
 */

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    struct pkie_exit_helper_msg m = {.seq = 0};
    if (send(ch, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
        _exit(125);
    for (;;) {
        ssize_t n = recv(ch, &m, sizeof(m), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(m))
            _exit(0); /* the host closed the channel: the task ended */
        z->session_area = m.area_len > 0 ? area : NULL;
        m.rc = fn(z);
        if (send(ch, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
            _exit(126);
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
