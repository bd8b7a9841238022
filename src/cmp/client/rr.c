/* Revocation (rr/rp): the certificate to revoke named by -oldcert, by issuer
 * and serial number, or by the subject and public key of a CSR, chosen as
 * OpenSSL's ossl_cmp_rr_new chooses. */
#include "client_internal.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <string.h>

/* The rp's CertId, when present, must name the certificate of the request
 * (checked where the request named a serial number). */
static int check_revcert(const struct pkie_cmp_revrep *rp, const struct pkie_crmf_template *t)
{
    if (rp->revCerts_count == 0 || !(t->present & PKIE_CRMF_T_SERIALNUMBER))
        return 0;
    if (rp->revCerts[0].serialNumber.len != t->serialNumber.len ||
        memcmp(rp->revCerts[0].serialNumber.p, t->serialNumber.p, t->serialNumber.len) != 0)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "rp names another certificate");
    return 0;
}

int pkie_cmp_exec_revoke(struct pkie_cmp_ctx *ctx)
{
    if (ctx == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "NULL context");
    cmp_txn_start(ctx);
    struct pkie_cmp_msg *req = cmp_req_new(ctx, PKIE_CMP_BODY_RR), *m = NULL;
    uint8_t *buf = NULL;
    if (req == NULL)
        return pkie_err_last()->code;
    int rc = cmp_req_fill_rr(ctx, req);
    if (rc == 0)
        rc = cmp_send_receive(ctx, req, PKIE_CMP_BODY_BIT(PKIE_CMP_BODY_RP), &m, &buf);
    if (rc < 0)
        goto out;
    const struct pkie_cmp_revrep *rp = &m->body.u.rp;
    if (rp->status_count != 1) {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "rp with %zu status for 1 request",
                      rp->status_count);
        goto out;
    }
    cmp_ctx_record_status(ctx, &rp->status[0]);
    char st[512];
    switch (rp->status[0].status) {
    case PKIE_CMP_ACCEPTED:
    case PKIE_CMP_GRANTED_WITH_MODS:
        break;
    case PKIE_CMP_REVOCATION_WARNING:
    case PKIE_CMP_REVOCATION_NOTIFICATION:
        pkie_log_warn("cmp", "revocation: %s", pkie_cmp_ctx_snprint_status(ctx, st, sizeof(st)));
        break;
    case PKIE_CMP_REJECTION:
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_REJECTED, "revocation rejected: %s",
                      pkie_cmp_ctx_snprint_status(ctx, st, sizeof(st)));
        goto out;
    default: /* waiting, keyUpdateWarning: make no sense for rr */
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "unexpected PKIStatus for revocation: %s",
                      pkie_cmp_ctx_snprint_status(ctx, st, sizeof(st)));
        goto out;
    }
    rc = check_revcert(rp, &req->body.u.rr.details[0].certDetails);
out:
    pkie_cmp_msg_free(req);
    pkie_cmp_msg_free(m);
    free(buf);
    cmp_txn_forget(ctx);
    return rc;
}

X509 *pkie_cmp_exec_rr(struct pkie_cmp_ctx *ctx)
{
    if (ctx != NULL && ctx->oldcert == NULL) {
        PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "rr needs the certificate to revoke (oldcert)");
        return NULL;
    }
    return pkie_cmp_exec_revoke(ctx) == 0 ? ctx->oldcert : NULL;
}
