/*
 * xfer_hostile: hostile TCP peers for the receiver's e2e tests (not TLS).
 *   xfer_hostile PORT SRC_ADDR KIND N HOLD_S
 * opens N connections to 127.0.0.1:PORT from SRC_ADDR (any 127.x.y.z: the
 * loopback of the test's network namespace) and keeps them HOLD_S seconds:
 *   idle     connect and send nothing
 *   trickle  send the first bytes of a TLS ClientHello, one byte a second
 *   flood    connect as fast as possible, send nothing
 * Prints "ready N" once every connect returned, then at the end one line
 *   KIND opened=O closed=C first_close_ms=F last_close_ms=L
 * where closed counts the connections the receiver closed (EOF or reset)
 * within HOLD_S, with the times of the first and last close after "ready".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a TLS 1.2 record header and ClientHello start: what a slow client sends */
static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
                                      0x03, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
                                      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: xfer_hostile PORT SRC_ADDR idle|trickle|flood N HOLD_S\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *kind = argv[3];
    int n = atoi(argv[4]), hold = atoi(argv[5]);
    int trickle = strcmp(kind, "trickle") == 0;
    if (n <= 0 || n > 5000 || hold <= 0 || port <= 0 ||
        (!trickle && strcmp(kind, "idle") != 0 && strcmp(kind, "flood") != 0)) {
        fprintf(stderr, "xfer_hostile: bad arguments\n");
        return 2;
    }
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, argv[2], &src.sin_addr) != 1) {
        fprintf(stderr, "xfer_hostile: bad source address %s\n", argv[2]);
        return 2;
    }
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
    int *fds = calloc((size_t)n, sizeof(int));
    long long *closed_at = calloc((size_t)n, sizeof(long long));
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    size_t *sent = calloc((size_t)n, sizeof(size_t));
    if (fds == NULL || closed_at == NULL || p == NULL || sent == NULL)
        return 2;
    int opened = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&src, sizeof(src)) != 0 ||
            connect(fds[i], (struct sockaddr *)&dst, sizeof(dst)) != 0) {
            fprintf(stderr, "xfer_hostile: connection %d: %s\n", i, strerror(errno));
            if (fds[i] >= 0)
                close(fds[i]);
            fds[i] = -1;
            continue;
        }
        opened++;
    }
    printf("ready %d\n", opened);
    fflush(stdout);
    long long t0 = now_ms(), end = t0 + hold * 1000LL, next_byte = t0;
    int closed = 0;
    while (now_ms() < end) {
        long long now = now_ms();
        if (trickle && now >= next_byte) {
            for (int i = 0; i < n; i++)
                if (fds[i] >= 0 && !closed_at[i] && sent[i] < sizeof(hello) &&
                    send(fds[i], hello + sent[i], 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
                    sent[i]++;
            next_byte += 1000;
        }
        int np = 0;
        for (int i = 0; i < n; i++) {
            p[i].fd = fds[i] >= 0 && !closed_at[i] ? fds[i] : -1;
            p[i].events = POLLIN;
            np += p[i].fd >= 0;
        }
        if (np == 0)
            break;
        long long wait = (trickle ? next_byte : end) - now_ms();
        if (poll(p, (nfds_t)n, wait < 0 ? 0 : wait > 200 ? 200 : (int)wait) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (p[i].fd < 0 || p[i].revents == 0)
                continue;
            char b[512];
            ssize_t r = recv(fds[i], b, sizeof(b), MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                closed_at[i] = now_ms() - t0 + 1;
                closed++;
            }
        }
    }
    long long first = 0, last = 0;
    for (int i = 0; i < n; i++) {
        if (!closed_at[i])
            continue;
        if (first == 0 || closed_at[i] < first)
            first = closed_at[i];
        if (closed_at[i] > last)
            last = closed_at[i];
    }
    printf("%s opened=%d closed=%d first_close_ms=%lld last_close_ms=%lld\n", kind, opened, closed,
           first, last);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(closed_at);
    free(p);
    free(sent);
    return 0;
}
