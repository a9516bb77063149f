/* lb's options (lb/options.c): values that would start a broken lb are refused where they are
 * given, with an error that says what is wrong (and, in a --config file, names file:line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

static struct lb_options opts; /* large: not on the stack */

/* options_set on fresh defaults must fail, with an error matching every given fragment. */
static void refused(const char *name, const char *value, const char *want1, const char *want2)
{
    struct errbuf err = {{0}};
    options_defaults(&opts);
    if (options_set(&opts, name, value, &err) == 0)
        fail_msg("--%s '%.40s' should be refused", name, value);
    if (strstr(err.msg, want1) == NULL || (want2 && strstr(err.msg, want2) == NULL))
        fail_msg("--%s '%.40s': the error should say '%s'%s%s, got: %s", name, value, want1,
                 want2 ? " and " : "", want2 ? want2 : "", err.msg);
}

static void accepted(const char *name, const char *value)
{
    struct errbuf err = {{0}};
    options_defaults(&opts);
    if (options_set(&opts, name, value, &err) != 0)
        fail_msg("--%s '%.40s' should be accepted, got: %s", name, value, err.msg);
}

/* Parse a --config file holding text; returns options_parse's result, err filled. */
static int parse_config(const char *text, struct errbuf *err)
{
    char *path = testutil_write_temp(text, ".ini");
    char *argv[] = {"lb", "--config", path, NULL};
    options_defaults(&opts);
    int rc = options_parse(&opts, 3, argv, err);
    unlink(path);
    free(path);
    return rc;
}

static void test_options_health_path_is_bounded(void **state)
{
    (void)state;
    char path[1024 + 2]; /* the documented limit: 1024 characters */
    path[0] = '/';
    memset(path + 1, 'h', 1024 - 1);
    path[1024] = '\0';
    accepted("health-path", path); /* exactly the limit */
    assert_string_equal(opts.cfg.health_path, path);
    path[1024] = 'h';
    path[1024 + 1] = '\0';
    refused("health-path", path, "--health-path", "at most 1024 characters");
    accepted("health-path", ""); /* checks off */
    refused("health-path", "health", "--health-path", "starting with '/'");
    refused("health-path", "/a b", "--health-path", "no spaces or control characters");
    refused("health-path", "/a\r\nX-Injected: 1", "--health-path", "control characters");
}

static void test_options_health_interval_must_be_positive(void **state)
{
    (void)state;
    refused("health-interval", "0", "--health-interval", "more than 0");
    refused("health-interval", "0s", "--health-interval", "more than 0");
    refused("health-interval", "0ms", "--health-interval", "more than 0");
    accepted("health-interval", "1ms");
    assert_true(opts.cfg.health_interval > 0.0009 && opts.cfg.health_interval < 0.0011);
}

static void test_options_admin_token_must_not_be_empty(void **state)
{
    (void)state;
    refused("admin-token", "", "--admin-token", "empty");
    accepted("admin-token", "s3cret");
    assert_string_equal(opts.cfg.admin_token, "s3cret");
}

static void test_options_max_sessions_range_is_the_real_one(void **state)
{
    (void)state;
    refused("max-sessions", "0", "--max-sessions", "from 1 to 10000000");
    refused("max-sessions", "10000001", "--max-sessions", "from 1 to 10000000");
    accepted("max-sessions", "1");
    assert_int_equal(opts.cfg.max_sessions, 1);
    accepted("max-sessions", "10000000");
}

static void test_options_addresses_say_what_is_wrong(void **state)
{
    (void)state;
    static const char *const names[] = {"listen", "admin"};
    for (size_t i = 0; i < 2; i++) {
        const char *name = names[i];
        refused(name, "127.0.0.1", "has no port", NULL);
        refused(name, "127.0.0.1:", "has no port", NULL);
        refused(name, "[::1]", "has no port", NULL);
        refused(name, "127.0.0.1:http", "port is a number from 0 to 65535", NULL);
        refused(name, "127.0.0.1:65536", "port is a number from 0 to 65535", NULL);
        refused(name, "::1", "brackets", NULL);
        refused(name, "example.com:80", "not an IP address", NULL);
        accepted(name, "127.0.0.1:0");
        accepted(name, "[::1]:8080");
        accepted(name, "localhost:0");
    }
}

static void test_options_cookie_name_is_a_short_token(void **state)
{
    (void)state;
    char name[64 + 2]; /* the documented limit: 64 characters */
    memset(name, 'c', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    refused("cookie-name", name, "--cookie-name", "1 to 64");
    refused("cookie-name", "", "--cookie-name", "1 to 64");
    refused("cookie-name", "a;b", "--cookie-name", "not 'a;b'");
    accepted("cookie-name", "FARMLB_2");
}

static void test_options_config_errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"node = web1=127.0.0.1:1\nlisten = 127.0.0.1\n", ":2: --listen: '127.0.0.1' has no port"},
        {"listen = 127.0.0.1:0\n\nadmin = 127.0.0.1\n", ":3: --admin: '127.0.0.1' has no port"},
        {"listen = 127.0.0.1:0\nadmin-token =\n", ":2: --admin-token: empty"},
        {"listen = 127.0.0.1:0\nhealth-interval = 0s\n", ":2: --health-interval: more than 0"},
        {"listen = 127.0.0.1:0\nmax-sessions = 0\n", ":2: --max-sessions: a number from 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct errbuf err = {{0}};
        if (parse_config(cases[i].text, &err) != -1)
            fail_msg("config case %zu should be refused", i);
        if (strstr(err.msg, ".ini") == NULL || strstr(err.msg, cases[i].want) == NULL)
            fail_msg("config case %zu: want 'FILE.ini%s', got: %s", i, cases[i].want, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_health_path_is_bounded),
        cmocka_unit_test(test_options_health_interval_must_be_positive),
        cmocka_unit_test(test_options_admin_token_must_not_be_empty),
        cmocka_unit_test(test_options_max_sessions_range_is_the_real_one),
        cmocka_unit_test(test_options_addresses_say_what_is_wrong),
        cmocka_unit_test(test_options_cookie_name_is_a_short_token),
        cmocka_unit_test(test_options_config_errors_name_file_and_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
