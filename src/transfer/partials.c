/*
 * The receiver's partial transfers as a whole: the name reservation checked
 * when FILE arrives, the list of partial transfers, their removal and their
 * expiry after partial_ttl. A partial transfer is the pair
 * ".NAME.TID.state" / ".NAME.TID.part" (rfile.c); its age is that of the newer
 * of the two (each checkpoint rewrites them); one whose state file is locked
 * is in use by a session and is never removed.
 */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEXLEN (2 * PKIE_XFER_TID_LEN)

/* ".NAME.TID.SUFFIX" with a valid TID: NAME's length (the name may be cut,
 * rfile.c), else -1. */
static int split_partial(const char *fn, const char *suffix, char tidhex[HEXLEN + 1])
{
    size_t n = strlen(fn), sl = strlen(suffix);
    if (fn[0] != '.' || n < 1 + 1 + HEXLEN + 1 + sl + 1)
        return -1;
    if (strcmp(fn + n - sl, suffix) != 0 || fn[n - sl - 1] != '.')
        return -1;
    const char *hex = fn + n - sl - 1 - HEXLEN;
    if (hex[-1] != '.')
        return -1;
    uint8_t tid[PKIE_XFER_TID_LEN];
    memcpy(tidhex, hex, HEXLEN);
    tidhex[HEXLEN] = '\0';
    if (pkie_xfer_unhex(tidhex, tid, PKIE_XFER_TID_LEN) != 0)
        return -1;
    return (int)(hex - 1 - (fn + 1));
}

/* A stream over the destination directory (its own descriptor). */
static int open_dir(int dirfd, DIR **out)
{
    int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *out = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (*out != NULL)
        return 0;
    if (dfd >= 0)
        close(dfd);
    return PKIE_ERR(PKIE_ERR_XFER_FILE, "read the destination directory: %s", strerror(errno));
}

int pkie_xfer_name_reserved(int dirfd, const char *name, const uint8_t tid[PKIE_XFER_TID_LEN])
{
    char mine[256], hex[HEXLEN + 1];
    int rc = pkie_xfer_partial_name(name, tid, "state", mine, sizeof(mine));
    if (rc != 0)
        return rc;
    size_t plen = strlen(mine) - HEXLEN - strlen(".state"); /* ".NAME." */
    DIR *d = NULL;
    if ((rc = open_dir(dirfd, &d)) != 0)
        return rc;
    struct dirent *e;
    rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, mine, plen) != 0 || strcmp(e->d_name, mine) == 0)
            continue;
        int nl = split_partial(e->d_name, "state", hex);
        if (nl >= 0 && (size_t)nl + 2 == plen)
            rc = PKIE_ERR(PKIE_ERR_XFER_RESERVED,
                          "%s is reserved by another transfer in progress (resume it, or wait "
                          "for it to expire)",
                          name);
    }
    closedir(d);
    return rc;
}

/* Fill @p p for the state file @p fn; 0, or -1 to skip the entry. */
static int load_one(int dirfd, const char *fn, time_t ttl, time_t now, struct pkie_xfer_partial *p)
{
    char hex[HEXLEN + 1];
    int nl = split_partial(fn, "state", hex);
    if (nl < 0)
        return -1;
    memset(p, 0, sizeof(*p));
    memcpy(p->name, fn + 1, (size_t)nl);
    p->name[nl] = '\0';
    memcpy(p->tid, hex, sizeof(p->tid));
    int fd = openat(dirfd, fn, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    p->mtime = st.st_mtime;
    char rec[128] = "", tidr[HEXLEN + 1];
    ssize_t n = pread(fd, rec, sizeof(rec) - 1, 0);
    if (n > 0)
        rec[n] = '\0';
    if (sscanf(rec, "PKIEPART 1 %32s %" SCNu64 " %" SCNu64, tidr, &p->size, &p->durable) != 3)
        p->size = p->durable = 0; /* a new transfer records nothing before its checkpoint */
    p->in_use = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    char part[256];
    memcpy(part, fn, strlen(fn) - strlen("state"));
    strcpy(part + strlen(fn) - strlen("state"), "part");
    if (fstatat(dirfd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        p->have_part = 1;
        p->bytes = (uint64_t)st.st_size;
        if (st.st_mtime > p->mtime)
            p->mtime = st.st_mtime;
    }
    p->expired = !p->in_use && ttl > 0 && now - p->mtime > ttl;
    return 0;
}

int pkie_xfer_partials_list(int dirfd, time_t ttl, time_t now, struct pkie_xfer_partial **out,
                            size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = NULL;
    int rc = open_dir(dirfd, &d);
    if (rc != 0)
        return rc;
    struct pkie_xfer_partial *v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct pkie_xfer_partial p;
        if (load_one(dirfd, e->d_name, ttl, now, &p) != 0)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct pkie_xfer_partial *nv = realloc(v, nc * sizeof(*nv));
            if (nv == NULL) {
                rc = PKIE_ERR(PKIE_ERR_NOMEM, "partial list");
                break;
            }
            v = nv;
            cap = nc;
        }
        v[(*n)++] = p;
    }
    closedir(d);
    if (rc != 0) {
        free(v);
        *n = 0;
        return rc;
    }
    *out = v;
    return 0;
}

/* Remove the pair of @p p unless a session holds it (lock taken first). */
static int remove_one(int dirfd, const struct pkie_xfer_partial *p)
{
    char state[300], part[300];
    const char *hex = p->tid;
    snprintf(state, sizeof(state), ".%s.%s.state", p->name, hex);
    snprintf(part, sizeof(part), ".%s.%s.part", p->name, hex);
    int fd = openat(dirfd, state, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "transfer %s: %s", hex, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return PKIE_ERR(PKIE_ERR_XFER_BUSY, "transfer %s of %s is in use by a session", hex,
                        p->name);
    }
    /* the part first: a state file without its part resumes from 0 */
    int rc = 0;
    if (unlinkat(dirfd, part, 0) != 0 && errno != ENOENT)
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "remove %s: %s", part, strerror(errno));
    if (rc == 0 && unlinkat(dirfd, state, 0) != 0 && errno != ENOENT)
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "remove %s: %s", state, strerror(errno));
    close(fd); /* the lock goes with it */
    return rc;
}

int pkie_xfer_partial_remove(int dirfd, const char *tidhex)
{
    struct pkie_xfer_partial *v = NULL;
    size_t n = 0;
    int rc = pkie_xfer_partials_list(dirfd, 0, 0, &v, &n);
    if (rc != 0)
        return rc;
    rc = PKIE_ERR(PKIE_ERR_NOT_FOUND, "no partial transfer %s", tidhex);
    for (size_t i = 0; i < n; i++)
        if (strlen(tidhex) == HEXLEN && strcasecmp(v[i].tid, tidhex) == 0) {
            rc = remove_one(dirfd, &v[i]);
            break;
        }
    free(v);
    return rc;
}

int pkie_xfer_partials_expire(int dirfd, time_t ttl, time_t now, unsigned *removed)
{
    struct pkie_xfer_partial *v = NULL;
    size_t n = 0;
    *removed = 0;
    int rc = pkie_xfer_partials_list(dirfd, ttl, now, &v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (v[i].expired && remove_one(dirfd, &v[i]) == 0)
            (*removed)++;
    free(v);
    return rc;
}
