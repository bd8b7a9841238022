/* Unit test: several SSL tasks at once in one process (one thread each), as
 * the monitor runs them: server and client tasks over socketpairs, with the
 * test exit handling every phase (CryptData through the opaque-key provider)
 * and with the internal PKI base. Every handshake must succeed, every
 * session must carry data, and the phases of each task stay its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/tls.h"

#define TASKS    3
#define SESSIONS 4

static char dir[256];

struct job {
    struct pkie_tls_runtime *rt;
    int fd[SESSIONS];
    int server;
    uint32_t task_id;
    int ok;
};

static void *run_task(void *arg)
{
    struct job *j = arg;
    struct pkie_tls_task *t = NULL;
    if (pkie_tls_task_start(j->rt, j->task_id, &t) != 0)
        return NULL;
    const char *ca[] = {"root"};
    for (int i = 0; i < SESSIONS; i++) {
        struct pkie_tls_session_params p = {
            .is_server = j->server,
            .partner_id = "threads",
            .peer_addr = "socketpair",
            .profile = {.cert_id = j->server ? "srv-ec" : "cli-rsa", .ca_ids = ca, .n_ca_ids = 1},
        };
        struct pkie_tls_session *s = NULL;
        if (pkie_tls_session_handshake(t, j->fd[i], &p, 20000, &s) == 0) {
            char buf[16] = "";
            if (j->server) {
                if (pkie_tls_read(s, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0 &&
                    pkie_tls_write(s, "world", 5) == 5)
                    j->ok++;
            } else {
                if (pkie_tls_write(s, "hello", 5) == 5 && pkie_tls_read(s, buf, 5) == 5 &&
                    memcmp(buf, "world", 5) == 0)
                    j->ok++;
            }
        } else {
            char e[512];
            fprintf(stderr, "task %u session %d: %s\n", j->task_id, i,
                    pkie_err_format(e, sizeof(e)));
        }
        pkie_tls_session_end(s);
        close(j->fd[i]);
    }
    pkie_tls_task_end(t);
    return NULL;
}

static struct pkie_tls_runtime *open_rt(const char *kind)
{
    struct pkie_tls_conf c = {0};
    char path[512], conf[1024];
    snprintf(path, sizeof(path), "%s/pki.db", dir);
    pkie_tls_conf_apply(&c, "pki.base", path);
    snprintf(path, sizeof(path), "%s/pki.pw", dir);
    pkie_tls_conf_apply(&c, "pki.password", path);
    if (strcmp(kind, "exit") == 0) {
        pkie_tls_conf_apply(&c, "pki.type", "exit");
        snprintf(path, sizeof(path), "%s/tests/exits/exit_handles_all.so",
                 getenv("PKIE_BUILD_DIR"));
        pkie_tls_conf_apply(&c, "pki.exit.libpath", path);
        /* one exit configuration for both roles: both sides present srv-ec
         * (it has clientAuth too); the profile's cert_id is not used */
        snprintf(conf, sizeof(conf), "chain=%s/srv-ec.chain.pem key=%s/srv-ec.key ca=%s/root.crt",
                 dir, dir, dir);
        pkie_tls_conf_apply(&c, "pki.exit.conf", conf);
    }
    struct pkie_tls_runtime *rt = NULL;
    int rc = pkie_tls_runtime_open(&c, &rt);
    pkie_tls_conf_free(&c);
    assert_int_equal(rc, 0);
    return rt;
}

static void run_pairs(const char *kind)
{
    struct pkie_tls_runtime *rt = open_rt(kind);
    struct job jobs[2 * TASKS];
    memset(jobs, 0, sizeof(jobs));
    for (int k = 0; k < TASKS; k++) {
        jobs[2 * k].rt = jobs[2 * k + 1].rt = rt;
        jobs[2 * k].server = 1;
        jobs[2 * k].task_id = (uint32_t)(10 + 2 * k);
        jobs[2 * k + 1].task_id = (uint32_t)(11 + 2 * k);
        for (int i = 0; i < SESSIONS; i++) {
            int sv[2];
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
            jobs[2 * k].fd[i] = sv[0];
            jobs[2 * k + 1].fd[i] = sv[1];
        }
    }
    pthread_t th[2 * TASKS];
    for (int k = 0; k < 2 * TASKS; k++)
        assert_int_equal(pthread_create(&th[k], NULL, run_task, &jobs[k]), 0);
    for (int k = 0; k < 2 * TASKS; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < 2 * TASKS; k++)
        assert_int_equal(jobs[k].ok, SESSIONS);
    pkie_tls_runtime_close(rt);
}

static void test_threads_internal(void **state)
{
    (void)state;
    run_pairs("internal");
}

static void test_threads_exit(void **state)
{
    (void)state;
    run_pairs("exit");
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("PKIE_BUILD_DIR"), *s = getenv("PKIE_SRC_DIR");
    if (b == NULL || s == NULL)
        return -1;
    snprintf(dir, sizeof(dir), "/tmp/pkie-threads-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "TLSDRV=%s/tests/tlsdrv sh %s/tests/interop/exit/mkpki.sh %s >/dev/null", b, s, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    pkie_log_set_level(PKIE_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_internal),
        cmocka_unit_test(test_threads_exit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
