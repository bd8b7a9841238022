/*
 * The catalog's writer thread: group commit (docs/catalog.md, "Order,
 * durability and what a crash leaves").
 *
 * The audit sink pushes a deep copy of each event (everything its pointers
 * reach) with its audit_end and ended time; the writer commits the queued
 * events in order, many per transaction (pkie_xfer_catalog_put_many), when
 * PKIE_XFER_CATQ_BATCH are queued or PKIE_XFER_CATQ_DELAY_MS after the oldest
 * arrived, whichever comes first, and drains everything at stop. The
 * connection is used only under @p dblock (the audit sink's lock); the
 * writer never holds the queue's mutex while it takes that lock, and a push
 * never waits for the database.
 */
#ifndef PKIE_XFER_CATALOG_QUEUE_H
#define PKIE_XFER_CATALOG_QUEUE_H

#include "catalog.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PKIE_XFER_CATQ_BATCH    64
#define PKIE_XFER_CATQ_DELAY_MS 100
/** Events queued at most: beyond (a catalog stuck for long), a push fails
 *  and its row is lost (the receiver's replay recovers it at the next start). */
#define PKIE_XFER_CATQ_MAX      65536

struct pkie_xfer_catq;

/** Start the writer of @p cat, whose connection is guarded by @p dblock:
 *  it commits when @p batch events are queued or @p delay_ms after the
 *  oldest arrived (the sink passes PKIE_XFER_CATQ_BATCH and
 *  PKIE_XFER_CATQ_DELAY_MS; the unit tests others). */
int pkie_xfer_catq_start(struct pkie_xfer_catalog *cat, pthread_mutex_t *dblock, size_t batch,
                         int64_t delay_ms, struct pkie_xfer_catq **out);
/** Queue a deep copy of @p ev: the caller's buffers may be reused at once. */
int pkie_xfer_catq_push(struct pkie_xfer_catq *q, const struct pkie_xfer_catalog_event *ev,
                        int64_t audit_end, int64_t ended_ms);
/** Commit everything queued, stop and join the writer, free. NULL: no-op.
 *  The caller must not hold @p dblock. */
void pkie_xfer_catq_stop(struct pkie_xfer_catq *q);

#endif
