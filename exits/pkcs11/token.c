/*
 * The PKCS#11 side of the exit.
 *
 * Process-wide (under one mutex, reference-counted by the tasks): the module
 * (dlopen'ed once, RTLD_NODELETE: it stays mapped, as the host keeps exits
 * mapped), C_Initialize with CKF_OS_LOCKING_OK (the host is multi-threaded),
 * the token's slot, and the login: a dedicated session logs in with the PIN on
 * the first reference and logs out on the last one, before C_Finalize (the
 * PKCS#11 login state belongs to the application, not to one session).
 *
 * Per task (one thread at a time, as the host calls a task sequentially): its
 * own read-only session and the private key's handle found in it. One session
 * per task means no signing operation ever shares a session.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11x.h"

struct p11x_task {
    CK_FUNCTION_LIST_PTR f; /**< the module's function list */
    CK_SESSION_HANDLE s;    /**< this task's session */
    CK_OBJECT_HANDLE key;   /**< the private key */
    CK_KEY_TYPE type;       /**< CKK_RSA, CKK_EC, CKK_EC_EDWARDS */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int refs;                   /* tasks started and not ended */
    char module[P11X_PATH_CAP]; /* the module and token of this process */
    char token[P11X_TOKEN_CAP];
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE login; /* the session that logged in */
    int initialized;         /* we called C_Initialize (so we call C_Finalize) */
    int logged_in;           /* we logged in (so we log out) */
} g;

static int rv_fail(char *err, size_t cap, const char *fn, CK_RV rv, const char *what)
{
    return p11x_fail(err, cap, "%s: %s (0x%lx)%s%s", fn, p11x_rv_name(rv), (unsigned long)rv,
                     what[0] ? ": " : "", what);
}

CK_KEY_TYPE p11x_token_key_type(const struct p11x_task *t)
{
    return t->type;
}

/* The slot whose token label is @label (blank-padded to 32 bytes in
 * CK_TOKEN_INFO). Exactly one token must carry it. */
static int find_slot(const char *label, CK_SLOT_ID *out, char *err, size_t cap)
{
    CK_ULONG n = 0;
    CK_RV rv = g.f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return rv_fail(err, cap, "C_GetSlotList", rv, "");
    if (n == 0)
        return p11x_fail(err, cap, "no token present (looking for token \"%s\")", label);
    if (n > 4096)
        return p11x_fail(err, cap, "C_GetSlotList: %lu slots", (unsigned long)n);
    CK_SLOT_ID *slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return p11x_fail(err, cap, "out of memory");
    int ret = -1;
    rv = g.f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        ret = rv_fail(err, cap, "C_GetSlotList", rv, "");
        goto out;
    }
    char padded[32];
    size_t ll = strlen(label);
    memset(padded, ' ', sizeof(padded));
    memcpy(padded, label, ll);
    int found = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        rv = g.f->C_GetTokenInfo(slots[i], &ti);
        if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED)
            continue;
        if (rv != CKR_OK) {
            ret = rv_fail(err, cap, "C_GetTokenInfo", rv, "");
            goto out;
        }
        if (memcmp(ti.label, padded, sizeof(padded)) != 0)
            continue;
        if (found) {
            ret = p11x_fail(err, cap, "several tokens are labelled \"%s\"", label);
            goto out;
        }
        if (!(ti.flags & CKF_TOKEN_INITIALIZED) || !(ti.flags & CKF_USER_PIN_INITIALIZED)) {
            ret = p11x_fail(err, cap, "token \"%s\": not initialized, or no user PIN", label);
            goto out;
        }
        *out = slots[i];
        found = 1;
    }
    if (!found) {
        ret = p11x_fail(err, cap, "no token labelled \"%s\" (%lu token(s) present)", label,
                        (unsigned long)n);
        goto out;
    }
    ret = 0;
out:
    free(slots);
    return ret;
}

/* Release the process-wide state (lock held). */
static int global_release(char *err, size_t cap)
{
    int ret = 0;
    CK_RV rv;
    if (g.f != NULL && g.logged_in) {
        rv = g.f->C_Logout(g.login);
        if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
            ret = rv_fail(err, cap, "C_Logout", rv, "");
    }
    if (g.f != NULL && g.login != CK_INVALID_HANDLE) {
        rv = g.f->C_CloseSession(g.login);
        if (rv != CKR_OK && ret == 0)
            ret = rv_fail(err, cap, "C_CloseSession", rv, "");
    }
    if (g.f != NULL && g.initialized) {
        rv = g.f->C_Finalize(NULL);
        if (rv != CKR_OK && ret == 0)
            ret = rv_fail(err, cap, "C_Finalize", rv, "");
    }
    /* The module stays mapped (RTLD_NODELETE): nothing to dlclose. */
    memset(&g, 0, sizeof(g));
    return ret;
}

/* Take the first reference (lock held): load, initialize, find the token,
 * log in. */
static int global_acquire(const struct p11x_conf *c, char *err, size_t cap)
{
    char pin[P11X_PIN_CAP];
    size_t pin_len = 0;
    int ret = -1;
    memset(&g, 0, sizeof(g));
    g.login = CK_INVALID_HANDLE;
    dlerror();
    void *dl = dlopen(c->module, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (dl == NULL) {
        const char *e = dlerror();
        return p11x_fail(err, cap, "module %s: %s", c->module, e ? e : "dlopen failed");
    }
    CK_C_GetFunctionList gfl;
    void *sym = dlsym(dl, "C_GetFunctionList");
    if (sym == NULL) {
        dlclose(dl);
        return p11x_fail(err, cap, "module %s exports no C_GetFunctionList", c->module);
    }
    memcpy(&gfl, &sym, sizeof(gfl));
    CK_FUNCTION_LIST_PTR f = NULL;
    CK_RV rv = gfl(&f);
    dlclose(dl); /* RTLD_NODELETE: stays mapped */
    if (rv != CKR_OK || f == NULL)
        return rv_fail(err, cap, "C_GetFunctionList", rv, c->module);
    if (f->version.major != 2)
        return p11x_fail(err, cap, "module %s: PKCS#11 version %u.%u (2.x expected)", c->module,
                         f->version.major, f->version.minor);
    g.f = f;
    snprintf(g.module, sizeof(g.module), "%s", c->module);
    snprintf(g.token, sizeof(g.token), "%s", c->token);
    CK_C_INITIALIZE_ARGS ia;
    memset(&ia, 0, sizeof(ia));
    ia.flags = CKF_OS_LOCKING_OK;
    rv = f->C_Initialize(&ia);
    if (rv == CKR_OK)
        g.initialized = 1;
    else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        ret = rv_fail(err, cap, "C_Initialize", rv, c->module);
        goto out;
    }
    if (find_slot(c->token, &g.slot, err, cap) != 0)
        goto out;
    rv = f->C_OpenSession(g.slot, CKF_SERIAL_SESSION, NULL, NULL, &g.login);
    if (rv != CKR_OK) {
        g.login = CK_INVALID_HANDLE;
        ret = rv_fail(err, cap, "C_OpenSession", rv, "");
        goto out;
    }
    char perr[256];
    if (p11x_pin_read(c, pin, sizeof(pin), &pin_len, perr, sizeof(perr)) != 0) {
        ret = p11x_fail(err, cap, "%s", perr);
        goto out;
    }
    rv = f->C_Login(g.login, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    OPENSSL_cleanse(pin, sizeof(pin));
    if (rv == CKR_OK)
        g.logged_in = 1;
    else if (rv != CKR_USER_ALREADY_LOGGED_IN) {
        ret = rv_fail(err, cap, "C_Login", rv, c->token);
        goto out;
    }
    ret = 0;
out:
    OPENSSL_cleanse(pin, sizeof(pin));
    if (ret != 0) {
        char ignored[64];
        global_release(ignored, sizeof(ignored));
    }
    return ret;
}

static int find_key(const struct p11x_conf *c, struct p11x_task *t, char *err, size_t cap)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, NULL, 0}};
    char what[P11X_LABEL_CAP + 32];
    if (c->key_id_len > 0) {
        tmpl[1].type = CKA_ID;
        tmpl[1].pValue = (void *)(uintptr_t)c->key_id;
        tmpl[1].ulValueLen = c->key_id_len;
        size_t o = (size_t)snprintf(what, sizeof(what), "with CKA_ID ");
        for (size_t i = 0; i < c->key_id_len && o + 3 < sizeof(what); i++)
            o += (size_t)snprintf(what + o, sizeof(what) - o, "%02x", c->key_id[i]);
    } else {
        tmpl[1].pValue = (void *)(uintptr_t)c->key_label;
        tmpl[1].ulValueLen = strlen(c->key_label);
        snprintf(what, sizeof(what), "labelled \"%s\"", c->key_label);
    }
    CK_RV rv = t->f->C_FindObjectsInit(t->s, tmpl, 2);
    if (rv != CKR_OK)
        return rv_fail(err, cap, "C_FindObjectsInit", rv, "");
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    rv = t->f->C_FindObjects(t->s, h, 2, &n);
    CK_RV rv2 = t->f->C_FindObjectsFinal(t->s);
    if (rv != CKR_OK)
        return rv_fail(err, cap, "C_FindObjects", rv, "");
    if (rv2 != CKR_OK)
        return rv_fail(err, cap, "C_FindObjectsFinal", rv2, "");
    if (n == 0)
        return p11x_fail(err, cap, "token \"%s\": no private key %s", c->token, what);
    if (n > 1)
        return p11x_fail(err, cap,
                         "token \"%s\": several private keys %s (select one with key-id=)",
                         c->token, what);
    t->key = h[0];
    CK_BBOOL can_sign = CK_FALSE, always = CK_FALSE;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &t->type, sizeof(t->type)};
    rv = t->f->C_GetAttributeValue(t->s, t->key, &a, 1);
    if (rv != CKR_OK)
        return rv_fail(err, cap, "C_GetAttributeValue", rv, "CKA_KEY_TYPE");
    if (t->type != CKK_RSA && t->type != CKK_EC && t->type != CKK_EC_EDWARDS)
        return p11x_fail(err, cap, "private key %s: key type 0x%lx (RSA, EC or EdDSA expected)",
                         what, (unsigned long)t->type);
    a = (CK_ATTRIBUTE){CKA_SIGN, &can_sign, sizeof(can_sign)};
    rv = t->f->C_GetAttributeValue(t->s, t->key, &a, 1);
    if (rv != CKR_OK)
        return rv_fail(err, cap, "C_GetAttributeValue", rv, "CKA_SIGN");
    if (can_sign != CK_TRUE)
        return p11x_fail(err, cap, "private key %s: CKA_SIGN is false", what);
    a = (CK_ATTRIBUTE){CKA_ALWAYS_AUTHENTICATE, &always, sizeof(always)};
    rv = t->f->C_GetAttributeValue(t->s, t->key, &a, 1);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        return rv_fail(err, cap, "C_GetAttributeValue", rv, "CKA_ALWAYS_AUTHENTICATE");
    if (rv == CKR_OK && always == CK_TRUE)
        return p11x_fail(err, cap,
                         "private key %s: CKA_ALWAYS_AUTHENTICATE keys (a PIN per signature) are "
                         "not supported",
                         what);
    return 0;
}

int p11x_token_start(const struct p11x_conf *c, struct p11x_task **out, char *err, size_t cap)
{
    *out = NULL;
    struct p11x_task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return p11x_fail(err, cap, "out of memory");
    t->s = CK_INVALID_HANDLE;
    pthread_mutex_lock(&g_lock);
    if (g.refs == 0) {
        if (global_acquire(c, err, cap) != 0) {
            pthread_mutex_unlock(&g_lock);
            free(t);
            return -1;
        }
    } else if (strcmp(g.module, c->module) != 0 || strcmp(g.token, c->token) != 0) {
        pthread_mutex_unlock(&g_lock);
        free(t);
        return p11x_fail(
            err, cap,
            "one module and token per process: %s token \"%s\" is in use, not %s token "
            "\"%s\"",
            g.module, g.token, c->module, c->token);
    }
    g.refs++;
    t->f = g.f;
    CK_RV rv = t->f->C_OpenSession(g.slot, CKF_SERIAL_SESSION, NULL, NULL, &t->s);
    pthread_mutex_unlock(&g_lock);
    int ret = 0;
    if (rv != CKR_OK) {
        t->s = CK_INVALID_HANDLE;
        ret = rv_fail(err, cap, "C_OpenSession", rv, "");
    } else {
        ret = find_key(c, t, err, cap);
    }
    if (ret != 0) {
        char ignored[64];
        p11x_token_end(t, ignored, sizeof(ignored));
        return -1;
    }
    *out = t;
    return 0;
}

int p11x_token_sign(struct p11x_task *t, const struct p11x_sign_plan *plan, uint8_t *sig,
                    size_t cap, size_t *sig_len, char *err, size_t ecap)
{
    CK_MECHANISM m = {plan->mech, NULL, 0};
    CK_RSA_PKCS_PSS_PARAMS pss = plan->pss;
    if (plan->mech == CKM_RSA_PKCS_PSS) {
        m.pParameter = &pss;
        m.ulParameterLen = sizeof(pss);
    }
    const char *mn = p11x_mech_name(plan->mech);
    CK_RV rv = t->f->C_SignInit(t->s, &m, t->key);
    if (rv != CKR_OK)
        return rv_fail(err, ecap, "C_SignInit", rv, mn);
    CK_ULONG len = 0;
    /* Ask the length first: a C_Sign that fails for a short buffer would leave
     * the operation active. */
    rv = t->f->C_Sign(t->s, (CK_BYTE_PTR)(uintptr_t)plan->input, plan->input_len, NULL, &len);
    if (rv != CKR_OK)
        return rv_fail(err, ecap, "C_Sign", rv, mn);
    uint8_t *buf = sig, *tmp = NULL;
    if (len > cap) {
        /* Finish the operation in a scratch buffer, then refuse. */
        if (len > (1u << 20) || (tmp = malloc(len)) == NULL)
            return p11x_fail(err, ecap, "C_Sign: %s signature of %lu bytes, session unusable", mn,
                             (unsigned long)len);
        buf = tmp;
    }
    CK_ULONG got = len;
    int scratch = tmp != NULL;
    rv = t->f->C_Sign(t->s, (CK_BYTE_PTR)(uintptr_t)plan->input, plan->input_len, buf, &got);
    free(tmp);
    if (rv != CKR_OK)
        return rv_fail(err, ecap, "C_Sign", rv, mn);
    if (scratch || got > cap || got == 0)
        return p11x_fail(err, ecap, "C_Sign: %s signature of %lu bytes (room for %zu)", mn,
                         (unsigned long)len, cap);
    *sig_len = got;
    return 0;
}

int p11x_token_end(struct p11x_task *t, char *err, size_t cap)
{
    if (t == NULL)
        return 0;
    int ret = 0;
    pthread_mutex_lock(&g_lock);
    if (t->s != CK_INVALID_HANDLE) {
        CK_RV rv = t->f->C_CloseSession(t->s);
        if (rv != CKR_OK)
            ret = rv_fail(err, cap, "C_CloseSession", rv, "");
    }
    if (t->f != NULL && g.refs > 0 && --g.refs == 0) {
        char e2[256] = "";
        if (global_release(e2, sizeof(e2)) != 0 && ret == 0)
            ret = p11x_fail(err, cap, "%s", e2);
    }
    pthread_mutex_unlock(&g_lock);
    free(t);
    return ret;
}
