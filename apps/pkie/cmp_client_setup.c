/* `pkie cmp`: building the client context from openssl cmp's options. */
#include "cmp_client.h"
#include "cmp_client_opts.h"
#include "pkie/cmp.h"
#include "pkie/error.h"
#include "pkie/log.h"
#include "pkie/wipe.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V(o) (opt->val[CMPC_##o])

static int files_split(struct cmpc_files *f, const char *list, const char *what)
{
    memset(f, 0, sizeof(*f));
    if (list == NULL)
        return 0;
    if ((f->copy = strdup(list)) == NULL)
        return -1;
    char *save = NULL;
    for (char *s = strtok_r(f->copy, ", ", &save); s != NULL; s = strtok_r(NULL, ", ", &save)) {
        if (f->n == 64) {
            fprintf(stderr, "pkie cmp: -%s: more than 64 files\n", what);
            return -1;
        }
        f->names[f->n++] = s;
    }
    return 0;
}

static void msg_hook(struct pkie_cmp_ctx *ctx, enum pkie_cmp_msg_dir dir, const uint8_t *der,
                     size_t len, void *arg)
{
    (void)ctx;
    struct cmpc_run *r = arg;
    struct cmpc_files *f = dir == PKIE_CMP_MSG_SENT ? &r->reqout : &r->rspout;
    if (f->next < f->n)
        cmpc_save_bytes(f->names[f->next++], der, len,
                        dir == PKIE_CMP_MSG_SENT ? "-reqout" : "-rspout");
}

/* -rspin: answers from files instead of the server (the server when the files
 * run out and -server is given); -reqin: send the requests read from files. */
static int file_transfer(struct pkie_cmp_ctx *ctx, const uint8_t *req, size_t req_len,
                         uint8_t **rsp, size_t *rsp_len, void *arg)
{
    struct cmpc_run *r = arg;
    uint8_t *alt = NULL;
    size_t alt_len = 0;
    if (r->reqin.next < r->reqin.n) {
        alt = cmpc_read_file(r->reqin.names[r->reqin.next++], 1u << 20, &alt_len, "-reqin");
        if (alt == NULL)
            return PKIE_ERR(PKIE_ERR_IO, "-reqin file");
        req = alt;
        req_len = alt_len;
        /* the answer will belong to the request read, not to ours */
        struct pkie_cmp_msg *m = NULL;
        if (pkie_cmp_msg_decode(req, req_len, NULL, &m) == 0) {
            if (m->header.transactionID.p != NULL)
                pkie_cmp_ctx_set1_transactionID(ctx, m->header.transactionID.p,
                                                m->header.transactionID.len);
            if (m->header.senderNonce.p != NULL)
                pkie_cmp_ctx_set1_senderNonce(ctx, m->header.senderNonce.p,
                                              m->header.senderNonce.len);
        }
        pkie_cmp_msg_free(m);
    }
    int rc;
    if (r->rspin.next < r->rspin.n) {
        *rsp = cmpc_read_file(r->rspin.names[r->rspin.next++], 1u << 20, rsp_len, "-rspin");
        rc = *rsp != NULL ? 0 : PKIE_ERR(PKIE_ERR_IO, "-rspin file");
        /* as openssl cmp: the transaction takes the response's transactionID
         * and nonce, so that a captured exchange replays (the protection is
         * still checked) */
        struct pkie_cmp_msg *m = NULL;
        if (rc == 0 && pkie_cmp_msg_decode(*rsp, *rsp_len, NULL, &m) == 0) {
            if (m->header.transactionID.p != NULL)
                pkie_cmp_ctx_set1_transactionID(ctx, m->header.transactionID.p,
                                                m->header.transactionID.len);
            if (m->header.recipNonce.p != NULL)
                pkie_cmp_ctx_set1_senderNonce(ctx, m->header.recipNonce.p,
                                              m->header.recipNonce.len);
        }
        pkie_cmp_msg_free(m);
    } else if (r->opt->val[CMPC_server] != NULL) {
        rc = pkie_cmp_http_transfer(ctx, req, req_len, rsp, rsp_len, NULL);
    } else {
        rc = PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "-rspin files exhausted and no -server");
    }
    free(alt);
    return rc;
}

static int fail_err(const char *what)
{
    char buf[1024];
    fprintf(stderr, "pkie cmp: %s: %s\n", what, pkie_err_format(buf, sizeof(buf)));
    return -1;
}

static int set_pass_secret(struct pkie_cmp_ctx *ctx, const char *src)
{
    char *s = cmpc_get_pass(src, "-secret");
    if (s == NULL)
        return -1;
    int rc = pkie_cmp_ctx_set_secret(ctx, (const uint8_t *)s, strlen(s));
    pkie_wipe_free_str(s);
    return rc < 0 ? fail_err("-secret") : 0;
}

static int add_sans(struct pkie_cmp_ctx *ctx, const char *list)
{
    char *copy = strdup(list);
    int rc = copy != NULL ? 0 : -1;
    char *save = NULL;
    for (char *s = strtok_r(copy, ", ", &save); rc == 0 && s != NULL;
         s = strtok_r(NULL, ", ", &save)) {
        if (strcmp(s, "critical") == 0) {
            pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_SUBJECTALTNAME_CRITICAL, 1);
            continue;
        }
        GENERAL_NAME *gn = NULL;
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
        if (ip != NULL) {
            gn = GENERAL_NAME_new();
            if (gn != NULL)
                GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
            else
                ASN1_OCTET_STRING_free(ip);
        } else {
            ERR_clear_error();
            int type = strstr(s, "://") != NULL ? GEN_URI
                       : strchr(s, '@') != NULL ? GEN_EMAIL
                                                : GEN_DNS;
            gn = a2i_GENERAL_NAME(NULL, NULL, NULL, type, s, 0);
        }
        if (gn == NULL || pkie_cmp_ctx_add_san(ctx, gn) < 0) {
            fprintf(stderr, "pkie cmp: -sans: bad name '%s'\n", s);
            rc = -1;
        }
        GENERAL_NAME_free(gn);
    }
    free(copy);
    return rc;
}

static int add_exts_from_section(struct pkie_cmp_ctx *ctx, CONF *conf, const char *section,
                                 int policies, const char *what)
{
    if (conf == NULL) {
        fprintf(stderr, "pkie cmp: %s '%s' needs a configuration file (-config)\n", what, section);
        return -1;
    }
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
    X509V3_set_nconf(&v3, conf);
    STACK_OF(X509_EXTENSION) *exts = NULL;
    int ok;
    if (policies) {
        char val[300];
        snprintf(val, sizeof(val), "@%s", section);
        X509_EXTENSION *e = X509V3_EXT_nconf_nid(conf, &v3, NID_certificate_policies, val);
        ok = e != NULL && X509v3_add_ext(&exts, e, -1) != NULL;
        X509_EXTENSION_free(e);
    } else {
        ok = X509V3_EXT_add_nconf_sk(conf, &v3, section, &exts);
    }
    for (int i = 0; ok && i < sk_X509_EXTENSION_num(exts); i++)
        ok = pkie_cmp_ctx_add_reqext(ctx, sk_X509_EXTENSION_value(exts, i)) == 0;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (!ok) {
        fprintf(stderr, "pkie cmp: %s: cannot load extensions from section [%s]\n", what, section);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static int add_geninfo(struct pkie_cmp_ctx *ctx, const char *spec)
{
    /* <OID>:int:<n> */
    char oid[128];
    const char *c = strchr(spec, ':');
    if (c == NULL || (size_t)(c - spec) >= sizeof(oid) || strncmp(c, ":int:", 5) != 0) {
        fprintf(stderr, "pkie cmp: -geninfo '%s': expected <OID>:int:<n>\n", spec);
        return -1;
    }
    memcpy(oid, spec, (size_t)(c - spec));
    oid[c - spec] = '\0';
    char *end;
    long v = strtol(c + 5, &end, 10);
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 0);
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    int n = -1;
    if (obj != NULL && ai != NULL && *end == '\0' && end != c + 5 && ASN1_INTEGER_set(ai, v))
        n = i2d_ASN1_INTEGER(ai, &der);
    char dotted[128];
    if (obj != NULL)
        OBJ_obj2txt(dotted, sizeof(dotted), obj, 1);
    int rc = n > 0 ? pkie_cmp_ctx_add_geninfo(ctx, dotted, der, (size_t)n) : -1;
    ASN1_OBJECT_free(obj);
    ASN1_INTEGER_free(ai);
    OPENSSL_free(der);
    if (rc < 0) {
        ERR_clear_error();
        fprintf(stderr, "pkie cmp: -geninfo '%s': bad OID or integer\n", spec);
        return -1;
    }
    return 0;
}

static const struct {
    const char *name;
    int flag;
} vflags[] = {
    {"ignore_critical", X509_V_FLAG_IGNORE_CRITICAL},
    {"crl_check", X509_V_FLAG_CRL_CHECK},
    {"crl_check_all", X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL},
    {"policy_check", X509_V_FLAG_POLICY_CHECK},
    {"explicit_policy", X509_V_FLAG_EXPLICIT_POLICY},
    {"inhibit_any", X509_V_FLAG_INHIBIT_ANY},
    {"inhibit_map", X509_V_FLAG_INHIBIT_MAP},
    {"x509_strict", X509_V_FLAG_X509_STRICT},
    {"extended_crl", X509_V_FLAG_EXTENDED_CRL_SUPPORT},
    {"use_deltas", X509_V_FLAG_USE_DELTAS},
    {"policy_print", X509_V_FLAG_NOTIFY_POLICY},
    {"check_ss_sig", X509_V_FLAG_CHECK_SS_SIGNATURE},
    {"trusted_first", X509_V_FLAG_TRUSTED_FIRST},
    {"suiteB_128_only", X509_V_FLAG_SUITEB_128_LOS_ONLY},
    {"suiteB_128", X509_V_FLAG_SUITEB_128_LOS},
    {"suiteB_192", X509_V_FLAG_SUITEB_192_LOS},
    {"partial_chain", X509_V_FLAG_PARTIAL_CHAIN},
    {"no_alt_chains", X509_V_FLAG_NO_ALT_CHAINS},
    {"no_check_time", X509_V_FLAG_NO_CHECK_TIME},
    {"allow_proxy_certs", X509_V_FLAG_ALLOW_PROXY_CERTS},
    {"issuer_checks", 0},
};

/* Verification options applied to a trust store. */
static int apply_vparams(const struct cmpc_opts *opt, X509_STORE *st)
{
    X509_VERIFY_PARAM *vp = X509_STORE_get0_param(st);
    for (size_t i = 0; i < sizeof(vflags) / sizeof(vflags[0]); i++)
        for (int k = 0; k < CMPC_N_OPTS; k++)
            if (opt->val[k] != NULL && strcmp(cmpc_opt_name(k), vflags[i].name) == 0 &&
                vflags[i].flag != 0)
                X509_VERIFY_PARAM_set_flags(vp, (unsigned long)vflags[i].flag);
    if (V(verify_depth) != NULL)
        X509_VERIFY_PARAM_set_depth(vp, atoi(V(verify_depth)));
    if (V(auth_level) != NULL)
        X509_VERIFY_PARAM_set_auth_level(vp, atoi(V(auth_level)));
    if (V(attime) != NULL)
        X509_VERIFY_PARAM_set_time(vp, (time_t)strtoll(V(attime), NULL, 10));
    if (V(purpose) != NULL) {
        int idx = X509_PURPOSE_get_by_sname(V(purpose));
        if (idx < 0 ||
            !X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_get_id(X509_PURPOSE_get0(idx)))) {
            fprintf(stderr, "pkie cmp: -purpose: unknown purpose '%s'\n", V(purpose));
            return -1;
        }
    }
    if (V(verify_name) != NULL) {
        const X509_VERIFY_PARAM *named = X509_VERIFY_PARAM_lookup(V(verify_name));
        if (named == NULL || !X509_VERIFY_PARAM_inherit(vp, named)) {
            fprintf(stderr, "pkie cmp: -verify_name: unknown '%s'\n", V(verify_name));
            return -1;
        }
    }
    if (V(policy) != NULL) {
        ASN1_OBJECT *o = OBJ_txt2obj(V(policy), 0);
        if (o == NULL || !X509_VERIFY_PARAM_add0_policy(vp, o)) {
            ASN1_OBJECT_free(o);
            fprintf(stderr, "pkie cmp: -policy: bad OID '%s'\n", V(policy));
            return -1;
        }
    }
    if ((V(verify_hostname) != NULL && !X509_VERIFY_PARAM_set1_host(vp, V(verify_hostname), 0)) ||
        (V(verify_email) != NULL && !X509_VERIFY_PARAM_set1_email(vp, V(verify_email), 0)) ||
        (V(verify_ip) != NULL && !X509_VERIFY_PARAM_set1_ip_asc(vp, V(verify_ip)))) {
        fprintf(stderr, "pkie cmp: bad -verify_hostname, -verify_email or -verify_ip\n");
        return -1;
    }
    return 0;
}

/* Build the context from the options. Returns 0 or -1 (error printed). */
int cmpc_setup(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    struct cmpc_opts *opt = r->opt;
    char *keypass = NULL, *newkeypass = NULL, *tlspass = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *sk = NULL;
    X509_NAME *name = NULL;
    X509_STORE *st = NULL;
    int rc = -1;

    /* ---- what to do, and whether the options fit together ---- */
    const char *cmd = V(cmd);
    if (cmd == NULL) {
        fprintf(stderr, "pkie cmp: missing -cmd (ir, cr, kur, p10cr, rr or genm)\n");
        return -1;
    }
    static const struct {
        const char *name;
        int type;
    } cmds[] = {{"ir", PKIE_CMP_IR},   {"cr", PKIE_CMP_CR},      {"p10cr", PKIE_CMP_P10CR},
                {"kur", PKIE_CMP_KUR}, {"rr", PKIE_CMP_BODY_RR}, {"genm", PKIE_CMP_BODY_GENM}};
    r->cmd = -1;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            r->cmd = cmds[i].type;
    if (r->cmd < 0) {
        fprintf(stderr, "pkie cmp: -cmd '%s': unknown (ir, cr, kur, p10cr, rr or genm)\n", cmd);
        return -1;
    }
    if (V(server) == NULL && V(rspin) == NULL) {
        fprintf(stderr, "pkie cmp: missing -server (or -rspin)\n");
        return -1;
    }
    if (V(cert) != NULL && V(key) == NULL && V(secret) == NULL) {
        fprintf(stderr, "pkie cmp: -cert given without -key\n");
        return -1;
    }
    if (V(key) != NULL && V(cert) == NULL && V(secret) == NULL) {
        fprintf(stderr, "pkie cmp: -key given without -cert\n");
        return -1;
    }
    if (V(secret) == NULL && V(cert) == NULL && V(unprotected_requests) == NULL) {
        fprintf(stderr, "pkie cmp: missing -secret, or -cert and -key, or -unprotected_requests "
                        "for protecting requests\n");
        return -1;
    }
    if (V(secret) != NULL && V(ref) == NULL && V(cert) == NULL && V(subject) == NULL &&
        V(oldcert) == NULL) {
        fprintf(stderr, "pkie cmp: -secret needs -ref (or -cert, -subject or -oldcert as "
                        "sender)\n");
        return -1;
    }
    if (r->cmd == PKIE_CMP_P10CR && V(csr) == NULL) {
        fprintf(stderr, "pkie cmp: -cmd p10cr needs -csr\n");
        return -1;
    }
    if (r->cmd == PKIE_CMP_BODY_RR && V(oldcert) == NULL) {
        fprintf(stderr, "pkie cmp: -cmd rr needs -oldcert (the certificate to revoke)\n");
        return -1;
    }
    if (V(centralkeygen) != NULL) {
        if (r->cmd != PKIE_CMP_IR && r->cmd != PKIE_CMP_CR && r->cmd != PKIE_CMP_KUR) {
            fprintf(stderr, "pkie cmp: -centralkeygen applies to -cmd ir, cr and kur\n");
            return -1;
        }
        if (V(newkeyout) == NULL) {
            fprintf(stderr, "pkie cmp: -newkeyout not given, nowhere to save centrally generated "
                            "key\n");
            return -1;
        }
        if (cmpc_opt_int(opt, CMPC_popo, PKIE_CMP_POPO_NONE) > PKIE_CMP_POPO_NONE) {
            fprintf(stderr, "pkie cmp: -popo %ld is inconsistent with -centralkeygen\n",
                    cmpc_opt_int(opt, CMPC_popo, 0));
            return -1;
        }
    } else if (V(newkeyout) != NULL) {
        fprintf(stderr, "pkie cmp: -newkeyout needs -centralkeygen\n");
        return -1;
    }
    if ((r->cmd == PKIE_CMP_IR || r->cmd == PKIE_CMP_CR) && V(newkey) == NULL && V(key) == NULL &&
        V(csr) == NULL && V(centralkeygen) == NULL) {
        fprintf(stderr, "pkie cmp: -cmd %s needs -newkey (or -key or -csr)\n", cmd);
        return -1;
    }
    if (r->cmd == PKIE_CMP_KUR && V(oldcert) == NULL && V(cert) == NULL) {
        fprintf(stderr, "pkie cmp: -cmd kur needs -oldcert or -cert\n");
        return -1;
    }
    if (r->cmd == PKIE_CMP_KUR && V(newkey) == NULL && V(key) == NULL && V(centralkeygen) == NULL) {
        fprintf(stderr, "pkie cmp: -cmd kur needs -newkey\n");
        return -1;
    }
    if (r->cmd == PKIE_CMP_BODY_GENM && V(infotype) == NULL && V(oldwithold) != NULL) {
        fprintf(stderr, "pkie cmp: -oldwithold needs -infotype rootCaCert\n");
        return -1;
    }
    long v = cmpc_opt_int(opt, CMPC_verbosity, 6);
    if (v > 8) {
        fprintf(stderr, "pkie cmp: -verbosity %ld: out of range 0..8\n", v);
        return -1;
    }
    pkie_log_set_level(v <= 3   ? PKIE_LOG_ERROR
                       : v <= 5 ? PKIE_LOG_WARN
                       : v == 6 ? PKIE_LOG_INFO
                       : v == 7 ? PKIE_LOG_DEBUG
                                : PKIE_LOG_TRACE);
    if (V(keep_alive) != NULL && cmpc_opt_int(opt, CMPC_keep_alive, 1) > 2) {
        fprintf(stderr, "pkie cmp: -keep_alive: 0, 1 or 2\n");
        return -1;
    }
    long popo = cmpc_opt_int(opt, CMPC_popo, PKIE_CMP_POPO_SIGNATURE);
    if (popo < -1 || popo > 2) {
        fprintf(stderr, "pkie cmp: -popo %ld: out of range -1..2\n", popo);
        return -1;
    }
    long reason = cmpc_opt_int(opt, CMPC_revreason, -1);
    if (reason < -1 || reason > 10 || reason == 7) {
        fprintf(stderr, "pkie cmp: -revreason %ld: must be 0..6, 8..10 or -1\n", reason);
        return -1;
    }
    if (V(certform) != NULL) {
        if (strcasecmp(V(certform), "DER") == 0)
            r->certder = 1;
        else if (strcasecmp(V(certform), "PEM") != 0) {
            fprintf(stderr, "pkie cmp: -certform '%s': PEM or DER\n", V(certform));
            return -1;
        }
    }
    if (V(keyform) != NULL && strcasecmp(V(keyform), "ENGINE") == 0) {
        fprintf(stderr, "pkie cmp: -keyform ENGINE is not supported\n");
        return -1;
    }
    if (V(trusted) != NULL && V(srvcert) != NULL)
        fprintf(stderr, "pkie cmp: warning: -trusted is ignored for responses since -srvcert is "
                        "given\n");

    /* ---- transport ---- */
    if (V(server) != NULL && pkie_cmp_ctx_set_server(ctx, V(server)) < 0)
        return fail_err("-server");
    if (V(path) != NULL && pkie_cmp_ctx_set_path(ctx, V(path)) < 0)
        return fail_err("-path");
    if (V(proxy) != NULL && pkie_cmp_ctx_set_proxy(ctx, V(proxy)) < 0)
        return fail_err("-proxy");
    if (V(no_proxy) != NULL && pkie_cmp_ctx_set_no_proxy(ctx, V(no_proxy)) < 0)
        return fail_err("-no_proxy");
    struct {
        enum cmpc_opt o;
        enum pkie_cmp_option c;
    } ints[] = {{CMPC_keep_alive, PKIE_CMP_OPT_KEEP_ALIVE},
                {CMPC_msg_timeout, PKIE_CMP_OPT_MSG_TIMEOUT},
                {CMPC_total_timeout, PKIE_CMP_OPT_TOTAL_TIMEOUT},
                {CMPC_max_resp_size, PKIE_CMP_OPT_MAX_RESP_SIZE},
                {CMPC_days, PKIE_CMP_OPT_VALIDITY_DAYS},
                {CMPC_popo, PKIE_CMP_OPT_POPO_METHOD},
                {CMPC_revreason, PKIE_CMP_OPT_REVOCATION_REASON}};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (opt->val[ints[i].o] != NULL &&
            pkie_cmp_ctx_set_option(ctx, ints[i].c, (int)cmpc_opt_int(opt, ints[i].o, 0)) < 0)
            return fail_err(cmpc_opt_name(ints[i].o));
    struct {
        enum cmpc_opt o;
        enum pkie_cmp_option c;
    } flags[] = {{CMPC_implicit_confirm, PKIE_CMP_OPT_IMPLICIT_CONFIRM},
                 {CMPC_disable_confirm, PKIE_CMP_OPT_DISABLE_CONFIRM},
                 {CMPC_unprotected_errors, PKIE_CMP_OPT_UNPROTECTED_ERRORS},
                 {CMPC_unprotected_requests, PKIE_CMP_OPT_UNPROTECTED_SEND},
                 {CMPC_san_nodefault, PKIE_CMP_OPT_SUBJECTALTNAME_NODEFAULT},
                 {CMPC_policy_oids_critical, PKIE_CMP_OPT_POLICIES_CRITICAL},
                 {CMPC_ignore_keyusage, PKIE_CMP_OPT_IGNORE_KEYUSAGE},
                 {CMPC_pbmac1, PKIE_CMP_OPT_PBMAC1},
                 {CMPC_tls_used, PKIE_CMP_OPT_TLS_USED}};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (opt->val[flags[i].o] != NULL)
            pkie_cmp_ctx_set_option(ctx, flags[i].c, 1);
    if (V(centralkeygen) != NULL)
        pkie_cmp_ctx_set_central_keygen(ctx, 1);
    if (V(tls_keypass) != NULL && (tlspass = cmpc_get_pass(V(tls_keypass), "-tls_keypass")) == NULL)
        goto out;
    if ((V(tls_trusted) != NULL || V(tls_host) != NULL) &&
        pkie_cmp_ctx_set_tls_trusted(ctx, V(tls_trusted), V(tls_host)) < 0) {
        fail_err("-tls_trusted");
        goto out;
    }
    if ((V(tls_cert) != NULL || V(tls_key) != NULL) &&
        pkie_cmp_ctx_set_tls_client(ctx, V(tls_cert), V(tls_key), tlspass) < 0) {
        fail_err("-tls_cert");
        goto out;
    }
    if (V(tls_extra) != NULL) {
        if (V(tls_cert) == NULL) {
            fprintf(stderr, "pkie cmp: -tls_extra needs -tls_cert\n");
            goto out;
        }
        STACK_OF(X509) *extra = cmpc_load_certs(V(tls_extra), NULL, "-tls_extra");
        if (extra == NULL)
            goto out;
        int erc = 0;
        for (int i = 0; i < sk_X509_num(extra) && erc == 0; i++)
            erc = pkie_cmp_ctx_add_tls_extra(ctx, sk_X509_value(extra, i));
        sk_X509_pop_free(extra, X509_free);
        if (erc < 0) {
            fail_err("-tls_extra");
            goto out;
        }
    }
    if (V(digest) != NULL) {
        const EVP_MD *md = EVP_get_digestbyname(V(digest));
        if (md == NULL ||
            pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_DIGEST, EVP_MD_get_type(md)) < 0) {
            fprintf(stderr, "pkie cmp: -digest '%s': unknown digest\n", V(digest));
            goto out;
        }
    }
    if (V(mac) != NULL) {
        static const struct {
            const char *name;
            int nid;
        } macs[] = {{"hmac-sha1", NID_hmac_sha1},
                    {"hmac-sha224", NID_hmacWithSHA224},
                    {"hmac-sha256", NID_hmacWithSHA256},
                    {"hmac-sha384", NID_hmacWithSHA384},
                    {"hmac-sha512", NID_hmacWithSHA512}};
        int nid = NID_undef;
        for (size_t i = 0; i < sizeof(macs) / sizeof(macs[0]); i++)
            if (strcasecmp(V(mac), macs[i].name) == 0)
                nid = macs[i].nid;
        if (nid == NID_undef)
            nid = OBJ_txt2nid(V(mac));
        if (nid == NID_undef || pkie_cmp_ctx_set_option(ctx, PKIE_CMP_OPT_MAC, nid) < 0) {
            fprintf(stderr, "pkie cmp: -mac '%s': unknown MAC algorithm\n", V(mac));
            goto out;
        }
    }

    /* ---- credentials ---- */
    if (V(keypass) != NULL && (keypass = cmpc_get_pass(V(keypass), "-keypass")) == NULL)
        goto out;
    if (V(newkeypass) != NULL && (newkeypass = cmpc_get_pass(V(newkeypass), "-newkeypass")) == NULL)
        goto out;
    if (V(ref) != NULL && pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)V(ref), strlen(V(ref))) < 0) {
        fail_err("-ref");
        goto out;
    }
    if (V(secret) != NULL && set_pass_secret(ctx, V(secret)) < 0)
        goto out;
    if (V(cert) != NULL) {
        /* the first certificate is ours, the others are untrusted chain material */
        if ((sk = cmpc_load_certs(V(cert), keypass, "-cert")) == NULL)
            goto out;
        cert = sk_X509_shift(sk);
        if (pkie_cmp_ctx_set_cert(ctx, cert) < 0) {
            fail_err("-cert");
            goto out;
        }
        for (int i = 0; i < sk_X509_num(sk); i++)
            pkie_cmp_ctx_add_untrusted(ctx, sk_X509_value(sk, i));
        sk_X509_pop_free(sk, X509_free);
        sk = NULL;
    }
    if (V(key) != NULL) {
        if ((key = cmpc_load_key(V(key), keypass, 0, "-key")) == NULL)
            goto out;
        if (cert != NULL && X509_check_private_key(cert, key) != 1) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: -key does not match the public key of -cert\n");
            goto out;
        }
        pkie_cmp_ctx_set_key(ctx, key);
    }
    if (V(own_trusted) != NULL && cert != NULL) {
        if ((st = cmpc_load_store(V(own_trusted), "-own_trusted")) == NULL)
            goto out;
        X509_STORE_CTX *vc = X509_STORE_CTX_new();
        int ok = vc != NULL && X509_STORE_CTX_init(vc, st, cert, NULL) && X509_verify_cert(vc) == 1;
        X509_STORE_CTX_free(vc);
        X509_STORE_free(st);
        st = NULL;
        if (!ok) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: -cert does not verify with -own_trusted\n");
            goto out;
        }
    }
    if (V(extracerts) != NULL) {
        if ((sk = cmpc_load_certs(V(extracerts), NULL, "-extracerts")) == NULL)
            goto out;
        for (int i = 0; i < sk_X509_num(sk); i++)
            pkie_cmp_ctx_add_extracert(ctx, sk_X509_value(sk, i));
        sk_X509_pop_free(sk, X509_free);
        sk = NULL;
    }

    /* ---- server authentication ---- */
    if (V(trusted) != NULL) {
        if ((st = cmpc_load_store(V(trusted), "-trusted")) == NULL || apply_vparams(opt, st) < 0)
            goto out;
        pkie_cmp_ctx_set_trusted(ctx, st);
        X509_STORE_free(st);
        st = NULL;
    }
    if (V(out_trusted) != NULL) {
        if ((st = cmpc_load_store(V(out_trusted), "-out_trusted")) == NULL ||
            apply_vparams(opt, st) < 0)
            goto out;
        pkie_cmp_ctx_set_out_trusted(ctx, st);
        pkie_cmp_ctx_set_certconf_cb(ctx, pkie_cmp_certconf_cb, NULL);
        X509_STORE_free(st);
        st = NULL;
    }
    if (V(untrusted) != NULL) {
        if ((sk = cmpc_load_certs(V(untrusted), NULL, "-untrusted")) == NULL)
            goto out;
        for (int i = 0; i < sk_X509_num(sk); i++)
            pkie_cmp_ctx_add_untrusted(ctx, sk_X509_value(sk, i));
        sk_X509_pop_free(sk, X509_free);
        sk = NULL;
    }
    if (V(srvcert) != NULL) {
        X509 *sc = cmpc_load_cert(V(srvcert), NULL, "-srvcert");
        if (sc == NULL)
            goto out;
        pkie_cmp_ctx_set_srvcert(ctx, sc);
        X509_free(sc);
    }
    static const struct {
        enum cmpc_opt o;
        int (*set)(struct pkie_cmp_ctx *, const X509_NAME *);
    } names[] = {{CMPC_expect_sender, pkie_cmp_ctx_set_expected_sender},
                 {CMPC_recipient, pkie_cmp_ctx_set_recipient},
                 {CMPC_subject, pkie_cmp_ctx_set_subject},
                 {CMPC_issuer, pkie_cmp_ctx_set_issuer}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *t = opt->val[names[i].o];
        if (t == NULL)
            continue;
        char what[40];
        snprintf(what, sizeof(what), "-%s", cmpc_opt_name(names[i].o));
        if ((name = cmpc_parse_name(t, what)) == NULL)
            goto out;
        names[i].set(ctx, name);
        X509_NAME_free(name);
        name = NULL;
    }

    /* ---- what to request ---- */
    if (V(newkey) != NULL) {
        EVP_PKEY *nk = cmpc_load_key(V(newkey), newkeypass, 1, "-newkey");
        if (nk == NULL)
            goto out;
        pkie_cmp_ctx_set_newkey(ctx, nk);
        EVP_PKEY_free(nk);
    }
    if (V(csr) != NULL) {
        X509_REQ *csr = cmpc_load_csr(V(csr), "-csr");
        if (csr == NULL)
            goto out;
        pkie_cmp_ctx_set_p10csr(ctx, csr);
        X509_REQ_free(csr);
    }
    if (V(oldcert) != NULL) {
        X509 *oc = cmpc_load_cert(V(oldcert), keypass, "-oldcert");
        if (oc == NULL)
            goto out;
        pkie_cmp_ctx_set_oldcert(ctx, oc);
        X509_free(oc);
    }
    if (V(sans) != NULL && add_sans(ctx, V(sans)) < 0)
        goto out;
    if (V(reqexts) != NULL && add_exts_from_section(ctx, opt->conf, V(reqexts), 0, "-reqexts") < 0)
        goto out;
    if (V(policies) != NULL &&
        add_exts_from_section(ctx, opt->conf, V(policies), 1, "-policies") < 0)
        goto out;
    if (V(policy_oids) != NULL) {
        if (V(policies) != NULL) {
            fprintf(stderr, "pkie cmp: -policies and -policy_oids cannot be combined\n");
            goto out;
        }
        char *copy = strdup(V(policy_oids));
        char *save = NULL;
        int bad = copy == NULL;
        for (char *s = strtok_r(copy, ", ", &save); !bad && s != NULL;
             s = strtok_r(NULL, ", ", &save))
            if (pkie_cmp_ctx_add_policy(ctx, s) < 0) {
                fprintf(stderr, "pkie cmp: -policy_oids: bad OID '%s'\n", s);
                bad = 1;
            }
        free(copy);
        if (bad)
            goto out;
    }
    if (V(geninfo) != NULL && add_geninfo(ctx, V(geninfo)) < 0)
        goto out;

    /* ---- files instead of (or around) the server ---- */
    if (files_split(&r->reqin, V(reqin), "reqin") < 0 ||
        files_split(&r->reqout, V(reqout), "reqout") < 0 ||
        files_split(&r->rspin, V(rspin), "rspin") < 0 ||
        files_split(&r->rspout, V(rspout), "rspout") < 0)
        goto out;
    if (r->reqout.n > 0 || r->rspout.n > 0)
        pkie_cmp_ctx_set_msg_hook(ctx, msg_hook, r);
    if (r->reqin.n > 0 || r->rspin.n > 0)
        pkie_cmp_ctx_set_transfer_cb(ctx, file_transfer, r);
    if (V(rand) != NULL && RAND_load_file(V(rand), -1) < 0) {
        fprintf(stderr, "pkie cmp: -rand: cannot read '%s'\n", V(rand));
        goto out;
    }
    rc = 0;
out:
    pkie_wipe_free_str(keypass);
    pkie_wipe_free_str(newkeypass);
    pkie_wipe_free_str(tlspass);
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(sk, X509_free);
    X509_NAME_free(name);
    X509_STORE_free(st);
    return rc;
}
