/* Progress bar of pkie send (only drawn when stdout is a terminal). */
#ifndef PKIE_APP_TRANSFER_PROGRESS_H
#define PKIE_APP_TRANSFER_PROGRESS_H

#include "pkie/transfer.h"

#include <stdint.h>
#include <stdio.h>

struct xfer_progress {
    FILE *out;
    const char *const *names;               /* file names, by item index */
    size_t n;                               /* number of items */
    const struct pkie_xfer_send_opts *opts; /* opts->current: item being sent */
    double t0;                              /* start of the current item */
    double last;                            /* last redraw */
    size_t item;                            /* item of t0 */
    uint64_t first_done;                    /* bytes at the first call (resume offset) */
    int drawn;                              /* a line is on screen */
};

void xfer_progress_init(struct xfer_progress *p, FILE *out);
void xfer_progress_cb(void *arg, uint64_t done, uint64_t total);
void xfer_progress_done(struct xfer_progress *p);

#endif
