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

#include <openssl/evp.h>

struct xfer_sreader;

/**
 * Start reading @p fd from @p pos up to @p size, in chunks of @p chunk bytes
 * (the last one shorter) into @p nbuf (2..8) buffers, each with @p headroom
 * bytes before the data; every chunk goes into @p md before it is handed out.
 * Returns 0, or -errno (nothing started).
 */
int xfer_sreader_start(int fd, uint64_t pos, uint64_t size, size_t chunk, unsigned nbuf,
                       size_t headroom, EVP_MD_CTX *md, struct xfer_sreader **out);

/**
 * The next chunk in file order: @p buf points at the headroom, the data
 * follow it (*len bytes); valid until the next call. Returns 0, 1 when the
 * file is done (then @p md holds all of it), -ENODATA when the file ended
 * before @p size (it shrank), or -errno of a failed read or hash.
 */
int xfer_sreader_next(struct xfer_sreader *r, uint8_t **buf, size_t *len);

/** Stop the thread (it may be reading ahead) and free. NULL is a no-op. */
void xfer_sreader_free(struct xfer_sreader *r);

#endif
