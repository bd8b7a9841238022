/* Unit tests of src/cmp/client/extracerts.c through the client: which
 * extraCerts of responses are kept for later messages and transactions
 * (PKIE_CMP_OPT_NO_CACHE_EXTRACERTS) and the trust anchor taken from an ip's
 * extraCerts (PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS), against responder.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/cmp.h"
#include "pkie/error.h"
#include "responder.h"

#include <stdlib.h>
#include <string.h>

static struct tpki pki;
/* an intermediate CA under the unit root and a CMP signer under it; a second
 * root (as a 3GPP operator CA) with a CMP signer under it */
static EVP_PKEY *inter_key, *srv2_key, *root2_key, *srv3_key;
static X509 *inter, *srv2, *root2, *srv3;

struct fx {
    struct pkie_cmp_ctx *ctx;
    struct responder r;
    STACK_OF(X509) *chain;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ctx = pkie_cmp_ctx_new();
    f->r.pki = &pki;
    responder_reset(&f->r);
    f->chain = sk_X509_new_null();
    pkie_cmp_ctx_set_transfer_cb(f->ctx, responder_transfer, &f->r);
    pkie_cmp_ctx_set_cert(f->ctx, pki.cli);
    pkie_cmp_ctx_set_key(f->ctx, pki.cli_key);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pkie_cmp_ctx_free(f->ctx);
    responder_reset(&f->r);
    sk_X509_free(f->chain);
    free(f);
    return 0;
}

static void trust(struct fx *f, X509 *anchor)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_add_cert(st, anchor);
    pkie_cmp_ctx_set_trusted(f->ctx, st);
    X509_STORE_free(st);
}

/* The responder signs with srv2, sending its intermediate only in cp/ip/kup. */
static void sign_via_inter(struct fx *f)
{
    trust(f, pki.root);
    sk_X509_push(f->chain, inter);
    f->r.signer = srv2;
    f->r.signer_key = srv2_key;
    f->r.signer_chain = f->chain;
    f->r.chain_in_certrep_only = 1;
}

/* ---- PKIE_CMP_OPT_NO_CACHE_EXTRACERTS -------------------------------------- */

static void test_kept_by_default(void **state)
{
    struct fx *f = *state;
    sign_via_inter(f);
    /* the pkiConf carries only the signer: its intermediate comes from the cp */
    assert_non_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(f->r.n_msgs, 2);
    assert_int_equal(f->r.bodies[1], PKIE_CMP_BODY_CERTCONF);
    /* -extracertsout: the cp's (signer and intermediate), not the pkiConf's (signer) */
    assert_int_equal(sk_X509_num(pkie_cmp_ctx_get_extracerts_in(f->ctx)), 2);
    /* kept across transactions: a cp without the intermediate validates too */
    f->r.chain_in_certrep_only = 0;
    f->r.signer_chain = NULL;
    assert_non_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_cmp_ctx_get_option(f->ctx, PKIE_CMP_OPT_NO_CACHE_EXTRACERTS), 0);
    /* setting the option drops what was kept */
    assert_int_equal(pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_NO_CACHE_EXTRACERTS, 1), 0);
    f->r.n_msgs = 0;
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_int_equal(f->r.n_msgs, 1);
}

static void test_no_cache(void **state)
{
    struct fx *f = *state;
    sign_via_inter(f);
    assert_int_equal(pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_NO_CACHE_EXTRACERTS, 1), 0);
    /* the cp validates with its own extraCerts; the pkiConf has no intermediate */
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_int_equal(f->r.n_msgs, 2);
    assert_int_equal(f->r.bodies[1], PKIE_CMP_BODY_CERTCONF);
    /* the cp's own extraCerts (signer and intermediate) still reach -extracertsout */
    assert_int_equal(sk_X509_num(pkie_cmp_ctx_get_extracerts_in(f->ctx)), 2);
    /* with the intermediate in every response it works */
    f->r.chain_in_certrep_only = 0;
    assert_non_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_NO_CACHE_EXTRACERTS, 2),
                     PKIE_ERR_ARG);
}

static void test_not_kept_from_invalid(void **state)
{
    struct fx *f = *state;
    sign_via_inter(f);
    /* a response that fails validation teaches nothing: the client trusts the
     * other root, the cp with the intermediate is refused */
    trust(f, pki.other_root);
    assert_null(pkie_cmp_exec_cr(f->ctx));
    trust(f, pki.root);
    f->r.chain_in_certrep_only = 0;
    f->r.signer_chain = NULL;
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
}

/* ---- PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS -------------------------------------- */

/* The responder is a 3GPP operator CA: signer srv3 and the self-signed root2 in
 * extraCerts, new certificates issued by root2; the client trusts the other root. */
static void operator_ca(struct fx *f, int issue_by_root2)
{
    trust(f, pki.other_root);
    sk_X509_push(f->chain, root2);
    f->r.signer = srv3;
    f->r.signer_key = srv3_key;
    f->r.signer_chain = f->chain;
    if (issue_by_root2) {
        f->r.issuer = root2;
        f->r.issuer_key = root2_key;
    }
}

static void test_ta_in_ip(void **state)
{
    struct fx *f = *state;
    operator_ca(f, 1);
    assert_null(pkie_cmp_exec_ir(f->ctx)); /* not without the option */
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_int_equal(f->r.n_msgs, 1);
    assert_int_equal(pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS, 1), 0);
    f->r.n_msgs = 0;
    X509 *c = pkie_cmp_exec_ir(f->ctx);
    assert_non_null(c);
    assert_int_equal(f->r.n_msgs, 2);
    assert_int_equal(X509_cmp(pkie_cmp_ctx_get_validated_srvcert(f->ctx), srv3), 0);
    /* the anchor from the ip verifies the new certificate: its chain ends in root2 */
    STACK_OF(X509) *chain = pkie_cmp_ctx_get_new_chain(f->ctx);
    assert_true(sk_X509_num(chain) >= 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, sk_X509_num(chain) - 1), root2), 0);
    /* the pkiConf needs no extraCerts: the signer is pinned for the transaction */
    f->r.chain_in_certrep_only = 1;
    f->r.n_msgs = 0;
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(f->r.n_msgs, 2);
}

static void test_ta_in_ip_no_trust_store(void **state)
{
    struct fx *f = *state;
    operator_ca(f, 1);
    pkie_cmp_ctx_set_trusted(f->ctx, NULL);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_NO_TRUST);
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS, 1);
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
}

static void test_ta_in_ip_refused(void **state)
{
    struct fx *f = *state;
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS, 1);
    /* the new certificate (issued by the unit root) does not chain to root2 */
    operator_ca(f, 0);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_int_equal(f->r.n_msgs, 1);
    /* only for an ip: a cp is refused */
    f->r.issuer = root2;
    f->r.issuer_key = root2_key;
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    /* no self-signed certificate in extraCerts: nothing to anchor on */
    f->r.signer_chain = NULL;
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    /* a pinned -srvcert is never overridden */
    f->r.signer_chain = f->chain;
    pkie_cmp_ctx_set_srvcert(f->ctx, pki.srv);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    pkie_cmp_ctx_set_srvcert(f->ctx, NULL);
    /* a signer that is not from the anchor's hierarchy: the unit server with root2 */
    f->r.signer = NULL;
    f->r.signer_key = NULL;
    assert_null(pkie_cmp_exec_ir(f->ctx));
    /* the pin of an accepted ip does not outlive its transaction */
    f->r.signer = srv3;
    f->r.signer_key = srv3_key;
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
}

int main(void)
{
    tpki_init(&pki);
    inter_key = tpki_key();
    srv2_key = tpki_key();
    root2_key = tpki_key();
    srv3_key = tpki_key();
    inter = tpki_cert("unit intermediate", inter_key, pki.root, pki.root_key, 1);
    srv2 = tpki_cert("unit server 2", srv2_key, inter, inter_key, 0);
    root2 = tpki_cert("unit operator root", root2_key, NULL, root2_key, 1);
    srv3 = tpki_cert("unit operator server", srv3_key, root2, root2_key, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_kept_from_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ta_in_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ta_in_ip_no_trust_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ta_in_ip_refused, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    X509_free(inter);
    X509_free(srv2);
    X509_free(root2);
    X509_free(srv3);
    EVP_PKEY_free(inter_key);
    EVP_PKEY_free(srv2_key);
    EVP_PKEY_free(root2_key);
    EVP_PKEY_free(srv3_key);
    tpki_free(&pki);
    return rc;
}
