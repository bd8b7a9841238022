/* bench/cmp_client: wall time of single processes, two commands alternated.
 * Runs A and B in turn N times each (posix_spawn + waitpid, output to
 * /dev/null) and prints one line per run, "a MS" or "b MS", the wall time
 * from the spawn to the reaped exit. Exits 1 when a run fails.
 * Usage: bench_spawn N A-ARGV... -- B-ARGV... */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int run(char **argv, double *ms)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int sep = 0;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--") == 0)
            sep = i;
    int n = argc > 1 ? atoi(argv[1]) : 0;
    if (n <= 0 || n > 100000 || sep <= 2 || sep == argc - 1) {
        fprintf(stderr, "usage: bench_spawn N A-ARGV... -- B-ARGV...\n");
        return 2;
    }
    argv[sep] = NULL;
    char **a = argv + 2, **b = argv + sep + 1;
    for (int i = 0; i < n; i++) {
        double ms;
        if (run(a, &ms) < 0) {
            fprintf(stderr, "bench_spawn: %s failed\n", a[0]);
            return 1;
        }
        printf("a %.3f\n", ms);
        if (run(b, &ms) < 0) {
            fprintf(stderr, "bench_spawn: %s failed\n", b[0]);
            return 1;
        }
        printf("b %.3f\n", ms);
    }
    return 0;
}
