/* libFuzzer target: the client's parser of centrally generated keys, pkie_cmp_envkey_open
 * (EncryptedKey -> EnvelopedData -> decryption -> SignedData -> KGA checks -> private key).
 * Each input is opened three times, as the EC client (tests/data/cmp/pki/client.*, key
 * agreement), the RSA client (new-rsa.*, key transport) and with the secret "fuzz-secret"
 * (password), against the test PKI's root. The seeds are envelopes of each kind sealed by the
 * test KGA (tests/data/cmp/kga); PKIE_FUZZ_ENVKEY_MKSEEDS=DIR makes them again. Every call must
 * return a key or a clean error; the sanitizers report the rest. */
#include "pkie/cmp_envkey.h"
#include "pkie/error.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t secret[] = "fuzz-secret";
static X509 *ec_cert, *rsa_cert, *kga_cert;
static EVP_PKEY *ec_key, *rsa_key, *kga_key;
static X509_STORE *store;
static STACK_OF(X509) *inter;

static void *load(const char *rel, int key)
{
    char path[4096];
    const char *dir = getenv("PKIE_TEST_DATA");
    snprintf(path, sizeof(path), "%s/cmp/%s", dir != NULL ? dir : PKIE_FUZZ_DATA, rel);
    FILE *f = fopen(path, "r");
    void *v = NULL;
    if (f != NULL) {
        v = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                : (void *)PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (v == NULL) {
        fprintf(stderr, "fuzz_envkey: cannot load %s\n", path);
        abort();
    }
    return v;
}

/* PKIE_FUZZ_ENVKEY_MKSEEDS=DIR: write one envelope per recipient kind (of a new P-256 key)
 * into DIR, as the seeds were made. */
static int mkseeds(const char *dir)
{
    EVP_PKEY *newkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, sk_X509_value(inter, 0));
    struct pkie_cmp_envkey_kga kga = {kga_cert, kga_key, chain};
    struct pkie_cmp_envkey_recipient to[3] = {{ec_cert, NULL, NULL, 0},
                                              {rsa_cert, NULL, NULL, 0},
                                              {NULL, NULL, secret, sizeof(secret) - 1}};
    static const char *const names[3] = {"seed-kari", "seed-ktri", "seed-pwri"};
    int rc = 0;
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        uint8_t *ek = NULL;
        size_t len = 0;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = NULL;
        rc = pkie_cmp_envkey_seal(newkey, &kga, &to[i], &ek, &len);
        if (rc == 0 && ((f = fopen(path, "wb")) == NULL || fwrite(ek, 1, len, f) != len))
            rc = -1;
        if (f != NULL && fclose(f) != 0)
            rc = -1;
        free(ek);
    }
    sk_X509_free(chain);
    EVP_PKEY_free(newkey);
    return rc;
}

static void init(void)
{
    if (store != NULL)
        return;
    ec_cert = load("pki/client.crt", 0);
    ec_key = load("pki/client.key", 1);
    rsa_cert = load("pki/new-rsa.crt", 0);
    rsa_key = load("pki/new-rsa.key", 1);
    kga_cert = load("kga/kga.crt", 0);
    kga_key = load("kga/kga.key", 1);
    store = X509_STORE_new();
    inter = sk_X509_new_null();
    X509_STORE_add_cert(store, load("pki/root.crt", 0));
    sk_X509_push(inter, load("pki/inter.crt", 0));
    const char *seeds = getenv("PKIE_FUZZ_ENVKEY_MKSEEDS");
    if (seeds != NULL && mkseeds(seeds) != 0) {
        fprintf(stderr, "fuzz_envkey: cannot write seeds into %s\n", seeds);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    struct pkie_cmp_envkey_trust trust = {store, inter, NULL};
    struct pkie_cmp_envkey_recipient by[3] = {{ec_cert, ec_key, NULL, 0},
                                              {rsa_cert, rsa_key, NULL, 0},
                                              {NULL, NULL, secret, sizeof(secret) - 1}};
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *k = NULL;
        int rc = pkie_cmp_envkey_open(data, size, &by[i], &trust, &k);
        if ((rc == 0) != (k != NULL))
            abort(); /* a key exactly when it succeeds */
        EVP_PKEY_free(k);
        pkie_err_clear();
    }
    ERR_clear_error();
    return 0;
}
