/*
 * e2e helper: a hostile sender over real TLS (include/pkie/tls.h). Each
 * scenario opens its own authenticated session and checks the receiver's
 * answer:
 *   names      FILE frames with hostile names -> ERROR XFER_NAME each, then a
 *              good file on the same session -> DONE
 *   type       a frame of unknown type -> ERROR XFER_FRAME_TYPE, connection closed
 *   length     DATA longer than 1 MiB -> ERROR XFER_FRAME_LENGTH
 *   filelength a FILE frame over the name bound -> ERROR XFER_FRAME_LENGTH
 *   hello      HELLO with a bad magic -> ERROR XFER_MALFORMED
 *   order      END before FILE -> ERROR XFER_UNEXPECTED
 *   truncated  half a frame, then close: the receiver logs it and goes on
 *   badhash    file raw-badhash.txt (transfer id 0x61 x16) whose END carries a
 *              wrong SHA-256 -> ERROR XFER_HASH, nothing kept
 *   idle=N:S   open N sessions (HELLO each), keep them idle S seconds (bench)
 *   hold=GO    file raw-held.bin (64 KiB, transfer id 0x68 x16): FILE and
 *              half its data, then "HELD" on stdout; the rest and END once
 *              the file GO exists (60 s at most) -> DONE (a transfer held in
 *              flight for as long as a test needs, e.g. across a reload)
 * usage: xfer_rawclient CONF PORT SCENARIO...   exit 0 when every check held
 */
#include "pkie/error.h"
#include "pkie/tls.h"
#include "pkie/transfer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

static struct pkie_xfer_conf conf;
static struct pkie_tls_task *task;
static int fails;

static ssize_t s_read(void *ctx, void *buf, size_t len)
{
    return pkie_tls_read(ctx, buf, len);
}

static ssize_t s_write(void *ctx, const void *buf, size_t len)
{
    return pkie_tls_write(ctx, buf, len);
}

struct conn {
    int fd;
    struct pkie_tls_session *s;
    struct pkie_xfer_io io;
    struct pkie_xfer_reader rd;
};

static int conn_open(struct conn *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        return -1;
    }
    const struct pkie_xfer_partner *p = pkie_xfer_conf_partner(&conf, "hq");
    struct pkie_tls_session_params prm = {
        .is_server = 0,
        .partner_id = "hq",
        .peer_addr = "127.0.0.1",
        .peer_port = (uint16_t)port,
        .profile = {.cert_id = conf.cert,
                    .ca_ids = (const char *const *)conf.ca_ids,
                    .n_ca_ids = conf.n_ca_ids,
                    .verify_depth = 4,
                    .dn_filters = (const char *const *)p->subjects,
                    .n_dn_filters = p->n_subjects},
    };
    if (pkie_tls_session_handshake(task, c->fd, &prm, 10000, &c->s) != 0) {
        fprintf(stderr, "handshake: %s\n", pkie_err_last()->msg);
        return -1;
    }
    c->io = (struct pkie_xfer_io){s_read, s_write, c->s};
    pkie_xfer_reader_init(&c->rd, &c->io, 0);
    return 0;
}

static void conn_close(struct conn *c)
{
    pkie_xfer_reader_free(&c->rd);
    pkie_tls_session_end(c->s);
    close(c->fd);
}

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok)
        fails++;
}

static int hello(struct conn *c)
{
    struct pkie_xfer_hello h = {1, 1, 0};
    struct pkie_xfer_frame f;
    return pkie_xfer_send_hello(&c->io, &h) == 0 && pkie_xfer_read_frame(&c->rd, &f) == 0 &&
                   f.type == PKIE_XFER_HELLO
               ? 0
               : -1;
}

/* Read one frame: the ERROR code, 1 for another frame type, or the read error. */
static int answer(struct conn *c, uint8_t *type)
{
    struct pkie_xfer_frame f;
    struct pkie_xfer_error e;
    int rc = pkie_xfer_read_frame(&c->rd, &f);
    if (rc != 0)
        return rc;
    *type = f.type;
    if (f.type != PKIE_XFER_ERROR)
        return 1;
    if (pkie_xfer_parse_error(&f, &e) != 0)
        return 2;
    printf("  receiver: %d %s\n", e.code, e.text);
    return e.code;
}

static int closed_after(struct conn *c)
{
    struct pkie_xfer_frame f;
    return pkie_xfer_read_frame(&c->rd, &f) != 0;
}

static void file_frame(struct conn *c, const char *name, size_t len, uint64_t size, uint8_t t)
{
    struct pkie_xfer_file ff = {.size = size, .mode = 0644, .name_len = len};
    memset(ff.tid, t, sizeof(ff.tid));
    memcpy(ff.name, name, len);
    ff.name[len] = '\0';
    pkie_xfer_send_file(&c->io, &ff);
}

static void scenario_names(int port)
{
    struct conn c;
    uint8_t type;
    if (conn_open(&c, port) != 0 || hello(&c) != 0) {
        check(0, "names: session");
        return;
    }
    /* (a name over 255 bytes cannot be framed: see the filelength scenario) */
    const struct {
        const char *n;
        size_t len;
    } bad[] = {{"../../etc/passwd", 16},
               {"a/b", 3},
               {".profile", 8},
               {"..", 2},
               {"x\x1b[2Jy", 6},
               {"nl\nx", 4},
               {"\xff\xfe", 2},
               {"c:\\x", 4},
               /* audited losslessly: NUL (not cut to "a"), Latin-1 e-acute */
               {"a\0b", 3},
               {"x\xe9y", 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        file_frame(&c, bad[i].n, bad[i].len, 1, (uint8_t)(0x50 + i));
        char what[64];
        snprintf(what, sizeof(what), "names: hostile name %zu refused", i);
        check(answer(&c, &type) == PKIE_ERR_XFER_NAME, what);
    }
    /* the session still works: a good file */
    const char data[] = "raw client file\n";
    uint8_t sha[32];
    unsigned l;
    EVP_Digest(data, sizeof(data) - 1, sha, &l, EVP_sha256(), NULL);
    file_frame(&c, "raw-ok.txt", 10, sizeof(data) - 1, 0x60);
    int rc = answer(&c, &type);
    check(rc == 1 && type == PKIE_XFER_RESUME, "names: good file accepted after refusals");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_DATA, data, sizeof(data) - 1);
    pkie_xfer_send_end(&c.io, sha);
    rc = answer(&c, &type);
    check(rc == 1 && type == PKIE_XFER_DONE, "names: good file confirmed");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_BYE, NULL, 0);
    conn_close(&c);
}

static void scenario_badhash(int port)
{
    struct conn c;
    uint8_t type;
    if (conn_open(&c, port) != 0 || hello(&c) != 0) {
        check(0, "badhash: session");
        return;
    }
    const char data[] = "a file whose hash is wrong\n";
    uint8_t sha[32];
    unsigned l;
    EVP_Digest(data, sizeof(data) - 1, sha, &l, EVP_sha256(), NULL);
    sha[0] ^= 0xff;
    file_frame(&c, "raw-badhash.txt", 15, sizeof(data) - 1, 0x61);
    int rc = answer(&c, &type);
    check(rc == 1 && type == PKIE_XFER_RESUME, "badhash: file accepted");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_DATA, data, sizeof(data) - 1);
    pkie_xfer_send_end(&c.io, sha);
    check(answer(&c, &type) == PKIE_ERR_XFER_HASH, "badhash: XFER_HASH");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_BYE, NULL, 0);
    conn_close(&c);
}

static void scenario_hold(int port, const char *go)
{
    struct conn c;
    uint8_t type;
    if (conn_open(&c, port) != 0 || hello(&c) != 0) {
        check(0, "hold: session");
        return;
    }
    static uint8_t data[65536];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    uint8_t sha[32];
    unsigned l;
    EVP_Digest(data, sizeof(data), sha, &l, EVP_sha256(), NULL);
    file_frame(&c, "raw-held.bin", 12, sizeof(data), 0x68);
    int rc = answer(&c, &type);
    check(rc == 1 && type == PKIE_XFER_RESUME, "hold: file accepted");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_DATA, data, sizeof(data) / 2);
    printf("HELD\n");
    fflush(stdout);
    for (int i = 0; i < 1200 && access(go, F_OK) != 0; i++)
        usleep(50000);
    check(access(go, F_OK) == 0, "hold: released within 60 s");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_DATA, data + sizeof(data) / 2, sizeof(data) / 2);
    pkie_xfer_send_end(&c.io, sha);
    rc = answer(&c, &type);
    check(rc == 1 && type == PKIE_XFER_DONE, "hold: DONE after the release");
    pkie_xfer_send_frame(&c.io, PKIE_XFER_BYE, NULL, 0);
    conn_close(&c);
}

static void scenario_raw(int port, const char *name, const uint8_t *bytes, size_t n, int want)
{
    struct conn c;
    uint8_t type;
    char what[96];
    if (conn_open(&c, port) != 0 || hello(&c) != 0) {
        snprintf(what, sizeof(what), "%s: session", name);
        check(0, what);
        return;
    }
    pkie_xfer_write_all(&c.io, bytes, n);
    snprintf(what, sizeof(what), "%s: error %d", name, want);
    check(answer(&c, &type) == want, what);
    snprintf(what, sizeof(what), "%s: connection closed", name);
    check(closed_after(&c), what);
    conn_close(&c);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: xfer_rawclient CONF PORT SCENARIO...\n");
        return 2;
    }
    if (pkie_xfer_conf_load(argv[1], &conf) != 0) {
        fprintf(stderr, "conf: %s\n", pkie_err_last()->msg);
        return 2;
    }
    int port = atoi(argv[2]);
    struct pkie_tls_runtime *rt;
    if (pkie_tls_runtime_open(&conf.tls, &rt) != 0 || pkie_tls_task_start(rt, 1, &task) != 0) {
        fprintf(stderr, "runtime: %s\n", pkie_err_last()->msg);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        const char *s = argv[i];
        uint8_t b[64];
        if (strcmp(s, "names") == 0) {
            scenario_names(port);
        } else if (strcmp(s, "badhash") == 0) {
            scenario_badhash(port);
        } else if (strcmp(s, "type") == 0) {
            pkie_xfer_put_header(b, 99, 0);
            scenario_raw(port, s, b, 5, PKIE_ERR_XFER_FRAME_TYPE);
        } else if (strcmp(s, "length") == 0) {
            pkie_xfer_put_header(b, PKIE_XFER_DATA, (1u << 20) + 1);
            scenario_raw(port, s, b, 5, PKIE_ERR_XFER_FRAME_LENGTH);
        } else if (strcmp(s, "filelength") == 0) {
            pkie_xfer_put_header(b, PKIE_XFER_FILE, 30 + 256);
            scenario_raw(port, s, b, 5, PKIE_ERR_XFER_FRAME_LENGTH);
        } else if (strcmp(s, "order") == 0) {
            pkie_xfer_put_header(b, PKIE_XFER_END, 32);
            memset(b + 5, 0, 32);
            scenario_raw(port, s, b, 37, PKIE_ERR_XFER_UNEXPECTED);
        } else if (strncmp(s, "hold=", 5) == 0) {
            scenario_hold(port, s + 5);
        } else if (strncmp(s, "idle=", 5) == 0) {
            int n = atoi(s + 5), secs = strchr(s, ':') ? atoi(strchr(s, ':') + 1) : 5, ok = 0;
            struct conn *cs = calloc((size_t)n, sizeof(*cs));
            for (int k = 0; k < n; k++)
                if (conn_open(&cs[k], port) == 0 && hello(&cs[k]) == 0)
                    ok++;
            printf("idle: %d of %d sessions open\n", ok, n);
            fflush(stdout);
            sleep((unsigned)secs);
            for (int k = 0; k < n; k++) {
                if (cs[k].s != NULL)
                    pkie_xfer_send_frame(&cs[k].io, PKIE_XFER_BYE, NULL, 0);
                conn_close(&cs[k]);
            }
            free(cs);
            check(ok == n, "idle: every session opened");
        } else if (strcmp(s, "hello") == 0) {
            struct conn c;
            uint8_t type;
            if (conn_open(&c, port) == 0) {
                pkie_xfer_put_header(b, PKIE_XFER_HELLO, 16);
                memcpy(b + 5, "PKIEXFEZ\0\1\0\1\0\0\0\0", 16);
                pkie_xfer_write_all(&c.io, b, 21);
                check(answer(&c, &type) == PKIE_ERR_XFER_MALFORMED, "hello: error XFER_MALFORMED");
                conn_close(&c);
            } else {
                check(0, "hello: session");
            }
        } else if (strcmp(s, "truncated") == 0) {
            struct conn c;
            if (conn_open(&c, port) == 0 && hello(&c) == 0) {
                pkie_xfer_put_header(b, PKIE_XFER_FILE, 40);
                pkie_xfer_write_all(&c.io, b, 12);
                pkie_tls_shutdown(c.s);
                check(1, "truncated: sent half a frame");
                conn_close(&c);
            } else {
                check(0, "truncated: session");
            }
        } else {
            fprintf(stderr, "unknown scenario %s\n", s);
            return 2;
        }
    }
    pkie_tls_task_end(task);
    pkie_tls_runtime_close(rt);
    pkie_xfer_conf_free(&conf);
    printf("%d check(s) failed\n", fails);
    return fails ? 1 : 0;
}
