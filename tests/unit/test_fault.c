/* test_fault: fault specs, their descriptions, and seeded decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "fault.h"

static void test_fault_specs_parse(void **state)
{
    (void)state;
    struct faults f;
    struct errbuf err = {{0}};
    char d[256];
    faults_init(&f, 1);
    assert_false(faults_any(&f));
    faults_describe(&f, d, sizeof d);
    assert_string_equal(d, "none");
    assert_int_equal(faults_apply(&f, "latency=200ms:50ms,error=0.3:503,slow=1000", &err), 0);
    assert_true(f.latency > 0.199 && f.latency < 0.201);
    assert_true(f.jitter > 0.049 && f.jitter < 0.051);
    assert_int_equal(f.error_status, 503);
    assert_int_equal(f.slow_bps, 1000);
    faults_describe(&f, d, sizeof d);
    assert_string_equal(d, "latency=200ms:50ms,error=0.30:503,slow=1000");
    assert_int_equal(faults_apply(&f, "hang=0.5,reset,lying-health,health-down", &err), 0);
    assert_true(f.hang_rate == 0.5 && f.reset_rate == 1 && f.lying_health && f.health_down);
    assert_int_equal(faults_apply(&f, "clear", &err), 0);
    assert_false(faults_any(&f));
    assert_int_equal(faults_apply(&f, "crash", &err), 0);
    assert_true(f.crash);
}

static void test_fault_bad_specs_change_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {"latency",  "latency=fast",   "error=2", "error=0.5:200",
                                      "hang=1.5", "slow=0",         "explode", "crash=1",
                                      "reset=-1", "error=0.1,bogus"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct faults f;
        struct errbuf err = {{0}};
        faults_init(&f, 1);
        if (faults_apply(&f, bad[i], &err) != -1)
            fail_msg("'%s' should be refused", bad[i]);
        assert_false(faults_any(&f));
        assert_non_null(strstr(err.msg, bad[i][0] == 'h' || bad[i][0] == 'r' ? "" : "fault"));
    }
}

/* The same seed gives the same decisions; the rate is honoured. */
static void test_fault_decisions_are_seeded(void **state)
{
    (void)state;
    struct faults a, b;
    faults_init(&a, 42);
    faults_init(&b, 42);
    assert_int_equal(faults_apply(&a, "error=0.5,latency=100ms:100ms", NULL), 0);
    assert_int_equal(faults_apply(&b, "error=0.5,latency=100ms:100ms", NULL), 0);
    int errors = 0;
    for (int i = 0; i < 1000; i++) {
        struct fault_decision da, db;
        faults_decide(&a, &da);
        faults_decide(&b, &db);
        assert_int_equal(da.error_status, db.error_status);
        assert_true(da.delay == db.delay);
        assert_true(da.delay >= 0 && da.delay <= 0.2);
        errors += da.error_status != 0;
    }
    assert_true(errors > 400 && errors < 600);
    /* Lying health: every app request fails. */
    struct fault_decision d;
    assert_int_equal(faults_apply(&a, "clear,lying-health", NULL), 0);
    faults_decide(&a, &d);
    assert_int_equal(d.error_status, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_specs_parse),
        cmocka_unit_test(test_fault_bad_specs_change_nothing),
        cmocka_unit_test(test_fault_decisions_are_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
