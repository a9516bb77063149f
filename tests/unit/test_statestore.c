#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statestore.h"

#define APP "/LM/W3SVC/1/ROOT"
#define SID "abcdefghijklmnopqrstuvwx"

/* The key for APP and sid, in a static buffer (one at a time). */
static const char *key_of(const char *app, const char *sid)
{
    static char k[STATESTORE_MAX_KEY + 1];
    long n = statestore_key(app, strlen(app), sid, strlen(sid), k, sizeof k);
    assert_true(n > 0);
    return k;
}

static void assert_item(struct statestore *s, double now, const char *key, const char *want)
{
    const void *data = NULL;
    size_t len = 0;
    assert_int_equal(statestore_get(s, now, key, &data, &len), STATESTORE_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
}

static void assert_absent(struct statestore *s, double now, const char *key)
{
    const void *data = NULL;
    size_t len = 0;
    assert_int_equal(statestore_get(s, now, key, &data, &len), STATESTORE_NOT_FOUND);
}

static void test_statestore_key_keeps_case(void **state)
{
    (void)state;
    char k[STATESTORE_MAX_KEY + 1];
    long n = statestore_key("/LM/W3SVC/1/ROOT/App", 20, "AbC123", 6, k, sizeof k);
    assert_int_equal(n, (long)strlen("/LM/W3SVC/1/ROOT/App(AbC123)"));
    assert_string_equal(k, "/LM/W3SVC/1/ROOT/App(AbC123)");
}

static void test_statestore_key_rejects_bad_sid_and_appid(void **state)
{
    (void)state;
    char k[STATESTORE_MAX_KEY + 1];
    const char *bad_sids[] = {"", "abc-def", "abc)", "abc(", "a b", "abc\n", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_sids / sizeof bad_sids[0]; i++)
        assert_int_equal(
            statestore_key(APP, strlen(APP), bad_sids[i], strlen(bad_sids[i]), k, sizeof k), -1);
    char long_sid[STATESTORE_MAX_SID + 2];
    memset(long_sid, 'a', sizeof long_sid - 1);
    long_sid[sizeof long_sid - 1] = '\0';
    assert_int_equal(
        statestore_key(APP, strlen(APP), long_sid, STATESTORE_MAX_SID + 1, k, sizeof k), -1);
    assert_true(statestore_key(APP, strlen(APP), long_sid, STATESTORE_MAX_SID, k, sizeof k) > 0);

    const char *bad_apps[] = {
        "", "LM/W3SVC/1/ROOT", "/LM/W3SVC/1/ROOT(x", "/a b", "/a?b", "/a%41", "/a\x7f", "/a#b"};
    for (size_t i = 0; i < sizeof bad_apps / sizeof bad_apps[0]; i++)
        assert_int_equal(
            statestore_key(bad_apps[i], strlen(bad_apps[i]), SID, strlen(SID), k, sizeof k), -1);
    /* A buffer one byte too small for key + NUL is refused, not overrun. */
    size_t need = strlen(APP) + strlen(SID) + 2 + 1;
    assert_int_equal(statestore_key(APP, strlen(APP), SID, strlen(SID), k, need - 1), -1);
    assert_int_equal(statestore_key(APP, strlen(APP), SID, strlen(SID), k, need), (long)need - 1);
}

static void test_statestore_put_get_del(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    const char *k = key_of(APP, SID);
    assert_absent(s, 0, k);
    assert_int_equal(statestore_put(s, 0, k, "hello", 5, 60), STATESTORE_OK);
    assert_int_equal(statestore_count(s), 1);
    assert_item(s, 1, k, "hello");
    /* Replace: same key, new bytes, still one item. */
    assert_int_equal(statestore_put(s, 2, k, "bye", 3, 60), STATESTORE_OK);
    assert_int_equal(statestore_count(s), 1);
    assert_item(s, 3, k, "bye");
    assert_int_equal(statestore_del(s, 4, k), STATESTORE_OK);
    assert_int_equal(statestore_count(s), 0);
    assert_int_equal(statestore_bytes(s), 0);
    assert_int_equal(statestore_del(s, 5, k), STATESTORE_NOT_FOUND);
    assert_absent(s, 6, k);
    statestore_free(s);
    statestore_free(NULL);
}

static void test_statestore_binary_and_empty_items(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    const unsigned char bin[] = {0, 1, 0xff, 0, '\r', '\n', 0};
    assert_int_equal(statestore_put(s, 0, "/a(b)", bin, sizeof bin, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(c)", NULL, 0, 60), STATESTORE_OK);
    const void *data;
    size_t len;
    assert_int_equal(statestore_get(s, 1, "/a(b)", &data, &len), STATESTORE_OK);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(data, bin, sizeof bin);
    assert_int_equal(statestore_get(s, 1, "/a(c)", &data, &len), STATESTORE_OK);
    assert_int_equal(len, 0);
    statestore_free(s);
}

static void test_statestore_apps_do_not_share_sessions(void **state)
{
    (void)state;
    /* The site-ID trap: same sid, different IIS site ids, different sessions. */
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    char k1[STATESTORE_MAX_KEY + 1], k2[STATESTORE_MAX_KEY + 1], k3[STATESTORE_MAX_KEY + 1];
    assert_true(statestore_key("/LM/W3SVC/1/ROOT", 16, SID, strlen(SID), k1, sizeof k1) > 0);
    assert_true(statestore_key("/LM/W3SVC/2/ROOT", 16, SID, strlen(SID), k2, sizeof k2) > 0);
    assert_true(statestore_key("/lm/w3svc/1/root", 16, SID, strlen(SID), k3, sizeof k3) > 0);
    assert_int_equal(statestore_put(s, 0, k1, "site1", 5, 60), STATESTORE_OK);
    assert_absent(s, 1, k2);
    /* The application path is case-sensitive: another app (the field reports' trap). */
    assert_absent(s, 1, k3);
    statestore_free(s);
}

static void test_statestore_items_expire(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 100, "/a(x)", "x", 1, 10), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 100, "/a(y)", "y", 1, 20), STATESTORE_OK);
    assert_int_equal(statestore_expire(s, 109.9), 0);
    assert_int_equal(statestore_count(s), 2);
    assert_int_equal(statestore_expire(s, 110), 1);
    assert_int_equal(statestore_count(s), 1);
    assert_absent(s, 110, "/a(x)");
    /* An expired item not yet swept reads as absent and is removed by the read. */
    assert_absent(s, 120, "/a(y)");
    assert_int_equal(statestore_count(s), 0);
    assert_int_equal(statestore_bytes(s), 0);
    statestore_free(s);
}

static void test_statestore_expired_item_cannot_be_deleted(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(x)", "x", 1, 10), STATESTORE_OK);
    assert_int_equal(statestore_del(s, 10, "/a(x)"), STATESTORE_NOT_FOUND);
    assert_int_equal(statestore_count(s), 0);
    statestore_free(s);
}

static void test_statestore_get_slides_expiry(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(x)", "x", 1, 10), STATESTORE_OK);
    /* Each read inside the window pushes expiry to read time + 10. */
    assert_item(s, 9, "/a(x)", "x");
    assert_item(s, 18, "/a(x)", "x");
    assert_item(s, 27, "/a(x)", "x");
    assert_int_equal(statestore_expire(s, 36.5), 0);
    assert_int_equal(statestore_count(s), 1);
    assert_absent(s, 37, "/a(x)");
    statestore_free(s);
}

static void test_statestore_sweep_after_slide_still_finds_expired(void **state)
{
    (void)state;
    /* The earliest-expiry bound must not hide items: slide one item, let another expire. */
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(x)", "x", 1, 10), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(y)", "y", 1, 30), STATESTORE_OK);
    assert_item(s, 5, "/a(x)", "x"); /* x now expires at 15 */
    assert_int_equal(statestore_expire(s, 12), 0);
    assert_int_equal(statestore_expire(s, 15), 1);
    assert_int_equal(statestore_expire(s, 29), 0);
    assert_int_equal(statestore_expire(s, 30), 1);
    assert_int_equal(statestore_count(s), 0);
    statestore_free(s);
}

static void test_statestore_full_refuses_new_keys_but_replaces(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(3, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(1)", "1", 1, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(2)", "2", 1, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(3)", "3", 1, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 1, "/a(4)", "4", 1, 60), STATESTORE_FULL);
    assert_int_equal(statestore_count(s), 3);
    /* Live sessions are never evicted. */
    assert_item(s, 1, "/a(1)", "1");
    /* Replacing an existing key needs no new slot. */
    assert_int_equal(statestore_put(s, 1, "/a(2)", "22", 2, 60), STATESTORE_OK);
    assert_item(s, 1, "/a(2)", "22");
    assert_int_equal(statestore_del(s, 1, "/a(3)"), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 1, "/a(4)", "4", 1, 60), STATESTORE_OK);
    statestore_free(s);
}

static void test_statestore_full_evicts_expired_first(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(2, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(short)", "s", 1, 5), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(long)", "l", 1, 100), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 4, "/a(new)", "n", 1, 100), STATESTORE_FULL);
    assert_int_equal(statestore_put(s, 5, "/a(new)", "n", 1, 100), STATESTORE_OK);
    assert_int_equal(statestore_count(s), 2);
    assert_absent(s, 5, "/a(short)");
    assert_item(s, 5, "/a(long)", "l");
    assert_item(s, 5, "/a(new)", "n");
    statestore_free(s);
}

static void test_statestore_byte_limit(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'b', sizeof big);
    struct statestore *s = statestore_new(0, 2500);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(1)", big, sizeof big, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(2)", big, sizeof big, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "/a(3)", big, sizeof big, 60), STATESTORE_FULL);
    /* Growing an existing item past the limit is refused and keeps the old bytes. */
    char bigger[2000];
    memset(bigger, 'c', sizeof bigger);
    assert_int_equal(statestore_put(s, 0, "/a(1)", bigger, sizeof bigger, 60), STATESTORE_FULL);
    const void *data;
    size_t len;
    assert_int_equal(statestore_get(s, 0, "/a(1)", &data, &len), STATESTORE_OK);
    assert_int_equal(len, sizeof big);
    assert_true(statestore_bytes(s) <= 2500);
    statestore_free(s);
}

static void test_statestore_rejects_bad_timeouts_and_keys(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, "/a(1)", "x", 1, 0), STATESTORE_INVALID);
    assert_int_equal(statestore_put(s, 0, "/a(1)", "x", 1, STATESTORE_MAX_TIMEOUT_S + 1),
                     STATESTORE_INVALID);
    assert_int_equal(statestore_put(s, 0, "/a(1)", "x", 1, STATESTORE_MAX_TIMEOUT_S),
                     STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, "", "x", 1, 10), STATESTORE_INVALID);
    const void *data;
    size_t len;
    assert_int_equal(statestore_get(s, 0, "", &data, &len), STATESTORE_INVALID);
    statestore_free(s);
}

static void test_statestore_long_keys(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    /* The longest valid appid and sid make the longest key; keys sharing all but the last
     * byte stay distinct. */
    char app[STATESTORE_MAX_APPID + 1];
    app[0] = '/';
    memset(app + 1, 'a', STATESTORE_MAX_APPID - 1);
    app[STATESTORE_MAX_APPID] = '\0';
    char sid1[STATESTORE_MAX_SID + 1], sid2[STATESTORE_MAX_SID + 1];
    memset(sid1, 'z', STATESTORE_MAX_SID);
    sid1[STATESTORE_MAX_SID] = '\0';
    memcpy(sid2, sid1, sizeof sid2);
    sid2[STATESTORE_MAX_SID - 1] = 'y';
    char k1[STATESTORE_MAX_KEY + 1], k2[STATESTORE_MAX_KEY + 1];
    assert_int_equal(statestore_key(app, strlen(app), sid1, strlen(sid1), k1, sizeof k1),
                     STATESTORE_MAX_KEY);
    assert_int_equal(statestore_key(app, strlen(app), sid2, strlen(sid2), k2, sizeof k2),
                     STATESTORE_MAX_KEY);
    assert_int_equal(statestore_put(s, 0, k1, "1", 1, 60), STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, k2, "2", 1, 60), STATESTORE_OK);
    assert_item(s, 0, k1, "1");
    assert_item(s, 0, k2, "2");
    /* One byte past the limit is refused by the store itself. */
    char too_long[STATESTORE_MAX_KEY + 2];
    memset(too_long, 'k', STATESTORE_MAX_KEY + 1);
    too_long[STATESTORE_MAX_KEY + 1] = '\0';
    assert_int_equal(statestore_put(s, 0, too_long, "x", 1, 60), STATESTORE_INVALID);
    statestore_free(s);
}

static void test_statestore_many_items_survive_growth(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct statestore *s = statestore_new(N, 0);
    assert_non_null(s);
    char key[64], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "/app(%d)", i);
        snprintf(val, sizeof val, "v%d", i);
        assert_int_equal(statestore_put(s, 0, key, val, strlen(val), 10 + (unsigned)(i % 2) * 10),
                         STATESTORE_OK);
    }
    assert_int_equal(statestore_count(s), N);
    assert_int_equal(statestore_put(s, 0, "/app(extra)", "x", 1, 10), STATESTORE_FULL);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "/app(%d)", i);
        snprintf(val, sizeof val, "v%d", i);
        assert_item(s, 1, key, val);
    }
    /* Gets at t=1 slid everything to 11 or 21. Half expire at 11. */
    assert_int_equal(statestore_expire(s, 11), N / 2);
    assert_int_equal(statestore_put(s, 11, "/app(extra)", "x", 1, 10), STATESTORE_OK);
    statestore_free(s);
}

struct app_count {
    char app[64];
    size_t count;
};

struct app_counts {
    struct app_count v[8];
    size_t n;
};

static void collect_app(void *arg, const char *app, size_t app_len, size_t count)
{
    struct app_counts *c = arg;
    assert_true(c->n < 8);
    assert_true(app_len < sizeof c->v[0].app);
    memcpy(c->v[c->n].app, app, app_len);
    c->v[c->n].app[app_len] = '\0';
    c->v[c->n].count = count;
    c->n++;
}

static void test_statestore_app_counts_skip_expired(void **state)
{
    (void)state;
    struct statestore *s = statestore_new(0, 0);
    assert_non_null(s);
    assert_int_equal(statestore_put(s, 0, key_of("/LM/W3SVC/2/ROOT", "a"), "x", 1, 60),
                     STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, key_of("/LM/W3SVC/1/ROOT", "a"), "x", 1, 60),
                     STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, key_of("/LM/W3SVC/1/ROOT", "b"), "x", 1, 60),
                     STATESTORE_OK);
    assert_int_equal(statestore_put(s, 0, key_of("/LM/W3SVC/1/ROOT/x", "c"), "x", 1, 5),
                     STATESTORE_OK);
    struct app_counts c = {0};
    assert_int_equal(statestore_app_counts(s, 1, collect_app, &c), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.v[0].app, "/LM/W3SVC/1/ROOT");
    assert_int_equal(c.v[0].count, 2);
    assert_string_equal(c.v[1].app, "/LM/W3SVC/1/ROOT/x");
    assert_int_equal(c.v[1].count, 1);
    assert_string_equal(c.v[2].app, "/LM/W3SVC/2/ROOT");
    assert_int_equal(c.v[2].count, 1);
    /* At t=5 the /x item has expired (not yet swept) and is not counted. */
    memset(&c, 0, sizeof c);
    assert_int_equal(statestore_app_counts(s, 5, collect_app, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.v[1].app, "/LM/W3SVC/2/ROOT");
    /* Empty store: fn is never called. */
    struct statestore *e = statestore_new(0, 0);
    assert_non_null(e);
    memset(&c, 0, sizeof c);
    assert_int_equal(statestore_app_counts(e, 0, collect_app, &c), 0);
    assert_int_equal(c.n, 0);
    statestore_free(e);
    statestore_free(s);
}

static void test_statestore_status_names(void **state)
{
    (void)state;
    assert_string_equal(statestore_status_name(STATESTORE_OK), "ok");
    assert_string_equal(statestore_status_name(STATESTORE_FULL), "full");
    assert_string_equal(statestore_status_name((enum statestore_status)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statestore_key_keeps_case),
        cmocka_unit_test(test_statestore_key_rejects_bad_sid_and_appid),
        cmocka_unit_test(test_statestore_put_get_del),
        cmocka_unit_test(test_statestore_binary_and_empty_items),
        cmocka_unit_test(test_statestore_apps_do_not_share_sessions),
        cmocka_unit_test(test_statestore_items_expire),
        cmocka_unit_test(test_statestore_expired_item_cannot_be_deleted),
        cmocka_unit_test(test_statestore_get_slides_expiry),
        cmocka_unit_test(test_statestore_sweep_after_slide_still_finds_expired),
        cmocka_unit_test(test_statestore_full_refuses_new_keys_but_replaces),
        cmocka_unit_test(test_statestore_full_evicts_expired_first),
        cmocka_unit_test(test_statestore_byte_limit),
        cmocka_unit_test(test_statestore_rejects_bad_timeouts_and_keys),
        cmocka_unit_test(test_statestore_long_keys),
        cmocka_unit_test(test_statestore_many_items_survive_growth),
        cmocka_unit_test(test_statestore_app_counts_skip_expired),
        cmocka_unit_test(test_statestore_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
