/* libFuzzer target for the configuration of pkie recv / pkie send
 * (src/transfer/xconf.c) and the name patterns of partner.NAME.names
 * (src/transfer/name.c).
 *
 * Input: configuration text, optionally followed by a NUL byte and file names
 * separated by NUL bytes. Checks (abort() on violation): the parse returns 0
 * or a configuration error with a message; every stored pattern passes
 * pkie_xfer_name_pattern_check and holds at most PKIE_XFER_NAME_PATTERNS_MAX
 * per partner; partner.NAME.dir has no trailing '/' (unless "/"); every
 * pattern matches the name made of it by dropping each '*' and putting 'x'
 * for each '?' (when that is a valid name), and "*" matches every valid name;
 * matching a name from the input gives 0 or 1 and agrees with
 * pkie_xfer_names_allowed; everything is freed (leaks are findings under
 * ASan). Nothing touches the file system (no partner directory is opened). */
#include "pkie/error.h"
#include "pkie/transfer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* The name a pattern describes most simply: '*' as nothing, '?' as 'x'. */
static void check_instance(const char *pat)
{
    char inst[PKIE_XFER_NAME_MAX + 1];
    size_t n = 0;
    for (const char *p = pat; *p != '\0' && n < sizeof(inst) - 1; p++)
        if (*p != '*')
            inst[n++] = *p == '?' ? 'x' : *p;
    inst[n] = '\0';
    if (n > 0 && pkie_xfer_name_check(inst, n) == 0)
        CHECK(pkie_xfer_name_match(pat, inst, n) == 1);
}

static void check_partner(const struct pkie_xfer_partner *p, const char *names, size_t nlen)
{
    CHECK(p->dirfd == -1);
    CHECK(p->n_names <= PKIE_XFER_NAME_PATTERNS_MAX);
    if (p->dir != NULL) {
        size_t l = strlen(p->dir);
        CHECK(l > 0 && (l == 1 || p->dir[l - 1] != '/'));
    }
    for (size_t i = 0; i < p->n_names; i++) {
        CHECK(pkie_xfer_name_pattern_check(p->names[i], strlen(p->names[i])) == 0);
        check_instance(p->names[i]);
    }
    /* the names of the input, NUL-separated */
    for (size_t off = 0; off < nlen;) {
        const char *name = names + off;
        size_t l = strnlen(name, nlen - off);
        if (l > 0 && pkie_xfer_name_check(name, l) == 0) {
            int any = 0;
            for (size_t i = 0; i < p->n_names; i++) {
                int m = pkie_xfer_name_match(p->names[i], name, l);
                CHECK(m == 0 || m == 1);
                any |= m;
            }
            CHECK(pkie_xfer_names_allowed((const char *const *)p->names, p->n_names, name, l) ==
                  (p->n_names == 0 ? 1 : any));
            CHECK(pkie_xfer_name_match("*", name, l) == 1);
        }
        off += l + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    size_t tlen = strnlen((const char *)data, size);
    char *text = malloc(tlen + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, tlen);
    text[tlen] = '\0';
    const char *names = tlen < size ? (const char *)data + tlen + 1 : "";
    size_t nlen = tlen < size ? size - tlen - 1 : 0;

    struct pkie_xfer_conf c;
    int rc = pkie_xfer_conf_parse(text, "fuzz", &c);
    if (rc == 0) {
        for (size_t i = 0; i < c.n_partners; i++)
            check_partner(&c.partners[i], names, nlen);
    } else {
        CHECK(rc == PKIE_ERR_NOMEM || (rc <= PKIE_ERR_CONF_SYNTAX && rc >= PKIE_ERR_CONF_QUOTE) ||
              rc == PKIE_ERR_ARG);
        CHECK(pkie_err_last()->msg[0] != '\0');
    }
    pkie_xfer_conf_free(&c);
    free(text);
    return 0;
}
