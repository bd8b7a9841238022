/*
 * The sender's read-ahead (internal to the transfer module): a thread reads a
 * large file in order into a ring of chunks and feeds each one to the SHA-256
 * before handing it over, so the session thread only frames, encrypts and
 * sends. Each chunk has headroom before its data for the frame header.
 */
#ifndef PKIE_TRANSFER_SREAD_H
#define PKIE_TRANSFER_SREAD_H

#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>

#include <openssl/evp.h>

struct xfer_sreader;

/**
 * Is the source file still the one seen in @p was (device, inode, size,
 * modification and change times)? 1 or 0. Two fstat(2) results of one open
 * file differ in these when the file was written or truncated in between
 * (a write in the same clock tick as the last one before @p was is the one
 * change a stat cannot see).
 */
int xfer_src_same(const struct stat *was, const struct stat *now);

/**
 * Start reading @p fd from @p pos up to @p size, in chunks of @p chunk bytes
 * (the last one shorter) into @p nbuf (2..8) buffers, each with @p headroom
 * bytes before the data; every chunk goes into @p md before it is handed out.
 * With @p ident (not NULL, copied), each chunk read is followed by an
 * fstat(2) of @p fd compared with it (xfer_src_same): a change stops the
 * reader with -ESTALE before the chunk is handed out.
 * Returns 0, or -errno (nothing started).
 */
int xfer_sreader_start(int fd, uint64_t pos, uint64_t size, size_t chunk, unsigned nbuf,
                       size_t headroom, EVP_MD_CTX *md, const struct stat *ident,
                       struct xfer_sreader **out);

/**
 * The next chunk in file order: @p buf points at the headroom, the data
 * follow it (*len bytes); valid until the next call. Returns 0, 1 when the
 * file is done (then @p md holds all of it), -ENODATA when the file ended
 * before @p size (it shrank), -ESTALE when it changed (see @p ident of
 * xfer_sreader_start), or -errno of a failed read or hash. Chunks read
 * before a failure are handed out first, except after a change.
 */
int xfer_sreader_next(struct xfer_sreader *r, uint8_t **buf, size_t *len);

/** Stop the thread (it may be reading ahead) and free. NULL is a no-op. */
void xfer_sreader_free(struct xfer_sreader *r);

#endif
