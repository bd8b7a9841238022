/*
 * The default PKI exit: at StartTask it asks for no later phase, so the
 * internal PKI base does every step. Also the smallest valid exit.
 */
#include "cftpkie.h"

__attribute__((visibility("default"))) int cftpkie(struct pkicom *zpki)
{
    /* ABI: any host of version >= 1 (an exit built for an older version runs on a newer host);
     * this exit uses version 1 fields only (a later field: CFTPKIE_HAS()). */
    if (zpki == NULL || zpki->abi_version < 1)
        return CFTPKIE_ERROR;
    if (zpki->phase == CFTPKIE_START_TASK) {
        zpki->exit_abi_version = CFTPKIE_ABI_VERSION;
        zpki->phase_mask = 0;
        zpki->session_area_size = 0;
        return CFTPKIE_HANDLED;
    }
    return CFTPKIE_NOT_HANDLED;
}
