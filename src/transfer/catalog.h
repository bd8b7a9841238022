/*
 * The transfer catalog: one SQLite record per transfer and per refused
 * session, on both sides (docs/catalog.md).
 *
 * Writers (pkie recv, pkie send) open it read-write and record through the
 * audit sink (audit.c queues each row right after the audit line's write(2);
 * its writer thread, catalog_queue.c, commits them in groups with
 * pkie_xfer_catalog_put_many under the sink's lock; at startup
 * pkie_xfer_catalog_replay reads back the lines whose rows a crash lost);
 * `pkie catalog` opens it read-only for list and show, read-write for purge.
 *
 * A transfer (direction, partner, transfer id) that resumes over several
 * sessions is one record, updated per session: bytes and resume_offsets grow
 * by one element each, result/error/ended are the last session's. A record
 * whose result is "ok" is final: a later session with the same id starts a
 * new record. A session refused before any file (TLS handshake, partner
 * check) is a record of its own whose id is "session-N" (N its sequence).
 */
#ifndef PKIE_XFER_CATALOG_H
#define PKIE_XFER_CATALOG_H

#include "pkie/transfer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Schema version this code writes (table schema_version). */
#define PKIE_XFER_CATALOG_SCHEMA  1
/** Milliseconds a writer waits for a lock held by another connection. */
#define PKIE_XFER_CATALOG_BUSY_MS 5000

struct pkie_xfer_catalog;

/**
 * Open (create 0640 when missing) the catalog at @p path for writing records
 * of direction @p dir ("in": the receiver, "out": the sender). WAL journal,
 * synchronous=NORMAL, busy timeout PKIE_XFER_CATALOG_BUSY_MS, schema created
 * or checked (a newer schema version is refused). A world-writable file is
 * refused. Errors: PKIE_ERR_IO (cannot open/create), PKIE_ERR_UNSUPPORTED
 * (not a database, or another schema).
 */
int pkie_xfer_catalog_open(const char *path, const char *dir, struct pkie_xfer_catalog **out);
/** Refuse (PKIE_ERR_CONF_VALUE) a catalog @p path whose directory is the
 *  destination @p dir or lies under it: a partner must never be able to
 *  name, replace or fill it. PKIE_ERR_IO when a directory cannot be resolved. */
int pkie_xfer_catalog_dir_check(const char *path, const char *dir);
/** Open an existing catalog read-only (list, show). PKIE_ERR_NOT_FOUND when
 *  @p path does not exist; else as pkie_xfer_catalog_open. */
int pkie_xfer_catalog_open_ro(const char *path, struct pkie_xfer_catalog **out);
/** Open an existing catalog read-write without choosing a direction (purge). */
int pkie_xfer_catalog_open_admin(const char *path, struct pkie_xfer_catalog **out);
void pkie_xfer_catalog_close(struct pkie_xfer_catalog *c);

/** One event to record: exactly one of @p file and @p refusal is set. */
struct pkie_xfer_catalog_event {
    const struct pkie_xfer_audit_rec *file;  /**< a file's session (its audit record) */
    const struct pkie_xfer_refusal *refusal; /**< a session refused before any file */
};

/**
 * Record @p ev, ended now, in one transaction with prepared statements kept
 * open. @p audit_end is the audit file's size right after its line was
 * appended (-1: no audit line), kept in the row for the startup replay.
 * NULL @p c: no-op. Serialised by the caller (the audit lock).
 */
int pkie_xfer_catalog_put(struct pkie_xfer_catalog *c, const struct pkie_xfer_catalog_event *ev,
                          int64_t audit_end);

/** One event of pkie_xfer_catalog_put_many. */
struct pkie_xfer_catalog_item {
    const struct pkie_xfer_catalog_event *ev;
    int64_t audit_end; /**< as pkie_xfer_catalog_put's, -1: no audit line */
    int64_t ended_ms;  /**< when the session ended (its audit line's time) */
};

/**
 * Record @p n items in order in one transaction (group commit, the catalog
 * writer thread: catalog_queue.h). When that transaction fails, each item is
 * retried in a transaction of its own, so that a bad record loses only
 * itself; every failure is logged. Returns the number of items not recorded.
 * Serialised by the caller (the audit lock).
 */
size_t pkie_xfer_catalog_put_many(struct pkie_xfer_catalog *c,
                                  const struct pkie_xfer_catalog_item *it, size_t n);

/** What pkie_xfer_catalog_replay found and did. */
struct pkie_xfer_catalog_replay {
    int64_t from;      /**< the catalog's last recorded audit_end (-1: none yet) */
    int64_t size;      /**< the audit file's size */
    uint64_t replayed; /**< audit lines recorded */
    uint64_t bad;      /**< complete lines that could not be read or recorded */
    int64_t first_bad; /**< offset of the first of them, -1: none */
    int64_t shorter;   /**< > 0: the file is this much shorter (rotated, truncated) */
    int64_t skipped;   /**< > 0: bytes of lines over the cap, not replayed */
    int cut;           /**< 1: the last line has no newline (not replayed) */
};

/**
 * Startup replay from the audit file (open fd @p audit_fd): the lines
 * written after the catalog's last recorded audit_end (the newest row's, or
 * the previous replay's when that is newer) are lines whose row was still
 * queued when the process died (or written with the catalog off). Each
 * complete line is parsed (audit_line.h) and recorded as the live write
 * would have (audit_end: the line's end, ended: its "time"), merged into its
 * transfer's record; all in one transaction with the new audit_end in meta.
 * Lines that do not parse are counted and logged with their offset. Nothing
 * recorded yet (a new catalog), a shorter file, or more than @p cap bytes:
 * nothing replayed, the file's size recorded. Startup only (scans the rows).
 */
int pkie_xfer_catalog_replay(struct pkie_xfer_catalog *c, int audit_fd, int64_t cap,
                             struct pkie_xfer_catalog_replay *out);
/** The core of pkie_xfer_catalog_replay on @p len bytes at offset @p base of
 *  the audit file; meta's audit_end := @p meta_end (-1: unchanged). *out
 *  initialised by the caller. For pkie_xfer_catalog_replay and the fuzz target. */
int pkie_xfer_catalog_replay_buf(struct pkie_xfer_catalog *c, const char *buf, size_t len,
                                 int64_t base, int64_t meta_end,
                                 struct pkie_xfer_catalog_replay *out);

/** One record as read back. Strings are NUL-terminated (file may also hold
 *  NUL: file_len bytes); NULL when not known. Valid during the callback. */
struct pkie_xfer_catalog_row {
    int64_t seq;           /**< sequence (rowid) */
    const char *id;        /**< transfer id (hex) or "session-N" */
    const char *direction; /**< "in" or "out" */
    const char *partner;   /**< partner name */
    const char *peer_subject;
    const char *peer_serial;
    const char *file;           /**< file name (any byte) */
    size_t file_len;            /**< its bytes */
    int64_t size;               /**< announced size, -1: none */
    const char *bytes;          /**< JSON array of the bytes moved in each session */
    const char *resume_offsets; /**< JSON array of each session's resume offset */
    int64_t started_ms;         /**< ms since the epoch (UTC) */
    int64_t ended_ms;           /**< ms since the epoch (UTC) */
    const char *result;         /**< ok, refused, failed, interrupted */
    const char *error;
    const char *sha256; /**< hex */
    const char *tls_version;
    const char *cipher;
    const char *global_area; /**< hex */
};

/** Filter of pkie_xfer_catalog_list; NULL/INT64_MIN members: no filter. */
struct pkie_xfer_catalog_filter {
    const char *partner; /**< exact partner name */
    const char *result;  /**< exact result word */
    int64_t since_ms;    /**< records that ended at or after (INT64_MIN: all) */
};

/** Called per row; a non-zero return stops the walk and is returned. */
typedef int (*pkie_xfer_catalog_fn)(void *arg, const struct pkie_xfer_catalog_row *row);

/** Walk the records matching @p f, oldest first. */
int pkie_xfer_catalog_list(struct pkie_xfer_catalog *c, const struct pkie_xfer_catalog_filter *f,
                           pkie_xfer_catalog_fn fn, void *arg);
/** The newest record whose id is @p id: PKIE_ERR_NOT_FOUND when none. */
int pkie_xfer_catalog_show(struct pkie_xfer_catalog *c, const char *id, pkie_xfer_catalog_fn fn,
                           void *arg);
/** Delete the records that ended before @p before_ms; *removed counts them. */
int pkie_xfer_catalog_purge(struct pkie_xfer_catalog *c, int64_t before_ms, uint64_t *removed);

/** Write @p r as one JSON object (the keys of docs/catalog.md) to @p out;
 *  strings escaped by pkie_xfer_json_escape (the audit's lossless form). */
int pkie_xfer_catalog_row_json(const struct pkie_xfer_catalog_row *r, FILE *out);

/**
 * Parse TIME: RFC 3339 (2026-12-03T22:15:11Z, fraction and +hh:mm/-hh:mm
 * offset allowed, also "2026-12-03" for its midnight UTC) or a duration before
 * @p now_ms: digits and one unit of s, m, h, d, w (7d, 12h, 30m, 45s), at most
 * 100 years. *out: ms since the epoch. PKIE_ERR_ARG with the reason.
 */
int pkie_xfer_time_parse(const char *s, int64_t now_ms, int64_t *out);
/** Format @p ms as RFC 3339 UTC with milliseconds (24 bytes + NUL). */
void pkie_xfer_time_format(int64_t ms, char out[32]);
/** Wall clock now, ms since the epoch. */
int64_t pkie_xfer_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
