/*
 * The PKCS#11 PKI exit: our private key stays in a PKCS#11 token (an HSM,
 * SoftHSM2...). At StartTask it parses pki.exit.conf, reads the certificate
 * chain from a PEM file, opens the task's session on the token (logging in on
 * the process's first task) and finds the key; it asks for GetCertificate (the
 * chain) and CryptData (C_Sign with the token's key). Every other phase is the
 * internal PKI base's. See docs/exit-pkcs11.md.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cftpkie.h"
#include "p11x.h"

#define EXPORT __attribute__((visibility("default")))

/* Task state, referenced from the task public area. */
struct xtask {
    struct p11x_conf conf;
    struct p11x_task *tok;
    uint32_t chain_count;
    uint32_t chain_len[CFTPKIE_CHAIN_MAX];
    uint8_t chain[CFTPKIE_CHAIN_CAP];
    size_t chain_bytes;            /* sum of chain_len */
    unsigned long long signatures; /* CryptData calls answered with a signature */
};

static int error(struct pkicom *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int error(struct pkicom *z, const char *fmt, ...)
{
    static const char prefix[] = "pkcs11 exit: ";
    memcpy(z->error_text, prefix, sizeof(prefix));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(z->error_text + sizeof(prefix) - 1, sizeof(z->error_text) - (sizeof(prefix) - 1), fmt,
              ap);
    va_end(ap);
    return CFTPKIE_ERROR;
}

/* Texts are truncated to their buffer. */
static void msg(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msg(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Our chain from the PEM file: certificates leaf first, within the
 * capacities of struct pkicom. */
static int load_chain(struct xtask *x, char *err, size_t cap)
{
    BIO *b = BIO_new_file(x->conf.chain, "r");
    if (b == NULL) {
        ERR_clear_error();
        msg(err, cap, "chain %s: cannot open", x->conf.chain);
        return -1;
    }
    int ret = -1;
    size_t off = 0;
    X509 *c;
    while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        int len = i2d_X509(c, NULL);
        if (x->chain_count == CFTPKIE_CHAIN_MAX || len <= 0 ||
            (size_t)len > CFTPKIE_CHAIN_CAP - off) {
            X509_free(c);
            msg(err, cap, "chain %s: more than %u certificates or %u bytes", x->conf.chain,
                CFTPKIE_CHAIN_MAX, CFTPKIE_CHAIN_CAP);
            goto out;
        }
        unsigned char *p = x->chain + off;
        i2d_X509(c, &p);
        X509_free(c);
        x->chain_len[x->chain_count++] = (uint32_t)len;
        off += (size_t)len;
    }
    /* The loop ends at the end of the file (no start line) or on a bad block. */
    unsigned long e = ERR_peek_last_error();
    if (x->chain_count == 0)
        msg(err, cap, "chain %s: no PEM certificate", x->conf.chain);
    else if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
        msg(err, cap, "chain %s: certificate %u: %s", x->conf.chain, x->chain_count + 1,
            ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unreadable");
    else
        ret = 0;
    x->chain_bytes = off;
out:
    ERR_clear_error();
    BIO_free(b);
    return ret;
}

static void xtask_free(struct xtask *x)
{
    if (x == NULL)
        return;
    OPENSSL_cleanse(&x->conf, sizeof(x->conf));
    free(x);
}

static int start_task(struct pkicom *z)
{
    z->exit_abi_version = CFTPKIE_ABI_VERSION;
    z->phase_mask =
        CFTPKIE_PHASE_BIT(CFTPKIE_GET_CERTIFICATE) | CFTPKIE_PHASE_BIT(CFTPKIE_CRYPT_DATA);
    z->session_area_size = 0;
    z->exit_task_ref = z->host_task_ref;
    struct xtask *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return error(z, "out of memory");
    char err[CFTPKIE_ERRTEXT_CAP];
    if (p11x_conf_parse(z->conf, sizeof(z->conf), &x->conf, err, sizeof(err)) != 0) {
        xtask_free(x);
        return error(z, "pki.exit.conf: %s", err);
    }
    if (load_chain(x, err, sizeof(err)) != 0 ||
        p11x_token_start(&x->conf, &x->tok, err, sizeof(err)) != 0) {
        xtask_free(x);
        return error(z, "%s", err);
    }
    memcpy(z->task_area, &x, sizeof(x));
    return CFTPKIE_HANDLED;
}

/* log=: one line per CryptData, in one write (lines of tasks never mix). */
static void log_sign(const struct xtask *x, const struct pkicom *z,
                     const struct p11x_sign_plan *plan, const char *result)
{
    if (x->conf.log[0] == '\0')
        return;
    char line[CFTPKIE_ERRTEXT_CAP + 160];
    int n = snprintf(line, sizeof(line),
                     "CryptData task=%llu session=%llu role=%s alg=%u digest=%u data_len=%u "
                     "mech=%s %s\n",
                     (unsigned long long)z->host_task_ref, (unsigned long long)z->host_session_ref,
                     (z->flags & CFTPKIE_F_SERVER) ? "server" : "client", z->sign_alg,
                     z->sign_digest, z->data_len, plan ? p11x_mech_name(plan->mech) : "-", result);
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    int fd = open(x->conf.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, line, (size_t)n);
        (void)w;
        close(fd);
    }
}

static int crypt_data(struct pkicom *z, struct xtask *x)
{
    char err[CFTPKIE_ERRTEXT_CAP];
    struct p11x_sign_plan plan;
    if (z->data_len > sizeof(z->data)) {
        log_sign(x, z, NULL, "error: data_len");
        return error(z, "CryptData: data_len %u above capacity", z->data_len);
    }
    if (p11x_sign_prepare(z->sign_alg, z->sign_digest, z->data, z->data_len,
                          p11x_token_key_type(x->tok), &plan, err, sizeof(err)) != 0) {
        log_sign(x, z, NULL, "error: unsupported");
        return error(z, "%s", err);
    }
    uint8_t raw[CFTPKIE_SIG_CAP];
    size_t len = 0;
    if (p11x_token_sign(x->tok, &plan, raw, sizeof(raw), &len, err, sizeof(err)) != 0) {
        log_sign(x, z, &plan, "error: C_Sign");
        return error(z, "%s", err);
    }
    if (plan.ecdsa_der) {
        size_t dl = 0;
        if (p11x_ecdsa_der(raw, len, z->sig, sizeof(z->sig), &dl) != 0) {
            log_sign(x, z, &plan, "error: ECDSA length");
            return error(z, "CryptData: CKM_ECDSA returned %zu bytes (an even r||s expected)", len);
        }
        len = dl;
    } else {
        memcpy(z->sig, raw, len);
    }
    z->sig_len = (uint32_t)len;
    x->signatures++;
    char r[32];
    snprintf(r, sizeof(r), "ok sig_len=%u", z->sig_len);
    log_sign(x, z, &plan, r);
    return CFTPKIE_HANDLED;
}

EXPORT int cftpkie(struct pkicom *z)
{
    /* ABI: any host of version >= 1 (an exit built for an older version runs on a newer host);
     * this exit uses version 1 fields only (a later field: CFTPKIE_HAS()). */
    if (z == NULL || z->abi_version < 1 || z->size < CFTPKIE_V1_END)
        return CFTPKIE_ERROR;
    if (z->phase == CFTPKIE_START_TASK)
        return start_task(z);
    struct xtask *x = NULL;
    memcpy(&x, z->task_area, sizeof(x));
    if (z->phase == CFTPKIE_END_TASK) {
        int rc = CFTPKIE_HANDLED;
        if (x != NULL) {
            char err[CFTPKIE_ERRTEXT_CAP];
            if (p11x_token_end(x->tok, err, sizeof(err)) != 0)
                rc = error(z, "%s", err);
            xtask_free(x);
            memset(z->task_area, 0, sizeof(x));
        }
        return rc;
    }
    if (x == NULL)
        return error(z, "phase %u without a started task", z->phase);
    switch (z->phase) {
    case CFTPKIE_GET_CERTIFICATE:
        z->chain_count = x->chain_count;
        memcpy(z->chain_len, x->chain_len, sizeof(x->chain_len));
        memcpy(z->chain, x->chain, x->chain_bytes);
        return CFTPKIE_HANDLED;
    case CFTPKIE_CRYPT_DATA:
        return crypt_data(z, x);
    default:
        return CFTPKIE_NOT_HANDLED;
    }
}
