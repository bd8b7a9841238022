/* The CMP exit's files: private directory, atomic writes, PEM loading. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cmpx_state.h"
#include "pkie/error.h"

int cmpx_dir_prepare(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return PKIE_ERR(PKIE_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return PKIE_ERR(PKIE_ERR_IO, "%s is not a directory", dir);
    if ((st.st_mode & 0777) != 0700 && chmod(dir, 0700) != 0)
        return PKIE_ERR(PKIE_ERR_IO, "chmod 0700 %s: %s", dir, strerror(errno));
    return 0;
}

int cmpx_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return PKIE_ERR(PKIE_ERR_LIMIT, "path %s/%s too long", dir, name);
    return 0;
}

int cmpx_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int rc = cmpx_path(path, sizeof(path), dir, name);
    /* a temporary per file and process: processes sharing the directory
     * (parallel pkie send runs) never write into each other's temporary */
    char tname[NAME_MAX + 1];
    int n = snprintf(tname, sizeof(tname), ".tmp-%s.%ld", name, (long)getpid());
    if (rc == 0 && (n < 0 || (size_t)n >= sizeof(tname)))
        rc = PKIE_ERR(PKIE_ERR_LIMIT, "file name %s too long", name);
    if (rc == 0)
        rc = cmpx_path(tmp, sizeof(tmp), dir, tname);
    if (rc != 0)
        return rc;
    unlink(tmp); /* left by a crashed process that had our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = PKIE_ERR(PKIE_ERR_IO, "write %s: %s", tmp, strerror(errno));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = PKIE_ERR(PKIE_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = PKIE_ERR(PKIE_ERR_IO, "rename %s: %s", path, strerror(errno));
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int cmpx_write_bio(const char *dir, const char *name, BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        return PKIE_ERR(PKIE_ERR_INTERNAL, "memory BIO");
    return cmpx_write_atomic(dir, name, data, (size_t)n);
}

STACK_OF(X509) *cmpx_load_certs(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL) {
        ERR_clear_error();
        return NULL;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    ERR_clear_error();
    BIO_free(b);
    if (sk != NULL && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

int cmpx_read_secret(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return PKIE_ERR(PKIE_ERR_IO, "secret_file: cannot open %s: %s", path, strerror(errno));
    char *ok = fgets(buf, (int)cap, f);
    fclose(f);
    if (ok == NULL)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "secret_file: %s is empty", path);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "secret_file: %s has an empty first line", path);
    return 0;
}
