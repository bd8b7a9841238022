/*
 * The sender's transfer ids, kept across runs so that a rerun after a broken
 * connection resumes: one file per (destination, path, size, mtime, ctime,
 * device and inode: a file changed in any way gets a new id)
 * named by the SHA-256 of that key, holding the transfer id in hex. Removed
 * when the receiver confirmed the file. Written through a temporary file
 * renamed into place (one per call), so concurrent workers of one process and
 * other processes never read a partial id.
 */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

char *pkie_xfer_sendstate_default_dir(void)
{
    const char *e = getenv("PKIE_SEND_STATE");
    char buf[4096];
    if (e != NULL && e[0] != '\0')
        return strdup(e);
    e = getenv("XDG_STATE_HOME");
    if (e != NULL && e[0] == '/') {
        snprintf(buf, sizeof(buf), "%s/pkie/send", e);
        return strdup(buf);
    }
    e = getenv("HOME");
    if (e == NULL || e[0] != '/')
        return NULL;
    snprintf(buf, sizeof(buf), "%s/.local/state/pkie/send", e);
    return strdup(buf);
}

/* mkdir -p with mode 0700 for the last components created. */
static int mkdirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp))
        return PKIE_ERR(PKIE_ERR_ARG, "bad state directory");
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return PKIE_ERR(PKIE_ERR_XFER_FILE, "mkdir %s: %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    return 0;
}

static int state_path(const char *dir, const char *dest, const char *path, int fd, char *out,
                      size_t cap)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "stat %s: %s", path, strerror(errno));
    char *abs = realpath(path, NULL);
    char key[8192];
    int n =
        snprintf(key, sizeof(key), "%s%c%s%c%" PRIu64 "%c%lld.%09ld%c%lld.%09ld%c%llu:%llu", dest,
                 0, abs ? abs : path, 0, (uint64_t)st.st_size, 0, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec, 0, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, 0,
                 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    free(abs);
    if (n < 0 || (size_t)n >= sizeof(key))
        return PKIE_ERR(PKIE_ERR_LIMIT, "state key too long");
    uint8_t h[32];
    unsigned hl = 0;
    if (EVP_Digest(key, (size_t)n, h, &hl, EVP_sha256(), NULL) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SHA-256");
    char hex[65];
    pkie_xfer_hex(h, 32, hex);
    n = snprintf(out, cap, "%s/%s.tid", dir, hex);
    if (n < 0 || (size_t)n >= cap)
        return PKIE_ERR(PKIE_ERR_LIMIT, "state path too long");
    return 0;
}

int pkie_xfer_sendstate_get(const char *state_dir, const char *dest, const char *path, int fd,
                            uint8_t tid[PKIE_XFER_TID_LEN], int *reused)
{
    char sp[4200];
    *reused = 0;
    int rc = state_path(state_dir, dest, path, fd, sp, sizeof(sp));
    if (rc != 0)
        return rc;
    FILE *f = fopen(sp, "re");
    if (f != NULL) {
        char hex[2 * PKIE_XFER_TID_LEN + 2] = "";
        int ok = fgets(hex, sizeof(hex), f) != NULL;
        fclose(f);
        hex[strcspn(hex, "\n")] = '\0';
        if (ok && pkie_xfer_unhex(hex, tid, PKIE_XFER_TID_LEN) == 0) {
            *reused = 1;
            return 0;
        }
    }
    if (RAND_bytes(tid, PKIE_XFER_TID_LEN) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "random transfer id");
    if ((rc = mkdirs(state_dir)) != 0)
        return rc;
    char tmp[4300], hex[2 * PKIE_XFER_TID_LEN + 1];
    /* one temporary name per call: the workers of `pkie send --parallel`
     * share the directory (the same key twice must not share a temporary) */
    static atomic_uint seq;
    snprintf(tmp, sizeof(tmp), "%s.%ld.%u.tmp", sp, (long)getpid(), atomic_fetch_add(&seq, 1));
    int wfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (wfd < 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "create %s: %s", tmp, strerror(errno));
    pkie_xfer_hex(tid, PKIE_XFER_TID_LEN, hex);
    hex[2 * PKIE_XFER_TID_LEN] = '\n';
    ssize_t w = write(wfd, hex, sizeof(hex));
    /* No fsync: the id only saves bytes on a rerun; losing it in a crash
     * means the file is sent again from the start, never a wrong result. */
    int bad = w != (ssize_t)sizeof(hex);
    close(wfd);
    if (bad || rename(tmp, sp) != 0) {
        unlink(tmp);
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "write %s", sp);
    }
    return 0;
}

int pkie_xfer_sendstate_drop(const char *state_dir, const char *dest, const char *path, int fd)
{
    char sp[4200];
    int rc = state_path(state_dir, dest, path, fd, sp, sizeof(sp));
    if (rc != 0)
        return rc;
    if (unlink(sp) != 0 && errno != ENOENT)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "remove %s: %s", sp, strerror(errno));
    return 0;
}
