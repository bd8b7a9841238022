/* libFuzzer target: the TIME parser of `pkie catalog` (RFC 3339 or a duration
 * before now, catalog.c). A time it accepts must format (RFC 3339 UTC) and
 * parse back to the same instant; a duration stays within 100 years. */
#include "catalog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS        1796336111250LL   /* 2026-12-03T22:15:11.250Z */
#define YEAR_10000_MS 253402300800000LL /* the first instant RFC 3339 cannot write */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[160];
    if (size >= sizeof(s))
        size = sizeof(s) - 1;
    memcpy(s, data, size);
    s[size] = '\0'; /* a NUL inside ends the string, as on a command line */
    int64_t t = -1;
    if (pkie_xfer_time_parse(s, NOW_MS, &t) != 0)
        return 0;
    if (s[0] >= '0' && s[0] <= '9' && strlen(s) >= 5 && s[4] == '-') {
        if (t < 0 - 24 * 3600000LL)
            abort(); /* 1970 at the earliest, less a day of offset */
    } else if (t > NOW_MS || NOW_MS - t > 100LL * 366 * 86400000LL) {
        abort(); /* a duration: before now, within 100 years */
    }
    if (t >= 0 && t < YEAR_10000_MS) {
        char f[32];
        int64_t u = -1;
        pkie_xfer_time_format(t, f);
        if (pkie_xfer_time_parse(f, 0, &u) != 0 || u != t)
            abort();
    }
    return 0;
}
