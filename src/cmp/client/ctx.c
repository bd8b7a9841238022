/* CMP client context: settings, options and results. */
#include "client_internal.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/objects.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    int def, min, max;
} opt_range[] = {
    [PKIE_CMP_OPT_IMPLICIT_CONFIRM] = {0, 0, 1},
    [PKIE_CMP_OPT_DISABLE_CONFIRM] = {0, 0, 1},
    [PKIE_CMP_OPT_UNPROTECTED_ERRORS] = {0, 0, 1},
    [PKIE_CMP_OPT_UNPROTECTED_SEND] = {0, 0, 1},
    [PKIE_CMP_OPT_POPO_METHOD] = {PKIE_CMP_POPO_SIGNATURE, -1, 2},
    [PKIE_CMP_OPT_DIGEST] = {NID_sha256, 1, 0x7fffffff},
    [PKIE_CMP_OPT_OWF] = {NID_sha256, 1, 0x7fffffff},
    [PKIE_CMP_OPT_MAC] = {NID_hmac_sha1, 1, 0x7fffffff},
    [PKIE_CMP_OPT_PBMAC1] = {0, 0, 1},
    [PKIE_CMP_OPT_PBM_ITERATIONS] = {500, 100, 100000},
    [PKIE_CMP_OPT_REVOCATION_REASON] = {-1, -1, 10},
    [PKIE_CMP_OPT_VALIDITY_DAYS] = {0, 0, 365000},
    [PKIE_CMP_OPT_SUBJECTALTNAME_NODEFAULT] = {0, 0, 1},
    [PKIE_CMP_OPT_SUBJECTALTNAME_CRITICAL] = {0, 0, 1},
    [PKIE_CMP_OPT_POLICIES_CRITICAL] = {0, 0, 1},
    [PKIE_CMP_OPT_IGNORE_KEYUSAGE] = {0, 0, 1},
    [PKIE_CMP_OPT_MAX_SKEW] = {0, 0, 0x7fffffff},
    [PKIE_CMP_OPT_KEEP_ALIVE] = {1, 0, 2},
    [PKIE_CMP_OPT_MSG_TIMEOUT] = {120, 0, 0x7fffffff},
    [PKIE_CMP_OPT_TOTAL_TIMEOUT] = {0, 0, 0x7fffffff},
    [PKIE_CMP_OPT_MAX_RESP_SIZE] = {PKIE_CMP_DEFAULT_MAX_RESP, 64, PKIE_CMP_HARD_MAX_RESP},
    [PKIE_CMP_OPT_TLS_USED] = {0, 0, 1},
    [PKIE_CMP_OPT_NO_CACHE_EXTRACERTS] = {0, 0, 1},
    [PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS] = {0, 0, 1},
};
#define N_OPTS ((int)(sizeof(opt_range) / sizeof(opt_range[0])))

struct pkie_cmp_ctx *pkie_cmp_ctx_new(void)
{
    struct pkie_cmp_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        PKIE_ERR(PKIE_ERR_NOMEM, "CMP context");
        return NULL;
    }
    for (int i = 0; i < N_OPTS; i++)
        ctx->opt[i] = opt_range[i].def;
    ctx->status = PKIE_CMP_STATUS_NONE;
    ctx->transfer = pkie_cmp_http_transfer;
    return ctx;
}

void cmp_template_clear(struct cmp_template *t)
{
    X509_NAME_free(t->subject);
    X509_NAME_free(t->issuer);
    sk_GENERAL_NAME_pop_free(t->sans, GENERAL_NAME_free);
    sk_X509_EXTENSION_pop_free(t->exts, X509_EXTENSION_free);
    sk_ASN1_OBJECT_pop_free(t->policies, ASN1_OBJECT_free);
    EVP_PKEY_free(t->newkey);
    memset(t, 0, sizeof(*t));
}

void cmp_itavs_clear(struct pkie_cmp_genm_itavs *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].value);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void pkie_cmp_genm_itavs_free(struct pkie_cmp_genm_itavs *itavs)
{
    cmp_itavs_clear(itavs);
    free(itavs);
}

int cmp_itavs_add(struct pkie_cmp_genm_itavs *l, const char *type_oid, const uint8_t *value,
                  size_t value_len)
{
    if (type_oid == NULL || strlen(type_oid) >= sizeof(l->v[0].type) || l->n >= 256)
        return PKIE_ERR(PKIE_ERR_ARG, "bad or too many ITAVs");
    struct pkie_cmp_genm_itav *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "ITAV list");
    l->v = nv;
    struct pkie_cmp_genm_itav *e = &l->v[l->n];
    memset(e, 0, sizeof(*e));
    snprintf(e->type, sizeof(e->type), "%s", type_oid);
    if (value != NULL && value_len > 0) {
        e->value = malloc(value_len);
        if (e->value == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "ITAV value");
        memcpy(e->value, value, value_len);
        e->value_len = value_len;
    }
    l->n++;
    return 0;
}

void cmp_ctx_clear_results(struct pkie_cmp_ctx *ctx)
{
    ctx->status = PKIE_CMP_STATUS_NONE;
    ctx->failinfo = 0;
    free(ctx->status_string);
    ctx->status_string = NULL;
    sk_X509_pop_free(ctx->new_certs, X509_free);
    sk_X509_pop_free(ctx->capubs, X509_free);
    sk_X509_pop_free(ctx->extracerts_in, X509_free);
    sk_X509_pop_free(ctx->new_chain, X509_free);
    X509_free(ctx->validated_srvcert);
    ctx->new_certs = ctx->capubs = ctx->extracerts_in = ctx->new_chain = NULL;
    ctx->validated_srvcert = NULL;
    cmp_ckg_clear_result(ctx);
}

int cmp_ctx_set_status_string(struct pkie_cmp_ctx *ctx, const char *s)
{
    free(ctx->status_string);
    ctx->status_string = NULL;
    if (s == NULL)
        return 0;
    ctx->status_string = strdup(s);
    return ctx->status_string == NULL ? PKIE_ERR(PKIE_ERR_NOMEM, "status string") : 0;
}

/* ---- transaction state and status (used by txn.c) ------------------------ */

void cmp_txn_forget(struct pkie_cmp_ctx *ctx)
{
    for (size_t i = 0; i < sizeof(ctx->got) / sizeof(ctx->got[0]); i++) {
        X509_free(ctx->got[i]);
        ctx->got[i] = NULL;
        ctx->waiting[i] = 0;
    }
    cmp_ckg_forget(ctx);
    X509_free(ctx->ta_ip_signer);
    X509_STORE_free(ctx->ta_ip_store);
    ctx->ta_ip_signer = NULL;
    ctx->ta_ip_store = NULL;
    ctx->n_req = 0;
    ctx->pending = 0;
    ctx->have_tid = 0;
    ctx->have_recip_nonce = 0;
}

void cmp_txn_start(struct pkie_cmp_ctx *ctx)
{
    cmp_ctx_clear_results(ctx);
    cmp_txn_forget(ctx);
    int total = ctx->opt[PKIE_CMP_OPT_TOTAL_TIMEOUT];
    ctx->end_time = total > 0 ? time(NULL) + total : 0;
}

void cmp_ctx_record_status(struct pkie_cmp_ctx *ctx, const struct pkie_cmp_statusinfo *si)
{
    ctx->status = (int)si->status;
    ctx->failinfo = si->has_failInfo ? (int)si->failInfo : 0;
    free(ctx->status_string);
    ctx->status_string = NULL;
    size_t total = 0;
    for (size_t i = 0; i < si->statusString.count; i++)
        total += si->statusString.strs[i].len + 2;
    if (si->statusString.count == 0 || total > 65536)
        return;
    char *s = malloc(total + 1);
    if (s == NULL)
        return;
    size_t off = 0;
    for (size_t i = 0; i < si->statusString.count; i++) {
        if (i > 0) {
            memcpy(s + off, "; ", 2);
            off += 2;
        }
        const struct pkie_cmp_bytes *b = &si->statusString.strs[i];
        for (size_t j = 0; j < b->len; j++) /* keep it printable on one line */
            s[off++] = (b->p[j] < 0x20 || b->p[j] == 0x7f) ? '?' : (char)b->p[j];
    }
    s[off] = '\0';
    ctx->status_string = s;
}

int pkie_cmp_ctx_reinit(struct pkie_cmp_ctx *ctx)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    cmp_txn_start(ctx);
    ctx->end_time = 0;
    return 0;
}

void pkie_cmp_ctx_free(struct pkie_cmp_ctx *ctx)
{
    if (ctx == NULL)
        return;
    cmp_txn_start(ctx);
    cmp_http_free(ctx);
    free(ctx->server_host);
    free(ctx->path);
    free(ctx->proxy);
    free(ctx->no_proxy);
    free(ctx->tls_trusted);
    free(ctx->tls_host);
    free(ctx->tls_cert);
    free(ctx->tls_key);
    pkie_wipe_free_str(ctx->tls_keypass);
    sk_X509_pop_free(ctx->tls_extra, X509_free);
    cmp_certcache_clear(&ctx->certcache);
    cmp_spkicache_clear(&ctx->spkicache);
    free(ctx->ref);
    pkie_wipe_free(ctx->secret, ctx->secret_len);
    X509_free(ctx->cert);
    EVP_PKEY_free(ctx->key);
    sk_X509_pop_free(ctx->extracerts, X509_free);
    X509_STORE_free(ctx->trusted);
    cmp_ckg_forget_kga(ctx);
    X509_free(ctx->srvcert);
    sk_X509_pop_free(ctx->untrusted, X509_free);
    sk_X509_pop_free(ctx->extracerts_kept, X509_free);
    X509_NAME_free(ctx->expected_sender);
    X509_NAME_free(ctx->recipient);
    X509_STORE_free(ctx->out_trusted);
    cmp_template_clear(&ctx->cur);
    for (size_t i = 0; i < ctx->n_tmpls; i++)
        cmp_template_clear(&ctx->tmpls[i]);
    free(ctx->tmpls);
    X509_REQ_free(ctx->p10csr);
    ASN1_INTEGER_free(ctx->serial);
    X509_free(ctx->oldcert);
    cmp_itavs_clear(&ctx->geninfo);
    cmp_itavs_clear(&ctx->genm_itavs);
    pkie_wipe(ctx, sizeof(*ctx));
    free(ctx);
}

/* ---- strings ------------------------------------------------------------- */

static int set_str(char **dst, const char *s, size_t max, const char *what)
{
    char *n = NULL;
    if (s != NULL) {
        if (strlen(s) > max)
            return PKIE_ERR(PKIE_ERR_ARG, "%s too long", what);
        n = strdup(s);
        if (n == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "%s", what);
    }
    free(*dst);
    *dst = n;
    return 0;
}

int pkie_cmp_ctx_set_server(struct pkie_cmp_ctx *ctx, const char *url)
{
    if (ctx == NULL || url == NULL || *url == '\0' || strlen(url) > 2048)
        return PKIE_ERR(PKIE_ERR_ARG, "server address missing or too long");
    const char *p = url;
    int tls = 0;
    if (strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncasecmp(p, "https://", 8) == 0) {
        p += 8;
        tls = 1;
    } else if (strstr(p, "://") != NULL) {
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server '%s': only http:// and https://", url);
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server '%s': unclosed '['", url);
        p = host_end + 1;
    } else {
        while (*p != '\0' && *p != ':' && *p != '/')
            p++;
        host_end = p;
    }
    if (host_end == host)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server '%s': no host", url);
    long port = 0;
    if (*p == ':') {
        char *end;
        port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/'))
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server '%s': bad port", url);
        p = end;
    } else if (*p != '\0' && *p != '/') {
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server '%s': bad address", url);
    }
    char *h = strndup(host, (size_t)(host_end - host));
    if (h == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "server");
    for (const char *c = h; *c != '\0'; c++)
        if (*c <= ' ' || *c == '@' || *c == '?' || *c == '#' || (unsigned char)*c >= 0x7f) {
            free(h);
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "server '%s': bad host name", url);
        }
    if (*p == '/') {
        int rc = pkie_cmp_ctx_set_path(ctx, p);
        if (rc < 0) {
            free(h);
            return rc;
        }
    }
    free(ctx->server_host);
    ctx->server_host = h;
    ctx->server_port = (int)port;
    ctx->server_tls = tls;
    cmp_http_free(ctx); /* a new server: a new connection */
    return 0;
}

int pkie_cmp_ctx_set_path(struct pkie_cmp_ctx *ctx, const char *path)
{
    if (ctx == NULL || path == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL path");
    for (const char *c = path; *c != '\0'; c++)
        if (*c <= ' ' || (unsigned char)*c >= 0x7f)
            return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "path contains a blank or control");
    while (*path == '/')
        path++; /* stored without leading slash */
    return set_str(&ctx->path, path, 1024, "path");
}

int pkie_cmp_ctx_set_proxy(struct pkie_cmp_ctx *ctx, const char *proxy)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_str(&ctx->proxy, proxy, 2048, "proxy");
}

int pkie_cmp_ctx_set_no_proxy(struct pkie_cmp_ctx *ctx, const char *no_proxy)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_str(&ctx->no_proxy, no_proxy, 4096, "no_proxy");
}

int pkie_cmp_ctx_set_tls_trusted(struct pkie_cmp_ctx *ctx, const char *pem_file,
                                 const char *tls_host)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    int rc = set_str(&ctx->tls_trusted, pem_file, 4096, "tls_trusted");
    if (rc == 0)
        rc = set_str(&ctx->tls_host, tls_host, 1024, "tls_host");
    cmp_http_free(ctx);
    return rc;
}

int pkie_cmp_ctx_set_tls_client(struct pkie_cmp_ctx *ctx, const char *cert_file,
                                const char *key_file, const char *keypass)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    int rc = set_str(&ctx->tls_cert, cert_file, 4096, "tls_cert");
    if (rc == 0)
        rc = set_str(&ctx->tls_key, key_file, 4096, "tls_key");
    if (rc == 0) {
        pkie_wipe_free_str(ctx->tls_keypass);
        ctx->tls_keypass = NULL;
        rc = set_str(&ctx->tls_keypass, keypass, 4096, "tls_keypass");
    }
    cmp_http_free(ctx);
    return rc;
}

int pkie_cmp_ctx_set_transfer_cb(struct pkie_cmp_ctx *ctx, pkie_cmp_transfer_fn fn, void *arg)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    ctx->transfer = fn != NULL ? fn : pkie_cmp_http_transfer;
    ctx->transfer_arg = arg;
    return 0;
}

void *pkie_cmp_ctx_get_transfer_arg(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->transfer_arg : NULL;
}

int pkie_cmp_ctx_set_msg_hook(struct pkie_cmp_ctx *ctx, pkie_cmp_msg_hook_fn fn, void *arg)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    ctx->msg_hook = fn;
    ctx->msg_hook_arg = arg;
    return 0;
}

/* ---- options ------------------------------------------------------------- */

int pkie_cmp_ctx_set_option(struct pkie_cmp_ctx *ctx, enum pkie_cmp_option opt, int value)
{
    if (ctx == NULL || (int)opt < 0 || (int)opt >= N_OPTS)
        return PKIE_ERR(PKIE_ERR_ARG, "unknown CMP option %d", (int)opt);
    if (value < opt_range[opt].min || value > opt_range[opt].max)
        return PKIE_ERR(PKIE_ERR_ARG, "CMP option %d: value %d out of range %d..%d", (int)opt,
                        value, opt_range[opt].min, opt_range[opt].max);
    if (opt == PKIE_CMP_OPT_REVOCATION_REASON && value == 7)
        return PKIE_ERR(PKIE_ERR_ARG, "revocation reason 7 is not used (RFC 5280 5.3.1)");
    if (opt == PKIE_CMP_OPT_DIGEST && EVP_get_digestbynid(value) == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "unknown digest NID %d", value);
    ctx->opt[opt] = value;
    if (opt == PKIE_CMP_OPT_NO_CACHE_EXTRACERTS && value) {
        sk_X509_pop_free(ctx->extracerts_kept, X509_free);
        ctx->extracerts_kept = NULL;
    }
    return 0;
}

int pkie_cmp_ctx_get_option(const struct pkie_cmp_ctx *ctx, enum pkie_cmp_option opt)
{
    if (ctx == NULL || (int)opt < 0 || (int)opt >= N_OPTS)
        return -1;
    return ctx->opt[opt];
}

/* ---- credentials ---------------------------------------------------------- */

static int set_bytes(uint8_t **dst, size_t *dlen, const uint8_t *p, size_t n, size_t max,
                     int secret)
{
    uint8_t *c = NULL;
    if (p != NULL) {
        if (n > max)
            return PKIE_ERR(PKIE_ERR_ARG, "value too long (%zu > %zu)", n, max);
        c = malloc(n > 0 ? n : 1);
        if (c == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "copy");
        memcpy(c, p, n);
    }
    if (secret)
        pkie_wipe_free(*dst, *dlen);
    else
        free(*dst);
    *dst = c;
    *dlen = c != NULL ? n : 0;
    return 0;
}

int pkie_cmp_ctx_set_ref(struct pkie_cmp_ctx *ctx, const uint8_t *ref, size_t len)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_bytes(&ctx->ref, &ctx->ref_len, ref, len, PKIE_CMP_MAX_REF, 0);
}

int pkie_cmp_ctx_set_secret(struct pkie_cmp_ctx *ctx, const uint8_t *secret, size_t len)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_bytes(&ctx->secret, &ctx->secret_len, secret, len, PKIE_CMP_MAX_SECRET, 1);
}

#define SET_REF(field, obj, up, fr)                                                                \
    do {                                                                                           \
        if (ctx == NULL)                                                                           \
            return PKIE_ERR(PKIE_ERR_ARG, "NULL context");                                         \
        if ((obj) != NULL && !up(obj))                                                             \
            return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "up_ref");                                       \
        fr(ctx->field);                                                                            \
        ctx->field = (obj);                                                                        \
        return 0;                                                                                  \
    } while (0)

int pkie_cmp_ctx_set_cert(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    SET_REF(cert, cert, X509_up_ref, X509_free);
}

int pkie_cmp_ctx_set_key(struct pkie_cmp_ctx *ctx, EVP_PKEY *key)
{
    SET_REF(key, key, EVP_PKEY_up_ref, EVP_PKEY_free);
}

int pkie_cmp_ctx_set_trusted(struct pkie_cmp_ctx *ctx, X509_STORE *store)
{
    if (ctx != NULL)
        cmp_ckg_forget_kga(ctx); /* verified against the previous store */
    SET_REF(trusted, store, X509_STORE_up_ref, X509_STORE_free);
}

int pkie_cmp_ctx_set_out_trusted(struct pkie_cmp_ctx *ctx, X509_STORE *store)
{
    SET_REF(out_trusted, store, X509_STORE_up_ref, X509_STORE_free);
}

int pkie_cmp_ctx_set_srvcert(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    SET_REF(srvcert, cert, X509_up_ref, X509_free);
}

int pkie_cmp_ctx_set_oldcert(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    SET_REF(oldcert, cert, X509_up_ref, X509_free);
}

int pkie_cmp_ctx_set_newkey(struct pkie_cmp_ctx *ctx, EVP_PKEY *key)
{
    SET_REF(cur.newkey, key, EVP_PKEY_up_ref, EVP_PKEY_free);
}

int pkie_cmp_ctx_set_p10csr(struct pkie_cmp_ctx *ctx, X509_REQ *csr)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    X509_REQ *d = NULL;
    if (csr != NULL && (d = X509_REQ_dup(csr)) == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "copy CSR");
    X509_REQ_free(ctx->p10csr);
    ctx->p10csr = d;
    return 0;
}

static int add_cert(STACK_OF(X509) **sk, X509 *cert)
{
    if (cert == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL certificate");
    if (*sk == NULL && (*sk = sk_X509_new_null()) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "certificate list");
    if (sk_X509_num(*sk) >= 1000)
        return PKIE_ERR(PKIE_ERR_LIMIT, "too many certificates");
    if (!X509_up_ref(cert))
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "up_ref");
    if (!sk_X509_push(*sk, cert)) {
        X509_free(cert);
        return PKIE_ERR(PKIE_ERR_NOMEM, "certificate list");
    }
    return 0;
}

int pkie_cmp_ctx_add_extracert(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return add_cert(&ctx->extracerts, cert);
}

int pkie_cmp_ctx_add_tls_extra(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    cmp_http_free(ctx);
    return add_cert(&ctx->tls_extra, cert);
}

int pkie_cmp_ctx_add_untrusted(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return add_cert(&ctx->untrusted, cert);
}

static int set_name(X509_NAME **dst, const X509_NAME *name)
{
    X509_NAME *d = NULL;
    if (name != NULL && (d = X509_NAME_dup(name)) == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "copy name");
    X509_NAME_free(*dst);
    *dst = d;
    return 0;
}

int pkie_cmp_ctx_set_expected_sender(struct pkie_cmp_ctx *ctx, const X509_NAME *name)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_name(&ctx->expected_sender, name);
}

int pkie_cmp_ctx_set_recipient(struct pkie_cmp_ctx *ctx, const X509_NAME *name)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_name(&ctx->recipient, name);
}

int pkie_cmp_ctx_set_subject(struct pkie_cmp_ctx *ctx, const X509_NAME *name)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_name(&ctx->cur.subject, name);
}

int pkie_cmp_ctx_set1_serialNumber(struct pkie_cmp_ctx *ctx, const ASN1_INTEGER *serial)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    ASN1_INTEGER *d = NULL;
    if (serial != NULL && (d = ASN1_INTEGER_dup(serial)) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "serialNumber");
    ASN1_INTEGER_free(ctx->serial);
    ctx->serial = d;
    return 0;
}

int pkie_cmp_ctx_set_issuer(struct pkie_cmp_ctx *ctx, const X509_NAME *name)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return set_name(&ctx->cur.issuer, name);
}

int pkie_cmp_ctx_add_san(struct pkie_cmp_ctx *ctx, const GENERAL_NAME *name)
{
    if (ctx == NULL || name == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL SAN");
    if (ctx->cur.sans == NULL && (ctx->cur.sans = sk_GENERAL_NAME_new_null()) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "SAN list");
    GENERAL_NAME *d = GENERAL_NAME_dup(name);
    if (d == NULL || !sk_GENERAL_NAME_push(ctx->cur.sans, d)) {
        GENERAL_NAME_free(d);
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "SAN");
    }
    return 0;
}

int pkie_cmp_ctx_add_reqext(struct pkie_cmp_ctx *ctx, const X509_EXTENSION *ext)
{
    if (ctx == NULL || ext == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL extension");
    if (ctx->cur.exts == NULL && (ctx->cur.exts = sk_X509_EXTENSION_new_null()) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "extension list");
    X509_EXTENSION *d = X509_EXTENSION_dup(ext);
    if (d == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "extension");
    const ASN1_OBJECT *obj = X509_EXTENSION_get_object(d);
    for (int i = 0; i < sk_X509_EXTENSION_num(ctx->cur.exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(ctx->cur.exts, i);
        if (OBJ_cmp(X509_EXTENSION_get_object(e), obj) == 0) {
            X509_EXTENSION_free(sk_X509_EXTENSION_delete(ctx->cur.exts, i));
            break;
        }
    }
    if (!sk_X509_EXTENSION_push(ctx->cur.exts, d)) {
        X509_EXTENSION_free(d);
        return PKIE_ERR(PKIE_ERR_NOMEM, "extension");
    }
    return 0;
}

int pkie_cmp_ctx_add_policy(struct pkie_cmp_ctx *ctx, const char *oid)
{
    if (ctx == NULL || oid == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL policy");
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 0);
    if (o == NULL)
        return PKIE_ERR_OSSL(PKIE_ERR_ARG, "bad policy OID '%s'", oid);
    if ((ctx->cur.policies == NULL && (ctx->cur.policies = sk_ASN1_OBJECT_new_null()) == NULL) ||
        !sk_ASN1_OBJECT_push(ctx->cur.policies, o)) {
        ASN1_OBJECT_free(o);
        return PKIE_ERR(PKIE_ERR_NOMEM, "policy list");
    }
    return 0;
}

int pkie_cmp_ctx_push_template(struct pkie_cmp_ctx *ctx)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    if (ctx->n_tmpls >= 64)
        return PKIE_ERR(PKIE_ERR_LIMIT, "at most 64 certificate requests per message");
    struct cmp_template *n = realloc(ctx->tmpls, (ctx->n_tmpls + 1) * sizeof(*n));
    if (n == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "templates");
    ctx->tmpls = n;
    ctx->cur.days = ctx->opt[PKIE_CMP_OPT_VALIDITY_DAYS];
    ctx->tmpls[ctx->n_tmpls++] = ctx->cur;
    memset(&ctx->cur, 0, sizeof(ctx->cur));
    return 0;
}

int pkie_cmp_ctx_add_geninfo(struct pkie_cmp_ctx *ctx, const char *type_oid,
                             const uint8_t *value_der, size_t value_len)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return cmp_itavs_add(&ctx->geninfo, type_oid, value_der, value_len);
}

int pkie_cmp_ctx_add_genm_itav(struct pkie_cmp_ctx *ctx, const char *type_oid,
                               const uint8_t *value_der, size_t value_len)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    return cmp_itavs_add(&ctx->genm_itavs, type_oid, value_der, value_len);
}

void pkie_cmp_ctx_clear_genm_itavs(struct pkie_cmp_ctx *ctx)
{
    if (ctx != NULL)
        cmp_itavs_clear(&ctx->genm_itavs);
}

int pkie_cmp_ctx_set_certconf_cb(struct pkie_cmp_ctx *ctx, pkie_cmp_certconf_fn fn, void *arg)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    ctx->certconf = fn;
    ctx->certconf_arg = arg;
    return 0;
}

void *pkie_cmp_ctx_get_certconf_arg(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->certconf_arg : NULL;
}

/* ---- results ------------------------------------------------------------- */

int pkie_cmp_ctx_get_status(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->status : PKIE_CMP_STATUS_NONE;
}

int pkie_cmp_ctx_get_failinfo(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->failinfo : 0;
}

const char *pkie_cmp_ctx_get_status_string(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL && ctx->status_string != NULL ? ctx->status_string : "";
}

X509 *pkie_cmp_ctx_get_new_cert(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL && sk_X509_num(ctx->new_certs) > 0 ? sk_X509_value(ctx->new_certs, 0) : NULL;
}

STACK_OF(X509) *pkie_cmp_ctx_get_new_certs(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->new_certs : NULL;
}

STACK_OF(X509) *pkie_cmp_ctx_get_capubs(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->capubs : NULL;
}

STACK_OF(X509) *pkie_cmp_ctx_get_extracerts_in(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->extracerts_in : NULL;
}

STACK_OF(X509) *pkie_cmp_ctx_get_new_chain(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->new_chain : NULL;
}

X509 *pkie_cmp_ctx_get_validated_srvcert(const struct pkie_cmp_ctx *ctx)
{
    return ctx != NULL ? ctx->validated_srvcert : NULL;
}

char *pkie_cmp_ctx_snprint_status(const struct pkie_cmp_ctx *ctx, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return buf;
    buf[0] = '\0';
    if (ctx == NULL)
        return buf;
    size_t off = 0;
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (off < cap) {                                                                           \
            int n_ = snprintf(buf + off, cap - off, __VA_ARGS__);                                  \
            if (n_ > 0)                                                                            \
                off += (size_t)n_;                                                                 \
        }                                                                                          \
    } while (0)
    if (ctx->status == PKIE_CMP_STATUS_NONE)
        APPEND("PKIStatus: none");
    else
        APPEND("PKIStatus: %s", pkie_cmp_status_name((int64_t)ctx->status));
    APPEND("; PKIFailureInfo: ");
    if (ctx->failinfo == 0) {
        APPEND("<none>");
    } else {
        int first = 1;
        for (int b = 0; b <= PKIE_CMP_FI_MAX; b++)
            if (ctx->failinfo & (1 << b)) {
                APPEND("%s%s", first ? "" : ",", pkie_cmp_failinfo_name(b));
                first = 0;
            }
    }
    if (ctx->status_string != NULL && *ctx->status_string != '\0')
        APPEND("; StatusString: \"%s\"", ctx->status_string);
#undef APPEND
    return buf;
}

int pkie_cmp_ctx_set1_transactionID(struct pkie_cmp_ctx *ctx, const uint8_t *tid, size_t len)
{
    if (ctx == NULL || tid == NULL || len == 0 || len > sizeof(ctx->transaction_id))
        return PKIE_ERR(PKIE_ERR_ARG, "transactionID of 1..%zu bytes", sizeof(ctx->transaction_id));
    memcpy(ctx->transaction_id, tid, len);
    ctx->transaction_id_len = len;
    ctx->have_tid = 1;
    return 0;
}

int pkie_cmp_ctx_set1_senderNonce(struct pkie_cmp_ctx *ctx, const uint8_t *nonce, size_t len)
{
    if (ctx == NULL || nonce == NULL || len == 0 || len > sizeof(ctx->sender_nonce))
        return PKIE_ERR(PKIE_ERR_ARG, "senderNonce of 1..%zu bytes", sizeof(ctx->sender_nonce));
    memcpy(ctx->sender_nonce, nonce, len);
    ctx->sender_nonce_len = len;
    return 0;
}
