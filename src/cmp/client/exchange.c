/* The CMP client's exchange of one message through the context's transfer
 * function (HTTP by default, http.c): total timeout, message hook, size
 * bound of the response. */
#include "client_internal.h"
#include "pkie/error.h"

#include <stdlib.h>
#include <time.h>

long cmp_ctx_time_left(const struct pkie_cmp_ctx *ctx)
{
    if (ctx->end_time == 0)
        return -1;
    time_t now = time(NULL);
    return now >= ctx->end_time ? 0 : (long)(ctx->end_time - now);
}

int cmp_ctx_exchange(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                     size_t *rsp_len)
{
    *rsp = NULL;
    *rsp_len = 0;
    if (ctx->end_time != 0 && cmp_ctx_time_left(ctx) == 0)
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "total transaction timeout of %d s exceeded",
                        ctx->opt[PKIE_CMP_OPT_TOTAL_TIMEOUT]);
    if (ctx->msg_hook != NULL)
        ctx->msg_hook(ctx, PKIE_CMP_MSG_SENT, req, req_len, ctx->msg_hook_arg);
    int rc = ctx->transfer(ctx, req, req_len, rsp, rsp_len, ctx->transfer_arg);
    if (rc < 0) {
        free(*rsp);
        *rsp = NULL;
        *rsp_len = 0;
        return rc;
    }
    if (*rsp == NULL || *rsp_len == 0)
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_PROTOCOL, "empty response");
    if (*rsp_len > (size_t)ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE]) {
        free(*rsp);
        *rsp = NULL;
        *rsp_len = 0;
        return PKIE_ERR(PKIE_ERR_LIMIT, "response larger than %d bytes",
                        ctx->opt[PKIE_CMP_OPT_MAX_RESP_SIZE]);
    }
    if (ctx->msg_hook != NULL)
        ctx->msg_hook(ctx, PKIE_CMP_MSG_RECEIVED, *rsp, *rsp_len, ctx->msg_hook_arg);
    return 0;
}
