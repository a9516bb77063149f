/* lb.c: when a draining node has finished (NLB drainstop's end), and the drain timer that
 * ends drains whether or not health checks run; health.c: a check request that does not fit
 * is not sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
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

/* ---- over a real loop ---------------------------------------------------------------- */

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until n leaves state `from`, for at most limit seconds (a watchdog fails the
 * wait instead of hanging). Returns the seconds it took. */
static double run_while(struct ev_loop *loop, const struct lb_node *n, enum node_state from,
                        double limit)
{
    bool fired = false;
    ev_timer wd;
    ev_timer_init(&wd, watchdog_cb, limit, 0);
    wd.data = &fired;
    ev_timer_start(loop, &wd);
    ev_now_update(loop);
    double t0 = ev_now(loop);
    while (!fired && n->state == from)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &wd);
    if (fired)
        fail_msg("node %s still %s after %.1f s", n->name, node_state_name(from), limit);
    return ev_now(loop) - t0;
}

/* An lb with one node web1 at addr and no health checks (as with --health-path ''). */
static struct lb_node *lb_up(struct lb *lb, struct ev_loop *loop, double quiet, double timeout,
                             const char *addr)
{
    struct lb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.health_path = "";
    cfg.health_interval = 1;
    cfg.health_timeout = 1;
    cfg.rise = cfg.fall = 1;
    cfg.drain_quiet = quiet;
    cfg.drain_timeout = timeout;
    cfg.max_sessions = 16;
    struct errbuf err = {{0}};
    if (lb_init(lb, loop, &cfg, &err) != 0)
        fail_msg("lb_init: %s", err.msg);
    if (lb_node_add(lb, "web1", addr, 1, &err) != 0)
        fail_msg("lb_node_add: %s", err.msg);
    return pool_find(&lb->pool, "web1");
}

static void test_lb_drain_ends_quietly_without_health_checks(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    static struct lb lb;
    struct lb_node *n = lb_up(&lb, loop, 0.05, 0, "127.0.0.1:1");
    assert_null(lb.health);
    ev_now_update(loop); /* the drain starts now, not at the loop's last cached time */
    lb_node_set_state(&lb, n, NODE_DRAINING, "admin drain");
    double took = run_while(loop, n, NODE_DRAINING, 3);
    assert_int_equal(n->state, NODE_STOPPED);
    assert_string_equal(n->state_reason, "drained");
    assert_true(took >= 0.045); /* not before the quiet period */
    lb_cleanup(&lb);
    ev_loop_destroy(loop);
}

static void test_lb_drain_timeout_without_health_checks(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    static struct lb lb;
    struct lb_node *n = lb_up(&lb, loop, 0.02, 0.15, "127.0.0.1:1");
    ev_now_update(loop); /* the drain starts now, not at the loop's last cached time */
    lb_node_set_state(&lb, n, NODE_DRAINING, "admin drain");
    n->stats.active = 1; /* a request in flight holds the drain open past the quiet period */
    double took = run_while(loop, n, NODE_DRAINING, 3);
    assert_int_equal(n->state, NODE_STOPPED);
    assert_string_equal(n->state_reason, "drain timeout");
    assert_true(took >= 0.14);
    n->stats.active = 0;
    lb_cleanup(&lb);
    ev_loop_destroy(loop);
}

static void test_lb_drain_check_says_when_to_look_again(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    static struct lb lb;
    struct lb_node *n = lb_up(&lb, loop, 10, 30, "127.0.0.1:1");
    assert_true(lb_drain_check(&lb, 100) == 0); /* nothing draining: the timer can stop */
    ev_now_update(loop); /* the drain starts now, not at the loop's last cached time */
    lb_node_set_state(&lb, n, NODE_DRAINING, "admin drain");
    assert_true(ev_is_active(&lb.drain_timer)); /* a drain started the timer */
    n->state_since = 100;
    assert_true(lb_drain_check(&lb, 100) == 10);            /* the quiet period's end */
    assert_true(lb_drain_check(&lb, 104) == 6);             /* ... still */
    n->stats.active = 1;                                    /* busy past the quiet period: */
    assert_true(lb_drain_check(&lb, 115) == LB_DRAIN_POLL); /* look again soon */
    assert_true(lb_drain_check(&lb, 129.95) < 0.051);       /* the timeout is nearer */
    assert_int_equal(n->state, NODE_DRAINING);
    assert_true(lb_drain_check(&lb, 130) == 0); /* timed out: stopped, nothing left */
    assert_int_equal(n->state, NODE_STOPPED);
    assert_string_equal(n->state_reason, "drain timeout");
    n->stats.active = 0;
    lb.cfg.drain_quiet = lb.cfg.drain_timeout = 0; /* drain until told */
    ev_now_update(loop); /* the drain starts now, not at the loop's last cached time */
    lb_node_set_state(&lb, n, NODE_DRAINING, "admin drain");
    assert_true(lb_drain_check(&lb, 1e9) == 0);
    assert_int_equal(n->state, NODE_DRAINING);
    lb_cleanup(&lb);
    ev_loop_destroy(loop);
}

/* A check whose request does not fit its buffer fails; nothing, cut or not, is sent. */
static void test_health_check_too_long_is_not_sent(void **state)
{
    (void)state;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof sin;
    assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(ls, 8), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &slen), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sin.sin_port));

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    static struct lb lb;
    static char path[4096]; /* past what options allow: only a programming error gets here */
    path[0] = '/';
    memset(path + 1, 'h', sizeof path - 2);
    struct lb_node *n = lb_up(&lb, loop, 0, 0, addr);
    lb.cfg.health_path = path;
    lb.cfg.health_interval = 0.05;
    lb.cfg.health_timeout = 0.3;
    lb.health = health_new(&lb);
    assert_non_null(lb.health);
    run_while(loop, n, NODE_UP, 3);
    assert_int_equal(n->state, NODE_DOWN);
    assert_string_equal(n->state_reason, "health check: request too long");
    int fd = accept(ls, NULL, NULL);
    int saved = errno;
    if (fd >= 0)
        close(fd);
    assert_int_equal(fd, -1); /* the node saw no connection */
    assert_int_equal(saved, EAGAIN);
    lb_cleanup(&lb);
    ev_loop_destroy(loop);
    close(ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lb_node_drained_after_the_quiet_period),
        cmocka_unit_test(test_lb_node_drained_counts_from_the_last_request),
        cmocka_unit_test(test_lb_node_drained_not_while_anything_is_on_it),
        cmocka_unit_test(test_lb_node_drained_only_when_draining_and_enabled),
        cmocka_unit_test(test_lb_drain_ends_quietly_without_health_checks),
        cmocka_unit_test(test_lb_drain_timeout_without_health_checks),
        cmocka_unit_test(test_lb_drain_check_says_when_to_look_again),
        cmocka_unit_test(test_health_check_too_long_is_not_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
