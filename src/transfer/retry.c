/* Which errors a retry can cure (pkie send's retry decisions and the JSON
 * summary's "retryable"). */
#include "pkie/error.h"
#include "pkie/transfer.h"

/* Alerts that say nothing about the peer's verdict on us: the connection
 * ended (close_notify, user_canceled) or the peer failed (internal_error). */
static int alert_is_refusal(int alert)
{
    return alert >= 0 && alert != 0 && alert != 80 && alert != 90;
}

enum pkie_xfer_retry pkie_xfer_retry_kind(int code, int alert)
{
    if (alert_is_refusal(alert))
        return PKIE_XFER_RETRY_NO;
    switch (code) {
    case PKIE_ERR_XFER_DISK_FULL:
        return PKIE_XFER_RETRY_LATER;
    case PKIE_ERR_XFER_OVERLOADED: /* the receiver's max_sessions: a slot frees */
        return PKIE_XFER_RETRY_NOW;
    case PKIE_ERR_XFER_DENIED:    /* partner refused (either side) */
    case PKIE_ERR_XFER_NAME:      /* name refused */
    case PKIE_ERR_XFER_EXISTS:    /* name taken */
    case PKIE_ERR_XFER_RESERVED:  /* name reserved by another transfer */
    case PKIE_ERR_XFER_TOO_BIG:   /* size refused */
    case PKIE_ERR_XFER_RESUME:    /* id known with another size */
    case PKIE_ERR_XFER_CHANGED:   /* the source changed while sent */
    case PKIE_ERR_XFER_FILE:      /* the local file */
    case PKIE_ERR_XFER_VERSION:   /* no common protocol version */
    case PKIE_ERR_XFER_MALFORMED: /* protocol violations: the same again */
    case PKIE_ERR_XFER_UNEXPECTED:
    case PKIE_ERR_XFER_FRAME_TYPE:
    case PKIE_ERR_XFER_FRAME_LENGTH:
        return PKIE_XFER_RETRY_NO;
    default:
        return PKIE_XFER_RETRY_NOW;
    }
}
