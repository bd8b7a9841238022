/* Subject and subjectAltName texts of the CMP exit's configuration. */
#include <string.h>

#include <openssl/x509v3.h>

#include "cmpx_state.h"
#include "pkie/error.h"

static int add_ava(X509_NAME *n, const char *s, size_t len, int loc)
{
    char buf[512];
    if (len == 0 || len >= sizeof(buf))
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "subject: empty or too long attribute");
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *eq = strchr(buf, '=');
    if (eq == NULL || eq == buf || eq[1] == '\0')
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "subject: \"%s\" is not TYPE=value", buf);
    *eq = '\0';
    char *type = buf;
    while (*type == ' ')
        type++;
    if (!X509_NAME_add_entry_by_txt(n, type, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, loc, 0))
        return PKIE_ERR_OSSL(PKIE_ERR_CONF_VALUE, "subject: attribute type \"%s\"", type);
    return 0;
}

X509_NAME *cmpx_name_parse(const char *text)
{
    X509_NAME *n = X509_NAME_new();
    if (n == NULL || text == NULL || text[0] == '\0')
        goto err;
    int slash = text[0] == '/';
    const char *p = text + slash;
    while (*p != '\0') {
        const char *e = strchr(p, slash ? '/' : ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        /* "/A/B" is in X.509 order; "B,A" (RFC 4514) is reversed */
        if (add_ava(n, p, len, slash ? -1 : 0) != 0)
            goto err;
        p += len + (e != NULL);
    }
    if (X509_NAME_entry_count(n) == 0)
        goto err;
    return n;
err:
    if (text == NULL || text[0] == '\0' || (n != NULL && X509_NAME_entry_count(n) == 0))
        PKIE_ERR(PKIE_ERR_CONF_VALUE, "subject: empty");
    X509_NAME_free(n);
    return NULL;
}

int cmpx_sans_parse(const char *text, int (*add)(void *arg, const GENERAL_NAME *gn), void *arg)
{
    if (text == NULL)
        return 0;
    const char *p = text;
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char buf[512];
        if (len == 0 || len >= sizeof(buf))
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "san: empty or too long entry");
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *colon = strchr(buf, ':');
        if (colon == NULL || colon[1] == '\0')
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "san: \"%s\" is not TYPE:value", buf);
        *colon = '\0';
        int type;
        if (strcmp(buf, "DNS") == 0)
            type = GEN_DNS;
        else if (strcmp(buf, "IP") == 0)
            type = GEN_IPADD;
        else if (strcmp(buf, "URI") == 0)
            type = GEN_URI;
        else if (strcmp(buf, "email") == 0)
            type = GEN_EMAIL;
        else
            return PKIE_ERR(PKIE_ERR_CONF_VALUE, "san: type \"%s\" not DNS, IP, URI or email", buf);
        GENERAL_NAME *gn = a2i_GENERAL_NAME(NULL, NULL, NULL, type, colon + 1, 0);
        if (gn == NULL)
            return PKIE_ERR_OSSL(PKIE_ERR_CONF_VALUE, "san: bad value \"%s\"", colon + 1);
        int rc = add != NULL ? add(arg, gn) : 0;
        GENERAL_NAME_free(gn);
        if (rc != 0)
            return rc;
        p += len + (e != NULL);
    }
    return 0;
}
