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

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    if (r->opt->val[CMPC_reqout_only] != NULL) {
        /* save the first request and stop (the caller takes this as success) */
        if (cmpc_save_bytes(r->opt->val[CMPC_reqout_only], req, req_len, "-reqout_only") < 0)
            return PKIE_ERR(PKIE_ERR_IO, "-reqout_only file");
        r->reqout_only_done = 1;
        return PKIE_ERR(PKIE_ERR_CMP_CLIENT_CONFIG, "-reqout_only: request saved, not sent");
    }
    if (r->reqin.next < r->reqin.n) {
        uint8_t *in = cmpc_read_file(r->reqin.names[r->reqin.next++], 1u << 20, &alt_len, "-reqin");
        if (in == NULL)
            return PKIE_ERR(PKIE_ERR_IO, "-reqin file");
        int new_tid = r->opt->val[CMPC_reqin_new_tid] != NULL;
        /* the answer will belong to the request read, not to ours: its
         * senderNonce (and, unless renewed, its transactionID) */
        struct pkie_cmp_msg *m = NULL;
        if (pkie_cmp_msg_decode(in, alt_len, NULL, &m) == 0) {
            if (!new_tid && m->header.transactionID.p != NULL)
                pkie_cmp_ctx_set1_transactionID(ctx, m->header.transactionID.p,
                                                m->header.transactionID.len);
            if (m->header.senderNonce.p != NULL)
                pkie_cmp_ctx_set1_senderNonce(ctx, m->header.senderNonce.p,
                                              m->header.senderNonce.len);
        }
        pkie_cmp_msg_free(m);
        int urc = pkie_cmp_update_request(ctx, in, alt_len, new_tid, &alt, &alt_len);
        free(in);
        if (urc < 0)
            return urc;
        req = alt;
        req_len = alt_len;
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

/* -reqexts and -policies: both name a section of extensions */
static int add_exts_from_section(struct pkie_cmp_ctx *ctx, CONF *conf, const char *section,
                                 const char *what, int *has_san)
{
    if (conf == NULL) {
        fprintf(stderr, "pkie cmp: %s '%s' needs a configuration file (-config)\n", what, section);
        return -1;
    }
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
    X509V3_set_nconf(&v3, conf);
    STACK_OF(X509_EXTENSION) *exts = NULL;
    int ok = X509V3_EXT_add_nconf_sk(conf, &v3, section, &exts);
    for (int i = 0; ok && i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
            *has_san = 1;
        ok = pkie_cmp_ctx_add_reqext(ctx, e) == 0;
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (!ok) {
        fprintf(stderr, "pkie cmp: %s: cannot load extensions from section [%s]\n", what, section);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* One generalInfo ITAV: @p oid (text) with the DER of its value. */
static int push_geninfo(struct pkie_cmp_ctx *ctx, ASN1_OBJECT *obj, int type, void *value)
{
    ASN1_TYPE *t = ASN1_TYPE_new();
    unsigned char *der = NULL;
    char dotted[128];
    int n = -1;
    if (t != NULL) {
        ASN1_TYPE_set(t, type, value);
        value = NULL;
        n = i2d_ASN1_TYPE(t, &der);
    }
    OBJ_obj2txt(dotted, sizeof(dotted), obj, 1);
    int rc = n > 0 ? pkie_cmp_ctx_add_geninfo(ctx, dotted, der, (size_t)n) : -1;
    ASN1_TYPE_free(t);
    OPENSSL_free(der);
    if (rc < 0)
        fail_err("-geninfo");
    return rc;
}

/* -geninfo OID:int:N or OID:str:TEXT, several separated by ',' (openssl
 * cmp's handle_opt_geninfo) */
static int add_geninfo(struct pkie_cmp_ctx *ctx, const char *spec)
{
    char *copy = strdup(spec);
    char *ptr = copy;
    int rc = copy != NULL ? 0 : -1;
    while (rc == 0 && ptr != NULL) {
        while (isspace((unsigned char)*ptr))
            ptr++;
        char *oid = ptr;
        if ((ptr = strchr(oid, ':')) == NULL) {
            fprintf(stderr, "pkie cmp: Missing ':' in -geninfo arg %.40s\n", oid);
            rc = -1;
            break;
        }
        *ptr++ = '\0';
        ASN1_OBJECT *obj = OBJ_txt2obj(oid, 0);
        if (obj == NULL) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: Invalid OID in -geninfo arg %.40s\n", oid);
            rc = -1;
            break;
        }
        if (OBJ_obj2nid(obj) == NID_undef)
            fprintf(stderr, "pkie cmp: warning: Unknown OID in -geninfo arg: %.40s\n", oid);
        if (strncasecmp(ptr, "int:", 4) == 0) {
            ptr += 4;
            char *end;
            long v = strtol(ptr, &end, 10);
            ASN1_INTEGER *ai = NULL;
            if (end == ptr) {
                fprintf(stderr, "pkie cmp: Cannot parse int in -geninfo arg %.40s\n", ptr);
                rc = -1;
            } else if (*end != '\0' && *end != ',') {
                fprintf(stderr, "pkie cmp: Missing ',' or end of -geninfo arg after int at %.40s\n",
                        end);
                rc = -1;
            } else if ((ai = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set(ai, v)) {
                ASN1_INTEGER_free(ai);
                rc = -1;
            } else {
                rc = push_geninfo(ctx, obj, V_ASN1_INTEGER, ai);
            }
            ptr = *end == ',' ? end + 1 : *end == '\0' && rc == 0 ? NULL : end;
        } else if (strncasecmp(ptr, "str:", 4) == 0) {
            ptr += 4;
            char *end = strchr(ptr, ',');
            if (end != NULL)
                *end++ = '\0';
            ASN1_UTF8STRING *text = ASN1_UTF8STRING_new();
            if (text == NULL || !ASN1_STRING_set(text, ptr, -1)) {
                ASN1_UTF8STRING_free(text);
                rc = -1;
            } else {
                rc = push_geninfo(ctx, obj, V_ASN1_UTF8STRING, text);
            }
            ptr = end;
        } else {
            fprintf(stderr, "pkie cmp: Missing 'int:' or 'str:' in -geninfo arg %.40s\n", ptr);
            rc = -1;
        }
        ASN1_OBJECT_free(obj);
    }
    free(copy);
    return rc;
}

/* -profile NAME: certProfile (RFC 9483 section 4.1.1) in generalInfo, a
 * SEQUENCE OF UTF8String with the one name */
static int add_profile(struct pkie_cmp_ctx *ctx, const char *name)
{
    ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
    unsigned char *inner = NULL, *der = NULL;
    int n = -1, rc = -1;
    if (u != NULL && ASN1_STRING_set(u, name, -1))
        n = i2d_ASN1_UTF8STRING(u, &inner);
    int total = n > 0 ? ASN1_object_size(1, n, V_ASN1_SEQUENCE) : -1;
    if (total > 0 && (der = OPENSSL_malloc((size_t)total)) != NULL) {
        unsigned char *p = der;
        ASN1_put_object(&p, 1, n, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
        memcpy(p, inner, (size_t)n);
        rc = pkie_cmp_ctx_add_geninfo(ctx, PKIE_CMP_OID_IT_CERT_PROFILE, der, (size_t)total);
    }
    ASN1_UTF8STRING_free(u);
    OPENSSL_free(inner);
    OPENSSL_free(der);
    return rc < 0 ? fail_err("-profile") : 0;
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

/* The consistency checks of openssl cmp's setup_request_ctx (and
 * get_opts) for the request options. 0 or -1 after a one-line error. */
static int check_request_opts(struct cmpc_run *r, const struct cmpc_opts *opt)
{
    int enroll = r->cmd == PKIE_CMP_IR || r->cmd == PKIE_CMP_CR || r->cmd == PKIE_CMP_KUR;
    long popo = cmpc_opt_int(opt, CMPC_popo, PKIE_CMP_POPO_NONE - 1); /* below: not given */
    r->ckg = 0;
    if (enroll) {
        r->ckg = V(centralkeygen) != NULL;
        if (popo == PKIE_CMP_POPO_NONE && !r->ckg) {
            pkie_log_info("cmp", "POPO is disabled, which implies -centralkeygen");
            r->ckg = 1;
        }
        if (r->ckg) {
            if (popo > PKIE_CMP_POPO_NONE) {
                fprintf(stderr, "pkie cmp: -popo value %ld is inconsistent with -centralkeygen\n",
                        popo);
                return -1;
            }
            if (V(newkeyout) == NULL) {
                fprintf(stderr, "pkie cmp: -newkeyout not given, nowhere to save centrally "
                                "generated key\n");
                return -1;
            }
            popo = PKIE_CMP_POPO_NONE;
        }
    } else {
        const char *msg = "option is ignored for commands other than 'ir', 'cr', and 'kur'";
        if (V(popo) != NULL)
            fprintf(stderr, "pkie cmp: warning: -popo %s\n", msg);
        if (V(centralkeygen) != NULL)
            fprintf(stderr, "pkie cmp: warning: -popo -1 or -centralkeygen %s\n", msg);
        if (V(newkeyout) != NULL)
            fprintf(stderr, "pkie cmp: warning: -newkeyout %s\n", msg);
    }
    if (popo < PKIE_CMP_POPO_NONE)
        popo = PKIE_CMP_POPO_SIGNATURE;
    if (enroll) {
        if (V(reqin) == NULL && V(newkey) == NULL && V(key) == NULL && V(csr) == NULL &&
            V(oldcert) == NULL && !r->ckg) {
            fprintf(stderr, "pkie cmp: missing -newkey (or -key) to be certified and no -csr, "
                            "-oldcert, -cert, or -reqin option given, which could provide "
                            "fallback public key\n");
            return -1;
        }
        if (V(newkey) == NULL && popo > 0) {
            if (V(csr) != NULL) {
                fprintf(stderr,
                        "pkie cmp: no -newkey option given with private key for POPO, -csr "
                        "option provides just public key%s\n",
                        V(key) == NULL ? "" : ", and -key option superseded by -csr");
                return -1;
            }
            if (V(key) == NULL) {
                fprintf(stderr, "pkie cmp: missing -newkey (or -key) option for key to be "
                                "certified and for POPO\n");
                return -1;
            }
        }
        if (V(certout) == NULL && V(reqout_only) == NULL) {
            fprintf(stderr,
                    "pkie cmp: -certout not given, nowhere to save newly enrolled certificate\n");
            return -1;
        }
    }
    if (r->cmd == PKIE_CMP_KUR && V(oldcert) == NULL && V(cert) == NULL && V(csr) == NULL) {
        fprintf(stderr, "pkie cmp: missing -oldcert for certificate to be updated and no -csr "
                        "given\n");
        return -1;
    }
    if (r->cmd == PKIE_CMP_BODY_RR) {
        if (V(issuer) == NULL && V(serial) == NULL) {
            if (V(oldcert) == NULL && V(csr) == NULL) {
                fprintf(stderr, "pkie cmp: missing -oldcert or -issuer and -serial for "
                                "certificate to be revoked and no -csr given\n");
                return -1;
            }
            if (V(oldcert) != NULL && V(csr) != NULL)
                fprintf(stderr, "pkie cmp: warning: ignoring -csr since certificate to be "
                                "revoked is given\n");
        } else if (V(issuer) == NULL || V(serial) == NULL) {
            fprintf(stderr, "pkie cmp: Must give both -issuer and -serial options or neither\n");
            return -1;
        }
    } else if (V(serial) != NULL) {
        fprintf(stderr, "pkie cmp: warning: Ignoring -serial for command other than 'rr'\n");
    }
    if (r->cmd == PKIE_CMP_P10CR && V(csr) == NULL) {
        fprintf(stderr, "pkie cmp: missing PKCS#10 CSR for p10cr\n");
        return -1;
    }
    if (V(policies) != NULL && V(policy_oids) != NULL) {
        fprintf(stderr, "pkie cmp: cannot have policies both via -policies and via -policy_oids\n");
        return -1;
    }
    return 0;
}

/* Pass phrases, each source read once. */
struct cmpc_passes {
    char *key, *newkey, *tls;
};

/* Integer options (or flags) of the command that map to context options. */
struct cmpc_optmap {
    enum cmpc_opt o;
    enum pkie_cmp_option c;
};

static int set_options(const struct cmpc_opts *opt, struct pkie_cmp_ctx *ctx,
                       const struct cmpc_optmap *m, size_t n, int flags)
{
    for (size_t i = 0; i < n; i++)
        if (opt->val[m[i].o] != NULL &&
            pkie_cmp_ctx_set_option(ctx, m[i].c, flags ? 1 : (int)cmpc_opt_int(opt, m[i].o, 0)) < 0)
            return fail_err(cmpc_opt_name(m[i].o));
    return 0;
}

/* Distinguished names of the options in @p m set through their setters. */
struct cmpc_namemap {
    enum cmpc_opt o;
    int (*set)(struct pkie_cmp_ctx *, const X509_NAME *);
};

static int set_names(const struct cmpc_opts *opt, struct pkie_cmp_ctx *ctx,
                     const struct cmpc_namemap *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = opt->val[m[i].o];
        if (t == NULL)
            continue;
        char what[40];
        snprintf(what, sizeof(what), "-%s", cmpc_opt_name(m[i].o));
        X509_NAME *name = cmpc_parse_name(t, what);
        if (name == NULL)
            return -1;
        int rc = m[i].set(ctx, name);
        X509_NAME_free(name);
        if (rc < 0)
            return fail_err(what);
    }
    return 0;
}

/* -certform, -crlform: PEM or DER (any case); *pem keeps its default when unset */
static int pem_or_der(const struct cmpc_opts *opt, enum cmpc_opt o, int *pem)
{
    const char *v = opt->val[o];
    if (v == NULL)
        return 0;
    if (strcasecmp(v, "PEM") != 0 && strcasecmp(v, "DER") != 0) {
        fprintf(stderr, "pkie cmp: -%s '%s': PEM or DER\n", cmpc_opt_name(o), v);
        return -1;
    }
    *pem = strcasecmp(v, "PEM") == 0;
    return 0;
}

/* What to do, and whether the options fit together (openssl cmp's get_opts
 * and the checks at the start of its setup_*_ctx). */
static int check_opts(struct cmpc_run *r)
{
    struct cmpc_opts *opt = r->opt;
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
    if (V(server) == NULL && V(rspin) == NULL && V(reqout_only) == NULL) {
        fprintf(stderr, "pkie cmp: missing -server (or -rspin or -reqout_only)\n");
        return -1;
    }
    if (V(reqout_only) != NULL) {
        static const enum cmpc_opt ignored[] = {CMPC_server, CMPC_reqout, CMPC_rspin, CMPC_rspout};
        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
            if (opt->val[ignored[i]] != NULL)
                fprintf(stderr,
                        "pkie cmp: warning: -%s option is ignored since -reqout_only option is "
                        "given\n",
                        cmpc_opt_name(ignored[i]));
    }
    if (V(unprotected_requests) == NULL && V(secret) == NULL && V(key) == NULL) {
        fprintf(stderr, "pkie cmp: must give -key or -secret unless -unprotected_requests is "
                        "used\n");
        return -1;
    }
    if (V(ref) == NULL && V(cert) == NULL && V(subject) == NULL) {
        fprintf(stderr, "pkie cmp: must give -ref if no -cert and no -subject given\n");
        return -1;
    }
    if (V(secret) == NULL && ((V(cert) == NULL) != (V(key) == NULL))) {
        fprintf(stderr, "pkie cmp: must give both -cert and -key options or neither\n");
        return -1;
    }
    if (check_request_opts(r, opt) < 0)
        return -1;
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
    int certpem = 1, crlpem = 0;
    if (pem_or_der(opt, CMPC_certform, &certpem) < 0 || pem_or_der(opt, CMPC_crlform, &crlpem) < 0)
        return -1;
    r->certder = !certpem;
    r->crlpem = crlpem;
    if (V(keyform) != NULL && strcasecmp(V(keyform), "ENGINE") == 0) {
        fprintf(stderr, "pkie cmp: -keyform ENGINE is not supported\n");
        return -1;
    }
    if (V(trusted) != NULL && V(srvcert) != NULL)
        fprintf(stderr, "pkie cmp: warning: -trusted is ignored for responses since -srvcert is "
                        "given\n");

    return 0;
}

/* The transport: server, proxy, timeouts, TLS, and the files that stand in
 * for the server (openssl cmp's setup_client_ctx and setup_ssl_ctx). */
static int setup_transport_ctx(struct cmpc_run *r, struct pkie_cmp_ctx *ctx,
                               const struct cmpc_passes *pw)
{
    struct cmpc_opts *opt = r->opt;
    int rc = -1;
    if (V(server) != NULL && pkie_cmp_ctx_set_server(ctx, V(server)) < 0)
        return fail_err("-server");
    if (V(path) != NULL && pkie_cmp_ctx_set_path(ctx, V(path)) < 0)
        return fail_err("-path");
    if (V(proxy) != NULL && pkie_cmp_ctx_set_proxy(ctx, V(proxy)) < 0)
        return fail_err("-proxy");
    if (V(no_proxy) != NULL && pkie_cmp_ctx_set_no_proxy(ctx, V(no_proxy)) < 0)
        return fail_err("-no_proxy");
    static const struct cmpc_optmap ints[] = {{CMPC_keep_alive, PKIE_CMP_OPT_KEEP_ALIVE},
                                              {CMPC_msg_timeout, PKIE_CMP_OPT_MSG_TIMEOUT},
                                              {CMPC_total_timeout, PKIE_CMP_OPT_TOTAL_TIMEOUT},
                                              {CMPC_max_resp_size, PKIE_CMP_OPT_MAX_RESP_SIZE}};
    static const struct cmpc_optmap flags[] = {{CMPC_tls_used, PKIE_CMP_OPT_TLS_USED}};
    if (set_options(opt, ctx, ints, sizeof(ints) / sizeof(ints[0]), 0) < 0 ||
        set_options(opt, ctx, flags, sizeof(flags) / sizeof(flags[0]), 1) < 0)
        return -1;
    if ((V(tls_trusted) != NULL || V(tls_host) != NULL) &&
        pkie_cmp_ctx_set_tls_trusted(ctx, V(tls_trusted), V(tls_host)) < 0) {
        fail_err("-tls_trusted");
        goto out;
    }
    if ((V(tls_cert) != NULL || V(tls_key) != NULL) &&
        pkie_cmp_ctx_set_tls_client(ctx, V(tls_cert), V(tls_key), pw->tls) < 0) {
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
    /* files instead of (or around) the server */
    if (files_split(&r->reqin, V(reqin), "reqin") < 0 ||
        files_split(&r->reqout, V(reqout), "reqout") < 0 ||
        files_split(&r->rspin, V(rspin), "rspin") < 0 ||
        files_split(&r->rspout, V(rspout), "rspout") < 0)
        goto out;
    if (r->reqout.n > 0 || r->rspout.n > 0)
        pkie_cmp_ctx_set_msg_hook(ctx, msg_hook, r);
    if (V(reqout_only) != NULL) {
        r->reqout.n = r->rspin.n = r->rspout.n = 0;
        pkie_cmp_ctx_set_msg_hook(ctx, NULL, NULL);
    }
    if (r->reqin.n > 0 || r->rspin.n > 0 || V(reqout_only) != NULL)
        pkie_cmp_ctx_set_transfer_cb(ctx, file_transfer, r);
    if (V(rand) != NULL && RAND_load_file(V(rand), -1) < 0) {
        fprintf(stderr, "pkie cmp: -rand: cannot read '%s'\n", V(rand));
        goto out;
    }
    rc = 0;
out:
    return rc;
}

/* Protection of requests: PBM secret and reference, or signer certificate
 * and key with their chain, extraCerts, digest and MAC (openssl cmp's
 * setup_protection_ctx). */
static int setup_protection_ctx(struct cmpc_run *r, struct pkie_cmp_ctx *ctx,
                                const struct cmpc_passes *pw)
{
    struct cmpc_opts *opt = r->opt;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *sk = NULL;
    X509_STORE *st = NULL;
    int rc = -1;
    static const struct cmpc_optmap flags[] = {
        {CMPC_unprotected_requests, PKIE_CMP_OPT_UNPROTECTED_SEND},
        {CMPC_pbmac1, PKIE_CMP_OPT_PBMAC1}};
    if (set_options(opt, ctx, flags, sizeof(flags) / sizeof(flags[0]), 1) < 0)
        return -1;
    if (V(ref) != NULL && pkie_cmp_ctx_set_ref(ctx, (const uint8_t *)V(ref), strlen(V(ref))) < 0) {
        fail_err("-ref");
        goto out;
    }
    if (V(secret) != NULL && set_pass_secret(ctx, V(secret)) < 0)
        goto out;
    if (V(secret) != NULL && (V(cert) != NULL || V(key) != NULL))
        fprintf(stderr, "pkie cmp: warning: -cert and -key not used for protection since "
                        "-secret is given\n");
    if (V(key) != NULL) {
        if ((key = cmpc_load_key(V(key), pw->key, 0, "-key")) == NULL)
            goto out;
        pkie_cmp_ctx_set_key(ctx, key);
    }
    if (V(cert) != NULL) {
        /* the first certificate is ours, the others (a PEM bundle or the
         * CA certificates of a PKCS#12 file) are chain material */
        if (cmpc_load_cert_chain(V(cert), pw->key, "-cert", &cert, &sk) < 0)
            goto out;
        if (pkie_cmp_ctx_set_cert(ctx, cert) < 0) {
            fail_err("-cert");
            goto out;
        }
        for (int i = 0; i < sk_X509_num(sk); i++)
            pkie_cmp_ctx_add_untrusted(ctx, sk_X509_value(sk, i));
        sk_X509_pop_free(sk, X509_free);
        sk = NULL;
        /* the pair is checked where it protects; with -secret it does not */
        if (V(secret) == NULL && key != NULL && X509_check_private_key(cert, key) != 1) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: -key does not match the public key of -cert\n");
            goto out;
        }
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

    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(sk, X509_free);
    X509_STORE_free(st);
    return rc;
}

/* Authentication of the server and of new certificates (openssl cmp's
 * setup_verification_ctx). */
static int setup_verification_ctx(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    struct cmpc_opts *opt = r->opt;
    STACK_OF(X509) *sk = NULL;
    X509_STORE *st = NULL;
    int rc = -1;
    static const struct cmpc_optmap flags[] = {
        {CMPC_unprotected_errors, PKIE_CMP_OPT_UNPROTECTED_ERRORS},
        {CMPC_ignore_keyusage, PKIE_CMP_OPT_IGNORE_KEYUSAGE},
        {CMPC_no_cache_extracerts, PKIE_CMP_OPT_NO_CACHE_EXTRACERTS},
        {CMPC_ta_in_ip_extracerts, PKIE_CMP_OPT_TA_IN_IP_EXTRACERTS},
        {CMPC_implicit_confirm, PKIE_CMP_OPT_IMPLICIT_CONFIRM},
        {CMPC_disable_confirm, PKIE_CMP_OPT_DISABLE_CONFIRM}};
    static const struct cmpc_namemap names[] = {
        {CMPC_expect_sender, pkie_cmp_ctx_set_expected_sender}};
    if (set_options(opt, ctx, flags, sizeof(flags) / sizeof(flags[0]), 1) < 0 ||
        set_names(opt, ctx, names, sizeof(names) / sizeof(names[0])) < 0)
        return -1;
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
    rc = 0;
out:
    sk_X509_pop_free(sk, X509_free);
    X509_STORE_free(st);
    return rc;
}

/* What to request: names, keys, CSR, old certificate, template extensions,
 * generalInfo (openssl cmp's setup_request_ctx). */
static int setup_request_ctx(struct cmpc_run *r, struct pkie_cmp_ctx *ctx,
                             const struct cmpc_passes *pw)
{
    struct cmpc_opts *opt = r->opt;
    static const struct cmpc_optmap ints[] = {{CMPC_days, PKIE_CMP_OPT_VALIDITY_DAYS},
                                              {CMPC_popo, PKIE_CMP_OPT_POPO_METHOD},
                                              {CMPC_revreason, PKIE_CMP_OPT_REVOCATION_REASON}};
    static const struct cmpc_optmap flags[] = {
        {CMPC_san_nodefault, PKIE_CMP_OPT_SUBJECTALTNAME_NODEFAULT},
        {CMPC_policy_oids_critical, PKIE_CMP_OPT_POLICIES_CRITICAL}};
    static const struct cmpc_namemap names[] = {{CMPC_recipient, pkie_cmp_ctx_set_recipient},
                                                {CMPC_subject, pkie_cmp_ctx_set_subject},
                                                {CMPC_issuer, pkie_cmp_ctx_set_issuer}};
    if (set_options(opt, ctx, ints, sizeof(ints) / sizeof(ints[0]), 0) < 0 ||
        set_options(opt, ctx, flags, sizeof(flags) / sizeof(flags[0]), 1) < 0 ||
        set_names(opt, ctx, names, sizeof(names) / sizeof(names[0])) < 0)
        return -1;
    if (r->ckg && pkie_cmp_ctx_set_central_keygen(ctx, 1) < 0)
        return fail_err("-centralkeygen");
    if (V(newkey) != NULL) {
        EVP_PKEY *nk = cmpc_load_key(V(newkey), pw->newkey, 1, "-newkey");
        if (nk == NULL)
            return -1;
        pkie_cmp_ctx_set_newkey(ctx, nk);
        EVP_PKEY_free(nk);
    }
    if (r->cmd == PKIE_CMP_BODY_RR && V(serial) != NULL) {
        ASN1_INTEGER *sno = s2i_ASN1_INTEGER(NULL, V(serial));
        int src = sno != NULL ? pkie_cmp_ctx_set1_serialNumber(ctx, sno) : -1;
        ASN1_INTEGER_free(sno);
        if (src < 0) {
            ERR_clear_error();
            fprintf(stderr, "pkie cmp: cannot read serial number: '%s'\n", V(serial));
            return -1;
        }
    }
    if (V(csr) != NULL && r->cmd != PKIE_CMP_BODY_GENM) {
        X509_REQ *csr = cmpc_load_csr(V(csr), "-csr");
        if (csr == NULL)
            return -1;
        pkie_cmp_ctx_set_p10csr(ctx, csr);
        X509_REQ_free(csr);
    }
    if (V(oldcert) != NULL && !(r->cmd == PKIE_CMP_BODY_RR && V(serial) != NULL)) {
        X509 *oc = cmpc_load_cert(V(oldcert), pw->key, "-oldcert");
        if (oc == NULL)
            return -1;
        pkie_cmp_ctx_set_oldcert(ctx, oc);
        X509_free(oc);
    }
    int has_san = 0;
    if (V(reqexts) != NULL &&
        add_exts_from_section(ctx, opt->conf, V(reqexts), "-reqexts", &has_san) < 0)
        return -1;
    if (V(policies) != NULL &&
        add_exts_from_section(ctx, opt->conf, V(policies), "-policies", &has_san) < 0)
        return -1;
    if (has_san && V(sans) != NULL) {
        fprintf(stderr, "pkie cmp: cannot have Subject Alternative Names both via -reqexts and "
                        "via -sans\n");
        return -1;
    }
    if (V(sans) != NULL && add_sans(ctx, V(sans)) < 0)
        return -1;
    if (V(policy_oids) != NULL) {
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
            return -1;
    }
    if (V(profile) != NULL && add_profile(ctx, V(profile)) < 0)
        return -1;
    if (V(geninfo) != NULL && add_geninfo(ctx, V(geninfo)) < 0)
        return -1;

    return 0;
}

/* Build the context from the options, in openssl cmp's steps. Returns 0 or
 * -1 (error printed). */
int cmpc_setup(struct cmpc_run *r, struct pkie_cmp_ctx *ctx)
{
    struct cmpc_opts *opt = r->opt;
    struct cmpc_passes pw = {NULL, NULL, NULL};
    int rc = -1;
    if (check_opts(r) < 0)
        return -1;
    if ((V(keypass) == NULL || (pw.key = cmpc_get_pass(V(keypass), "-keypass")) != NULL) &&
        (V(newkeypass) == NULL ||
         (pw.newkey = cmpc_get_pass(V(newkeypass), "-newkeypass")) != NULL) &&
        (V(tls_keypass) == NULL ||
         (pw.tls = cmpc_get_pass(V(tls_keypass), "-tls_keypass")) != NULL) &&
        setup_transport_ctx(r, ctx, &pw) == 0 && setup_protection_ctx(r, ctx, &pw) == 0 &&
        setup_verification_ctx(r, ctx) == 0 && setup_request_ctx(r, ctx, &pw) == 0)
        rc = 0;
    pkie_wipe_free_str(pw.key);
    pkie_wipe_free_str(pw.newkey);
    pkie_wipe_free_str(pw.tls);
    return rc;
}
