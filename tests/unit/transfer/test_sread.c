/* Unit tests: the sender's read-ahead (chunks in order with headroom, the
 * digest of the range, a file that shrank or changed, a read error, early
 * stop, bad arguments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEAD  5u
#define CHUNK 10000u

struct fx {
    char path[64];
    int fd;
    uint8_t *data;
    size_t n;
    EVP_MD_CTX *md;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    strcpy(x->path, "/tmp/pkie-sread-XXXXXX");
    x->fd = mkstemp(x->path);
    if (x->fd < 0)
        return -1;
    x->n = 123457;
    x->data = malloc(x->n);
    for (size_t i = 0; i < x->n; i++)
        x->data[i] = (uint8_t)(i * 31 + (i >> 11));
    if (write(x->fd, x->data, x->n) != (ssize_t)x->n)
        return -1;
    x->md = EVP_MD_CTX_new();
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    close(x->fd);
    unlink(x->path);
    EVP_MD_CTX_free(x->md);
    free(x->data);
    free(x);
    return 0;
}

static void sha_of(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned l = 0;
    assert_int_equal(EVP_Digest(p, n, out, &l, EVP_sha256(), NULL), 1);
}

/* Read [pos, size) and check order, sizes, headroom and digest. */
static void read_range(struct fx *x, uint64_t pos, uint64_t size, unsigned nbuf)
{
    assert_int_equal(EVP_DigestInit_ex(x->md, EVP_sha256(), NULL), 1);
    struct xfer_sreader *r;
    assert_int_equal(xfer_sreader_start(x->fd, pos, size, CHUNK, nbuf, HEAD, x->md, NULL, &r), 0);
    uint64_t at = pos;
    uint8_t *b;
    size_t n;
    int rc;
    while ((rc = xfer_sreader_next(r, &b, &n)) == 0) {
        assert_true(n > 0 && n <= CHUNK);
        assert_true(n == CHUNK || at + n == size); /* only the last one is short */
        assert_memory_equal(b + HEAD, x->data + at, n);
        memset(b, 0xee, HEAD); /* the headroom is the caller's */
        at += n;
    }
    assert_int_equal(rc, 1);
    assert_int_equal(at, size);
    assert_int_equal(xfer_sreader_next(r, &b, &n), 1); /* stays at the end */
    xfer_sreader_free(r);
    uint8_t got[32], want[32];
    unsigned l = 0;
    assert_int_equal(EVP_DigestFinal_ex(x->md, got, &l), 1);
    sha_of(x->data + pos, (size_t)(size - pos), want);
    assert_memory_equal(got, want, 32);
}

static void test_ranges(void **state)
{
    struct fx *x = *state;
    read_range(x, 0, x->n, 2);
    read_range(x, 0, x->n, 8);
    read_range(x, 54321, x->n, 3);  /* a resumed transfer */
    read_range(x, 0, 3 * CHUNK, 2); /* an exact multiple */
    read_range(x, x->n, x->n, 2);   /* nothing left */
    read_range(x, x->n - 1, x->n, 2);
}

/* The file is shorter than announced: what is there goes out, then -ENODATA. */
static void test_shrank(void **state)
{
    struct fx *x = *state;
    assert_int_equal(EVP_DigestInit_ex(x->md, EVP_sha256(), NULL), 1);
    struct xfer_sreader *r;
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n + 100, CHUNK, 4, HEAD, x->md, NULL, &r), 0);
    uint8_t *b;
    size_t n, total = 0;
    int rc;
    while ((rc = xfer_sreader_next(r, &b, &n)) == 0)
        total += n;
    assert_int_equal(rc, -ENODATA);
    assert_int_equal(total, x->n / CHUNK * CHUNK); /* whole chunks before the short read */
    assert_int_equal(xfer_sreader_next(r, &b, &n), -ENODATA); /* sticky */
    xfer_sreader_free(r);
}

static void test_read_error(void **state)
{
    struct fx *x = *state;
    int wfd = open(x->path, O_WRONLY);
    assert_true(wfd >= 0);
    assert_int_equal(EVP_DigestInit_ex(x->md, EVP_sha256(), NULL), 1);
    struct xfer_sreader *r;
    assert_int_equal(xfer_sreader_start(wfd, 0, x->n, CHUNK, 2, HEAD, x->md, NULL, &r), 0);
    uint8_t *b;
    size_t n;
    assert_int_equal(xfer_sreader_next(r, &b, &n), -EBADF);
    xfer_sreader_free(r);
    close(wfd);
}

/* Freed while reading ahead (the session broke off): no hang, no leak. */
static void test_early_stop(void **state)
{
    struct fx *x = *state;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(EVP_DigestInit_ex(x->md, EVP_sha256(), NULL), 1);
        struct xfer_sreader *r;
        assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, 1000, 2, HEAD, x->md, NULL, &r), 0);
        uint8_t *b;
        size_t n;
        if (i % 2 == 0)
            assert_int_equal(xfer_sreader_next(r, &b, &n), 0);
        xfer_sreader_free(r);
    }
    xfer_sreader_free(NULL);
}

static void test_bad_arguments(void **state)
{
    struct fx *x = *state;
    struct xfer_sreader *r = (struct xfer_sreader *)1;
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, CHUNK, 1, HEAD, x->md, NULL, &r), -EINVAL);
    assert_null(r);
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, CHUNK, 9, HEAD, x->md, NULL, &r), -EINVAL);
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, 0, 2, HEAD, x->md, NULL, &r), -EINVAL);
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, CHUNK, 2, HEAD, NULL, NULL, &r), -EINVAL);
    assert_int_equal(xfer_sreader_start(x->fd, 10, 9, CHUNK, 2, HEAD, x->md, NULL, &r), -EINVAL);
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, SIZE_MAX / 2, 2, HEAD, x->md, NULL, &r),
                     -EINVAL);
}

/* A file written in place while read (same size): -ESTALE, and no chunk read
 * after the change is handed out; unchanged with an identity: read to the end;
 * xfer_src_same's negative cases. */
static void test_changed(void **state)
{
    struct fx *x = *state;
    struct timespec old[2];
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 3600;
    old[1] = old[0];
    assert_int_equal(futimens(x->fd, old), 0);
    struct stat st0, st;
    assert_int_equal(fstat(x->fd, &st0), 0);
    assert_int_equal(xfer_src_same(&st0, &st0), 1);
    st = st0;
    st.st_ino++;
    assert_int_equal(xfer_src_same(&st0, &st), 0);
    st = st0;
    st.st_ctim.tv_nsec ^= 1;
    assert_int_equal(xfer_src_same(&st0, &st), 0);
    st = st0;
    st.st_size--;
    assert_int_equal(xfer_src_same(&st0, &st), 0);

    /* unchanged: every chunk, then done */
    assert_int_equal(EVP_DigestInit_ex(x->md, EVP_sha256(), NULL), 1);
    struct xfer_sreader *r;
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, CHUNK, 2, HEAD, x->md, &st0, &r), 0);
    uint8_t *b;
    size_t n, total = 0;
    int e;
    while ((e = xfer_sreader_next(r, &b, &n)) == 0)
        total += n;
    assert_int_equal(e, 1);
    assert_int_equal(total, x->n);
    xfer_sreader_free(r);

    /* written in place after the first chunk was taken: the reader, held by
     * its two buffers, reads the third chunk after the change and stops */
    assert_int_equal(EVP_DigestInit_ex(x->md, EVP_sha256(), NULL), 1);
    assert_int_equal(xfer_sreader_start(x->fd, 0, x->n, CHUNK, 2, HEAD, x->md, &st0, &r), 0);
    assert_int_equal(xfer_sreader_next(r, &b, &n), 0);
    uint8_t z = 0x5a;
    assert_int_equal(pwrite(x->fd, &z, 1, (off_t)x->n - 1), 1);
    total = n;
    while ((e = xfer_sreader_next(r, &b, &n)) == 0)
        total += n;
    assert_int_equal(e, -ESTALE);
    assert_true(total <= 2u * CHUNK); /* nothing read after the change went out */
    xfer_sreader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
