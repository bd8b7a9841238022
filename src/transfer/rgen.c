/*
 * The receiver's reloadable configuration (SIGHUP): generations. A
 * generation is an immutable snapshot (struct rgen, rmon.h) of the partners,
 * the TLS runtime — PKI base, our certificate and the CAs, the exit's
 * pki.exit.conf, the SSL_CTX with the tls.* settings — and the receiving
 * settings. The monitor holds the current one under gen_mu; each SSL task
 * starts an SSL task of its own (StartTask) on a new generation at its next
 * handshake, and every session keeps the generation its handshake began with
 * until EndSession (reference counts), so a reload neither drops nor changes
 * a session in flight. The swap is in rgen_reload only.
 *
 * What a reload may not change (the listening socket, the destination, the
 * audit file, the number of tasks, the admission limits, the exit library
 * and its isolation) needs a restart: a reload that changes one of them is
 * refused as a whole, so that what runs is always one configuration file's.
 */
#include "rmon.h"

#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/pki.h"
#include "pkie/tls.h"
#include "pkie/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMP "recv"

int rmon_check_conf(const struct pkie_xfer_conf *c)
{
    if (c->listen == NULL || c->dir == NULL)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "listen and dir are required");
    if (c->n_partners == 0 || c->n_all_subjects == 0)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "no partner.NAME.subject configured");
    if (c->cert == NULL && c->tls.pki_type == PKIE_TLS_PKI_INTERNAL)
        return PKIE_ERR(PKIE_ERR_CONF_MISSING, "cert (our certificate id) is required");
    for (size_t i = 0; i < c->n_partners; i++)
        if (c->partners[i].n_subjects > 0 && c->partners[i].dirfd < 0)
            return PKIE_ERR(PKIE_ERR_CONF_MISSING,
                            "partner %s: its directory is not open (pkie_xfer_partner_dirs_open)",
                            c->partners[i].name);
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The first key that needs a restart and differs, or NULL. */
static const char *restart_key(const struct pkie_xfer_conf *o, const struct pkie_xfer_conf *n)
{
#define STR(field, key)                                                                            \
    if (!same_str(o->field, n->field))                                                             \
        return key;
#define NUM(field, key)                                                                            \
    if (o->field != n->field)                                                                      \
        return key;
    STR(listen, "listen")
    STR(dir, "dir")
    STR(audit, "audit")
    STR(catalog, "catalog")
    STR(metrics_listen, "metrics.listen")
    STR(log_level, "log_level")
    NUM(tasks, "tasks")
    NUM(max_pending, "max_pending")
    NUM(max_pending_per_address, "max_pending_per_address")
    NUM(first_byte_timeout, "first_byte_timeout")
    NUM(handshake_timeout, "handshake_timeout")
    NUM(partial_ttl, "partial_ttl")
    NUM(tls.pki_type, "pki.type")
    STR(tls.exit_libpath, "pki.exit.libpath")
    NUM(tls.exit_isolation, "pki.exit.isolation")
    NUM(tls.exit_timeout_s, "pki.exit.timeout")
    STR(tls.exit_user, "pki.exit.user")
#undef STR
#undef NUM
    return NULL;
}

/* What a generation needs beyond its runtime, at start and at each reload:
 * the one place for the per-partner directories' set-up and the refresh of
 * the certificate expiry metrics. With @p strict (a reload) the certificates
 * the receiver presents and accepts must be in the internal base: a reload
 * with a missing or keyless certificate is refused instead of failing every
 * handshake after it. */
static int gen_prepare(struct rmon *m, struct rgen *g, int strict)
{
    (void)m;
    const struct pkie_xfer_conf *c = g->c;
    struct pkie_pki *pki = pkie_tls_runtime_pki(g->rt);
    if (!strict || c->tls.pki_type != PKIE_TLS_PKI_INTERNAL)
        return 0;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    int rc = pkie_pki_get_chain(pki, c->cert, &chain, &key);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    char why[400];
    if (rc != 0) {
        snprintf(why, sizeof(why), "%s", pkie_err_last()->msg); /* not the buffer PKIE_ERR writes */
        return PKIE_ERR(rc, "cert = %s: %s", c->cert, why);
    }
    if (c->n_ca_ids > 0) {
        STACK_OF(X509_NAME) *names = NULL;
        rc = pkie_pki_get_ca_names(pki, (const char *const *)c->ca_ids, c->n_ca_ids, &names);
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        if (rc != 0) {
            snprintf(why, sizeof(why), "%s", pkie_err_last()->msg);
            return PKIE_ERR(rc, "ca = %s: %s", c->ca, why);
        }
    }
    return 0;
}

static void gen_free(struct rgen *g)
{
    pkie_tls_runtime_close(g->rt);
    if (g->own_c) {
        pkie_xfer_conf_free(g->c);
        free(g->c);
    }
    free(g);
}

/* A generation of @p c (owned when @p own: freed with it, also on failure). */
static int gen_new(struct rmon *m, struct pkie_xfer_conf *c, int own, int strict, struct rgen **out)
{
    *out = NULL;
    struct rgen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        if (own) {
            pkie_xfer_conf_free(c);
            free(c);
        }
        return PKIE_ERR(PKIE_ERR_NOMEM, "configuration generation");
    }
    atomic_init(&g->refs, 1);
    g->c = c;
    g->own_c = own;
    /* each session gets its partner's directory and names (rtask.c): none here */
    pkie_xfer_recv_conf_init(&g->rconf, -1);
    g->rconf.overwrite = c->overwrite;
    g->rconf.max_file_size = (uint64_t)c->max_file_size;
    g->rconf.checkpoint_bytes = (uint64_t)c->checkpoint;
    g->rconf.direct_io = c->direct_io;
    g->rconf.stop = m->stop;
    int rc = pkie_tls_runtime_open(&c->tls, &g->rt);
    if (rc == 0)
        rc = gen_prepare(m, g, strict);
    if (rc != 0) {
        gen_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int rgen_first(struct rmon *m, const struct pkie_xfer_conf *c)
{
    struct rgen *g;
    /* not owned: the caller's, which it frees after the monitor returned */
    int rc = gen_new(m, (struct pkie_xfer_conf *)(uintptr_t)c, 0, 0, &g);
    if (rc != 0)
        return rc;
    g->id = 1;
    m->gen = g;
    atomic_store(&m->gen_id, 1);
    return 0;
}

int rgen_reload(struct rmon *m)
{
    if (m->conf_path == NULL)
        return PKIE_ERR(PKIE_ERR_UNSUPPORTED, "no configuration file to re-read");
    struct pkie_xfer_conf *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "configuration");
    int rc = pkie_xfer_conf_load(m->conf_path, c);
    if (rc == 0) /* a partner added by the reload gets its directory now */
        rc = pkie_xfer_partner_dirs_open(c, 1);
    if (rc == 0)
        rc = rmon_check_conf(c);
    if (rc == 0) {
        const char *key = restart_key(m->c, c);
        if (key != NULL)
            rc = PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: %s changed: it takes a restart", m->conf_path,
                          key);
    }
    if (rc != 0) {
        pkie_xfer_conf_free(c);
        free(c);
        return rc;
    }
    struct rgen *g;
    if ((rc = gen_new(m, c, 1, 1, &g)) != 0)
        return rc;
    pthread_mutex_lock(&m->gen_mu);
    struct rgen *old = m->gen;
    g->id = old->id + 1;
    m->gen = g;
    atomic_store(&m->gen_id, g->id);
    pthread_mutex_unlock(&m->gen_mu);
    rgen_put(old); /* sessions and tasks still on it hold their own references */
    /* the expiry gauge follows the certificate new handshakes present */
    if (pkie_xfer_metrics_certs_refresh(g->c) != 0)
        pkie_log_warn(LOG_COMP, "metrics: certificate expiry not refreshed: %s",
                      pkie_err_last()->msg);
    return 0;
}

struct rgen *rgen_get(struct rmon *m)
{
    pthread_mutex_lock(&m->gen_mu);
    struct rgen *g = m->gen;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&m->gen_mu);
    return g;
}

void rgen_put(struct rgen *g)
{
    if (g != NULL && atomic_fetch_sub(&g->refs, 1) == 1)
        gen_free(g);
}

unsigned rgen_current_id(struct rmon *m)
{
    return atomic_load(&m->gen_id);
}

void rgen_release_current(struct rmon *m)
{
    pthread_mutex_lock(&m->gen_mu);
    struct rgen *g = m->gen;
    m->gen = NULL;
    pthread_mutex_unlock(&m->gen_mu);
    rgen_put(g);
}
