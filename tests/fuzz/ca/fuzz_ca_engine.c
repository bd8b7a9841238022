/* libFuzzer target: arbitrary bytes as the body of a CMP request to the CA's
 * server engine, in-process. One CA per process in a temporary directory
 * (removed at exit), with the MAC clients of the seeds: "test" (secret
 * "test", the OpenSSL captures of tests/data/cmp) and "auto1" (secret
 * "secret", the messages of tests/unit/ca/test_ca_engine.c). The engine must
 * never crash and must answer every input either with an HTTP-level error
 * (non-zero return, no answer) or with a PKIMessage that our own decoder
 * accepts; abort() otherwise. Inputs that decode are sent a second time
 * re-protected (see handle_reprotected). */
#include "ca_internal.h"
#include "pkie/cmp_msg.h"
#include "pkie/cmp_server.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASS "fuzz-pass"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkie_ca_server *srv;
static char tmpdir[512];

static void cleanup(void)
{
    char cmd[600];
    pkie_ca_server_close(srv);
    srv = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (tmpdir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void add_client(struct pkie_ca_store *s, const char *ref, const char *secret)
{
    struct pkie_ca_client c;
    memset(&c, 0, sizeof(c));
    snprintf(c.ref, sizeof(c.ref), "%s", ref);
    memcpy(c.secret, secret, strlen(secret));
    c.secret_len = strlen(secret);
    snprintf(c.subject_pattern, sizeof(c.subject_pattern), "CN=*");
    snprintf(c.san_pattern, sizeof(c.san_pattern), "DNS:*.test");
    snprintf(c.profile, sizeof(c.profile), "default");
    if (pkie_ca_store_client_add(s, &c) != 0)
        abort();
}

static void init_once(void)
{
    const char *t = getenv("TMPDIR");
    char cadir[600];
    struct pkie_ca_store *s = NULL;
    snprintf(tmpdir, sizeof(tmpdir), "%s/pkie-fuzz-ca-XXXXXX", t != NULL ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        abort();
    atexit(cleanup);
    pkie_log_set_level(PKIE_LOG_ERROR);
    snprintf(cadir, sizeof(cadir), "%s/ca", tmpdir);
    struct pkie_ca_init_params ip = {.dir = cadir, .subject = "/CN=Fuzz Root", .pass = PASS};
    if (pkie_ca_dir_init(&ip) != 0 || pkie_ca_dir_open(cadir, PASS, &s) != 0)
        abort();
    add_client(s, "test", "test");
    add_client(s, "auto1", "secret");
    pkie_ca_store_close(s);
    /* no messageTime check: the captured seeds are old and must reach the MAC path */
    struct pkie_ca_server_params sp = {.dir = cadir, .pass = PASS, .max_skew = -1};
    if (pkie_ca_server_open(&sp, &srv) != 0)
        abort();
    /* per-input work stays small: no fsync for what the inputs make the CA store */
    if (pkie_ca_db_exec(pkie_ca_server_store(srv), "PRAGMA synchronous=OFF") != 0)
        abort();
}

/* Hand @p data to the engine and check the answer (see the top of the file). */
static void handle_one(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = pkie_ca_server_handle(srv, NULL, data, size, &out, &out_len);
    if (rc != 0) {
        if (out != NULL) /* an HTTP-level error carries no CMP answer */
            abort();
        pkie_err_clear();
        return;
    }
    struct pkie_cmp_msg *m = NULL;
    if (out == NULL || pkie_cmp_msg_decode(out, out_len, NULL, &m) != 0)
        abort();
    pkie_cmp_msg_free(m);
    free(out);
    pkie_err_clear();
}

/* A mutated message almost never keeps a valid MAC: when the input decodes,
 * also send it MAC-protected as "auto1" (100 PBM iterations), with a fresh
 * senderNonce (and a fresh transactionID for a new transaction), so that the
 * mutations reach the body handlers past authentication and replay checks. */
static void handle_reprotected(const uint8_t *data, size_t size)
{
    static uint64_t counter;
    struct pkie_cmp_msg *m = NULL;
    uint8_t nonce[16] = {0}, *der = NULL;
    size_t len = 0;
    if (pkie_cmp_msg_decode(data, size, NULL, &m) != 0) {
        pkie_err_clear();
        return;
    }
    counter++;
    memcpy(nonce, &counter, sizeof(counter));
    int t = m->body.type;
    struct pkie_cmp_mac_params mp;
    pkie_cmp_mac_params_default(&mp, PKIE_CMP_MAC_PBM);
    mp.iterationCount = PKIE_CMP_ITER_MIN_DEFAULT;
    struct pkie_cmp_bytes kid = {(const uint8_t *)"auto1", 5};
    if (pkie_cmp_dup(m, &m->header.senderNonce, nonce, sizeof(nonce)) == 0 &&
        ((t != PKIE_CMP_BODY_IR && t != PKIE_CMP_BODY_CR && t != PKIE_CMP_BODY_KUR &&
          t != PKIE_CMP_BODY_P10CR) ||
         pkie_cmp_dup(m, &m->header.transactionID, nonce, sizeof(nonce)) == 0) &&
        pkie_cmp_protect_mac(m, (const uint8_t *)"secret", 6, &mp, &kid) == 0 &&
        pkie_cmp_msg_encode(m, &der, &len) == 0)
        handle_one(der, len);
    free(der);
    pkie_cmp_msg_free(m);
    pkie_err_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL)
        init_once();
    handle_one(data, size);
    handle_reprotected(data, size);
    return 0;
}
