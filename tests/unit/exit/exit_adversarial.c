/*
 * An adversarial test exit: it asks for every phase and answers "not
 * handled" (the internal base does the work), except in the phase named by
 * its trigger file, where it misbehaves once (the file is removed first, so
 * the next session is a good one).
 *
 * pki.exit.conf: "MODE TRIGGER" with MODE one of
 *   segv     a write to a page without access (SIGSEGV)
 *   abort    abort() (SIGABRT)
 *   exit     exit(3)
 *   loop     an endless loop
 *   sleep    sleep for an hour
 *   stdout   writes 1 MiB to stdout, then answers "not handled"
 *   closefd  closes every descriptor from 3 up, then answers "not handled"
 *   fds      answers CFTPKIE_ERROR with "fds=0,1,2,..." (its open descriptors)
 *   uid      answers CFTPKIE_ERROR with "uid=N gid=N"
 *   run      runs /bin/true with execv, then fork(); answers CFTPKIE_ERROR
 *            if either worked (the helper's sandbox denies both)
 * and TRIGGER a file holding the phase number (e.g. 5 for CheckCertificate).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cftpkie.h"

struct conf {
    char mode[16];
    char trigger[1000];
};

static int triggered(const struct conf *c, uint32_t phase)
{
    FILE *f = fopen(c->trigger, "r");
    if (f == NULL)
        return 0;
    unsigned p = 0;
    int n = fscanf(f, "%u", &p);
    fclose(f);
    if (n != 1 || p != phase)
        return 0;
    unlink(c->trigger);
    return 1;
}

static int misbehave(const struct conf *c, struct pkicom *z)
{
    if (strcmp(c->mode, "segv") == 0) {
        /* a write to a page without access (no undefined behaviour for a
         * sanitizer to report instead of the crash) */
        volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED)
            *p = 1;
    } else if (strcmp(c->mode, "abort") == 0) {
        abort();
    } else if (strcmp(c->mode, "exit") == 0) {
        exit(3);
    } else if (strcmp(c->mode, "loop") == 0) {
        for (volatile unsigned long i = 0;; i++)
            ;
    } else if (strcmp(c->mode, "sleep") == 0) {
        sleep(3600);
    } else if (strcmp(c->mode, "stdout") == 0) {
        static char junk[65536];
        memset(junk, 'X', sizeof(junk));
        for (int i = 0; i < 16; i++)
            fwrite(junk, 1, sizeof(junk), stdout);
        fflush(stdout);
    } else if (strcmp(c->mode, "closefd") == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    } else if (strcmp(c->mode, "fds") == 0) {
        DIR *d = opendir("/proc/self/fd");
        size_t n = (size_t)snprintf(z->error_text, sizeof(z->error_text), "fds=");
        struct dirent *e;
        int fds[64], k = 0;
        while (d != NULL && (e = readdir(d)) != NULL && k < 64)
            if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
                fds[k++] = atoi(e->d_name);
        if (d != NULL)
            closedir(d);
        for (int i = 0; i < k; i++) /* in order */
            for (int j = i + 1; j < k; j++)
                if (fds[j] < fds[i]) {
                    int x = fds[i];
                    fds[i] = fds[j];
                    fds[j] = x;
                }
        for (int i = 0; i < k && n < sizeof(z->error_text) - 8; i++)
            n += (size_t)snprintf(z->error_text + n, sizeof(z->error_text) - n, "%s%d",
                                  i ? "," : "", fds[i]);
        return CFTPKIE_ERROR;
    } else if (strcmp(c->mode, "lie") == 0) {
        /* an error whose text never ends */
        memset(z->error_text, 'L', sizeof(z->error_text));
        return CFTPKIE_ERROR;
    } else if (strcmp(c->mode, "uid") == 0) {
        snprintf(z->error_text, sizeof(z->error_text), "uid=%u gid=%u", (unsigned)getuid(),
                 (unsigned)getgid());
        return CFTPKIE_ERROR;
    } else if (strcmp(c->mode, "run") == 0) {
        char *argv[] = {(char *)"true", NULL};
        execv("/bin/true", argv);
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid > 0) {
            waitpid(pid, NULL, 0);
            snprintf(z->error_text, sizeof(z->error_text), "fork worked");
            return CFTPKIE_ERROR;
        }
    }
    return CFTPKIE_NOT_HANDLED;
}

__attribute__((visibility("default"))) int cftpkie(struct pkicom *z)
{
    if (z == NULL || z->abi_version < 1)
        return CFTPKIE_ERROR;
    struct conf *c = (struct conf *)z->task_area;
    if (z->phase == CFTPKIE_START_TASK) {
        z->exit_abi_version = CFTPKIE_ABI_VERSION;
        z->phase_mask = CFTPKIE_MASK_ALL;
        z->session_area_size = 16;
        if (sscanf(z->conf, "%15s %999s", c->mode, c->trigger) != 2) {
            snprintf(z->error_text, sizeof(z->error_text), "conf: MODE TRIGGER");
            return CFTPKIE_ERROR;
        }
        return triggered(c, CFTPKIE_START_TASK) ? misbehave(c, z) : CFTPKIE_HANDLED;
    }
    /* the private area counts the calls of the session */
    if (z->session_area != NULL)
        z->session_area[0]++;
    if (triggered(c, z->phase))
        return misbehave(c, z);
    return CFTPKIE_NOT_HANDLED;
}
