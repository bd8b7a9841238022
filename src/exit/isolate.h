/*
 * Exit isolation (pki.exit.isolation = process): the exit library runs in a
 * helper process per SSL task. The host keeps its own struct pkicom (the one
 * session.c fills and validate.c checks); for each call it copies that
 * phase's inputs (and its reset outputs) into a struct pkicom in a shared
 * mapping (memfd, MAP_SHARED), wakes the helper through a SOCK_SEQPACKET
 * socketpair, waits for its answer with a deadline, and copies only that
 * phase's outputs back. The host never reads the shared copy twice and never
 * dereferences anything the exit wrote there (its session_area pointer is set
 * by the helper, in the helper's address space).
 *
 * The helper is this same executable started again (posix_spawn of
 * /proc/self/exe) with PKIE_EXIT_HELPER in its environment: a constructor of
 * helper.c takes over before main(), so nothing of the monitor (its
 * configuration, PKI base, sockets, other sessions) exists in the helper.
 * See docs/exit-guide.md, "Host safety".
 */
#ifndef PKIE_EXIT_ISOLATE_H
#define PKIE_EXIT_ISOLATE_H

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

/** Offsets in the shared mapping. */
#define PKIE_EXIT_SHM_CTL_OFF 0u
#define PKIE_EXIT_SHM_COM_OFF 4096u
#define PKIE_EXIT_SHM_AREA_OFF                                                                     \
    (((PKIE_EXIT_SHM_COM_OFF + sizeof(struct pkicom)) + 4095u) & ~(size_t)4095u)
#define PKIE_EXIT_SHM_SIZE (PKIE_EXIT_SHM_AREA_OFF + CFTPKIE_SESSION_AREA_MAX)

/** A request (host -> helper) and its answer (helper -> host). */
struct pkie_exit_helper_msg {
    uint32_t seq;      /**< request number; the answer repeats it */
    uint32_t phase;    /**< request: the phase */
    uint32_t area_len; /**< request: bytes of the session area (0: NULL) */
    int32_t rc;        /**< answer: what cftpkie returned */
};
/** Answer seq of a helper that could not start (ctl->err says why). */
#define PKIE_EXIT_HELPER_FAILED 0xffffffffu

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
/**
 * Post a call whose answer the caller does not wait for (EndSession): copy
 * the phase's fields and @p area in and wake the helper. The next call, post
 * or stop comes only after pkie_exit_helper_settle() has taken the answer.
 * 0, or -1 when the helper failed (gone, @p cause says why).
 */
int pkie_exit_helper_post(struct pkie_exit_helper *h, const struct pkicom *z, uint32_t phase,
                          const uint8_t *area, uint32_t area_len, char *cause, size_t cap);
/** 1 while a posted call's answer is not taken. */
int pkie_exit_helper_pending(const struct pkie_exit_helper *h);
/**
 * Take the answer of the posted call: wait for it until the deadline that
 * began when it was posted, or with @p nowait only look (an answer not there
 * yet, within the deadline, is left for later). 0 with *rc (as
 * pkie_exit_helper_call returns it) and the exit's error_text in @p text
 * (@p tcap bytes, as the exit left it); 1 when nothing was taken; -1 when the
 * helper failed (it is then gone, @p cause says why).
 */
int pkie_exit_helper_settle(struct pkie_exit_helper *h, int nowait, int *rc, char *text,
                            size_t tcap, char *cause, size_t cap);
/** 1 while the helper runs. */
int pkie_exit_helper_alive(const struct pkie_exit_helper *h);
/** Zero the task area of the helper's pkicom (before a new StartTask). */
void pkie_exit_helper_reset_task(struct pkie_exit_helper *h);
/** End the helper (close its channel, wait briefly, kill) and free. NULL ok. */
void pkie_exit_helper_stop(struct pkie_exit_helper *h);
/** Spawn attempts of every helper so far (tests). */
unsigned long pkie_exit_helper_spawns(void);

#endif
