/* libFuzzer target for the PKCS#11 exit's configuration string parser
 * (exits/pkcs11/conf.c).
 *
 * The input is copied into a pki.exit.conf-sized buffer (1024 bytes, as the
 * host hands it; longer inputs are cut) and parsed. Checks (abort() on
 * violation): the result is 0 or one of the parser's codes with a message; on
 * failure nothing is left in the structure; on success the invariants the
 * exit relies on hold (required keys present, absolute paths, exactly one key
 * selector and one PIN source, bounded, NUL-terminated fields). A second run
 * with the input unterminated must fail. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p11x.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[1024];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    struct p11x_conf c;
    char err[256];
    err[0] = '\0';
    int rc = p11x_conf_parse(text, sizeof(text), &c, err, sizeof(err));
    check(rc <= 0 && rc >= P11X_E_PIN_IN_CONF);
    if (rc != 0) {
        check(err[0] != '\0');
        const unsigned char *b = (const unsigned char *)&c;
        for (size_t i = 0; i < sizeof(c); i++)
            check(b[i] == 0);
    } else {
        check(terminated(c.module, sizeof(c.module)) && c.module[0] == '/');
        check(terminated(c.token, sizeof(c.token)) && c.token[0] != '\0');
        check(terminated(c.chain, sizeof(c.chain)) && c.chain[0] == '/');
        check(terminated(c.key_label, sizeof(c.key_label)));
        check((c.key_label[0] != '\0') != (c.key_id_len > 0));
        check(c.key_id_len <= P11X_ID_MAX);
        check(terminated(c.pin_file, sizeof(c.pin_file)));
        check(terminated(c.pin_env, sizeof(c.pin_env)));
        check((c.pin_file[0] != '\0') != (c.pin_env[0] != '\0'));
        check(c.pin_file[0] == '\0' || c.pin_file[0] == '/');
        check(terminated(c.log, sizeof(c.log)));
        check(c.log[0] == '\0' || c.log[0] == '/');
    }
    /* the same bytes without a terminator within the capacity */
    if (n > 0) {
        char *raw = malloc(n);
        if (raw != NULL) {
            memcpy(raw, text, n);
            if (memchr(raw, '\0', n) == NULL)
                check(p11x_conf_parse(raw, n, &c, err, sizeof(err)) == P11X_E_SYNTAX);
            free(raw);
        }
    }
    return 0;
}
