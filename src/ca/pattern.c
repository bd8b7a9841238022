/* Names as one-line text, and the subject / SAN patterns of client policies. */
#include "ca_internal.h"
#include "pkie/error.h"

#include <arpa/inet.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

int pkie_ca_name_text(const X509_NAME *name, char *buf, size_t cap)
{
    size_t n = 0;
    int count = X509_NAME_entry_count(name);
    if (cap == 0)
        return PKIE_ERR(PKIE_ERR_LIMIT, "name buffer");
    buf[0] = '\0';
    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        char oidtxt[80];
        const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
        if (sn == NULL) {
            OBJ_obj2txt(oidtxt, sizeof(oidtxt), X509_NAME_ENTRY_get_object(e), 1);
            sn = oidtxt;
        }
        unsigned char *utf8 = NULL;
        int ulen = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (ulen < 0)
            return PKIE_ERR_OSSL(PKIE_ERR_ARG, "name attribute not convertible to UTF-8");
        int w = snprintf(buf + n, cap - n, "%s%s=", i > 0 ? "," : "", sn);
        if (w < 0 || (size_t)w >= cap - n)
            goto toolong;
        n += (size_t)w;
        for (int j = 0; j < ulen; j++) {
            unsigned char c = utf8[j];
            if (c == ',' || c == '\\' || c == '/' || c == '=' || c < 0x20) {
                if (c < 0x20)
                    c = '?';
                else if (n + 1 >= cap)
                    goto toolong;
                else
                    buf[n++] = '\\';
            }
            if (n + 1 >= cap)
                goto toolong;
            buf[n++] = (char)c;
        }
        buf[n] = '\0';
        OPENSSL_free(utf8);
        continue;
    toolong:
        OPENSSL_free(utf8);
        return PKIE_ERR(PKIE_ERR_LIMIT, "name longer than %zu bytes", cap - 1);
    }
    return 0;
}

X509_NAME *pkie_ca_name_parse(const char *text)
{
    X509_NAME *name = X509_NAME_new();
    char attr[64], val[256];
    int slash = text[0] == '/';
    const char *p = text + (slash ? 1 : 0);
    char sep = slash ? '/' : ',';
    if (name == NULL)
        goto err;
    if (*p == '\0') {
        PKIE_ERR(PKIE_ERR_ARG, "empty distinguished name");
        goto err;
    }
    while (*p != '\0') {
        size_t a = 0, v = 0;
        while (*p == ' ')
            p++;
        while (*p != '\0' && *p != '=' && a + 1 < sizeof(attr))
            attr[a++] = *p++;
        attr[a] = '\0';
        if (*p != '=' || a == 0) {
            PKIE_ERR(PKIE_ERR_ARG, "malformed distinguished name '%.100s'", text);
            goto err;
        }
        p++;
        while (*p != '\0' && *p != sep) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (v + 1 >= sizeof(val)) {
                PKIE_ERR(PKIE_ERR_LIMIT, "attribute value too long");
                goto err;
            }
            val[v++] = *p++;
        }
        val[v] = '\0';
        if (*p == sep)
            p++;
        if (X509_NAME_add_entry_by_txt(name, attr, MBSTRING_UTF8, (const unsigned char *)val, -1,
                                       -1, 0) != 1) {
            PKIE_ERR_OSSL(PKIE_ERR_ARG, "bad attribute '%s' in distinguished name", attr);
            goto err;
        }
    }
    return name;
err:
    X509_NAME_free(name);
    return NULL;
}

/* Glob: '*' matches any run of characters not in @p stop, '?' one such
 * character, '\\x' the character x. Dynamic programming over the text, so
 * the cost is (pattern length) x (text length) whatever the pattern. */
static int glob_match(const char *pat, const char *s, const char *stop)
{
    size_t n = strlen(s);
    if (n > 2048)
        return 0;
    unsigned char row[2049], next[2049];
    memset(row, 0, n + 1);
    row[0] = 1;
    for (const char *p = pat; *p != '\0'; p++) {
        char c = *p;
        int literal = 0;
        if (c == '\\' && p[1] != '\0') {
            c = *++p;
            literal = 1;
        }
        if (!literal && c == '*') {
            next[0] = row[0];
            for (size_t j = 1; j <= n; j++)
                next[j] = row[j] || (next[j - 1] && strchr(stop, s[j - 1]) == NULL);
        } else {
            next[0] = 0;
            for (size_t j = 1; j <= n; j++)
                next[j] = row[j - 1] && ((!literal && c == '?') ? (strchr(stop, s[j - 1]) == NULL)
                                                                : s[j - 1] == c);
        }
        memcpy(row, next, n + 1);
    }
    return row[n];
}

int pkie_ca_pattern_check(const char *pattern)
{
    size_t len = strlen(pattern);
    if (len == 0 || len > PKIE_CA_PATTERN_MAX)
        return PKIE_ERR(PKIE_ERR_CA_PATTERN, "subject pattern must have 1..%d characters",
                        PKIE_CA_PATTERN_MAX);
    int stars = 0;
    const char *p = pattern;
    while (*p != '\0') {
        char attr[64];
        size_t a = 0;
        while (*p != '\0' && *p != '=' && a + 1 < sizeof(attr))
            attr[a++] = *p++;
        attr[a] = '\0';
        if (*p != '=' || a == 0 || OBJ_txt2nid(attr) == NID_undef)
            return PKIE_ERR(PKIE_ERR_CA_PATTERN, "pattern '%.100s': expected ATTR=value, got '%s'",
                            pattern, attr);
        p++;
        while (*p != '\0' && *p != ',') {
            if (*p == '*')
                stars++;
            if (*p == '\\' && p[1] != '\0')
                p++;
            p++;
        }
        if (*p == ',')
            p++;
    }
    if (stars > 8)
        return PKIE_ERR(PKIE_ERR_CA_PATTERN, "pattern has more than 8 '*'");
    return 0;
}

int pkie_ca_pattern_match_name(const char *pattern, const X509_NAME *name)
{
    char text[1024];
    if (name == NULL || X509_NAME_entry_count(name) == 0)
        return 0;
    if (pkie_ca_name_text(name, text, sizeof(text)) != 0)
        return 0;
    return glob_match(pattern, text, ",");
}

static int san_one(const char *pattern, const GENERAL_NAME *g)
{
    char val[512];
    const char *kind;
    const char *stop = "";
    int type;
    const ASN1_STRING *str = GENERAL_NAME_get0_value(g, &type);
    switch (type) {
    case GEN_DNS:
    case GEN_EMAIL:
    case GEN_URI: {
        kind = type == GEN_DNS ? "DNS" : type == GEN_EMAIL ? "email" : "URI";
        stop = type == GEN_DNS ? "." : "";
        int n = ASN1_STRING_length(str);
        if (n <= 0 || (size_t)n >= sizeof(val))
            return 0;
        memcpy(val, ASN1_STRING_get0_data(str), (size_t)n);
        val[n] = '\0';
        if (strlen(val) != (size_t)n)
            return 0; /* embedded NUL */
        break;
    }
    case GEN_IPADD: {
        kind = "IP";
        int n = ASN1_STRING_length(str);
        int af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : -1;
        if (af < 0 || inet_ntop(af, ASN1_STRING_get0_data(str), val, sizeof(val)) == NULL)
            return 0;
        break;
    }
    default:
        return 0; /* other name forms are never allowed */
    }
    size_t klen = strlen(kind);
    const char *p = pattern;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t elen = end != NULL ? (size_t)(end - p) : strlen(p);
        char entry[PKIE_CA_PATTERN_MAX + 1];
        if (elen < sizeof(entry)) {
            memcpy(entry, p, elen);
            entry[elen] = '\0';
            if (elen > klen && strncmp(entry, kind, klen) == 0 && entry[klen] == ':' &&
                glob_match(entry + klen + 1, val, stop))
                return 1;
        }
        p += elen;
        if (*p == ',')
            p++;
    }
    return 0;
}

int pkie_ca_pattern_match_sans(const char *pattern, const GENERAL_NAMES *gens)
{
    int n = sk_GENERAL_NAME_num(gens);
    for (int i = 0; i < n; i++)
        if (!san_one(pattern, sk_GENERAL_NAME_value(gens, i)))
            return 0;
    return 1;
}
