/* lb.c's pure part: when a draining node has finished (NLB drainstop's end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "lb.h"

/* A draining node, drained at t=100 with nothing on it, and lb with a 10 s quiet period. */
static void setup(struct lb *lb, struct lb_node *n)
{
    memset(lb, 0, sizeof *lb);
    lb->cfg.drain_quiet = 10;
    memset(n, 0, sizeof *n);
    strcpy(n->name, "web2");
    n->state = NODE_DRAINING;
    n->state_since = 100;
}

static void test_lb_node_drained_after_the_quiet_period(void **state)
{
    (void)state;
    struct lb lb;
    struct lb_node n;
    setup(&lb, &n);
    assert_false(lb_node_drained(&lb, &n, 100));
    assert_false(lb_node_drained(&lb, &n, 109.9));
    assert_true(lb_node_drained(&lb, &n, 110));
}

static void test_lb_node_drained_counts_from_the_last_request(void **state)
{
    (void)state;
    struct lb lb;
    struct lb_node n;
    setup(&lb, &n);
    n.last_request = 105; /* an affinity-bound user came back while draining */
    assert_false(lb_node_drained(&lb, &n, 110));
    assert_false(lb_node_drained(&lb, &n, 114.9));
    assert_true(lb_node_drained(&lb, &n, 115));
    n.last_request = 50; /* before the drain: the drain's start counts */
    assert_true(lb_node_drained(&lb, &n, 110));
}

static void test_lb_node_drained_not_while_anything_is_on_it(void **state)
{
    (void)state;
    struct lb lb;
    struct lb_node n;
    setup(&lb, &n);
    n.stats.active = 1; /* a request in flight */
    assert_false(lb_node_drained(&lb, &n, 1000));
    n.stats.active = 0;
    n.bound_conns = 1; /* a keep-alive connection bound to it (dispatch=connection) */
    assert_false(lb_node_drained(&lb, &n, 1000));
    n.bound_conns = 0;
    assert_true(lb_node_drained(&lb, &n, 1000));
}

static void test_lb_node_drained_only_when_draining_and_enabled(void **state)
{
    (void)state;
    struct lb lb;
    struct lb_node n;
    setup(&lb, &n);
    enum node_state others[] = {NODE_UP, NODE_DOWN, NODE_STOPPED};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        n.state = others[i];
        assert_false(lb_node_drained(&lb, &n, 1000));
    }
    n.state = NODE_DRAINING;
    lb.cfg.drain_quiet = 0; /* --drain-quiet 0: drain until told (HAProxy's drain) */
    assert_false(lb_node_drained(&lb, &n, 1e9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lb_node_drained_after_the_quiet_period),
        cmocka_unit_test(test_lb_node_drained_counts_from_the_last_request),
        cmocka_unit_test(test_lb_node_drained_not_while_anything_is_on_it),
        cmocka_unit_test(test_lb_node_drained_only_when_draining_and_enabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
