/* Progress bar of pkie send: one line per file, redrawn at most 10 times a second. */
#include "transfer_progress.h"

#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void xfer_progress_init(struct xfer_progress *p, FILE *out)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->item = (size_t)-1;
}

void xfer_progress_cb(void *arg, uint64_t done, uint64_t total)
{
    struct xfer_progress *p = arg;
    double now = now_s();
    size_t item = p->opts ? p->opts->current : 0;
    if (item != p->item) {
        if (p->drawn)
            fputc('\n', p->out);
        p->item = item;
        p->t0 = now;
        p->first_done = done;
        p->last = 0;
        p->drawn = 0;
    }
    if (done < total && now - p->last < 0.1)
        return;
    p->last = now;
    const char *name = p->names && item < p->n ? p->names[item] : "";
    double frac = total ? (double)done / (double)total : 1.0;
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double secs = now - p->t0;
    double rate = secs > 0 ? (double)(done - p->first_done) / secs / 1048576.0 : 0;
    fprintf(p->out, "\r%-24.24s [%s] %5.1f%% %9.1f MiB %8.1f MiB/s", name, bar, frac * 100.0,
            (double)done / 1048576.0, rate);
    fflush(p->out);
    p->drawn = 1;
}

void xfer_progress_done(struct xfer_progress *p)
{
    if (p->drawn)
        fputc('\n', p->out);
    fflush(p->out);
    p->drawn = 0;
}
