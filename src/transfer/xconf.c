/* Configuration of `pkie recv` and `pkie send` (include/pkie/conf.h schema),
 * partner subjects and the DN pattern match used to name the partner. */
#include "pkie/conf.h"
#include "pkie/error.h"
#include "pkie/metrics.h"
#include "pkie/transfer.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTNERS 1024
#define MAX_SUBJECTS 64

static struct pkie_xfer_partner *partner_get(struct pkie_xfer_conf *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_partners; i++)
        if (strlen(c->partners[i].name) == len && memcmp(c->partners[i].name, name, len) == 0)
            return &c->partners[i];
    if (c->n_partners >= MAX_PARTNERS)
        return NULL;
    struct pkie_xfer_partner *n = realloc(c->partners, (c->n_partners + 1) * sizeof(*n));
    if (n == NULL)
        return NULL;
    c->partners = n;
    struct pkie_xfer_partner *p = &n[c->n_partners];
    memset(p, 0, sizeof(*p));
    p->dirfd = -1;
    p->name = strndup(name, len);
    if (p->name == NULL)
        return NULL;
    c->n_partners++;
    return p;
}

/* partner.NAME.dir: kept without trailing '/' (O_NOFOLLOW then applies to
 * the directory itself, not to what a symbolic link of that name points to). */
static int partner_dir(struct pkie_xfer_partner *p, const char *key, const char *value)
{
    if (p->dir != NULL)
        return PKIE_ERR(PKIE_ERR_CONF_DUPLICATE, "%s given twice", key);
    size_t n = strlen(value);
    while (n > 1 && value[n - 1] == '/')
        n--;
    if (n == 0)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: expected a directory", key);
    p->dir = strndup(value, n);
    return p->dir ? 0 : PKIE_ERR(PKIE_ERR_NOMEM, "partner");
}

/* partner.NAME.names: comma-separated patterns, blanks around each ignored. */
static int partner_names(struct pkie_xfer_partner *p, const char *key, const char *value)
{
    if (p->n_names > 0)
        return PKIE_ERR(PKIE_ERR_CONF_DUPLICATE, "%s given twice", key);
    for (const char *s = value;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (pkie_xfer_name_pattern_check(s, (size_t)(e - s)) != 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", pkie_err_last()->msg);
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: %s", key, why);
        }
        if (p->n_names >= PKIE_XFER_NAME_PATTERNS_MAX)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: more than %d patterns", key,
                            PKIE_XFER_NAME_PATTERNS_MAX);
        char **n = realloc(p->names, (p->n_names + 1) * sizeof(*n));
        if (n == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "partner");
        p->names = n;
        if ((n[p->n_names] = strndup(s, (size_t)(e - s))) == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "partner");
        p->n_names++;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

/* partner.NAME.subject[.N], partner.NAME.address, partner.NAME.dir and
 * partner.NAME.names */
static int on_partner(void *dst, const char *key, const char *value, unsigned line, void *arg)
{
    (void)line;
    (void)arg;
    struct pkie_xfer_conf *c = dst;
    const char *name = key + strlen("partner.");
    const char *dot = strchr(name, '.');
    if (dot == NULL || dot == name)
        return PKIE_ERR(PKIE_ERR_CONF_UNKNOWN_KEY, "unknown key %s", key);
    const char *what = dot + 1;
    struct pkie_xfer_partner *p = partner_get(c, name, (size_t)(dot - name));
    if (p == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "partners");
    if (strcmp(what, "address") == 0) {
        if (strchr(value, ':') == NULL)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: expected host:port", key);
        free(p->address);
        p->address = strdup(value);
        return p->address ? 0 : PKIE_ERR(PKIE_ERR_NOMEM, "partner");
    }
    if (strcmp(what, "dir") == 0)
        return partner_dir(p, key, value);
    if (strcmp(what, "names") == 0)
        return partner_names(p, key, value);
    if (strcmp(what, "subject") == 0 || strncmp(what, "subject.", 8) == 0) {
        if (value[0] == '\0' || strchr(value, '=') == NULL)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: expected a DN pattern (CN=...)", key);
        if (p->n_subjects >= MAX_SUBJECTS)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: too many subjects", key);
        char **n = realloc(p->subjects, (p->n_subjects + 1) * sizeof(*n));
        if (n == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "partner");
        p->subjects = n;
        if ((n[p->n_subjects] = strdup(value)) == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "partner");
        p->n_subjects++;
        return 0;
    }
    return PKIE_ERR(PKIE_ERR_CONF_UNKNOWN_KEY, "unknown key %s", key);
}

static int on_tls(void *dst, const char *key, const char *value, unsigned line, void *arg)
{
    (void)line;
    (void)arg;
    struct pkie_xfer_conf *c = dst;
    return pkie_tls_conf_apply(&c->tls, key, value);
}

#define STR(k, f, h)                                                                               \
    {                                                                                              \
        .name = k, .type = PKIE_CONF_STRING, .offset = offsetof(struct pkie_xfer_conf, f),         \
        .help = h                                                                                  \
    }
#define INT(k, f, lo, hi, h)                                                                       \
    {                                                                                              \
        .name = k, .type = PKIE_CONF_INT, .offset = offsetof(struct pkie_xfer_conf, f), .min = lo, \
        .max = hi, .help = h                                                                       \
    }

static const struct pkie_conf_key keys[] = {
    STR("listen", listen, "address to listen on, host:port"),
    STR("dir", dir, "destination directory"),
    INT("tasks", tasks, 1, 1024, "number of SSL tasks (worker threads)"),
    {.name = "overwrite",
     .type = PKIE_CONF_BOOL,
     .offset = offsetof(struct pkie_xfer_conf, overwrite),
     .help = "replace an existing file"},
    INT("max_file_size", max_file_size, 0, INT64_MAX, "largest file accepted, 0 = no limit"),
    INT("checkpoint", checkpoint, 1 << 20, INT64_MAX, "bytes between durable checkpoints"),
    {.name = "direct_io",
     .type = PKIE_CONF_BOOL,
     .offset = offsetof(struct pkie_xfer_conf, direct_io),
     .help = "write large files with direct I/O (bypassing the page cache) where supported"},
    STR("audit", audit, "audit file (one JSON line per transfer)"),
    STR("catalog", catalog, "SQLite catalog of transfers (none: off; default beside this file)"),
    INT("handshake_timeout", handshake_timeout, 1, 3600, "seconds for the TLS handshake"),
    INT("idle_timeout", idle_timeout, 1, 86400, "seconds a peer may stay silent"),
    INT("max_pending", max_pending, 1, 65536, "connections not yet authenticated, in total"),
    INT("max_pending_per_address", max_pending_per_address, 1, 65536,
        "connections not yet authenticated, per peer address"),
    INT("first_byte_timeout", first_byte_timeout, 1, 3600,
        "seconds from accept to the peer's first byte"),
    INT("max_sessions", max_sessions, 1, 65536,
        "authenticated sessions transferring at once (receiver)"),
    STR("log_level", log_level, "error|warn|info|debug|trace"),
    STR("cert", cert, "id of our certificate (with key) in the PKI base"),
    STR("ca", ca, "comma-separated ids of the CAs whose certificates we accept"),
    INT("verify_depth", verify_depth, 1, 10, "intermediate CAs allowed"),
    STR("state_dir", state_dir, "sender: directory of the transfer ids kept for resume"),
    INT("parallel", parallel, 1, 64, "sender: concurrent sessions (pkie send --parallel)"),
    INT("partial_ttl", partial_ttl, 60, 10LL * 365 * 86400,
        "seconds an unchanged partial transfer is kept (default 7 days)"),
    STR("metrics.listen", metrics_listen,
        "receiver: serve Prometheus metrics at http://HOST:PORT/metrics (off when unset)"),
    {.name = "partner.*.*", .type = PKIE_CONF_CALLBACK, .cb = on_partner},
    {.name = "partner.*.*.*", .type = PKIE_CONF_CALLBACK, .cb = on_partner},
    {.name = "pki.*", .type = PKIE_CONF_CALLBACK, .cb = on_tls},
    {.name = "pki.*.*", .type = PKIE_CONF_CALLBACK, .cb = on_tls},
    {.name = "tls.*", .type = PKIE_CONF_CALLBACK, .cb = on_tls},
    {.name = NULL},
};

static int set_defaults(struct pkie_xfer_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->tasks = 4;
    c->parallel = 1;
    c->checkpoint = 64ll << 20;
    c->direct_io = 1;
    c->handshake_timeout = 30;
    c->idle_timeout = 300;
    c->max_pending = 1024;
    c->max_pending_per_address = 64;
    c->first_byte_timeout = 10;
    c->max_sessions = 256;
    c->verify_depth = 4;
    c->partial_ttl = PKIE_XFER_PARTIAL_TTL_DEFAULT;
    int rc = pkie_tls_conf_apply(&c->tls, "tls.min_version", "TLS1.3");
    if (rc == 0)
        rc = pkie_tls_conf_apply(&c->tls, "tls.max_version", "TLS1.3");
    if (rc == 0)
        rc = pkie_tls_conf_apply(&c->tls, "tls.ciphersuites",
                                 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                 "TLS_CHACHA20_POLY1305_SHA256");
    return rc;
}

/* Derived fields: CA ids, the union of partner subjects. */
static int finish(struct pkie_xfer_conf *c)
{
    if (c->metrics_listen != NULL && pkie_metrics_listen_check(c->metrics_listen, NULL) != 0)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "metrics.listen: %s", pkie_err_last()->msg);
    if (c->ca != NULL) {
        char *save = NULL, *copy = strdup(c->ca);
        if (copy == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "ca");
        for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
            char **n = realloc(c->ca_ids, (c->n_ca_ids + 1) * sizeof(*n));
            if (n == NULL || (n[c->n_ca_ids] = strdup(t)) == NULL) {
                if (n != NULL)
                    c->ca_ids = n;
                free(copy);
                return PKIE_ERR(PKIE_ERR_NOMEM, "ca");
            }
            c->ca_ids = n;
            c->n_ca_ids++;
        }
        free(copy);
    }
    size_t total = 0;
    for (size_t i = 0; i < c->n_partners; i++)
        total += c->partners[i].n_subjects;
    if (total > 0) {
        c->all_subjects = calloc(total, sizeof(*c->all_subjects));
        if (c->all_subjects == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "subjects");
        for (size_t i = 0; i < c->n_partners; i++)
            for (size_t j = 0; j < c->partners[i].n_subjects; j++)
                c->all_subjects[c->n_all_subjects++] = c->partners[i].subjects[j];
    }
    return 0;
}

/* catalog: "none" turns it off; unset, it lies beside the configuration file
 * @p path (NULL: parsed from text, no default): "recv.conf" -> "recv.catalog". */
static int catalog_default(struct pkie_xfer_conf *c, const char *path)
{
    if (c->catalog != NULL && strcmp(c->catalog, "none") == 0) {
        free(c->catalog);
        c->catalog = NULL;
        return 0;
    }
    if (c->catalog != NULL && c->catalog[0] == '\0')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "catalog: empty path (none turns it off)");
    if (c->catalog != NULL || path == NULL)
        return 0;
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".conf") == 0)
        n -= 5;
    if ((c->catalog = malloc(n + sizeof(".catalog"))) == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "catalog");
    memcpy(c->catalog, path, n);
    memcpy(c->catalog + n, ".catalog", sizeof(".catalog"));
    if (strcmp(c->catalog, path) == 0) { /* the configuration is itself named *.catalog */
        char *longer = realloc(c->catalog, strlen(path) + sizeof(".catalog"));
        if (longer == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "catalog");
        c->catalog = longer;
        strcat(c->catalog, ".catalog");
    }
    return 0;
}

int pkie_xfer_conf_parse(const char *text, const char *origin, struct pkie_xfer_conf *c)
{
    int rc = set_defaults(c);
    if (rc == 0)
        rc = pkie_conf_parse(text, strlen(text), origin, keys, c, NULL);
    if (rc == 0)
        rc = finish(c);
    if (rc == 0)
        rc = catalog_default(c, NULL);
    return rc;
}

int pkie_xfer_conf_load(const char *path, struct pkie_xfer_conf *c)
{
    int rc = set_defaults(c);
    if (rc == 0)
        rc = pkie_conf_load(path, keys, c, NULL);
    if (rc == 0)
        rc = finish(c);
    if (rc == 0)
        rc = catalog_default(c, path);
    return rc;
}

void pkie_xfer_conf_free(struct pkie_xfer_conf *c)
{
    if (c == NULL)
        return;
    pkie_conf_free(keys, c);
    pkie_xfer_partner_dirs_close(c);
    for (size_t i = 0; i < c->n_partners; i++) {
        free(c->partners[i].name);
        free(c->partners[i].address);
        for (size_t j = 0; j < c->partners[i].n_subjects; j++)
            free(c->partners[i].subjects[j]);
        free(c->partners[i].subjects);
        free(c->partners[i].dir);
        for (size_t j = 0; j < c->partners[i].n_names; j++)
            free(c->partners[i].names[j]);
        free(c->partners[i].names);
    }
    free(c->partners);
    for (size_t i = 0; i < c->n_ca_ids; i++)
        free(c->ca_ids[i]);
    free(c->ca_ids);
    free(c->all_subjects);
    pkie_tls_conf_free(&c->tls);
    memset(c, 0, sizeof(*c));
}

/* Match @p p (pattern) against @p s, '*' matching any run that holds no
 * unescaped ',' or '+' (so it stays inside one attribute value). */
static int glob(const char *p, const char *s)
{
    while (*p != '\0') {
        if (*p == '*') {
            p++;
            for (const char *t = s;; t++) {
                if (glob(p, t))
                    return 1;
                if (*t == '\0' || *t == ',' || *t == '+')
                    return 0;
                if (*t == '\\' && t[1] != '\0')
                    t++;
            }
        }
        if (*p == '\\' && p[1] != '\0') {
            if (*s != '\\' || tolower((unsigned char)p[1]) != tolower((unsigned char)s[1]))
                return 0;
            p += 2;
            s += 2;
            continue;
        }
        if (tolower((unsigned char)*p) != tolower((unsigned char)*s))
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

/* Drop blanks around ',', '+' and '=' so "CN=a, O=b" matches "CN=a,O=b". */
static void squeeze(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0' && o + 1 < cap; i++) {
        char ch = in[i];
        if (ch == ' ') {
            size_t j = i;
            while (in[j] == ' ')
                j++;
            int before_sep = in[j] == ',' || in[j] == '+' || in[j] == '=' || in[j] == '\0';
            int after_sep = o == 0 || out[o - 1] == ',' || out[o - 1] == '+' || out[o - 1] == '=';
            if (before_sep || after_sep) {
                i = j - 1;
                continue;
            }
        }
        out[o++] = ch;
    }
    out[o] = '\0';
}

int pkie_xfer_dn_match(const char *pattern, const char *subject)
{
    char p[2048], s[2048];
    if (pattern == NULL || subject == NULL || strlen(pattern) >= sizeof(p) ||
        strlen(subject) >= sizeof(s))
        return 0;
    squeeze(pattern, p, sizeof(p));
    squeeze(subject, s, sizeof(s));
    return glob(p, s);
}

const struct pkie_xfer_partner *pkie_xfer_conf_partner_for(const struct pkie_xfer_conf *c,
                                                           const char *subject)
{
    for (size_t i = 0; i < c->n_partners; i++)
        for (size_t j = 0; j < c->partners[i].n_subjects; j++)
            if (pkie_xfer_dn_match(c->partners[i].subjects[j], subject))
                return &c->partners[i];
    return NULL;
}

const struct pkie_xfer_partner *pkie_xfer_conf_partner(const struct pkie_xfer_conf *c,
                                                       const char *name)
{
    for (size_t i = 0; i < c->n_partners; i++)
        if (strcmp(c->partners[i].name, name) == 0)
            return &c->partners[i];
    return NULL;
}
