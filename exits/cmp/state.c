/*
 * The CMP exit's process-wide state: configuration, identity (key and
 * chain), CA certificates and CRL; enrollment (IR with MAC), renewal (KUR
 * signed with the current certificate), refreshes (genm caCerts and
 * crlStatusList) and the background thread that renews and refreshes with
 * backoff. One lock (mu) guards the state; the trust lock (a rwlock) guards
 * what CheckCertificate reads.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cmpx_state.h"
#include "pkie/cmp.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#define CAS_FILE  "ca-certs.pem"
#define DISK_POLL 10 /* seconds between the refresh thread's looks at identity.pem */
#define CRL_FILE  "crl.pem"

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_rwlock_t tlock;
    pthread_mutex_t fmu; /* identity.pem as this process knows it (before mu) */
    int inited;
    struct cmpx_conf conf;
    X509_STORE *anchors;
    STACK_OF(X509) *anchor_certs;
    struct cmpx_ident *id;
    struct cmpx_trust *trust;
    uint64_t gens;
    struct cmpx_stamp stamp;        /* identity.pem last installed, adopted or rejected */
    time_t written;                 /* when the current identity was written to disk */
    _Atomic long long renew_try_at; /* when StartHandshake should wake the thread */
    time_t next_refresh;
    unsigned renew_fails, refresh_fails;
    pthread_t thr;
    int thr_started, stop, kick;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .tlock = PTHREAD_RWLOCK_INITIALIZER,
       .fmu = PTHREAD_MUTEX_INITIALIZER,
       .renew_try_at = LLONG_MAX};

void cmpx_log(const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02dZ cmp exit[%ld]: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid(), msg);
}

static void serial_hex(X509 *x, char *buf, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *h = bn ? BN_bn2hex(bn) : NULL;
    snprintf(buf, cap, "%s", h ? h : "?");
    for (char *p = buf; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    OPENSSL_free(h);
    BN_free(bn);
}

/* ---- trust: CA certificates and CRL ---------------------------------------- */

static void trust_free(struct cmpx_trust *t)
{
    if (t == NULL)
        return;
    sk_X509_pop_free(t->cas, X509_free);
    X509_CRL_free(t->crl);
    free(t->names);
    free(t);
}

/* CA certificates that chain to an anchor (the others are dropped, logged). */
static STACK_OF(X509) *verified_cas(STACK_OF(X509) *in)
{
    STACK_OF(X509) *out = sk_X509_new_null();
    for (int i = 0; out != NULL && in != NULL && i < sk_X509_num(in); i++) {
        X509 *c = sk_X509_value(in, i);
        X509_STORE_CTX *xs = X509_STORE_CTX_new();
        int ok = xs != NULL && X509_STORE_CTX_init(xs, G.anchors, c, in) == 1 &&
                 X509_verify_cert(xs) == 1;
        if (!ok) {
            char *s = X509_NAME_oneline(X509_get_subject_name(c), NULL, 0);
            cmpx_log("CA certificate %s does not chain to trust_anchor: ignored", s ? s : "?");
            OPENSSL_free(s);
        } else if (X509_up_ref(c) && !sk_X509_push(out, c)) {
            X509_free(c);
        }
        X509_STORE_CTX_free(xs);
    }
    ERR_clear_error();
    return out;
}

/* A trust from @p cas (references taken) and @p crl (reference taken). */
static struct cmpx_trust *trust_new(STACK_OF(X509) *cas, X509_CRL *crl)
{
    struct cmpx_trust *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->cas = sk_X509_new_null();
    t->names = malloc(CFTPKIE_CA_NAMES_CAP);
    if (t->cas == NULL || t->names == NULL)
        goto err;
    /* names: the anchors, then CA certificates with other subjects */
    STACK_OF(X509) *all[2] = {G.anchor_certs, cas};
    for (int k = 0; k < 2; k++)
        for (int i = 0; all[k] != NULL && i < sk_X509_num(all[k]); i++) {
            X509 *c = sk_X509_value(all[k], i);
            if (k == 1) {
                if (!X509_up_ref(c))
                    goto err;
                if (!sk_X509_push(t->cas, c)) {
                    X509_free(c);
                    goto err;
                }
            }
            const X509_NAME *nm = X509_get_subject_name(c);
            int dup = 0;
            for (int j = 0; j < i && k == 1 && !dup; j++)
                dup = X509_NAME_cmp(nm, X509_get_subject_name(sk_X509_value(cas, j))) == 0;
            for (int j = 0; k == 1 && G.anchor_certs && j < sk_X509_num(G.anchor_certs) && !dup;
                 j++)
                dup =
                    X509_NAME_cmp(nm, X509_get_subject_name(sk_X509_value(G.anchor_certs, j))) == 0;
            int l = i2d_X509_NAME(nm, NULL);
            if (dup || l <= 0 || t->names_count >= CFTPKIE_CA_NAMES_MAX ||
                t->names_total + (size_t)l > CFTPKIE_CA_NAMES_CAP)
                continue;
            uint8_t *p = t->names + t->names_total;
            i2d_X509_NAME(nm, &p);
            t->names_len[t->names_count++] = (uint32_t)l;
            t->names_total += (size_t)l;
        }
    if (crl != NULL && X509_CRL_up_ref(crl))
        t->crl = crl;
    return t;
err:
    trust_free(t);
    return NULL;
}

static void trust_swap(struct cmpx_trust *t)
{
    pthread_rwlock_wrlock(&G.tlock);
    struct cmpx_trust *old = G.trust;
    G.trust = t;
    pthread_rwlock_unlock(&G.tlock);
    trust_free(old);
}

void cmpx_trust_lock(const struct cmpx_trust **t, X509_STORE **anchors, int *crl_check)
{
    pthread_rwlock_rdlock(&G.tlock);
    *t = G.trust;
    *anchors = G.anchors;
    *crl_check = G.conf.crl_check;
}

void cmpx_trust_unlock(void)
{
    pthread_rwlock_unlock(&G.tlock);
}

/* The CRL is accepted when an anchor or CA certificate with its issuer name
 * verifies its signature. */
static int crl_ok(X509_CRL *crl, STACK_OF(X509) *cas)
{
    STACK_OF(X509) *all[2] = {cas, G.anchor_certs};
    for (int k = 0; k < 2; k++)
        for (int i = 0; all[k] != NULL && i < sk_X509_num(all[k]); i++) {
            X509 *c = sk_X509_value(all[k], i);
            if (X509_NAME_cmp(X509_get_subject_name(c), X509_CRL_get_issuer(crl)) == 0 &&
                X509_CRL_verify(crl, X509_get0_pubkey(c)) == 1)
                return 1;
        }
    ERR_clear_error();
    return 0;
}

/* ---- CMP transactions ------------------------------------------------------ */

static struct pkie_cmp_ctx *ctx_new(const struct cmpx_trust *t)
{
    struct pkie_cmp_ctx *ctx = pkie_cmp_ctx_new();
    if (ctx == NULL)
        return NULL;
    int timeout = (int)G.conf.timeout;
    if (pkie_cmp_ctx_set_server(ctx, G.conf.ca_url) != 0 || pkie_cmp_ctx_set_proxy(ctx, "") != 0 ||
        pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_MSG_TIMEOUT, timeout) != 0 ||
        pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_TOTAL_TIMEOUT, 3 * timeout) != 0 ||
        pkie_cmp_ctx_set_trusted(ctx, G.anchors) != 0 ||
        pkie_cmp_ctx_set_certconf_cb(ctx, pkie_cmp_certconf_cb, NULL) != 0)
        goto err;
    for (int i = 0; t != NULL && i < sk_X509_num(t->cas); i++)
        if (pkie_cmp_ctx_add_untrusted(ctx, sk_X509_value(t->cas, i)) != 0)
            goto err;
    if (G.conf.validity_days > 0 &&
        pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_VALIDITY_DAYS, (int)G.conf.validity_days) != 0)
        goto err;
    return ctx;
err:
    pkie_cmp_ctx_free(ctx);
    return NULL;
}

static EVP_PKEY *keygen(void)
{
    switch (G.conf.key_type) {
    case CMPX_KEY_EC_P384:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    case CMPX_KEY_RSA_2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case CMPX_KEY_RSA_3072:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    case CMPX_KEY_ED25519:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    default:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    }
}

static EVP_PKEY *key_load(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (k == NULL)
        PKIE_ERR_OSSL(PKIE_ERR_CONF_VALUE, "key_file: no private key in %s", path);
    return k;
}

static int add_san(void *arg, const GENERAL_NAME *gn)
{
    return pkie_cmp_ctx_add_san((struct pkie_cmp_ctx *)arg, gn);
}

/* The client's error and, when the server answered, its status (into buf). */
static const char *status_text(struct pkie_cmp_ctx *ctx, char *buf, size_t cap)
{
    char st[256];
    if (pkie_cmp_ctx_get_status(ctx) == PKIE_CMP_STATUS_NONE)
        snprintf(buf, cap, "%s", pkie_err_last()->msg);
    else
        snprintf(buf, cap, "%s (server: %s)", pkie_err_last()->msg,
                 pkie_cmp_ctx_snprint_status(ctx, st, sizeof(st)));
    return buf;
}

/* When @p id, written to disk at @p written, is to be renewed: its window,
 * but never before retry_max after it was written (a window wider than the
 * validity would otherwise renew in a loop, and processes sharing the
 * directory would each renew a certificate another one just wrote). */
static long long due_at(const struct cmpx_ident *id, time_t written)
{
    long long at = (long long)cmpx_renew_at(&G.conf, id->not_before, id->not_after);
    long long floor = (long long)written + G.conf.retry_max;
    return at > floor ? at : floor;
}

/* The renewal policy written into identity.pem: the floor of due_at only
 * holds between processes that share it. */
static void policy_text(char *buf, size_t cap)
{
    snprintf(buf, cap, "%lld/%d/%lld", G.conf.renew_before, G.conf.renew_percent, G.conf.retry_max);
}

/* Make @p id (on disk as @p st) the current identity and log it with @p how.
 * Called with fmu held (mu is taken here). */
static void install(struct cmpx_ident *id, const struct cmpx_stamp *st, const char *how)
{
    pthread_mutex_lock(&G.mu);
    id->gen = ++G.gens;
    id->older = G.id;
    G.id = id;
    G.renew_fails = 0;
    G.stamp = *st;
    /* the retry_max floor counts from the file's write when its writer had
     * our renewal policy; a changed policy applies at once */
    char mine[CMPX_POLICY_MAX];
    policy_text(mine, sizeof(mine));
    G.written = strcmp(id->policy, mine) == 0 && st->present ? st->mtime.tv_sec : 0;
    long long due = due_at(id, G.written);
    atomic_store(&G.renew_try_at, due);
    pthread_mutex_unlock(&G.mu);
    char serial[80];
    serial_hex(id->leaf, serial, sizeof(serial));
    char na[32];
    struct tm tm;
    gmtime_r(&id->not_after, &tm);
    strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cmpx_log("%s: certificate serial %s for %s, valid until %s, renewal from %lld s from now", how,
             serial, G.conf.subject, na, due - (long long)time(NULL));
}

/* Install a new identity from the CA (saved first). Called with the file
 * lock held, without mu. */
static int ident_install(struct pkie_cmp_ctx *ctx, EVP_PKEY *key, X509 *cert, const char *how)
{
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        return PKIE_ERR(PKIE_ERR_CRYPTO, "%s: the CA returned a certificate for another key", how);
    }
    STACK_OF(X509) *chain = pkie_cmp_ctx_get_new_chain(ctx);
    struct cmpx_ident *id = cmpx_ident_new(key, cert, chain);
    if (id == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "identity");
    policy_text(id->policy, sizeof(id->policy));
    struct cmpx_stamp st;
    pthread_mutex_lock(&G.fmu);
    int rc = cmpx_ident_save(G.conf.dir, id, &st);
    if (rc == 0)
        install(id, &st, how);
    pthread_mutex_unlock(&G.fmu);
    if (rc != 0)
        cmpx_ident_free(id);
    return rc;
}

/* Adopt identity.pem when it changed on disk since this process last saw it
 * (another process sharing the directory renewed or enrolled) and holds a
 * usable identity (cmpx_ident_adoptable); a file that is not is logged once
 * and the current identity keeps serving. 1 when adopted, else 0. */
static int adopt_if_changed(void)
{
    struct cmpx_stamp now_st;
    pthread_mutex_lock(&G.fmu);
    if (cmpx_stamp_of(G.conf.dir, &now_st) != 0 || cmpx_stamp_eq(&now_st, &G.stamp)) {
        pthread_mutex_unlock(&G.fmu);
        return 0;
    }
    struct cmpx_ident *cand = NULL, *cur = cmpx_current();
    struct cmpx_stamp st = now_st; /* what is remembered when it cannot be opened */
    int rc = cmpx_ident_read(G.conf.dir, &cand, &st);
    if (rc == 0 && cur != NULL && X509_cmp(cand->leaf, cur->leaf) == 0) {
        cmpx_ident_free(cand); /* rewritten, same certificate */
        cand = NULL;
    } else if (rc == 0) {
        pthread_rwlock_rdlock(&G.tlock);
        rc = cmpx_ident_adoptable(cand, cur, G.anchors, G.trust ? G.trust->cas : NULL, time(NULL));
        pthread_rwlock_unlock(&G.tlock);
    }
    if (rc < 0)
        cmpx_log("%s changed on disk but is not adopted (%s): the current certificate keeps "
                 "serving",
                 CMPX_IDENT_FILE, pkie_err_last()->msg);
    if (rc == 0 && cand != NULL) {
        install(cand, &st, "adopted (written by another process)");
    } else {
        cmpx_ident_free(cand);
        pthread_mutex_lock(&G.mu);
        G.stamp = st; /* seen: not read again until it changes */
        pthread_mutex_unlock(&G.mu);
    }
    pthread_mutex_unlock(&G.fmu);
    return rc == 0 && cand != NULL;
}

/* IR with MAC protection (first enrollment). */
static int enroll_ir(void)
{
    char secret[512], buf[512];
    if (G.conf.ref == NULL)
        return PKIE_ERR(PKIE_ERR_STATE, "no certificate in %s and no ref/secret_file to enroll",
                        G.conf.dir);
    int rc = cmpx_read_secret(G.conf.secret_file, secret, sizeof(secret));
    if (rc != 0)
        return rc;
    struct pkie_cmp_ctx *ctx = ctx_new(G.trust);
    EVP_PKEY *key = G.conf.key_file != NULL ? key_load(G.conf.key_file) : keygen();
    X509_NAME *subj = cmpx_name_parse(G.conf.subject);
    if (ctx == NULL || key == NULL || subj == NULL) {
        rc = subj == NULL || key == NULL ? pkie_err_last()->code
                                         : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "IR setup");
        goto out;
    }
    if ((rc = pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)G.conf.ref, strlen(G.conf.ref))) != 0 ||
        (rc = pkie_cmp_ctx_set_secret(ctx, (const uint8_t *)secret, strlen(secret))) != 0 ||
        (rc = pkie_cmp_ctx_set_subject(ctx, subj)) != 0 ||
        (rc = cmpx_sans_parse(G.conf.san, add_san, ctx)) != 0 ||
        (rc = pkie_cmp_ctx_set_newkey(ctx, key)) != 0)
        goto out;
    X509 *cert = pkie_cmp_exec_ir(ctx);
    if (cert == NULL) {
        rc = PKIE_ERR(PKIE_ERR_STATE, "IR to %s failed: %s", G.conf.ca_url,
                      status_text(ctx, buf, sizeof(buf)));
        goto out;
    }
    rc = ident_install(ctx, key, cert, "enrolled (IR, MAC)");
out:
    pkie_wipe(secret, sizeof(secret));
    X509_NAME_free(subj);
    EVP_PKEY_free(key);
    pkie_cmp_ctx_free(ctx);
    return rc;
}

/* KUR signed with the current certificate, holding the directory's lock:
 * when another process renewed meanwhile (identity.pem changed and is no
 * longer due) its identity is adopted instead. Network without mu. */
static int renew_kur(void)
{
    int lfd = cmpx_lock_take(G.conf.dir);
    if (lfd < 0)
        return lfd;
    adopt_if_changed();
    pthread_mutex_lock(&G.mu);
    struct cmpx_ident *cur = G.id;
    long long due = due_at(cur, G.written);
    pthread_mutex_unlock(&G.mu);
    if ((long long)time(NULL) < due) { /* renewed by another process */
        atomic_store(&G.renew_try_at, due);
        cmpx_lock_release(lfd);
        return 0;
    }
    char buf[512];
    pthread_rwlock_rdlock(&G.tlock);
    struct pkie_cmp_ctx *ctx = ctx_new(G.trust);
    pthread_rwlock_unlock(&G.tlock);
    EVP_PKEY *key = keygen();
    int rc = 0;
    if (ctx == NULL || key == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "KUR setup");
        goto out;
    }
    if ((rc = pkie_cmp_ctx_set_cert(ctx, cur->leaf)) != 0 ||
        (rc = pkie_cmp_ctx_set_key(ctx, cur->key)) != 0 ||
        (rc = pkie_cmp_ctx_set_oldcert(ctx, cur->leaf)) != 0 ||
        (rc = pkie_cmp_ctx_set_newkey(ctx, key)) != 0)
        goto out;
    X509 *cert = pkie_cmp_exec_kur(ctx);
    if (cert == NULL) {
        rc = PKIE_ERR(PKIE_ERR_STATE, "KUR to %s failed: %s", G.conf.ca_url,
                      status_text(ctx, buf, sizeof(buf)));
        goto out;
    }
    rc = ident_install(ctx, key, cert, "renewed (KUR)");
out:
    EVP_PKEY_free(key);
    pkie_cmp_ctx_free(ctx);
    cmpx_lock_release(lfd);
    return rc;
}

/* genm caCerts and crlStatusList, signed with the current certificate. */
static int refresh_trust(void)
{
    pthread_mutex_lock(&G.mu);
    struct cmpx_ident *cur = G.id;
    pthread_mutex_unlock(&G.mu);
    pthread_rwlock_rdlock(&G.tlock);
    X509_CRL *last = G.trust != NULL ? G.trust->crl : NULL;
    if (last != NULL)
        X509_CRL_up_ref(last);
    struct pkie_cmp_ctx *ctx = ctx_new(G.trust);
    pthread_rwlock_unlock(&G.tlock);
    STACK_OF(X509) *got = NULL, *cas = NULL;
    X509_CRL *crl = NULL;
    int rc = 0;
    if (ctx == NULL || cur == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "refresh setup");
        goto out;
    }
    if ((rc = pkie_cmp_ctx_set_cert(ctx, cur->leaf)) != 0 ||
        (rc = pkie_cmp_ctx_set_key(ctx, cur->key)) != 0)
        goto out;
    rc = pkie_cmp_get1_caCerts(ctx, &got);
    if (rc != 0) {
        rc = cmpx_err_wrap(rc, "genm caCerts");
        goto out;
    }
    cas = verified_cas(got);
    if (cas == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "CA certificates");
        goto out;
    }
    pkie_cmp_ctx_reinit(ctx);
    rc = pkie_cmp_get1_crlUpdate(ctx, cur->leaf, NULL, &crl);
    if (rc != 0) {
        rc = cmpx_err_wrap(rc, "genm crlStatusList");
        goto out;
    }
    if (crl != NULL && !crl_ok(crl, cas)) {
        rc = PKIE_ERR(PKIE_ERR_CRYPTO, "the CRL's signature does not verify with a CA certificate");
        goto out;
    }
    if (crl == NULL && last != NULL) { /* nothing newer */
        crl = last;
        last = NULL;
    }
    BIO *b = BIO_new(BIO_s_mem());
    for (int i = 0; b != NULL && i < sk_X509_num(cas); i++)
        PEM_write_bio_X509(b, sk_X509_value(cas, i));
    if (b != NULL)
        cmpx_write_bio(G.conf.dir, CAS_FILE, b);
    BIO_free(b);
    if (crl != NULL && (b = BIO_new(BIO_s_mem())) != NULL) {
        PEM_write_bio_X509_CRL(b, crl);
        cmpx_write_bio(G.conf.dir, CRL_FILE, b);
        BIO_free(b);
    }
    struct cmpx_trust *t = trust_new(cas, crl);
    if (t == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "trust");
        goto out;
    }
    int revoked = crl != NULL ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : 0;
    if (revoked < 0)
        revoked = 0;
    int before = -1;
    pthread_rwlock_rdlock(&G.tlock);
    if (G.trust != NULL && G.trust->crl != NULL)
        before = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(G.trust->crl));
    if (before < 0 && G.trust != NULL && G.trust->crl != NULL)
        before = 0;
    pthread_rwlock_unlock(&G.tlock);
    trust_swap(t);
    if (before != revoked)
        cmpx_log("CRL updated: %d revoked certificate(s); %d CA certificate(s)", revoked,
                 sk_X509_num(cas));
out:
    sk_X509_pop_free(got, X509_free);
    sk_X509_pop_free(cas, X509_free);
    X509_CRL_free(crl);
    X509_CRL_free(last);
    pkie_cmp_ctx_free(ctx);
    ERR_clear_error();
    return rc;
}

/* ---- the background thread ------------------------------------------------- */

static void *refresher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&G.mu);
    while (!G.stop) {
        pthread_mutex_unlock(&G.mu);
        adopt_if_changed(); /* another process renewed: serve its certificate */
        pthread_mutex_lock(&G.mu);
        time_t now = time(NULL);
        if (now >= G.next_refresh) {
            pthread_mutex_unlock(&G.mu);
            int rc = refresh_trust();
            pthread_mutex_lock(&G.mu);
            if (rc == 0) {
                G.refresh_fails = 0;
                G.next_refresh = time(NULL) + G.conf.refresh;
            } else {
                long long d = cmpx_backoff(&G.conf, ++G.refresh_fails);
                cmpx_log("refresh of CA certificates and CRL failed (%s): keeping the current "
                         "ones, retry %u in %lld s",
                         pkie_err_last()->msg, G.refresh_fails, d);
                G.next_refresh = time(NULL) + d;
            }
            continue;
        }
        long long rat = atomic_load(&G.renew_try_at);
        if (now >= rat) {
            pthread_mutex_unlock(&G.mu);
            int rc = renew_kur();
            pthread_mutex_lock(&G.mu);
            if (rc != 0) {
                long long d = cmpx_backoff(&G.conf, ++G.renew_fails);
                cmpx_log("renewal failed (%s): the current certificate keeps serving (valid %lld s "
                         "more), retry %u in %lld s",
                         pkie_err_last()->msg, (long long)(G.id->not_after - time(NULL)),
                         G.renew_fails, d);
                atomic_store(&G.renew_try_at, (long long)time(NULL) + d);
            }
            continue;
        }
        long long wake = G.next_refresh < rat ? (long long)G.next_refresh : rat;
        if (wake > (long long)now + DISK_POLL)
            wake = (long long)now + DISK_POLL;
        struct timespec ts = {.tv_sec = (time_t)wake, .tv_nsec = 0};
        G.kick = 0;
        while (!G.stop && !G.kick && time(NULL) < wake)
            if (pthread_cond_timedwait(&G.cv, &G.mu, &ts) != 0)
                break;
    }
    pthread_mutex_unlock(&G.mu);
    return NULL;
}

void cmpx_handshake_tick(void)
{
    adopt_if_changed(); /* a stat(); reads the file only when it changed */
    if ((long long)time(NULL) < atomic_load(&G.renew_try_at))
        return;
    pthread_mutex_lock(&G.mu);
    G.kick = 1;
    pthread_cond_signal(&G.cv);
    pthread_mutex_unlock(&G.mu);
}

/* ---- init ------------------------------------------------------------------ */

static int load_anchors(void)
{
    G.anchor_certs = cmpx_load_certs(G.conf.trust_anchor);
    if (G.anchor_certs == NULL)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "trust_anchor: no certificate in %s",
                        G.conf.trust_anchor);
    G.anchors = X509_STORE_new();
    if (G.anchors == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "store");
    for (int i = 0; i < sk_X509_num(G.anchor_certs); i++)
        if (!X509_STORE_add_cert(G.anchors, sk_X509_value(G.anchor_certs, i)))
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "trust_anchor");
    return 0;
}

/* The stored CA certificates and CRL, when present and valid. */
static void load_trust(void)
{
    char path[PATH_MAX];
    STACK_OF(X509) *stored = NULL, *cas = NULL;
    X509_CRL *crl = NULL;
    if (cmpx_path(path, sizeof(path), G.conf.dir, CAS_FILE) == 0)
        stored = cmpx_load_certs(path);
    cas = verified_cas(stored);
    if (cmpx_path(path, sizeof(path), G.conf.dir, CRL_FILE) == 0) {
        BIO *b = BIO_new_file(path, "r");
        if (b != NULL)
            crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
        BIO_free(b);
        if (crl != NULL && !crl_ok(crl, cas)) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    ERR_clear_error();
    struct cmpx_trust *t = trust_new(cas, crl);
    if (t != NULL)
        trust_swap(t);
    sk_X509_pop_free(stored, X509_free);
    sk_X509_pop_free(cas, X509_free);
    X509_CRL_free(crl);
}

/* Called with init_mu held; takes mu for the shared fields. */
static int init_locked(const char *conf_path)
{
    int rc = cmpx_conf_load(conf_path, &G.conf);
    if (rc == 0)
        rc = cmpx_dir_prepare(G.conf.dir);
    if (rc == 0)
        rc = load_anchors();
    if (rc != 0)
        return rc;
    load_trust();
    /* first enrollment under the directory's lock: processes sharing it
     * enroll once, the others load what the first wrote */
    int lfd = cmpx_lock_take(G.conf.dir);
    if (lfd < 0)
        return lfd;
    if (G.id == NULL) {
        struct cmpx_ident *id = NULL;
        struct cmpx_stamp st;
        rc = cmpx_ident_read(G.conf.dir, &id, &st);
        if (rc == 0) {
            pthread_mutex_lock(&G.fmu);
            install(id, &st, "loaded " CMPX_IDENT_FILE);
            pthread_mutex_unlock(&G.fmu);
        } else if (rc < 0) {
            cmpx_log("%s: enrolling again", pkie_err_last()->msg);
        }
        rc = 0;
    }
    if (G.id == NULL)
        rc = enroll_ir();
    cmpx_lock_release(lfd);
    if (rc != 0)
        return rc;
    time_t now = time(NULL);
    if (now >= atomic_load(&G.renew_try_at)) {
        rc = renew_kur();
        if (rc != 0) {
            if (now >= G.id->not_after)
                return cmpx_err_wrap(rc, "certificate expired and renewal failed");
            long long d = cmpx_backoff(&G.conf, ++G.renew_fails);
            cmpx_log("renewal failed (%s): the current certificate keeps serving, retry %u in "
                     "%lld s",
                     pkie_err_last()->msg, G.renew_fails, d);
            atomic_store(&G.renew_try_at, (long long)time(NULL) + d);
        }
    }
    rc = refresh_trust();
    pthread_mutex_lock(&G.mu);
    if (rc != 0) {
        long long d = cmpx_backoff(&G.conf, ++G.refresh_fails);
        cmpx_log("refresh of CA certificates and CRL failed (%s): using the stored ones, retry "
                 "in %lld s",
                 pkie_err_last()->msg, d);
        G.next_refresh = time(NULL) + d;
    } else {
        G.next_refresh = time(NULL) + G.conf.refresh;
    }
    int ok = pthread_create(&G.thr, NULL, refresher, NULL) == 0;
    G.thr_started = ok;
    pthread_mutex_unlock(&G.mu);
    if (!ok)
        return PKIE_ERR(PKIE_ERR_INTERNAL, "cannot start the refresh thread");
    return 0;
}

static void cmpx_atexit(void);

int cmpx_init(const char *conf_path)
{
    pthread_mutex_lock(&init_mu);
    int rc = 0;
    if (!G.inited) {
        rc = init_locked(conf_path);
        if (rc == 0) {
            G.inited = 1;
            /* before OpenSSL's own atexit cleanup (registered earlier) */
            atexit(cmpx_atexit);
        } else if (!G.thr_started) { /* let a later task try again from scratch */
            trust_swap(NULL);
            sk_X509_pop_free(G.anchor_certs, X509_free);
            G.anchor_certs = NULL;
            X509_STORE_free(G.anchors);
            G.anchors = NULL;
            cmpx_conf_free(&G.conf);
        }
    }
    pthread_mutex_unlock(&init_mu);
    return rc;
}

struct cmpx_ident *cmpx_current(void)
{
    pthread_mutex_lock(&G.mu);
    struct cmpx_ident *id = G.id;
    pthread_mutex_unlock(&G.mu);
    return id;
}

struct cmpx_ident *cmpx_by_gen(uint64_t gen)
{
    pthread_mutex_lock(&G.mu);
    struct cmpx_ident *id = G.id;
    while (id != NULL && id->gen != gen)
        id = id->older;
    pthread_mutex_unlock(&G.mu);
    return id;
}

/* Stop the thread and free everything, at exit while OpenSSL still works. */
static void cmpx_atexit(void)
{
    pthread_mutex_lock(&G.mu);
    G.stop = 1;
    pthread_cond_broadcast(&G.cv);
    int thr = G.thr_started;
    pthread_mutex_unlock(&G.mu);
    if (thr)
        pthread_join(G.thr, NULL);
    trust_swap(NULL);
    cmpx_ident_free(G.id);
    G.id = NULL;
    sk_X509_pop_free(G.anchor_certs, X509_free);
    X509_STORE_free(G.anchors);
    cmpx_conf_free(&G.conf);
}
