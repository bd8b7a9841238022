/* Internal structures of the TLS runtime (runtime.c, session.c, tls_io.c). */
#ifndef PKIE_TLS_INT_H
#define PKIE_TLS_INT_H

#include <openssl/ssl.h>

#include "exit_int.h"
#include "isolate.h"
#include "pkie/tls.h"

struct pkie_tls_runtime {
    struct pkie_exit *exit; /* NULL: pki.type = internal */
    struct pkie_pki *pki;   /* NULL: no internal base */
    SSL_CTX *ctx;           /* shared by every session (client and server) */
    char exit_conf[CFTPKIE_CONF_CAP];
    int isolation;            /* enum pkie_tls_exit_isolation */
    int timeout_ms;           /* pki.exit.timeout */
    struct pkie_exit_iso iso; /* helper settings (isolation = process) */
    char *libpath;            /* the exit library (iso.libpath) */
};

struct pkie_tls_task {
    struct pkie_tls_runtime *rt;
    uint32_t task_id;
    uint32_t mask;      /* phases the exit wants (0 without exit) */
    uint32_t area_size; /* per-session private area */
    uint64_t next_session;
    struct pkicom *z;             /* NULL without exit (the host's copy) */
    struct pkie_exit_helper *h;   /* isolation = process: the helper, NULL once it failed */
    uint64_t max_ref;             /* highest session ref given to the exit */
    uint64_t dead_ref;            /* sessions up to this ref lost their helper */
    unsigned failures;            /* helper failures since a session last ended well */
    long long retry_at;           /* no restart before (ms, monotonic) */
    int end_async;                /* EndSession posted, its answer taken later */
    uint64_t pend_ref;            /* the session of the posted EndSession */
    struct pkie_tls_session *cur; /* the session in its handshake (opaque key's signer) */
    /* Caches of validated exit answers (the same bytes are not parsed again). */
    struct pkie_exit_keycache keycache; /* last PKCS#8 key of CryptData */
    struct pkie_exit_verifier verifier; /* checks CryptData signatures with the last leaf key */
    uint8_t *chain_der;                 /* last chain of GetCertificate */
    size_t chain_der_len;
    uint32_t chain_lens[CFTPKIE_CHAIN_MAX];
    uint32_t chain_count;
    STACK_OF(X509) *chain;
    EVP_PKEY *opq_pub; /* public key of the cached opaque key */
    EVP_PKEY *opq_key; /* opaque key signing through t->cur */
};

struct pkie_tls_session {
    struct pkie_tls_task *t;
    SSL *ssl;
    int fd;
    int timeout_ms;
    int is_server;
    uint64_t ref;
    uint8_t *area;
    uint64_t exit_ref;
    int start_called; /* StartHandshake was called: EndSession is due */
    int alert_called; /* HandshakeAlert delivered: no more handshake phases */
    int failed;       /* a phase failed: the session is refused */
    int done;         /* handshake complete */
    int alert;        /* alert sent or received, -1 none */
    int alert_sent;   /* 1 when we sent it */
    char fail_msg[512];
    struct pkie_exit_profile prof;
    const char *ca_ptrs[CFTPKIE_CA_IDS_MAX];
    const char *dn_ptrs[CFTPKIE_DN_FILTERS_MAX];
    EVP_PKEY *leaf_pub; /* public key of the leaf we send */
    X509 *peer_leaf;    /* the peer's leaf as received (set at CheckCertificate) */
    /* The session's inputs, restored into the task's pkicom before each call
     * (other sessions of the task use the same pkicom in between). */
    char partner_id[CFTPKIE_NAME_CAP];
    char peer_addr[CFTPKIE_NAME_CAP];
    uint32_t peer_port, local_port;
    char sni[CFTPKIE_NAME_CAP];
    pkie_tls_peer_check_fn peer_check; /* host's partner check (NULL: none) */
    void *peer_check_arg;
    int denied; /* the partner check refused the peer: alert 49 */
    uint8_t global[PKIE_TLS_GLOBAL_AREA];
    char version[16];
    char cipher[64];
};

/** ex_data index of the session in its SSL object. */
int pkie_tls_ex_index(void);
/**
 * Call the task's exit for @p phase with the task's pkicom (session fields
 * already filled): in process or through its helper (restarted with a new
 * StartTask when it failed before, with a back-off). Returns CFTPKIE_HANDLED,
 * CFTPKIE_NOT_HANDLED or CFTPKIE_ERROR (an exit error, or the helper failed:
 * error_text says why and a line naming the exit, phase, task, session and
 * cause is logged). Logs each call at trace level.
 */
int pkie_tls_task_call(struct pkie_tls_task *t, uint32_t phase);
/**
 * Post EndSession for the session whose fields are in the task's pkicom when
 * isolation = process and pkie_tls_task_async_end is on: its answer is taken
 * later (before the task's next call, at pkie_tls_task_tick or at EndTask),
 * logged and counted as a call's. 1 when posted (or its failure to post
 * logged), 0 when the caller is to call it (pkie_tls_task_call).
 */
int pkie_tls_task_post_end(struct pkie_tls_task *t);
/** Record a failure of @p phase for @p s and log it (exit, phase, session). */
void pkie_tls_session_fail(struct pkie_tls_session *s, uint32_t phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Does the task's exit want @p phase (and has no alert stopped the handshake)? */
int pkie_tls_wants(const struct pkie_tls_session *s, uint32_t phase);
/** The internal profile view of a session. */
void pkie_tls_profile_view(struct pkie_tls_session *s, struct pkie_pki_profile *p);
/** Install the callbacks of the runtime on @p ctx. */
int pkie_tls_ctx_callbacks(SSL_CTX *ctx);
/** Wait on @p fd for what SSL wants after @p ssl_err; 0 or PKIE_ERR_TIMEOUT/IO. */
int pkie_tls_wait(int fd, int ssl_err, long long deadline_ms);
/** Monotonic clock in ms. */
long long pkie_tls_now_ms(void);

#endif
