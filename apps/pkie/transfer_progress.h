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
    double t0;                              /* start of the current item (of all, aggregate) */
    double last;                            /* last redraw */
    size_t item;                            /* item of t0 */
    uint64_t first_done;                    /* bytes at the first call (resume offset) */
    int drawn;                              /* a line is on screen */
    /* aggregate mode (several files at once): one line for all files */
    uint64_t *done;      /* bytes done, by item */
    unsigned char *seen; /* by item: 0 no call yet, 1 under way, 2 all bytes sent */
    uint64_t total;      /* bytes of all files */
    uint64_t sum;        /* sum of done */
    uint64_t moved;      /* bytes sent since each file's first call (for the rate) */
    size_t files_done;   /* items with all bytes sent */
};

void xfer_progress_init(struct xfer_progress *p, FILE *out);
/* One line for all files (bytes done of @p total): for several sessions at
 * once. p->n must be set. 0, or -1 when out of memory. */
int xfer_progress_aggregate(struct xfer_progress *p, uint64_t total);
/* The callback (pkie_xfer_progress_fn); arg is the struct xfer_progress. */
void xfer_progress_cb(void *arg, uint64_t done, uint64_t total);
/* End the line and free what xfer_progress_aggregate allocated. */
void xfer_progress_done(struct xfer_progress *p);

#endif
