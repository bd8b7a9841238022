/* Allocation failures in the middle of a polled transaction (issue 13 item
 * 6): every allocation of the client and of OpenSSL under it made while
 * pkie_cmp_try_certreq polls and confirms fails in turn (the in-process
 * responder, test scaffolding, allocates with failures off)
 * (the test build wraps malloc/calloc/realloc with the linker's --wrap and
 * installs a failing allocator with CRYPTO_set_mem_functions). Each failure
 * must come back as an error (0), never as "still waiting" (-1), and the
 * transaction must be forgotten; when no failure is left, the poll ends
 * with the certificate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/cmp.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "responder.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the failing allocator ------------------------------------------------ */

static long fail_at = -1; /* the allocation to fail (1 = the next), -1 = none */
static long n_allocs;     /* allocations counted since armed */

static int fail_now(void)
{
    return fail_at > 0 && ++n_allocs == fail_at;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return fail_now() ? NULL : __real_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return fail_now() ? NULL : __real_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* ---- the test --------------------------------------------------------------- */

/* The responder answers with allocation failures off. */
static int transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                    size_t *rsp_len, void *arg)
{
    long saved = fail_at;
    fail_at = -1;
    int rc = responder_transfer(ctx, req, req_len, rsp, rsp_len, arg);
    fail_at = saved;
    return rc;
}

static struct tpki pki;

static void set_subject(struct pkie_cmp_ctx *ctx)
{
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"nomem", -1, -1, 0);
    pkie_cmp_ctx_set_subject(ctx, n);
    X509_NAME_free(n);
}

static void test_poll_nomem(void **state)
{
    (void)state;
    long k, failed = 0;
    for (k = 1; k < 200000; k++) {
        struct responder r;
        memset(&r, 0, sizeof(r));
        r.pki = &pki;
        responder_reset(&r);
        r.secret = "unit-secret";
        r.poll_count = 2; /* 'waiting', pollRep, then the certificate */
        r.check_after = 0;
        struct pkie_cmp_ctx *ctx = pkie_cmp_ctx_new();
        assert_non_null(ctx);
        pkie_cmp_ctx_set_transfer_cb(ctx, transfer, &r);
        pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)"ref", 3);
        pkie_cmp_ctx_set_secret(ctx, (const uint8_t *)"unit-secret", 11);
        pkie_cmp_ctx_set_newkey(ctx, pki.new_key);
        set_subject(ctx);
        int after = 0;
        assert_int_equal(pkie_cmp_try_certreq(ctx, PKIE_CMP_IR, &after), -1);

        n_allocs = 0;
        fail_at = k;
        int rc = pkie_cmp_try_certreq(ctx, PKIE_CMP_IR, &after);
        fail_at = -1;
        int hit = n_allocs >= k;
        if (hit && rc == -1)
            fprintf(stderr, "allocation %ld failed: reported as 'waiting' (%s)\n", k,
                    pkie_err_last()->msg);
        assert_int_not_equal(rc, -1); /* a failure is never 'still waiting' */
        if (rc == 0) {
            assert_true(hit);
            failed++;
            /* forgotten: nothing pending, so an unknown type is refused as
             * such (PKIE_ERR_ARG), not as "another request is pending" */
            assert_int_equal(pkie_cmp_try_certreq(ctx, 99, &after), 0);
            assert_int_equal(pkie_err_last()->code, PKIE_ERR_ARG);
        } else {
            assert_int_equal(rc, 1);
            assert_non_null(pkie_cmp_ctx_get_new_cert(ctx));
        }
        pkie_cmp_ctx_free(ctx);
        responder_reset(&r);
        if (!hit)
            break; /* every allocation of the poll has failed once */
    }
    fprintf(stderr, "%ld allocations in the poll and confirmation, %ld failed the transaction\n",
            k - 1, failed);
    assert_true(k > 50);
    assert_true(failed > 0);
}

int main(void)
{
    /* before OpenSSL allocates anything */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    pkie_log_set_level(PKIE_LOG_ERROR);
    tpki_init(&pki);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_nomem),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tpki_free(&pki);
    return rc;
}
