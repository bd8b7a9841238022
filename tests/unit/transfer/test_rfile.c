/* Unit tests: the receiver's file state machine (partial, checkpoint, resume,
 * hash, rename, overwrite, ENOSPC via an injected write function, locking). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

struct fx {
    char dir[64];
    int dirfd;
    struct pkie_xfer_recv_conf c;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    strcpy(x->dir, "/tmp/pkie-rfile-XXXXXX");
    if (mkdtemp(x->dir) == NULL)
        return -1;
    x->dirfd = open(x->dir, O_RDONLY | O_DIRECTORY);
    pkie_xfer_recv_conf_init(&x->c, x->dirfd);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    DIR *d = opendir(x->dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(x->dirfd, e->d_name, 0);
    closedir(d);
    close(x->dirfd);
    rmdir(x->dir);
    free(x);
    return 0;
}

static void mkfile(struct pkie_xfer_file *f, const char *name, uint64_t size, uint8_t tidbyte)
{
    memset(f, 0, sizeof(*f));
    memset(f->tid, tidbyte, sizeof(f->tid));
    f->size = size;
    f->mode = 0644;
    f->name_len = strlen(name);
    memcpy(f->name, name, f->name_len + 1);
}

static void sha(const void *p, size_t n, uint8_t out[32])
{
    unsigned l = 0;
    assert_int_equal(EVP_Digest(p, n, out, &l, EVP_sha256(), NULL), 1);
}

static int exists(struct fx *x, const char *name)
{
    struct stat st;
    return fstatat(x->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int count_entries(struct fx *x)
{
    DIR *d = opendir(x->dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_complete(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    const char data[] = "hello, world";
    uint8_t h[32];
    sha(data, sizeof(data), h);
    mkfile(&f, "a.txt", sizeof(data), 1);
    struct pkie_xfer_rfile *rf;
    uint64_t off = 99;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(off, 0);
    char part[300];
    assert_int_equal(pkie_xfer_partial_name("a.txt", f.tid, "part", part, sizeof(part)), 0);
    assert_true(exists(x, part));
    assert_false(exists(x, "a.txt"));
    assert_int_equal(pkie_xfer_rfile_write(rf, data, 5), 0);
    assert_int_equal(pkie_xfer_rfile_write(rf, data + 5, sizeof(data) - 5), 0);
    /* past the announced size */
    assert_int_equal(pkie_xfer_rfile_write(rf, "x", 1), PKIE_ERR_XFER_TOO_BIG);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    assert_true(exists(x, "a.txt"));
    assert_false(exists(x, part));
    assert_int_equal(count_entries(x), 1); /* state file removed too */
    struct stat st;
    assert_int_equal(fstatat(x->dirfd, "a.txt", &st, 0), 0);
    assert_int_equal(st.st_size, sizeof(data));
    assert_int_equal(st.st_mode & 0777, 0644);

    /* exists: refused without overwrite, replaced with it */
    mkfile(&f, "a.txt", 1, 2);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), PKIE_ERR_XFER_EXISTS);
    x->c.overwrite = 1;
    sha("Z", 1, h);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_write(rf, "Z", 1), 0);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    assert_int_equal(fstatat(x->dirfd, "a.txt", &st, 0), 0);
    assert_int_equal(st.st_size, 1);
}

static void test_zero_bytes_and_refusals(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    uint8_t h[32];
    sha("", 0, h);
    mkfile(&f, "empty", 0, 3);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    assert_true(exists(x, "empty"));

    mkfile(&f, "../escape", 1, 4);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), PKIE_ERR_XFER_NAME);
    mkfile(&f, "big", 1000, 4);
    x->c.max_file_size = 999;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), PKIE_ERR_XFER_TOO_BIG);
    assert_int_equal(count_entries(x), 1);
}

static void test_resume(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf, *rf2;
    uint64_t off;
    uint8_t data[10000], h[32];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    sha(data, sizeof(data), h);
    x->c.checkpoint_bytes = 4096;
    mkfile(&f, "r.bin", sizeof(data), 5);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    /* the same transfer id cannot be opened twice at once */
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf2, &off), PKIE_ERR_XFER_BUSY);
    assert_int_equal(pkie_xfer_rfile_write(rf, data, 5000), 0); /* checkpoint at 5000 */
    assert_int_equal(pkie_xfer_rfile_write(rf, data + 5000, 1000), 0);
    /* simulate a crash after the checkpoint: bytes past it are not durable */
    char state_name[300];
    assert_int_equal(pkie_xfer_partial_name("r.bin", f.tid, "state", state_name, 300), 0);
    int sfd = openat(x->dirfd, state_name, O_RDONLY);
    char rec[200] = "";
    assert_true(read(sfd, rec, sizeof(rec) - 1) > 0);
    close(sfd);
    assert_non_null(strstr(rec, " 5000\n"));
    pkie_xfer_rfile_close(rf); /* a clean close checkpoints what it has: 6000 */

    /* resume: a different size for the same id is refused */
    struct pkie_xfer_file g = f;
    g.size = 1;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &g, &rf, &off), PKIE_ERR_XFER_RESUME);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(off, 6000);
    assert_int_equal(pkie_xfer_rfile_resumed_from(rf), 6000);
    assert_int_equal(pkie_xfer_rfile_write(rf, data + 6000, sizeof(data) - 6000), 0);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    assert_true(exists(x, "r.bin"));
    assert_int_equal(count_entries(x), 1);
}

static void test_resume_cuts_undurable_tail(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    uint8_t data[8192], h[32];
    memset(data, 'q', sizeof(data));
    sha(data, sizeof(data), h);
    x->c.checkpoint_bytes = 4096;
    mkfile(&f, "t.bin", sizeof(data), 6);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_write(rf, data, 4096), 0);
    pkie_xfer_rfile_close(rf);
    /* garbage appended behind the durable offset (as after a crash) */
    char part[300];
    pkie_xfer_partial_name("t.bin", f.tid, "part", part, sizeof(part));
    int pfd = openat(x->dirfd, part, O_WRONLY | O_APPEND);
    assert_int_equal(write(pfd, "GARBAGE", 7), 7);
    close(pfd);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(off, 4096);
    assert_int_equal(pkie_xfer_rfile_write(rf, data + 4096, 4096), 0);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
}

static void test_hash_mismatch(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    uint8_t h[32];
    sha("abcd", 4, h);
    mkfile(&f, "h.txt", 4, 7);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    /* END before all bytes */
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), PKIE_ERR_XFER_UNEXPECTED);
    assert_int_equal(pkie_xfer_rfile_write(rf, "abce", 4), 0);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), PKIE_ERR_XFER_HASH);
    pkie_xfer_rfile_close(rf);
    assert_false(exists(x, "h.txt"));
    assert_int_equal(count_entries(x), 0); /* partial and state removed */
}

static int fail_after;
static ssize_t enospc_write(int fd, const void *buf, size_t len, off_t off, void *arg)
{
    (void)arg;
    if (off + (off_t)len > fail_after) {
        if (off >= fail_after) {
            errno = ENOSPC;
            return -1;
        }
        len = (size_t)(fail_after - off); /* a short write first, as a full disk does */
    }
    return pwrite(fd, buf, len, off);
}

static void test_enospc(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    uint8_t data[3000], h[32];
    memset(data, 'd', sizeof(data));
    sha(data, sizeof(data), h);
    fail_after = 1500;
    x->c.write_fn = enospc_write;
    mkfile(&f, "full.bin", sizeof(data), 8);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_write(rf, data, 1000), 0);
    assert_int_equal(pkie_xfer_rfile_write(rf, data + 1000, 1000), PKIE_ERR_XFER_DISK_FULL);
    assert_int_equal(pkie_xfer_rfile_offset(rf), 1500);
    pkie_xfer_rfile_close(rf); /* partial kept, durable at 1500 */
    assert_false(exists(x, "full.bin"));
    x->c.write_fn = NULL; /* space freed */
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(off, 1500);
    assert_int_equal(pkie_xfer_rfile_write(rf, data + 1500, 1500), 0);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    assert_true(exists(x, "full.bin"));
}

/* Whether files in the fixture's directory get direct I/O (statx reports its alignment). */
static int dir_has_dio(struct fx *x)
{
    int fd = openat(x->dirfd, "probe", O_RDWR | O_CREAT, 0600);
    struct statx sx;
    int ok = fd >= 0 && statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
             (sx.stx_mask & STATX_DIOALIGN) != 0 && sx.stx_dio_offset_align != 0 &&
             sx.stx_dio_offset_align <= 4096 && sx.stx_dio_mem_align <= 4096;
    if (fd >= 0)
        close(fd);
    unlinkat(x->dirfd, "probe", 0);
    return ok;
}

static uint8_t *pattern(size_t n)
{
    uint8_t *d = malloc(n);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(i * 167 + (i >> 13));
    return d;
}

/* Write @p data[from, to) in uneven pieces. */
static void write_pieces(struct pkie_xfer_rfile *rf, const uint8_t *data, size_t from, size_t to)
{
    while (from < to) {
        size_t n = to - from < 100003 ? to - from : 100003;
        assert_int_equal(pkie_xfer_rfile_write(rf, data + from, n), 0);
        from += n;
    }
}

static void check_content(struct fx *x, const char *name, const uint8_t *data, size_t n)
{
    int fd = openat(x->dirfd, name, O_RDONLY);
    assert_true(fd >= 0);
    uint8_t *got = malloc(n + 1);
    assert_int_equal(read(fd, got, n + 1), (ssize_t)n);
    assert_memory_equal(got, data, n);
    free(got);
    close(fd);
}

/* The durable offset in the state file of @p f (0: none yet). */
static uint64_t recorded_offset(struct fx *x, const struct pkie_xfer_file *f)
{
    char name[300], rec[200] = "";
    assert_int_equal(pkie_xfer_partial_name(f->name, f->tid, "state", name, sizeof(name)), 0);
    int fd = openat(x->dirfd, name, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, rec, sizeof(rec) - 1);
    close(fd);
    unsigned long long size = 0, off = 0;
    char tid[40];
    if (n <= 0 || sscanf(rec, "PKIEPART 1 %39s %llu %llu", tid, &size, &off) != 3)
        return 0;
    return off;
}

/* A large file through the direct writer: checkpoints at unaligned offsets,
 * an interrupted session, a resume from an unaligned durable offset. */
static void test_direct_resume(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    const size_t n = (9u << 20) + 777, cut = (5u << 20) + 12345;
    uint8_t *data = pattern(n), h[32];
    sha(data, n, h);
    int dio = dir_has_dio(x);
    if (!dio)
        print_message("note: no direct I/O in %s: the buffered path runs\n", x->dir);
    x->c.direct_min = 1;
    x->c.checkpoint_bytes = 1u << 20;
    mkfile(&f, "d.bin", n, 11);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_direct(rf), dio);
    write_pieces(rf, data, 0, cut);
    /* a checkpoint is recorded while the session goes on (in the background
     * with direct I/O: a whole 4 MiB buffer) */
    uint64_t rec = 0;
    for (int i = 0; i < 500 && rec == 0; i++) {
        rec = recorded_offset(x, &f);
        if (rec == 0)
            usleep(10000);
    }
    assert_true(rec >= (dio ? 4u << 20 : 1u << 20) && rec <= cut);
    pkie_xfer_rfile_close(rf); /* interrupted: everything received is made durable */
    assert_int_equal(recorded_offset(x, &f), cut);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(off, cut);
    assert_int_equal(pkie_xfer_rfile_direct(rf), dio);
    write_pieces(rf, data, cut, n);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    check_content(x, "d.bin", data, n);
    assert_int_equal(count_entries(x), 1);
    /* direct_io off, or less than direct_min to come: the page cache */
    x->c.direct_io = 0;
    mkfile(&f, "e.bin", n, 12);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_direct(rf), 0);
    pkie_xfer_rfile_close(rf);
    x->c.direct_io = 1;
    x->c.direct_min = n + 1;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(pkie_xfer_rfile_direct(rf), 0);
    pkie_xfer_rfile_close(rf);
    free(data);
}

/* At most 8 files at once get direct I/O in a process; the others go
 * through the page cache, and a closed one gives its place back. */
static void test_direct_limit(void **state)
{
    struct fx *x = *state;
    int dio = dir_has_dio(x);
    x->c.direct_min = 1;
    struct pkie_xfer_rfile *rf[10];
    struct pkie_xfer_file f;
    uint64_t off;
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "lim%d", i);
        mkfile(&f, name, 1u << 20, (uint8_t)(20 + i));
        assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf[i], &off), 0);
        assert_int_equal(pkie_xfer_rfile_direct(rf[i]), dio && i < 8);
    }
    pkie_xfer_rfile_close(rf[3]);
    mkfile(&f, "lim-again", 1u << 20, 40);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf[3], &off), 0);
    assert_int_equal(pkie_xfer_rfile_direct(rf[3]), dio);
    for (int i = 0; i < 10; i++)
        pkie_xfer_rfile_close(rf[i]);
    /* all places given back */
    mkfile(&f, "lim-last", 1u << 20, 41);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf[0], &off), 0);
    assert_int_equal(pkie_xfer_rfile_direct(rf[0]), dio);
    pkie_xfer_rfile_close(rf[0]);
}

/* A full disk under the direct writer: DISK_FULL (now or at a later write),
 * no more data taken, the written prefix recorded; a new session resumes. */
static void test_direct_enospc(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    const size_t n = (9u << 20) + 5;
    uint8_t *data = pattern(n), h[32];
    sha(data, n, h);
    x->c.direct_min = 1;
    x->c.write_fn = enospc_write;
    fail_after = (6 << 20) + 8192; /* aligned: O_DIRECT takes the short write */
    mkfile(&f, "full.bin", n, 13);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    int rc = 0;
    size_t at = 0;
    while (rc == 0 && at < n) {
        size_t k = n - at < 65536 ? n - at : 65536;
        rc = pkie_xfer_rfile_write(rf, data + at, k);
        at += k;
    }
    if (rc == 0)
        rc = pkie_xfer_rfile_finish(rf, h);
    assert_int_equal(rc, PKIE_ERR_XFER_DISK_FULL);
    uint64_t got = pkie_xfer_rfile_offset(rf);
    assert_true(got <= (uint64_t)fail_after);
    assert_int_equal(pkie_xfer_rfile_write(rf, data, 1), PKIE_ERR_STATE);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), PKIE_ERR_STATE);
    pkie_xfer_rfile_close(rf);
    assert_false(exists(x, "full.bin"));
    x->c.write_fn = NULL; /* space freed */
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    assert_int_equal(off, got);
    write_pieces(rf, data, (size_t)off, n);
    assert_int_equal(pkie_xfer_rfile_finish(rf, h), 0);
    pkie_xfer_rfile_close(rf);
    check_content(x, "full.bin", data, n);
    free(data);
}

static void test_symlink_refused(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file f;
    struct pkie_xfer_rfile *rf;
    uint64_t off;
    mkfile(&f, "s.txt", 1, 9);
    char part[300];
    pkie_xfer_partial_name("s.txt", f.tid, "state", part, sizeof(part));
    assert_int_equal(symlinkat("/etc/passwd", x->dirfd, part), 0);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), PKIE_ERR_XFER_FILE);
    /* the final name as a dangling symlink counts as existing */
    mkfile(&f, "link", 1, 10);
    assert_int_equal(symlinkat("/nonexistent", x->dirfd, "link"), 0);
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), PKIE_ERR_XFER_EXISTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_bytes_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_cuts_undurable_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
