/* fdlimit: the soft open-file limit goes up to the hard one, and stays there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/resource.h>

#include "fdlimit.h"

static void test_raises_soft_to_hard(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max < 64)
        skip();
    /* Start from a low soft limit, as a Debian login has (1024), lower here. */
    struct rlimit low = {.rlim_cur = 32, .rlim_max = rl.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

    unsigned long now = fd_limit_raise();

    struct rlimit after;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
    assert_true(after.rlim_cur == rl.rlim_max);
    assert_true(after.rlim_max == rl.rlim_max);
    if (rl.rlim_max != RLIM_INFINITY)
        assert_int_equal(now, (unsigned long)rl.rlim_max);
}

static void test_already_at_hard_limit(void **state)
{
    (void)state;
    unsigned long first = fd_limit_raise();
    unsigned long second = fd_limit_raise();
    assert_true(first > 0);
    assert_int_equal(first, second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raises_soft_to_hard),
        cmocka_unit_test(test_already_at_hard_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
