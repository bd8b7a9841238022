/* CMP server: building the answer (header mirroring the request, error bodies, free text)
 * and protecting it like the request. */
#include "cmp_srv.h"
#include "pkie/error.h"

#include <string.h>

int srv_freetext(struct pkie_cmp_msg *m, struct pkie_cmp_freetext *ft, const char *text)
{
    ft->strs = pkie_cmp_alloc(m, sizeof(*ft->strs));
    if (ft->strs == NULL)
        return pkie_err_last()->code;
    ft->count = 1;
    return pkie_cmp_dup(m, &ft->strs[0], text, strlen(text));
}

int srv_resp_new(struct srv_req *r, int body_type)
{
    const struct pkie_cmp_header *rh = r->m != NULL ? &r->m->header : NULL;
    X509_NAME *recipient = NULL;
    struct pkie_cmp_bytes name;
    pkie_cmp_msg_free(r->resp);
    r->resp = pkie_cmp_msg_new();
    if (r->resp == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "response");
    if (rh != NULL && pkie_cmp_gn_dirname(&rh->sender, &name) == 0) {
        const unsigned char *p = name.p;
        recipient = d2i_X509_NAME(NULL, &p, (long)name.len);
    }
    pkie_err_clear();
    int pvno =
        rh != NULL && rh->pvno == PKIE_CMP_PVNO_2021 ? PKIE_CMP_PVNO_2021 : PKIE_CMP_PVNO_2000;
    int rc = pkie_cmp_header_init(r->resp, pvno, X509_get_subject_name(r->srv->signer), recipient,
                                  rh != NULL ? &rh->transactionID : NULL,
                                  rh != NULL ? &rh->senderNonce : NULL);
    X509_NAME_free(recipient);
    if (rc == 0 && rh != NULL && rh->senderKID.p != NULL)
        rc = pkie_cmp_dup(r->resp, &r->resp->header.recipKID, rh->senderKID.p, rh->senderKID.len);
    r->resp->body.type = body_type;
    return rc;
}

int srv_resp_error(struct srv_req *r, int failbit, const char *text)
{
    int rc = srv_resp_new(r, PKIE_CMP_BODY_ERROR);
    if (rc != 0)
        return rc;
    struct pkie_cmp_errormsg *e = &r->resp->body.u.error;
    e->pKIStatusInfo.status = PKIE_CMP_REJECTION;
    e->pKIStatusInfo.has_failInfo = 1;
    e->pKIStatusInfo.failInfo = 1u << failbit;
    return srv_freetext(r->resp, &e->pKIStatusInfo.statusString, text);
}

/* Protect the answer like the request, then encode it. */
int srv_resp_finish(struct srv_req *r, uint8_t **out, size_t *len)
{
    int rc;
    if (r->implicit)
        (void)pkie_cmp_header_set_implicit_confirm(r->resp);
    if (r->is_mac == 1) {
        /* in kind (RFC 9481 6.1): the request's algorithm, owf, MAC, PRF and iteration count
         * (within the bounds its verification accepted), a fresh salt */
        struct pkie_cmp_mac_params mp;
        if ((rc = pkie_cmp_mac_params_of(r->m, &mp)) != 0)
            return rc;
        struct pkie_cmp_bytes kid = r->m->header.senderKID;
        rc = pkie_cmp_protect_mac(r->resp, r->client.secret, r->client.secret_len, &mp, &kid);
    } else {
        rc = pkie_cmp_protect_sig(r->resp, r->srv->signer_key, r->srv->signer, r->srv->chain, NULL);
    }
    if (rc == 0)
        rc = pkie_cmp_msg_encode(r->resp, out, len);
    return rc;
}

static int status_outcome(int64_t status)
{
    return status == PKIE_CMP_REJECTION ? 2 : status == PKIE_CMP_WAITING ? 1 : 0;
}

const char *srv_outcome(const struct pkie_cmp_msg *resp, int rc)
{
    static const char *const names[] = {"accepted", "waiting", "rejected"};
    if (rc != 0 || resp == NULL)
        return "failed";
    int worst = 0, t = resp->body.type;
    if (t == PKIE_CMP_BODY_ERROR)
        return "rejected";
    if (t == PKIE_CMP_BODY_POLLREP)
        return "waiting";
    if (t == PKIE_CMP_BODY_IP || t == PKIE_CMP_BODY_CP || t == PKIE_CMP_BODY_KUP) {
        const struct pkie_cmp_certrep *c = &resp->body.u.certRep;
        for (size_t i = 0; i < c->response_count; i++) {
            int o = status_outcome(c->response[i].status.status);
            worst = o > worst ? o : worst;
        }
    } else if (t == PKIE_CMP_BODY_RP) {
        const struct pkie_cmp_revrep *rp = &resp->body.u.rp;
        for (size_t i = 0; i < rp->status_count; i++) {
            int o = status_outcome(rp->status[i].status);
            worst = o > worst ? o : worst;
        }
    }
    return names[worst];
}
