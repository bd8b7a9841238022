/*
 * pkie TLS runtime (src/exit): mutually authenticated TLS 1.2 / 1.3 sessions
 * over OpenSSL 3 whose every PKI decision goes through the PKI exit
 * (include/cftpkie.h) and, for what the exit does not handle, the internal PKI
 * base (include/pkie/pki.h).
 *
 * Objects and their lifetimes:
 *   struct pkie_tls_conf      the pki.* and tls.* settings of a monitor
 *   struct pkie_tls_runtime   process-wide: the exit library loaded once
 *                             (dlopen RTLD_NOW|RTLD_LOCAL), the PKI base open,
 *                             the OpenSSL contexts. Thread-safe.
 *   struct pkie_tls_task      one SSL task = one worker thread: StartTask at
 *                             pkie_tls_task_start, EndTask at pkie_tls_task_end.
 *                             Used by one thread at a time.
 *   struct pkie_tls_session   one connection of a task: StartHandshake ..
 *                             HandshakeDone in pkie_tls_session_handshake (or
 *                             pkie_tls_session_begin + _step, non-blocking:
 *                             the sessions of a task may interleave),
 *                             EndSession in pkie_tls_session_end (always).
 *
 * The phases called and their order are described in docs/exit-guide.md.
 */
#ifndef PKIE_TLS_H
#define PKIE_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "pkie/pki.h"

#ifdef __cplusplus
extern "C" {
#endif

/** pki.type values. */
enum pkie_tls_pki_type {
    PKIE_TLS_PKI_INTERNAL = 0, /**< every phase done by the internal PKI base (default) */
    PKIE_TLS_PKI_EXIT = 1,     /**< the exit of pki.exit.libpath is called first */
};

/** TLS protocol versions for tls.min_version / tls.max_version. */
#define PKIE_TLS_V1_2 0x0303
#define PKIE_TLS_V1_3 0x0304

/**
 * The pki.* and tls.* settings of a monitor. Zero-initialise, then apply keys
 * with pkie_tls_conf_apply; free the strings with pkie_tls_conf_free.
 * Keys (values as in a monitor configuration file):
 *   pki.type           internal | exit                         (default internal)
 *   pki.exit.libpath   path of the exit shared library         (required for exit)
 *   pki.exit.conf      string handed to the exit at StartTask  (default "")
 *   pki.base           path of the internal PKI base (SQLite)  (optional)
 *   pki.password       file whose first line is the PKI password (optional)
 *   tls.min_version    TLS1.2 | TLS1.3                         (default TLS1.2)
 *   tls.max_version    TLS1.2 | TLS1.3                         (default TLS1.3)
 *   tls.ciphers        OpenSSL cipher list for TLS 1.2 (default: ECDHE with
 *                      AES-GCM / ChaCha20; key transport suites are never
 *                      offered since the private key only signs)
 *   tls.ciphersuites   OpenSSL TLS 1.3 ciphersuites (default OpenSSL's)
 *   pki.exit.isolation process | none: the exit runs in a helper process per
 *                      SSL task (default process) or in the monitor itself
 *   pki.exit.timeout   deadline of one exit call, in seconds (default 10;
 *                      1..3600; with isolation = none it only bounds stopping)
 *   pki.exit.user      user the helper process runs as (default: unchanged;
 *                      needs the monitor to run as root)
 */
struct pkie_tls_conf {
    int pki_type;            /**< enum pkie_tls_pki_type */
    char *exit_libpath;      /**< pki.exit.libpath (malloc'ed or NULL) */
    char *exit_conf;         /**< pki.exit.conf (malloc'ed or NULL = "") */
    char *pki_base;          /**< pki.base (malloc'ed or NULL = no base) */
    char *pki_password_file; /**< pki.password (malloc'ed or NULL) */
    int min_version;         /**< PKIE_TLS_V1_2 / PKIE_TLS_V1_3; 0 = TLS 1.2 */
    int max_version;         /**< PKIE_TLS_V1_2 / PKIE_TLS_V1_3; 0 = TLS 1.3 */
    char *ciphers;           /**< tls.ciphers (malloc'ed or NULL = default) */
    char *ciphersuites;      /**< tls.ciphersuites (malloc'ed or NULL = default) */
    int exit_isolation;      /**< enum pkie_tls_exit_isolation (0 = process) */
    int exit_timeout_s;      /**< pki.exit.timeout, seconds; 0 = 10 */
    char *exit_user;         /**< pki.exit.user (malloc'ed or NULL = unchanged) */
};

/** pki.exit.isolation values. */
enum pkie_tls_exit_isolation {
    PKIE_TLS_EXIT_PROCESS = 0, /**< the exit runs in a helper process per SSL task (default) */
    PKIE_TLS_EXIT_NONE = 1,    /**< the exit runs in the monitor's own task thread */
};

/**
 * Apply one configuration key (pki.* or tls.*) to @p c. Returns 0,
 * PKIE_ERR_CONF_UNKNOWN_KEY for a key that is not one of the above (so that a
 * monitor's configuration reader can route keys to it with a
 * PKIE_CONF_CALLBACK entry "pki.*", "pki.exit.*", "tls.*"), or
 * PKIE_ERR_CONF_VALUE for a bad value. A key given again replaces the value.
 */
int pkie_tls_conf_apply(struct pkie_tls_conf *c, const char *key, const char *value);
/** Free the strings of @p c and zero it. NULL is accepted. */
void pkie_tls_conf_free(struct pkie_tls_conf *c);

/**
 * The process is stopping: an exit call in progress in a helper process
 * returns at once (the helper is killed, the session fails closed), and later
 * calls (EndSession, EndTask) get at most 2 s each. Async-signal-safe: call it
 * from a SIGTERM handler. With pki.exit.isolation = none a call in progress
 * cannot be interrupted; pkie_tls_stopping() tells the caller to stop waiting.
 */
void pkie_tls_stop(void);
/** 1 once pkie_tls_stop() was called. */
int pkie_tls_stopping(void);

/** Process-wide runtime: exit loaded once, PKI base open, OpenSSL contexts. */
struct pkie_tls_runtime;

/**
 * Build the runtime from @p c: open the PKI base (pki.base, with the password
 * of pki.password), and with pki.type = exit load pki.exit.libpath once and
 * check it (a missing file, a missing `cftpkie` symbol, or an ABI version the
 * host does not know — found by a probe StartTask/EndTask with task id 0 —
 * fail with PKIE_ERR_EXIT_LOAD / PKIE_ERR_EXIT_SYMBOL / PKIE_ERR_EXIT_ABI and a
 * message naming the library). Call at startup, before serving. If SIGPIPE has
 * its default action, it is set to ignored (a peer closing early must not end
 * the process).
 */
int pkie_tls_runtime_open(const struct pkie_tls_conf *c, struct pkie_tls_runtime **out);
/** Release the runtime (after every task ended). The exit library stays mapped
 *  until the process exits. NULL is accepted. */
void pkie_tls_runtime_close(struct pkie_tls_runtime *rt);
/** Name of the exit for log lines ("internal" when pki.type = internal). */
const char *pkie_tls_runtime_exit_name(const struct pkie_tls_runtime *rt);
/** The internal PKI base's snapshot the runtime opened (borrowed, valid until
 *  pkie_tls_runtime_close), or NULL without pki.base: for a caller that checks
 *  the certificates it will present before it serves with the runtime. */
struct pkie_pki *pkie_tls_runtime_pki(struct pkie_tls_runtime *rt);

/** One SSL task (a worker thread). */
struct pkie_tls_task;

/**
 * StartTask for task @p task_id (chosen by the caller, unique while running).
 * The exit answers the mask of later phases it wants, its task reference and
 * the size of its per-session private area. An exit error or an invalid answer
 * fails with PKIE_ERR_EXIT_PHASE (EndTask is still called, and *out is NULL).
 */
int pkie_tls_task_start(struct pkie_tls_runtime *rt, uint32_t task_id, struct pkie_tls_task **out);
/** EndTask (always, once per started task), then free. NULL is accepted. */
void pkie_tls_task_end(struct pkie_tls_task *t);
/**
 * With isolation = process, let pkie_tls_session_end post EndSession to the
 * exit's helper instead of waiting for its answer (nothing in the session
 * depends on it): the task goes on while the exit runs. The answer is taken
 * before the task's next exit call, or by pkie_tls_task_tick, which a caller
 * that turns this on must call at least every 100 ms while the task idles, so
 * that an exit hanging in EndSession is still killed at its deadline. An
 * error or a failed helper is logged as a waited-for call's, naming the
 * session it ended. Off by default; no effect with isolation = none.
 */
void pkie_tls_task_async_end(struct pkie_tls_task *t, int on);
/** Take the answer of a posted EndSession if it is there or overdue (does not
 *  wait otherwise). NULL is accepted. */
void pkie_tls_task_tick(struct pkie_tls_task *t);

/**
 * The host's check of the peer, called on the task's thread once the peer's
 * chain is accepted (by the exit's CheckCertificate or the internal base) and
 * before HandshakeDone: 0 accepts; non-zero refuses the peer, with a reason
 * in @p why (capacity @p cap). A server refuses with alert 49
 * (access_denied) in the handshake, whatever the exit answered: in TLS 1.2
 * at once, in TLS 1.3 after the client's Finished (where the server would send
 * its first post-handshake message); HandshakeDone is not called. A client
 * refuses with alert 42 (bad_certificate).
 */
typedef int (*pkie_tls_peer_check_fn)(void *arg, X509 *leaf, char *why, size_t cap);

/** Status values of pkie_tls_session_step (never negative: errors are). */
enum pkie_tls_step {
    PKIE_TLS_STEP_DONE = 0,       /**< handshake complete, HandshakeDone called */
    PKIE_TLS_STEP_WANT_READ = 1,  /**< call again once the socket is readable */
    PKIE_TLS_STEP_WANT_WRITE = 2, /**< call again once the socket is writable */
};

/** Per connection: what StartHandshake receives. Strings are copied. */
struct pkie_tls_session_params {
    int is_server;                     /**< 1: accept (server), 0: connect (client) */
    const char *partner_id;            /**< partner name ("" or NULL if not known yet) */
    const char *peer_addr;             /**< peer IP address as text (may be NULL) */
    uint16_t peer_port;                /**< peer TCP port */
    uint16_t local_port;               /**< local TCP port */
    const char *sni;                   /**< client: server name to send (NULL: none);
                                            server: ignored */
    struct pkie_pki_profile profile;   /**< cert id, CA ids, verify depth, DN filters;
                                            the exit may change them at StartHandshake
                                            (peer_role is ignored: the runtime sets it
                                            from is_server) */
    pkie_tls_peer_check_fn peer_check; /**< partner check (NULL: none) */
    void *peer_check_arg;              /**< its argument */
};

/** One connection of a task. */
struct pkie_tls_session;

/**
 * Run StartHandshake .. HandshakeDone on the connected socket @p fd (blocking
 * mode is not required: the runtime polls with @p timeout_ms for the whole
 * handshake; <= 0 means 30 s). Returns 0 on success. On failure returns a
 * negative pkie_err (PKIE_ERR_EXIT_HANDSHAKE, PKIE_ERR_EXIT_PHASE,
 * PKIE_ERR_EXIT_REFUSED, PKIE_ERR_TIMEOUT, ...) whose message tells the alert
 * sent or received; *out is still set (unless @p t or @p out is NULL) and must
 * be given to pkie_tls_session_end, which calls EndSession. The socket @p fd
 * stays owned by the caller (close it after pkie_tls_session_end).
 */
int pkie_tls_session_handshake(struct pkie_tls_task *t, int fd,
                               const struct pkie_tls_session_params *p, int timeout_ms,
                               struct pkie_tls_session **out);
/**
 * The non-blocking form of pkie_tls_session_handshake, for an event loop
 * driving many sessions of one task: begin makes @p fd non-blocking and calls
 * StartHandshake (0 or a pkie_err; *out is set as by
 * pkie_tls_session_handshake and always goes to pkie_tls_session_end); each
 * step then advances the handshake as far as the socket allows and returns a
 * enum pkie_tls_step value (wait for the socket, or done) or a negative
 * pkie_err (refused or failed; its message tells the alert). Exit calls run
 * inside step, on the caller's thread: before each one the session's inputs
 * are restored into the task's pkicom and the phase's outputs reset, so the
 * sessions of a task may interleave. Deadlines are the caller's.
 */
int pkie_tls_session_begin(struct pkie_tls_task *t, int fd, const struct pkie_tls_session_params *p,
                           int timeout_ms, struct pkie_tls_session **out);
/** See pkie_tls_session_begin. */
int pkie_tls_session_step(struct pkie_tls_session *s);
/** The peer's leaf certificate as received (borrowed), also when the
 *  handshake failed after it arrived; NULL when none arrived. */
X509 *pkie_tls_seen_cert(struct pkie_tls_session *s);
/** Was the peer refused by the partner check (pkie_tls_peer_check_fn)? */
int pkie_tls_denied(struct pkie_tls_session *s);

/** Read up to @p len bytes: > 0 bytes read, 0 clean close by the peer
 *  (close_notify), < 0 a pkie_err. Waits at most the session's timeout. */
ssize_t pkie_tls_read(struct pkie_tls_session *s, void *buf, size_t len);
/** Write @p len bytes (all of them): @p len, or < 0 a pkie_err. */
ssize_t pkie_tls_write(struct pkie_tls_session *s, const void *buf, size_t len);
/** Send close_notify (and wait briefly for the peer's). 0 or a pkie_err. */
int pkie_tls_shutdown(struct pkie_tls_session *s);
/** Send close_notify without waiting for the peer's (a side that has had its
 *  last answer and closes the socket next). 0 or a pkie_err. */
int pkie_tls_close_notify(struct pkie_tls_session *s);
/** Change the timeout of later reads and writes (ms, <= 0: 30 s). */
void pkie_tls_set_timeout(struct pkie_tls_session *s, int timeout_ms);
/** Bulk writes: after the handshake, gather the records of each
 *  pkie_tls_write in a buffer of @p bytes (>= 16 KiB) and send them in few
 *  large socket writes; every pkie_tls_write still returns only once all its
 *  bytes are handed to the socket. 0 or a pkie_err. */
int pkie_tls_coalesce_writes(struct pkie_tls_session *s, size_t bytes);

/** The peer's leaf certificate (borrowed; NULL before HandshakeDone). */
X509 *pkie_tls_peer_cert(struct pkie_tls_session *s);
/** Size of the global area. */
#define PKIE_TLS_GLOBAL_AREA 64
/** The 64-byte global area the exit filled at HandshakeDone (zeros if not). */
const uint8_t *pkie_tls_global_area(struct pkie_tls_session *s);
/** Negotiated version, e.g. "TLSv1.3" ("" before the handshake). */
const char *pkie_tls_version(struct pkie_tls_session *s);
/** Negotiated cipher, OpenSSL's name ("" before the handshake). */
const char *pkie_tls_cipher(struct pkie_tls_session *s);
/** TLS alert code sent or received during the handshake, -1 when none. */
int pkie_tls_alert(struct pkie_tls_session *s);
/** 1 when the alert of pkie_tls_alert was sent by us, 0 when received (or none). */
int pkie_tls_alert_sent(struct pkie_tls_session *s);
/** EndSession (always, once per session returned by handshake), then free the
 *  session (SSL object; the socket is not closed). NULL is accepted. */
void pkie_tls_session_end(struct pkie_tls_session *s);

#ifdef __cplusplus
}
#endif
#endif
