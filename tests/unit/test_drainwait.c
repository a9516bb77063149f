/* test_drainwait: farmctl drain --wait reads lb's node answers and events right, tells a
 * finished drain from one someone else ended, and says what holds a drain open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "drainwait.h"
#include "ticks.h"

/* 2026-11-24T01:00:00Z and a few seconds after it, in ticks. */
static int64_t at(double seconds)
{
    int64_t base;
    if (ticks_parse_iso("2026-11-24T01:00:00Z", &base) != 0)
        fail_msg("ticks_parse_iso refused the base time");
    return base + (int64_t)(seconds * TICKS_PER_SECOND);
}

static struct drainwait_node parse_ok(const char *json)
{
    struct drainwait_node n;
    struct errbuf err = {{0}};
    if (drainwait_parse(json, &n, &err) != 0)
        fail_msg("drainwait_parse: %s", err.msg);
    return n;
}

static void test_drainwait_parse_reads_what_holds_the_drain(void **state)
{
    (void)state;
    struct drainwait_node n =
        parse_ok("{\"name\":\"web2\",\"state\":\"draining\",\"reason\":\"admin drain\","
                 "\"since\":\"2026-11-24T01:00:00.0000000Z\",\"bound_connections\":2,"
                 "\"last_request\":\"2026-11-24T01:00:01.5000000Z\",\"requests\":40,\"active\":3}");
    assert_string_equal(n.state, "draining");
    assert_string_equal(n.reason, "admin drain");
    assert_int_equal(n.since, at(0));
    assert_int_equal(n.active, 3);
    assert_int_equal(n.bound, 2);
    assert_int_equal(n.last_request, at(1.5));

    /* A node lb never sent a request: last_request is null. */
    n = parse_ok("{\"state\":\"up\",\"reason\":\"\",\"since\":\"2026-11-24T01:00:00Z\","
                 "\"bound_connections\":0,\"last_request\":null,\"active\":0}");
    assert_int_equal(n.last_request, 0);

    struct errbuf err = {{0}};
    assert_int_equal(drainwait_parse("{\"error\":\"no such node\"}", &n, &err), -1);
    assert_non_null(strstr(err.msg, "no node state"));
    assert_int_equal(drainwait_parse("not json", &n, &err), -1);
}

static enum drainwait_state classify(const char *st, const char *reason)
{
    struct drainwait_node n = {.since = at(0)};
    snprintf(n.state, sizeof n.state, "%s", st);
    snprintf(n.reason, sizeof n.reason, "%s", reason);
    return drainwait_classify(&n);
}

static void test_drainwait_classify_tells_who_ended_the_drain(void **state)
{
    (void)state;
    assert_int_equal(classify("draining", "admin drain"), DRAINWAIT_DRAINING);
    assert_int_equal(classify("down", "3 failed checks"), DRAINWAIT_DOWN);
    assert_int_equal(classify("stopped", "drained"), DRAINWAIT_DRAINED);
    assert_int_equal(classify("stopped", "drain timeout"), DRAINWAIT_DRAIN_TIMEOUT);
    /* Someone else: started it again, or stopped it by hand. */
    assert_int_equal(classify("up", "admin start"), DRAINWAIT_OVERRIDDEN);
    assert_int_equal(classify("stopped", "admin stop"), DRAINWAIT_OVERRIDDEN);
}

static void test_drainwait_holders_says_what_holds_the_drain(void **state)
{
    (void)state;
    char out[200];
    struct drainwait_node n = {.since = at(0), .active = 2, .bound = 1, .last_request = at(3)};
    drainwait_holders(&n, at(3.4), out, sizeof out);
    assert_string_equal(out, "2 in flight, 1 bound connection, last request 0.4 s ago");

    /* The last request came before the drain: lb counts the quiet from the drain. */
    n = (struct drainwait_node){.since = at(10), .bound = 0, .last_request = at(2)};
    drainwait_holders(&n, at(13), out, sizeof out);
    assert_string_equal(
        out, "0 in flight, 0 bound connections, no request since the drain began 3.0 s ago");
    n.last_request = 0;
    drainwait_holders(&n, at(13), out, sizeof out);
    assert_string_equal(
        out, "0 in flight, 0 bound connections, no request since the drain began 3.0 s ago");

    /* A short buffer is cut, not overrun. */
    char small[12];
    drainwait_holders(&n, at(13), small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_drainwait_is_state_event_only_for_the_node(void **state)
{
    (void)state;
    const char *web2 =
        " {\"seq\":7,\"time\":\"2026-11-24T01:00:00.0000000Z\",\"kind\":\"node-state\","
        "\"node\":\"web2\",\"state\":\"stopped\",\"reason\":\"drained\"}";
    assert_true(drainwait_is_state_event(web2, "web2"));
    assert_false(drainwait_is_state_event(web2, "web20"));
    assert_false(drainwait_is_state_event(web2, "web"));
    /* A session event on the node is not a state change. */
    assert_false(drainwait_is_state_event(
        "{\"seq\":8,\"kind\":\"checked\",\"node\":\"web2\",\"verdict\":\"node-state\"}", "web2"));
    assert_false(drainwait_is_state_event("{\"kind\":\"node-state\"", "web2"));
    assert_false(drainwait_is_state_event("", "web2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drainwait_parse_reads_what_holds_the_drain),
        cmocka_unit_test(test_drainwait_classify_tells_who_ended_the_drain),
        cmocka_unit_test(test_drainwait_holders_says_what_holds_the_drain),
        cmocka_unit_test(test_drainwait_is_state_event_only_for_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
