/* Internal: the admission gate of the receiver monitor. Bounds the
 * connections that are not yet authenticated, in total and per peer address,
 * and computes their deadlines (first byte, whole handshake). */
#ifndef PKIE_XFER_GATE_H
#define PKIE_XFER_GATE_H

#include <stddef.h>
#include <sys/socket.h>

/* Bounds and deadlines of unauthenticated connections. */
struct xfer_gate_limits {
    unsigned max_total;      /* connections admitted and not yet released */
    unsigned max_per_addr;   /* the same, from one peer address (IPv4 and IPv6) */
    long long first_byte_ms; /* accept to the peer's first byte */
    long long handshake_ms;  /* accept to the end of the handshake */
};

struct xfer_gate;

/* A gate with @p l (max_total and max_per_addr >= 1). 0 or a pkie_err. */
int xfer_gate_new(const struct xfer_gate_limits *l, struct xfer_gate **out);
/* Free the gate. NULL is accepted. */
void xfer_gate_free(struct xfer_gate *g);
/* Admit a connection from @p addr: 0, or PKIE_ERR_LIMIT when the total or the
 * address's bound is reached (the message says which). Thread-safe. */
int xfer_gate_admit(struct xfer_gate *g, const struct sockaddr_storage *addr);
/* Release what xfer_gate_admit took for @p addr (once per admitted
 * connection: authenticated, refused or closed). Thread-safe. */
void xfer_gate_release(struct xfer_gate *g, const struct sockaddr_storage *addr);
/* Connections admitted and not released, in total and from @p addr (NULL:
 * total only). */
unsigned xfer_gate_count(struct xfer_gate *g, const struct sockaddr_storage *addr);

/* The deadline (ms, same clock as the times) of a connection accepted at
 * @p t_accept whose first byte came at @p t_first (0: not yet): the first
 * byte's until it came, then the whole handshake's, counted from the
 * accept. */
long long xfer_gate_deadline(const struct xfer_gate_limits *l, long long t_accept,
                             long long t_first);

#endif
