/* Unit tests of the CMP client (include/pkie/cmp.h): every transaction
 * in-process through the transfer callback against the responder of
 * responder.c, with the cases of the interop suite, plus context checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/cmp.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "responder.h"

#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct tpki pki;

struct fx {
    struct pkie_cmp_ctx *ctx;
    struct responder r;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ctx = pkie_cmp_ctx_new();
    f->r.pki = &pki;
    responder_reset(&f->r);
    pkie_cmp_ctx_set_transfer_cb(f->ctx, responder_transfer, &f->r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pkie_cmp_ctx_free(f->ctx);
    responder_reset(&f->r);
    free(f);
    return 0;
}

static X509_STORE *store_of(X509 *x)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_add_cert(st, x);
    return st;
}

static void use_mac(struct fx *f)
{
    f->r.secret = "unit-secret";
    pkie_cmp_ctx_set_ref(f->ctx, (const uint8_t *)"ref", 3);
    pkie_cmp_ctx_set_secret(f->ctx, (const uint8_t *)"unit-secret", 11);
}

static void use_sig(struct fx *f, X509 *anchor)
{
    pkie_cmp_ctx_set_cert(f->ctx, pki.cli);
    pkie_cmp_ctx_set_key(f->ctx, pki.cli_key);
    X509_STORE *st = store_of(anchor);
    pkie_cmp_ctx_set_trusted(f->ctx, st);
    X509_STORE_free(st);
}

static void set_subject(struct pkie_cmp_ctx *ctx, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    pkie_cmp_ctx_set_subject(ctx, n);
    X509_NAME_free(n);
}

/* ---- enrollment ---------------------------------------------------------- */

static void test_ir_mac(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    set_subject(f->ctx, "ir");
    X509 *c = pkie_cmp_exec_ir(f->ctx);
    assert_string_equal(f->r.last_subject, "/CN=ir");
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c), pki.new_key), 1);
    assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), PKIE_CMP_ACCEPTED);
    assert_int_equal(f->r.n_msgs, 2);
    assert_int_equal(f->r.bodies[0], PKIE_CMP_BODY_IR);
    assert_int_equal(f->r.bodies[1], PKIE_CMP_BODY_CERTCONF);
    assert_int_equal(f->r.last_prot_mac, 1);
    assert_int_equal(sk_X509_num(pkie_cmp_ctx_get_capubs(f->ctx)), 1);
    /* the chain is built from caPubs */
    assert_int_equal(sk_X509_num(pkie_cmp_ctx_get_new_chain(f->ctx)), 1);
}

static void test_cr_sig(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    X509 *c = pkie_cmp_exec_cr(f->ctx);
    assert_non_null(c);
    assert_int_equal(f->r.bodies[0], PKIE_CMP_BODY_CR);
    assert_int_equal(f->r.last_prot_mac, 0);
    assert_non_null(pkie_cmp_ctx_get_validated_srvcert(f->ctx));
    assert_int_equal(X509_cmp(pkie_cmp_ctx_get_validated_srvcert(f->ctx), pki.srv), 0);
    assert_non_null(pkie_cmp_ctx_get_extracerts_in(f->ctx));
}

static void test_srvcert_pinned(void **state)
{
    struct fx *f = *state;
    pkie_cmp_ctx_set_cert(f->ctx, pki.cli);
    pkie_cmp_ctx_set_key(f->ctx, pki.cli_key);
    pkie_cmp_ctx_set_srvcert(f->ctx, pki.srv);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_non_null(pkie_cmp_exec_cr(f->ctx));
    /* pinning another certificate fails */
    pkie_cmp_ctx_set_srvcert(f->ctx, pki.cli);
    assert_null(pkie_cmp_exec_cr(f->ctx));
}

static void test_kur(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    X509 *c = pkie_cmp_exec_kur(f->ctx);
    assert_non_null(c);
    assert_int_equal(f->r.bodies[0], PKIE_CMP_BODY_KUR);
    /* the subject comes from the old certificate, which oldCertID names */
    assert_non_null(strstr(f->r.last_subject, "CN=unit client"));
    assert_int_equal(f->r.last_oldcertid, 1);
}

/* A client certificate issued by an intermediate CA: the request's extraCerts
 * carry the signer, then its chain built through the untrusted certificates
 * (root left out), then the extra certificates; the responder trusts only
 * the root and has no untrusted certificates, so it needs the intermediate. */
static void test_signer_chain(void **state)
{
    struct fx *f = *state;
    EVP_PKEY *ikey = tpki_key(), *ckey = tpki_key();
    X509 *inter = tpki_cert("unit inter", ikey, pki.root, pki.root_key, 1);
    X509 *cli = tpki_cert("unit chained client", ckey, inter, ikey, 0);
    pkie_cmp_ctx_set_cert(f->ctx, cli);
    pkie_cmp_ctx_set_key(f->ctx, ckey);
    X509_STORE *st = store_of(pki.root);
    pkie_cmp_ctx_set_trusted(f->ctx, st);
    X509_STORE_free(st);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    pkie_cmp_ctx_set_oldcert(f->ctx, cli);

    /* without the intermediate the responder cannot verify the request */
    assert_null(pkie_cmp_exec_kur(f->ctx));
    assert_int_equal(f->r.n_msgs, 1);
    assert_int_equal(f->r.last_n_extracerts, 1);

    /* with it (and the root, and an unrelated certificate) as untrusted */
    pkie_cmp_ctx_add_untrusted(f->ctx, pki.other_root);
    pkie_cmp_ctx_add_untrusted(f->ctx, pki.root);
    pkie_cmp_ctx_add_untrusted(f->ctx, inter);
    pkie_cmp_ctx_add_extracert(f->ctx, pki.other_root);
    pkie_cmp_ctx_add_extracert(f->ctx, inter); /* no duplicate */
    responder_reset(&f->r);
    assert_non_null(pkie_cmp_exec_kur(f->ctx));
    assert_int_equal(f->r.bodies[0], PKIE_CMP_BODY_KUR);
    assert_int_equal(f->r.bodies[1], PKIE_CMP_BODY_CERTCONF);
    assert_int_equal(f->r.last_n_extracerts, 3); /* of the certConf */
    assert_non_null(strstr(f->r.last_extracerts[0], "CN=unit chained client"));
    assert_non_null(strstr(f->r.last_extracerts[1], "CN=unit inter"));
    assert_non_null(strstr(f->r.last_extracerts[2], "CN=unit other root"));

    /* rr is signed the same way */
    responder_reset(&f->r);
    pkie_cmp_ctx_set_oldcert(f->ctx, pkie_cmp_ctx_get_new_cert(f->ctx));
    assert_non_null(pkie_cmp_exec_rr(f->ctx));
    assert_int_equal(f->r.last_n_extracerts, 3);
    assert_non_null(strstr(f->r.last_extracerts[1], "CN=unit inter"));
    X509_free(cli);
    X509_free(inter);
    EVP_PKEY_free(ckey);
    EVP_PKEY_free(ikey);
}

static void test_p10cr(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"p10", -1, -1, 0);
    X509_REQ_set_subject_name(csr, n);
    X509_REQ_set_pubkey(csr, pki.new_key);
    X509_REQ_sign(csr, pki.new_key, EVP_sha256());
    pkie_cmp_ctx_set_p10csr(f->ctx, csr);
    X509 *c = pkie_cmp_exec_p10cr(f->ctx);
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c), pki.new_key), 1);
    assert_int_equal(f->r.bodies[0], PKIE_CMP_BODY_P10CR);
    X509_NAME_free(n);
    X509_REQ_free(csr);
}

static void test_several_templates(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    EVP_PKEY *k[3] = {tpki_key(), tpki_key(), tpki_key()};
    for (int i = 0; i < 3; i++) {
        pkie_cmp_ctx_set_newkey(f->ctx, k[i]);
        set_subject(f->ctx, "multi");
        assert_int_equal(pkie_cmp_ctx_push_template(f->ctx), 0);
    }
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    STACK_OF(X509) *certs = pkie_cmp_ctx_get_new_certs(f->ctx);
    assert_int_equal(sk_X509_num(certs), 3);
    assert_int_equal(f->r.n_certreqs, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, i)), k[i]), 1);
        EVP_PKEY_free(k[i]);
    }
}

static void test_implicit_confirm(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_IMPLICIT_CONFIRM, 1);
    /* not granted: certConf follows */
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(f->r.implicit_asked, 1);
    assert_int_equal(f->r.n_msgs, 2);
    /* granted: no certConf */
    responder_reset(&f->r);
    f->r.secret = "unit-secret";
    f->r.grant_implicit = 1;
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(f->r.n_msgs, 1);
    /* disable_confirm: never certConf */
    responder_reset(&f->r);
    f->r.secret = "unit-secret";
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_IMPLICIT_CONFIRM, 0);
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_DISABLE_CONFIRM, 1);
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(f->r.n_msgs, 1);
    assert_int_equal(f->r.implicit_asked, 0);
}

static void test_polling_blocking(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.poll_count = 3;
    f->r.check_after = 0;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(f->r.n_msgs, 5); /* ir, pollReq x3, certConf */
    assert_int_equal(f->r.bodies[1], PKIE_CMP_BODY_POLLREQ);
    assert_int_equal(f->r.bodies[3], PKIE_CMP_BODY_POLLREQ);
    assert_int_equal(f->r.bodies[4], PKIE_CMP_BODY_CERTCONF);
}

static void test_try_certreq(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.poll_count = 2;
    f->r.check_after = 7;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    int after = 0;
    assert_int_equal(pkie_cmp_try_certreq(f->ctx, PKIE_CMP_IR, &after), -1);
    assert_int_equal(after, 7);
    assert_null(pkie_cmp_ctx_get_new_cert(f->ctx));
    assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), PKIE_CMP_WAITING);
    /* continuing with another type is refused */
    assert_int_equal(pkie_cmp_try_certreq(f->ctx, PKIE_CMP_CR, &after), 0);
    after = 0;
    assert_int_equal(pkie_cmp_try_certreq(f->ctx, PKIE_CMP_IR, &after), 1);
    assert_non_null(pkie_cmp_ctx_get_new_cert(f->ctx));
    assert_int_equal(f->r.bodies[f->r.n_msgs - 1], PKIE_CMP_BODY_CERTCONF);
}

static void test_try_certreq_abort(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.poll_count = 5;
    f->r.check_after = 3;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    int after = 0;
    assert_int_equal(pkie_cmp_try_certreq(f->ctx, PKIE_CMP_IR, &after), -1);
    after = -1;
    assert_int_equal(pkie_cmp_try_certreq(f->ctx, PKIE_CMP_IR, &after), 1);
    assert_int_equal(f->r.bodies[f->r.n_msgs - 1], PKIE_CMP_BODY_ERROR);
    assert_null(pkie_cmp_ctx_get_new_cert(f->ctx));
    /* nothing pending any more: a new call starts a new transaction */
    f->r.poll_count = 0;
    after = 0;
    assert_int_equal(pkie_cmp_try_certreq(f->ctx, PKIE_CMP_IR, &after), 1);
    assert_non_null(pkie_cmp_ctx_get_new_cert(f->ctx));
}

static void test_total_timeout(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.poll_count = 3;
    f->r.check_after = 10;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_TOTAL_TIMEOUT, 2);
    time_t t0 = time(NULL);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_TIMEOUT);
    assert_true(time(NULL) - t0 <= 2);
}

/* ---- negative answers ----------------------------------------------------- */

static void test_rejection(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.pkistatus = PKIE_CMP_REJECTION;
    f->r.failbits = 1u << PKIE_CMP_FI_badRequest | 1u << PKIE_CMP_FI_badPOP;
    f->r.statusstring = "unit rejection";
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_REJECTED);
    assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), PKIE_CMP_REJECTION);
    assert_int_equal(pkie_cmp_ctx_get_failinfo(f->ctx),
                     1 << PKIE_CMP_FI_badRequest | 1 << PKIE_CMP_FI_badPOP);
    assert_string_equal(pkie_cmp_ctx_get_status_string(f->ctx), "unit rejection");
    char buf[256];
    assert_string_equal(pkie_cmp_ctx_snprint_status(f->ctx, buf, sizeof(buf)),
                        "PKIStatus: rejection; PKIFailureInfo: badRequest,badPOP; StatusString: "
                        "\"unit rejection\"");
    assert_int_equal(f->r.n_msgs, 1); /* no certConf after a rejection */
}

static void test_unprotected_errors(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.pkistatus = PKIE_CMP_REJECTION;
    f->r.failbits = 1u << PKIE_CMP_FI_badRequest;
    f->r.unprot_neg = 1;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_PROT_MISSING);
    assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), PKIE_CMP_STATUS_NONE);
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_UNPROTECTED_ERRORS, 1);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_REJECTED);
    assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), PKIE_CMP_REJECTION);
    /* a positive answer without protection is never accepted */
    f->r.pkistatus = -1;
    f->r.secret = NULL; /* the responder signs; we have no trust store */
    assert_null(pkie_cmp_exec_ir(f->ctx));
}

static void test_error_message(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.send_error = 1;
    f->r.failbits = 1u << PKIE_CMP_FI_systemUnavail;
    f->r.statusstring = "down";
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_ERROR_MSG);
    assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), PKIE_CMP_REJECTION);
    assert_int_equal(pkie_cmp_ctx_get_failinfo(f->ctx), 1 << PKIE_CMP_FI_systemUnavail);
    assert_string_equal(pkie_cmp_ctx_get_status_string(f->ctx), "down");
}

static void test_wrong_secret(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.skip_verify = 1;
    f->r.secret = "other-secret";
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_MAC_MISMATCH);
}

static void test_untrusted_server(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.other_root);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_SIGNER_NOT_TRUSTED);
    assert_int_equal(f->r.n_msgs, 1);
}

static void test_signer_keyusage(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    /* the root CA as signer: keyCertSign and cRLSign only */
    f->r.signer = pki.root;
    f->r.signer_key = pki.root_key;
    assert_null(pkie_cmp_exec_cr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_UNTRUSTED);
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_IGNORE_KEYUSAGE, 1);
    assert_non_null(pkie_cmp_exec_cr(f->ctx));
}

static void test_no_answer(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.no_answer = 1;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_TIMEOUT);
}

static void test_bad_header(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    f->r.bad_tid = 1;
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_TID_MISMATCH);
    f->r.bad_tid = 0;
    f->r.bad_recip = 1;
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_RECIPNONCE);
}

static void test_certconf(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    /* a certificate for another key is refused in certConf */
    f->r.wrong_cert = 1;
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_CERTCONF);
    assert_int_equal(f->r.bodies[1], PKIE_CMP_BODY_CERTCONF);
    f->r.wrong_cert = 0;
    /* the default check: out_trusted root verifies, another root does not */
    pkie_cmp_ctx_set_certconf_cb(f->ctx, pkie_cmp_certconf_cb, NULL);
    X509_STORE *st = store_of(pki.root);
    pkie_cmp_ctx_set_out_trusted(f->ctx, st);
    X509_STORE_free(st);
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    st = store_of(pki.other_root);
    pkie_cmp_ctx_set_out_trusted(f->ctx, st);
    X509_STORE_free(st);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_CERTCONF);
    const char *text = NULL;
    assert_int_equal(pkie_cmp_certconf_cb(f->ctx, pki.cli, 0, &text),
                     1 << PKIE_CMP_FI_incorrectData);
    assert_non_null(text);
    assert_int_equal(pkie_cmp_certconf_cb(f->ctx, pki.cli, 1 << PKIE_CMP_FI_badPOP, &text),
                     1 << PKIE_CMP_FI_badPOP);
}

/* ---- revocation ----------------------------------------------------------- */

static void test_rr_reasons(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    pkie_cmp_ctx_set_oldcert(f->ctx, pki.cli);
    const int reasons[] = {-1, 0, 1, 4, 10};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        assert_int_equal(
            pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_REVOCATION_REASON, reasons[i]), 0);
        X509 *x = pkie_cmp_exec_rr(f->ctx);
        assert_non_null(x);
        assert_int_equal(X509_cmp(x, pki.cli), 0);
        assert_int_equal(f->r.rev_reason, reasons[i]);
    }
    assert_int_equal(pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_REVOCATION_REASON, 7),
                     PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_REVOCATION_REASON, 11),
                     PKIE_ERR_ARG);
}

static void test_rr_status_rules(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    pkie_cmp_ctx_set_oldcert(f->ctx, pki.cli);
    /* accepted, grantedWithMods succeed; revocationWarning/Notification are
     * warnings; rejection, waiting, keyUpdateWarning errors */
    const int ok[] = {1, 1, 0, 0, 1, 1, 0};
    for (int st = 0; st <= 6; st++) {
        f->r.pkistatus = st;
        X509 *x = pkie_cmp_exec_rr(f->ctx);
        if (ok[st])
            assert_int_equal(X509_cmp(x, pki.cli), 0);
        else
            assert_null(x);
        assert_int_equal(pkie_cmp_ctx_get_status(f->ctx), st);
    }
    /* rr needs the certificate to revoke */
    pkie_cmp_ctx_set_oldcert(f->ctx, NULL);
    f->r.pkistatus = -1;
    assert_null(pkie_cmp_exec_rr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_CONFIG);
}

/* the certificate to revoke named as OpenSSL names it: issuer and serial
 * number (which win over oldcert), else oldcert, else the CSR's subject and
 * public key */
static void test_rr_by_serial_and_csr(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    X509_NAME *iss = X509_NAME_new();
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_ASC, (const unsigned char *)"an issuer", -1, -1,
                               0);
    ASN1_INTEGER *sno = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sno, 0x4711);
    assert_int_equal(pkie_cmp_ctx_set_issuer(f->ctx, iss), 0);
    assert_int_equal(pkie_cmp_ctx_set1_serialNumber(f->ctx, sno), 0);
    pkie_cmp_ctx_set_oldcert(f->ctx, pki.cli);
    assert_int_equal(pkie_cmp_exec_revoke(f->ctx), 0);
    assert_int_equal(f->r.rev_present, PKIE_CRMF_T_ISSUER | PKIE_CRMF_T_SERIALNUMBER);
    assert_int_equal(f->r.rev_serial_len, 2);
    assert_memory_equal(f->r.rev_serial, "\x47\x11", 2);
    /* by CSR: subject and public key */
    pkie_cmp_ctx_set1_serialNumber(f->ctx, NULL);
    pkie_cmp_ctx_set_oldcert(f->ctx, NULL);
    X509_REQ *csr = X509_REQ_new();
    X509_REQ_set_subject_name(csr, iss);
    X509_REQ_set_pubkey(csr, pki.new_key);
    X509_REQ_sign(csr, pki.new_key, EVP_sha256());
    pkie_cmp_ctx_set_p10csr(f->ctx, csr);
    assert_int_equal(pkie_cmp_exec_revoke(f->ctx), 0);
    assert_int_equal(f->r.rev_present, PKIE_CRMF_T_SUBJECT | PKIE_CRMF_T_PUBLICKEY);
    /* exec_rr still needs the old certificate */
    assert_null(pkie_cmp_exec_rr(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_CONFIG);
    /* a serial number without issuer names nothing */
    pkie_cmp_ctx_set_p10csr(f->ctx, NULL);
    pkie_cmp_ctx_set1_serialNumber(f->ctx, sno);
    pkie_cmp_ctx_set_issuer(f->ctx, NULL);
    assert_int_equal(pkie_cmp_exec_revoke(f->ctx), PKIE_ERR_CMP_CLIENT_CONFIG);
    X509_REQ_free(csr);
    ASN1_INTEGER_free(sno);
    X509_NAME_free(iss);
}

/* ---- general messages ------------------------------------------------------ */

static void test_genm_helpers(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    STACK_OF(X509) *cas = NULL;
    assert_int_equal(pkie_cmp_get1_caCerts(f->ctx, &cas), 0);
    assert_int_equal(sk_X509_num(cas), 1);
    assert_int_equal(X509_cmp(sk_X509_value(cas, 0), pki.root), 0);
    sk_X509_pop_free(cas, X509_free);

    X509 *nn = NULL, *no = NULL, *on = NULL;
    assert_int_equal(pkie_cmp_get1_rootCaCert(f->ctx, pki.root, &nn, &no, &on), 0);
    assert_non_null(nn);
    assert_non_null(no);
    assert_null(on);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(nn), pki.other_key), 1);
    X509_free(nn);
    X509_free(no);
    /* a newWithOld that does not verify with the claimed old root is refused */
    assert_int_equal(pkie_cmp_get1_rootCaCert(f->ctx, pki.other_root, &nn, &no, &on),
                     PKIE_ERR_CMP_CLIENT_UNTRUSTED);
    assert_null(nn);

    X509_CRL *crl = NULL;
    assert_int_equal(pkie_cmp_get1_crlUpdate(f->ctx, pki.cli, NULL, &crl), 0);
    assert_non_null(crl);
    X509_CRL_free(crl);

    STACK_OF(X509_ALGOR) *algs = NULL;
    assert_int_equal(pkie_cmp_get1_signKeyPairTypes(f->ctx, &algs), 0);
    assert_int_equal(sk_X509_ALGOR_num(algs), 2);
    sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);

    uint8_t *t = NULL, *k = NULL;
    size_t tl = 0, kl = 0;
    assert_int_equal(pkie_cmp_get1_certReqTemplate(f->ctx, &t, &tl, &k, &kl), 0);
    assert_non_null(t);
    assert_true(tl > 10);
    assert_null(k);
    OPENSSL_free(t);

    /* raw genm keeps the caller's ITAVs and returns the answer */
    pkie_cmp_ctx_add_genm_itav(f->ctx, "1.2.3.4", NULL, 0);
    struct pkie_cmp_genm_itavs *l = pkie_cmp_exec_genm(f->ctx);
    assert_non_null(l);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->v[0].type, "1.2.3.4");
    assert_null(l->v[0].value);
    pkie_cmp_genm_itavs_free(l);
}

static void test_genm_echo(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    f->r.echo_genm = 1; /* as OpenSSL 3.0's mock server */
    STACK_OF(X509) *cas = (STACK_OF(X509) *)1;
    assert_int_equal(pkie_cmp_get1_caCerts(f->ctx, &cas), 0);
    assert_null(cas);
    X509 *nn = NULL;
    assert_int_equal(pkie_cmp_get1_rootCaCert(f->ctx, NULL, &nn, NULL, NULL),
                     PKIE_ERR_CMP_CLIENT_PROTOCOL);
    X509_CRL *crl = NULL;
    assert_int_equal(pkie_cmp_get1_crlUpdate(f->ctx, pki.cli, NULL, &crl),
                     PKIE_ERR_CMP_CLIENT_PROTOCOL);
}

/* Typed answers whose value is malformed: each helper fails with the
 * specific error and returns nothing. */
static void test_genm_malformed(void **state)
{
    struct fx *f = *state;
    use_sig(f, pki.root);
    static const uint8_t empty_seq[] = {0x30, 0x00};
    static const uint8_t int_in_seq[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    static const uint8_t empty_elem[] = {0x30, 0x02, 0x30, 0x00};
    static const uint8_t octets[] = {0x04, 0x01, 0x00};
    static const uint8_t two_elems[] = {0x30, 0x04, 0x30, 0x00, 0x30, 0x00};
    STACK_OF(X509) *cas = NULL;
    STACK_OF(X509_ALGOR) *algs = NULL;
    X509 *nn = NULL;
    X509_CRL *crl = NULL;
    uint8_t *t = NULL;
    size_t tl = 0;
#define RAW(v) (f->r.genp_raw = (v), f->r.genp_raw_len = sizeof(v))
    RAW(empty_seq); /* caCerts is SIZE (1..MAX) */
    assert_int_equal(pkie_cmp_get1_caCerts(f->ctx, &cas), PKIE_ERR_CMP_CLIENT_PROTOCOL);
    assert_null(cas);
    RAW(int_in_seq);
    assert_int_equal(pkie_cmp_get1_caCerts(f->ctx, &cas), PKIE_ERR_DER_TAG);
    assert_null(cas);
    assert_int_equal(pkie_cmp_get1_signKeyPairTypes(f->ctx, &algs), PKIE_ERR_DER_TAG);
    assert_null(algs);
    assert_int_equal(pkie_cmp_get1_rootCaCert(f->ctx, NULL, &nn, NULL, NULL), PKIE_ERR_DER_TAG);
    assert_null(nn);
    RAW(empty_elem); /* an empty SEQUENCE is neither a certificate nor an algorithm */
    assert_int_equal(pkie_cmp_get1_caCerts(f->ctx, &cas), PKIE_ERR_CMP_CLIENT_PROTOCOL);
    assert_null(cas);
    assert_int_equal(pkie_cmp_get1_signKeyPairTypes(f->ctx, &algs), PKIE_ERR_CMP_CLIENT_PROTOCOL);
    assert_null(algs);
    assert_int_equal(pkie_cmp_get1_crlUpdate(f->ctx, pki.cli, NULL, &crl),
                     PKIE_ERR_CMP_CLIENT_PROTOCOL);
    assert_null(crl);
    RAW(two_elems); /* one CRL was asked for */
    assert_int_equal(pkie_cmp_get1_crlUpdate(f->ctx, pki.cli, NULL, &crl),
                     PKIE_ERR_CMP_CLIENT_PROTOCOL);
    assert_null(crl);
    RAW(octets); /* not a SEQUENCE at all */
    assert_int_equal(pkie_cmp_get1_certReqTemplate(f->ctx, &t, &tl, NULL, NULL), PKIE_ERR_DER_TAG);
    assert_null(t);
    assert_int_equal(pkie_cmp_get1_signKeyPairTypes(f->ctx, &algs), PKIE_ERR_DER_TAG);
    assert_null(algs);
#undef RAW
    f->r.genp_raw = NULL;
    assert_int_equal(pkie_cmp_get1_caCerts(f->ctx, &cas), 0); /* and the context still works */
    assert_int_equal(sk_X509_num(cas), 1);
    sk_X509_pop_free(cas, X509_free);
}

/* ---- context ---------------------------------------------------------------- */

static void test_ctx_settings(void **state)
{
    (void)state;
    struct pkie_cmp_ctx *c = pkie_cmp_ctx_new();
    assert_int_equal(pkie_cmp_ctx_set_server(c, "https://[::1]:8443/a/b"), 0);
    assert_int_equal(pkie_cmp_ctx_set_server(c, "cmp.example:80"), 0);
    assert_int_equal(pkie_cmp_ctx_set_server(c, "ftp://x"), PKIE_ERR_CMP_CLIENT_CONFIG);
    assert_int_equal(pkie_cmp_ctx_set_server(c, "host:99999"), PKIE_ERR_CMP_CLIENT_CONFIG);
    assert_int_equal(pkie_cmp_ctx_set_server(c, "host:12x"), PKIE_ERR_CMP_CLIENT_CONFIG);
    assert_int_equal(pkie_cmp_ctx_set_server(c, "[::1"), PKIE_ERR_CMP_CLIENT_CONFIG);
    assert_int_equal(pkie_cmp_ctx_set_server(c, ""), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set_path(c, "a b"), PKIE_ERR_CMP_CLIENT_CONFIG);
    assert_int_equal(pkie_cmp_ctx_get_option(c, PKIE_CMP_OPT_MAX_RESP_SIZE), 1 << 20);
    assert_int_equal(pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_MAX_RESP_SIZE, 1 << 30), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_KEEP_ALIVE, 3), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set_option(c, PKIE_CMP_OPT_POPO_METHOD, -2), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set_option(c, (enum pkie_cmp_option)999, 0), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_get_option(c, (enum pkie_cmp_option)999), -1);
    uint8_t big[5000] = {0};
    assert_int_equal(pkie_cmp_ctx_set_secret(c, big, sizeof(big)), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_add_policy(c, "not an oid"), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_add_policy(c, "1.2.3.4"), 0);
    assert_int_equal(pkie_cmp_ctx_set1_transactionID(c, big, 0), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set1_transactionID(c, big, 65), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set1_transactionID(c, big, 16), 0);
    assert_int_equal(pkie_cmp_ctx_set1_senderNonce(c, NULL, 16), PKIE_ERR_ARG);
    assert_int_equal(pkie_cmp_ctx_set1_senderNonce(c, big, 64), 0);
    pkie_cmp_ctx_free(c);
}

static void test_no_credentials(void **state)
{
    struct fx *f = *state;
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_CONFIG);
    assert_int_equal(f->r.n_msgs, 0);
    /* unprotected requests are allowed when asked for */
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_UNPROTECTED_SEND, 1);
    f->r.secret = NULL;
    X509_STORE *st = store_of(pki.root);
    pkie_cmp_ctx_set_trusted(f->ctx, st);
    X509_STORE_free(st);
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(f->r.last_prot_mac, -1);
}

static int big_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len, uint8_t **rsp,
                        size_t *rsp_len, void *arg)
{
    (void)ctx;
    (void)req;
    (void)req_len;
    (void)arg;
    *rsp_len = 4096;
    *rsp = calloc(1, *rsp_len);
    return 0;
}

static int n_hook;
static void hook(struct pkie_cmp_ctx *ctx, enum pkie_cmp_msg_dir dir, const uint8_t *der,
                 size_t len, void *arg)
{
    (void)ctx;
    (void)dir;
    (void)der;
    (void)len;
    (void)arg;
    n_hook++;
}

static void test_transport_bounds(void **state)
{
    struct fx *f = *state;
    use_mac(f);
    pkie_cmp_ctx_set_newkey(f->ctx, pki.new_key);
    pkie_cmp_ctx_set_msg_hook(f->ctx, hook, NULL);
    n_hook = 0;
    assert_non_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(n_hook, 4); /* ir, ip, certConf, pkiConf */
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_MAX_RESP_SIZE, 1024);
    pkie_cmp_ctx_set_transfer_cb(f->ctx, big_transfer, NULL);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_LIMIT);
    /* the HTTP transfer: no server, or nobody listening */
    pkie_cmp_ctx_set_transfer_cb(f->ctx, NULL, NULL);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CMP_CLIENT_CONFIG);
    pkie_cmp_ctx_set_server(f->ctx, "127.0.0.1:1");
    pkie_cmp_ctx_set_option(f->ctx, PKIE_CMP_OPT_MSG_TIMEOUT, 2);
    assert_null(pkie_cmp_exec_ir(f->ctx));
    assert_true(pkie_err_last()->code == PKIE_ERR_CMP_CLIENT_CONNECT ||
                pkie_err_last()->code == PKIE_ERR_TIMEOUT);
}

int main(void)
{
    pkie_log_set_level(PKIE_LOG_ERROR);
    tpki_init(&pki);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ir_mac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cr_sig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_srvcert_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kur, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signer_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_p10cr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_implicit_confirm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_polling_blocking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_try_certreq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_try_certreq_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_total_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unprotected_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signer_keyusage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certconf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rr_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rr_status_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rr_by_serial_and_csr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_genm_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_genm_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_genm_echo, setup, teardown),
        cmocka_unit_test(test_ctx_settings),
        cmocka_unit_test_setup_teardown(test_no_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_bounds, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tpki_free(&pki);
    return rc;
}
