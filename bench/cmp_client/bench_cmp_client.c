/* bench/cmp_client: N IR transactions (ir + certConf, MAC-protected) in one
 * process by the pkie CMP client library over HTTP, against a running
 * server. Prints the elapsed seconds on stdout.
 * Usage: bench_cmp_client URL REF SECRET NEWKEY.pem N */
#include "pkie/cmp.h"
#include "pkie/error.h"

#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_cmp_client URL REF SECRET NEWKEY.pem N\n");
        return 2;
    }
    FILE *f = fopen(argv[4], "r");
    EVP_PKEY *key = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    int n = atoi(argv[5]);
    struct pkie_cmp_ctx *ctx = pkie_cmp_ctx_new();
    X509_NAME *subj = X509_NAME_new();
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)"bench", -1, -1, 0);
    if (key == NULL || n <= 0 || ctx == NULL || pkie_cmp_ctx_set_server(ctx, argv[1]) < 0 ||
        pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)argv[2], strlen(argv[2])) < 0 ||
        pkie_cmp_ctx_set_secret(ctx, (const uint8_t *)argv[3], strlen(argv[3])) < 0 ||
        pkie_cmp_ctx_set_newkey(ctx, key) < 0 || pkie_cmp_ctx_set_subject(ctx, subj) < 0) {
        fprintf(stderr, "bench_cmp_client: setup failed\n");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (pkie_cmp_exec_ir(ctx) == NULL) {
            char buf[512];
            fprintf(stderr, "bench_cmp_client: ir %d: %s\n", i, pkie_err_format(buf, sizeof(buf)));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    X509_NAME_free(subj);
    EVP_PKEY_free(key);
    pkie_cmp_ctx_free(ctx);
    return 0;
}
