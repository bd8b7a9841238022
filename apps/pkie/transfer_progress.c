/* Progress bar of pkie send: one line per file, or one line for all files when
 * several are sent at once, redrawn at most 10 times a second. The sender
 * calls the callback from one worker at a time. */
#include "transfer_progress.h"

#include <stdlib.h>
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

int xfer_progress_aggregate(struct xfer_progress *p, uint64_t total)
{
    p->done = calloc(p->n ? p->n : 1, sizeof(*p->done));
    p->seen = calloc(p->n ? p->n : 1, 1);
    if (p->done == NULL || p->seen == NULL) {
        free(p->done);
        free(p->seen);
        p->done = NULL;
        p->seen = NULL;
        return -1;
    }
    p->total = total;
    p->t0 = now_s();
    return 0;
}

static void draw(struct xfer_progress *p, const char *label, double frac, uint64_t done,
                 double rate)
{
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(p->out, "\r%-24.24s [%s] %5.1f%% %9.1f MiB %8.1f MiB/s", label, bar, frac * 100.0,
            (double)done / 1048576.0, rate);
    fflush(p->out);
    p->drawn = 1;
}

/* All files on one line: "k/n files", bytes done of all. */
static void aggregate_cb(struct xfer_progress *p, size_t item, uint64_t done, uint64_t total)
{
    double now = now_s();
    if (item >= p->n)
        return;
    if (p->seen[item] != 0 && done > p->done[item])
        p->moved += done - p->done[item];
    p->sum = p->sum - p->done[item] + done;
    p->done[item] = done;
    if (p->seen[item] == 0)
        p->seen[item] = 1;
    if (done >= total && p->seen[item] == 1) {
        p->seen[item] = 2;
        p->files_done++;
    }
    if (p->files_done < p->n && now - p->last < 0.1)
        return;
    p->last = now;
    char label[48];
    snprintf(label, sizeof(label), "%zu/%zu files", p->files_done, p->n);
    double frac = p->total ? (double)p->sum / (double)p->total
                           : (double)p->files_done / (double)(p->n ? p->n : 1);
    if (frac > 1.0)
        frac = 1.0;
    double secs = now - p->t0;
    draw(p, label, frac, p->sum, secs > 0 ? (double)p->moved / secs / 1048576.0 : 0);
}

void xfer_progress_cb(void *arg, uint64_t done, uint64_t total)
{
    struct xfer_progress *p = arg;
    size_t item = p->opts ? p->opts->current : 0;
    if (p->done != NULL) {
        aggregate_cb(p, item, done, total);
        return;
    }
    double now = now_s();
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
    double secs = now - p->t0;
    draw(p, name, frac, done, secs > 0 ? (double)(done - p->first_done) / secs / 1048576.0 : 0);
}

void xfer_progress_done(struct xfer_progress *p)
{
    if (p->drawn)
        fputc('\n', p->out);
    fflush(p->out);
    p->drawn = 0;
    free(p->done);
    free(p->seen);
    p->done = NULL;
    p->seen = NULL;
}
