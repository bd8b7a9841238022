/* libFuzzer target: client transactions of the CMP client (pkie/cmp.h) run
 * in-process, with the transfer callback answering with the fuzzer's bytes.
 * The input is one or two responses: the first DER element (the whole input
 * when it is not one) answers the first request, the remaining bytes the
 * second; a third request fails the transfer. Each input runs
 *   1. an ir with MAC protection with the responses as they are (they fail
 *      the transactionID / recipNonce / protection checks: a clean error);
 *   2. the same ir with each response patched: transactionID and recipNonce
 *      set to the request's, protection redone with the known secret (when
 *      the response decodes), so the response processing is reached;
 *   3. a patched general message, as exec_genm or one of the typed helpers
 *      (chosen by the input length).
 * The new key is the one of the captured enrollments (tests/data/cmp/pki/
 * new-ec.key), so that the seeds' certificates are accepted.
 * Every call must return a result or a clean error; ASan/LSan/UBSan report
 * the rest. */
#include "pkie/cmp.h"
#include "pkie/cmp_msg.h"
#include "pkie/error.h"
#include "pkie/log.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "test"; /* the secret of the captured seeds */

struct feed {
    const uint8_t *part[2];
    size_t len[2];
    int next;
    int patch;
};

/* Length of the DER element at the start of @p d, 0 when none fits. */
static size_t first_tlv(const uint8_t *d, size_t n)
{
    if (n < 2 || d[0] != 0x30)
        return 0;
    size_t len, hdr;
    if (d[1] < 0x80) {
        len = d[1];
        hdr = 2;
    } else {
        size_t k = d[1] & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k)
            return 0;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | d[2 + i];
        hdr = 2 + k;
    }
    return len <= n - hdr ? hdr + len : 0;
}

/* Set transactionID and recipNonce of @p rsp to those of @p req and redo the
 * MAC protection; NULL (take the bytes as they are) when either does not decode. */
static uint8_t *patch(const uint8_t *req, size_t req_len, const uint8_t *rsp, size_t rsp_len,
                      size_t *out_len)
{
    struct pkie_cmp_msg *q = NULL, *m = NULL;
    uint8_t *out = NULL;
    if (pkie_cmp_msg_decode(req, req_len, NULL, &q) != 0 ||
        pkie_cmp_msg_decode(rsp, rsp_len, NULL, &m) != 0)
        goto done;
    const struct pkie_cmp_header *qh = &q->header;
    if (pkie_cmp_dup(m, &m->header.transactionID, qh->transactionID.p, qh->transactionID.len) !=
            0 ||
        pkie_cmp_dup(m, &m->header.recipNonce, qh->senderNonce.p, qh->senderNonce.len) != 0)
        goto done;
    struct pkie_cmp_mac_params p;
    pkie_cmp_mac_params_default(&p, PKIE_CMP_MAC_PBM);
    p.iterationCount = 100; /* the least the client accepts: keeps runs fast */
    if (pkie_cmp_protect_mac(m, (const uint8_t *)secret, sizeof(secret) - 1, &p, NULL) != 0 ||
        pkie_cmp_msg_encode(m, &out, out_len) != 0) {
        free(out);
        out = NULL;
    }
done:
    pkie_cmp_msg_free(q);
    pkie_cmp_msg_free(m);
    pkie_err_clear();
    return out;
}

static int transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                    size_t *rsp_len, void *arg)
{
    (void)ctx;
    struct feed *f = arg;
    if (f->next >= 2 || f->part[f->next] == NULL)
        return PKIE_ERR(PKIE_ERR_TIMEOUT, "fuzz: no more responses");
    const uint8_t *d = f->part[f->next];
    size_t n = f->len[f->next];
    f->next++;
    if (f->patch && (*rsp = patch(req, req_len, d, n, rsp_len)) != NULL)
        return 0;
    *rsp = malloc(n > 0 ? n : 1);
    if (*rsp == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "fuzz");
    if (n > 0)
        memcpy(*rsp, d, n);
    *rsp_len = n;
    return 0;
}

static void quiet(enum pkie_log_level level, const char *component, const char *message, void *arg)
{
    (void)level;
    (void)component;
    (void)message;
    (void)arg;
}

static EVP_PKEY *newkey;
static X509 *root; /* for rootCaCert: any self-signed certificate */

static void init(void)
{
    pkie_log_set_level(PKIE_LOG_ERROR);
    pkie_log_set_sink(quiet, NULL);
    /* the key of the captured enrollments, so that their certificates match */
    FILE *kf = fopen(PKIE_FUZZ_CMPCLIENT_KEY, "r");
    if (kf != NULL) {
        newkey = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
        fclose(kf);
    }
    if (newkey == NULL)
        newkey = EVP_EC_gen("P-256");
    root = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz root", -1, -1,
                               0);
    X509_set_version(root, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(root), 1);
    X509_set_subject_name(root, n);
    X509_set_issuer_name(root, n);
    X509_gmtime_adj(X509_getm_notBefore(root), -3600);
    X509_gmtime_adj(X509_getm_notAfter(root), 86400);
    X509_set_pubkey(root, newkey);
    X509_sign(root, newkey, EVP_sha256());
    X509_NAME_free(n);
    if (newkey == NULL || root == NULL)
        abort();
}

static struct pkie_cmp_ctx *new_ctx(struct feed *f)
{
    struct pkie_cmp_ctx *ctx = pkie_cmp_ctx_new();
    if (ctx == NULL)
        abort();
    pkie_cmp_ctx_set_transfer_cb(ctx, transfer, f);
    pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)"test", 4);
    pkie_cmp_ctx_set_secret(ctx, (const uint8_t *)secret, sizeof(secret) - 1);
    pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_PBM_ITERATIONS, 100);
    pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_TOTAL_TIMEOUT, 1); /* no sleeping on checkAfter */
    pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_UNPROTECTED_ERRORS, (int)(f->len[0] & 1));
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (newkey == NULL)
        init();
    struct feed f;
    memset(&f, 0, sizeof(f));
    size_t first = first_tlv(data, size);
    if (first == 0)
        first = size;
    f.part[0] = data;
    f.len[0] = first;
    if (first < size) {
        f.part[1] = data + first;
        f.len[1] = size - first;
    }

    for (f.patch = 0; f.patch <= 1; f.patch++) {
        f.next = 0;
        struct pkie_cmp_ctx *ctx = new_ctx(&f);
        X509_NAME *n = X509_NAME_new();
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
        pkie_cmp_ctx_set_subject(ctx, n);
        X509_NAME_free(n);
        pkie_cmp_ctx_set_newkey(ctx, newkey);
        X509 *c = pkie_cmp_exec_ir(ctx);
        if (c != NULL && pkie_cmp_ctx_get_status(ctx) == PKIE_CMP_STATUS_NONE)
            abort(); /* a certificate comes with the status of its response */
        (void)pkie_cmp_ctx_get_status_string(ctx);
        pkie_cmp_ctx_free(ctx);
        pkie_err_clear();
    }

    f.patch = 1;
    f.next = 0;
    struct pkie_cmp_ctx *ctx = new_ctx(&f);
    switch (size % 4) {
    case 0: {
        struct pkie_cmp_genm_itavs *it = pkie_cmp_exec_genm(ctx);
        pkie_cmp_genm_itavs_free(it);
        break;
    }
    case 1: {
        STACK_OF(X509) *cas = NULL;
        (void)pkie_cmp_get1_caCerts(ctx, &cas);
        sk_X509_pop_free(cas, X509_free);
        break;
    }
    case 2: {
        X509 *nn = NULL, *no = NULL, *on = NULL;
        (void)pkie_cmp_get1_rootCaCert(ctx, root, &nn, &no, &on);
        X509_free(nn);
        X509_free(no);
        X509_free(on);
        break;
    }
    default: {
        STACK_OF(X509_ALGOR) *algs = NULL;
        (void)pkie_cmp_get1_signKeyPairTypes(ctx, &algs);
        sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
        break;
    }
    }
    pkie_cmp_ctx_free(ctx);
    pkie_err_clear();
    return 0;
}
