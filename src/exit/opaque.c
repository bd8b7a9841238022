/*
 * Opaque private keys for OpenSSL 3.0: a small built-in provider
 * ("pkie-opaque") with a key manager and a signature implementation for RSA,
 * EC and Ed25519 keys whose private half is elsewhere (the PKI exit). Every
 * signature libssl asks for (CertificateVerify, ServerKeyExchange) reaches the
 * key's callback, with the digest already made (RSA, ECDSA) or the message
 * (Ed25519). See docs/exit-guide.md, "Why a provider".
 *
 * The provider lives in a private OSSL_LIB_CTX so that it never answers a
 * fetch of the application (its algorithms carry the names RSA, EC, ED25519).
 * The key's public half is an ordinary EVP_PKEY of the default library
 * context; the key manager exports it (public parts only, so that libcrypto
 * never moves the key to another provider for signing) and compares with it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "exit_int.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#define OPQ_PARAM_INIT "pkie-opaque-init"
#define OPQ_PROPS      "provider=pkie-opaque"

enum opq_type { OPQ_RSA = 1, OPQ_EC = 2, OPQ_ED25519 = 3 };

struct opq_init {
    EVP_PKEY *pub;
    pkie_opaque_sign_fn fn;
    void *arg;
};

struct opq_key {
    enum opq_type type;
    EVP_PKEY *pub; /* default library context */
    pkie_opaque_sign_fn fn;
    void *arg;
};

static OSSL_LIB_CTX *opq_libctx;
static pthread_once_t opq_once = PTHREAD_ONCE_INIT;
static int opq_ready;

/* ---- key manager ----------------------------------------------------------- */

static void *km_new(enum opq_type type)
{
    struct opq_key *k = calloc(1, sizeof(*k));
    if (k != NULL)
        k->type = type;
    return k;
}
static void *km_new_rsa(void *provctx)
{
    (void)provctx;
    return km_new(OPQ_RSA);
}
static void *km_new_ec(void *provctx)
{
    (void)provctx;
    return km_new(OPQ_EC);
}
static void *km_new_ed(void *provctx)
{
    (void)provctx;
    return km_new(OPQ_ED25519);
}

static void km_free(void *kd)
{
    struct opq_key *k = kd;
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pub);
    free(k);
}

static int km_has(const void *kd, int selection)
{
    (void)selection;
    const struct opq_key *k = kd;
    return k != NULL && k->pub != NULL;
}

static const char *type_name(enum opq_type t)
{
    switch (t) {
    case OPQ_RSA:
        return "RSA";
    case OPQ_EC:
        return "EC";
    default:
        return "ED25519";
    }
}

static int km_import(void *kd, int selection, const OSSL_PARAM params[])
{
    struct opq_key *k = kd;
    if (k == NULL || k->pub != NULL)
        return 0;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OPQ_PARAM_INIT);
    if (p != NULL) {
        const struct opq_init *in = NULL;
        size_t len = 0;
        if (!OSSL_PARAM_get_octet_string_ptr(p, (const void **)&in, &len) || len != sizeof(*in) ||
            in == NULL || in->pub == NULL || !EVP_PKEY_up_ref(in->pub))
            return 0;
        k->pub = in->pub;
        k->fn = in->fn;
        k->arg = in->arg;
        return 1;
    }
    /* A public key exported from another provider (key comparison). */
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 0;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type_name(k->type), "provider=default");
    EVP_PKEY *pub = NULL;
    OSSL_PARAM *copy = OSSL_PARAM_dup(params);
    int ok = c != NULL && copy != NULL && EVP_PKEY_fromdata_init(c) > 0 &&
             EVP_PKEY_fromdata(c, &pub, EVP_PKEY_PUBLIC_KEY, copy) > 0;
    OSSL_PARAM_free(copy);
    EVP_PKEY_CTX_free(c);
    if (!ok)
        return 0;
    k->pub = pub;
    return 1;
}

static int km_export(void *kd, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    struct opq_key *k = kd;
    /* Never export a "private key": libcrypto would then sign elsewhere. */
    if (k == NULL || k->pub == NULL || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return 0;
    OSSL_PARAM *params = NULL;
    if (EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) <= 0)
        return 0;
    int r = cb(params, cbarg);
    OSSL_PARAM_free(params);
    return r;
}

static const OSSL_PARAM *km_io_types(int selection)
{
    (void)selection;
    static const OSSL_PARAM none[] = {OSSL_PARAM_END};
    return none;
}

static int km_match(const void *a, const void *b, int selection)
{
    (void)selection;
    const struct opq_key *x = a, *y = b;
    if (x == NULL || y == NULL || x->pub == NULL || y->pub == NULL)
        return 0;
    return EVP_PKEY_eq(x->pub, y->pub) == 1;
}

static int km_get_params(void *kd, OSSL_PARAM params[])
{
    struct opq_key *k = kd;
    if (k == NULL || k->pub == NULL)
        return 0;
    return EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM *km_gettable_params(void *provctx)
{
    (void)provctx;
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_END};
    return p;
}

static const char *km_opname_rsa(int op)
{
    return op == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}
static const char *km_opname_ec(int op)
{
    return op == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}
static const char *km_opname_ed(int op)
{
    return op == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

#define KM_COMMON                                                                                  \
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free},                                             \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},                                           \
        {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import},                                     \
        {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_io_types},                             \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export},                                     \
        {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_io_types},                             \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match},                                       \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},                             \
    {                                                                                              \
        OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_params                      \
    }

static const OSSL_DISPATCH km_rsa[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new_rsa},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_opname_rsa},
    KM_COMMON,
    {0, NULL}};
static const OSSL_DISPATCH km_ec[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new_ec},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_opname_ec},
    KM_COMMON,
    {0, NULL}};
static const OSSL_DISPATCH km_ed[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new_ed},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_opname_ed},
    KM_COMMON,
    {0, NULL}};

/* ---- signature ------------------------------------------------------------- */

struct opq_sig {
    struct opq_key *key;
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
    int pad; /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int saltlen_ok;
};

static void *sig_newctx(void *provctx, const char *propq)
{
    (void)provctx;
    (void)propq;
    struct opq_sig *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->pad = RSA_PKCS1_PADDING;
        s->saltlen_ok = 1;
    }
    return s;
}

static void sig_freectx(void *ctx)
{
    struct opq_sig *s = ctx;
    if (s == NULL)
        return;
    EVP_MD_CTX_free(s->mdctx);
    EVP_MD_free(s->md);
    free(s);
}

static void *sig_dupctx(void *ctx)
{
    struct opq_sig *s = ctx, *d = calloc(1, sizeof(*s));
    if (d == NULL)
        return NULL;
    *d = *s;
    d->md = NULL;
    d->mdctx = NULL;
    if (s->md != NULL) {
        if (!EVP_MD_up_ref(s->md))
            goto err;
        d->md = s->md;
    }
    if (s->mdctx != NULL) {
        d->mdctx = EVP_MD_CTX_new();
        if (d->mdctx == NULL || !EVP_MD_CTX_copy_ex(d->mdctx, s->mdctx))
            goto err;
    }
    return d;
err:
    sig_freectx(d);
    return NULL;
}

static int md_allowed(const EVP_MD *md)
{
    return EVP_MD_is_a(md, "SHA1") || EVP_MD_is_a(md, "SHA2-256") || EVP_MD_is_a(md, "SHA2-384") ||
           EVP_MD_is_a(md, "SHA2-512");
}

static int sig_set_ctx_params(void *ctx, const OSSL_PARAM params[]);

static int sig_init(void *ctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
    struct opq_sig *s = ctx;
    struct opq_key *k = provkey;
    if (s == NULL || k == NULL || k->pub == NULL || k->fn == NULL)
        return 0;
    s->key = k;
    EVP_MD_free(s->md);
    s->md = NULL;
    EVP_MD_CTX_free(s->mdctx);
    s->mdctx = NULL;
    s->pad = RSA_PKCS1_PADDING;
    s->saltlen_ok = 1;
    if (k->type == OPQ_ED25519) {
        if (mdname != NULL && mdname[0] != '\0')
            return 0;
    } else {
        if (mdname == NULL || mdname[0] == '\0')
            mdname = "SHA2-256";
        s->md = EVP_MD_fetch(NULL, mdname, NULL);
        if (s->md == NULL || !md_allowed(s->md))
            return 0;
        s->mdctx = EVP_MD_CTX_new();
        if (s->mdctx == NULL || !EVP_DigestInit_ex2(s->mdctx, s->md, NULL))
            return 0;
    }
    return sig_set_ctx_params(ctx, params);
}

static int sig_update(void *ctx, const unsigned char *data, size_t len)
{
    struct opq_sig *s = ctx;
    if (s == NULL || s->mdctx == NULL)
        return 0;
    return EVP_DigestUpdate(s->mdctx, data, len);
}

static int sig_do(struct opq_sig *s, const uint8_t *tbs, size_t tbs_len, unsigned char *sig,
                  size_t *siglen, size_t sigsize)
{
    struct opq_key *k = s->key;
    struct pkie_exit_sign_req req = {.md = s->md, .tbs = tbs, .tbs_len = tbs_len};
    if (k->type == OPQ_RSA) {
        if (s->pad == RSA_PKCS1_PSS_PADDING) {
            if (!s->saltlen_ok)
                return 0;
            req.alg = CFTPKIE_SIGN_RSA_PSS;
        } else if (s->pad == RSA_PKCS1_PADDING) {
            req.alg = CFTPKIE_SIGN_RSA_PKCS1;
        } else {
            return 0;
        }
    } else if (k->type == OPQ_EC) {
        req.alg = CFTPKIE_SIGN_ECDSA;
    } else {
        req.alg = CFTPKIE_SIGN_ED25519;
    }
    size_t len = sigsize;
    if (k->fn(k->arg, &req, sig, &len) != 0)
        return 0;
    *siglen = len;
    return 1;
}

static int sig_final(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    struct opq_sig *s = ctx;
    if (s == NULL || s->key == NULL || siglen == NULL)
        return 0;
    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(s->key->pub);
        return 1;
    }
    if (s->mdctx == NULL)
        return 0;
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_DigestFinal_ex(s->mdctx, dg, &dlen))
        return 0;
    return sig_do(s, dg, dlen, sig, siglen, sigsize);
}

static int sig_oneshot(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                       const unsigned char *tbs, size_t tbslen)
{
    struct opq_sig *s = ctx;
    if (s == NULL || s->key == NULL || siglen == NULL)
        return 0;
    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(s->key->pub);
        return 1;
    }
    if (s->key->type == OPQ_ED25519)
        return sig_do(s, tbs, tbslen, sig, siglen, sigsize);
    if (s->mdctx == NULL || !EVP_DigestUpdate(s->mdctx, tbs, tbslen))
        return 0;
    return sig_final(ctx, sig, siglen, sigsize);
}

static int sig_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
    struct opq_sig *s = ctx;
    if (s == NULL)
        return 0;
    if (params == NULL)
        return 1;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        if (s->key == NULL || s->key->type != OPQ_RSA)
            return 0;
        if (p->data_type == OSSL_PARAM_INTEGER) {
            int pad = 0;
            if (!OSSL_PARAM_get_int(p, &pad))
                return 0;
            s->pad = pad;
        } else if (p->data_type == OSSL_PARAM_UTF8_STRING && p->data != NULL) {
            if (strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
                s->pad = RSA_PKCS1_PADDING;
            else if (strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0)
                s->pad = RSA_PKCS1_PSS_PADDING;
            else
                return 0;
        } else {
            return 0;
        }
        if (s->pad != RSA_PKCS1_PADDING && s->pad != RSA_PKCS1_PSS_PADDING)
            return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL) {
        int mdsize = s->md != NULL ? EVP_MD_get_size(s->md) : -1;
        if (p->data_type == OSSL_PARAM_INTEGER) {
            int sl = 0;
            if (!OSSL_PARAM_get_int(p, &sl))
                return 0;
            s->saltlen_ok = sl == RSA_PSS_SALTLEN_DIGEST || sl == mdsize;
        } else if (p->data_type == OSSL_PARAM_UTF8_STRING && p->data != NULL) {
            s->saltlen_ok = strcmp(p->data, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0 ||
                            (mdsize > 0 && atoi(p->data) == mdsize);
        } else {
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || s->md == NULL || !EVP_MD_is_a(s->md, name))
            return 0;
    }
    return 1;
}

static const OSSL_PARAM *sig_settable_ctx_params(void *ctx, void *provctx)
{
    (void)ctx;
    (void)provctx;
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0), OSSL_PARAM_END};
    return p;
}

static int sig_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
    (void)ctx;
    (void)params;
    return 1;
}

static const OSSL_PARAM *sig_gettable_ctx_params(void *ctx, void *provctx)
{
    (void)ctx;
    (void)provctx;
    static const OSSL_PARAM p[] = {OSSL_PARAM_END};
    return p;
}

static const OSSL_DISPATCH sig_fns[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sig_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sig_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sig_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sig_oneshot},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_settable_ctx_params},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))sig_gettable_ctx_params},
    {0, NULL}};

/* ---- provider -------------------------------------------------------------- */

static const OSSL_ALGORITHM prov_keymgmt[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", OPQ_PROPS, km_rsa, "pkie opaque RSA"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", OPQ_PROPS, km_ec, "pkie opaque EC"},
    {"ED25519:1.3.101.112", OPQ_PROPS, km_ed, "pkie opaque Ed25519"},
    {NULL, NULL, NULL, NULL}};
static const OSSL_ALGORITHM prov_signature[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", OPQ_PROPS, sig_fns, "pkie opaque RSA"},
    {"ECDSA", OPQ_PROPS, sig_fns, "pkie opaque ECDSA"},
    {"ED25519:1.3.101.112", OPQ_PROPS, sig_fns, "pkie opaque Ed25519"},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM *prov_query(void *provctx, int op, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    if (op == OSSL_OP_KEYMGMT)
        return prov_keymgmt;
    if (op == OSSL_OP_SIGNATURE)
        return prov_signature;
    return NULL;
}

static void prov_teardown(void *provctx)
{
    (void)provctx;
}

static const OSSL_DISPATCH prov_fns[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown},
    {0, NULL}};

static int prov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                     const OSSL_DISPATCH **out, void **provctx)
{
    (void)handle;
    (void)in;
    *out = prov_fns;
    *provctx = (void *)&opq_libctx;
    return 1;
}

static void opq_setup(void)
{
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
    if (lc == NULL)
        return;
    if (!OSSL_PROVIDER_add_builtin(lc, "pkie-opaque", prov_init) ||
        OSSL_PROVIDER_load(lc, "pkie-opaque") == NULL) {
        OSSL_LIB_CTX_free(lc);
        return;
    }
    opq_libctx = lc;
    opq_ready = 1;
}

EVP_PKEY *pkie_opaque_key_new(EVP_PKEY *pub, pkie_opaque_sign_fn fn, void *arg)
{
    const char *type;
    if (pub == NULL || fn == NULL) {
        PKIE_ERR(PKIE_ERR_ARG, "opaque key: no public key or callback");
        return NULL;
    }
    pthread_once(&opq_once, opq_setup);
    if (!opq_ready) {
        PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "opaque key: cannot load the pkie-opaque provider");
        return NULL;
    }
    if (EVP_PKEY_is_a(pub, "RSA"))
        type = "RSA";
    else if (EVP_PKEY_is_a(pub, "EC"))
        type = "EC";
    else if (EVP_PKEY_is_a(pub, "ED25519"))
        type = "ED25519";
    else {
        PKIE_ERR(PKIE_ERR_UNSUPPORTED, "opaque key: key type %s not supported",
                 EVP_PKEY_get0_type_name(pub));
        return NULL;
    }
    struct opq_init in = {.pub = pub, .fn = fn, .arg = arg};
    OSSL_PARAM params[] = {OSSL_PARAM_octet_string(OPQ_PARAM_INIT, &in, sizeof(in)),
                           OSSL_PARAM_END};
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(opq_libctx, type, OPQ_PROPS);
    if (c == NULL || EVP_PKEY_fromdata_init(c) <= 0 ||
        EVP_PKEY_fromdata(c, &pkey, EVP_PKEY_KEYPAIR, params) <= 0) {
        EVP_PKEY_CTX_free(c);
        PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "opaque key: cannot create the %s key", type);
        return NULL;
    }
    EVP_PKEY_CTX_free(c);
    return pkey;
}
