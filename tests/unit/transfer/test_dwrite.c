/* Unit tests: the receiver's direct writer (aligned staging buffers, writer
 * thread, unaligned start and end, write errors and the exact written prefix).
 * The files live in the build tree (a disk file system, so O_DIRECT is used
 * where the kernel reports its alignment; the logic is the same with a plain
 * descriptor, which every case also runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUFSZ 8192u

struct fx {
    char dir[512];
    char path[600];
    int bfd;
    int dfd;
    int direct; /* dfd has O_DIRECT */
    uint8_t *data;
    size_t n;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    const char *base = getenv("PKIE_BUILD_DIR");
    snprintf(x->dir, sizeof(x->dir), "%s/pkie-dwrite-XXXXXX", base ? base : "/var/tmp");
    if (mkdtemp(x->dir) == NULL)
        return -1;
    snprintf(x->path, sizeof(x->path), "%s/f", x->dir);
    x->n = 200000;
    x->data = malloc(x->n);
    for (size_t i = 0; i < x->n; i++)
        x->data[i] = (uint8_t)(i * 131 + (i >> 9));
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    unlink(x->path);
    rmdir(x->dir);
    free(x->data);
    free(x);
    return 0;
}

/* Fresh file; dfd with O_DIRECT when @direct and the file system allows it. */
static void open_file(struct fx *x, int direct)
{
    unlink(x->path);
    x->bfd = open(x->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(x->bfd >= 0);
    x->direct = 0;
    x->dfd = -1;
    if (direct) {
        x->dfd = open(x->path, O_WRONLY | O_DIRECT);
        x->direct = x->dfd >= 0;
    }
    if (x->dfd < 0)
        x->dfd = open(x->path, O_WRONLY);
    assert_true(x->dfd >= 0);
}

static void close_file(struct fx *x)
{
    close(x->dfd);
    close(x->bfd);
}

/* The file holds exactly data[0, len). */
static void check_file(struct fx *x, size_t len)
{
    struct stat st;
    assert_int_equal(fstat(x->bfd, &st), 0);
    assert_int_equal((size_t)st.st_size, len);
    uint8_t *got = malloc(len + 1);
    assert_int_equal(pread(x->bfd, got, len + 1, 0), (ssize_t)len);
    assert_memory_equal(got, x->data, len);
    free(got);
}

/* Appends of uneven sizes with flushes in between, each ring size, both descriptors. */
static void test_appends_and_flushes(void **state)
{
    struct fx *x = *state;
    uint32_t seed = 12345;
    int flushes_with_blocks = 0;
    for (int direct = 0; direct <= 1; direct++)
        for (unsigned nbuf = 2; nbuf <= 3; nbuf++) {
            open_file(x, direct);
            struct xfer_dwriter *w;
            assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, nbuf, NULL, NULL, &w), 0);
            size_t at = 0;
            while (at < x->n) {
                seed = seed * 1103515245u + 12345u;
                size_t len = 1 + (seed >> 8) % 12000;
                if (len > x->n - at)
                    len = x->n - at;
                assert_int_equal(xfer_dwriter_append(w, x->data + at, len), 0);
                at += len;
                if ((seed >> 4) % 3 == 0) { /* a checkpoint, mostly at an unaligned offset */
                    flushes_with_blocks += at % BUFSZ >= XFER_DIO_ALIGN;
                    assert_int_equal(xfer_dwriter_flush(w), 0);
                    assert_int_equal(xfer_dwriter_written(w), at);
                    check_file(x, at);
                }
            }
            assert_int_equal(xfer_dwriter_flush(w), 0);
            assert_int_equal(xfer_dwriter_written(w), x->n);
            xfer_dwriter_free(w);
            check_file(x, x->n);
            close_file(x);
        }
    assert_true(flushes_with_blocks >= 4); /* the direct + buffered split of a flush ran */
    open_file(x, 1);
    if (!x->direct)
        print_message("note: no O_DIRECT in %s, plain descriptor only\n", x->dir);
    close_file(x);
}

/* A resumed file: the start is inside a block whose head is already there. */
static void test_unaligned_start(void **state)
{
    struct fx *x = *state;
    for (int direct = 0; direct <= 1; direct++) {
        open_file(x, direct);
        const size_t start = 5000;
        assert_int_equal(pwrite(x->bfd, x->data, start, 0), (ssize_t)start);
        struct xfer_dwriter *w;
        assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, start, BUFSZ, 2, NULL, NULL, &w), 0);
        assert_int_equal(xfer_dwriter_written(w), start);
        assert_int_equal(xfer_dwriter_append(w, x->data + start, 50000), 0);
        assert_int_equal(xfer_dwriter_flush(w), 0);
        xfer_dwriter_free(w);
        check_file(x, start + 50000);
        close_file(x);
    }
}

/* The file is shorter than the start: the head block cannot be read. */
static void test_start_past_end(void **state)
{
    struct fx *x = *state;
    open_file(x, 0);
    assert_int_equal(pwrite(x->bfd, x->data, 100, 0), 100);
    struct xfer_dwriter *w = (struct xfer_dwriter *)1;
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 5000, BUFSZ, 2, NULL, NULL, &w), -EIO);
    assert_null(w);
    close_file(x);
}

static void test_bad_arguments(void **state)
{
    struct fx *x = *state;
    struct xfer_dwriter *w;
    open_file(x, 0);
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 1, NULL, NULL, &w), -EINVAL);
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 9, NULL, NULL, &w), -EINVAL);
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, 1000, 2, NULL, NULL, &w), -EINVAL);
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, 0, 2, NULL, NULL, &w), -EINVAL);
    xfer_dwriter_free(NULL);
    close_file(x);
}

/* Injected write: a short write at fail_at, then ENOSPC (as a full disk);
 * only writes through fail_fd fail (-1: every descriptor). */
static uint64_t fail_at;
static int fail_fd;
static int writes_after_fail;

static ssize_t enospc_write(int fd, const void *buf, size_t len, off_t off, void *arg)
{
    (void)arg;
    if (fail_fd < 0 || fd == fail_fd) {
        if ((uint64_t)off >= fail_at) {
            writes_after_fail++;
            errno = ENOSPC;
            return -1;
        }
        if ((uint64_t)off + len > fail_at)
            len = (size_t)(fail_at - (uint64_t)off);
    }
    return pwrite(fd, buf, len, off);
}

/* A failure in the writer thread: reported by a later append or the flush;
 * the written prefix is exact and nothing is written after the failure. */
static void test_enospc_in_thread(void **state)
{
    struct fx *x = *state;
    for (int direct = 0; direct <= 1; direct++) {
        open_file(x, direct);
        fail_at = 3 * BUFSZ + 4096; /* aligned: a short direct write stays valid */
        fail_fd = -1;
        writes_after_fail = 0;
        struct xfer_dwriter *w;
        assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 2, enospc_write, NULL, &w),
                         0);
        int rc = 0;
        size_t at = 0;
        while (rc == 0 && at + 1000 <= x->n) {
            rc = xfer_dwriter_append(w, x->data + at, 1000);
            at += 1000;
        }
        if (rc == 0)
            rc = xfer_dwriter_flush(w);
        assert_int_equal(rc, -ENOSPC);
        assert_int_equal(xfer_dwriter_flush(w), -ENOSPC); /* sticky */
        assert_int_equal(xfer_dwriter_append(w, x->data, 10), -ENOSPC);
        assert_int_equal(xfer_dwriter_written(w), fail_at);
        xfer_dwriter_free(w);
        assert_int_equal(writes_after_fail, 1);
        check_file(x, fail_at);
        close_file(x);
    }
}

/* A failure writing the unaligned end through the buffered descriptor. */
static void test_enospc_in_tail(void **state)
{
    struct fx *x = *state;
    open_file(x, 1);
    fail_at = 0;
    fail_fd = x->bfd;
    writes_after_fail = 0;
    struct xfer_dwriter *w;
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 2, enospc_write, NULL, &w), 0);
    assert_int_equal(xfer_dwriter_append(w, x->data, BUFSZ + 4096 + 10), 0);
    assert_int_equal(xfer_dwriter_flush(w), -ENOSPC);
    assert_int_equal(xfer_dwriter_written(w), BUFSZ + 4096); /* the whole blocks went out */
    xfer_dwriter_free(w);
    check_file(x, BUFSZ + 4096);
    close_file(x);
}

/* A failure rewriting the head block of an unaligned start: the bytes before
 * the start were in the file and stay counted. */
static void test_enospc_in_head_block(void **state)
{
    struct fx *x = *state;
    open_file(x, 1);
    const size_t start = 5000;
    assert_int_equal(pwrite(x->bfd, x->data, start, 0), (ssize_t)start);
    fail_at = 4096;
    fail_fd = -1;
    writes_after_fail = 0;
    struct xfer_dwriter *w;
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, start, BUFSZ, 2, enospc_write, NULL, &w),
                     0);
    int rc = xfer_dwriter_append(w, x->data + start, 2 * BUFSZ);
    if (rc == 0) /* the writer thread may not have failed yet */
        rc = xfer_dwriter_flush(w);
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(xfer_dwriter_written(w), start);
    xfer_dwriter_free(w);
    check_file(x, start);
    close_file(x);
}

/* Background checkpoints: the callback sees increasing offsets, each one
 * already in the file; a failing callback becomes the writer's error. */
static uint64_t durable_seen[64];
static int durable_count;
static int durable_fail;
static struct fx *durable_fx;

static int record_durable(void *arg, uint64_t offset)
{
    struct stat st;
    if (arg != durable_seen)
        return EFAULT; /* (no cmocka assertion outside the test's thread) */
    if (fstat(durable_fx->bfd, &st) != 0 || (uint64_t)st.st_size < offset)
        return EIO; /* claimed durable before it was written: fails the test below */
    if (durable_count < 64)
        durable_seen[durable_count++] = offset;
    return durable_fail;
}

static void test_autosync(void **state)
{
    struct fx *x = *state;
    open_file(x, 1);
    durable_fx = x;
    durable_count = 0;
    durable_fail = 0;
    struct xfer_dwriter *w;
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 2, NULL, NULL, &w), 0);
    assert_int_equal(xfer_dwriter_autosync(w, 0, record_durable, durable_seen), -EINVAL);
    assert_int_equal(xfer_dwriter_autosync(w, BUFSZ, NULL, NULL), -EINVAL);
    assert_int_equal(xfer_dwriter_autosync(w, 2 * BUFSZ, record_durable, durable_seen), 0);
    assert_int_equal(xfer_dwriter_autosync(w, BUFSZ, record_durable, durable_seen), -EINVAL);
    for (size_t at = 0; at < x->n; at += 1000)
        assert_int_equal(xfer_dwriter_append(w, x->data + at, x->n - at < 1000 ? x->n - at : 1000),
                         0);
    assert_int_equal(xfer_dwriter_flush(w), 0);
    xfer_dwriter_free(w); /* the last request is served before the thread ends */
    check_file(x, x->n);
    assert_true(durable_count >= 1);
    for (int i = 0; i < durable_count; i++) {
        assert_true(durable_seen[i] % BUFSZ == 0); /* whole buffers, written by the thread */
        assert_true(durable_seen[i] >= 2 * BUFSZ);
        if (i > 0)
            assert_true(durable_seen[i] > durable_seen[i - 1]);
    }
    close_file(x);

    /* the callback fails: a later append or the flush reports it */
    open_file(x, 1);
    durable_count = 0;
    durable_fail = EROFS;
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 2, NULL, NULL, &w), 0);
    assert_int_equal(xfer_dwriter_autosync(w, BUFSZ, record_durable, durable_seen), 0);
    int rc = 0;
    for (size_t at = 0; rc == 0 && at + 1000 <= x->n; at += 1000)
        rc = xfer_dwriter_append(w, x->data + at, 1000);
    if (rc == 0)
        rc = xfer_dwriter_flush(w);
    for (int i = 0; rc == 0 && i < 200; i++) { /* the sync thread may still be at it */
        usleep(10000);
        rc = xfer_dwriter_flush(w);
    }
    assert_int_equal(rc, -EROFS);
    xfer_dwriter_free(w);
    close_file(x);
}

/* The digest of what was appended, computed by the writer thread and the
 * flushes: in order, once per byte, not the head block of an unaligned start. */
static void test_hash(void **state)
{
    struct fx *x = *state;
    uint32_t seed = 777;
    for (int round = 0; round < 2; round++) {
        open_file(x, 1);
        const size_t start = round == 0 ? 0 : 6001;
        assert_int_equal(pwrite(x->bfd, x->data, start, 0), (ssize_t)start);
        struct xfer_dwriter *w;
        assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, start, BUFSZ, 3, NULL, NULL, &w), 0);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
        assert_int_equal(xfer_dwriter_hash(w, NULL), -EINVAL);
        assert_int_equal(xfer_dwriter_hash(w, md), 0);
        assert_int_equal(xfer_dwriter_hash(w, md), -EINVAL); /* once */
        size_t at = start;
        while (at < x->n) {
            seed = seed * 1103515245u + 12345u;
            size_t len = 1 + (seed >> 8) % 20000;
            if (len > x->n - at)
                len = x->n - at;
            assert_int_equal(xfer_dwriter_append(w, x->data + at, len), 0);
            at += len;
            if ((seed >> 4) % 4 == 0)
                assert_int_equal(xfer_dwriter_flush(w), 0);
        }
        assert_int_equal(xfer_dwriter_flush(w), 0);
        uint8_t got[32], want[32];
        unsigned l = 0;
        assert_int_equal(EVP_DigestFinal_ex(md, got, &l), 1);
        assert_int_equal(EVP_Digest(x->data + start, x->n - start, want, &l, EVP_sha256(), NULL),
                         1);
        assert_memory_equal(got, want, 32);
        xfer_dwriter_free(w);
        EVP_MD_CTX_free(md);
        check_file(x, x->n);
        close_file(x);
    }
    /* too late once data came */
    open_file(x, 1);
    struct xfer_dwriter *w;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(xfer_dwriter_start(x->dfd, x->bfd, 0, BUFSZ, 2, NULL, NULL, &w), 0);
    assert_int_equal(xfer_dwriter_append(w, x->data, 10), 0);
    assert_int_equal(xfer_dwriter_hash(w, md), -EINVAL);
    xfer_dwriter_free(w);
    EVP_MD_CTX_free(md);
    close_file(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appends_and_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unaligned_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_past_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_in_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_in_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_in_head_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_autosync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
