/* The CMP exit's configuration file and its renewal-window arithmetic. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmpx.h"
#include "pkie/conf.h"
#include "pkie/error.h"

#define STR(k, f, req, h)                                                                          \
    {                                                                                              \
        .name = k, .type = PKIE_CONF_STRING, .offset = offsetof(struct cmpx_conf, f),              \
        .required = req, .help = h                                                                 \
    }

static const struct pkie_conf_key keys[] = {
    STR("ca_url", ca_url, 1, "CMP server URL, http://host:port/path"),
    STR("ref", ref, 0, "reference (senderKID) for the first enrollment (MAC)"),
    STR("secret_file", secret_file, 0, "file whose first line is the shared secret"),
    STR("subject", subject, 1, "subject of our certificate, \"CN=..,O=..\" or \"/O=../CN=..\""),
    STR("san", san, 0, "subjectAltNames, \"DNS:host,IP:127.0.0.1\""),
    STR("key_type", key_type_text, 0, "ec:P-256 (default), ec:P-384, rsa:2048, rsa:3072, ed25519"),
    STR("renew_before", renew_before_txt, 0, "renewal window: duration (30d) or percentage (33%)"),
    STR("trust_anchor", trust_anchor, 1, "PEM file of the CA's root certificate(s)"),
    STR("dir", dir, 1, "private directory for key, certificates and CRL (0700)"),
    STR("refresh", refresh_txt, 0, "interval of CA certificate and CRL refreshes (default 1h)"),
    STR("retry_min", retry_min_txt, 0, "first retry delay after a failure (default 5s)"),
    STR("retry_max", retry_max_txt, 0, "largest retry delay (default 1h)"),
    STR("key_file", key_file, 0, "PEM private key for the first IR (default: a new key)"),
    {.name = "validity_days",
     .type = PKIE_CONF_INT,
     .offset = offsetof(struct cmpx_conf, validity_days),
     .min = 0,
     .max = 36500,
     .help = "requested validity in days (0: the CA chooses)"},
    {.name = "crl_check",
     .type = PKIE_CONF_BOOL,
     .offset = offsetof(struct cmpx_conf, crl_check),
     .help = "refuse peers while no CRL is known (default yes)"},
    {.name = "timeout",
     .type = PKIE_CONF_INT,
     .offset = offsetof(struct cmpx_conf, timeout),
     .min = 1,
     .max = 600,
     .help = "seconds per CMP round trip (default 10)"},
    {.name = NULL},
};

int cmpx_err_wrap(int rc, const char *prefix)
{
    char m[sizeof(pkie_err_last()->msg)];
    snprintf(m, sizeof(m), "%s", pkie_err_last()->msg);
    return PKIE_ERR(rc, "%s: %s", prefix, m);
}

int cmpx_duration_parse(const char *text, long long *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "duration \"%s\": expected N[s|m|h|d]",
                        text ? text : "");
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    long long mul = 1;
    if (errno != 0 || v < 0)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "duration \"%s\": out of range", text);
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'd')
        mul = 86400, end++;
    if (*end != '\0')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "duration \"%s\": expected N[s|m|h|d]", text);
    const long long max = 3650ll * 86400;
    if (v > max / mul)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "duration \"%s\": more than 10 years", text);
    *out = v * mul;
    return 0;
}

static int parse_key_type(const char *t, enum cmpx_key_type *out)
{
    static const char *const names[] = {"ec:P-256", "ec:P-384", "rsa:2048", "rsa:3072", "ed25519"};
    if (t == NULL) {
        *out = CMPX_KEY_EC_P256;
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(t, names[i]) == 0) {
            *out = (enum cmpx_key_type)i;
            return 0;
        }
    return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                    "key_type \"%s\": not ec:P-256, ec:P-384, rsa:2048, rsa:3072 or ed25519", t);
}

static int parse_window(struct cmpx_conf *c)
{
    const char *t = c->renew_before_txt;
    c->renew_percent = 0;
    c->renew_before = 30ll * 86400;
    if (t == NULL)
        return 0;
    size_t n = strlen(t);
    if (n > 1 && t[n - 1] == '%') {
        int p = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            if (t[i] < '0' || t[i] > '9' || p > 100)
                return PKIE_ERR(PKIE_ERR_CONF_VALUE, "renew_before \"%s\": bad percentage", t);
            p = p * 10 + (t[i] - '0');
        }
        if (p < 1 || p > 100)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "renew_before \"%s\": percentage not in 1..100",
                            t);
        c->renew_percent = p;
        return 0;
    }
    int rc = cmpx_duration_parse(t, &c->renew_before);
    if (rc != 0)
        return cmpx_err_wrap(rc, "renew_before");
    return 0;
}

static int finish(struct cmpx_conf *c)
{
    int rc = parse_key_type(c->key_type_text, &c->key_type);
    if (rc == 0)
        rc = parse_window(c);
    c->refresh = 3600;
    c->retry_min = 5;
    c->retry_max = 3600;
    if (rc == 0 && c->refresh_txt != NULL &&
        (rc = cmpx_duration_parse(c->refresh_txt, &c->refresh)) != 0)
        rc = cmpx_err_wrap(rc, "refresh");
    if (rc == 0 && c->retry_min_txt != NULL &&
        (rc = cmpx_duration_parse(c->retry_min_txt, &c->retry_min)) != 0)
        rc = cmpx_err_wrap(rc, "retry_min");
    if (rc == 0 && c->retry_max_txt != NULL &&
        (rc = cmpx_duration_parse(c->retry_max_txt, &c->retry_max)) != 0)
        rc = cmpx_err_wrap(rc, "retry_max");
    if (rc == 0 && c->refresh < 1)
        rc = PKIE_ERR(PKIE_ERR_CONF_VALUE, "refresh: at least 1s");
    if (rc == 0 && (c->retry_min < 1 || c->retry_max < c->retry_min))
        rc = PKIE_ERR(PKIE_ERR_CONF_VALUE, "retry_min must be >= 1s and <= retry_max");
    if (rc == 0 && (c->ref == NULL) != (c->secret_file == NULL))
        rc = PKIE_ERR(PKIE_ERR_CONF_VALUE, "ref and secret_file go together");
    if (rc == 0 && c->dir[0] != '/')
        rc = PKIE_ERR(PKIE_ERR_CONF_VALUE, "dir \"%s\": must be an absolute path", c->dir);
    return rc;
}

static void defaults(struct cmpx_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->crl_check = 1;
    c->timeout = 10;
}

int cmpx_conf_parse(const char *text, size_t len, const char *origin, struct cmpx_conf *c)
{
    defaults(c);
    int rc = pkie_conf_parse(text, len, origin, keys, c, NULL);
    if (rc == 0)
        rc = finish(c);
    return rc;
}

int cmpx_conf_load(const char *path, struct cmpx_conf *c)
{
    defaults(c);
    int rc = pkie_conf_load(path, keys, c, NULL);
    if (rc == 0)
        rc = finish(c);
    return rc;
}

void cmpx_conf_free(struct cmpx_conf *c)
{
    if (c == NULL)
        return;
    pkie_conf_free(keys, c);
    memset(c, 0, sizeof(*c));
}

time_t cmpx_renew_at(const struct cmpx_conf *c, time_t not_before, time_t not_after)
{
    long long window;
    if (c->renew_percent > 0) {
        long long validity = (long long)not_after - (long long)not_before;
        if (validity < 0)
            validity = 0;
        window = validity / 100 * c->renew_percent + validity % 100 * c->renew_percent / 100;
    } else {
        window = c->renew_before;
    }
    long long at = (long long)not_after - window;
    if (at < (long long)not_before)
        at = not_before;
    return (time_t)at;
}

int cmpx_renew_due(const struct cmpx_conf *c, time_t not_before, time_t not_after, time_t now)
{
    return now >= cmpx_renew_at(c, not_before, not_after);
}

long long cmpx_backoff(const struct cmpx_conf *c, unsigned attempt)
{
    long long d = c->retry_min;
    for (unsigned i = 1; i < attempt && d < c->retry_max; i++)
        d *= 2;
    return d > c->retry_max ? c->retry_max : d;
}
