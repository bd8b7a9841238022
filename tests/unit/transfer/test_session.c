/* Unit tests: sender and receiver sessions against each other over a socketpair
 * (no TLS), and a raw client sending hostile and malformed frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
    ssize_t n = read(*(int *)ctx, buf, len);
    return n < 0 ? PKIE_ERR(PKIE_ERR_IO, "read: %s", strerror(errno)) : n;
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len)
{
    ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    return n < 0 ? PKIE_ERR(PKIE_ERR_IO, "write: %s", strerror(errno)) : n;
}

struct fx {
    char dir[64], src[64];
    int dirfd;
    struct pkie_xfer_recv_conf c;
    struct pkie_xfer_audit *audit;
    char audit_path[96];
};

struct server {
    struct fx *x;
    int fd;
    struct pkie_xfer_io io;
    int rc;
    struct pkie_xfer_recv_stats st;
    pthread_t th;
};

static void *server_main(void *arg)
{
    struct server *s = arg;
    struct pkie_xfer_peer peer = {.partner = "unit", .addr = "socketpair"};
    s->rc = pkie_xfer_recv_session(&s->x->c, &s->io, &peer, s->x->audit, &s->st);
    shutdown(s->fd, SHUT_RDWR);
    return NULL;
}

/* Start a receiver on one end of a socketpair; returns the other end. */
static int server_start(struct server *s, struct fx *x)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(s, 0, sizeof(*s));
    s->x = x;
    s->fd = sv[0];
    s->io = (struct pkie_xfer_io){fd_read, fd_write, &s->fd};
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
    return sv[1];
}

static int server_join(struct server *s)
{
    pthread_join(s->th, NULL);
    close(s->fd);
    return s->rc;
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    strcpy(x->dir, "/tmp/pkie-sess-XXXXXX");
    strcpy(x->src, "/tmp/pkie-src-XXXXXX");
    if (mkdtemp(x->dir) == NULL || mkdtemp(x->src) == NULL)
        return -1;
    x->dirfd = open(x->dir, O_RDONLY | O_DIRECTORY);
    pkie_xfer_recv_conf_init(&x->c, x->dirfd);
    snprintf(x->audit_path, sizeof(x->audit_path), "%s/audit.log", x->src);
    if (pkie_xfer_audit_open(x->audit_path, &x->audit) != 0)
        return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    pkie_xfer_audit_close(x->audit);
    close(x->dirfd);
    tmptree_remove(x->dir);
    tmptree_remove(x->src);
    free(x);
    return 0;
}

/* Write a source file of @n pseudo-random bytes; returns an open fd. */
static int make_src(struct fx *x, const char *name, size_t n)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", x->src, name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    uint8_t buf[4096];
    uint32_t seed = (uint32_t)n * 2654435761u + 1;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
        for (size_t i = 0; i < k; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        assert_int_equal(write(fd, buf, k), (ssize_t)k);
        done += k;
    }
    return fd;
}

static int same_content(struct fx *x, const char *name)
{
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/%s", x->src, name);
    snprintf(b, sizeof(b), "%s/%s", x->dir, name);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int audit_lines(struct fx *x, const char *needle)
{
    FILE *f = fopen(x->audit_path, "r");
    char line[8192];
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        if (needle == NULL || strstr(line, needle))
            n++;
    if (f)
        fclose(f);
    return n;
}

static void test_files_arrive(void **state)
{
    struct fx *x = *state;
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_sender snd;
    assert_int_equal(pkie_xfer_sender_start(&snd, &io), 0);
    assert_int_equal(snd.version, 1);
    const char *names[] = {"zero", "one", "mib", "odd"};
    size_t sizes[] = {0, 1, 1u << 20, (3u << 20) + 17};
    for (int i = 0; i < 4; i++) {
        int fd = make_src(x, names[i], sizes[i]);
        uint8_t tid[16];
        memset(tid, i + 1, sizeof(tid));
        struct pkie_xfer_send_result res;
        assert_int_equal(
            pkie_xfer_sender_file(&snd, fd, names[i], NULL, tid, 0640, NULL, NULL, &res), 0);
        assert_int_equal(res.size, sizes[i]);
        assert_int_equal(res.bytes_sent, sizes[i]);
        assert_int_equal(res.resume_offset, 0);
        close(fd);
        assert_true(same_content(x, names[i]));
    }
    /* a name the sender itself refuses */
    int fd = make_src(x, "ok", 3);
    uint8_t tid[16] = {9};
    struct pkie_xfer_send_result res;
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, ".hidden", NULL, tid, 0640, NULL, NULL, &res),
                     PKIE_ERR_XFER_NAME);
    /* an existing name: the receiver refuses it, the session goes on */
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "one", NULL, tid, 0640, NULL, NULL, &res),
                     PKIE_ERR_XFER_EXISTS);
    assert_non_null(strstr(res.error, "receiver"));
    assert_int_equal(snd.broken, 0);
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "ok", NULL, tid, 0640, NULL, NULL, &res), 0);
    close(fd);
    pkie_xfer_sender_finish(&snd);
    close(cfd);
    assert_int_equal(server_join(&s), 0);
    assert_int_equal(s.st.files_ok, 5);
    assert_int_equal(s.st.files_failed, 1);
    assert_int_equal(audit_lines(x, "\"result\":\"ok\""), 5);
    assert_int_equal(audit_lines(x, "\"result\":\"refused\""), 1);
}

/* A partner limited to some names (partner.NAME.names): another name is
 * refused at FILE with XFER_DENIED, audited, nothing of it is written, and
 * the session carries the next file. */
static void test_names_denied(void **state)
{
    struct fx *x = *state;
    static const char *const pats[] = {"*.csv", "report-??"};
    x->c.names = pats;
    x->c.n_names = 2;
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_sender snd;
    assert_int_equal(pkie_xfer_sender_start(&snd, &io), 0);
    int fd = make_src(x, "data", 5000);
    uint8_t tid[16];
    memset(tid, 0x41, sizeof(tid));
    struct pkie_xfer_send_result res;
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "data.txt", NULL, tid, 0640, NULL, NULL, &res),
                     PKIE_ERR_XFER_DENIED);
    assert_non_null(strstr(res.error, "not among the names"));
    assert_int_equal(snd.broken, 0);
    assert_int_equal(pkie_xfer_retry_kind(res.code, -1), PKIE_XFER_RETRY_NO);
    /* "report-??": two characters, one of them of two bytes */
    assert_int_equal(
        pkie_xfer_sender_file(&snd, fd, "report-1\xc3\xa9", NULL, tid, 0640, NULL, NULL, &res), 0);
    assert_int_equal(
        pkie_xfer_sender_file(&snd, fd, "report-123", NULL, tid, 0640, NULL, NULL, &res),
        PKIE_ERR_XFER_DENIED);
    memset(tid, 0x42, sizeof(tid));
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "data.csv", NULL, tid, 0640, NULL, NULL, &res),
                     0);
    close(fd);
    pkie_xfer_sender_finish(&snd);
    close(cfd);
    assert_int_equal(server_join(&s), 0);
    assert_int_equal(s.st.files_ok, 2);
    assert_int_equal(s.st.files_failed, 2);
    assert_int_equal(audit_lines(x, "\"result\":\"refused\",\"error\":\"XFER_DENIED: "), 2);
    assert_int_equal(audit_lines(x, "\"file\":\"data.txt\""), 1);
    /* nothing of the refused names in the directory, not even hidden */
    DIR *d = opendir(x->dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        entries++;
        assert_null(strstr(e->d_name, "data.txt"));
        assert_null(strstr(e->d_name, "report-123"));
    }
    closedir(d);
    assert_int_equal(entries, 2);
    x->c.names = NULL;
    x->c.n_names = 0;
}

/* Raw client helpers. */
static void raw_hello(const struct pkie_xfer_io *io, struct pkie_xfer_reader *rd)
{
    struct pkie_xfer_hello h = {1, 1, 0};
    struct pkie_xfer_frame f;
    assert_int_equal(pkie_xfer_send_hello(io, &h), 0);
    assert_int_equal(pkie_xfer_read_frame(rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_HELLO);
}

static int32_t raw_expect_error(struct pkie_xfer_reader *rd)
{
    struct pkie_xfer_frame f;
    struct pkie_xfer_error e;
    assert_int_equal(pkie_xfer_read_frame(rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_ERROR);
    assert_int_equal(pkie_xfer_parse_error(&f, &e), 0);
    return e.code;
}

static void raw_file(const struct pkie_xfer_io *io, const char *name, uint64_t size, uint8_t t)
{
    struct pkie_xfer_file ff = {.size = size, .mode = 0600};
    memset(ff.tid, t, 16);
    ff.name_len = strlen(name);
    memcpy(ff.name, name, ff.name_len + 1);
    assert_int_equal(pkie_xfer_send_file(io, &ff), 0);
}

static void test_hostile_and_malformed(void **state)
{
    struct fx *x = *state;
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_reader rd;
    assert_int_equal(pkie_xfer_reader_init(&rd, &io, 0), 0);
    raw_hello(&io, &rd);
    const char *hostile[] = {"../etc/passwd", "a/b", ".bashrc", "..", "x\x1b[2J", "bad\xff"};
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        raw_file(&io, hostile[i], 1, (uint8_t)(20 + i));
        assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_NAME);
    }
    /* a hash mismatch: refused, partial removed, session goes on */
    raw_file(&io, "h", 2, 30);
    struct pkie_xfer_frame f;
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_RESUME);
    assert_int_equal(pkie_xfer_send_frame(&io, PKIE_XFER_DATA, "hi", 2), 0);
    uint8_t zero[32] = {0};
    assert_int_equal(pkie_xfer_send_end(&io, zero), 0);
    assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_HASH);
    /* DATA where FILE is expected: fatal for the connection */
    assert_int_equal(pkie_xfer_send_frame(&io, PKIE_XFER_DATA, "x", 1), 0);
    assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_UNEXPECTED);
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), PKIE_ERR_XFER_CLOSED);
    pkie_xfer_reader_free(&rd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_UNEXPECTED);
    DIR *d = opendir(x->dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    assert_int_equal(n, 0); /* nothing written */
    assert_int_equal(audit_lines(x, "\"result\":\"refused\""), 6);
    assert_int_equal(audit_lines(x, "XFER_HASH"), 1);
}

static void test_bad_header_and_version(void **state)
{
    struct fx *x = *state;
    /* a garbage header */
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_reader rd;
    assert_int_equal(pkie_xfer_reader_init(&rd, &io, 0), 0);
    raw_hello(&io, &rd);
    uint8_t junk[5] = {PKIE_XFER_DATA, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(pkie_xfer_write_all(&io, junk, 5), 0);
    assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_FRAME_LENGTH);
    pkie_xfer_reader_free(&rd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_FRAME_LENGTH);

    cfd = server_start(&s, x);
    assert_int_equal(pkie_xfer_reader_init(&rd, &io, 0), 0);
    raw_hello(&io, &rd);
    raw_file(&io, "f", 10, 40);
    struct pkie_xfer_frame f;
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    junk[1] = 0x01; /* DATA of 16 MiB + ... over the bound */
    assert_int_equal(pkie_xfer_write_all(&io, junk, 5), 0);
    assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_FRAME_LENGTH);
    pkie_xfer_reader_free(&rd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_FRAME_LENGTH);

    /* no common version */
    cfd = server_start(&s, x);
    assert_int_equal(pkie_xfer_reader_init(&rd, &io, 0), 0);
    struct pkie_xfer_hello h = {2, 9, 0};
    assert_int_equal(pkie_xfer_send_hello(&io, &h), 0);
    assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_VERSION);
    pkie_xfer_reader_free(&rd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_VERSION);

    /* DATA past the announced size */
    cfd = server_start(&s, x);
    assert_int_equal(pkie_xfer_reader_init(&rd, &io, 0), 0);
    raw_hello(&io, &rd);
    raw_file(&io, "g", 1, 41);
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(pkie_xfer_send_frame(&io, PKIE_XFER_DATA, "toolong", 7), 0);
    assert_int_equal(raw_expect_error(&rd), PKIE_ERR_XFER_TOO_BIG);
    pkie_xfer_reader_free(&rd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_TOO_BIG);
}

/* The sender's first FILE follows HELLO before the answer (one version
 * spoken); a peer whose HELLO shares no version still stops the sender before
 * any DATA, and its FILE arrived only after the HELLO. */
static void test_sender_pipelined_hello(void **state)
{
    struct fx *x = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct pkie_xfer_io sio = {fd_read, fd_write, &sv[0]}, pio = {fd_read, fd_write, &sv[1]};
    struct pkie_xfer_sender snd;
    assert_int_equal(pkie_xfer_sender_start(&snd, &sio), 0);
    assert_int_equal(snd.hello_pending, 1);
    struct pkie_xfer_hello h = {2, 9, 0};
    assert_int_equal(pkie_xfer_send_hello(&pio, &h), 0);
    int fd = make_src(x, "p", 100);
    uint8_t tid[PKIE_XFER_TID_LEN] = {7};
    struct pkie_xfer_send_result res;
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "p", NULL, tid, 0640, NULL, NULL, &res),
                     PKIE_ERR_XFER_VERSION);
    assert_int_equal(snd.broken, 1);
    assert_int_equal(res.bytes_sent, 0);
    pkie_xfer_sender_finish(&snd); /* broken: no BYE */
    close(sv[0]);
    /* what the peer got: HELLO, then FILE, then nothing */
    struct pkie_xfer_reader rd;
    struct pkie_xfer_frame f;
    assert_int_equal(pkie_xfer_reader_init(&rd, &pio, 0), 0);
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_HELLO);
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_FILE);
    assert_true(pkie_xfer_read_frame(&rd, &f) != 0);
    pkie_xfer_reader_free(&rd);
    close(sv[1]);
    close(fd);
}

static void test_resume_after_break(void **state)
{
    struct fx *x = *state;
    x->c.checkpoint_bytes = 1u << 20;
    size_t size = (5u << 20) + 3;
    int fd = make_src(x, "big", size);
    uint8_t tid[16];
    memset(tid, 0x42, sizeof(tid));
    /* first connection: FILE and 2.5 MiB of data, then the line drops */
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_reader rd;
    assert_int_equal(pkie_xfer_reader_init(&rd, &io, 0), 0);
    raw_hello(&io, &rd);
    raw_file(&io, "big", size, 0x42);
    struct pkie_xfer_frame f;
    assert_int_equal(pkie_xfer_read_frame(&rd, &f), 0);
    assert_int_equal(f.type, PKIE_XFER_RESUME);
    uint8_t *buf = malloc(1u << 20);
    for (int i = 0; i < 5; i++) {
        ssize_t n = pread(fd, buf, 512u << 10, (off_t)i * (512 << 10));
        assert_int_equal(n, 512 << 10);
        assert_int_equal(pkie_xfer_send_frame(&io, PKIE_XFER_DATA, buf, (uint32_t)n), 0);
    }
    free(buf);
    pkie_xfer_reader_free(&rd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_CLOSED);
    assert_int_equal(audit_lines(x, "\"result\":\"interrupted\""), 1);

    /* second connection resumes where the receiver has it */
    cfd = server_start(&s, x);
    struct pkie_xfer_sender snd;
    assert_int_equal(pkie_xfer_sender_start(&snd, &io), 0);
    struct pkie_xfer_send_result res;
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "big", NULL, tid, 0600, NULL, NULL, &res), 0);
    assert_int_equal(res.resume_offset, 5u * (512u << 10));
    assert_int_equal(res.bytes_sent, size - res.resume_offset);
    pkie_xfer_sender_finish(&snd);
    close(cfd);
    assert_int_equal(server_join(&s), 0);
    close(fd);
    assert_true(same_content(x, "big"));
    assert_int_equal(audit_lines(x, "\"resume_offset\":2621440"), 1);
}

static ssize_t full_disk(int fd, const void *buf, size_t len, off_t off, void *arg)
{
    (void)arg;
    if (off >= (1 << 20)) {
        errno = ENOSPC;
        return -1;
    }
    if (off + (off_t)len > (1 << 20))
        len = (size_t)((1 << 20) - off);
    return pwrite(fd, buf, len, off);
}

static void test_disk_full(void **state)
{
    struct fx *x = *state;
    x->c.write_fn = full_disk;
    size_t size = 4u << 20;
    int fd = make_src(x, "full", size);
    uint8_t tid[16];
    memset(tid, 0x77, sizeof(tid));
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_sender snd;
    assert_int_equal(pkie_xfer_sender_start(&snd, &io), 0);
    struct pkie_xfer_send_result res;
    int rc = pkie_xfer_sender_file(&snd, fd, "full", NULL, tid, 0600, NULL, NULL, &res);
    assert_int_equal(rc, PKIE_ERR_XFER_DISK_FULL);
    /* the receiver's error names the transfer, not its hidden partial file */
    assert_non_null(strstr(res.error, "data of full"));
    assert_null(strstr(res.error, ".part"));
    assert_null(strstr(res.error, ".full."));
    assert_int_equal(snd.broken, 1);
    pkie_xfer_sender_finish(&snd);
    close(cfd);
    assert_int_equal(server_join(&s), PKIE_ERR_XFER_DISK_FULL);
    assert_int_equal(audit_lines(x, "XFER_DISK_FULL"), 1);
    /* space again: the rerun resumes at 1 MiB */
    x->c.write_fn = NULL;
    cfd = server_start(&s, x);
    assert_int_equal(pkie_xfer_sender_start(&snd, &io), 0);
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "full", NULL, tid, 0600, NULL, NULL, &res), 0);
    assert_int_equal(res.resume_offset, 1u << 20);
    pkie_xfer_sender_finish(&snd);
    close(cfd);
    assert_int_equal(server_join(&s), 0);
    close(fd);
    assert_true(same_content(x, "full"));
}

/* What the progress callback does to the source once data went out. */
struct change {
    int fd;          /* rewrite one byte in place through it, or */
    const char *src; /* rename @p other over this path */
    const char *other;
    int done;
};

static void change_source(void *arg, uint64_t done, uint64_t total)
{
    struct change *c = arg;
    (void)total;
    if (done == 0 || c->done)
        return;
    c->done = 1;
    if (c->other != NULL) {
        assert_int_equal(rename(c->other, c->src), 0);
        return;
    }
    uint8_t b;
    assert_int_equal(pread(c->fd, &b, 1, 0), 1);
    b ^= 0xff; /* same size, other content */
    assert_int_equal(pwrite(c->fd, &b, 1, 0), 1);
}

/* The source's times set an hour back: a write now changes them even within
 * the clock tick of the file's creation. */
static void age(int fd)
{
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= 3600;
    t[1] = t[0];
    assert_int_equal(futimens(fd, t), 0);
}

static int partials_left(struct fx *x)
{
    DIR *d = opendir(x->dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".part") || strstr(e->d_name, ".state"))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_source_changed(void **state)
{
    struct fx *x = *state;
    /* inline path (small file), read-ahead path (large), replaced at END */
    const size_t sizes[] = {(1u << 20) + 5, (9u << 20) + 7, 100000};
    const char *names[] = {"inl", "ahead", "swap"};
    char path[256], other[256];
    struct server s;
    int cfd = server_start(&s, x);
    struct pkie_xfer_io io = {fd_read, fd_write, &cfd};
    struct pkie_xfer_sender snd;
    assert_int_equal(pkie_xfer_sender_start(&snd, &io), 0);
    struct pkie_xfer_send_result res;
    uint8_t tid[16];
    for (int i = 0; i < 3; i++) {
        int fd = make_src(x, names[i], sizes[i]);
        age(fd);
        snprintf(path, sizeof(path), "%s/%s", x->src, names[i]);
        snprintf(other, sizeof(other), "%s/other", x->src);
        struct change ch = {.fd = fd};
        if (i == 2) {
            int ofd = make_src(x, "other", sizes[i]);
            close(ofd);
            ch.src = path;
            ch.other = other;
        }
        memset(tid, 0x30 + i, sizeof(tid));
        int rc =
            pkie_xfer_sender_file(&snd, fd, names[i], path, tid, 0600, change_source, &ch, &res);
        assert_int_equal(ch.done, 1);
        assert_int_equal(rc, PKIE_ERR_XFER_CHANGED);
        assert_int_equal(res.code, PKIE_ERR_XFER_CHANGED);
        assert_non_null(strstr(res.error, names[i]));
        assert_int_equal(snd.broken, 0); /* the session goes on */
        close(fd);
    }
    /* the same session still carries a file; an unchanged one with its path is confirmed */
    int fd = make_src(x, "ok", 70000);
    snprintf(path, sizeof(path), "%s/ok", x->src);
    memset(tid, 0x50, sizeof(tid));
    assert_int_equal(pkie_xfer_sender_file(&snd, fd, "ok", path, tid, 0600, NULL, NULL, &res), 0);
    close(fd);
    pkie_xfer_sender_finish(&snd);
    close(cfd);
    assert_int_equal(server_join(&s), 0);
    assert_true(same_content(x, "ok"));
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", x->dir, names[i]);
        assert_int_equal(access(path, F_OK), -1); /* nothing of a changed file arrived */
    }
    assert_int_equal(partials_left(x), 0); /* the receiver dropped the partial files */
    assert_int_equal(audit_lines(x, "XFER_CHANGED"), 3);
    assert_int_equal(audit_lines(x, "\"result\":\"failed\""), 3);
    assert_int_equal(s.st.files_ok, 1);
    assert_int_equal(s.st.files_failed, 3);
}

static void test_sendstate(void **state)
{
    struct fx *x = *state;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/state/send", x->src);
    int fd = make_src(x, "s", 10);
    char path[128];
    snprintf(path, sizeof(path), "%s/s", x->src);
    uint8_t t1[16], t2[16], t3[16];
    int reused = -1;
    assert_int_equal(pkie_xfer_sendstate_get(dir, "peer:1", path, fd, t1, &reused), 0);
    assert_int_equal(reused, 0);
    assert_int_equal(pkie_xfer_sendstate_get(dir, "peer:1", path, fd, t2, &reused), 0);
    assert_int_equal(reused, 1);
    assert_memory_equal(t1, t2, 16);
    assert_int_equal(pkie_xfer_sendstate_get(dir, "peer:2", path, fd, t3, &reused), 0);
    assert_int_equal(reused, 0);
    assert_memory_not_equal(t1, t3, 16);
    assert_int_equal(pkie_xfer_sendstate_drop(dir, "peer:1", path, fd), 0);
    assert_int_equal(pkie_xfer_sendstate_get(dir, "peer:1", path, fd, t2, &reused), 0);
    assert_int_equal(reused, 0);
    assert_memory_not_equal(t1, t2, 16);
    pkie_xfer_sendstate_drop(dir, "peer:1", path, fd);
    pkie_xfer_sendstate_drop(dir, "peer:2", path, fd);
    close(fd);
    rmdir(dir);
    snprintf(dir, sizeof(dir), "%s/state", x->src);
    rmdir(dir);
}

/* Workers of one `pkie send --parallel` share the state directory: concurrent
 * get/drop of the same key (the same path given twice) must never fail on a
 * temporary file another thread renamed away. */
struct ss_thread {
    const char *dir, *path;
    int fd, fails;
    pthread_t th;
};

static void *ss_main(void *arg)
{
    struct ss_thread *t = arg;
    for (int i = 0; i < 300; i++) {
        uint8_t tid[16];
        int reused;
        if (pkie_xfer_sendstate_get(t->dir, "peer:1", t->path, t->fd, tid, &reused) != 0)
            t->fails++;
        if (pkie_xfer_sendstate_drop(t->dir, "peer:1", t->path, t->fd) != 0)
            t->fails++;
    }
    return NULL;
}

static void test_sendstate_threads(void **state)
{
    struct fx *x = *state;
    char dir[128], path[128];
    snprintf(dir, sizeof(dir), "%s/state/send", x->src);
    snprintf(path, sizeof(path), "%s/s", x->src);
    int fd = make_src(x, "s", 10);
    struct ss_thread t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = (struct ss_thread){.dir = dir, .path = path, .fd = fd};
        assert_int_equal(pthread_create(&t[i].th, NULL, ss_main, &t[i]), 0);
    }
    int fails = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i].th, NULL);
        fails += t[i].fails;
    }
    assert_int_equal(fails, 0);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) /* no temporary file left behind */
        assert_null(strstr(e->d_name, ".tmp"));
    closedir(d);
    close(fd);
    rmdir(dir);
    snprintf(dir, sizeof(dir), "%s/state", x->src);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_and_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_pipelined_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sendstate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sendstate_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
