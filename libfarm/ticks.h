/* ticks: .NET DateTime ticks (100 ns since 0001-01-01T00:00:00Z), FILETIME, ISO 8601, and
 * durations. All times here are UTC. */
#ifndef FARM_TICKS_H
#define FARM_TICKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TICKS_PER_SECOND     10000000LL
#define TICKS_UNIX_EPOCH     621355968000000000LL  /* 1970-01-01T00:00:00Z */
#define TICKS_FILETIME_EPOCH 504911232000000000LL  /* 1601-01-01T00:00:00Z */
#define TICKS_MAX            3155378975999999999LL /* 9999-12-31T23:59:59.9999999Z */
#define TICKS_ISO_MAX        40                    /* buffer size for ticks_format_iso */

/* Now, from the realtime clock. */
int64_t ticks_now(void);

int64_t ticks_from_unix(int64_t seconds, int32_t nanoseconds);
int64_t ticks_from_filetime(int64_t filetime);
int64_t ticks_to_filetime(int64_t ticks);

/* "2018-07-09T13:57:37.0901655Z" — always 7 fraction digits, as .NET's "o" format.
 * out must hold TICKS_ISO_MAX. Out-of-range ticks print as "invalid". */
void ticks_format_iso(int64_t ticks, char *out);

/* Accepts YYYY-MM-DD, YYYY-MM-DDThh:mm, YYYY-MM-DDThh:mm:ss with an optional fraction of up
 * to 7 digits, followed by Z, +hh:mm, -hh:mm or nothing (taken as UTC). Returns 0 or -1. */
int ticks_parse_iso(const char *s, int64_t *out);

/* Durations: a number with a unit, or several ("90s", "30m", "1h30m", "2d", "500ms"), or a
 * bare "0" (zero needs no unit). Units: ms s m h d. Returns 0 and the length in ticks, or
 * -1. */
int ticks_parse_duration(const char *s, int64_t *out);

#endif
