/*
 * p11drv: drives the PKCS#11 exit directly through its cftpkie() entry point,
 * as the host does, from several threads at once, and checks every answer
 * with OpenSSL (no TLS involved).
 *
 *   p11drv EXIT.so CONF THREADS ITERATIONS [OTHER_CONF]
 *
 * Each thread is one task: StartTask (must ask for GetCertificate and
 * CryptData), GetCertificate (the leaf is parsed), then ITERATIONS CryptData
 * calls over random digests with every algorithm and digest the leaf's key
 * type allows, each signature verified with the leaf's public key; then the
 * refusals (unknown algorithm, unknown digest, wrong data length, data_len
 * above the capacity, an algorithm of another key type) must be errors with a
 * text; EndTask. With OTHER_CONF, while the tasks run, a task with that
 * configuration (another token) must be refused. Prints one line per failure
 * and "p11drv: ok <signatures>"; exit status 0 when everything held.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "cftpkie.h"

static int (*exit_fn)(struct pkicom *);
static const char *conf, *other_conf;
static int iterations;
static atomic_int failures, signatures;
/* Every task waits at `started` once its StartTask is answered, and at
 * `checked` until the main thread has tried the conflicting task. */
static pthread_barrier_t started, checked;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "p11drv: FAIL: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                       \
        atomic_fetch_add(&failures, 1);                                                            \
    } while (0)

static int call(struct pkicom *z, uint32_t phase)
{
    z->size = sizeof(*z);
    z->abi_version = CFTPKIE_ABI_VERSION;
    z->phase = phase;
    z->error_text[0] = '\0';
    z->sig_len = 0;
    z->key_len = 0;
    return exit_fn(z);
}

static const EVP_MD *md_of(uint32_t d, size_t *len)
{
    switch (d) {
    case CFTPKIE_MD_SHA1:
        *len = 20;
        return EVP_sha1();
    case CFTPKIE_MD_SHA256:
        *len = 32;
        return EVP_sha256();
    case CFTPKIE_MD_SHA384:
        *len = 48;
        return EVP_sha384();
    default:
        *len = 64;
        return EVP_sha512();
    }
}

/* One CryptData with @alg/@digest over random data, verified with @pub. */
static void sign_once(struct pkicom *z, EVP_PKEY *pub, uint32_t alg, uint32_t digest)
{
    size_t dl = 0;
    const EVP_MD *md = alg == CFTPKIE_SIGN_ED25519 ? NULL : md_of(digest, &dl);
    if (alg == CFTPKIE_SIGN_ED25519) {
        uint16_t r = 0;
        RAND_bytes((unsigned char *)&r, sizeof(r));
        dl = 1 + (size_t)(r % 2000);
    }
    RAND_bytes(z->data, (int)dl);
    z->sign_alg = alg;
    z->sign_digest = digest;
    z->data_len = (uint32_t)dl;
    int rc = call(z, CFTPKIE_CRYPT_DATA);
    if (rc != CFTPKIE_HANDLED || z->sig_len == 0 || z->sig_len > CFTPKIE_SIG_CAP) {
        FAIL("CryptData alg %u digest %u: rc %d sig_len %u (%s)", alg, digest, rc, z->sig_len,
             z->error_text);
        return;
    }
    int ok;
    if (alg == CFTPKIE_SIGN_ED25519) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(m, z->sig, z->sig_len, z->data, dl) == 1;
        EVP_MD_CTX_free(m);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
        ok = c != NULL && EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, md) == 1;
        if (ok && alg == CFTPKIE_SIGN_RSA_PSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) == 1;
        else if (ok && alg == CFTPKIE_SIGN_RSA_PKCS1)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
        ok = ok && EVP_PKEY_verify(c, z->sig, z->sig_len, z->data, dl) == 1;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        FAIL("alg %u digest %u: the signature does not verify with the leaf", alg, digest);
    else
        atomic_fetch_add(&signatures, 1);
}

static void must_refuse(struct pkicom *z, uint32_t alg, uint32_t digest, uint32_t len,
                        const char *text)
{
    z->sign_alg = alg;
    z->sign_digest = digest;
    z->data_len = len;
    int rc = call(z, CFTPKIE_CRYPT_DATA);
    if (rc != CFTPKIE_ERROR || strstr(z->error_text, text) == NULL || z->sig_len != 0)
        FAIL("CryptData alg %u digest %u len %u: rc %d, text \"%s\" (expected an error with "
             "\"%s\")",
             alg, digest, len, rc, z->error_text, text);
}

static void *task(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    struct pkicom *z = calloc(1, sizeof(*z));
    if (z == NULL) {
        FAIL("calloc");
        return NULL;
    }
    snprintf(z->conf, sizeof(z->conf), "%s", conf);
    z->host_task_ref = id;
    int rc = call(z, CFTPKIE_START_TASK);
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&checked);
    uint32_t want =
        CFTPKIE_PHASE_BIT(CFTPKIE_GET_CERTIFICATE) | CFTPKIE_PHASE_BIT(CFTPKIE_CRYPT_DATA);
    if (rc != CFTPKIE_HANDLED || z->exit_abi_version != CFTPKIE_ABI_VERSION ||
        z->phase_mask != want) {
        FAIL("task %llu StartTask: rc %d abi %u mask 0x%x (%s)", (unsigned long long)id, rc,
             z->exit_abi_version, z->phase_mask, z->error_text);
        call(z, CFTPKIE_END_TASK);
        free(z);
        return NULL;
    }
    z->flags = CFTPKIE_F_SERVER;
    z->host_session_ref = 1;
    EVP_PKEY *pub = NULL;
    X509 *leaf = NULL;
    rc = call(z, CFTPKIE_GET_CERTIFICATE);
    const unsigned char *p = z->chain;
    if (rc != CFTPKIE_HANDLED || z->chain_count < 1 ||
        (leaf = d2i_X509(NULL, &p, z->chain_len[0])) == NULL ||
        (pub = X509_get_pubkey(leaf)) == NULL) {
        FAIL("task %llu GetCertificate: rc %d count %u (%s)", (unsigned long long)id, rc,
             z->chain_count, z->error_text);
        goto end;
    }
    int type = EVP_PKEY_get_base_id(pub);
    for (int i = 0; i < iterations; i++) {
        uint32_t digest = CFTPKIE_MD_SHA1 + (uint32_t)(i % 4);
        if (type == EVP_PKEY_EC) {
            sign_once(z, pub, CFTPKIE_SIGN_ECDSA, digest);
        } else if (type == EVP_PKEY_RSA) {
            sign_once(z, pub, CFTPKIE_SIGN_RSA_PKCS1, digest);
            sign_once(z, pub, CFTPKIE_SIGN_RSA_PSS, digest);
        } else {
            sign_once(z, pub, CFTPKIE_SIGN_ED25519, CFTPKIE_MD_NONE);
        }
    }
    uint32_t alg = type == EVP_PKEY_EC    ? CFTPKIE_SIGN_ECDSA
                   : type == EVP_PKEY_RSA ? CFTPKIE_SIGN_RSA_PSS
                                          : CFTPKIE_SIGN_ED25519;
    uint32_t md = alg == CFTPKIE_SIGN_ED25519 ? CFTPKIE_MD_NONE : CFTPKIE_MD_SHA256;
    uint32_t len = 32;
    must_refuse(z, 9, md, len, "unsupported signature algorithm 9");
    if (alg != CFTPKIE_SIGN_ED25519) {
        must_refuse(z, alg, 7, len, "unsupported digest 7");
        must_refuse(z, alg, md, 31, "31 bytes of data for a SHA-256 digest");
    }
    must_refuse(z, alg, md, CFTPKIE_DATA_CAP + 1, "above capacity");
    must_refuse(z, alg == CFTPKIE_SIGN_ECDSA ? CFTPKIE_SIGN_RSA_PKCS1 : CFTPKIE_SIGN_ECDSA,
                CFTPKIE_MD_SHA256, 32, "needs an");
    /* the task still signs after the refusals */
    sign_once(z, pub, alg, md);
    /* phases it did not ask for are not handled */
    if (call(z, CFTPKIE_CHECK_CERTIFICATE) != CFTPKIE_NOT_HANDLED)
        FAIL("CheckCertificate handled");
end:
    X509_free(leaf);
    EVP_PKEY_free(pub);
    rc = call(z, CFTPKIE_END_TASK);
    if (rc != CFTPKIE_HANDLED)
        FAIL("task %llu EndTask: rc %d (%s)", (unsigned long long)id, rc, z->error_text);
    free(z);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: p11drv EXIT.so CONF THREADS ITERATIONS [OTHER_CONF]\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    void *sym = h ? dlsym(h, "cftpkie") : NULL;
    if (sym == NULL) {
        fprintf(stderr, "p11drv: %s: %s\n", argv[1], dlerror());
        return 2;
    }
    memcpy(&exit_fn, &sym, sizeof(exit_fn));
    conf = argv[2];
    int n = atoi(argv[3]);
    iterations = atoi(argv[4]);
    other_conf = argc > 5 ? argv[5] : NULL;
    if (n < 1 || n > 64 || iterations < 1) {
        fprintf(stderr, "p11drv: bad THREADS or ITERATIONS\n");
        return 2;
    }
    pthread_t th[64];
    if (pthread_barrier_init(&started, NULL, (unsigned)n + 1) != 0 ||
        pthread_barrier_init(&checked, NULL, (unsigned)n + 1) != 0)
        return 2;
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, task, (void *)(uintptr_t)(i + 1)) != 0) {
            fprintf(stderr, "p11drv: pthread_create\n");
            return 2;
        }
    pthread_barrier_wait(&started);
    if (other_conf != NULL) {
        /* Every task holds the module now. */
        struct pkicom *z = calloc(1, sizeof(*z));
        if (z != NULL) {
            snprintf(z->conf, sizeof(z->conf), "%s", other_conf);
            int rc = call(z, CFTPKIE_START_TASK);
            if (rc != CFTPKIE_ERROR ||
                strstr(z->error_text, "one module and token per process") == NULL)
                FAIL("a task with another token while tasks run: rc %d (%s)", rc, z->error_text);
            call(z, CFTPKIE_END_TASK);
            free(z);
        }
    }
    pthread_barrier_wait(&checked);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    /* Everything was released: a new task starts again (re-initialization). */
    struct pkicom *z = calloc(1, sizeof(*z));
    if (z != NULL) {
        snprintf(z->conf, sizeof(z->conf), "%s", conf);
        if (call(z, CFTPKIE_START_TASK) != CFTPKIE_HANDLED)
            FAIL("StartTask after every task ended: %s", z->error_text);
        if (call(z, CFTPKIE_END_TASK) != CFTPKIE_HANDLED)
            FAIL("EndTask: %s", z->error_text);
        free(z);
    }
    pthread_barrier_destroy(&started);
    pthread_barrier_destroy(&checked);
    printf("p11drv: %s %d signatures, %d failure(s)\n", atomic_load(&failures) ? "FAIL" : "ok",
           atomic_load(&signatures), atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
