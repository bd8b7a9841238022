/*
 * pkie transfer: the file transfer protocol and the receiver's file handling.
 *
 * The protocol (docs/protocol.md) runs over any reliable byte stream given as
 * read/write callbacks (struct pkie_xfer_io), so that unit tests and the fuzz
 * target need no socket; the monitor plugs a TLS session in. A frame is a
 * 5-byte header (type, 32-bit big-endian payload length) and its payload.
 *
 * Layers, each usable alone:
 *   frames     pkie_xfer_reader (buffered, bounded frame reader), encoders and
 *              strict decoders for each frame type
 *   names      pkie_xfer_name_check: what a receiver accepts as a file name
 *   rfile      the receiver's file state machine: hidden partial file, state
 *              file with the durable offset, checkpoints, hash, atomic rename
 *   sessions   pkie_xfer_recv_session / pkie_xfer_send_* drive one connection
 *   audit      one JSON line per transfer
 */
#ifndef PKIE_TRANSFER_H
#define PKIE_TRANSFER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "pkie/tls.h"
#include "pkie/tls_alert.h"

struct pkie_metrics_server;

#ifdef __cplusplus
extern "C" {
#endif

/* ---- protocol constants -------------------------------------------------- */

/** Protocol version spoken by this implementation. */
#define PKIE_XFER_VERSION     1
/** Bytes of a frame header: type (1) and payload length (4, big-endian). */
#define PKIE_XFER_HDR_LEN     5
/** Largest DATA payload. */
#define PKIE_XFER_MAX_DATA    (1u << 20)
/** Largest payload of any other frame. */
#define PKIE_XFER_MAX_CTRL    2048u
/** Length of a transfer id (random, chosen by the sender). */
#define PKIE_XFER_TID_LEN     16
/** Longest file name accepted (bytes, without NUL). */
#define PKIE_XFER_NAME_MAX    255
/** Longest text of an ERROR frame. */
#define PKIE_XFER_ERRTEXT_MAX 1024
/** Magic at the start of a HELLO payload. */
#define PKIE_XFER_MAGIC       "PKIEXFER"

/** Frame types. */
enum pkie_xfer_type {
    PKIE_XFER_HELLO = 1,  /**< both ways first: magic, version range, flags */
    PKIE_XFER_FILE = 2,   /**< sender: transfer id, size, mode, name */
    PKIE_XFER_RESUME = 3, /**< receiver: transfer id, durable offset to send from */
    PKIE_XFER_DATA = 4,   /**< sender: 1..PKIE_XFER_MAX_DATA bytes of file content */
    PKIE_XFER_END = 5,    /**< sender: SHA-256 of the whole file */
    PKIE_XFER_DONE = 6,   /**< receiver: file durable and in place */
    PKIE_XFER_ERROR = 7,  /**< either: code and text */
    PKIE_XFER_BYE = 8,    /**< sender: no more files on this connection */
};

/** A byte stream. read: >0 bytes read, 0 clean end of stream, <0 a pkie_err.
 *  write: >0 bytes written (may be fewer than asked), <0 a pkie_err. */
struct pkie_xfer_io {
    ssize_t (*read)(void *ctx, void *buf, size_t len);        /**< read some bytes */
    ssize_t (*write)(void *ctx, const void *buf, size_t len); /**< write some bytes */
    void *ctx;                                                /**< handed to both */
};

/** Write all @p len bytes (loops over partial writes). 0 or a pkie_err. */
int pkie_xfer_write_all(const struct pkie_xfer_io *io, const void *buf, size_t len);

/* ---- frames --------------------------------------------------------------- */

/** A frame as read: @p payload points into the reader's buffer and stays valid
 *  until the next read from the same reader. */
struct pkie_xfer_frame {
    uint8_t type;           /**< enum pkie_xfer_type */
    uint32_t len;           /**< payload length */
    const uint8_t *payload; /**< payload bytes (NULL when len is 0) */
};

/** Buffered frame reader over a stream. */
struct pkie_xfer_reader {
    const struct pkie_xfer_io *io; /**< the stream */
    uint8_t *buf;                  /**< buffer (grows up to max_cap) */
    size_t cap;                    /**< allocated bytes */
    size_t max_cap;                /**< largest buffer: header + largest payload allowed */
    size_t pos;                    /**< start of unconsumed bytes */
    size_t len;                    /**< end of buffered bytes */
    uint64_t offset;               /**< stream offset of buf[pos], for error reports */
    uint32_t max_data;             /**< largest DATA payload this reader accepts */
};

/** Set up a reader; @p max_data bounds DATA payloads (0: DATA frames are
 *  refused, as on a sender). The buffer starts small and grows on demand. */
int pkie_xfer_reader_init(struct pkie_xfer_reader *r, const struct pkie_xfer_io *io,
                          uint32_t max_data);
/** Release the reader's buffer. */
void pkie_xfer_reader_free(struct pkie_xfer_reader *r);
/** Release the buffer when empty (idle sessions keep little memory). */
void pkie_xfer_reader_shrink(struct pkie_xfer_reader *r);
/**
 * Read the next frame. Returns 0 with @p f filled, PKIE_ERR_XFER_CLOSED on a
 * clean end of stream between frames, PKIE_ERR_XFER_TRUNCATED inside one,
 * PKIE_ERR_XFER_FRAME_TYPE / PKIE_ERR_XFER_FRAME_LENGTH for a bad header (the
 * length is checked against the type's bounds before anything is buffered),
 * or the stream's error.
 */
int pkie_xfer_read_frame(struct pkie_xfer_reader *r, struct pkie_xfer_frame *f);

/** At log level trace, log a frame: direction ("in"/"out"), type, length and
 *  (for frames read) its stream offset. Nothing is formatted below trace. */
void pkie_xfer_trace_frame(const char *dir, uint8_t type, uint32_t len, uint64_t offset);
/** Check a header's type and length against the per-type bounds. */
int pkie_xfer_check_header(uint8_t type, uint32_t len, uint32_t max_data);
/** Write the 5-byte header for (@p type, @p len) into @p hdr. */
void pkie_xfer_put_header(uint8_t hdr[PKIE_XFER_HDR_LEN], uint8_t type, uint32_t len);
/** Send one frame (header + payload, in one write when small). */
int pkie_xfer_send_frame(const struct pkie_xfer_io *io, uint8_t type, const void *payload,
                         uint32_t len);

/** HELLO: version range and flags (no flags defined: 0). */
struct pkie_xfer_hello {
    uint16_t min_version; /**< lowest version spoken */
    uint16_t max_version; /**< highest version spoken */
    uint32_t flags;       /**< reserved, 0 */
};
/** FILE: announce a file. */
struct pkie_xfer_file {
    uint8_t tid[PKIE_XFER_TID_LEN];    /**< transfer id */
    uint64_t size;                     /**< total size in bytes */
    uint32_t mode;                     /**< permission bits (0..07777; receiver keeps 0777) */
    char name[PKIE_XFER_NAME_MAX + 1]; /**< name, NUL-terminated (no NUL inside) */
    size_t name_len;                   /**< bytes of name */
};
/** RESUME: the receiver's durable offset for a transfer id. */
struct pkie_xfer_resume {
    uint8_t tid[PKIE_XFER_TID_LEN]; /**< transfer id */
    uint64_t offset;                /**< send from here (0: from the start) */
};
/** DONE: the receiver's confirmation. */
struct pkie_xfer_done {
    uint8_t tid[PKIE_XFER_TID_LEN]; /**< transfer id */
    uint64_t size;                  /**< bytes in place */
    uint8_t sha256[32];             /**< hash verified */
};
/** ERROR: a pkie_err code and a text. */
struct pkie_xfer_error {
    int32_t code;                         /**< pkie_err code (negative) */
    char text[PKIE_XFER_ERRTEXT_MAX + 1]; /**< text, NUL-terminated, printable ASCII */
};

/* Decoders: 0, or PKIE_ERR_XFER_UNEXPECTED (other type) / PKIE_ERR_XFER_MALFORMED. */
int pkie_xfer_parse_hello(const struct pkie_xfer_frame *f, struct pkie_xfer_hello *out);
int pkie_xfer_parse_file(const struct pkie_xfer_frame *f, struct pkie_xfer_file *out);
int pkie_xfer_parse_resume(const struct pkie_xfer_frame *f, struct pkie_xfer_resume *out);
int pkie_xfer_parse_end(const struct pkie_xfer_frame *f, uint8_t sha256[32]);
int pkie_xfer_parse_done(const struct pkie_xfer_frame *f, struct pkie_xfer_done *out);
int pkie_xfer_parse_error(const struct pkie_xfer_frame *f, struct pkie_xfer_error *out);

/* Senders of control frames: 0 or a pkie_err. */
int pkie_xfer_send_hello(const struct pkie_xfer_io *io, const struct pkie_xfer_hello *h);
int pkie_xfer_send_file(const struct pkie_xfer_io *io, const struct pkie_xfer_file *f);
int pkie_xfer_send_resume(const struct pkie_xfer_io *io, const struct pkie_xfer_resume *r);
int pkie_xfer_send_end(const struct pkie_xfer_io *io, const uint8_t sha256[32]);
int pkie_xfer_send_done(const struct pkie_xfer_io *io, const struct pkie_xfer_done *d);
/** ERROR frame; control characters of @p text are replaced, long text cut. */
int pkie_xfer_send_error(const struct pkie_xfer_io *io, int32_t code, const char *text);

/** Is @p code an error about one file only, after which the connection goes on
 *  (name refused or not allowed for the partner, exists, reserved, too big,
 *  busy, resume mismatch, hash mismatch, source changed)? An XFER_DENIED
 *  answering FILE refuses that file; before HELLO it refuses the session (the
 *  receiver closes it). */
int pkie_xfer_error_is_file_level(int code);

/** Negotiate: the highest version both ranges hold, or PKIE_ERR_XFER_VERSION. */
int pkie_xfer_version_pick(const struct pkie_xfer_hello *ours, const struct pkie_xfer_hello *theirs,
                           uint16_t *version);

/* ---- names ---------------------------------------------------------------- */

/**
 * Check a file name a sender proposes. Refused (PKIE_ERR_XFER_NAME, with the
 * reason in the error record): empty, over PKIE_XFER_NAME_MAX bytes, a '/' or
 * '\\', "." or "..", a leading dot, control characters (0x00-0x1f, 0x7f), or
 * invalid UTF-8.
 */
int pkie_xfer_name_check(const char *name, size_t len);

/** Most patterns in one partner.NAME.names list. */
#define PKIE_XFER_NAME_PATTERNS_MAX 64

/**
 * Check one pattern of partner.NAME.names (@p len bytes): literal characters,
 * '*' (any run of characters, also none) and '?' (exactly one character);
 * '[', ']' and '\\' are refused (no character classes, no escapes), and so
 * is a pattern no name could match: empty, a '/', a leading dot, "..",
 * control characters, invalid UTF-8 or over PKIE_XFER_NAME_MAX bytes (the
 * rules of pkie_xfer_name_check, which every name passes first). 0 or
 * PKIE_ERR_CONF_VALUE with the reason.
 */
int pkie_xfer_name_pattern_check(const char *pattern, size_t len);
/**
 * Does @p name (@p len bytes, already through pkie_xfer_name_check) match
 * @p pattern (checked by pkie_xfer_name_pattern_check)? Case-sensitive,
 * byte-exact for literals; '?' takes one UTF-8 character; the name has no
 * leading dot, so none is ever matched by '*'. Independent of the locale, in
 * O(pattern x name) steps without recursion. 1 or 0.
 */
int pkie_xfer_name_match(const char *pattern, const char *name, size_t len);
/** Does @p name match one of the @p n patterns? n == 0: every name does. 1 or 0. */
int pkie_xfer_names_allowed(const char *const *patterns, size_t n, const char *name, size_t len);

/** Lower-case hex of @p n bytes into @p out (2n+1 bytes). Returns @p out. */
char *pkie_xfer_hex(const uint8_t *in, size_t n, char *out);
/** Parse exactly 2n hex digits into @p out. 0 or PKIE_ERR_ARG. */
int pkie_xfer_unhex(const char *hex, uint8_t *out, size_t n);

/* ---- receiver file state machine ----------------------------------------- */

/** Write hook (tests inject ENOSPC): as pwrite(2), returning -1 with errno. */
typedef ssize_t (*pkie_xfer_write_fn)(int fd, const void *buf, size_t len, off_t off, void *arg);

/** Receiver settings. */
struct pkie_xfer_recv_conf {
    int dirfd;                   /**< destination directory (O_DIRECTORY) */
    int overwrite;               /**< non-zero: replace an existing file */
    uint64_t max_file_size;      /**< largest file accepted (0: no limit) */
    uint64_t checkpoint_bytes;   /**< fsync + durable offset every so many bytes */
    pkie_xfer_write_fn write_fn; /**< NULL: pwrite */
    void *write_arg;             /**< handed to write_fn */
    const atomic_int *stop;      /**< non-NULL and set: stop at the next checkpoint */
    int direct_io;               /**< non-zero: large files bypass the page cache (O_DIRECT)
                                      where the file system reports direct I/O alignment */
    uint64_t direct_min;         /**< least bytes still to receive for direct I/O (0: 16 MiB) */
    const char *const *names;    /**< patterns of the names the partner may send (checked by
                                      pkie_xfer_name_pattern_check); others are refused with
                                      PKIE_ERR_XFER_DENIED */
    size_t n_names;              /**< entries of names; 0: every valid name */
};

/** Defaults: overwrite off, no size limit, checkpoint every 64 MiB, direct I/O on. */
void pkie_xfer_recv_conf_init(struct pkie_xfer_recv_conf *c, int dirfd);

/** An incoming file in progress (hidden partial + state file). */
struct pkie_xfer_rfile;

/**
 * Start or resume receiving @p f into the destination directory: refuses a
 * bad name, a name outside c->names (PKIE_ERR_XFER_DENIED, before the
 * directory is looked at), a file over the size limit, an existing file (unless overwrite),
 * a transfer id held by another session (PKIE_ERR_XFER_BUSY). On resume the
 * partial file is cut to the durable offset and its prefix hashed again.
 * @p offset receives the durable offset to resume from (0 for new).
 */
int pkie_xfer_rfile_open(const struct pkie_xfer_recv_conf *c, const struct pkie_xfer_file *f,
                         struct pkie_xfer_rfile **out, uint64_t *offset);
/** Append @p len bytes; checkpoints when due. PKIE_ERR_XFER_DISK_FULL on
 *  ENOSPC/EDQUOT (what was written stays resumable), PKIE_ERR_XFER_TOO_BIG
 *  past the announced size. */
int pkie_xfer_rfile_write(struct pkie_xfer_rfile *rf, const void *buf, size_t len);
/** Make everything written so far durable and record it as the resume offset. */
int pkie_xfer_rfile_checkpoint(struct pkie_xfer_rfile *rf);
/** Bytes written so far (the next offset). */
uint64_t pkie_xfer_rfile_offset(const struct pkie_xfer_rfile *rf);
/** Offset the transfer resumed from. */
uint64_t pkie_xfer_rfile_resumed_from(const struct pkie_xfer_rfile *rf);
/** 1 when the data goes to the file with direct I/O (bypassing the page cache), else 0. */
int pkie_xfer_rfile_direct(const struct pkie_xfer_rfile *rf);
/**
 * Complete: all bytes present, fsync, compare the SHA-256 with @p sha256,
 * rename into place (no overwrite unless configured), fsync the directory,
 * remove the state file. On PKIE_ERR_XFER_HASH the partial file is removed.
 * The handle is still to be closed.
 */
int pkie_xfer_rfile_finish(struct pkie_xfer_rfile *rf, const uint8_t sha256[32]);
/** The sender gave the file up (ERROR frame during data, e.g. its source
 *  changed): remove the partial and state files. The handle is still to be
 *  closed. NULL or a finished transfer: no-op. */
void pkie_xfer_rfile_abandon(struct pkie_xfer_rfile *rf);
/** Close; an unfinished transfer is checkpointed and stays resumable. */
void pkie_xfer_rfile_close(struct pkie_xfer_rfile *rf);

/** Hidden partial file name for (@p name, @p tid): ".<name>.<tidhex>.part"
 *  (the name cut so the whole fits in 255 bytes); @p suffix "part" or "state". */
int pkie_xfer_partial_name(const char *name, const uint8_t tid[PKIE_XFER_TID_LEN],
                           const char *suffix, char *out, size_t cap);

/* ---- partial transfers (reservation, listing, expiry) --------------------- */

/** Default partial_ttl: 7 days. */
#define PKIE_XFER_PARTIAL_TTL_DEFAULT (7LL * 86400)

/**
 * Is @p name reserved by another transfer? 0, or PKIE_ERR_XFER_RESERVED when
 * the destination holds a partial transfer of the same name with another
 * transfer id (names cut in partial file names compare by their cut prefix:
 * two long names alike in it reserve each other).
 */
int pkie_xfer_name_reserved(int dirfd, const char *name, const uint8_t tid[PKIE_XFER_TID_LEN]);

/** A partial transfer in the destination directory. */
struct pkie_xfer_partial {
    char name[256];                      /**< name (cut as in its partial file names) */
    char tid[2 * PKIE_XFER_TID_LEN + 1]; /**< transfer id, hex */
    uint64_t size;                       /**< announced size (0 before its first checkpoint) */
    uint64_t durable;                    /**< durable offset recorded */
    uint64_t bytes;                      /**< bytes in the partial file */
    time_t mtime;                        /**< last change of either file */
    int have_part;                       /**< the .part file exists */
    int in_use;                          /**< a session holds it: never removed */
    int expired;                         /**< unchanged for more than the ttl, not in use */
};

/** List the partial transfers of @p dirfd (expired: older than @p ttl seconds
 *  at @p now; ttl 0: none). *out malloc'ed (free()), *n entries. */
int pkie_xfer_partials_list(int dirfd, time_t ttl, time_t now, struct pkie_xfer_partial **out,
                            size_t *n);
/** Remove the partial transfer with hex id @p tidhex: PKIE_ERR_NOT_FOUND,
 *  PKIE_ERR_XFER_BUSY when a session holds it, else 0. */
int pkie_xfer_partial_remove(int dirfd, const char *tidhex);
/** Remove every partial transfer unchanged for more than @p ttl seconds and not
 *  in use; *removed counts them. */
int pkie_xfer_partials_expire(int dirfd, time_t ttl, time_t now, unsigned *removed);

/* ---- audit ---------------------------------------------------------------- */

/** What is known of the peer of a session. Strings may be NULL. */
struct pkie_xfer_peer {
    const char *partner;        /**< partner name from the configuration */
    const char *addr;           /**< peer address:port */
    const char *subject;        /**< peer certificate subject (RFC 4514) */
    const char *issuer;         /**< peer certificate issuer (RFC 4514) */
    const char *serial;         /**< peer certificate serial (hex) */
    const char *tls_version;    /**< negotiated TLS version */
    const char *cipher;         /**< negotiated cipher */
    const uint8_t *global_area; /**< the exit's 64-byte global area, or NULL */
};

/** One transfer as audited. */
struct pkie_xfer_audit_rec {
    const struct pkie_xfer_peer *peer; /**< session peer */
    const char *file;                  /**< file name (may hold any byte: escaped) */
    size_t file_len;                   /**< bytes of file (NUL included); 0: up to its NUL */
    const uint8_t *tid;                /**< transfer id (16 bytes) or NULL */
    uint64_t size;                     /**< announced size */
    uint64_t bytes;                    /**< bytes received in this session */
    uint64_t resume_offset;            /**< offset the session resumed from */
    const uint8_t *sha256;             /**< verified hash, or NULL */
    uint64_t duration_ms;              /**< from FILE to the result */
    const char *result;                /**< "ok", "refused", "failed", "interrupted" */
    const char *error;                 /**< error text or NULL */
};

/** A session refused before any file (handshake, partner check). */
struct pkie_xfer_refusal {
    const struct pkie_xfer_peer *peer; /**< address; subject, issuer and serial when a
                                            certificate was seen (NULL: nothing known) */
    const char *side;                  /**< "sender" or "receiver" */
    int alert;                         /**< TLS alert code sent or received, -1: none */
    int alert_sent;                    /**< 1: we sent it, 0: the peer did */
    const char *reason;                /**< why (the error text) */
    int64_t duration_ms;               /**< from the first byte to the refusal, -1: not
                                            measured (written as null) */
};

/** An audit sink: one JSON line per transfer appended to a file. */
struct pkie_xfer_audit;
/** The transfer catalog (src/transfer/catalog.h, docs/catalog.md). */
struct pkie_xfer_catalog;
/** Open (create 0640, append) @p path; NULL @p path: no audit file (a sink
 *  for the catalog only). */
int pkie_xfer_audit_open(const char *path, struct pkie_xfer_audit **out);
/** Close the sink: commits every catalog row still queued and joins the
 *  catalog's writer thread (not the catalog: the caller closes that after). */
void pkie_xfer_audit_close(struct pkie_xfer_audit *a);
/** Record every audited session also in @p cat: its row is queued right
 *  after the line's write(2), under the audit lock (rows keep the lines'
 *  order), and a writer thread commits the queued rows in groups (64 rows,
 *  or 100 ms after the oldest; docs/catalog.md). First replays into @p cat
 *  the audit lines written after its last row (rows a crash lost), logging
 *  what it replayed and the lines it could not read. */
void pkie_xfer_audit_set_catalog(struct pkie_xfer_audit *a, struct pkie_xfer_catalog *cat);
/** Record @p r in the catalog only, without an audit line (the sender's
 *  files, which its audit file does not list): queued for the writer thread
 *  (a deep copy). NULL @p a or no catalog: no-op. */
int pkie_xfer_audit_catalog(struct pkie_xfer_audit *a, const struct pkie_xfer_audit_rec *r);
/** Format @p r as one JSON object (no newline) into a NUL-terminated @p out. */
int pkie_xfer_audit_format(const struct pkie_xfer_audit_rec *r, char **out, size_t *len);
/** Format a session refused before any file (in the TLS handshake or by the
 *  partner check) as one JSON object: time, "event":"refused", side, partner,
 *  peer, peer_subject/issuer/serial, "stage":"handshake", alert (code,
 *  alert_direction "sent"/"received", alert_name), duration_ms, "result":
 *  "refused", error. */
int pkie_xfer_audit_format_refusal(const struct pkie_xfer_refusal *r, char **out, size_t *len);
/** Append a refused session as one line. NULL @p a: no-op. */
int pkie_xfer_audit_refusal(struct pkie_xfer_audit *a, const struct pkie_xfer_refusal *r);
/** Append @p r as one line (one write(2), serialised; its catalog row, if
 *  any, is queued, ended at the line's "time"). NULL @p a: no-op. */
int pkie_xfer_audit_write(struct pkie_xfer_audit *a, const struct pkie_xfer_audit_rec *r);
/** Append @p s (@p len bytes, NUL included) JSON-escaped, without quotes, to a
 *  malloc'ed string buffer (*buf, *len, *cap): control characters as \\uXXXX
 *  (NUL as \\u0000), each byte XX that is not part of valid UTF-8 as \\udcXX
 *  (a lone surrogate, never produced by valid UTF-8: lossless). */
int pkie_xfer_json_escape(char **buf, size_t *len, size_t *cap, const char *s, size_t slen);

/* ---- sessions ------------------------------------------------------------- */

/** Counters of one receiving session. */
struct pkie_xfer_recv_stats {
    unsigned files_ok;     /**< files confirmed */
    unsigned files_failed; /**< files refused or failed */
    uint64_t bytes;        /**< DATA bytes received */
};

/**
 * Serve one connection as the receiver: HELLO, then files until BYE or the
 * end of stream. A refused file (name, exists, size, busy) gets an ERROR frame
 * and the session goes on; a malformed or unexpected frame, a full disk or a
 * stream error gets an ERROR frame (when possible) and ends the session with
 * that code. Every file is audited. Returns 0 after BYE / clean end.
 */
int pkie_xfer_recv_session(const struct pkie_xfer_recv_conf *c, const struct pkie_xfer_io *io,
                           const struct pkie_xfer_peer *peer, struct pkie_xfer_audit *audit,
                           struct pkie_xfer_recv_stats *stats);

/** Sender's progress: @p done of @p total bytes of the current file. */
typedef void (*pkie_xfer_progress_fn)(void *arg, uint64_t done, uint64_t total);

/** Result of sending one file. */
struct pkie_xfer_send_result {
    uint64_t size;          /**< file size */
    uint64_t resume_offset; /**< offset the receiver asked to resume from */
    uint64_t bytes_sent;    /**< DATA bytes sent in this session */
    uint8_t sha256[32];     /**< hash of the file */
    int code;               /**< 0 confirmed, else the pkie_err (local or from the peer) */
    char error[PKIE_XFER_ERRTEXT_MAX + 1]; /**< text of the failure */
};

/** A sending session (one connection). */
struct pkie_xfer_sender {
    const struct pkie_xfer_io *io;  /**< the stream */
    struct pkie_xfer_reader reader; /**< replies */
    uint8_t *buf;                   /**< header + data buffer */
    size_t buf_cap;                 /**< its size */
    uint16_t version;               /**< negotiated version */
    int broken;                     /**< the connection cannot carry another file */
    int answered;                   /**< the receiver's HELLO arrived (it accepted the session) */
    int hello_pending;              /**< HELLO sent and its answer not read yet: the first FILE goes
                                         out with it (one version spoken) and the answer is read
                                         before RESUME */
};

/** Allocate buffers and exchange HELLO. */
int pkie_xfer_sender_start(struct pkie_xfer_sender *s, const struct pkie_xfer_io *io);
/**
 * Send the open file @p fd as @p name with @p tid: FILE, wait for RESUME,
 * hash the prefix the receiver has, stream the rest, END, wait for DONE.
 * The file must stay as fstat(2) saw it at FILE (device, inode, size,
 * modification and change times): checked after the prefix and after each
 * range read, and before END also by a stat of @p path (NULL: not checked).
 * A change fails the file with PKIE_ERR_XFER_CHANGED: END is never sent, an
 * ERROR frame tells the receiver to drop the partial file, the session stays
 * usable. Returns 0 when confirmed; else the code (also in @p res). A refusal
 * of this file leaves the session usable (s->broken stays 0).
 */
int pkie_xfer_sender_file(struct pkie_xfer_sender *s, int fd, const char *name, const char *path,
                          const uint8_t tid[PKIE_XFER_TID_LEN], uint32_t mode,
                          pkie_xfer_progress_fn progress, void *progress_arg,
                          struct pkie_xfer_send_result *res);
/** Send BYE (when the session is not broken) and free the buffers. */
void pkie_xfer_sender_finish(struct pkie_xfer_sender *s);

/* ---- sender state (transfer ids kept across runs) ------------------------- */

/**
 * Transfer id for sending the open file @p fd (at @p path) to @p dest: the
 * one recorded in @p state_dir for the same destination, path, size, mtime,
 * ctime, device and inode (a rerun of an unchanged file resumes), or a new random one, recorded
 * before use.
 * @p reused is set to 1 when an earlier id was found.
 */
int pkie_xfer_sendstate_get(const char *state_dir, const char *dest, const char *path, int fd,
                            uint8_t tid[PKIE_XFER_TID_LEN], int *reused);
/** Forget the id once the receiver confirmed the file. */
int pkie_xfer_sendstate_drop(const char *state_dir, const char *dest, const char *path, int fd);
/** Default state directory: $PKIE_SEND_STATE, $XDG_STATE_HOME/pkie/send,
 *  or $HOME/.local/state/pkie/send. Returns malloc'ed path or NULL. */
char *pkie_xfer_sendstate_default_dir(void);

/* ---- monitor configuration (pkie recv / pkie send) ------------------------ */

/** A partner: a name, the certificate subjects it may present, its address,
 *  and on the receiver its inbound directory and the names it may send. */
struct pkie_xfer_partner {
    char *name;        /**< partner name (the "*" of partner.*.subject) */
    char *address;     /**< partner.NAME.address: host:port to send to (or NULL) */
    char **subjects;   /**< partner.NAME.subject[.N]: RFC 4514 patterns, '*' per value */
    size_t n_subjects; /**< entries of subjects */
    char *dir;         /**< partner.NAME.dir (trailing '/' removed), NULL: DIR/NAME */
    char **names;      /**< partner.NAME.names: patterns (pkie_xfer_name_pattern_check) */
    size_t n_names;    /**< entries of names; 0: every valid name */
    int dirfd;         /**< its inbound directory once pkie_xfer_partner_dirs_open opened it
                            (O_DIRECTORY|O_NOFOLLOW), else -1; closed by pkie_xfer_conf_free */
};

/** Settings of `pkie recv` and `pkie send` (docs/man/pkie-recv.1). */
struct pkie_xfer_conf {
    char *listen;                       /**< listen: host:port (recv) */
    char *dir;                          /**< dir: destination directory (recv); partner NAME's
                                             files land in DIR/NAME unless partner.NAME.dir */
    long long tasks;                    /**< tasks: number of SSL tasks (worker threads) */
    int overwrite;                      /**< overwrite: replace existing files */
    long long max_file_size;            /**< max_file_size: bytes, 0 = no limit */
    long long checkpoint;               /**< checkpoint: bytes between durable checkpoints */
    int direct_io;                      /**< direct_io: large files bypass the page cache */
    char *audit;                        /**< audit: audit file (default <dir>/.pkie-audit.log) */
    char *catalog;                      /**< catalog: SQLite transfer catalog (default beside the
                                             configuration file, "none": off; docs/catalog.md) */
    long long handshake_timeout;        /**< handshake_timeout: seconds */
    long long idle_timeout;             /**< idle_timeout: seconds without a byte from the peer */
    long long max_pending;              /**< max_pending: connections not yet authenticated */
    long long max_pending_per_address;  /**< max_pending_per_address: the same, per peer address */
    long long first_byte_timeout;       /**< first_byte_timeout: seconds to the peer's first byte */
    long long max_sessions;             /**< max_sessions: authenticated sessions at once */
    char *log_level;                    /**< log_level: error|warn|info|debug|trace */
    char *cert;                         /**< cert: id of our certificate in the PKI base */
    char *ca;                           /**< ca: comma-separated ids of the CAs we accept */
    long long verify_depth;             /**< verify_depth: intermediates allowed */
    char *state_dir;                    /**< state_dir: sender's transfer id store */
    long long parallel;                 /**< parallel: sender's concurrent sessions (1..64) */
    long long partial_ttl;              /**< partial_ttl: seconds an unchanged partial transfer
                                             is kept (receiver; default 7 days) */
    char *metrics_listen;               /**< metrics.listen: HOST:PORT of GET /metrics (recv;
                                             NULL: no metrics) */
    struct pkie_xfer_partner *partners; /**< partner.* entries */
    size_t n_partners;                  /**< entries of partners */
    struct pkie_tls_conf tls;           /**< pki.* and tls.* keys (pkie_tls_conf_apply) */
    char **ca_ids;                      /**< ca split at commas */
    size_t n_ca_ids;                    /**< entries of ca_ids */
    const char **all_subjects;          /**< every partner's patterns (the receiver's DN filter) */
    size_t n_all_subjects;              /**< entries of all_subjects */
};

/** Set the defaults (tasks 4, parallel 1, checkpoint 64 MiB, timeouts 30 s / 300 s, TLS 1.3
 *  only with AES-128-GCM first), then read @p path. 0 or a PKIE_ERR_CONF_*. */
int pkie_xfer_conf_load(const char *path, struct pkie_xfer_conf *c);
/** As pkie_xfer_conf_load, from text (for tests). */
int pkie_xfer_conf_parse(const char *text, const char *origin, struct pkie_xfer_conf *c);
/** Free everything held by @p c. */
void pkie_xfer_conf_free(struct pkie_xfer_conf *c);
/** The partner whose subject patterns match @p subject (RFC 4514), or NULL. */
const struct pkie_xfer_partner *pkie_xfer_conf_partner_for(const struct pkie_xfer_conf *c,
                                                           const char *subject);
/** The partner named @p name, or NULL. */
const struct pkie_xfer_partner *pkie_xfer_conf_partner(const struct pkie_xfer_conf *c,
                                                       const char *name);
/** Does RFC 4514 @p subject match @p pattern ('*' matches within one
 *  attribute value, case-insensitive)? 1 or 0. */
int pkie_xfer_dn_match(const char *pattern, const char *subject);

/* ---- per-partner inbound directories (receiver; pdirs.c) ------------------ */

/** Can @p name be the last component of the default directory DIR/NAME: not
 *  empty, at most PKIE_XFER_NAME_MAX bytes, no '/', no leading dot (so not
 *  "." or ".."), no control character? 0 or PKIE_ERR_CONF_VALUE. */
int pkie_xfer_partner_name_check(const char *name);
/** The inbound directory of @p p into @p out: partner.NAME.dir, else
 *  c->dir "/" NAME. 0, PKIE_ERR_CONF_MISSING (no dir), PKIE_ERR_CONF_VALUE
 *  (a name unfit for a path) or PKIE_ERR_LIMIT (too long). */
int pkie_xfer_partner_dir_path(const struct pkie_xfer_conf *c, const struct pkie_xfer_partner *p,
                               char *out, size_t cap);
/**
 * Open the inbound directory of every partner that has a subject (the
 * partners a receiver admits) and keep it in p->dirfd. The default DIR/NAME
 * is made with mkdirat relative to DIR; a partner.NAME.dir with mkdir (its
 * parent must exist). With @p create, a missing directory is created with
 * mode 0750 exactly (whatever the umask); without, it is skipped (dirfd -1).
 * The last component is opened with O_DIRECTORY|O_NOFOLLOW and refused, with
 * an error that says why, when it is a symbolic link, not a directory,
 * writable by others, or not writable and searchable by this process.
 * Several partners may name one directory. Call it once per configuration
 * (the monitor and a reload; the dirfds live until pkie_xfer_conf_free).
 * 0, or a PKIE_ERR_XFER_FILE / CONF_* error naming the partner (nothing is
 * left open).
 */
int pkie_xfer_partner_dirs_open(struct pkie_xfer_conf *c, int create);
/** Close what pkie_xfer_partner_dirs_open opened (dirfds back to -1). */
void pkie_xfer_partner_dirs_close(struct pkie_xfer_conf *c);
/** Visitor of pkie_xfer_inboxes_each: @p partners is a comma-separated list of
 *  the partners landing in @p dirfd ("-" for DIR itself); non-zero stops. */
typedef int (*pkie_xfer_inbox_fn)(void *arg, int dirfd, const char *partners);
/**
 * Visit each distinct inbound directory of @p c once (device and inode
 * compared: partners sharing a directory are visited together), then
 * @p dir_fd (the destination DIR itself, where partial transfers of older
 * versions may lie) unless it is one of them or -1. With @p only (a partner
 * name) only that partner's directory is visited (PKIE_ERR_NOT_FOUND when no
 * such partner has one open). Returns fn's first non-zero value, else 0.
 */
int pkie_xfer_inboxes_each(const struct pkie_xfer_conf *c, int dir_fd, const char *only,
                           pkie_xfer_inbox_fn fn, void *arg);

/* ---- the receiver monitor and the sender client (TLS) ---------------------- */

/**
 * Run the receiver: listen; admit connections within max_pending (in total
 * and per address); `tasks` SSL tasks (threads: StartTask .. EndTask) each
 * drive the handshakes of many connections without blocking, within
 * first_byte_timeout and handshake_timeout, with the partner check before
 * HandshakeDone (alert 49) and an audit line per refused session; each
 * authenticated session runs pkie_xfer_recv_session in a thread of its own,
 * in its partner's directory with its partner's names, then EndSession on its
 * task (docs/architecture.md, "The receiver monitor"). The partner
 * directories must be open (pkie_xfer_partner_dirs_open): else
 * PKIE_ERR_CONF_MISSING at start. Partial transfers unchanged for over
 * partial_ttl are removed from the partner directories and DIR before the
 * socket listens, then every quarter of partial_ttl (at most hourly) and, with
 * pkie_xfer_monitor_serve, right after each successful reload, each time from
 * the directories of the configuration in force (PKIE_ERR_XFER_FILE at start
 * when DIR cannot be opened). Returns when @p stop is set (new connections refused, handshakes
 * ended, sessions cut at a checkpoint) with 0, or on a startup error (< 0). Within 10 s in every
 * state: when an SSL task has not ended 8 s after @p stop (a thread inside an exit call that does
 * not return) it is abandoned and the status PKIE_XFER_MONITOR_ABANDONED is returned (..._FAILED
 * when the monitor had also failed, e.g. another task's StartTask: the error is logged); the
 * abandoned thread may still use @p c and the monitor's state, so the caller must end the process
 * at once (_exit) without freeing anything.
 */
int pkie_xfer_monitor_run(const struct pkie_xfer_conf *c, atomic_int *stop);
/**
 * Metrics of `pkie recv` (docs/metrics.md): turn the hooks on, set the
 * certificate expiry gauge (pkie_xfer_metrics_certs_refresh) and serve
 * GET /metrics on c->metrics_listen. Nothing when metrics_listen is NULL
 * (*@p out stays NULL). Stop with pkie_xfer_metrics_stop.
 */
int pkie_xfer_metrics_start(const struct pkie_xfer_conf *c, struct pkie_metrics_server **out);
/** Stop the endpoint and turn the hooks off. NULL is accepted. */
void pkie_xfer_metrics_stop(struct pkie_metrics_server *s);
/**
 * Set pkie_certificate_expiry_timestamp_seconds from the configuration: every
 * series is dropped, then the certificate `cert` of the PKI base (pki.base,
 * read without password) is set under its id. A certificate an exit serves
 * comes back (id "exit") at its next handshake. Call after a reload of the
 * base or the certificates. No-op while metrics are off; 0, or the error of
 * opening the base.
 */
int pkie_xfer_metrics_certs_refresh(const struct pkie_xfer_conf *c);

/** Statuses of pkie_xfer_monitor_run (positive: never error codes). */
#define PKIE_XFER_MONITOR_ABANDONED        1
#define PKIE_XFER_MONITOR_ABANDONED_FAILED 2

/** How the caller drives a running monitor (pkie_xfer_monitor_serve). */
struct pkie_xfer_monitor_ctl {
    atomic_int *stop;      /**< set (e.g. by SIGTERM's handler): stop as pkie_xfer_monitor_run */
    atomic_int *reload;    /**< set (SIGHUP's handler): re-read conf_path; the monitor clears it
                                (NULL: no reload) */
    int wake_fd;           /**< readable once stop or reload was set, e.g. a self-pipe's read
                                end that the handler writes a byte to, drained by the monitor
                                (-1: none; the flags are then seen within 200 ms) */
    const char *conf_path; /**< the configuration file a reload re-reads */
};

/**
 * pkie_xfer_monitor_run with reloads: when *reload is set, the monitor
 * re-reads conf_path and, if it loads and checks (partners, the PKI base with
 * our certificate and the CAs, pki.exit.conf, tls.*, the receiving settings),
 * makes it current for the handshakes that follow while every session in
 * flight ends on the configuration it began with; a reload that fails, or
 * that changes a key only a restart can change (listen, dir, audit, tasks,
 * log_level, max_pending, max_pending_per_address, first_byte_timeout,
 * handshake_timeout, partial_ttl, pki.type, pki.exit.libpath,
 * pki.exit.isolation, pki.exit.timeout, pki.exit.user), leaves the running
 * configuration in place and logs why. Under systemd it also sends the
 * sd_notify messages of docs/architecture.md ("Running under systemd").
 * @p c must stay valid until the function returns. Same statuses as
 * pkie_xfer_monitor_run.
 */
int pkie_xfer_monitor_serve(const struct pkie_xfer_conf *c,
                            const struct pkie_xfer_monitor_ctl *ctl);

/** One file to send and its outcome. */
struct pkie_xfer_send_item {
    const char *path;                 /**< local path */
    const char *name;                 /**< name at the receiver (basename of path) */
    struct pkie_xfer_send_result res; /**< outcome */
    int confirmed;                    /**< 1 when the receiver confirmed it */
    int attempts;                     /**< connections used for it */
    double seconds;                   /**< time spent on it */
    struct stat seen;                 /**< internal: the file at the first attempt (a resumed
                                           attempt sends only the same file) */
    int have_seen;                    /**< internal: seen is set */
    int alert;                        /**< TLS alert that ended its last attempt, -1: none */
    int retryable;                    /**< when not confirmed: 1 if sending it again may succeed
                                           (pkie_xfer_retry_kind of its error), else 0 */
};

/** What a retry can do after an error (pkie_xfer_retry_kind). */
enum pkie_xfer_retry {
    PKIE_XFER_RETRY_NO = 0,    /**< a refusal: certificate (a TLS alert that refuses it),
                                    partner, name, size, existing file, changed source,
                                    protocol violation, local file */
    PKIE_XFER_RETRY_NOW = 1,   /**< transient: connection lost or refused, timeout, busy id,
                                    receiver stopping, hash mismatch */
    PKIE_XFER_RETRY_LATER = 2, /**< the receiver's disk is full: retry after a long pause */
};

/** Classify error @p code that ended an attempt with TLS alert @p alert (-1:
 *  none). An alert other than close_notify, internal_error or user_canceled
 *  is a refusal whatever the code. */
enum pkie_xfer_retry pkie_xfer_retry_kind(int code, int alert);

/** Options of the sender client. */
struct pkie_xfer_send_opts {
    const char *host;       /**< receiver host */
    const char *port;       /**< receiver port */
    const char *partner;    /**< partner name (for StartHandshake and the DN filter) or NULL */
    const char *state_dir;  /**< transfer id store (NULL: default) */
    int retries;            /**< reconnections after a broken connection (and retries of a busy
                                 file); a budget of each worker, not shared between workers */
    int retry_delay_ms;     /**< pause before reconnecting */
    int disk_full_delay_ms; /**< pause before retrying after the receiver's disk was full
                                 (pkie send: 60 s unless --disk-full-delay) */
    struct pkie_xfer_audit *audit;  /**< refused sessions are audited here (NULL: not) */
    pkie_xfer_progress_fn progress; /**< progress callback or NULL; with several workers it is
                                         called by one worker at a time (under a lock), with
                                         `current` set to the item of that call */
    void *progress_arg;             /**< its argument */
    char tls_version[32];           /**< out: TLS version of the last session opened */
    char tls_cipher[96];            /**< out: cipher of the last session opened */
    size_t current;                 /**< out: index of the item being sent (for progress; read it
                                         in the progress callback when parallel > 1) */
    int session_per_file; /**< non-zero: a new TLS session (full handshake) for every file */
    int parallel;         /**< concurrent sessions (workers, each its own SSL task); 0 or 1 =
                               one; never more than the number of items */
};

/**
 * Send @p n items to the receiver over mutually authenticated TLS with
 * reconnection and resume. With o->parallel > 1, that many workers (threads,
 * SSL tasks 1..N of one runtime) take the next unsent item in turn, each over
 * its own sessions; a broken connection is reopened by its worker and the same
 * file resumes with the same transfer id. A worker that gives up (its retries
 * spent) leaves the unsent items to the others; the last one fails them.
 * Returns 0 when every file was confirmed, else the error of the first
 * unconfirmed item in item order (every item's res tells its own).
 */
int pkie_xfer_client_send(const struct pkie_xfer_conf *c, struct pkie_xfer_send_opts *o,
                          struct pkie_xfer_send_item *items, size_t n);

#ifdef __cplusplus
}
#endif
#endif
