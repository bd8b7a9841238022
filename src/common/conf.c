/* The `key = value` configuration reader (include/pkie/conf.h). */
#include "pkie/conf.h"

#include "pkie/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Does @p key match @p pattern, where "*" stands for one dot-free segment? */
static int key_matches(const char *pattern, const char *key)
{
    while (*pattern != '\0') {
        if (*pattern == '*') {
            if (*key == '\0' || *key == '.')
                return 0; /* a segment is never empty */
            while (*key != '\0' && *key != '.')
                key++;
            pattern++;
            continue;
        }
        if (*pattern != *key)
            return 0;
        pattern++;
        key++;
    }
    return *key == '\0';
}

static int is_key_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

struct parse_state {
    const char *origin;
    unsigned line;
    const struct pkie_conf_key *keys;
    void *dst;
    void *cb_arg;
    unsigned char *seen; /* one flag per schema entry (exact keys) */
    char **seen_cb;      /* callback keys seen, for duplicate detection */
    size_t n_seen_cb, cap_seen_cb;
};

#define CONF_ERR(st, code, ...) conf_error((st), (code), __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 5, 6))) static int
conf_error(struct parse_state *st, int code, const char *file, int line, const char *fmt, ...)
{
    char detail[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return pkie_err_set(code, file, line, PKIE_NO_OFFSET, "%s:%u: %s", st->origin, st->line,
                        detail);
}

/*
 * Decode the value part of a line (after '=' and leading blanks) into
 * @p out (capacity >= len + 1). Handles quoting and trailing comments.
 */
static int parse_value(struct parse_state *st, const char *p, size_t len, char *out)
{
    size_t o = 0, i = 0;
    if (len > 0 && (p[0] == '"' || p[0] == '\'')) {
        char q = p[0];
        for (i = 1; i < len; i++) {
            char c = p[i];
            if (c == q)
                break;
            if (q == '"' && c == '\\') {
                if (++i >= len)
                    return CONF_ERR(st, PKIE_ERR_CONF_QUOTE, "backslash at end of value");
                switch (p[i]) {
                case '\\':
                    c = '\\';
                    break;
                case '"':
                    c = '"';
                    break;
                case 'n':
                    c = '\n';
                    break;
                case 't':
                    c = '\t';
                    break;
                default:
                    return CONF_ERR(st, PKIE_ERR_CONF_QUOTE, "unknown escape '\\%c'", p[i]);
                }
            } else if ((unsigned char)c < 0x20 && c != '\t') {
                return CONF_ERR(st, PKIE_ERR_CONF_SYNTAX, "control character in value");
            }
            out[o++] = c;
        }
        if (i >= len)
            return CONF_ERR(st, PKIE_ERR_CONF_QUOTE, "missing closing %c", q);
        /* after the closing quote: blanks, then nothing or a comment */
        for (i++; i < len && is_blank(p[i]); i++)
            ;
        if (i < len && p[i] != '#')
            return CONF_ERR(st, PKIE_ERR_CONF_SYNTAX, "text after closing quote");
        out[o] = '\0';
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = p[i];
        if (c == '#' && (i == 0 || is_blank(p[i - 1])))
            break;
        if (c == '"' || c == '\'')
            return CONF_ERR(st, PKIE_ERR_CONF_QUOTE, "quote inside an unquoted value");
        if ((unsigned char)c < 0x20 && c != '\t')
            return CONF_ERR(st, PKIE_ERR_CONF_SYNTAX, "control character in value");
        out[o++] = c;
    }
    while (o > 0 && is_blank(out[o - 1]))
        o--;
    out[o] = '\0';
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int seen_callback_key(struct parse_state *st, const char *key)
{
    for (size_t i = 0; i < st->n_seen_cb; i++)
        if (strcmp(st->seen_cb[i], key) == 0)
            return 1;
    if (st->n_seen_cb == st->cap_seen_cb) {
        size_t ncap = st->cap_seen_cb ? st->cap_seen_cb * 2 : 16;
        char **n = realloc(st->seen_cb, ncap * sizeof(*n));
        if (n == NULL)
            return -1;
        st->seen_cb = n;
        st->cap_seen_cb = ncap;
    }
    st->seen_cb[st->n_seen_cb] = strdup(key);
    if (st->seen_cb[st->n_seen_cb] == NULL)
        return -1;
    st->n_seen_cb++;
    return 0;
}

static int store_value(struct parse_state *st, const char *key, const char *value)
{
    const struct pkie_conf_key *k = NULL;
    size_t idx = 0;
    for (; st->keys[idx].name != NULL; idx++) {
        if (key_matches(st->keys[idx].name, key)) {
            k = &st->keys[idx];
            break;
        }
    }
    if (k == NULL)
        return CONF_ERR(st, PKIE_ERR_CONF_UNKNOWN_KEY, "unknown key '%s'", key);

    if (k->type == PKIE_CONF_CALLBACK) {
        int dup = seen_callback_key(st, key);
        if (dup < 0)
            return PKIE_ERR(PKIE_ERR_NOMEM, "out of memory");
        if (dup > 0)
            return CONF_ERR(st, PKIE_ERR_CONF_DUPLICATE, "key '%s' given twice", key);
        st->seen[idx] = 1;
        int rc = k->cb(st->dst, key, value, st->line, st->cb_arg);
        if (rc != 0 && pkie_err_last()->code != rc)
            return CONF_ERR(st, rc, "invalid value for '%s'", key);
        return rc;
    }
    if (st->seen[idx])
        return CONF_ERR(st, PKIE_ERR_CONF_DUPLICATE, "key '%s' given twice", key);
    st->seen[idx] = 1;

    char *slot = (char *)st->dst + k->offset;
    switch (k->type) {
    case PKIE_CONF_STRING: {
        char *copy = strdup(value);
        if (copy == NULL)
            return PKIE_ERR(PKIE_ERR_NOMEM, "out of memory");
        char **sp = (char **)(void *)slot;
        free(*sp);
        *sp = copy;
        return 0;
    }
    case PKIE_CONF_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno == ERANGE)
            return CONF_ERR(st, PKIE_ERR_CONF_VALUE, "'%s' needs an integer, got '%s'", key, value);
        if (v < k->min || v > k->max)
            return CONF_ERR(st, PKIE_ERR_CONF_VALUE, "'%s' must be within %lld..%lld, got %lld",
                            key, k->min, k->max, v);
        memcpy(slot, &v, sizeof(v));
        return 0;
    }
    case PKIE_CONF_BOOL: {
        int v;
        if (parse_bool(value, &v) != 0)
            return CONF_ERR(st, PKIE_ERR_CONF_VALUE, "'%s' needs yes or no, got '%s'", key, value);
        memcpy(slot, &v, sizeof(v));
        return 0;
    }
    case PKIE_CONF_ENUM:
        for (int i = 0; k->choices != NULL && k->choices[i] != NULL; i++) {
            if (strcmp(k->choices[i], value) == 0) {
                memcpy(slot, &i, sizeof(i));
                return 0;
            }
        }
        return CONF_ERR(st, PKIE_ERR_CONF_VALUE, "'%s' does not accept '%s'", key, value);
    case PKIE_CONF_CALLBACK:
        break;
    }
    return PKIE_ERR(PKIE_ERR_INTERNAL, "bad schema entry for '%s'", k->name);
}

static int parse_line(struct parse_state *st, const char *p, size_t len, char *scratch)
{
    size_t i = 0;
    while (i < len && is_blank(p[i]))
        i++;
    if (i == len || p[i] == '#')
        return 0;
    size_t ks = i;
    while (i < len && is_key_char((unsigned char)p[i]))
        i++;
    size_t ke = i;
    if (ke == ks)
        return CONF_ERR(st, PKIE_ERR_CONF_SYNTAX, "expected a key");
    while (i < len && is_blank(p[i]))
        i++;
    if (i == len || p[i] != '=')
        return CONF_ERR(st, PKIE_ERR_CONF_SYNTAX, "expected '=' after key '%.*s'",
                        (int)(ke - ks > 64 ? 64 : ke - ks), p + ks);
    i++;
    while (i < len && is_blank(p[i]))
        i++;
    char key[256];
    if (ke - ks >= sizeof(key))
        return CONF_ERR(st, PKIE_ERR_CONF_SYNTAX, "key longer than %zu bytes", sizeof(key) - 1);
    memcpy(key, p + ks, ke - ks);
    key[ke - ks] = '\0';
    int rc = parse_value(st, p + i, len - i, scratch);
    if (rc != 0)
        return rc;
    return store_value(st, key, scratch);
}

int pkie_conf_parse(const char *text, size_t len, const char *origin,
                    const struct pkie_conf_key *keys, void *dst, void *cb_arg)
{
    int rc = 0;
    size_t nkeys = 0;
    struct parse_state st = {
        .origin = origin ? origin : "config", .keys = keys, .dst = dst, .cb_arg = cb_arg};
    char *scratch = NULL;
    if (text == NULL || keys == NULL || dst == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "missing argument");
    if (len > PKIE_CONF_MAX_SIZE)
        return PKIE_ERR(PKIE_ERR_LIMIT, "%s: larger than %u bytes", st.origin, PKIE_CONF_MAX_SIZE);
    while (keys[nkeys].name != NULL)
        nkeys++;
    st.seen = calloc(nkeys + 1, 1);
    scratch = malloc(PKIE_CONF_MAX_LINE + 1);
    if (st.seen == NULL || scratch == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "out of memory");
        goto err;
    }
    size_t pos = 0;
    while (pos < len) {
        st.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t l = end - pos;
        if (l > 0 && text[pos + l - 1] == '\r')
            l--;
        if (l > PKIE_CONF_MAX_LINE) {
            rc = CONF_ERR(&st, PKIE_ERR_CONF_SYNTAX, "line longer than %u bytes",
                          PKIE_CONF_MAX_LINE);
            goto err;
        }
        if (memchr(text + pos, '\0', l) != NULL) {
            rc = CONF_ERR(&st, PKIE_ERR_CONF_SYNTAX, "NUL byte in line");
            goto err;
        }
        rc = parse_line(&st, text + pos, l, scratch);
        if (rc != 0)
            goto err;
        pos = end + 1;
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i].required && !st.seen[i]) {
            st.line = 0;
            rc = pkie_err_set(PKIE_ERR_CONF_MISSING, __FILE__, __LINE__, PKIE_NO_OFFSET,
                              "%s: required key '%s' is missing%s%s%s", st.origin, keys[i].name,
                              keys[i].help ? " (" : "", keys[i].help ? keys[i].help : "",
                              keys[i].help ? ")" : "");
            goto err;
        }
    }
err:
    for (size_t i = 0; i < st.n_seen_cb; i++)
        free(st.seen_cb[i]);
    free(st.seen_cb);
    free(st.seen);
    free(scratch);
    return rc;
}

int pkie_conf_load(const char *path, const struct pkie_conf_key *keys, void *dst, void *cb_arg)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return PKIE_ERR(PKIE_ERR_IO, "%s: %s", path, strerror(errno));
    char *text = malloc(PKIE_CONF_MAX_SIZE + 1);
    if (text == NULL) {
        fclose(f);
        return PKIE_ERR(PKIE_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(text, 1, PKIE_CONF_MAX_SIZE + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = PKIE_ERR(PKIE_ERR_IO, "%s: read error", path);
    else if (n > PKIE_CONF_MAX_SIZE)
        rc = PKIE_ERR(PKIE_ERR_LIMIT, "%s: larger than %u bytes", path, PKIE_CONF_MAX_SIZE);
    else
        rc = pkie_conf_parse(text, n, path, keys, dst, cb_arg);
    free(text);
    return rc;
}

void pkie_conf_free(const struct pkie_conf_key *keys, void *dst)
{
    if (keys == NULL || dst == NULL)
        return;
    for (size_t i = 0; keys[i].name != NULL; i++) {
        if (keys[i].type != PKIE_CONF_STRING)
            continue;
        char **sp = (char **)(void *)((char *)dst + keys[i].offset);
        free(*sp);
        *sp = NULL;
    }
}
