/*
 * The seccomp filter of the exit helper: a deny-list (see docs/exit-guide.md,
 * "Host safety", for why not an allow-list: an exit may use OpenSSL, any
 * PKCS#11 module, threads, files and the network - the CMP exit talks HTTP
 * from a background thread - and the set of system calls those make is not
 * ours to enumerate). Denied with EPERM: running other programs, new
 * processes (threads are allowed), namespaces, tracing or reading other
 * processes, signals to other processes, changing credentials, kernel
 * modules, mounts, the clock, keyrings, BPF, perf, userfaultfd, io_uring.
 * Built by hand (prctl + SECCOMP_SET_MODE_FILTER): no libseccomp.
 */

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "isolate.h"

#if defined(__x86_64__)
#define SB_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SB_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SB_ARCH

#define LD_NR      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG0    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define LD_ARG0_HI BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 4)
#define RET(v)     BPF_STMT(BPF_RET | BPF_K, (v))
#define ALLOW      RET(SECCOMP_RET_ALLOW)
#define DENY       RET(SECCOMP_RET_ERRNO | EPERM)
/* if nr == n: deny (the next instruction), else skip it */
#define DENY_NR(n) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (n), 0, 1), DENY

static const int denied[] = {
    SYS_execve,
    SYS_execveat,
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_kexec_load,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_swapon,
    SYS_swapoff,
    SYS_reboot,
    SYS_setns,
    SYS_unshare,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_userfaultfd,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_clock_adjtime,
    SYS_adjtimex,
    SYS_acct,
    SYS_quotactl,
    SYS_personality,
    SYS_open_by_handle_at,
    SYS_name_to_handle_at,
    SYS_syslog,
    SYS_kcmp,
    SYS_vhangup,
    SYS_setuid,
    SYS_setgid,
    SYS_setreuid,
    SYS_setregid,
    SYS_setresuid,
    SYS_setresgid,
    SYS_setgroups,
    SYS_setfsuid,
    SYS_setfsgid,
    SYS_tkill,
    SYS_rt_sigqueueinfo,
    SYS_rt_tgsigqueueinfo,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pidfd_getfd,
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_fsopen,
    SYS_fsmount,
    SYS_fspick,
    SYS_move_mount,
    SYS_open_tree,
    SYS_kexec_file_load,
#ifdef SYS_fork
    SYS_fork,
    SYS_vfork,
#endif
#ifdef SYS_iopl
    SYS_iopl,
    SYS_ioperm,
#endif
};

int pkie_exit_sandbox(void)
{
    enum { NDENY = sizeof(denied) / sizeof(denied[0]) };
    struct sock_filter f[8 + 2 * NDENY + 16];
    size_t i = 0;
    const unsigned self = (unsigned)getpid();
    /* the architecture: any other (e.g. 32-bit calls) kills the process */
    f[i++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SB_ARCH, 1, 0);
    f[i++] = (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS);
    f[i++] = (struct sock_filter)LD_NR;
#if defined(__x86_64__)
    /* x32 system calls */
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    f[i++] = (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS);
#endif
    for (size_t k = 0; k < NDENY; k++) {
        struct sock_filter d[] = {DENY_NR((unsigned)denied[k])};
        f[i++] = d[0];
        f[i++] = d[1];
    }
    /* clone3: ENOSYS, so that libc falls back to clone, whose flags are seen */
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    f[i++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | ENOSYS);
    /* clone: threads only (CLONE_THREAD), no new namespace */
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4);
    f[i++] = (struct sock_filter)LD_ARG0;
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0);
    f[i++] = (struct sock_filter)DENY;
    f[i++] = (struct sock_filter)ALLOW;
    /* kill / tgkill: this process only (abort() raises in itself) */
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kill, 1, 0);
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_tgkill, 0, 3);
    f[i++] = (struct sock_filter)LD_ARG0;
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, 1, 0);
    f[i++] = (struct sock_filter)DENY;
    f[i++] = (struct sock_filter)ALLOW;
    struct sock_fprog prog = {.len = (unsigned short)i, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return -1;
    return 0;
}

#else
/* No filter for this architecture: the helper still runs in its own process
 * without the monitor's descriptors. */
int pkie_exit_sandbox(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
#endif
