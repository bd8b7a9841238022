/* Unit tests: partial transfers (partials.c): the name reservation at FILE,
 * the list, removal (never of one in use, unknown ids refused) and expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fx {
    char dir[64];
    int dirfd;
    struct pkie_xfer_recv_conf c;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    strcpy(x->dir, "/tmp/pkie-partials-XXXXXX");
    if (mkdtemp(x->dir) == NULL)
        return -1;
    x->dirfd = open(x->dir, O_RDONLY | O_DIRECTORY);
    pkie_xfer_recv_conf_init(&x->c, x->dirfd);
    x->c.checkpoint_bytes = 1 << 20;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    DIR *d = opendir(x->dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")))
            unlinkat(x->dirfd, e->d_name, 0);
    if (d)
        closedir(d);
    close(x->dirfd);
    rmdir(x->dir);
    free(x);
    return 0;
}

static struct pkie_xfer_file file(const char *name, uint8_t t, uint64_t size)
{
    struct pkie_xfer_file f = {.size = size, .mode = 0600};
    memset(f.tid, t, sizeof(f.tid));
    f.name_len = strlen(name);
    memcpy(f.name, name, f.name_len + 1);
    return f;
}

/* A partial transfer of @p name: @p n bytes written, closed (checkpointed). */
static void make_partial(struct fx *x, const char *name, uint8_t t, size_t n)
{
    struct pkie_xfer_file f = file(name, t, 1000000);
    struct pkie_xfer_rfile *rf = NULL;
    uint64_t off;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &f, &rf, &off), 0);
    uint8_t buf[4096] = {0};
    assert_int_equal(pkie_xfer_rfile_write(rf, buf, n), 0);
    pkie_xfer_rfile_close(rf);
}

static void test_reservation(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_file a1 = file("doc", 0x11, 100), a2 = file("doc", 0x22, 100);
    struct pkie_xfer_file other = file("doc2", 0x33, 100);
    struct pkie_xfer_rfile *rf = NULL, *rf2 = NULL;
    uint64_t off;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &a1, &rf, &off), 0);
    /* the same name under another id: reserved, in use or not */
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &a2, &rf2, &off), PKIE_ERR_XFER_RESERVED);
    assert_null(rf2);
    /* a name that only starts alike is not */
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &other, &rf2, &off), 0);
    pkie_xfer_rfile_close(rf2);
    pkie_xfer_rfile_close(rf);
    assert_int_equal(pkie_xfer_name_reserved(x->dirfd, "doc", a2.tid), PKIE_ERR_XFER_RESERVED);
    assert_int_equal(pkie_xfer_name_reserved(x->dirfd, "doc", a1.tid), 0); /* its own id resumes */
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &a1, &rf, &off), 0);
    pkie_xfer_rfile_close(rf);
    /* a refused FILE leaves no file that would reserve its name */
    struct pkie_xfer_file big = file("huge", 0x44, 5000);
    x->c.max_file_size = 100;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &big, &rf, &off), PKIE_ERR_XFER_TOO_BIG);
    x->c.max_file_size = 0;
    assert_int_equal(pkie_xfer_name_reserved(x->dirfd, "huge", a1.tid), 0);
}

static void test_list_remove_expire(void **state)
{
    struct fx *x = *state;
    make_partial(x, "old", 0x01, 3000);
    make_partial(x, "new", 0x02, 100);
    /* old: its files 8 days old */
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= 8 * 86400;
    t[1] = t[0];
    char p[300];
    uint8_t tid[16];
    memset(tid, 0x01, sizeof(tid));
    assert_int_equal(pkie_xfer_partial_name("old", tid, "part", p, sizeof(p)), 0);
    assert_int_equal(utimensat(x->dirfd, p, t, 0), 0);
    assert_int_equal(pkie_xfer_partial_name("old", tid, "state", p, sizeof(p)), 0);
    assert_int_equal(utimensat(x->dirfd, p, t, 0), 0);

    struct pkie_xfer_partial *v = NULL;
    size_t n = 0;
    time_t now = time(NULL);
    assert_int_equal(pkie_xfer_partials_list(x->dirfd, PKIE_XFER_PARTIAL_TTL_DEFAULT, now, &v, &n),
                     0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        int old = strcmp(v[i].name, "old") == 0;
        assert_true(old || strcmp(v[i].name, "new") == 0);
        assert_string_equal(v[i].tid, old ? "01010101010101010101010101010101"
                                          : "02020202020202020202020202020202");
        assert_int_equal(v[i].expired, old);
        assert_int_equal(v[i].in_use, 0);
        assert_int_equal(v[i].have_part, 1);
        assert_int_equal(v[i].bytes, old ? 3000 : 100);
        assert_int_equal(v[i].size, 1000000);
    }
    free(v);
    /* in use: listed so, never removed */
    struct pkie_xfer_file nf = file("new", 0x02, 1000000);
    struct pkie_xfer_rfile *rf = NULL;
    uint64_t off;
    assert_int_equal(pkie_xfer_rfile_open(&x->c, &nf, &rf, &off), 0);
    assert_int_equal(pkie_xfer_partials_list(x->dirfd, 1, now + 100000, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, "new") == 0)
            assert_true(v[i].in_use && !v[i].expired);
    free(v);
    assert_int_equal(pkie_xfer_partial_remove(x->dirfd, "02020202020202020202020202020202"),
                     PKIE_ERR_XFER_BUSY);
    unsigned removed = 9;
    assert_int_equal(pkie_xfer_partials_expire(x->dirfd, 60, now + 100000, &removed), 0);
    assert_int_equal(removed, 1); /* old only: new is in use */
    pkie_xfer_rfile_close(rf);
    /* unknown and malformed ids */
    assert_int_equal(pkie_xfer_partial_remove(x->dirfd, "03030303030303030303030303030303"),
                     PKIE_ERR_NOT_FOUND);
    assert_int_equal(pkie_xfer_partial_remove(x->dirfd, "0202"), PKIE_ERR_NOT_FOUND);
    assert_int_equal(
        pkie_xfer_partials_expire(x->dirfd, PKIE_XFER_PARTIAL_TTL_DEFAULT, now, &removed), 0);
    assert_int_equal(removed, 0); /* new is fresh */
    assert_int_equal(pkie_xfer_partial_remove(x->dirfd, "02020202020202020202020202020202"), 0);
    assert_int_equal(pkie_xfer_partials_list(x->dirfd, 0, now, &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_remove_expire, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
