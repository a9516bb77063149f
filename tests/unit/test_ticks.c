#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>
#include <time.h>

#include "ticks.h"

#define DAY    (86400 * TICKS_PER_SECOND)
#define HOUR   (3600 * TICKS_PER_SECOND)
#define MINUTE (60 * TICKS_PER_SECOND)

/* Dates from the forms-ticket vectors (reference §5.1) and fixed points of the calendar. */
static const struct {
    int64_t ticks;
    const char *iso;
} known[] = {
    {636667414570901655, "2018-07-09T13:57:37.0901655Z"},
    {636676054570901655, "2018-07-19T13:57:37.0901655Z"},
    {637638445761347384, "2021-08-06T11:02:56.1347384Z"},
    {636482478251309351, "2017-12-07T12:50:25.1309351Z"},
    {636971592103633638, "2019-06-26T15:20:10.3633638Z"},
    {636772796480000000, "2018-11-08T13:14:08.0000000Z"},
    {636774926480000000, "2018-11-11T00:24:08.0000000Z"},
    {636102418822500133, "2016-09-23T15:38:02.2500133Z"},
    {636968067011928409, "2019-06-22T13:25:01.1928409Z"},
    {637765632000000000, "2021-12-31T16:00:00.0000000Z"},
    {648179424000000000, "2054-12-31T16:00:00.0000000Z"},
    {638965668580421527, "2025-10-20T14:20:58.0421527Z"},
    {0, "0001-01-01T00:00:00.0000000Z"},
    {TICKS_MAX, "9999-12-31T23:59:59.9999999Z"},
    {TICKS_UNIX_EPOCH, "1970-01-01T00:00:00.0000000Z"},
    {TICKS_FILETIME_EPOCH, "1601-01-01T00:00:00.0000000Z"},
    {630822816000000000, "2000-01-01T00:00:00.0000000Z"},
};

#define KNOWN_COUNT (sizeof known / sizeof known[0])

static void test_ticks_format_known_dates(void **state)
{
    (void)state;
    for (size_t i = 0; i < KNOWN_COUNT; i++) {
        char out[TICKS_ISO_MAX];
        ticks_format_iso(known[i].ticks, out);
        assert_string_equal(out, known[i].iso);
    }
}

static void test_ticks_parse_known_dates(void **state)
{
    (void)state;
    for (size_t i = 0; i < KNOWN_COUNT; i++) {
        int64_t t = -1;
        assert_int_equal(ticks_parse_iso(known[i].iso, &t), 0);
        assert_int_equal(t, known[i].ticks);
    }
}

/* Every issue and expiration date of every forms-ticket vector survives format + parse. */
static void test_ticks_vector_dates_round_trip(void **state)
{
    (void)state;
    json_t *arr = testutil_vectors();
    size_t i;
    json_t *v;
    int checked = 0;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(testutil_str(v, "kind"), "forms_ticket") != 0)
            continue;
        json_t *exp = json_object_get(v, "expected");
        const char *keys[] = {"issue_ticks_utc", "expiration_ticks_utc"};
        for (size_t k = 0; k < 2; k++) {
            json_t *jt = json_object_get(exp, keys[k]);
            assert_true(json_is_integer(jt));
            int64_t t = (int64_t)json_integer_value(jt);
            char iso[TICKS_ISO_MAX];
            int64_t back = -1;
            ticks_format_iso(t, iso);
            assert_int_equal(ticks_parse_iso(iso, &back), 0);
            assert_int_equal(back, t);
            checked++;
        }
    }
    assert_int_equal(checked, 32);
}

static void test_ticks_format_out_of_range_is_invalid(void **state)
{
    (void)state;
    char out[TICKS_ISO_MAX];
    ticks_format_iso(-1, out);
    assert_string_equal(out, "invalid");
    ticks_format_iso(TICKS_MAX + 1, out);
    assert_string_equal(out, "invalid");
    ticks_format_iso(INT64_MIN, out);
    assert_string_equal(out, "invalid");
}

static void test_ticks_from_unix_epoch_and_vector(void **state)
{
    (void)state;
    assert_int_equal(ticks_from_unix(0, 0), TICKS_UNIX_EPOCH);
    assert_int_equal(ticks_from_unix(1531144657, 90165500), 636667414570901655);
    /* Sub-100ns parts are dropped, as .NET's ticks cannot hold them. */
    assert_int_equal(ticks_from_unix(0, 99), TICKS_UNIX_EPOCH);
    assert_int_equal(ticks_from_unix(-62135596800, 0), 0);
}

static void test_ticks_filetime_conversion(void **state)
{
    (void)state;
    /* The fa4j vectors' issue date: FILETIME 132854400000000000 (reference §5.1). */
    assert_int_equal(ticks_from_filetime(132854400000000000), 637765632000000000);
    assert_int_equal(ticks_to_filetime(637765632000000000), 132854400000000000);
    assert_int_equal(ticks_from_filetime(0), TICKS_FILETIME_EPOCH);
    assert_int_equal(ticks_to_filetime(TICKS_FILETIME_EPOCH), 0);
    assert_int_equal(ticks_from_filetime(-TICKS_FILETIME_EPOCH), 0);
}

static void test_ticks_now_matches_time(void **state)
{
    (void)state;
    time_t before = time(NULL);
    int64_t now = ticks_now();
    time_t after = time(NULL);
    /* time() may read a coarse clock a few ms behind CLOCK_REALTIME: allow a second. */
    assert_true(now >= ticks_from_unix((int64_t)before, 0));
    assert_true(now < ticks_from_unix((int64_t)after + 2, 0));
}

static void test_ticks_parse_leap_years(void **state)
{
    (void)state;
    int64_t t;
    int64_t feb28;
    int64_t mar1;
    assert_int_equal(ticks_parse_iso("2000-02-29", &t), 0); /* divisible by 400 */
    assert_int_equal(ticks_parse_iso("2024-02-29", &t), 0);
    assert_int_equal(ticks_parse_iso("1900-02-29", &t), -1); /* divisible by 100 only */
    assert_int_equal(ticks_parse_iso("2100-02-29", &t), -1);
    assert_int_equal(ticks_parse_iso("2023-02-29", &t), -1);

    assert_int_equal(ticks_parse_iso("2000-02-28", &feb28), 0);
    assert_int_equal(ticks_parse_iso("2000-03-01", &mar1), 0);
    assert_int_equal(mar1 - feb28, 2 * DAY);
    assert_int_equal(ticks_parse_iso("1900-02-28", &feb28), 0);
    assert_int_equal(ticks_parse_iso("1900-03-01", &mar1), 0);
    assert_int_equal(mar1 - feb28, 1 * DAY);

    char out[TICKS_ISO_MAX];
    assert_int_equal(ticks_parse_iso("2024-02-29T23:59:59.9999999Z", &t), 0);
    ticks_format_iso(t, out);
    assert_string_equal(out, "2024-02-29T23:59:59.9999999Z");
    ticks_format_iso(t + 1, out);
    assert_string_equal(out, "2024-03-01T00:00:00.0000000Z");
}

static void test_ticks_parse_accepted_forms(void **state)
{
    (void)state;
    const int64_t midnight = 636666912000000000; /* 2018-07-09T00:00:00Z */
    const struct {
        const char *s;
        int64_t want;
    } cases[] = {
        {"2018-07-09", midnight},
        {"2018-07-09Z", midnight},
        {"2018-07-09T13:57", midnight + 13 * HOUR + 57 * MINUTE},
        {"2018-07-09T13:57Z", midnight + 13 * HOUR + 57 * MINUTE},
        {"2018-07-09T13:57:37", midnight + 13 * HOUR + 57 * MINUTE + 37 * TICKS_PER_SECOND},
        {"2018-07-09T13:57:37.09Z", 636667414570900000},
        {"2018-07-09T13:57:37.0901655", 636667414570901655},
        {"2018-07-09T13:57:37.1", 636667414571000000},
        {"2018-07-09T15:57:37.0901655+02:00", 636667414570901655},
        {"2018-07-09T08:27:37.0901655-05:30", 636667414570901655},
        {"2018-07-09T13:57:37.0901655+00:00", 636667414570901655},
        {"2018-07-10T03:57:37.0901655+14:00", 636667414570901655},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = -1;
        if (ticks_parse_iso(cases[i].s, &t) != 0)
            fail_msg("ticks_parse_iso rejected \"%s\"; expected %lld", cases[i].s,
                     (long long)cases[i].want);
        assert_int_equal(t, cases[i].want);
    }
}

static void test_ticks_parse_rejects_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "garbage",
        "2018-13-01",                        /* month 13 */
        "2018-00-01",                        /* month 0 */
        "2018-02-30",                        /* Feb 30 */
        "2018-04-31",                        /* Apr 31 */
        "2018-07-00",                        /* day 0 */
        "0000-01-01",                        /* year 0 */
        "2018-7-9",                          /* digits missing */
        "18-07-09",                          /* two-digit year */
        "20180709",                          /* basic format */
        "2018-07-09T",                       /* time missing */
        "2018-07-09T13",                     /* minutes missing */
        "2018-07-09T24:00",                  /* hour 24 */
        "2018-07-09T13:60",                  /* minute 60 */
        "2018-07-09T13:57:60",               /* leap second */
        "2018-07-09T13:57:37.",              /* empty fraction */
        "2018-07-09T13:57:37.09016551",      /* 8 fraction digits */
        "2018-07-09T13:57.5",                /* fraction without seconds */
        "2018-07-09 13:57:37",               /* space separator */
        "2018-07-09T13:57:37ZZ",             /* trailing garbage */
        "2018-07-09T13:57:37+02",            /* offset minutes missing */
        "2018-07-09T13:57:37+0200",          /* offset without colon */
        "2018-07-09T13:57:37+15:00",         /* offset beyond 14h */
        "2018-07-09T13:57:37+02:60",         /* offset minute 60 */
        " 2018-07-09",                       /* leading space */
        "0001-01-01T00:00:00+00:01",         /* before 0001-01-01 UTC */
        "9999-12-31T23:59:59.9999999-00:01", /* after 9999-12-31 UTC */
        "99999-01-01",                       /* overflow of the year field */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 42;
        if (ticks_parse_iso(bad[i], &t) != -1)
            fail_msg("ticks_parse_iso accepted \"%s\"; expected -1", bad[i]);
        assert_int_equal(t, 42); /* untouched on failure */
    }
}

static void test_ticks_parse_duration_units(void **state)
{
    (void)state;
    const struct {
        const char *s;
        int64_t want;
    } cases[] = {
        {"90s", 90 * TICKS_PER_SECOND},
        {"30m", 30 * MINUTE},
        {"1h30m", 90 * MINUTE},
        {"2d", 2 * DAY},
        {"500ms", 500 * 10000LL},
        {"0s", 0},
        {"0", 0}, /* zero needs no unit: "--drain-quiet 0" */
        {"1d2h3m4s5ms", DAY + 2 * HOUR + 3 * MINUTE + 4 * TICKS_PER_SECOND + 5 * 10000LL},
        {"1m500ms", MINUTE + 500 * 10000LL},
        {"3600s", HOUR},
        /* The largest representable in whole milliseconds (INT64_MAX is ...5477.5807 s). */
        {"10675199d2h48m5s477ms", INT64_MAX - 5807},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = -1;
        if (ticks_parse_duration(cases[i].s, &t) != 0)
            fail_msg("ticks_parse_duration rejected \"%s\"", cases[i].s);
        assert_int_equal(t, cases[i].want);
    }
}

static void test_ticks_parse_duration_rejects_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "90",                    /* no unit */
        "00",                    /* only a bare "0" goes without a unit */
        "0m0",                   /* trailing number without unit */
        "s",                     /* no number */
        "1x",                    /* unknown unit */
        "1H",                    /* units are lower case */
        "1 h",                   /* space */
        "-1s",                   /* negative */
        "+1s",                   /* sign */
        "1.5h",                  /* fraction */
        "1h1h",                  /* repeated unit */
        "30m1h",                 /* units out of order */
        "500ms1s",               /* units out of order */
        "1h30",                  /* trailing number without unit */
        "1hm",                   /* unit without number */
        "99999999999999999999s", /* number overflows int64 */
        "922337203685477580d",   /* product overflows */
        "10675199d2h48m5s478ms", /* the last addition overflows */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 42;
        if (ticks_parse_duration(bad[i], &t) != -1)
            fail_msg("ticks_parse_duration accepted \"%s\"; expected -1", bad[i]);
        assert_int_equal(t, 42);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks_format_known_dates),
        cmocka_unit_test(test_ticks_parse_known_dates),
        cmocka_unit_test(test_ticks_vector_dates_round_trip),
        cmocka_unit_test(test_ticks_format_out_of_range_is_invalid),
        cmocka_unit_test(test_ticks_from_unix_epoch_and_vector),
        cmocka_unit_test(test_ticks_filetime_conversion),
        cmocka_unit_test(test_ticks_now_matches_time),
        cmocka_unit_test(test_ticks_parse_leap_years),
        cmocka_unit_test(test_ticks_parse_accepted_forms),
        cmocka_unit_test(test_ticks_parse_rejects_bad_input),
        cmocka_unit_test(test_ticks_parse_duration_units),
        cmocka_unit_test(test_ticks_parse_duration_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
