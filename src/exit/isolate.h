/*
 * Exit isolation (pki.exit.isolation = process): the exit library runs in a
 * helper process per SSL task. The host keeps its own struct pkicom (the one
 * session.c fills and validate.c checks); for each call it copies that
 * phase's inputs (and its reset outputs) into a struct pkicom in a shared
 * mapping (memfd, MAP_SHARED, created once per helper), publishes a request
 * number in the mapping's call words, waits for the helper's answer number
 * with a deadline, and copies only that phase's outputs back. The host never
 * reads the shared copy twice and never dereferences anything the exit wrote
 * there (its session_area pointer is set by the helper, in the helper's
 * address space).
 *
 * A side that waits first watches the other's number for a short while
 * (bounded, and only where recent calls say it pays: see isolate.c); a side
 * about to sleep says so in the call words and sleeps on the SOCK_SEQPACKET
 * socketpair, and the other side then rings it with one byte. A call between
 * two awake sides thus costs no system call and no process switch; the
 * channel also carries the helper's start report and tells the host, by its
 * end of file, that the helper is gone.
 *
 * The helper is this same executable started again (posix_spawn of
 * /proc/self/exe) with PKIE_EXIT_HELPER in its environment: a constructor of
 * helper.c takes over before main(), so nothing of the monitor (its
 * configuration, PKI base, sockets, other sessions) exists in the helper.
 * See docs/exit-guide.md, "Host safety".
 */
#ifndef PKIE_EXIT_ISOLATE_H
#define PKIE_EXIT_ISOLATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cftpkie.h"

/** Environment variable that puts a started executable in helper mode. */
#define PKIE_EXIT_HELPER_ENV     "PKIE_EXIT_HELPER"
/** Descriptors of the helper: its channel and the shared mapping. */
#define PKIE_EXIT_HELPER_CHAN_FD 3
#define PKIE_EXIT_HELPER_SHM_FD  4

/** The control page at the start of the shared mapping (written by the host
 *  before the helper starts; the helper writes only err). */
struct pkie_exit_helper_ctl {
    uint32_t magic;     /**< PKIE_EXIT_HELPER_MAGIC */
    uint32_t has_user;  /**< 1: switch to uid/gid */
    uint32_t uid, gid;  /**< pki.exit.user */
    int32_t host_pid;   /**< the host (the helper ends when it ends) */
    uint32_t reserved;  /**< 0 */
    char libpath[2048]; /**< the exit library */
    char err[512];      /**< helper: why it could not start */
};
#define PKIE_EXIT_HELPER_MAGIC 0x706b6965u /* "pkie" */

/**
 * The call words, in the control page: the request (written by the host, read
 * by the helper) and the answer (written by the helper: the host reads each
 * field once, as an untrusted value), each on its own cache line. The request
 * and answer numbers are published last (release) and read first (acquire).
 * The sleeps flags and the numbers are ordered by full fences on both sides
 * (store the own word, fence, load the other's), so that a side going to sleep
 * either sees the number it waits for or is rung by the side that sets it.
 */
struct pkie_exit_call_words {
    _Atomic uint32_t req_seq;     /**< host: the request's number (never 0) */
    uint32_t phase;               /**< host: the phase to call */
    uint32_t area_len;            /**< host: bytes of the session area (0: NULL) */
    uint32_t linger_us;           /**< host: how long the helper may stay awake after
                                       its answer, watching for the next request */
    _Atomic uint32_t host_sleeps; /**< host: 1 while it sleeps on the channel */
    uint8_t host_pad[44];
    _Atomic uint32_t ans_seq;       /**< helper: the number of the request answered */
    _Atomic int32_t rc;             /**< helper: what cftpkie returned */
    _Atomic uint32_t helper_sleeps; /**< helper: 1 while it sleeps on the channel */
    uint32_t helper_reserved;
    _Atomic uint64_t ans_ns; /**< helper: CLOCK_MONOTONIC when it answered (the host
                                  times its waits with it, nothing else) */
    uint8_t helper_pad[40];
};
/** The most a helper lingers after an answer, whatever the request says. */
#define PKIE_EXIT_LINGER_MAX_US 1000u

/** Offsets in the shared mapping. */
#define PKIE_EXIT_SHM_CTL_OFF  0u
#define PKIE_EXIT_SHM_CALL_OFF 3072u
#define PKIE_EXIT_SHM_COM_OFF  4096u
#define PKIE_EXIT_SHM_AREA_OFF                                                                     \
    (((PKIE_EXIT_SHM_COM_OFF + sizeof(struct pkicom)) + 4095u) & ~(size_t)4095u)
#define PKIE_EXIT_SHM_SIZE (PKIE_EXIT_SHM_AREA_OFF + CFTPKIE_SESSION_AREA_MAX)

/** The helper's start report on the channel: seq 0 once it has loaded the
 *  library, PKIE_EXIT_HELPER_FAILED when it could not (ctl->err says why).
 *  After it, every message on the channel is a ring (its content unused). */
struct pkie_exit_helper_msg {
    uint32_t seq;
    uint32_t reserved[3];
};
#define PKIE_EXIT_HELPER_FAILED 0xffffffffu

_Static_assert(sizeof(struct pkie_exit_helper_ctl) <= PKIE_EXIT_SHM_CALL_OFF,
               "the control block ends before the call words");
_Static_assert(PKIE_EXIT_SHM_CALL_OFF + sizeof(struct pkie_exit_call_words) <=
                   PKIE_EXIT_SHM_COM_OFF,
               "the call words fit in the control page");
_Static_assert(offsetof(struct pkie_exit_call_words, ans_seq) == 64,
               "request and answer on their own cache lines");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
               "lock-free atomics (shared between processes)");

/** Serve calls in a helper process (helper.c). Never returns. */
void pkie_exit_helper_main(void) __attribute__((noreturn));
/** Install the helper's seccomp filter (sandbox.c): 0 or -1 with errno. */
int pkie_exit_sandbox(void);

/** Host side of one helper process (isolate.c). */
struct pkie_exit_helper;

/** Settings of the helpers of a runtime. */
struct pkie_exit_iso {
    const char *libpath; /**< the exit library */
    const char *name;    /**< its name for log lines */
    int timeout_ms;      /**< deadline of one call */
    int has_user;        /**< run as uid/gid */
    uid_t uid;
    gid_t gid;
};

/**
 * Start a helper for @p iso: spawn it, wait until it has loaded the library.
 * 0, or PKIE_ERR_EXIT_LOAD with the helper's reason.
 */
int pkie_exit_helper_start(const struct pkie_exit_iso *iso, struct pkie_exit_helper **out);
/**
 * Call the exit in the helper for @p phase with the host's @p z (its header
 * set by the caller): copy the phase's fields in, wait at most the deadline,
 * copy its outputs back. @p area (@p area_len bytes, may be NULL) is the
 * session area, copied in and back. Returns the exit's return code (>= 0 as
 * cftpkie returned it), or -1 when the helper failed (timed out, crashed,
 * exited, closed its channel, or the process is stopping): the helper is then
 * gone and @p cause (capacity @p cap) says why.
 */
int pkie_exit_helper_call(struct pkie_exit_helper *h, struct pkicom *z, uint32_t phase,
                          uint8_t *area, uint32_t area_len, char *cause, size_t cap);
/** 1 while the helper runs. */
int pkie_exit_helper_alive(const struct pkie_exit_helper *h);
/** Zero the task area of the helper's pkicom (before a new StartTask). */
void pkie_exit_helper_reset_task(struct pkie_exit_helper *h);
/** End the helper (close its channel, wait briefly, kill) and free. NULL ok. */
void pkie_exit_helper_stop(struct pkie_exit_helper *h);
/** What a helper's calls cost (logged at debug level when it stops). */
struct pkie_exit_call_stats {
    unsigned long calls;        /**< calls answered */
    unsigned long watched;      /**< answers seen while the host watched (no sleep) */
    unsigned long napped;       /**< calls for which the host slept until shortly before
                                     the answer expected, then watched */
    unsigned long slept;        /**< calls for which the host slept on the channel */
    unsigned long rings;        /**< rings sent to a sleeping helper */
    unsigned long long wait_ns; /**< request to answer, over the answered calls */
};
/** The counters of @p h so far. */
void pkie_exit_helper_stats(const struct pkie_exit_helper *h, struct pkie_exit_call_stats *out);
/** Spawn attempts of every helper so far (tests). */
unsigned long pkie_exit_helper_spawns(void);

#endif
