/* Metrics of `pkie recv`: start, stop, the certificate expiry gauge
 * (include/pkie/transfer.h, docs/metrics.md). The counters are set by
 * one-line hooks: recv_session.c (transfers), audit.c (refused sessions),
 * gate.c and rtask.c (sessions), src/exit/session.c (exit calls, the
 * certificate presented). */
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/metrics.h"
#include "pkie/pki.h"
#include "pkie/transfer.h"

#include <stddef.h>

int pkie_xfer_metrics_certs_refresh(const struct pkie_xfer_conf *c)
{
    if (!pkie_metrics_enabled())
        return 0;
    pkie_metrics_certs_clear();
    if (c->cert == NULL || c->tls.pki_base == NULL)
        return 0;
    struct pkie_pki *pki = NULL;
    int rc = pkie_pki_open(c->tls.pki_base, NULL, 0, &pki);
    if (rc != 0)
        return rc;
    const struct pkie_pki_entry *e = pkie_pki_find(pki, c->cert);
    if (e != NULL)
        pkie_metrics_cert(c->cert, e->cert);
    else
        pkie_log_debug("metrics", "cert %s is not in the PKI base (an exit serves it?)", c->cert);
    pkie_pki_close(pki);
    return 0;
}

int pkie_xfer_metrics_start(const struct pkie_xfer_conf *c, struct pkie_metrics_server **out)
{
    *out = NULL;
    if (c->metrics_listen == NULL)
        return 0;
    int rc = pkie_metrics_init(PKIE_METRICS_TRANSFER);
    if (rc != 0)
        return rc;
    if ((rc = pkie_xfer_metrics_certs_refresh(c)) != 0 ||
        (rc = pkie_metrics_server_start(c->metrics_listen, pkie_metrics_default(), out)) != 0) {
        pkie_metrics_shutdown();
        return rc;
    }
    return 0;
}

void pkie_xfer_metrics_stop(struct pkie_metrics_server *s)
{
    if (s == NULL)
        return;
    pkie_metrics_server_stop(s);
    pkie_metrics_shutdown();
}
