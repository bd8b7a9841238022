/* Fuzz target: the fast path of `pkie cmp`'s credential loading
 * (apps/pkie/cmp_client_fastload.c), differentially: whatever key it
 * accepts, OpenSSL's decoders (what OSSL_STORE uses) must accept from the
 * same bytes and give the same key; whatever certificates it accepts must
 * re-encode to the bytes they came from. Any difference aborts. */
#include "cmp_client_fastload.h"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_key(EVP_PKEY *fast, const uint8_t *data, size_t size)
{
    EVP_PKEY *ref = NULL;
    const unsigned char *p = data;
    size_t left = size;
    OSSL_DECODER_CTX *d =
        OSSL_DECODER_CTX_new_for_pkey(&ref, NULL, NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
    if (d == NULL)
        abort();
    (void)OSSL_DECODER_from_data(d, &p, &left);
    OSSL_DECODER_CTX_free(d);
    if (ref == NULL || EVP_PKEY_eq(fast, ref) != 1 ||
        strcmp(EVP_PKEY_get0_type_name(fast), EVP_PKEY_get0_type_name(ref)) != 0)
        abort(); /* accepted what OpenSSL refuses, or another key */
    unsigned char *a = NULL, *b = NULL;
    int an = i2d_PUBKEY(fast, &a), bn = i2d_PUBKEY(ref, &b);
    if (an <= 0 || an != bn || memcmp(a, b, (size_t)an) != 0)
        abort(); /* another public key encoding (point form) */
    OPENSSL_free(a);
    OPENSSL_free(b);
    EVP_PKEY_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    EVP_PKEY *k = cmpc_fast_key_mem(data, size);
    if (ERR_peek_error() != 0)
        abort(); /* the fast path leaves no error behind */
    if (k != NULL) {
        same_key(k, data, size);
        EVP_PKEY_free(k);
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk != NULL && cmpc_fast_certs_mem(data, size, sk)) {
        if (sk_X509_num(sk) < 1)
            abort();
        if (data[0] == 0x30) { /* DER: exactly the input */
            unsigned char *der = NULL;
            int n = i2d_X509(sk_X509_value(sk, 0), &der);
            if (n <= 0 || (size_t)n != size || memcmp(der, data, size) != 0)
                abort();
            OPENSSL_free(der);
        }
    } else if (sk != NULL && sk_X509_num(sk) != 0) {
        abort(); /* not handled must leave the stack as it was */
    }
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return 0;
}
