#include "ticks.h"

#include <string.h>
#include <time.h>

#define TICKS_PER_MS     10000LL
#define TICKS_PER_MINUTE (60 * TICKS_PER_SECOND)
#define TICKS_PER_HOUR   (60 * TICKS_PER_MINUTE)
#define TICKS_PER_DAY    (24 * TICKS_PER_HOUR)
/* days_from_civil(1, 1, 1): the day number of 0001-01-01 counted from 1970-01-01. */
#define TICKS_DAY0_FROM_1970 (-719162LL)

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil,
 * http://howardhinnant.github.io/date_algorithms.html): exact for DateTime's years 1..9999
 * and far beyond, with no libc time functions involved. */
static int64_t ticks_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The inverse of ticks_days_from_civil. */
static void ticks_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool ticks_is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int ticks_days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ticks_is_leap_year(y))
        return 29;
    return days[m - 1];
}

/* a + b, saturating at the int64 limits instead of overflowing. */
static int64_t ticks_add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

int64_t ticks_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ticks_from_unix((int64_t)ts.tv_sec, (int32_t)ts.tv_nsec);
}

int64_t ticks_from_unix(int64_t seconds, int32_t nanoseconds)
{
    /* Far outside DateTime's range the result saturates; callers see it as out of range. */
    if (seconds > INT64_MAX / TICKS_PER_SECOND)
        return INT64_MAX;
    if (seconds < INT64_MIN / TICKS_PER_SECOND)
        return INT64_MIN;
    int64_t t = ticks_add_sat(seconds * TICKS_PER_SECOND, nanoseconds / 100);
    return ticks_add_sat(t, TICKS_UNIX_EPOCH);
}

int64_t ticks_from_filetime(int64_t filetime)
{
    return ticks_add_sat(filetime, TICKS_FILETIME_EPOCH);
}

int64_t ticks_to_filetime(int64_t ticks)
{
    return ticks_add_sat(ticks, -TICKS_FILETIME_EPOCH);
}

/* Write v as exactly width decimal digits (v is known to fit). */
static char *ticks_put_digits(char *out, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return out + width;
}

void ticks_format_iso(int64_t ticks, char *out)
{
    if (ticks < 0 || ticks > TICKS_MAX) {
        memcpy(out, "invalid", sizeof "invalid");
        return;
    }
    int64_t days = ticks / TICKS_PER_DAY;
    int64_t rest = ticks % TICKS_PER_DAY;
    int64_t y;
    int m, d;
    ticks_civil_from_days(days + TICKS_DAY0_FROM_1970, &y, &m, &d);

    /* Fixed layout "YYYY-MM-DDThh:mm:ss.fffffffZ" (28 chars), built by hand: every field
     * is in range here, and snprintf would need a buffer sized for any int. */
    char *p = out;
    p = ticks_put_digits(p, y, 4);
    *p++ = '-';
    p = ticks_put_digits(p, m, 2);
    *p++ = '-';
    p = ticks_put_digits(p, d, 2);
    *p++ = 'T';
    p = ticks_put_digits(p, rest / TICKS_PER_HOUR, 2);
    *p++ = ':';
    p = ticks_put_digits(p, rest / TICKS_PER_MINUTE % 60, 2);
    *p++ = ':';
    p = ticks_put_digits(p, rest / TICKS_PER_SECOND % 60, 2);
    *p++ = '.';
    p = ticks_put_digits(p, rest % TICKS_PER_SECOND, 7);
    *p++ = 'Z';
    *p = '\0';
}

/* Read exactly n decimal digits at *p into *val and advance *p. */
static int ticks_read_digits(const char **p, int n, int *val)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *val = v;
    return 0;
}

int ticks_parse_iso(const char *s, int64_t *out)
{
    const char *p = s;
    int year, month, day, hour = 0, minute = 0, second = 0;
    int64_t frac = 0;

    if (ticks_read_digits(&p, 4, &year) < 0 || *p++ != '-' ||
        ticks_read_digits(&p, 2, &month) < 0 || *p++ != '-' || ticks_read_digits(&p, 2, &day) < 0)
        return -1;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > ticks_days_in_month(year, month))
        return -1;

    if (*p == 'T') {
        p++;
        if (ticks_read_digits(&p, 2, &hour) < 0 || *p++ != ':' ||
            ticks_read_digits(&p, 2, &minute) < 0)
            return -1;
        if (*p == ':') {
            p++;
            if (ticks_read_digits(&p, 2, &second) < 0)
                return -1;
            if (*p == '.') {
                p++;
                int digits = 0;
                while (*p >= '0' && *p <= '9') {
                    if (++digits > 7)
                        return -1;
                    frac = frac * 10 + (*p++ - '0');
                }
                if (digits == 0)
                    return -1;
                for (; digits < 7; digits++)
                    frac *= 10;
            }
        }
        if (hour > 23 || minute > 59 || second > 59)
            return -1;
    }

    int64_t offset = 0; /* local time minus UTC, in ticks */
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh, om;
        if (ticks_read_digits(&p, 2, &oh) < 0 || *p++ != ':' || ticks_read_digits(&p, 2, &om) < 0)
            return -1;
        if (oh > 14 || om > 59 || (oh == 14 && om != 0))
            return -1;
        offset = sign * (oh * TICKS_PER_HOUR + om * TICKS_PER_MINUTE);
    }
    if (*p != '\0')
        return -1;

    int64_t days = ticks_days_from_civil(year, month, day) - TICKS_DAY0_FROM_1970;
    int64_t t = days * TICKS_PER_DAY + hour * TICKS_PER_HOUR + minute * TICKS_PER_MINUTE +
                second * TICKS_PER_SECOND + frac - offset;
    if (t < 0 || t > TICKS_MAX)
        return -1;
    *out = t;
    return 0;
}

/* Duration units, largest first; a duration lists them in this order, each at most once. */
static const struct {
    const char *suffix;
    int64_t ticks;
} ticks_units[] = {
    {"d", TICKS_PER_DAY},    {"h", TICKS_PER_HOUR}, {"m", TICKS_PER_MINUTE},
    {"s", TICKS_PER_SECOND}, {"ms", TICKS_PER_MS},
};

#define TICKS_UNIT_COUNT (sizeof ticks_units / sizeof ticks_units[0])

int ticks_parse_duration(const char *s, int64_t *out)
{
    const char *p = s;
    int64_t total = 0;
    size_t next_unit = 0; /* units before this index are used up */

    if (*p == '\0')
        return -1;
    if (strcmp(p, "0") == 0) {
        *out = 0;
        return 0;
    }
    while (*p != '\0') {
        if (*p < '0' || *p > '9')
            return -1;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            int digit = *p++ - '0';
            if (n > (INT64_MAX - digit) / 10)
                return -1;
            n = n * 10 + digit;
        }
        /* Longest matching suffix, so "500ms" is milliseconds, not minutes then garbage. */
        size_t unit = TICKS_UNIT_COUNT;
        size_t unit_len = 0;
        for (size_t u = 0; u < TICKS_UNIT_COUNT; u++) {
            size_t l = strlen(ticks_units[u].suffix);
            if (l > unit_len && strncmp(p, ticks_units[u].suffix, l) == 0) {
                unit = u;
                unit_len = l;
            }
        }
        if (unit == TICKS_UNIT_COUNT || unit < next_unit)
            return -1;
        next_unit = unit + 1;
        p += unit_len;

        if (n > INT64_MAX / ticks_units[unit].ticks)
            return -1;
        int64_t part = n * ticks_units[unit].ticks;
        if (total > INT64_MAX - part)
            return -1;
        total += part;
    }
    *out = total;
    return 0;
}
