/*
 * The TLS runtime: load the exit once and probe it, open the internal PKI
 * base, build the SSL_CTX; SSL tasks (StartTask / EndTask).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/wipe.h"
#include "tls_int.h"

#define DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

static int read_password_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return PKIE_ERR(PKIE_ERR_IO, "pki.password: cannot open %s: %s", path, strerror(errno));
    if (fgets(buf, (int)cap, f) == NULL) {
        fclose(f);
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "pki.password: %s is empty", path);
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* StartTask + EndTask with task id 0: the library answers, with an ABI the
 * host knows; an optional base password comes back. */
static int probe_exit(struct pkie_tls_runtime *rt, char *password, size_t cap)
{
    struct pkicom *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "exit probe");
    int ret = 0;
    memcpy(z->conf, rt->exit_conf, sizeof(z->conf));
    z->flags = CFTPKIE_F_PROBE;
    int rc = pkie_exit_call(rt->exit, z, CFTPKIE_START_TASK);
    if (rc == CFTPKIE_ERROR) {
        ret = PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit %s refused to start (StartTask: %s)",
                       rt->exit->name, z->error_text[0] ? z->error_text : "no text");
    } else {
        uint32_t mask, size;
        ret = pkie_exit_check_start_task(z, &mask, &size);
        if (ret == PKIE_ERR_EXIT_ABI)
            ret = PKIE_ERR(PKIE_ERR_EXIT_ABI,
                           "exit %s: ABI version %u unknown to the host (it knows %u)",
                           rt->exit->name, z->exit_abi_version, CFTPKIE_ABI_VERSION);
        else if (ret != 0)
            ret = PKIE_ERR(PKIE_ERR_EXIT_ANSWER, "exit %s: invalid StartTask answer: %s",
                           rt->exit->name, pkie_err_last()->msg);
        else if (z->pki_password[0] != '\0' && password != NULL)
            snprintf(password, cap, "%s", z->pki_password);
    }
    pkie_wipe(z->pki_password, sizeof(z->pki_password));
    /* EndTask follows every StartTask. */
    z->flags = CFTPKIE_F_PROBE;
    pkie_exit_call(rt->exit, z, CFTPKIE_END_TASK);
    free(z);
    return ret;
}

static int build_ctx(struct pkie_tls_runtime *rt, const struct pkie_tls_conf *c)
{
    int minv = c->min_version ? c->min_version : PKIE_TLS_V1_2;
    int maxv = c->max_version ? c->max_version : PKIE_TLS_V1_3;
    if (minv > maxv)
        return PKIE_ERR(PKIE_ERR_EXIT_CONF, "tls.min_version above tls.max_version");
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "SSL_CTX_new");
    rt->ctx = ctx;
    if (!SSL_CTX_set_min_proto_version(ctx, minv) || !SSL_CTX_set_max_proto_version(ctx, maxv))
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_CONF, "TLS versions");
    if (!SSL_CTX_set_cipher_list(ctx, c->ciphers ? c->ciphers : DEFAULT_CIPHERS))
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_CONF, "tls.ciphers: no usable cipher in \"%s\"",
                             c->ciphers ? c->ciphers : DEFAULT_CIPHERS);
    if (c->ciphersuites != NULL && !SSL_CTX_set_ciphersuites(ctx, c->ciphersuites))
        return PKIE_ERR_OSSL(PKIE_ERR_EXIT_CONF, "tls.ciphersuites: \"%s\"", c->ciphersuites);
    /* Every handshake is a full one: the exit sees every certificate. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Bulk transfers: read several records per recv() instead of two
     * syscalls per record (pkie_tls_read polls only after SSL_read asks). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return pkie_tls_ctx_callbacks(ctx);
}

int pkie_tls_runtime_open(const struct pkie_tls_conf *c, struct pkie_tls_runtime **out)
{
    char password[CFTPKIE_PASSWORD_CAP] = "";
    int rc;
    if (out == NULL || c == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "runtime: NULL argument");
    *out = NULL;
    /* A peer that closes early must not kill the process: writes to its
     * socket fail with EPIPE instead of raising SIGPIPE. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    struct pkie_tls_runtime *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "runtime");
    if (c->exit_conf != NULL)
        snprintf(rt->exit_conf, sizeof(rt->exit_conf), "%s", c->exit_conf);
    if (c->pki_type == PKIE_TLS_PKI_EXIT) {
        rc = pkie_exit_load(c->exit_libpath, &rt->exit);
        if (rc != 0)
            goto err;
        rc = probe_exit(rt, c->pki_password_file ? NULL : password, sizeof(password));
        if (rc != 0)
            goto err;
    } else if (c->pki_type != PKIE_TLS_PKI_INTERNAL) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_CONF, "pki.type %d unknown", c->pki_type);
        goto err;
    } else if (c->pki_base == NULL) {
        rc = PKIE_ERR(PKIE_ERR_EXIT_NO_BASE, "pki.type = internal needs pki.base");
        goto err;
    }
    if (c->pki_password_file != NULL) {
        rc = read_password_file(c->pki_password_file, password, sizeof(password));
        if (rc != 0)
            goto err;
    }
    if (c->pki_base != NULL) {
        rc = pkie_pki_open(c->pki_base, password[0] ? password : NULL, 0, &rt->pki);
        if (rc != 0)
            goto err;
    }
    pkie_wipe(password, sizeof(password));
    rc = build_ctx(rt, c);
    if (rc != 0)
        goto err;
    *out = rt;
    return 0;
err:
    pkie_wipe(password, sizeof(password));
    pkie_tls_runtime_close(rt);
    return rc;
}

void pkie_tls_runtime_close(struct pkie_tls_runtime *rt)
{
    if (rt == NULL)
        return;
    SSL_CTX_free(rt->ctx);
    pkie_pki_close(rt->pki);
    pkie_exit_unload(rt->exit);
    free(rt);
}

const char *pkie_tls_runtime_exit_name(const struct pkie_tls_runtime *rt)
{
    return rt != NULL && rt->exit != NULL ? rt->exit->name : "internal";
}

int pkie_tls_task_start(struct pkie_tls_runtime *rt, uint32_t task_id, struct pkie_tls_task **out)
{
    if (rt == NULL || out == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "task: NULL argument");
    *out = NULL;
    struct pkie_tls_task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "task");
    t->rt = rt;
    t->task_id = task_id;
    if (rt->exit == NULL) {
        *out = t;
        return 0;
    }
    t->z = calloc(1, sizeof(*t->z));
    if (t->z == NULL) {
        free(t);
        return PKIE_ERR(PKIE_ERR_NOMEM, "task");
    }
    struct pkicom *z = t->z;
    z->host_task_ref = task_id;
    memcpy(z->conf, rt->exit_conf, sizeof(z->conf));
    int rc = pkie_exit_call(rt->exit, z, CFTPKIE_START_TASK);
    int ret = 0;
    if (rc == CFTPKIE_ERROR) {
        ret = PKIE_ERR(PKIE_ERR_EXIT_PHASE, "exit %s phase StartTask (task %u): error: %s",
                       rt->exit->name, task_id, z->error_text[0] ? z->error_text : "no text");
    } else if (pkie_exit_check_start_task(z, &t->mask, &t->area_size) != 0) {
        ret = PKIE_ERR(PKIE_ERR_EXIT_PHASE, "exit %s phase StartTask (task %u): invalid answer: %s",
                       rt->exit->name, task_id, pkie_err_last()->msg);
        pkie_log_error("exit", "%s", pkie_err_last()->msg);
    }
    pkie_wipe(z->pki_password, sizeof(z->pki_password));
    if (rc == CFTPKIE_NOT_HANDLED) {
        t->mask = 0; /* not handled: the host does everything */
        t->area_size = 0;
    }
    if (ret != 0) {
        t->mask = 0;
        pkie_tls_task_end(t); /* EndTask follows every StartTask */
        return ret;
    }
    *out = t;
    return 0;
}

void pkie_tls_task_end(struct pkie_tls_task *t)
{
    if (t == NULL)
        return;
    if (t->z != NULL) {
        t->z->host_session_ref = 0;
        t->z->exit_session_ref = 0;
        t->z->session_area = NULL;
        t->z->flags = 0;
        pkie_exit_call(t->rt->exit, t->z, CFTPKIE_END_TASK);
        pkie_wipe(t->z->key, sizeof(t->z->key));
        free(t->z);
    }
    pkie_exit_keycache_clear(&t->keycache);
    pkie_exit_verifier_clear(&t->verifier);
    free(t->chain_der);
    sk_X509_pop_free(t->chain, X509_free);
    EVP_PKEY_free(t->opq_key);
    EVP_PKEY_free(t->opq_pub);
    free(t);
}
