/* libFuzzer target: decode a PKIMessage; when it decodes, re-encoding must
 * give the identical bytes (abort otherwise), and the protection and POP
 * paths must not misbehave on it. */
#include "pkie/cmp_msg.h"
#include "pkie/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pkie_cmp_msg *m = NULL;
    if (pkie_cmp_msg_decode(data, size, NULL, &m) != 0)
        return 0;
    uint8_t *out = NULL;
    size_t len = 0;
    if (pkie_cmp_msg_encode(m, &out, &len) != 0 || len != size || memcmp(out, data, size) != 0)
        abort();
    free(out);
    /* MAC verification with small iteration bounds keeps the run fast. */
    struct pkie_cmp_mac_limits lim = {1, 600};
    if (m->protection.p != NULL && pkie_cmp_protection_is_mac(m) == 1)
        (void)pkie_cmp_verify_mac(m, (const uint8_t *)"test", 4, &lim);
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.allow_unprotected = 1;
    v.max_skew = 300;
    v.check_critical_ext = 1;
    if (pkie_cmp_msg_validate(m, &v) == 0)
        X509_free(v.signer);
    (void)pkie_cmp_err_failinfo(pkie_err_last()->code);
    pkie_err_clear();
    pkie_cmp_msg_free(m);
    return 0;
}
