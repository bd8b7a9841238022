/*
 * The receiver's per-partner inbound directories (partner.NAME.dir, default
 * DIR/NAME): opened once per configuration, created 0750 when missing,
 * refused when the last component is a symbolic link, not a directory or
 * writable by others. Every file of a partner, its partial and state files,
 * its rename, reservation and expiry happen relative to that directory's
 * descriptor (rfile.c, partials.c).
 */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pkie_xfer_partner_name_check(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > PKIE_XFER_NAME_MAX)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "partner name of %zu bytes (1..%d)", n,
                        PKIE_XFER_NAME_MAX);
    if (name[0] == '.')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                        "partner %s: a name with a leading dot is no directory name "
                        "(give partner.%s.dir)",
                        name, name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c < 0x20 || c == 0x7f)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                            "partner name holds '/' or a control character: no directory name "
                            "(give partner.NAME.dir)");
    }
    return 0;
}

int pkie_xfer_partner_dir_path(const struct pkie_xfer_conf *c, const struct pkie_xfer_partner *p,
                               char *out, size_t cap)
{
    int n;
    if (p->dir != NULL) {
        n = snprintf(out, cap, "%s", p->dir);
    } else {
        if (c->dir == NULL)
            return PKIE_ERR(PKIE_ERR_CONF_MISSING, "partner %s: no partner.%s.dir and no dir",
                            p->name, p->name);
        int rc = pkie_xfer_partner_name_check(p->name);
        if (rc != 0)
            return rc;
        n = snprintf(out, cap, "%s/%s", c->dir, p->name);
    }
    if (n < 0 || (size_t)n >= cap)
        return PKIE_ERR(PKIE_ERR_LIMIT, "partner %s: directory path too long", p->name);
    return 0;
}

/* Open the directory @p path relative to @p atfd (creating it when missing and
 * @p create), checked. *fd: the descriptor, or -1 when missing and not
 * created. @p shown names it in errors. */
static int open_dir(int atfd, const char *path, int create, const char *who, const char *shown,
                    int *fd)
{
    *fd = -1;
    int created = 0;
    if (create) {
        if (mkdirat(atfd, path, 0700) == 0)
            created = 1; /* 0700 until its mode is set below: never wider meanwhile */
        else if (errno != EEXIST)
            return PKIE_ERR(PKIE_ERR_XFER_FILE, "partner %s: cannot create directory %s: %s", who,
                            shown, strerror(errno));
    }
    int d = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0) {
        int e = errno;
        struct stat st;
        if (fstatat(atfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return PKIE_ERR(PKIE_ERR_XFER_FILE,
                            "partner %s: %s is a symbolic link: refused (name the directory "
                            "itself in partner.%s.dir)",
                            who, shown, who);
        if (e == ENOTDIR)
            return PKIE_ERR(PKIE_ERR_XFER_FILE, "partner %s: %s exists and is not a directory", who,
                            shown);
        if (e == ENOENT && !create)
            return 0;
        return PKIE_ERR(PKIE_ERR_XFER_FILE, "partner %s: directory %s: %s", who, shown,
                        strerror(e));
    }
    struct stat st;
    int rc = 0;
    if (fstat(d, &st) != 0) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "partner %s: %s: %s", who, shown, strerror(errno));
    } else if (created && st.st_uid == geteuid() &&
               fchmod(d, 0750 | (st.st_mode & S_ISGID)) != 0) { /* a set-group-ID DIR stays so */
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "partner %s: chmod 0750 %s: %s", who, shown,
                      strerror(errno));
    } else if (st.st_mode & S_IWOTH) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE,
                      "partner %s: directory %s is writable by others (mode %04o): refused", who,
                      shown, (unsigned)(st.st_mode & 07777));
    } else if (faccessat(d, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "partner %s: directory %s is not writable by us: %s", who,
                      shown, strerror(errno));
    }
    if (rc != 0) {
        close(d);
        return rc;
    }
    *fd = d;
    return 0;
}

void pkie_xfer_partner_dirs_close(struct pkie_xfer_conf *c)
{
    for (size_t i = 0; i < c->n_partners; i++) {
        if (c->partners[i].dirfd >= 0)
            close(c->partners[i].dirfd);
        c->partners[i].dirfd = -1;
    }
}

int pkie_xfer_partner_dirs_open(struct pkie_xfer_conf *c, int create)
{
    int dfd = -1, rc = 0;
    pkie_xfer_partner_dirs_close(c);
    for (size_t i = 0; rc == 0 && i < c->n_partners; i++) {
        struct pkie_xfer_partner *p = &c->partners[i];
        if (p->n_subjects == 0)
            continue; /* a partner we only send to */
        char path[4096];
        if ((rc = pkie_xfer_partner_dir_path(c, p, path, sizeof(path))) != 0)
            break;
        if (p->dir != NULL) {
            rc = open_dir(AT_FDCWD, p->dir, create, p->name, path, &p->dirfd);
            continue;
        }
        /* DIR/NAME: made and opened relative to DIR, by one component */
        if (dfd < 0 && (dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            rc = PKIE_ERR(PKIE_ERR_XFER_FILE, "destination %s: %s", c->dir, strerror(errno));
            break;
        }
        rc = open_dir(dfd, p->name, create, p->name, path, &p->dirfd);
    }
    if (dfd >= 0)
        close(dfd);
    if (rc != 0)
        pkie_xfer_partner_dirs_close(c);
    return rc;
}

int pkie_xfer_inboxes_each(const struct pkie_xfer_conf *c, int dir_fd, const char *only,
                           pkie_xfer_inbox_fn fn, void *arg)
{
    struct box {
        dev_t dev;
        ino_t ino;
        int fd;
        char *partners;
    } *v = calloc(c->n_partners + 1, sizeof(*v));
    size_t n = 0;
    int rc = 0;
    if (v == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "inboxes");
    const struct pkie_xfer_partner *want = NULL;
    if (only != NULL) {
        want = pkie_xfer_conf_partner(c, only);
        if (want == NULL || want->dirfd < 0) {
            free(v);
            return PKIE_ERR(PKIE_ERR_NOT_FOUND, "no partner %s with a directory", only);
        }
    }
    for (size_t i = 0; rc == 0 && i <= c->n_partners; i++) {
        int fd = i < c->n_partners ? c->partners[i].dirfd : dir_fd;
        const char *name = i < c->n_partners ? c->partners[i].name : "-";
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0)
            continue;
        size_t k = 0;
        while (k < n && !(v[k].dev == st.st_dev && v[k].ino == st.st_ino))
            k++;
        if (i == c->n_partners && k < n)
            break; /* DIR is also a partner's directory */
        if (k == n) {
            v[n].dev = st.st_dev;
            v[n].ino = st.st_ino;
            v[n].fd = fd;
            n++;
        }
        size_t had = v[k].partners ? strlen(v[k].partners) : 0;
        char *np = realloc(v[k].partners, had + 1 + strlen(name) + 1);
        if (np == NULL) {
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "inboxes");
            break;
        }
        v[k].partners = np;
        snprintf(np + had, 1 + strlen(name) + 1, "%s%s", had ? "," : "", name);
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
        if (want != NULL) {
            struct stat st;
            if (fstat(want->dirfd, &st) != 0 || st.st_dev != v[k].dev || st.st_ino != v[k].ino)
                continue;
        }
        rc = fn(arg, v[k].fd, v[k].partners);
    }
    for (size_t k = 0; k < n; k++)
        free(v[k].partners);
    free(v);
    return rc;
}
