#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "pool.h"

static struct lb_node *add_ok(struct pool *p, const char *name, const char *addr, unsigned w)
{
    struct errbuf err = {{0}};
    struct lb_node *n = pool_add(p, name, addr, w, 100.0, &err);
    if (n == NULL)
        fail_msg("pool_add(%s, %s, %u) should succeed, got: %s", name, addr, w, err.msg);
    return n;
}

static void test_pool_add_fills_a_node(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct lb_node *n = add_ok(&p, "web1", "127.0.0.1:9001", 3);
    assert_int_equal(n->id, 0);
    assert_string_equal(n->name, "web1");
    assert_string_equal(n->addr_text, "127.0.0.1:9001");
    assert_int_equal(n->weight, 3);
    assert_int_equal(n->state, NODE_UP);
    assert_string_equal(n->state_reason, "added");
    assert_true(n->state_since == 100.0);
    assert_false(n->checked);
    assert_int_equal(n->rr_current, 0);
    assert_int_not_equal(n->serial, 0);
    assert_int_equal(p.count, 1);
    assert_ptr_equal(p.slot[0], n);
    pool_cleanup(&p);
    assert_int_equal(p.count, 0);
    assert_null(p.slot[0]);
}

static void test_pool_slots_are_reused_lowest_first(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct lb_node *w1 = add_ok(&p, "web1", "127.0.0.1:9001", 1);
    struct lb_node *w2 = add_ok(&p, "web2", "127.0.0.1:9002", 1);
    struct lb_node *w3 = add_ok(&p, "web3", "127.0.0.1:9003", 1);
    assert_int_equal(w1->id, 0);
    assert_int_equal(w2->id, 1);
    assert_int_equal(w3->id, 2);
    uint64_t old_serial = w2->serial;
    pool_remove(&p, w2);
    assert_null(p.slot[1]);
    assert_int_equal(p.count, 2);
    struct lb_node *w4 = add_ok(&p, "web4", "127.0.0.1:9004", 1);
    assert_int_equal(w4->id, 1);
    /* the slot is reused; the serial is not */
    assert_int_not_equal(w4->serial, old_serial);
    assert_true(w4->serial > w3->serial);
    /* the removed name is free again */
    struct lb_node *w2b = add_ok(&p, "web2", "127.0.0.1:9002", 1);
    assert_int_equal(w2b->id, 3);
    assert_int_equal(p.count, 4);
    pool_cleanup(&p);
}

static void test_pool_add_checks_names(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    const char *good[] = {
        "a", "web1", "Web_1-b.c", "0", "...", "a..b", "abcdefghijklmnopqrstuvwxyz01234" /* 31 */};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%zu", 9000 + i);
        assert_true(pool_name_is_valid(good[i]));
        add_ok(&p, good[i], addr, 1);
    }
    const char *bad[] = {"",
                         ".",
                         "..",
                         "web 1",
                         "web/1",
                         "web=1",
                         "web:1",
                         "we\xc3\xa9",
                         "web1\n",
                         "[web]",
                         "abcdefghijklmnopqrstuvwxyz012345" /* 32 */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct errbuf err = {{0}};
        assert_false(pool_name_is_valid(bad[i]));
        assert_null(pool_add(&p, bad[i], "127.0.0.1:80", 1, 0, &err));
        assert_non_null(strstr(err.msg, "bad name"));
    }
    assert_false(pool_name_is_valid(NULL));
    assert_int_equal(p.count, sizeof good / sizeof good[0]);
    pool_cleanup(&p);
}

static void test_pool_add_refuses_a_taken_name(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    add_ok(&p, "web1", "127.0.0.1:9001", 1);
    struct errbuf err = {{0}};
    uint64_t v = p.version;
    assert_null(pool_add(&p, "web1", "127.0.0.1:9002", 1, 0, &err));
    assert_string_equal(err.msg, "name taken: web1");
    assert_int_equal(p.count, 1);
    assert_int_equal(p.version, v);
    pool_cleanup(&p);
}

static void test_pool_add_parses_ipv4_ipv6_and_localhost(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);

    struct lb_node *a = add_ok(&p, "v4", "10.1.2.3:8080", 1);
    const struct sockaddr_in *sa = (const struct sockaddr_in *)&a->addr;
    assert_int_equal(sa->sin_family, AF_INET);
    assert_int_equal(a->addr_len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(sa->sin_port), 8080);
    assert_int_equal(ntohl(sa->sin_addr.s_addr), 0x0a010203);

    struct lb_node *l = add_ok(&p, "lo", "localhost:1", 1);
    const struct sockaddr_in *sl = (const struct sockaddr_in *)&l->addr;
    assert_int_equal(sl->sin_family, AF_INET);
    assert_int_equal(ntohl(sl->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(ntohs(sl->sin_port), 1);
    assert_string_equal(l->addr_text, "localhost:1");

    struct lb_node *b = add_ok(&p, "v6", "[2001:db8::1]:65535", 1);
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&b->addr;
    assert_int_equal(s6->sin6_family, AF_INET6);
    assert_int_equal(b->addr_len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(s6->sin6_port), 65535);
    const uint8_t want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(s6->sin6_addr.s6_addr, want6, 16);

    struct lb_node *c = add_ok(&p, "lo6", "[::1]:9001", 1);
    assert_int_equal(c->addr.ss_family, AF_INET6);
    pool_cleanup(&p);
}

static void test_pool_add_refuses_bad_addresses(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    const char *bad[] = {
        "",
        "127.0.0.1",
        "127.0.0.1:",
        ":80",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:123456",
        "127.0.0.1:+80",
        "127.0.0.1:-1",
        "127.0.0.1: 80",
        "127.0.0.1:80 ",
        "127.0.0.1:80x",
        " 127.0.0.1:80",
        "::1:80",
        "[::1]80",
        "[::1]",
        "[::1]:",
        "[]:80",
        "[::1:80",
        "[127.0.0.1]:80",
        "[::1]:80:80",
        "example.com:80",
        "localhost6:80",
        "256.0.0.1:80",
        "1.2.3:80",
        "1.2.3.4.5:80",
        "127.0.0.1:80:80",
        "127.000000000000000000000000000000000000000000000000000000000000000000000000000.0.1:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct errbuf err = {{0}};
        if (pool_add(&p, "web1", bad[i], 1, 0, &err) != NULL)
            fail_msg("pool_add should refuse address \"%s\"", bad[i]);
        assert_non_null(strstr(err.msg, "bad address"));
    }
    assert_int_equal(p.count, 0);
    pool_cleanup(&p);
}

static void test_pool_add_refuses_weight_above_max(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct errbuf err = {{0}};
    assert_null(pool_add(&p, "web1", "127.0.0.1:80", POOL_WEIGHT_MAX + 1, 0, &err));
    assert_non_null(strstr(err.msg, "bad weight"));
    assert_non_null(add_ok(&p, "web1", "127.0.0.1:80", POOL_WEIGHT_MAX));
    assert_non_null(add_ok(&p, "web2", "127.0.0.1:81", 0));
    pool_cleanup(&p);
}

static void test_pool_add_refuses_past_pool_max(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    for (unsigned i = 0; i < POOL_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%u", i);
        assert_int_equal(add_ok(&p, name, "127.0.0.1:80", 1)->id, i);
    }
    struct errbuf err = {{0}};
    assert_null(pool_add(&p, "one-more", "127.0.0.1:80", 1, 0, &err));
    assert_non_null(strstr(err.msg, "pool full"));
    assert_int_equal(p.count, POOL_MAX);
    pool_cleanup(&p);
}

static void test_pool_find_by_name(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct lb_node *w1 = add_ok(&p, "web1", "127.0.0.1:9001", 1);
    struct lb_node *w2 = add_ok(&p, "web2", "127.0.0.1:9002", 1);
    assert_ptr_equal(pool_find(&p, "web1"), w1);
    assert_ptr_equal(pool_find(&p, "web2"), w2);
    assert_null(pool_find(&p, "web3"));
    assert_null(pool_find(&p, "WEB1"));
    assert_null(pool_find(&p, "web"));
    assert_null(pool_find(&p, NULL));
    pool_remove(&p, w1);
    assert_null(pool_find(&p, "web1"));
    pool_cleanup(&p);
}

static void test_pool_version_bumps_on_every_change(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    uint64_t v = p.version;
    struct lb_node *n = add_ok(&p, "web1", "127.0.0.1:9001", 1);
    assert_true(p.version > v);
    v = p.version;

    assert_true(pool_set_state(&p, n, NODE_DRAINING, "admin", 1));
    assert_true(p.version > v);
    v = p.version;
    assert_false(pool_set_state(&p, n, NODE_DRAINING, "admin again", 2));
    assert_int_equal(p.version, v);

    assert_true(pool_set_weight(&p, n, 5));
    assert_true(p.version > v);
    v = p.version;
    assert_false(pool_set_weight(&p, n, 5));
    assert_int_equal(p.version, v);
    assert_false(pool_set_weight(&p, n, POOL_WEIGHT_MAX + 1));
    assert_int_equal(p.version, v);
    assert_int_equal(n->weight, 5);

    struct errbuf err = {{0}};
    assert_null(pool_add(&p, "web1", "127.0.0.1:9001", 1, 0, &err));
    assert_int_equal(p.version, v);

    pool_remove(&p, n);
    assert_true(p.version > v);
    pool_cleanup(&p);
}

static void test_pool_set_state_records_reason_and_time(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct lb_node *n = add_ok(&p, "web1", "127.0.0.1:9001", 1);
    assert_true(pool_set_state(&p, n, NODE_DOWN, "health check: 503", 12.5));
    assert_int_equal(n->state, NODE_DOWN);
    assert_string_equal(n->state_reason, "health check: 503");
    assert_true(n->state_since == 12.5);

    /* unchanged: the first reason and time stand */
    assert_false(pool_set_state(&p, n, NODE_DOWN, "health check: timeout", 20));
    assert_string_equal(n->state_reason, "health check: 503");
    assert_true(n->state_since == 12.5);

    assert_true(pool_set_state(&p, n, NODE_UP, NULL, 30));
    assert_string_equal(n->state_reason, "");
    assert_true(n->state_since == 30);

    char longreason[200];
    memset(longreason, 'x', sizeof longreason - 1);
    longreason[sizeof longreason - 1] = '\0';
    assert_true(pool_set_state(&p, n, NODE_STOPPED, longreason, 40));
    assert_int_equal(strlen(n->state_reason), sizeof n->state_reason - 1);
    pool_cleanup(&p);
}

static void test_pool_takes_new_and_serves_existing_by_state(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct lb_node *n = add_ok(&p, "web1", "127.0.0.1:9001", 1);
    /* {state, takes new with weight 1, takes new with weight 0, serves existing} */
    const struct {
        enum node_state s;
        bool takes_new_w1, takes_new_w0, serves;
    } want[] = {
        {NODE_UP, true, false, true},
        {NODE_DOWN, false, false, false},
        {NODE_DRAINING, false, false, true},
        {NODE_STOPPED, false, false, false},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        pool_set_state(&p, n, want[i].s, "test", 0);
        pool_set_weight(&p, n, 1);
        assert_int_equal(node_takes_new(n), want[i].takes_new_w1);
        assert_int_equal(node_serves_existing(n), want[i].serves);
        pool_set_weight(&p, n, 0);
        assert_int_equal(node_takes_new(n), want[i].takes_new_w0);
        assert_int_equal(node_serves_existing(n), want[i].serves);
    }
    pool_cleanup(&p);
}

static void test_node_state_names(void **state)
{
    (void)state;
    assert_string_equal(node_state_name(NODE_UP), "up");
    assert_string_equal(node_state_name(NODE_DOWN), "down");
    assert_string_equal(node_state_name(NODE_DRAINING), "draining");
    assert_string_equal(node_state_name(NODE_STOPPED), "stopped");
    assert_string_equal(node_state_name(NODE_STATE_COUNT), "?");
    assert_string_equal(node_state_name((enum node_state)1000), "?");
}

static void test_pool_parse_node_arg_splits_and_checks(void **state)
{
    (void)state;
    char name[POOL_NAME_MAX], addr[80];
    struct errbuf err = {{0}};
    assert_int_equal(
        pool_parse_node_arg("web1=127.0.0.1:9001", name, sizeof name, addr, sizeof addr, &err), 0);
    assert_string_equal(name, "web1");
    assert_string_equal(addr, "127.0.0.1:9001");
    assert_int_equal(
        pool_parse_node_arg("v6.a=[::1]:80", name, sizeof name, addr, sizeof addr, &err), 0);
    assert_string_equal(name, "v6.a");
    assert_string_equal(addr, "[::1]:80");

    const char *bad[] = {"web1",         "=127.0.0.1:80",  "web 1=127.0.0.1:80",
                         "web1=",        "web1=127.0.0.1", "web1=127.0.0.1:80=x",
                         "web1=host:80", "..=127.0.0.1:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        if (pool_parse_node_arg(bad[i], name, sizeof name, addr, sizeof addr, &err) != -1)
            fail_msg("pool_parse_node_arg should refuse \"%s\"", bad[i]);
        assert_non_null(strstr(err.msg, "--node"));
    }
    /* the caller's buffers bound the pieces */
    char small[4];
    assert_int_equal(
        pool_parse_node_arg("web1=127.0.0.1:80", small, sizeof small, addr, sizeof addr, &err), -1);
    assert_int_equal(
        pool_parse_node_arg("web1=127.0.0.1:80", name, sizeof name, small, sizeof small, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_add_fills_a_node),
        cmocka_unit_test(test_pool_slots_are_reused_lowest_first),
        cmocka_unit_test(test_pool_add_checks_names),
        cmocka_unit_test(test_pool_add_refuses_a_taken_name),
        cmocka_unit_test(test_pool_add_parses_ipv4_ipv6_and_localhost),
        cmocka_unit_test(test_pool_add_refuses_bad_addresses),
        cmocka_unit_test(test_pool_add_refuses_weight_above_max),
        cmocka_unit_test(test_pool_add_refuses_past_pool_max),
        cmocka_unit_test(test_pool_find_by_name),
        cmocka_unit_test(test_pool_version_bumps_on_every_change),
        cmocka_unit_test(test_pool_set_state_records_reason_and_time),
        cmocka_unit_test(test_pool_takes_new_and_serves_existing_by_state),
        cmocka_unit_test(test_node_state_names),
        cmocka_unit_test(test_pool_parse_node_arg_splits_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
