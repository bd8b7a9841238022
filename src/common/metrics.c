/* The metrics registry and its text exposition (include/pkie/metrics.h). */
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/utf8.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char *values[PKIE_METRICS_MAX_LABELS];
    uint64_t count; /* counter value; histogram count */
    double value;   /* gauge value; histogram sum */
    uint64_t *buckets;
};

struct pkie_metric {
    struct pkie_metrics *r;
    char *name, *help;
    enum pkie_metric_type type;
    char *labels[PKIE_METRICS_MAX_LABELS];
    size_t n_labels;
    double buckets[PKIE_METRICS_MAX_BUCKETS];
    size_t n_buckets;
    size_t max_series;
    int warned; /* the bound was logged */
    pthread_mutex_t mu;
    struct series **s;
    size_t n, cap;
    struct pkie_metric *next;
};

struct pkie_metrics {
    pthread_mutex_t mu; /* the list of families */
    struct pkie_metric *first, *last;
    void (*collect)(void *);
    void *collect_arg;
    atomic_uint_fast64_t dropped;
};

int pkie_metrics_new(struct pkie_metrics **out)
{
    struct pkie_metrics *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "metrics");
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

static void series_free(struct series *s)
{
    for (size_t i = 0; i < PKIE_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void family_free(struct pkie_metric *m)
{
    pkie_metric_clear(m);
    free(m->s);
    free(m->name);
    free(m->help);
    for (size_t i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void pkie_metrics_free(struct pkie_metrics *r)
{
    if (r == NULL)
        return;
    for (struct pkie_metric *m = r->first, *n; m != NULL; m = n) {
        n = m->next;
        family_free(m);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void pkie_metrics_set_collector(struct pkie_metrics *r, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&r->mu);
    r->collect = fn;
    r->collect_arg = arg;
    pthread_mutex_unlock(&r->mu);
}

uint64_t pkie_metrics_dropped(struct pkie_metrics *r)
{
    return atomic_load(&r->dropped);
}

/* ---- definitions ------------------------------------------------------------- */

static int name_ok(const char *s, int colon)
{
    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || (colon && *p == ':')))
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t l = strlen(s), n = strlen(suffix);
    return l > n && strcmp(s + l - n, suffix) == 0;
}

static int check_def(const struct pkie_metric_def *d)
{
    if (!name_ok(d->name, 1))
        return PKIE_ERR(PKIE_ERR_ARG, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*",
                        d->name ? d->name : "(null)");
    if (d->type == PKIE_METRIC_COUNTER && !ends_with(d->name, "_total"))
        return PKIE_ERR(PKIE_ERR_ARG, "counter %s: the name must end in _total", d->name);
    if (d->type != PKIE_METRIC_COUNTER && d->type != PKIE_METRIC_GAUGE &&
        d->type != PKIE_METRIC_HISTOGRAM)
        return PKIE_ERR(PKIE_ERR_ARG, "metric %s: unknown type %d", d->name, (int)d->type);
    if (d->n_labels > PKIE_METRICS_MAX_LABELS || (d->n_labels > 0 && d->labels == NULL))
        return PKIE_ERR(PKIE_ERR_ARG, "metric %s: at most %d labels", d->name,
                        PKIE_METRICS_MAX_LABELS);
    for (size_t i = 0; i < d->n_labels; i++) {
        const char *l = d->labels[i];
        if (!name_ok(l, 0) || strncmp(l, "__", 2) == 0 ||
            (d->type == PKIE_METRIC_HISTOGRAM && strcmp(l, "le") == 0))
            return PKIE_ERR(PKIE_ERR_ARG, "metric %s: bad label name '%s'", d->name,
                            l ? l : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(l, d->labels[j]) == 0)
                return PKIE_ERR(PKIE_ERR_ARG, "metric %s: label %s twice", d->name, l);
    }
    if (d->type == PKIE_METRIC_HISTOGRAM) {
        if (d->n_buckets == 0 || d->n_buckets > PKIE_METRICS_MAX_BUCKETS || d->buckets == NULL)
            return PKIE_ERR(PKIE_ERR_ARG, "histogram %s: 1..%d buckets", d->name,
                            PKIE_METRICS_MAX_BUCKETS);
        for (size_t i = 0; i < d->n_buckets; i++)
            if (!isfinite(d->buckets[i]) || (i > 0 && d->buckets[i] <= d->buckets[i - 1]))
                return PKIE_ERR(PKIE_ERR_ARG, "histogram %s: buckets finite and increasing",
                                d->name);
    } else if (d->n_buckets != 0) {
        return PKIE_ERR(PKIE_ERR_ARG, "metric %s: buckets only for a histogram", d->name);
    }
    return 0;
}

int pkie_metrics_family(struct pkie_metrics *r, const struct pkie_metric_def *d,
                        struct pkie_metric **out)
{
    int rc = check_def(d);
    if (rc != 0)
        return rc;
    struct pkie_metric *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "metric");
    pthread_mutex_init(&m->mu, NULL);
    m->r = r;
    m->type = d->type;
    m->n_labels = d->n_labels;
    m->n_buckets = d->n_buckets;
    m->max_series = d->max_series ? d->max_series : PKIE_METRICS_SERIES_DEFAULT;
    if (d->n_buckets)
        memcpy(m->buckets, d->buckets, d->n_buckets * sizeof(double));
    m->name = strdup(d->name);
    m->help = strdup(d->help ? d->help : "");
    int bad = m->name == NULL || m->help == NULL;
    for (size_t i = 0; i < d->n_labels; i++)
        bad |= (m->labels[i] = strdup(d->labels[i])) == NULL;
    if (bad) {
        family_free(m);
        return PKIE_ERR(PKIE_ERR_NOMEM, "metric");
    }
    pthread_mutex_lock(&r->mu);
    for (struct pkie_metric *o = r->first; o != NULL; o = o->next)
        if (strcmp(o->name, m->name) == 0) {
            pthread_mutex_unlock(&r->mu);
            family_free(m);
            return PKIE_ERR(PKIE_ERR_ARG, "metric %s registered twice", d->name);
        }
    if (r->last != NULL)
        r->last->next = m;
    else
        r->first = m;
    r->last = m;
    pthread_mutex_unlock(&r->mu);
    *out = m;
    return 0;
}

/* ---- series -------------------------------------------------------------------- */

/* A value as kept: NULL is "", cut at PKIE_METRICS_VALUE_MAX bytes before a
 * UTF-8 continuation byte. */
static size_t value_len(const char *v)
{
    size_t n = strnlen(v, PKIE_METRICS_VALUE_MAX + 1);
    if (n <= PKIE_METRICS_VALUE_MAX)
        return n;
    n = PKIE_METRICS_VALUE_MAX;
    while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static int same(const struct series *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        size_t l = value_len(v);
        if (strlen(s->values[i]) != l || memcmp(s->values[i], v, l) != 0)
            return 0;
    }
    return 1;
}

/* The series of @p values, created when @p create (m->mu held). NULL: none,
 * or past the bound / out of memory (*rc says). */
static struct series *find(struct pkie_metric *m, const char *const *values, int create, int *rc)
{
    *rc = 0;
    if (m->n_labels > 0 && values == NULL) {
        *rc = PKIE_ERR(PKIE_ERR_ARG, "metric %s: label values required", m->name);
        return NULL;
    }
    for (size_t i = 0; i < m->n; i++)
        if (same(m->s[i], values, m->n_labels))
            return m->s[i];
    if (!create)
        return NULL;
    if (m->n >= m->max_series) {
        atomic_fetch_add(&m->r->dropped, 1);
        if (!m->warned) {
            m->warned = 1;
            pkie_log_warn("metrics", "%s: over %zu label sets, new ones dropped", m->name,
                          m->max_series);
        }
        *rc = PKIE_ERR(PKIE_ERR_LIMIT, "metric %s: over %zu label sets", m->name, m->max_series);
        return NULL;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        struct series **ns = realloc(m->s, nc * sizeof(*ns));
        if (ns == NULL) {
            *rc = PKIE_ERR(PKIE_ERR_NOMEM, "metric");
            return NULL;
        }
        m->s = ns;
        m->cap = nc;
    }
    struct series *s = calloc(1, sizeof(*s));
    int bad = s == NULL;
    for (size_t i = 0; !bad && i < m->n_labels; i++) {
        const char *v = values[i] ? values[i] : "";
        bad = (s->values[i] = strndup(v, value_len(v))) == NULL;
    }
    if (!bad && m->type == PKIE_METRIC_HISTOGRAM)
        bad = (s->buckets = calloc(m->n_buckets, sizeof(uint64_t))) == NULL;
    if (bad) {
        if (s != NULL)
            series_free(s);
        *rc = PKIE_ERR(PKIE_ERR_NOMEM, "metric");
        return NULL;
    }
    m->s[m->n++] = s;
    return s;
}

static int update(struct pkie_metric *m, enum pkie_metric_type type, const char *const *values,
                  int op, double d, uint64_t n)
{
    if (m == NULL || m->type != type)
        return PKIE_ERR(PKIE_ERR_ARG, "metric %s: wrong type", m ? m->name : "(null)");
    int rc;
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, values, 1, &rc);
    if (s != NULL) {
        switch (op) {
        case 0: /* counter */
            s->count += n;
            break;
        case 1: /* gauge add */
            s->value += d;
            break;
        case 2: /* gauge set */
            s->value = d;
            break;
        default: /* observe */
            for (size_t i = 0; i < m->n_buckets; i++)
                if (d <= m->buckets[i]) {
                    s->buckets[i]++;
                    break;
                }
            s->count++;
            s->value += d;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int pkie_metric_add(struct pkie_metric *m, const char *const *values, uint64_t n)
{
    return update(m, PKIE_METRIC_COUNTER, values, 0, 0, n);
}

int pkie_metric_gauge_add(struct pkie_metric *m, const char *const *values, double d)
{
    return update(m, PKIE_METRIC_GAUGE, values, 1, d, 0);
}

int pkie_metric_gauge_set(struct pkie_metric *m, const char *const *values, double v)
{
    return update(m, PKIE_METRIC_GAUGE, values, 2, v, 0);
}

int pkie_metric_observe(struct pkie_metric *m, const char *const *values, double v)
{
    if (isnan(v))
        return PKIE_ERR(PKIE_ERR_ARG, "histogram: NaN observed");
    return update(m, PKIE_METRIC_HISTOGRAM, values, 3, v, 0);
}

int pkie_metric_remove(struct pkie_metric *m, const char *const *values)
{
    int rc;
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, values, 0, &rc);
    for (size_t i = 0; s != NULL && i < m->n; i++)
        if (m->s[i] == s) {
            series_free(s);
            memmove(&m->s[i], &m->s[i + 1], (m->n - i - 1) * sizeof(*m->s));
            m->n--;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void pkie_metric_clear(struct pkie_metric *m)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++)
        series_free(m->s[i]);
    m->n = 0;
    pthread_mutex_unlock(&m->mu);
}

size_t pkie_metric_series(struct pkie_metric *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* ---- exposition ---------------------------------------------------------------- */

struct out {
    char *b;
    size_t len, cap;
    int err;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t nc = o->cap ? o->cap : 4096;
        while (nc < o->len + n + 1)
            nc *= 2;
        char *nb = realloc(o->b, nc);
        if (nb == NULL) {
            o->err = PKIE_ERR(PKIE_ERR_NOMEM, "metrics text");
            return;
        }
        o->b = nb;
        o->cap = nc;
    }
    memcpy(o->b + o->len, s, n);
    o->len += n;
    o->b[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Shortest text that reads back as @p v; +Inf, -Inf, NaN as the format says. */
static void fmt_double(char *buf, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Integral values up to 2^53 (counts, byte totals, Unix times) print as
     * integers: the shortest %g form of 1798945670 is 1.79894567e+09, which
     * reads back exactly but is no way to show a timestamp. */
    if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(long long)v) {
        snprintf(buf, cap, "%.0f", v == 0 ? 0.0 : v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

int pkie_metrics_escape_value(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = *len;
    for (size_t i = 0; i < n;) {
        char tmp[4];
        const char *w = tmp;
        size_t wl = 2, step = 1;
        if (p[i] == '\\' || p[i] == '"') {
            tmp[0] = '\\';
            tmp[1] = (char)p[i];
        } else if (p[i] == '\n') {
            tmp[0] = '\\';
            tmp[1] = 'n';
        } else if ((step = pkie_utf8_seq_len(p + i, n - i)) == 0) {
            w = "\xef\xbf\xbd"; /* U+FFFD for a byte that is not UTF-8 */
            wl = 3;
            step = 1;
        } else {
            w = s + i;
            wl = step;
        }
        if (o + wl + 1 > cap)
            return PKIE_ERR(PKIE_ERR_LIMIT, "label value does not fit");
        memcpy(buf + o, w, wl);
        o += wl;
        i += step;
    }
    buf[o] = '\0';
    *len = o;
    return 0;
}

/* name{a="x",b="y"[,le="..."]} */
static void put_labels(struct out *o, const struct pkie_metric *m, const struct series *s,
                       const char *le)
{
    if (m->n_labels == 0 && le == NULL)
        return;
    char v[PKIE_METRICS_VALUE_MAX * 3 + 8]; /* every byte escaped or replaced */
    put(o, "{", 1);
    for (size_t i = 0; i < m->n_labels; i++) {
        size_t l = 0;
        if (pkie_metrics_escape_value(v, sizeof(v), &l, s->values[i], strlen(s->values[i])) != 0)
            l = 0;
        if (i > 0)
            put(o, ",", 1);
        puts_(o, m->labels[i]);
        put(o, "=\"", 2);
        put(o, v, l);
        put(o, "\"", 1);
    }
    if (le != NULL) {
        if (m->n_labels > 0)
            put(o, ",", 1);
        put(o, "le=\"", 4);
        puts_(o, le);
        put(o, "\"", 1);
    }
    put(o, "}", 1);
}

static void put_sample(struct out *o, const struct pkie_metric *m, const char *suffix,
                       const struct series *s, const char *le, const char *value)
{
    puts_(o, m->name);
    puts_(o, suffix);
    put_labels(o, m, s, le);
    put(o, " ", 1);
    puts_(o, value);
    put(o, "\n", 1);
}

/* HELP text: backslash and newline escaped. */
static void put_help(struct out *o, const char *h)
{
    for (const char *p = h; *p != '\0'; p++) {
        if (*p == '\\')
            put(o, "\\\\", 2);
        else if (*p == '\n')
            put(o, "\\n", 2);
        else
            put(o, p, 1);
    }
}

static void put_family(struct out *o, struct pkie_metric *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    char num[64], le[64];
    puts_(o, "# HELP ");
    puts_(o, m->name);
    put(o, " ", 1);
    put_help(o, m->help);
    puts_(o, "\n# TYPE ");
    puts_(o, m->name);
    put(o, " ", 1);
    puts_(o, types[m->type]);
    put(o, "\n", 1);
    pthread_mutex_lock(&m->mu);
    if (m->n == 0 && m->n_labels == 0 && m->type != PKIE_METRIC_HISTOGRAM) {
        struct series zero = {0};
        put_sample(o, m, "", &zero, NULL, "0"); /* a family without labels is always there */
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = m->s[i];
        if (m->type == PKIE_METRIC_COUNTER) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)s->count);
            put_sample(o, m, "", s, NULL, num);
        } else if (m->type == PKIE_METRIC_GAUGE) {
            fmt_double(num, sizeof(num), s->value);
            put_sample(o, m, "", s, NULL, num);
        } else {
            uint64_t cum = 0;
            for (size_t b = 0; b < m->n_buckets; b++) {
                cum += s->buckets[b];
                fmt_double(le, sizeof(le), m->buckets[b]);
                snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
                put_sample(o, m, "_bucket", s, le, num);
            }
            snprintf(num, sizeof(num), "%llu", (unsigned long long)s->count);
            put_sample(o, m, "_bucket", s, "+Inf", num);
            fmt_double(le, sizeof(le), s->value);
            put_sample(o, m, "_sum", s, NULL, le);
            put_sample(o, m, "_count", s, NULL, num);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

int pkie_metrics_write(struct pkie_metrics *r, char **out, size_t *len)
{
    struct out o = {0};
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    void (*collect)(void *) = r->collect;
    void *arg = r->collect_arg;
    pthread_mutex_unlock(&r->mu);
    if (collect != NULL)
        collect(arg);
    pthread_mutex_lock(&r->mu);
    for (struct pkie_metric *m = r->first; m != NULL; m = m->next)
        put_family(&o, m);
    pthread_mutex_unlock(&r->mu);
    char num[32];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)atomic_load(&r->dropped));
    puts_(&o, "# HELP pkie_metrics_series_dropped_total Updates dropped: their family was at its "
              "bound of label sets.\n# TYPE pkie_metrics_series_dropped_total counter\n"
              "pkie_metrics_series_dropped_total ");
    puts_(&o, num);
    put(&o, "\n", 1);
    if (o.err) {
        free(o.b);
        return o.err;
    }
    *out = o.b;
    *len = o.len;
    return 0;
}
