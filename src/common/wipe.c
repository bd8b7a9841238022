/* Secure wipe and constant-time compare (include/pkie/wipe.h). */
#include "pkie/wipe.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void pkie_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void pkie_wipe_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    pkie_wipe(p, n);
    free(p);
}

void pkie_wipe_free_str(char *s)
{
    if (s == NULL)
        return;
    pkie_wipe_free(s, strlen(s));
}

int pkie_memeq_ct(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0 ? 0 : 1;
}
