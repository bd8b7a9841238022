/*
 * The receiver's direct writer (internal to the transfer module): appends
 * through aligned staging buffers that a writer thread hands to an O_DIRECT
 * file descriptor, so that a large file skips the page cache (its copy and
 * its writeback cost about a core-second per GiB on a small machine) and the
 * disk works while the session decrypts the next buffer. Bytes that do not
 * fill an aligned block are written through a buffered descriptor of the
 * same file when everything must be in the file (flush).
 */
#ifndef PKIE_TRANSFER_DWRITE_H
#define PKIE_TRANSFER_DWRITE_H

#include "pkie/transfer.h"

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/** Alignment of offsets, lengths and buffers for O_DIRECT (covers 512 and 4096 byte sectors). */
#define XFER_DIO_ALIGN 4096u

struct xfer_dwriter;

/**
 * Called from the sync thread after an fdatasync that covers every byte
 * before @p offset: records @p offset as durable. Returns 0 or an errno.
 */
typedef int (*xfer_durable_fn)(void *arg, uint64_t offset);

/**
 * Start appending at @p start. @p dfd is the file opened with O_DIRECT (a
 * plain descriptor works too), @p bfd a buffered descriptor of the same file
 * (it reads the block before an unaligned @p start and writes the unaligned
 * end on flush). @p nbuf (2..8) buffers of @p bufsz bytes (a non-zero multiple
 * of XFER_DIO_ALIGN). Writes go through @p fn (NULL: pwrite) with @p arg.
 * Returns 0, or -errno (nothing started).
 */
int xfer_dwriter_start(int dfd, int bfd, uint64_t start, size_t bufsz, unsigned nbuf,
                       pkie_xfer_write_fn fn, void *arg, struct xfer_dwriter **out);

/**
 * Hash every byte appended from now on into @p md, in file order, off the
 * session's thread: a hash thread takes each handed buffer in order while the
 * writer thread writes it, and flush hashes the rest. The caller does not
 * touch @p md between this and a flush that returned 0 (then it may finalize
 * it). Before the first append only: returns 0, or -EINVAL (or -errno when
 * the thread cannot start).
 */
int xfer_dwriter_hash(struct xfer_dwriter *w, EVP_MD_CTX *md);

/**
 * Checkpoint in the background: every @p every bytes written, a sync thread
 * runs fdatasync on the file and then @p durable (the session keeps
 * receiving meanwhile; requests that come while one runs are merged into the
 * newest). A failed fdatasync or callback is an error of the writer.
 * Returns 0, or -errno (no thread started, nothing changed). Once only.
 */
int xfer_dwriter_autosync(struct xfer_dwriter *w, uint64_t every, xfer_durable_fn durable,
                          void *arg);

/**
 * Copy @p len bytes in after those appended before; a full buffer goes to the
 * writer thread (this waits while every buffer is being written). Returns 0,
 * or -errno of a failed write (this one's or an earlier one's: writes are
 * asynchronous). After an error nothing more is written.
 */
int xfer_dwriter_append(struct xfer_dwriter *w, const void *buf, size_t len);

/**
 * Write every byte appended so far into the file (not made durable: that is
 * the caller's fsync). Returns 0, or -errno of the first failed write.
 */
int xfer_dwriter_flush(struct xfer_dwriter *w);

/** End of the bytes known to be in the file: every byte in [start, this) was written. */
uint64_t xfer_dwriter_written(struct xfer_dwriter *w);

/** Let the writer thread finish the buffers handed to it and the sync thread
 *  its last request, stop them and free. NULL is a no-op. */
void xfer_dwriter_free(struct xfer_dwriter *w);

#endif
