/* CMP server: the CRL cache (GET /crl, genm currentCRL and crlStatusList). */
#include "cmp_srv.h"
#include "pkie/error.h"
#include "pkie/metrics.h"

#include <stdlib.h>
#include <string.h>

void srv_crl_dirty(struct pkie_ca_server *srv)
{
    pthread_mutex_lock(&srv->crl_mu);
    srv->crl_dirty = 1;
    pthread_mutex_unlock(&srv->crl_mu);
}

int pkie_ca_server_crl(struct pkie_ca_server *srv, uint8_t **der, size_t *len)
{
    int rc = 0;
    *der = NULL;
    pthread_mutex_lock(&srv->crl_mu);
    /* Revocations by `pkie ca revoke` or by another node sharing the store
     * happen elsewhere: the store's count of revoked certificates tells. */
    int64_t revoked = -1;
    if ((rc = pkie_ca_store_revoked_count(srv->store, &revoked)) != 0)
        goto out;
    if (srv->crl_dirty || srv->crl_der == NULL || revoked != srv->crl_revoked ||
        pkie_ca_now() - srv->crl_time >= 60) {
        struct pkie_ca_issuer iss = {srv->issuer, srv->issuer_key, NULL};
        X509_CRL *crl = pkie_ca_crl_build(srv->store, &iss, 86400);
        unsigned char *p = NULL;
        int n = crl != NULL ? i2d_X509_CRL(crl, &p) : -1;
        pkie_metrics_ca_crl(crl);
        X509_CRL_free(crl);
        if (n <= 0) {
            rc = crl != NULL ? PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode CRL") : pkie_err_last()->code;
            goto out;
        }
        free(srv->crl_der);
        srv->crl_der = malloc((size_t)n);
        if (srv->crl_der == NULL) {
            OPENSSL_free(p);
            rc = PKIE_ERR(PKIE_ERR_NOMEM, "CRL");
            goto out;
        }
        memcpy(srv->crl_der, p, (size_t)n);
        OPENSSL_free(p);
        srv->crl_len = (size_t)n;
        srv->crl_time = pkie_ca_now();
        srv->crl_dirty = 0;
        srv->crl_revoked = revoked;
    }
    *der = malloc(srv->crl_len);
    if (*der == NULL)
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "CRL");
    else {
        memcpy(*der, srv->crl_der, srv->crl_len);
        *len = srv->crl_len;
    }
out:
    pthread_mutex_unlock(&srv->crl_mu);
    return rc;
}
