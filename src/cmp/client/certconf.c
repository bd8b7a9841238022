/* The default certificate confirmation check and the chain of a new
 * certificate. */
#include "client_internal.h"
#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

X509_STORE_CTX *cmp_verify_new(struct pkie_cmp_ctx *ctx, X509_STORE *store, X509 *cert)
{
    STACK_OF(X509) *inter = sk_X509_new_null();
    X509_STORE_CTX *vc = NULL;
    if (inter == NULL || store == NULL)
        goto fail;
    STACK_OF(X509) *lists[] = {ctx->extracerts_in, ctx->extracerts_kept, ctx->untrusted,
                               ctx->capubs};
    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
        for (int i = 0; i < sk_X509_num(lists[l]); i++)
            if (!sk_X509_push(inter, sk_X509_value(lists[l], i)))
                goto fail;
    if ((vc = X509_STORE_CTX_new()) == NULL || !X509_STORE_CTX_init(vc, store, cert, inter))
        goto fail;
    /* as OSSL_CMP_certConf_cb: no status or revocation checks for a
     * certificate just issued; the time, partial chain and policy flags stay */
    X509_VERIFY_PARAM_clear_flags(
        X509_STORE_CTX_get0_param(vc),
        ~(unsigned long)(X509_V_FLAG_USE_CHECK_TIME | X509_V_FLAG_NO_CHECK_TIME |
                         X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_POLICY_CHECK));
    if (X509_verify_cert(vc) != 1)
        goto fail;
    sk_X509_free(inter); /* the chain holds its own references */
    return vc;
fail:
    X509_STORE_CTX_free(vc);
    sk_X509_free(inter);
    return NULL;
}

X509_STORE *cmp_new_cert_store(const struct pkie_cmp_ctx *ctx)
{
    return ctx->out_trusted != NULL   ? ctx->out_trusted
           : ctx->ta_ip_store != NULL ? ctx->ta_ip_store
                                      : ctx->trusted;
}

int pkie_cmp_certconf_cb(struct pkie_cmp_ctx *ctx, X509 *cert, int fail_info, const char **text)
{
    if (fail_info != 0)
        return fail_info;
    if (ctx == NULL || cert == NULL)
        return 1 << PKIE_CMP_FI_incorrectData;
    X509_STORE *store = cmp_new_cert_store(ctx);
    X509_STORE_CTX *vc = cmp_verify_new(ctx, store, cert);
    if (vc == NULL) {
        ERR_clear_error();
        if (text != NULL)
            *text = store == NULL ? "no trust store to verify the new certificate"
                                  : "new certificate does not verify with the trust store";
        return 1 << PKIE_CMP_FI_incorrectData;
    }
    X509_STORE_CTX_free(vc);
    return 0;
}

void cmp_build_new_chain(struct pkie_cmp_ctx *ctx, X509 *cert)
{
    sk_X509_pop_free(ctx->new_chain, X509_free);
    ctx->new_chain = NULL;
    if (cert == NULL)
        return;
    X509_STORE *store = cmp_new_cert_store(ctx);
    X509_STORE *tmp = NULL;
    if (store == NULL) {
        /* no trust store: take the self-signed caPubs as anchors, if any */
        tmp = X509_STORE_new();
        if (tmp == NULL)
            return;
        for (int i = 0; i < sk_X509_num(ctx->capubs); i++)
            if (X509_self_signed(sk_X509_value(ctx->capubs, i), 0) == 1)
                X509_STORE_add_cert(tmp, sk_X509_value(ctx->capubs, i));
        store = tmp;
    }
    X509_STORE_CTX *vc = cmp_verify_new(ctx, store, cert);
    if (vc != NULL) {
        STACK_OF(X509) *chain = X509_STORE_CTX_get1_chain(vc);
        if (chain != NULL && sk_X509_num(chain) > 0)
            X509_free(sk_X509_shift(chain)); /* without the new certificate */
        ctx->new_chain = chain;
        X509_STORE_CTX_free(vc);
    }
    X509_STORE_free(tmp);
    ERR_clear_error();
}
