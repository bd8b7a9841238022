/* pkie's metric families and their hooks (include/pkie/metrics.h, docs/metrics.md). */
#include "cftpkie.h"
#include "pkie/error.h"
#include "pkie/metrics.h"
#include "pkie/tls_alert.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

atomic_int pkie_metrics_on_;

static struct pkie_metrics *reg;
static struct pkie_metric *transfers, *xbytes, *duration, *hs_fail, *sessions, *cert_expiry,
    *exit_calls, *ca_requests, *ca_pending, *ca_crl;

/* Seconds, from a fast local transfer to a long one over a slow link. */
static const double duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,    2.5,
                                          5,     10,   30,    60,   120, 300,  600, 1800, 3600};

/* Certificates presented: one series per id; the leaf kept to tell a
 * renewed one at the next presentation (compared by X509_cmp). */
#define MAX_CERT_IDS 256
static pthread_mutex_t cert_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *id, *subject, *serial;
    X509 *leaf;
} certs[MAX_CERT_IDS];
static size_t n_certs;

static int add(const char *name, const char *help, enum pkie_metric_type type,
               const char *const *labels, size_t n_labels, size_t max_series,
               struct pkie_metric **out)
{
    struct pkie_metric_def d = {
        .name = name,
        .help = help,
        .type = type,
        .labels = labels,
        .n_labels = n_labels,
        .max_series = max_series,
    };
    if (type == PKIE_METRIC_HISTOGRAM) {
        d.buckets = duration_buckets;
        d.n_buckets = sizeof(duration_buckets) / sizeof(duration_buckets[0]);
    }
    return pkie_metrics_family(reg, &d, out);
}

static int add_transfer(void)
{
    static const char *const pdr[] = {"partner", "direction", "result"};
    static const char *const alert[] = {"alert"};
    static const char *const state[] = {"state"};
    static const char *const cert[] = {"id", "subject", "serial"};
    static const char *const phase[] = {"phase", "result"};
    /* partners come from the configuration (at most 1024), results and
     * directions are a few words: 1024 x 2 x 4 label sets at most */
    int rc = add("pkie_transfers_total", "Transfers ended, by partner, direction and result.",
                 PKIE_METRIC_COUNTER, pdr, 3, 8192, &transfers);
    if (rc == 0)
        rc = add("pkie_transfer_bytes_total",
                 "Bytes of file content moved (received or sent in the sessions), by partner "
                 "and direction.",
                 PKIE_METRIC_COUNTER, pdr, 2, 2048, &xbytes);
    if (rc == 0)
        rc = add("pkie_transfer_duration_seconds",
                 "Duration of the transfers that ended ok, from FILE to the confirmation.",
                 PKIE_METRIC_HISTOGRAM, pdr, 2, 2048, &duration);
    if (rc == 0)
        rc = add("pkie_handshake_failures_total",
                 "Sessions refused before any file (TLS handshake or partner check), by the "
                 "TLS alert sent or received (none: no alert).",
                 PKIE_METRIC_COUNTER, alert, 1, 300, &hs_fail);
    if (rc == 0)
        rc = add("pkie_sessions",
                 "Connections now: handshaking (accepted, not yet authenticated), active "
                 "(authenticated, transferring).",
                 PKIE_METRIC_GAUGE, state, 1, 4, &sessions);
    if (rc == 0)
        rc = add("pkie_certificate_expiry_timestamp_seconds",
                 "notAfter (Unix time) of each certificate the monitor presents; id is its PKI "
                 "base id, or exit when the exit served it.",
                 PKIE_METRIC_GAUGE, cert, 3, MAX_CERT_IDS, &cert_expiry);
    if (rc == 0)
        rc = add("pkie_exit_calls_total",
                 "Calls of the PKI exit in the session phases, by phase and answer (handled, "
                 "not_handled, error).",
                 PKIE_METRIC_COUNTER, phase, 2, 64, &exit_calls);
    return rc;
}

static int add_ca(void)
{
    static const char *const tr[] = {"type", "result"};
    int rc = add("pkie_ca_requests_total",
                 "CMP requests answered, by request body type and result (accepted, waiting, "
                 "rejected, failed).",
                 PKIE_METRIC_COUNTER, tr, 2, 256, &ca_requests);
    if (rc == 0)
        rc = add("pkie_ca_pending_requests",
                 "CMP transactions waiting for manual approval (pkie ca pending).",
                 PKIE_METRIC_GAUGE, NULL, 0, 1, &ca_pending);
    if (rc == 0)
        rc = add("pkie_ca_crl_next_update_timestamp_seconds",
                 "nextUpdate (Unix time) of the CRL this server last built (GET /crl, genm).",
                 PKIE_METRIC_GAUGE, NULL, 0, 1, &ca_crl);
    return rc;
}

int pkie_metrics_init(unsigned sets)
{
    if (reg != NULL)
        return PKIE_ERR(PKIE_ERR_STATE, "metrics: already initialised");
    int rc = pkie_metrics_new(&reg);
    if (rc == 0 && (sets & PKIE_METRICS_TRANSFER))
        rc = add_transfer();
    if (rc == 0 && (sets & PKIE_METRICS_CA))
        rc = add_ca();
    if (rc != 0) {
        pkie_metrics_free(reg);
        reg = NULL;
        return rc;
    }
    atomic_store(&pkie_metrics_on_, 1);
    return 0;
}

void pkie_metrics_shutdown(void)
{
    atomic_store(&pkie_metrics_on_, 0);
    pkie_metrics_certs_clear();
    pkie_metrics_free(reg);
    reg = NULL;
    transfers = xbytes = duration = hs_fail = sessions = cert_expiry = exit_calls = NULL;
    ca_requests = ca_pending = ca_crl = NULL;
}

struct pkie_metrics *pkie_metrics_default(void)
{
    return reg;
}

/* ---- hooks (called only while on; a family of another set is NULL) ----------------- */

void pkie_metrics_transfer_(const char *partner, const char *direction, const char *result,
                            uint64_t bytes, uint64_t duration_ms)
{
    if (transfers == NULL)
        return;
    const char *v[] = {partner, direction, result ? result : "failed"};
    (void)pkie_metric_add(transfers, v, 1);
    (void)pkie_metric_add(xbytes, v, bytes);
    if (result != NULL && strcmp(result, "ok") == 0)
        (void)pkie_metric_observe(duration, v, (double)duration_ms / 1000.0);
}

void pkie_metrics_handshake_failure_(int alert)
{
    if (hs_fail == NULL)
        return;
    const char *v[] = {alert >= 0 && alert <= 255 ? pkie_tls_alert_name(alert) : "none"};
    (void)pkie_metric_add(hs_fail, v, 1);
}

void pkie_metrics_session_(const char *state, int delta)
{
    if (sessions == NULL)
        return;
    const char *v[] = {state};
    (void)pkie_metric_gauge_add(sessions, v, (double)delta);
}

/* Unix time of an ASN1_TIME, or -1. */
static double unix_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return (double)timegm(&tm);
}

static void cert_entry_free(size_t i)
{
    free(certs[i].id);
    free(certs[i].subject);
    free(certs[i].serial);
    X509_free(certs[i].leaf);
    memset(&certs[i], 0, sizeof(certs[i]));
}

/* Subject (RFC 4514) and serial (upper-case hex) of @p x, malloc'ed. */
static int cert_text(const X509 *x, char **subject, char **serial)
{
    *subject = *serial = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    char *mem = NULL;
    long n = -1;
    if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                                        XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = BIO_get_mem_data(b, &mem);
    if (n >= 0 && hex != NULL) {
        *subject = strndup(mem != NULL ? mem : "", (size_t)n);
        *serial = strdup(hex);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    BIO_free(b);
    if (*subject == NULL || *serial == NULL) {
        free(*subject);
        free(*serial);
        *subject = *serial = NULL;
        return PKIE_ERR(PKIE_ERR_NOMEM, "certificate text");
    }
    return 0;
}

void pkie_metrics_cert_(const char *id, const X509 *leaf)
{
    if (cert_expiry == NULL || id == NULL || leaf == NULL)
        return;
    pthread_mutex_lock(&cert_mu);
    size_t i = 0;
    while (i < n_certs && strcmp(certs[i].id, id) != 0)
        i++;
    if (i < n_certs && X509_cmp(certs[i].leaf, leaf) == 0) {
        pthread_mutex_unlock(&cert_mu); /* the same certificate again: the usual case */
        return;
    }
    char *subject, *serial;
    double not_after = unix_time(X509_get0_notAfter(leaf));
    if (cert_text(leaf, &subject, &serial) != 0 || not_after < 0) {
        free(subject);
        free(serial);
        pthread_mutex_unlock(&cert_mu);
        return;
    }
    if (i < n_certs) { /* renewed: the old series goes */
        const char *old[] = {certs[i].id, certs[i].subject, certs[i].serial};
        (void)pkie_metric_remove(cert_expiry, old);
        free(certs[i].subject);
        free(certs[i].serial);
        X509_free(certs[i].leaf);
    } else if (n_certs < MAX_CERT_IDS && (certs[i].id = strdup(id)) != NULL) {
        n_certs++;
    } else {
        free(subject);
        free(serial);
        pthread_mutex_unlock(&cert_mu);
        return;
    }
    certs[i].subject = subject;
    certs[i].serial = serial;
    certs[i].leaf = X509_dup(leaf);
    const char *v[] = {id, subject, serial};
    (void)pkie_metric_gauge_set(cert_expiry, v, not_after);
    pthread_mutex_unlock(&cert_mu);
}

void pkie_metrics_certs_clear(void)
{
    pthread_mutex_lock(&cert_mu);
    for (size_t i = 0; i < n_certs; i++)
        cert_entry_free(i);
    n_certs = 0;
    if (cert_expiry != NULL)
        pkie_metric_clear(cert_expiry);
    pthread_mutex_unlock(&cert_mu);
}

void pkie_metrics_exit_call_(const char *phase, int rc)
{
    if (exit_calls == NULL)
        return;
    const char *v[] = {phase, rc == CFTPKIE_HANDLED       ? "handled"
                              : rc == CFTPKIE_NOT_HANDLED ? "not_handled"
                                                          : "error"};
    (void)pkie_metric_add(exit_calls, v, 1);
}

void pkie_metrics_ca_request_(const char *type, const char *result)
{
    if (ca_requests == NULL)
        return;
    const char *v[] = {type, result};
    (void)pkie_metric_add(ca_requests, v, 1);
}

void pkie_metrics_ca_pending_(long long n)
{
    if (ca_pending != NULL)
        (void)pkie_metric_gauge_set(ca_pending, NULL, (double)n);
}

void pkie_metrics_ca_crl_(const X509_CRL *crl)
{
    double t = crl != NULL ? unix_time(X509_CRL_get0_nextUpdate(crl)) : -1;
    if (ca_crl != NULL && t >= 0)
        (void)pkie_metric_gauge_set(ca_crl, NULL, t);
}
