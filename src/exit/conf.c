/* The pki.* and tls.* settings (pkie_tls_conf_apply). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkie/error.h"
#include "pkie/tls.h"

static int set_str(char **dst, const char *value)
{
    char *v = strdup(value);
    if (v == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "configuration");
    free(*dst);
    *dst = v;
    return 0;
}

static int parse_version(const char *key, const char *value, int *out)
{
    if (strcasecmp(value, "TLS1.2") == 0 || strcasecmp(value, "TLSv1.2") == 0 ||
        strcmp(value, "1.2") == 0)
        *out = PKIE_TLS_V1_2;
    else if (strcasecmp(value, "TLS1.3") == 0 || strcasecmp(value, "TLSv1.3") == 0 ||
             strcmp(value, "1.3") == 0)
        *out = PKIE_TLS_V1_3;
    else
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "%s: \"%s\" is not TLS1.2 or TLS1.3", key, value);
    return 0;
}

int pkie_tls_conf_apply(struct pkie_tls_conf *c, const char *key, const char *value)
{
    if (c == NULL || key == NULL || value == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "configuration: NULL argument");
    if (strcmp(key, "pki.type") == 0) {
        if (strcmp(value, "internal") == 0)
            c->pki_type = PKIE_TLS_PKI_INTERNAL;
        else if (strcmp(value, "exit") == 0)
            c->pki_type = PKIE_TLS_PKI_EXIT;
        else
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "pki.type: \"%s\" is not internal or exit", value);
        return 0;
    }
    if (strcmp(key, "pki.exit.libpath") == 0) {
        if (value[0] == '\0')
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "pki.exit.libpath: empty");
        return set_str(&c->exit_libpath, value);
    }
    if (strcmp(key, "pki.exit.conf") == 0) {
        if (strlen(value) >= 1024)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "pki.exit.conf: longer than 1023 bytes");
        return set_str(&c->exit_conf, value);
    }
    if (strcmp(key, "pki.exit.isolation") == 0) {
        if (strcmp(value, "process") == 0)
            c->exit_isolation = PKIE_TLS_EXIT_PROCESS;
        else if (strcmp(value, "none") == 0)
            c->exit_isolation = PKIE_TLS_EXIT_NONE;
        else
            return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                            "pki.exit.isolation: \"%s\" is not process or none", value);
        return 0;
    }
    if (strcmp(key, "pki.exit.timeout") == 0) {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < 1 || v > 3600)
            return PKIE_ERR(PKIE_ERR_CONF_VALUE,
                            "pki.exit.timeout: \"%s\" is not a number of seconds 1..3600", value);
        c->exit_timeout_s = (int)v;
        return 0;
    }
    if (strcmp(key, "pki.exit.user") == 0) {
        if (value[0] == '\0')
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "pki.exit.user: empty");
        return set_str(&c->exit_user, value);
    }
    if (strcmp(key, "pki.base") == 0)
        return set_str(&c->pki_base, value);
    if (strcmp(key, "pki.password") == 0)
        return set_str(&c->pki_password_file, value);
    if (strcmp(key, "tls.min_version") == 0)
        return parse_version(key, value, &c->min_version);
    if (strcmp(key, "tls.max_version") == 0)
        return parse_version(key, value, &c->max_version);
    if (strcmp(key, "tls.ciphers") == 0)
        return set_str(&c->ciphers, value);
    if (strcmp(key, "tls.ciphersuites") == 0)
        return set_str(&c->ciphersuites, value);
    return PKIE_ERR(PKIE_ERR_CONF_UNKNOWN_KEY, "unknown key %s", key);
}

void pkie_tls_conf_free(struct pkie_tls_conf *c)
{
    if (c == NULL)
        return;
    free(c->exit_libpath);
    free(c->exit_conf);
    free(c->pki_base);
    free(c->pki_password_file);
    free(c->ciphers);
    free(c->ciphersuites);
    free(c->exit_user);
    memset(c, 0, sizeof(*c));
}
