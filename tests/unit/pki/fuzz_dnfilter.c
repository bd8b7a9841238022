/* Fuzz target: the DN filter matcher (src/pki/dnfilter.c). The input is a
 * pattern and a subject separated by the first newline; both are untrusted
 * (patterns come from configuration or from an exit's StartHandshake answer,
 * subjects from peer certificates). Checks memory safety and two properties:
 * the result is 0 or 1, and it does not change when the subject is upper-cased
 * (types and values compare case-insensitively, escapes are case-blind). */
#include "pki_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = strchr(buf, '\n');
    const char *pattern = buf, *subject = "";
    if (nl != NULL) {
        *nl = '\0';
        subject = nl + 1;
    }
    int r = pki_dn_match(pattern, subject);
    if (r != 0 && r != 1)
        abort();
    char *upper = strdup(subject);
    if (upper != NULL) {
        for (char *p = upper; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        if (pki_dn_match(pattern, upper) != r)
            abort();
        free(upper);
    }
    free(buf);
    return 0;
}
