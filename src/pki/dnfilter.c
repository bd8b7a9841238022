/* DN filters: does an RFC 4514 subject match a pattern with '*' wildcards in
 * attribute values? Both sides are split into attribute-value assertions at
 * unescaped ',' and '+', escapes (\c and \hh) are undone, attribute types
 * compare case-insensitively and values compare case-insensitively (ASCII)
 * with '*' in a pattern value matching any run of characters ("\*" is a
 * literal star). Pattern and subject must have the same attributes in the
 * same order (RFC 4514 order: most specific first, e.g. "CN=*,O=Example,C=DE"). */
#include "pki_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DN_TEXT_MAX 4096
#define DN_AVA_MAX  64
#define WILDCARD    (-1)

struct dn_ava {
    const char *type; /* points into the text */
    size_t type_len;
    int *val; /* bytes 0..255, or WILDCARD */
    size_t val_len;
    char sep; /* separator that follows: ',', '+' or '\0' */
};

struct dn {
    struct dn_ava ava[DN_AVA_MAX];
    size_t n;
    int *vals; /* storage for every value */
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 0 on success, -1 on a syntax error or a text over the limits. */
static int dn_parse(const char *s, int is_pattern, struct dn *out)
{
    size_t len = strlen(s), pos = 0, used = 0;
    out->n = 0;
    out->vals = NULL;
    if (len == 0 || len > DN_TEXT_MAX)
        return -1;
    out->vals = malloc(len * sizeof(int));
    if (out->vals == NULL)
        return -1;
    for (;;) {
        if (out->n == DN_AVA_MAX)
            return -1;
        struct dn_ava *a = &out->ava[out->n++];
        while (s[pos] == ' ')
            pos++;
        a->type = s + pos;
        while (s[pos] != '\0' && s[pos] != '=' && s[pos] != ',' && s[pos] != '+')
            pos++;
        if (s[pos] != '=')
            return -1;
        a->type_len = (size_t)(s + pos - a->type);
        while (a->type_len > 0 && a->type[a->type_len - 1] == ' ')
            a->type_len--;
        if (a->type_len == 0)
            return -1;
        pos++;
        while (s[pos] == ' ')
            pos++;
        a->val = out->vals + used;
        a->val_len = 0;
        size_t keep = 0; /* length up to the last character that is not a plain space */
        while (s[pos] != '\0' && s[pos] != ',' && s[pos] != '+') {
            int c;
            if (s[pos] == '\\') {
                int h1 = hexval(s[pos + 1]), h2 = h1 >= 0 ? hexval(s[pos + 2]) : -1;
                if (h1 >= 0 && h2 >= 0) {
                    c = h1 * 16 + h2;
                    pos += 3;
                } else if (s[pos + 1] != '\0') {
                    c = (unsigned char)s[pos + 1];
                    pos += 2;
                } else {
                    return -1;
                }
                a->val[a->val_len++] = c;
                keep = a->val_len;
                continue;
            }
            c = (unsigned char)s[pos++];
            a->val[a->val_len++] = is_pattern && c == '*' ? WILDCARD : c;
            if (c != ' ')
                keep = a->val_len;
        }
        a->val_len = keep;
        used += a->val_len;
        a->sep = s[pos];
        if (s[pos] == '\0')
            return 0;
        pos++;
    }
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int value_match(const int *p, size_t pn, const int *t, size_t tn)
{
    size_t pi = 0, ti = 0, star = SIZE_MAX, mark = 0;
    while (ti < tn) {
        if (pi < pn && p[pi] != WILDCARD && lower(p[pi]) == lower(t[ti])) {
            pi++;
            ti++;
        } else if (pi < pn && p[pi] == WILDCARD) {
            star = pi++;
            mark = ti;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pn && p[pi] == WILDCARD)
        pi++;
    return pi == pn;
}

int pki_dn_match(const char *pattern, const char *subject)
{
    struct dn *p = calloc(2, sizeof(struct dn));
    int ok = 0;
    if (p == NULL || pattern == NULL || subject == NULL)
        goto out;
    struct dn *t = p + 1;
    if (dn_parse(pattern, 1, p) != 0 || dn_parse(subject, 0, t) != 0 || p->n != t->n)
        goto out;
    for (size_t i = 0; i < p->n; i++) {
        const struct dn_ava *a = &p->ava[i], *b = &t->ava[i];
        if (a->type_len != b->type_len || strncasecmp(a->type, b->type, a->type_len) != 0 ||
            a->sep != b->sep || !value_match(a->val, a->val_len, b->val, b->val_len))
            goto out;
    }
    ok = 1;
out:
    if (p != NULL) {
        free(p[0].vals);
        free(p[1].vals);
    }
    free(p);
    return ok;
}

int pkie_pki_dn_match(const char *pattern, const char *subject)
{
    return pki_dn_match(pattern, subject);
}
