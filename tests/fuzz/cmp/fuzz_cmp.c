/* libFuzzer target: decode a PKIMessage; when it decodes, re-encoding must
 * give the identical bytes (abort otherwise), and validation (MAC and
 * signature paths) and POP verification must not misbehave on it. */
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
    /* Validation with a secret (MAC, small iteration bounds keep the run
     * fast) and an empty trust store (signatures: signer search, signature
     * verification, chain building that must fail). */
    static X509_STORE *store;
    if (store == NULL)
        store = X509_STORE_new();
    struct pkie_cmp_vctx v;
    memset(&v, 0, sizeof(v));
    v.secret = (const uint8_t *)"test";
    v.secret_len = 4;
    v.trusted = store;
    v.mac.iter_min = 1;
    v.mac.iter_max = 600;
    v.allow_unprotected = 1;
    v.max_skew = 300;
    v.check_critical_ext = 1;
    if (pkie_cmp_msg_validate(m, &v) == 0)
        X509_free(v.signer);
    /* POP signatures of certificate requests */
    if (m->body.type == PKIE_CMP_BODY_IR || m->body.type == PKIE_CMP_BODY_CR ||
        m->body.type == PKIE_CMP_BODY_KUR || m->body.type == PKIE_CMP_BODY_CCR)
        for (size_t i = 0; i < m->body.u.certReqs.count && i < 8; i++)
            (void)pkie_crmf_popo_verify(&m->body.u.certReqs.msgs[i]);
    (void)pkie_cmp_err_failinfo(pkie_err_last()->code);
    pkie_err_clear();
    pkie_cmp_msg_free(m);
    return 0;
}
