#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "app.h"

static bool local(const char *url)
{
    return app_return_url_is_local(url, strlen(url));
}

static void test_app_return_url_accepts_local_paths(void **state)
{
    (void)state;
    assert_true(local("/"));
    assert_true(local("/account"));
    assert_true(local("/account?x=1&y=%2F%2F"));
    assert_true(local("/a/b//c"));
    assert_true(local("/caf\xc3\xa9"));
}

static void test_app_return_url_refuses_other_hosts(void **state)
{
    (void)state;
    assert_false(local(""));
    assert_false(local("evil.example"));
    assert_false(local("https://evil.example/"));
    assert_false(local("//evil.example"));
    assert_false(local("/\\evil.example"));
    assert_false(local("\\/evil.example"));
}

static void test_app_return_url_refuses_control_chars_and_backslashes(void **state)
{
    (void)state;
    /* Browsers drop tabs and newlines: "/\t/evil.example" is "//evil.example" to them. */
    assert_false(local("/\t/evil.example/x"));
    assert_false(local("/\n/evil.example"));
    assert_false(local("/\r/evil.example"));
    assert_false(local("/\x01/evil.example"));
    assert_false(local("/\x1f/evil.example"));
    assert_false(local("/\x7f/evil.example"));
    assert_false(local("/account\t"));
    assert_false(local("/a\\..\\\\evil.example"));
    /* A NUL inside the decoded value counts too: the length is what was sent. */
    assert_false(app_return_url_is_local("/ok\0//evil.example", 18));
    assert_false(app_return_url_is_local("/", 0));
}

static void test_app_session_id_accepts_aspnet_ids(void **state)
{
    (void)state;
    assert_true(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs51", 24));
    assert_true(app_session_id_is_valid("abcdefghijklmnopqrstuvwx", 24));
    assert_true(app_session_id_is_valid("yz0123455432100zyaaaaaaa", 24));
}

static void test_app_session_id_refuses_other_ids(void **state)
{
    (void)state;
    assert_false(app_session_id_is_valid("ZZZ", 3));
    assert_false(app_session_id_is_valid("", 0));
    assert_false(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs5", 23));
    assert_false(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs51a", 25));
    assert_false(app_session_id_is_valid("2QTQI411YM5GKKKLBQ3RJS51", 24));
    assert_false(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs56", 24));
    assert_false(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs59", 24));
    assert_false(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs5-", 24));
    assert_false(app_session_id_is_valid("2qtqi411ym5gkkklbq3rjs5\0", 24));
}

static void test_app_session_id_new_is_valid_and_varies(void **state)
{
    (void)state;
    char first[APP_SESSION_ID_LEN + 1], id[APP_SESSION_ID_LEN + 1];
    assert_int_equal(app_session_id_new(first), 0);
    bool varied = false;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(app_session_id_new(id), 0);
        assert_int_equal(strlen(id), APP_SESSION_ID_LEN);
        assert_true(app_session_id_is_valid(id, strlen(id)));
        varied |= strcmp(id, first) != 0;
    }
    assert_true(varied);
}

static const char *user(const char *name, size_t len)
{
    static char out[APP_USER_HEADER_CAP];
    size_t n = app_user_header(name, len, out, sizeof out);
    assert_int_equal(n, strlen(out));
    return out;
}

static void test_app_user_header_keeps_visible_ascii(void **state)
{
    (void)state;
    assert_string_equal(user("alice", 5), "alice");
    assert_string_equal(user("test@example.com", 16), "test@example.com");
    assert_string_equal(user("a?b", 3), "a?b");
}

static void test_app_user_header_encodes_non_ascii_and_controls(void **state)
{
    (void)state;
    const char *zoe = "zo\xc3\xab\xe2\x82\xac"; /* zoë€ */
    assert_string_equal(user(zoe, strlen(zoe)), "zo%C3%AB%E2%82%AC");
    assert_string_equal(user("100% sure\t", 10), "100%25%20sure%09");
    assert_string_equal(user("a\0b\x7f", 4), "a%00b%7F");
    assert_string_equal(user("\xf0\x9f\x8d\xb5", 4), "%F0%9F%8D%B5");
    /* Not UTF-8 (ticket names always are, but the header must not care). */
    assert_string_equal(user("\xff\xc3", 2), "%FF%C3");
}

static void test_app_user_header_limit_counts_characters(void **state)
{
    (void)state;
    char name[1024], want[APP_USER_HEADER_CAP];
    size_t n = 0, w = 0;
    for (int i = 0; i < 200; i++) {
        memcpy(name + n, "\xc3\xa9", 2); /* é */
        n += 2;
    }
    for (int i = 0; i < APP_USER_CHARS_MAX; i++)
        w += (size_t)sprintf(want + w, "%%C3%%A9");
    assert_string_equal(user(name, n), want);

    /* 126 ASCII characters, then two euro signs: the first euro sign whole, not its bytes. */
    n = w = 0;
    memset(name, 'a', 126);
    memset(want, 'a', 126);
    n = w = 126;
    memcpy(name + n, "\xe2\x82\xac\xe2\x82\xac", 6);
    n += 6;
    w += (size_t)sprintf(want + w, "%%E2%%82%%AC");
    assert_string_equal(user(name, n), want);
}

static void test_app_user_header_never_cuts_a_character_when_cap_is_small(void **state)
{
    (void)state;
    char out[8];
    const char *zoe = "zo\xc3\xab\xe2\x82\xac";
    /* "zo" fits, "%C3%AB" (6) does not fit after it in 8 with the NUL. */
    assert_int_equal(app_user_header(zoe, strlen(zoe), out, sizeof out), 2);
    assert_string_equal(out, "zo");
    assert_int_equal(app_user_header("abc", 3, out, 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_return_url_accepts_local_paths),
        cmocka_unit_test(test_app_return_url_refuses_other_hosts),
        cmocka_unit_test(test_app_return_url_refuses_control_chars_and_backslashes),
        cmocka_unit_test(test_app_session_id_accepts_aspnet_ids),
        cmocka_unit_test(test_app_session_id_refuses_other_ids),
        cmocka_unit_test(test_app_session_id_new_is_valid_and_varies),
        cmocka_unit_test(test_app_user_header_keeps_visible_ascii),
        cmocka_unit_test(test_app_user_header_encodes_non_ascii_and_controls),
        cmocka_unit_test(test_app_user_header_limit_counts_characters),
        cmocka_unit_test(test_app_user_header_never_cuts_a_character_when_cap_is_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
