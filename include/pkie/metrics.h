/*
 * Metrics in the Prometheus text exposition format 0.0.4 (docs/metrics.md).
 *
 * Two layers:
 *   registry   a set of metric families (counter, gauge, histogram), each
 *              with fixed label names, a bound on its label sets and a mutex;
 *              pkie_metrics_write renders the whole registry as text
 *   pkie's     the families of `pkie recv` and `pkie ca serve` in one
 *              process-wide registry (pkie_metrics_init), updated by one-line
 *              hooks (pkie_metrics_transfer, ...) that cost one load and one
 *              branch while metrics are off: they are macros, so their
 *              arguments are not even evaluated then
 *   server     GET /metrics over HTTP (libmicrohttpd, loaded with dlopen the
 *              first time a server starts: `pkie` does not link it)
 *
 * Label values are untrusted text: rendered escaped (backslash, double quote,
 * newline) and as valid UTF-8 (a byte that is not part of valid UTF-8 becomes
 * U+FFFD), at most PKIE_METRICS_VALUE_MAX bytes kept.
 */
#ifndef PKIE_METRICS_H
#define PKIE_METRICS_H

#include <openssl/x509.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Label names of a family, at most. */
#define PKIE_METRICS_MAX_LABELS     4
/** Buckets of a histogram (besides +Inf), at most. */
#define PKIE_METRICS_MAX_BUCKETS    24
/** Bytes of a label value kept (a longer one is cut at a character boundary). */
#define PKIE_METRICS_VALUE_MAX      1024
/** Label sets of a family when its definition gives no bound. */
#define PKIE_METRICS_SERIES_DEFAULT 1000

/** Family types. */
enum pkie_metric_type {
    PKIE_METRIC_COUNTER = 0,   /**< only goes up; the name ends in _total */
    PKIE_METRIC_GAUGE = 1,     /**< goes up and down, or is set */
    PKIE_METRIC_HISTOGRAM = 2, /**< observations counted in cumulative buckets */
};

/** What defines a family. Strings are copied. */
struct pkie_metric_def {
    const char *name;           /**< [a-zA-Z_:][a-zA-Z0-9_:]* (counters: ..._total) */
    const char *help;           /**< one line of text */
    enum pkie_metric_type type; /**< counter, gauge or histogram */
    const char *const *labels;  /**< label names ([a-zA-Z_][a-zA-Z0-9_]*, not __*, not le) */
    size_t n_labels;            /**< 0..PKIE_METRICS_MAX_LABELS */
    const double *buckets;      /**< histogram: upper bounds, finite, increasing */
    size_t n_buckets;           /**< histogram: 1..PKIE_METRICS_MAX_BUCKETS */
    size_t max_series;          /**< label sets kept (0: PKIE_METRICS_SERIES_DEFAULT); an
                                     update for a new set past it is dropped and counted in
                                     pkie_metrics_series_dropped_total */
};

/** A registry of families. */
struct pkie_metrics;
/** One family of a registry. */
struct pkie_metric;

/** A new, empty registry. 0 or PKIE_ERR_NOMEM. */
int pkie_metrics_new(struct pkie_metrics **out);
/** Free a registry and its families (no update may run). NULL is accepted. */
void pkie_metrics_free(struct pkie_metrics *r);
/**
 * Add a family to @p r (rendered in the order added). PKIE_ERR_ARG for a bad
 * name, label name, type, bucket list or a name already registered.
 */
int pkie_metrics_family(struct pkie_metrics *r, const struct pkie_metric_def *def,
                        struct pkie_metric **out);
/** Called by pkie_metrics_write before rendering (to refresh gauges), or NULL. */
void pkie_metrics_set_collector(struct pkie_metrics *r, void (*fn)(void *arg), void *arg);

/*
 * Updates. @p values holds one value per label name of the family (NULL
 * values are ""); thread-safe. 0, PKIE_ERR_ARG (wrong type), or
 * PKIE_ERR_LIMIT when a new label set is past the family's bound.
 */
/** Counter: add @p n. */
int pkie_metric_add(struct pkie_metric *m, const char *const *values, uint64_t n);
/** Gauge: add @p d (may be negative). */
int pkie_metric_gauge_add(struct pkie_metric *m, const char *const *values, double d);
/** Gauge: set to @p v. */
int pkie_metric_gauge_set(struct pkie_metric *m, const char *const *values, double v);
/** Histogram: count @p v in its buckets, its sum and count. */
int pkie_metric_observe(struct pkie_metric *m, const char *const *values, double v);
/** Remove the series of @p values (0 also when there was none). */
int pkie_metric_remove(struct pkie_metric *m, const char *const *values);
/** Remove every series of @p m. */
void pkie_metric_clear(struct pkie_metric *m);
/** Series of @p m now. */
size_t pkie_metric_series(struct pkie_metric *m);
/** Updates dropped by @p r's bounds so far. */
uint64_t pkie_metrics_dropped(struct pkie_metrics *r);

/**
 * Render @p r in the text exposition format 0.0.4: per family HELP and TYPE
 * lines, then its series (histograms: _bucket with le, cumulative, +Inf last,
 * _sum, _count), then pkie_metrics_series_dropped_total. *out is malloc'ed,
 * NUL-terminated; *len its length.
 */
int pkie_metrics_write(struct pkie_metrics *r, char **out, size_t *len);
/** Append @p s (@p n bytes) escaped as a label value to @p buf (cap @p cap,
 *  used *@p len); returns 0 or PKIE_ERR_LIMIT when it does not fit. Exposed
 *  for the tests. */
int pkie_metrics_escape_value(char *buf, size_t cap, size_t *len, const char *s, size_t n);

/* ---- pkie's metrics (one process-wide registry) ----------------------------- */

/** Family sets for pkie_metrics_init. */
#define PKIE_METRICS_TRANSFER 1u /**< pkie recv: transfers, handshakes, sessions, certs, exit */
#define PKIE_METRICS_CA       2u /**< pkie ca serve: requests, pending, CRL */

/** Create the registry with the families of @p sets and turn the hooks on. */
int pkie_metrics_init(unsigned sets);
/** Turn the hooks off and free the registry (after the server stopped). */
void pkie_metrics_shutdown(void);
/** The registry of pkie_metrics_init, or NULL. */
struct pkie_metrics *pkie_metrics_default(void);

/** Non-zero while the hooks are on (internal to the hook macros). */
extern atomic_int pkie_metrics_on_;
/** Are the hooks on? */
#define pkie_metrics_enabled() atomic_load_explicit(&pkie_metrics_on_, memory_order_relaxed)

/* The hooks: macros over the functions of the same name with a trailing _. */

/** A transfer ended: pkie_transfers_total, pkie_transfer_bytes_total and (result
 *  "ok") pkie_transfer_duration_seconds. */
void pkie_metrics_transfer_(const char *partner, const char *direction, const char *result,
                            uint64_t bytes, uint64_t duration_ms);
#define pkie_metrics_transfer(...)                                                                 \
    (pkie_metrics_enabled() ? pkie_metrics_transfer_(__VA_ARGS__) : (void)0)
/** A handshake failed or a session was refused before any file: the TLS alert
 *  code sent or received (-1: none), counted by its name. */
void pkie_metrics_handshake_failure_(int alert);
#define pkie_metrics_handshake_failure(...)                                                        \
    (pkie_metrics_enabled() ? pkie_metrics_handshake_failure_(__VA_ARGS__) : (void)0)
/** pkie_sessions{state}: add @p delta (state "handshaking" or "active"). */
void pkie_metrics_session_(const char *state, int delta);
#define pkie_metrics_session(...)                                                                  \
    (pkie_metrics_enabled() ? pkie_metrics_session_(__VA_ARGS__) : (void)0)
/** The certificate @p leaf was presented as @p id (a PKI base id, or "exit"):
 *  pkie_certificate_expiry_timestamp_seconds{id,subject,serial} holds its
 *  notAfter; one series per id (a renewed certificate replaces it). */
void pkie_metrics_cert_(const char *id, const X509 *leaf);
#define pkie_metrics_cert(...) (pkie_metrics_enabled() ? pkie_metrics_cert_(__VA_ARGS__) : (void)0)
/** Forget every certificate series (before a reload sets them again). */
void pkie_metrics_certs_clear(void);
/** An exit call of phase @p phase (its name) answered @p rc (CFTPKIE_HANDLED,
 *  CFTPKIE_NOT_HANDLED, else an error): pkie_exit_calls_total. */
void pkie_metrics_exit_call_(const char *phase, int rc);
#define pkie_metrics_exit_call(...)                                                                \
    (pkie_metrics_enabled() ? pkie_metrics_exit_call_(__VA_ARGS__) : (void)0)
/** A CMP request of body @p type answered with @p result: pkie_ca_requests_total. */
void pkie_metrics_ca_request_(const char *type, const char *result);
#define pkie_metrics_ca_request(...)                                                               \
    (pkie_metrics_enabled() ? pkie_metrics_ca_request_(__VA_ARGS__) : (void)0)
/** pkie_ca_pending_requests: @p n transactions wait for approval. */
void pkie_metrics_ca_pending_(long long n);
#define pkie_metrics_ca_pending(...)                                                               \
    (pkie_metrics_enabled() ? pkie_metrics_ca_pending_(__VA_ARGS__) : (void)0)
/** A CRL was built: pkie_ca_crl_next_update_timestamp_seconds is its nextUpdate. */
void pkie_metrics_ca_crl_(const X509_CRL *crl);
#define pkie_metrics_ca_crl(...)                                                                   \
    (pkie_metrics_enabled() ? pkie_metrics_ca_crl_(__VA_ARGS__) : (void)0)

/* ---- the HTTP endpoint --------------------------------------------------------- */

/**
 * Check a listen address "HOST:PORT": HOST a numeric IPv4 address, a
 * bracketed IPv6 address or "localhost" (127.0.0.1); PORT 0..65535 (0: any
 * free port). *@p loopback (may be NULL) tells whether HOST is a loopback
 * address. 0 or PKIE_ERR_ARG naming what is wrong.
 */
int pkie_metrics_listen_check(const char *listen, int *loopback);

/** A running /metrics endpoint. */
struct pkie_metrics_server;

/**
 * Serve @p r at http://LISTEN/metrics from a thread of libmicrohttpd
 * (libmicrohttpd.so.12, loaded now; PKIE_ERR_IO with the library's name when
 * it is missing): GET only (405 for another method, 404 for another path),
 * Content-Type text/plain; version=0.0.4; charset=utf-8; at most 16
 * connections, 4 per address, 5 s idle timeout. A non-loopback address is
 * served with a warning in the log.
 */
int pkie_metrics_server_start(const char *listen, struct pkie_metrics *r,
                              struct pkie_metrics_server **out);
/** The port served (the one chosen for port 0). */
uint16_t pkie_metrics_server_port(const struct pkie_metrics_server *s);
/** Stop and free. NULL is accepted. */
void pkie_metrics_server_stop(struct pkie_metrics_server *s);

#ifdef __cplusplus
}
#endif
#endif
