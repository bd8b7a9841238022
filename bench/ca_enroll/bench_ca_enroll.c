/* bench/ca_enroll: THREADS library clients in one process, each with its own
 * pkie CMP client context and ECDSA P-256 key, enroll (ir, MAC-protected,
 * implicitConfirm) against a running `pkie ca serve` until TOTAL enrollments
 * are done. Prints "<enrollments> <seconds> <failures>" on stdout.
 * With MODE CERT KEY ROOT the requests are cr signed by CERT/KEY (an EC client
 * certificate of the CA, ROOT its trust anchor) instead: MODE "sig" with a
 * client-generated P-256 key, "keygen" with central key generation (the CA
 * makes the P-256 key and returns it in an EnvelopedData to CERT, key
 * agreement), which the client opens and checks.
 * Usage: bench_ca_enroll URL REF SECRET THREADS TOTAL [MODE CERT KEY ROOT] */
#include "pkie/cmp.h"
#include "pkie/error.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url, *ref, *secret;
static atomic_int next_job, failures;
static int total;
static const char *mode; /* NULL: MAC ir; "sig" or "keygen": signed cr */
static X509 *cert;
static EVP_PKEY *cert_key;
static X509_STORE *trusted;

static void *load_pem(const char *path, int key)
{
    FILE *f = fopen(path, "r");
    void *v = NULL;
    if (f != NULL) {
        v = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                : (void *)PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (v == NULL) {
        fprintf(stderr, "bench_ca_enroll: cannot read %s\n", path);
        exit(2);
    }
    return v;
}

static int set_credentials(struct pkie_cmp_ctx *ctx)
{
    if (mode == NULL)
        return pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)ref, strlen(ref)) < 0 ||
                       pkie_cmp_ctx_set_secret(ctx, (const uint8_t *)secret, strlen(secret)) < 0
                   ? -1
                   : 0;
    return pkie_cmp_ctx_set_cert(ctx, cert) < 0 || pkie_cmp_ctx_set_key(ctx, cert_key) < 0 ||
                   pkie_cmp_ctx_set_trusted(ctx, trusted) < 0 ||
                   (strcmp(mode, "keygen") == 0 && pkie_cmp_ctx_set_central_keygen(ctx, 1) < 0)
               ? -1
               : 0;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct pkie_cmp_ctx *ctx = pkie_cmp_ctx_new();
    X509_NAME *subj = X509_NAME_new();
    char cn[32];
    snprintf(cn, sizeof(cn), "bench-%d", id);
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    int keygen = mode != NULL && strcmp(mode, "keygen") == 0;
    if (key == NULL || ctx == NULL || pkie_cmp_ctx_set_server(ctx, url) < 0 ||
        set_credentials(ctx) < 0 || (!keygen && pkie_cmp_ctx_set_newkey(ctx, key) < 0) ||
        pkie_cmp_ctx_set_subject(ctx, subj) < 0 ||
        pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_IMPLICIT_CONFIRM, 1) < 0) {
        fprintf(stderr, "bench_ca_enroll: setup failed\n");
        exit(1);
    }
    while (atomic_fetch_add(&next_job, 1) < total) {
        X509 *x = mode == NULL ? pkie_cmp_exec_ir(ctx) : pkie_cmp_exec_cr(ctx);
        if (x != NULL && keygen && pkie_cmp_ctx_get0_new_pkey(ctx) == NULL)
            x = NULL; /* (cannot happen: the transaction fails without the key) */
        if (x == NULL) {
            char buf[512];
            if (atomic_fetch_add(&failures, 1) < 3)
                fprintf(stderr, "bench_ca_enroll: %s\n", pkie_err_format(buf, sizeof(buf)));
        }
        pkie_cmp_ctx_reinit(ctx);
    }
    X509_NAME_free(subj);
    EVP_PKEY_free(key);
    pkie_cmp_ctx_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 10) {
        fprintf(stderr,
                "usage: bench_ca_enroll URL REF SECRET THREADS TOTAL [sig|keygen CERT KEY ROOT]\n");
        return 2;
    }
    if (argc == 10) {
        mode = argv[6];
        if (strcmp(mode, "sig") != 0 && strcmp(mode, "keygen") != 0)
            return 2;
        cert = load_pem(argv[7], 0);
        cert_key = load_pem(argv[8], 1);
        trusted = X509_STORE_new();
        if (trusted == NULL || X509_STORE_add_cert(trusted, load_pem(argv[9], 0)) != 1)
            return 2;
    }
    url = argv[1];
    ref = argv[2];
    secret = argv[3];
    int threads = atoi(argv[4]);
    total = atoi(argv[5]);
    if (threads <= 0 || threads > 1024 || total <= 0)
        return 2;
    pthread_t *t = calloc((size_t)threads, sizeof(*t));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%d %.6f %d\n", total - atomic_load(&failures), secs, atomic_load(&failures));
    free(t);
    return atomic_load(&failures) > 0;
}
