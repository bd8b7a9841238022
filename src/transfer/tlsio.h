/* Internal: TLS sessions as transfer streams, peer details, sockets. */
#ifndef PKIE_XFER_TLSIO_H
#define PKIE_XFER_TLSIO_H

#include "pkie/tls.h"
#include "pkie/transfer.h"

#include <stdatomic.h>
#include <sys/socket.h>

/* A TLS session as a struct pkie_xfer_io. Reads give up after idle_ms of
 * silence, or at once (PKIE_ERR_XFER_SHUTDOWN) when *stop is set. */
struct xfer_tls_stream {
    struct pkie_xfer_io io;
    struct pkie_tls_session *s;
    const atomic_int *stop;
    long long idle_ms;
    int alert; /* TLS alert the peer sent after the handshake, else -1 */
};
/* Socket write buffer of pkie send (pkie_tls_coalesce_writes): one DATA
 * frame's 16 full records with their overhead (at most 64 bytes each). */
#define XFER_SEND_BATCH (16u * (16384u + 64u))

void xfer_tls_stream_init(struct xfer_tls_stream *st, struct pkie_tls_session *s,
                          const atomic_int *stop, long long idle_ms);

/* What the audit records of the peer: strings owned here. */
struct xfer_peer_info {
    struct pkie_xfer_peer peer;
    char *subject, *issuer, *serial;
    uint8_t global_area[PKIE_TLS_GLOBAL_AREA];
};
/* RFC 4514 text of @p n (malloc'ed, NULL on failure), as the audit shows it. */
char *xfer_dn_text(const X509_NAME *n);
void xfer_peer_info_fill(struct xfer_peer_info *pi, struct pkie_tls_session *s);
void xfer_peer_info_free(struct xfer_peer_info *pi);

int xfer_split_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap);
int xfer_listen(const char *hostport, int backlog, int *out);
int xfer_connect(const char *host, const char *port, int timeout_ms, int *out);
void xfer_socket_tune(int fd);
void xfer_addr_text(const struct sockaddr_storage *ss, char *host, size_t hcap, uint16_t *port);

#endif
