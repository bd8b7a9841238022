/*
 * The PKCS#11 exit's configuration string and its PIN reader.
 *
 * Syntax (docs/exit-pkcs11.md): blank-separated items key=value; a value may be
 * double-quoted to hold blanks, with \" and \\ as its only escapes. Every path
 * is absolute. No key is optional but log=; exactly one of key= / key-id= and
 * one of pin-file= / pin-env=. The PIN itself is never accepted here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11x.h"

static int fail(int code, char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(int code, char *err, size_t cap, const char *fmt, ...)
{
    if (err != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

enum key_index { K_MODULE, K_TOKEN, K_KEY, K_KEY_ID, K_PIN_FILE, K_PIN_ENV, K_CHAIN, K_LOG, K_N };

static const char *const key_names[K_N] = {"module",   "token",   "key",   "key-id",
                                           "pin-file", "pin-env", "chain", "log"};

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Store @v (@n bytes, no NUL inside) for key @k. */
static int store(struct p11x_conf *c, enum key_index k, const char *v, size_t n, size_t at,
                 char *err, size_t cap)
{
    char *dst = NULL;
    size_t dcap = 0;
    switch (k) {
    case K_MODULE:
        dst = c->module, dcap = sizeof(c->module);
        break;
    case K_TOKEN:
        dst = c->token, dcap = sizeof(c->token);
        break;
    case K_KEY:
        dst = c->key_label, dcap = sizeof(c->key_label);
        break;
    case K_PIN_FILE:
        dst = c->pin_file, dcap = sizeof(c->pin_file);
        break;
    case K_PIN_ENV:
        dst = c->pin_env, dcap = sizeof(c->pin_env);
        break;
    case K_CHAIN:
        dst = c->chain, dcap = sizeof(c->chain);
        break;
    case K_LOG:
        dst = c->log, dcap = sizeof(c->log);
        break;
    case K_KEY_ID:
        if (n % 2 != 0 || n / 2 > P11X_ID_MAX)
            return fail(P11X_E_VALUE, err, cap,
                        "at byte %zu: key-id must be 1..%u bytes in hex (an even number of "
                        "hex digits)",
                        at, P11X_ID_MAX);
        for (size_t i = 0; i < n; i += 2) {
            int hi = hexval(v[i]), lo = hexval(v[i + 1]);
            if (hi < 0 || lo < 0)
                return fail(P11X_E_VALUE, err, cap, "at byte %zu: key-id: \"%c%c\" is not hex",
                            at + i, v[i], v[i + 1]);
            c->key_id[i / 2] = (uint8_t)(hi << 4 | lo);
        }
        c->key_id_len = n / 2;
        return P11X_OK;
    case K_N:
        break;
    }
    if (dst == NULL || n >= dcap)
        return fail(P11X_E_TOO_LONG, err, cap, "at byte %zu: %s: value longer than %zu bytes", at,
                    key_names[k], dcap - 1);
    memcpy(dst, v, n);
    dst[n] = '\0';
    return P11X_OK;
}

static int check_values(const struct p11x_conf *c, const int *seen, char *err, size_t cap)
{
    static const enum key_index required[] = {K_MODULE, K_TOKEN, K_CHAIN};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!seen[required[i]])
            return fail(P11X_E_MISSING, err, cap, "%s= is required", key_names[required[i]]);
    if (seen[K_KEY] && seen[K_KEY_ID])
        return fail(P11X_E_CONFLICT, err, cap, "key= and key-id= exclude each other");
    if (!seen[K_KEY] && !seen[K_KEY_ID])
        return fail(P11X_E_MISSING, err, cap, "key= (label) or key-id= (hex CKA_ID) is required");
    if (seen[K_PIN_FILE] && seen[K_PIN_ENV])
        return fail(P11X_E_CONFLICT, err, cap, "pin-file= and pin-env= exclude each other");
    if (!seen[K_PIN_FILE] && !seen[K_PIN_ENV])
        return fail(P11X_E_MISSING, err, cap, "pin-file= or pin-env= is required");
    const char *paths[] = {c->module, c->pin_file, c->chain, c->log};
    const enum key_index pk[] = {K_MODULE, K_PIN_FILE, K_CHAIN, K_LOG};
    for (size_t i = 0; i < 4; i++)
        if (paths[i][0] != '\0' && paths[i][0] != '/')
            return fail(P11X_E_VALUE, err, cap, "%s=%s: the path must be absolute",
                        key_names[pk[i]], paths[i]);
    if (seen[K_PIN_ENV]) {
        const char *e = c->pin_env;
        int ok = (e[0] >= 'A' && e[0] <= 'Z') || (e[0] >= 'a' && e[0] <= 'z') || e[0] == '_';
        for (size_t i = 1; ok && e[i] != '\0'; i++)
            ok = (e[i] >= 'A' && e[i] <= 'Z') || (e[i] >= 'a' && e[i] <= 'z') || e[i] == '_' ||
                 (e[i] >= '0' && e[i] <= '9');
        if (!ok)
            return fail(P11X_E_VALUE, err, cap,
                        "pin-env=%s: not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", e);
    }
    return P11X_OK;
}

int p11x_conf_parse(const char *text, size_t tcap, struct p11x_conf *c, char *err, size_t cap)
{
    if (err != NULL && cap > 0)
        err[0] = '\0';
    if (text == NULL || c == NULL)
        return fail(P11X_E_SYNTAX, err, cap, "no configuration string");
    memset(c, 0, sizeof(*c));
    const char *end = memchr(text, '\0', tcap);
    if (end == NULL)
        return fail(P11X_E_SYNTAX, err, cap, "configuration string not terminated");
    size_t n = (size_t)(end - text);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 && text[i] != '\t')
            return fail(P11X_E_SYNTAX, err, cap, "at byte %zu: control character 0x%02x", i,
                        (unsigned char)text[i]);
        else if ((unsigned char)text[i] == 0x7f)
            return fail(P11X_E_SYNTAX, err, cap, "at byte %zu: control character 0x7f", i);
    int seen[K_N] = {0};
    char *val = malloc(n + 1);
    if (val == NULL)
        return fail(P11X_E_SYNTAX, err, cap, "out of memory");
    int rc = P11X_OK;
    size_t i = 0;
    for (;;) {
        while (i < n && is_blank(text[i]))
            i++;
        if (i == n)
            break;
        size_t ks = i;
        while (i < n && text[i] != '=' && !is_blank(text[i]) && text[i] != '"')
            i++;
        if (i == n || text[i] != '=' || i == ks) {
            size_t e = i;
            while (e < n && !is_blank(text[e]))
                e++;
            rc = fail(P11X_E_SYNTAX, err, cap, "at byte %zu: \"%.*s\" is not key=value", ks,
                      (int)(e - ks > 40 ? 40 : e - ks), text + ks);
            goto out;
        }
        size_t klen = i - ks;
        enum key_index k = K_N;
        for (int j = 0; j < K_N; j++)
            if (strlen(key_names[j]) == klen && memcmp(key_names[j], text + ks, klen) == 0)
                k = (enum key_index)j;
        if (k == K_N) {
            if ((klen == 3 && memcmp(text + ks, "pin", 3) == 0) ||
                (klen == 8 && memcmp(text + ks, "password", 8) == 0))
                rc = fail(P11X_E_PIN_IN_CONF, err, cap,
                          "at byte %zu: the PIN never goes in the configuration string: use "
                          "pin-file= or pin-env=",
                          ks);
            else
                rc = fail(P11X_E_UNKNOWN_KEY, err, cap,
                          "at byte %zu: unknown key \"%.*s\" (known: module token key key-id "
                          "pin-file pin-env chain log)",
                          ks, (int)(klen > 40 ? 40 : klen), text + ks);
            goto out;
        }
        if (seen[k]) {
            rc = fail(P11X_E_DUPLICATE, err, cap, "at byte %zu: %s= given twice", ks, key_names[k]);
            goto out;
        }
        seen[k] = 1;
        i++; /* '=' */
        size_t vs = i, vlen = 0;
        if (i < n && text[i] == '"') {
            i++;
            for (;;) {
                if (i == n) {
                    rc = fail(P11X_E_QUOTE, err, cap, "at byte %zu: %s: unterminated quote", vs,
                              key_names[k]);
                    goto out;
                }
                if (text[i] == '"')
                    break;
                if (text[i] == '\\') {
                    if (i + 1 == n || (text[i + 1] != '"' && text[i + 1] != '\\')) {
                        rc = fail(P11X_E_QUOTE, err, cap,
                                  "at byte %zu: %s: only \\\" and \\\\ may be escaped", i,
                                  key_names[k]);
                        goto out;
                    }
                    i++;
                }
                val[vlen++] = text[i++];
            }
            i++; /* closing quote */
            if (i < n && !is_blank(text[i])) {
                rc =
                    fail(P11X_E_SYNTAX, err, cap, "at byte %zu: blank expected after the quote", i);
                goto out;
            }
        } else {
            while (i < n && !is_blank(text[i])) {
                if (text[i] == '"') {
                    rc = fail(P11X_E_SYNTAX, err, cap,
                              "at byte %zu: %s: a quote inside an unquoted value", i, key_names[k]);
                    goto out;
                }
                val[vlen++] = text[i++];
            }
        }
        if (vlen == 0) {
            rc = fail(P11X_E_EMPTY, err, cap, "at byte %zu: %s= has an empty value", vs,
                      key_names[k]);
            goto out;
        }
        rc = store(c, k, val, vlen, vs, err, cap);
        if (rc != P11X_OK)
            goto out;
    }
    rc = check_values(c, seen, err, cap);
out:
    free(val);
    if (rc != P11X_OK)
        memset(c, 0, sizeof(*c));
    return rc;
}

int p11x_pin_read(const struct p11x_conf *c, char *pin, size_t cap, size_t *len, char *err,
                  size_t ecap)
{
    *len = 0;
    if (cap < 2)
        return fail(P11X_E_PIN, err, ecap, "no room for the PIN");
    pin[0] = '\0';
    if (c->pin_env[0] != '\0') {
        const char *v = getenv(c->pin_env);
        if (v == NULL || v[0] == '\0')
            return fail(P11X_E_PIN, err, ecap, "pin-env: environment variable %s is %s", c->pin_env,
                        v == NULL ? "not set" : "empty");
        size_t l = strlen(v);
        if (l >= cap)
            return fail(P11X_E_PIN, err, ecap, "pin-env: %s longer than %zu bytes", c->pin_env,
                        cap - 1);
        memcpy(pin, v, l + 1);
        *len = l;
        return P11X_OK;
    }
    int fd = open(c->pin_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail(P11X_E_PIN, err, ecap, "pin-file %s: %s", c->pin_file, strerror(errno));
    struct stat st;
    int rc = P11X_OK;
    if (fstat(fd, &st) != 0) {
        rc = fail(P11X_E_PIN, err, ecap, "pin-file %s: %s", c->pin_file, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(P11X_E_PIN, err, ecap, "pin-file %s: not a regular file", c->pin_file);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = fail(P11X_E_PIN, err, ecap,
                  "pin-file %s: mode %04o lets group or others access it (chmod 600)", c->pin_file,
                  (unsigned)(st.st_mode & 07777));
        goto out;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, pin + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = fail(P11X_E_PIN, err, ecap, "pin-file %s: %s", c->pin_file, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (memchr(pin, '\n', got) != NULL || got == cap - 1)
            break;
    }
    size_t l = 0;
    while (l < got && pin[l] != '\n' && pin[l] != '\r' && pin[l] != '\0')
        l++;
    if (l == cap - 1) {
        /* The buffer is full: the line fits only if it ends here. */
        char next = '\n';
        ssize_t r;
        do
            r = read(fd, &next, 1);
        while (r < 0 && errno == EINTR);
        if (r < 0 || (r == 1 && next != '\n' && next != '\r'))
            l = cap; /* too long */
    }
    if (l == cap) {
        rc = fail(P11X_E_PIN, err, ecap, "pin-file %s: first line longer than %zu bytes",
                  c->pin_file, cap - 1);
        goto out;
    }
    if (l == 0) {
        rc = fail(P11X_E_PIN, err, ecap, "pin-file %s: the first line is empty", c->pin_file);
        goto out;
    }
    pin[l] = '\0';
    *len = l;
out:
    close(fd);
    if (rc != P11X_OK) {
        volatile char *p = pin;
        for (size_t j = 0; j < cap; j++)
            p[j] = 0;
    }
    return rc;
}
