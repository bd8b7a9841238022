/*
 * bench_roundtrip: the floor under an isolated exit call on this machine.
 *
 * Two processes pass a 16-byte message back and forth N times, with nothing
 * else to do, and the parent prints the microseconds per round trip. Three
 * ways to wake the other side:
 *   socket  a SOCK_SEQPACKET socketpair, send / poll / recv on the caller's
 *           side, recv / send on the other: what src/exit/isolate.c does
 *   eventfd two eventfds, write / read
 *   futex   a word in a shared mapping, FUTEX_WAKE / FUTEX_WAIT (not a
 *           descriptor: for comparison)
 * and three placements: "one" (both pinned to CPU 0), "two" (CPU 0 and CPU
 * 1), "free" (the scheduler places them).
 *
 * -t: the callee is a thread of the caller's process instead (the same
 * address space: what a switch between two processes costs beyond a switch
 * between two threads).
 * -w KB: after each wake, each side reads KB of its own memory (one word per
 * 64-byte line), as an exit call and the host's work around it touch code
 * and data; kind "none" does both sides' reads in the caller alone, without
 * any wake (isolation = none's analogue: the round trip's cost is the
 * difference).
 *
 * -b US: the callee also computes for US microseconds per call (a long exit
 * call: the caller's CPU idles meanwhile).
 *
 * Usage: bench_roundtrip [-t] [-b US] [-w KB] socket|eventfd|futex|none one|two|free [N]
 * Prints: ROUNDTRIP <kind> <placement> <us per round trip> [thread] [ws=KB]
 */

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum kind { K_SOCKET, K_EVENTFD, K_FUTEX, K_NONE };

struct chan {
    enum kind kind;
    int sv[2];         /* socket: [0] caller, [1] callee */
    int ev[2];         /* eventfd: [0] to the callee, [1] back */
    atomic_uint *word; /* futex: odd = a call is pending, even = answered */
    int place;         /* 0 one, 1 two, 2 free */
};

/* -w: the working set each side reads after a wake */
static size_t ws_bytes;
static volatile uint8_t *ws_caller, *ws_callee;

/* -b: microseconds the callee computes per call (the caller, with "none") */
static long busy_us;

static void busy(void)
{
    if (busy_us <= 0)
        return;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < busy_us);
}

static void touch(volatile uint8_t *b)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < ws_bytes; i += 64)
        sum += b[i];
    if (sum == 0xffffffffu) /* never: keeps the reads */
        abort();
}

/* The work of one call: -b's computing, then -w's reads of the callee's memory. */
static void callee_work(void)
{
    busy();
    touch(ws_callee);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    if (sched_setaffinity(0, sizeof(s), &s) != 0) {
        fprintf(stderr, "bench_roundtrip: CPU %d: %s\n", cpu, strerror(errno));
        exit(1);
    }
}

static long futex(atomic_uint *w, int op, unsigned v)
{
    return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

static void wait_word(atomic_uint *w, unsigned want, unsigned seen)
{
    while (atomic_load(w) != want)
        (void)futex(w, FUTEX_WAIT, seen);
}

/* The callee: answer every call until the caller goes away. */
static void callee(struct chan *c)
{
    char m[16];
    uint64_t v;
    for (unsigned i = 1;; i += 2) {
        switch (c->kind) {
        case K_SOCKET:
            if (recv(c->sv[1], m, sizeof(m), 0) != (ssize_t)sizeof(m))
                _exit(0);
            callee_work();
            if (send(c->sv[1], m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
                _exit(0);
            break;
        case K_EVENTFD:
            if (read(c->ev[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
                _exit(0);
            callee_work();
            if (write(c->ev[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
                _exit(0);
            break;
        case K_NONE:
            return;
        case K_FUTEX:
            wait_word(c->word, i, i - 1);
            callee_work();
            atomic_store(c->word, i + 1);
            (void)futex(c->word, FUTEX_WAKE, 1);
            break;
        }
    }
}

/* One call from the caller's side; 0 or -1. */
static int call(struct chan *c, unsigned i)
{
    char m[16] = {0};
    uint64_t v = 1;
    touch(ws_caller); /* the caller's own work between two calls */
    switch (c->kind) {
    case K_NONE:
        callee_work(); /* done by the caller itself */
        return 0;
    case K_SOCKET: {
        if (send(c->sv[0], m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
            return -1;
        struct pollfd p = {.fd = c->sv[0], .events = POLLIN};
        if (poll(&p, 1, 10000) != 1)
            return -1;
        return recv(c->sv[0], m, sizeof(m), MSG_DONTWAIT) == (ssize_t)sizeof(m) ? 0 : -1;
    }
    case K_EVENTFD:
        if (write(c->ev[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
            return -1;
        return read(c->ev[1], &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : -1;
    case K_FUTEX:
        atomic_store(c->word, i);
        (void)futex(c->word, FUTEX_WAKE, 1);
        wait_word(c->word, i + 1, i);
        return 0;
    }
    return -1;
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: bench_roundtrip [-t] [-b US] [-w KB] socket|eventfd|futex|none one|two|free [N]\n");
    return 2;
}

/* A decimal in [lo, hi] into *out: 0, or -1. */
static int parse_long(const char *str, long lo, long hi, long *out)
{
    char *e = NULL;
    errno = 0;
    long v = strtol(str, &e, 10);
    if (e == str || *e != '\0' || errno != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void *callee_thread(void *arg)
{
    struct chan *c = arg;
    if (c->place != 2)
        pin(c->place == 0 ? 0 : 1);
    callee(c);
    return NULL;
}

int main(int argc, char **argv)
{
    int thread = 0;
    long ws_kb = 0;
    while (argc > 1 && argv[1][0] == '-') {
        if (strcmp(argv[1], "-t") == 0) {
            thread = 1;
            argv++;
            argc--;
        } else if ((strcmp(argv[1], "-b") == 0 || strcmp(argv[1], "-w") == 0) && argc > 2) {
            int b = argv[1][1] == 'b';
            if (parse_long(argv[2], 0, b ? 1000000 : 65536, b ? &busy_us : &ws_kb) != 0)
                return usage();
            argv += 2;
            argc -= 2;
        } else {
            return usage();
        }
    }
    if (argc < 3 || argc > 4)
        return usage();
    struct chan c = {.sv = {-1, -1}, .ev = {-1, -1}};
    if (strcmp(argv[1], "socket") == 0)
        c.kind = K_SOCKET;
    else if (strcmp(argv[1], "eventfd") == 0)
        c.kind = K_EVENTFD;
    else if (strcmp(argv[1], "futex") == 0)
        c.kind = K_FUTEX;
    else if (strcmp(argv[1], "none") == 0)
        c.kind = K_NONE;
    else
        return usage();
    int place; /* 0 one, 1 two, 2 free */
    if (strcmp(argv[2], "one") == 0)
        place = 0;
    else if (strcmp(argv[2], "two") == 0)
        place = 1;
    else if (strcmp(argv[2], "free") == 0)
        place = 2;
    else
        return usage();
    long n = 20000;
    if (argc == 4 && parse_long(argv[3], 1, 10000000, &n) != 0)
        return usage();

    /* The CPUs a placement pins to must be allowed: a callee that cannot pin
     * would leave a futex caller waiting for ever. */
    cpu_set_t allowed;
    if (place != 2 && (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 ||
                       !CPU_ISSET(0, &allowed) || (place == 1 && !CPU_ISSET(1, &allowed)))) {
        fprintf(stderr, "bench_roundtrip: placement %s needs CPU 0%s\n", argv[2],
                place == 1 ? " and CPU 1" : "");
        return 1;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c.sv) != 0 ||
        (c.ev[0] = eventfd(0, EFD_CLOEXEC)) < 0 || (c.ev[1] = eventfd(0, EFD_CLOEXEC)) < 0) {
        perror("bench_roundtrip");
        return 1;
    }
    void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        perror("bench_roundtrip: mmap");
        return 1;
    }
    c.word = map;
    c.place = place;
    ws_bytes = (size_t)ws_kb * 1024;
    /* each side's own memory (private after fork), touched once here */
    static uint8_t empty[64];
    ws_caller = ws_bytes > 0 ? calloc(1, ws_bytes) : empty;
    ws_callee = ws_bytes > 0 ? calloc(1, ws_bytes) : empty;
    if (ws_caller == NULL || ws_callee == NULL) {
        perror("bench_roundtrip: working set");
        return 1;
    }
    for (size_t i = 0; i < ws_bytes; i += 64)
        ws_caller[i] = ws_callee[i] = 1;
    pid_t pid = 0;
    pthread_t th;
    if (thread && c.kind != K_NONE) {
        if (pthread_create(&th, NULL, callee_thread, &c) != 0) {
            perror("bench_roundtrip: pthread_create");
            return 1;
        }
    } else if (c.kind != K_NONE && (pid = fork()) < 0) {
        perror("bench_roundtrip: fork");
        return 1;
    }
    if (!thread && c.kind != K_NONE && pid == 0) {
        close(c.sv[0]);
        if (place != 2)
            pin(place == 0 ? 0 : 1);
        callee(&c);
    }
    if (!thread)
        close(c.sv[1]);
    if (place != 2)
        pin(0);
    int rc = 0;
    double t0 = now_us();
    for (long i = 0; i < n && rc == 0; i++)
        rc = call(&c, (unsigned)(2 * i + 1));
    double t = now_us() - t0;
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (rc != 0) {
        fprintf(stderr, "bench_roundtrip: a call failed: %s\n", strerror(errno));
        return 1;
    }
    printf("ROUNDTRIP %s %s %.2f%s", argv[1], argv[2], t / (double)n, thread ? " thread" : "");
    if (ws_kb > 0)
        printf(" ws=%ld", ws_kb);
    if (busy_us > 0)
        printf(" busy=%ld", busy_us);
    printf("\n");
    fflush(stdout);
    _exit(0); /* a callee thread may still wait */
}
