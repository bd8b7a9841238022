/* UTCTime and GeneralizedTime in their strict DER forms (X.690 11.7, 11.8). */
#include "der_internal.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
int64_t der_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void der_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

/* Two decimal digits at v, or -1. */
static int two(const uint8_t *v)
{
    if (v[0] < '0' || v[0] > '9' || v[1] < '0' || v[1] > '9')
        return -1;
    return (v[0] - '0') * 10 + (v[1] - '0');
}

int der_check_time(uint32_t type, const uint8_t *v, size_t len, size_t off, struct pkie_der_time *t)
{
    int64_t year;
    size_t i;
    uint32_t nanos = 0;
    if (type == PKIE_DER_UTC_TIME) {
        if (len != 13 || v[12] != 'Z')
            return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off, "UTCTime must be YYMMDDHHMMSSZ");
        int yy = two(v);
        if (yy < 0)
            return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off, "UTCTime year not two digits");
        year = yy >= 50 ? 1900 + yy : 2000 + yy;
        i = 2;
    } else if (type == PKIE_DER_GENERALIZED_TIME) {
        if (len < 15 || v[len - 1] != 'Z')
            return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off,
                               "GeneralizedTime must be YYYYMMDDHHMMSS[.f]Z");
        int hi = two(v), lo = two(v + 2);
        if (hi < 0 || lo < 0)
            return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off, "GeneralizedTime year not four digits");
        year = hi * 100 + lo;
        i = 4;
        if (len > 15) {
            /* ".f" : 1..9 digits, the last not 0. */
            size_t nd = len - 16;
            if (v[14] != '.' || nd == 0 || nd > 9)
                return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + 14,
                                   "GeneralizedTime fraction must be .d to .ddddddddd");
            uint32_t scale = 1000000000u;
            for (size_t k = 0; k < nd; k++) {
                uint8_t c = v[15 + k];
                if (c < '0' || c > '9')
                    return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + 15 + k, "fraction not digits");
                scale /= 10;
                nanos += (uint32_t)(c - '0') * scale;
            }
            if (v[len - 2] == '0')
                return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + len - 2,
                                   "fraction with a trailing zero");
        }
    } else {
        return PKIE_ERR(PKIE_ERR_ARG, "not a time type");
    }
    int mon = two(v + i), day = two(v + i + 2), hour = two(v + i + 4);
    int min = two(v + i + 6), sec = two(v + i + 8);
    if (mon < 1 || mon > 12)
        return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + i, "bad month");
    if (day < 1 || (unsigned)day > days_in_month(year, (unsigned)mon))
        return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + i + 2, "bad day of month");
    if (hour < 0 || hour > 23)
        return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + i + 4, "bad hour");
    if (min < 0 || min > 59)
        return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + i + 6, "bad minute");
    if (sec < 0 || sec > 59)
        return PKIE_ERR_AT(PKIE_ERR_DER_TIME, off + i + 8, "bad second");
    if (t != NULL) {
        t->secs = der_days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hour * 3600 +
                  min * 60 + sec;
        t->nanos = nanos;
    }
    return 0;
}

int pkie_der_read_time(struct pkie_der *d, uint32_t tag, uint32_t type, struct pkie_der_time *t)
{
    if (type != PKIE_DER_UTC_TIME && type != PKIE_DER_GENERALIZED_TIME)
        return PKIE_ERR(PKIE_ERR_ARG, "not a time type");
    struct pkie_der_tlv tl;
    int rc = der_peek_primitive(d, tag, &tl);
    if (rc != 0)
        return rc;
    struct pkie_der_time tmp;
    rc = der_check_time(type, tl.val, tl.len, DER_OFF(d, tl.val), &tmp);
    if (rc != 0)
        return rc;
    d->p = tl.tlv + tl.tlv_len;
    *t = tmp;
    return 0;
}

int pkie_der_read_any_time(struct pkie_der *d, struct pkie_der_time *t, uint32_t *type)
{
    uint32_t tag;
    int rc = pkie_der_peek_tag(d, &tag);
    if (rc != 0)
        return rc;
    if (tag != PKIE_DER_UTC_TIME && tag != PKIE_DER_GENERALIZED_TIME)
        return PKIE_ERR_AT(PKIE_ERR_DER_TAG, DER_OFF(d, d->p),
                           "Time must be UTCTime or GeneralizedTime");
    rc = pkie_der_read_time(d, tag, tag, t);
    if (rc == 0 && type != NULL)
        *type = tag;
    return rc;
}

/* Format @p t as @p type into out (at least 25 bytes); returns the length. */
int der_format_time(uint32_t type, const struct pkie_der_time *t, char *out)
{
    if (t->nanos >= 1000000000u)
        return PKIE_ERR(PKIE_ERR_DER_TIME, "nanoseconds %u out of range", t->nanos);
    int64_t days = t->secs / 86400, rem = t->secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, dd;
    der_civil_from_days(days, &y, &m, &dd);
    unsigned hh = (unsigned)(rem / 3600), mi = (unsigned)(rem / 60 % 60), ss = (unsigned)(rem % 60);
    size_t n = 0;
    if (type == PKIE_DER_UTC_TIME) {
        if (y < 1950 || y > 2049)
            return PKIE_ERR(PKIE_ERR_DER_TIME, "year %lld outside UTCTime's 1950..2049",
                            (long long)y);
        if (t->nanos != 0)
            return PKIE_ERR(PKIE_ERR_DER_TIME, "UTCTime has no fraction of a second");
        out[n++] = (char)('0' + y / 10 % 10);
        out[n++] = (char)('0' + y % 10);
    } else if (type == PKIE_DER_GENERALIZED_TIME) {
        if (y < 0 || y > 9999)
            return PKIE_ERR(PKIE_ERR_DER_TIME, "year %lld outside GeneralizedTime's 0..9999",
                            (long long)y);
        out[n++] = (char)('0' + y / 1000);
        out[n++] = (char)('0' + y / 100 % 10);
        out[n++] = (char)('0' + y / 10 % 10);
        out[n++] = (char)('0' + y % 10);
    } else {
        return PKIE_ERR(PKIE_ERR_ARG, "not a time type");
    }
    unsigned f[5] = {m, dd, hh, mi, ss};
    for (int k = 0; k < 5; k++) {
        out[n++] = (char)('0' + f[k] / 10);
        out[n++] = (char)('0' + f[k] % 10);
    }
    if (t->nanos != 0) {
        out[n++] = '.';
        uint32_t v = t->nanos, scale = 100000000u;
        while (v != 0) {
            out[n++] = (char)('0' + v / scale);
            v %= scale;
            scale /= 10;
        }
    }
    out[n++] = 'Z';
    return (int)n;
}
