/* `pkie cmp`: the CMP client command, with the option names and meanings of
 * `openssl cmp` (options in cmp_client_opts.h, setup in cmp_client_setup.c,
 * manual in docs/man/pkie-cmp.1). */
#include "cmp_client.h"
#include "cmp_client_opts.h"
#include "pkie/cmp.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/wipe.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define V(o) (r->opt->val[CMPC_##o])

static void report_failure(struct pkie_cmp_ctx *ctx, const char *what)
{
    char buf[1024];
    fprintf(stderr, "pkie cmp: %s failed: %s\n", what, pkie_err_format(buf, sizeof(buf)));
    if (pkie_cmp_ctx_get_status(ctx) != PKIE_CMP_STATUS_NONE)
        fprintf(stderr, "pkie cmp: server status: %s\n",
                pkie_cmp_ctx_snprint_status(ctx, buf, sizeof(buf)));
}

static int save_list(struct cmpc_run *r, const char *file, STACK_OF(X509) *sk, const char *what)
{
    if (file == NULL)
        return 0;
    /* as openssl cmp's save_free_certs: the file is written, empty when
     * there are no certificates */
    if (sk_X509_num(sk) <= 0)
        pkie_log_info("cmp", "no certificates for %s; '%s' is written empty", what, file);
    return cmpc_save_certs(file, sk, r->certder, what);
}

/* The centrally generated key: PEM PKCS#8, encrypted (AES-256-CBC) when -newkeypass is given,
 * into a file only the owner can read (0600, also when it existed). */
static int save_newkey(struct cmpc_run *r, const char *file, EVP_PKEY *key)
{
    char *pass = NULL;
    BIO *b = NULL;
    int rc = -1;
    if (key == NULL) {
        fprintf(stderr, "pkie cmp: -newkeyout: no centrally generated key was received\n");
        return -1;
    }
    if (V(newkeypass) != NULL && (pass = cmpc_get_pass(V(newkeypass), "-newkeypass")) == NULL)
        return -1;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        fprintf(stderr, "pkie cmp: -newkeyout: cannot write '%s': %s\n", file, strerror(errno));
        goto out;
    }
    if ((b = BIO_new_fd(fd, BIO_CLOSE)) == NULL)
        goto out;
    fd = -1;
    if (PEM_write_bio_PKCS8PrivateKey(b, key, pass != NULL ? EVP_aes_256_cbc() : NULL, NULL, 0,
                                      NULL, pass) != 1 ||
        BIO_flush(b) != 1) {
        fprintf(stderr, "pkie cmp: -newkeyout: cannot write '%s'\n", file);
        goto out;
    }
    pkie_log_info("cmp", "saved the centrally generated key to '%s'", file);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    BIO_free(b);
    pkie_wipe_free_str(pass);
    return rc;
}

/* openssl cmp's save_cert_or_delete: no certificate removes the file */
static int save_one(struct cmpc_run *r, const char *file, X509 *x, const char *what)
{
    if (file == NULL)
        return 0;
    if (x == NULL) {
        if (unlink(file) != 0 && errno != ENOENT) {
            fprintf(stderr, "pkie cmp: %s: cannot delete '%s': %s\n", what, file, strerror(errno));
            return -1;
        }
        return 0;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    int rc = sk != NULL && sk_X509_push(sk, x) ? cmpc_save_certs(file, sk, r->certder, what) : -1;
    sk_X509_free(sk);
    return rc;
}

/* -crlout in -crlform (DER by default); no CRL removes the file, as openssl
 * cmp's save_crl_or_delete */
static int save_crl(struct cmpc_run *r, const char *file, X509_CRL *crl)
{
    if (crl == NULL)
        return save_one(r, file, NULL, "-crlout");
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = -1;
    if (b != NULL && (r->crlpem ? PEM_write_bio_X509_CRL(b, crl) : i2d_X509_CRL_bio(b, crl)))
        n = BIO_get_mem_data(b, &p);
    int rc = n > 0 ? cmpc_save_bytes(file, (unsigned char *)p, (size_t)n, "-crlout") : -1;
    BIO_free(b);
    return rc;
}

static int print_itavs(const struct pkie_cmp_genm_itavs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        char name[128] = "";
        ASN1_OBJECT *o = OBJ_txt2obj(l->v[i].type, 1);
        if (o != NULL && OBJ_obj2nid(o) != NID_undef)
            snprintf(name, sizeof(name), " (%s)", OBJ_nid2sn(OBJ_obj2nid(o)));
        ASN1_OBJECT_free(o);
        printf("genp ITAV: infoType %s%s, infoValue %s", l->v[i].type, name,
               l->v[i].value != NULL ? "" : "absent");
        if (l->v[i].value != NULL)
            printf("%zu bytes", l->v[i].value_len);
        printf("\n");
    }
    if (l->n == 0)
        printf("genp: no ITAVs\n");
    return 0;
}

static const struct {
    const char *name;
    const char *oid;
} infotypes[] = {
    {"caCerts", PKIE_CMP_OID_IT_CA_CERTS},
    {"rootCaCert", PKIE_CMP_OID_IT_ROOT_CA_CERT},
    {"certReqTemplate", PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE},
    {"crlStatusList", PKIE_CMP_OID_IT_CRL_STATUS_LIST},
    {"signKeyPairTypes", PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES},
    {"encKeyPairTypes", PKIE_CMP_OID_IT_ENC_KEY_PAIR_TYPES},
    {"caProtEncCert", PKIE_CMP_OID_IT_CA_PROT_ENC_CERT},
    {"preferredSymmAlg", PKIE_CMP_OID_IT_PREFERRED_SYMM_ALG},
    {"currentCRL", PKIE_CMP_OID_IT_CURRENT_CRL},
};

static int do_genm(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    const char *it = V(infotype);
    int rc = -1;
    if (it != NULL && strcmp(it, "caCerts") == 0) {
        STACK_OF(X509) *certs = NULL;
        if (V(cacertsout) == NULL) {
            fprintf(stderr, "pkie cmp: Missing -cacertsout option for -infotype caCerts\n");
            return -1;
        }
        if (pkie_cmp_get1_caCerts(ctx, &certs) < 0) {
            report_failure(ctx, "genm caCerts");
            return -1;
        }
        printf("caCerts: %d certificate(s)\n", certs != NULL ? sk_X509_num(certs) : 0);
        rc = save_list(r, V(cacertsout), certs, "-cacertsout");
        sk_X509_pop_free(certs, X509_free);
        return rc;
    }
    if (it != NULL && strcmp(it, "rootCaCert") == 0) {
        X509 *old = NULL, *nn = NULL, *no = NULL, *on = NULL;
        if (V(newwithnew) == NULL) {
            fprintf(stderr, "pkie cmp: Missing -newwithnew option for -infotype rootCaCert\n");
            return -1;
        }
        if (V(oldwithold) != NULL &&
            (old = cmpc_load_cert(V(oldwithold), NULL, "-oldwithold")) == NULL)
            return -1;
        if (pkie_cmp_get1_rootCaCert(ctx, old, &nn, &no, &on) < 0) {
            report_failure(ctx, "genm rootCaCert");
        } else {
            printf("rootCaKeyUpdate: %s\n",
                   nn != NULL ? "new root CA certificate received" : "no update available");
            rc = 0;
            if (save_one(r, V(newwithnew), nn, "-newwithnew") < 0 ||
                save_one(r, V(newwithold), no, "-newwithold") < 0 ||
                save_one(r, V(oldwithnew), on, "-oldwithnew") < 0)
                rc = -1;
        }
        X509_free(old);
        X509_free(nn);
        X509_free(no);
        X509_free(on);
        return rc;
    }
    if (it != NULL && strcmp(it, "certReqTemplate") == 0) {
        uint8_t *t = NULL, *k = NULL;
        size_t tl = 0, kl = 0;
        if (V(template) == NULL) {
            fprintf(stderr, "pkie cmp: missing -template option for genm with infotype "
                            "certReqTemplate\n");
            return -1;
        }
        if (pkie_cmp_get1_certReqTemplate(ctx, &t, &tl, &k, &kl) < 0) {
            report_failure(ctx, "genm certReqTemplate");
            return -1;
        }
        printf("certReqTemplate: %s\n", t != NULL ? "received" : "none");
        rc = 0;
        if ((t != NULL && V(template) != NULL &&
             cmpc_save_bytes(V(template), t, tl, "-template") < 0) ||
            (k != NULL && V(keyspec) != NULL && cmpc_save_bytes(V(keyspec), k, kl, "-keyspec") < 0))
            rc = -1;
        OPENSSL_free(t);
        OPENSSL_free(k);
        return rc;
    }
    if (it != NULL && strcmp(it, "crlStatusList") == 0) {
        if (V(oldcrl) == NULL && V(crlcert) == NULL) {
            fprintf(stderr, "pkie cmp: Missing -oldcrl and no -crlcert given for -infotype "
                            "crlStatusList\n");
            return -1;
        }
        if (V(crlout) == NULL) {
            fprintf(stderr, "pkie cmp: Missing -crlout for -infotype crlStatusList\n");
            return -1;
        }
        X509 *c = NULL;
        X509_CRL *old = NULL, *crl = NULL;
        if ((V(crlcert) != NULL && (c = cmpc_load_cert(V(crlcert), NULL, "-crlcert")) == NULL) ||
            (V(oldcrl) != NULL && (old = cmpc_load_crl(V(oldcrl), "-oldcrl")) == NULL)) {
            X509_free(c);
            return -1;
        }
        if (c != NULL && old != NULL &&
            X509_NAME_cmp(X509_CRL_get_issuer(old), X509_get_issuer_name(c)) != 0)
            fprintf(stderr, "pkie cmp: warning: -oldcrl and -crlcert have different issuer\n");
        if (pkie_cmp_get1_crlUpdate(ctx, c, old, &crl) < 0) {
            report_failure(ctx, "genm crlStatusList");
        } else {
            printf("crls: %s\n", crl != NULL ? "new CRL received" : "no newer CRL");
            rc = save_crl(r, V(crlout), crl);
        }
        X509_free(c);
        X509_CRL_free(old);
        X509_CRL_free(crl);
        return rc;
    }
    if (it != NULL && strcmp(it, "signKeyPairTypes") == 0) {
        STACK_OF(X509_ALGOR) *algs = NULL;
        if (pkie_cmp_get1_signKeyPairTypes(ctx, &algs) < 0) {
            report_failure(ctx, "genm signKeyPairTypes");
            return -1;
        }
        printf("signKeyPairTypes: %d algorithm(s)\n", sk_X509_ALGOR_num(algs));
        for (int i = 0; i < sk_X509_ALGOR_num(algs); i++) {
            const ASN1_OBJECT *o;
            X509_ALGOR_get0(&o, NULL, NULL, sk_X509_ALGOR_value(algs, i));
            char txt[128];
            OBJ_obj2txt(txt, sizeof(txt), o, 0);
            printf("  %s\n", txt);
        }
        sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
        return 0;
    }
    pkie_cmp_ctx_clear_genm_itavs(ctx);
    if (it != NULL) {
        const char *oid = NULL;
        char dotted[128];
        for (size_t i = 0; i < sizeof(infotypes) / sizeof(infotypes[0]); i++)
            if (strcmp(it, infotypes[i].name) == 0)
                oid = infotypes[i].oid;
        if (oid == NULL) {
            ASN1_OBJECT *o = OBJ_txt2obj(it, 0);
            if (o == NULL) {
                ERR_clear_error();
                fprintf(stderr, "pkie cmp: -infotype '%s': unknown InfoType\n", it);
                return -1;
            }
            OBJ_obj2txt(dotted, sizeof(dotted), o, 1);
            ASN1_OBJECT_free(o);
            oid = dotted;
        }
        pkie_cmp_ctx_add_genm_itav(ctx, oid, NULL, 0);
    }
    struct pkie_cmp_genm_itavs *l = pkie_cmp_exec_genm(ctx);
    if (l == NULL) {
        report_failure(ctx, "genm");
        return -1;
    }
    print_itavs(l);
    pkie_cmp_genm_itavs_free(l);
    return 0;
}

/* -certout and -chainout; the same file for both gets the certificate
 * followed by its chain */
static int save_new_cert(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    STACK_OF(X509) *chain = pkie_cmp_ctx_get_new_chain(ctx);
    if (V(certout) != NULL && V(chainout) != NULL && strcmp(V(certout), V(chainout)) == 0) {
        STACK_OF(X509) *all = sk_X509_new_null();
        int ok = all != NULL && sk_X509_push(all, pkie_cmp_ctx_get_new_cert(ctx));
        for (int i = 0; ok && i < sk_X509_num(chain); i++)
            ok = sk_X509_push(all, sk_X509_value(chain, i));
        int rc = ok ? save_list(r, V(certout), all, "-certout and -chainout") : -1;
        sk_X509_free(all);
        return rc;
    }
    if (save_list(r, V(chainout), chain, "-chainout") < 0)
        return -1;
    return save_list(r, V(certout), pkie_cmp_ctx_get_new_certs(ctx), "-certout");
}

static int run_transaction(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    if (r->cmd == PKIE_CMP_BODY_GENM)
        return do_genm(r, ctx);
    if (r->cmd == PKIE_CMP_BODY_RR) {
        if (pkie_cmp_exec_revoke(ctx) < 0) {
            report_failure(ctx, "revocation");
            return -1;
        }
        char buf[512];
        pkie_log_info("cmp", "revocation: %s", pkie_cmp_ctx_snprint_status(ctx, buf, sizeof(buf)));
        return 0;
    }
    X509 *cert;
    switch (r->cmd) {
    case PKIE_CMP_IR:
        cert = pkie_cmp_exec_ir(ctx);
        break;
    case PKIE_CMP_CR:
        cert = pkie_cmp_exec_cr(ctx);
        break;
    case PKIE_CMP_P10CR:
        cert = pkie_cmp_exec_p10cr(ctx);
        break;
    default:
        cert = pkie_cmp_exec_kur(ctx);
        break;
    }
    if (cert == NULL) {
        if (!r->reqout_only_done)
            report_failure(ctx, V(cmd));
        return -1;
    }
    char subj[256];
    X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
    pkie_log_info("cmp", "received certificate %s", subj);
    if (save_new_cert(r, ctx) < 0 ||
        save_list(r, V(cacertsout), pkie_cmp_ctx_get_capubs(ctx), "-cacertsout") < 0)
        return -1;
    if (r->ckg && save_newkey(r, V(newkeyout), pkie_cmp_ctx_get0_new_pkey(ctx)) < 0)
        return -1;
    if (V(chainout) != NULL && pkie_cmp_ctx_get_new_chain(ctx) == NULL)
        pkie_log_warn("cmp", "could not build the chain of the new certificate for -chainout");
    return 0;
}

static int run_once(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    int rc = run_transaction(r, ctx);
    if (r->reqout_only_done) {
        pkie_err_clear();
        return 0; /* -reqout_only: the request is saved */
    }
    if (rc < 0 && pkie_cmp_ctx_get_status(ctx) == PKIE_CMP_STATUS_NONE)
        return -1; /* no response: nothing to save */
    /* as openssl cmp: the validated server certificate and the extraCerts
     * also after a negative response */
    if (save_one(r, V(srvcertout), pkie_cmp_ctx_get_validated_srvcert(ctx), "-srvcertout") < 0)
        return -1;
    if (rc < 0)
        return -1;
    return save_list(r, V(extracertsout), pkie_cmp_ctx_get_extracerts_in(ctx), "-extracertsout");
}

#if defined(__SANITIZE_ADDRESS__)
#define CMPC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CMPC_ASAN 1
#endif
#endif

/* `pkie cmp` is a one-shot process: OpenSSL's clean-up at exit (freeing
 * every provider, method store and name map, about 1.3M instructions) buys
 * nothing when the process ends anyway, so libcrypto is told not to
 * register it (this must be its first initialisation). It stays in the
 * AddressSanitizer build (LeakSanitizer then checks a clean exit) and with
 * PKIE_OPENSSL_CLEANUP=1 in the environment (for valgrind --leak-check);
 * docs/dependencies.md, start-up. */
static void one_shot_init(void)
{
#ifndef CMPC_ASAN
    const char *e = getenv("PKIE_OPENSSL_CLEANUP");
    if (e == NULL || e[0] == '\0' || strcmp(e, "0") == 0)
        OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
#endif
}

int pkie_cmp_client_main(int argc, char **argv)
{
    struct cmpc_opts opts;
    struct cmpc_run run;
    struct pkie_cmp_ctx *ctx = NULL;
    int status = 1;
    memset(&run, 0, sizeof(run));
    one_shot_init();
    int prc = cmpc_opts_parse(&opts, argc - 1, argv + 1);
    if (prc != 0) {
        cmpc_opts_free(&opts);
        return prc > 0 ? 0 : 1;
    }
    run.opt = &opts;
    if ((ctx = pkie_cmp_ctx_new()) == NULL) {
        fprintf(stderr, "pkie cmp: out of memory\n");
        goto out;
    }
    if (cmpc_setup(&run, ctx) < 0)
        goto out;
    long repeat = cmpc_opt_int(&opts, CMPC_repeat, 1);
    status = 0;
    for (long i = 0; i < repeat && status == 0; i++)
        if (run_once(&run, ctx) < 0)
            status = 1;
    if (opts.val[CMPC_writerand] != NULL && RAND_write_file(opts.val[CMPC_writerand]) < 0) {
        fprintf(stderr, "pkie cmp: -writerand: cannot write '%s'\n", opts.val[CMPC_writerand]);
        status = 1;
    }
out:
    pkie_cmp_ctx_free(ctx);
    free(run.reqin.copy);
    free(run.reqout.copy);
    free(run.rspin.copy);
    free(run.rspout.copy);
    cmpc_opts_free(&opts);
    return status;
}
