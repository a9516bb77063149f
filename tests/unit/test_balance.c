#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"

#define KEYS 30000

static struct lb_node *add_node(struct pool *p, const char *name, unsigned weight)
{
    static unsigned port = 9000;
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ++port);
    struct errbuf err = {{0}};
    struct lb_node *n = pool_add(p, name, addr, weight, 0, &err);
    if (n == NULL)
        fail_msg("pool_add(%s) should succeed, got: %s", name, err.msg);
    return n;
}

/* A pool of nodes named by a space-separated list, all weight 1. */
static void make_pool(struct pool *p, const char *names)
{
    pool_init(p);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save))
        add_node(p, t, 1);
}

static const char *rr_name(struct pool *p, uint64_t exclude)
{
    struct lb_node *n = balance_rr(p, exclude);
    return n != NULL ? n->name : "(null)";
}

/* Picks n times and asserts the names, space-separated, equal want. */
static void expect_rr(struct pool *p, const char *want)
{
    char got[512] = "";
    size_t words = 1;
    for (const char *c = want; *c; c++)
        words += *c == ' ';
    for (size_t i = 0; i < words; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s%s", i ? " " : "", rr_name(p, 0));
    }
    assert_string_equal(got, want);
}

static struct sockaddr_storage v4(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
        fail_msg("bad test address %s", ip);
    return ss;
}

static struct sockaddr_storage v6(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
        fail_msg("bad test address %s", ip);
    return ss;
}

/* The affinity key of client i: 10.x.y.z (single affinity), as distinct clients would be. */
static uint64_t client_key(unsigned i)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(0x0a000000u + i);
    return balance_affinity_key(AFFINITY_SINGLE, &ss);
}

/* ---- names -------------------------------------------------------------------------------- */

static void test_balance_names_round_trip(void **state)
{
    (void)state;
    assert_string_equal(lb_dispatch_name(DISPATCH_REQUEST), "request");
    assert_string_equal(lb_dispatch_name(DISPATCH_CONNECTION), "connection");
    assert_string_equal(lb_dispatch_name((enum lb_dispatch)7), "?");
    assert_string_equal(lb_affinity_name(AFFINITY_NONE), "none");
    assert_string_equal(lb_affinity_name(AFFINITY_SINGLE), "single");
    assert_string_equal(lb_affinity_name(AFFINITY_NETWORK), "network");
    assert_string_equal(lb_affinity_name(AFFINITY_COOKIE), "cookie");
    assert_string_equal(lb_affinity_name((enum lb_affinity)9), "?");
    assert_string_equal(pick_reason_name(PICK_NONE), "none");
    assert_string_equal(pick_reason_name(PICK_RR), "rr");
    assert_string_equal(pick_reason_name(PICK_AFFINITY), "affinity");
    assert_string_equal(pick_reason_name(PICK_STICKY), "sticky");
    assert_string_equal(pick_reason_name(PICK_COOKIE), "cookie");
    assert_string_equal(pick_reason_name(PICK_CONNECTION), "connection");
    assert_string_equal(pick_reason_name(PICK_REDISPATCH), "redispatch");
    assert_string_equal(pick_reason_name((enum pick_reason)99), "?");

    enum lb_dispatch d = DISPATCH_REQUEST;
    assert_int_equal(lb_dispatch_from_name("connection", &d), 0);
    assert_int_equal(d, DISPATCH_CONNECTION);
    assert_int_equal(lb_dispatch_from_name("Request", &d), 0);
    assert_int_equal(d, DISPATCH_REQUEST);
    assert_int_equal(lb_dispatch_from_name("conn", &d), -1);
    assert_int_equal(lb_dispatch_from_name("", &d), -1);
    assert_int_equal(lb_dispatch_from_name(NULL, &d), -1);
    assert_int_equal(d, DISPATCH_REQUEST);

    const char *aff[] = {"none", "single", "network", "cookie"};
    for (int i = 0; i < 4; i++) {
        enum lb_affinity a = AFFINITY_COOKIE;
        assert_int_equal(lb_affinity_from_name(aff[i], &a), 0);
        assert_int_equal(a, i);
        assert_string_equal(lb_affinity_name(a), aff[i]);
    }
    enum lb_affinity a = AFFINITY_NONE;
    assert_int_equal(lb_affinity_from_name("Network", &a), 0); /* as PowerShell spells it */
    assert_int_equal(a, AFFINITY_NETWORK);
    assert_int_equal(lb_affinity_from_name("class-c", &a), -1);
    assert_int_equal(a, AFFINITY_NETWORK);
}

/* ---- round robin -------------------------------------------------------------------------- */

static void test_balance_rr_equal_weights_rotate_strictly(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    expect_rr(&p, "web1 web2 web3 web1 web2 web3 web1 web2 web3 web1");
    pool_cleanup(&p);
}

static void test_balance_rr_weights_two_to_one_interleave(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    add_node(&p, "a", 2);
    add_node(&p, "b", 1);
    /* smooth: never b b, never a a a */
    expect_rr(&p, "a b a a b a a b a");
    pool_cleanup(&p);
}

static void test_balance_rr_matches_nginx_five_one_one(void **state)
{
    (void)state;
    /* the example in nginx's commit introducing smooth weighted round robin */
    struct pool p;
    pool_init(&p);
    add_node(&p, "a", 5);
    add_node(&p, "b", 1);
    add_node(&p, "c", 1);
    expect_rr(&p, "a a b a c a a a a b a c a a");
    pool_cleanup(&p);
}

static void test_balance_rr_shares_follow_weights(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    struct lb_node *n[4];
    const unsigned w[4] = {7, 3, 1, 5};
    n[0] = add_node(&p, "a", w[0]);
    n[1] = add_node(&p, "b", w[1]);
    n[2] = add_node(&p, "c", w[2]);
    n[3] = add_node(&p, "d", w[3]);
    unsigned count[4] = {0};
    /* over whole periods of sum(w) picks the shares are exact */
    for (unsigned i = 0; i < 16 * 10; i++) {
        struct lb_node *got = balance_rr(&p, 0);
        assert_non_null(got);
        count[got->id]++;
    }
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(count[i], w[i] * 10);

    /* a weight changed at run time takes effect: now 1:1:1:1, within one pick per node */
    for (unsigned i = 0; i < 4; i++)
        pool_set_weight(&p, n[i], 1);
    memset(count, 0, sizeof count);
    for (unsigned i = 0; i < 400; i++)
        count[balance_rr(&p, 0)->id]++;
    for (unsigned i = 0; i < 4; i++)
        assert_in_range(count[i], 99, 101);
    pool_cleanup(&p);
}

/* 3 equal nodes; after `phase` picks one node goes down: the other two must continue in
 * their cyclic order, strictly alternating, starting with the one due next. */
static void test_balance_rr_down_node_is_skipped_without_reordering(void **state)
{
    (void)state;
    const char *names[3] = {"web1", "web2", "web3"};
    for (unsigned phase = 1; phase <= 6; phase++) {
        for (unsigned victim = 0; victim < 3; victim++) {
            struct pool p;
            make_pool(&p, "web1 web2 web3");
            for (unsigned i = 0; i < phase; i++)
                assert_string_equal(rr_name(&p, 0), names[i % 3]);
            pool_set_state(&p, p.slot[victim], NODE_DOWN, "test", 0);
            unsigned next = phase % 3;
            for (unsigned i = 0; i < 8; i++) {
                if (next == victim)
                    next = (next + 1) % 3;
                const char *got = rr_name(&p, 0);
                if (strcmp(got, names[next]) != 0)
                    fail_msg("phase %u, %s down, pick %u after: expected %s, got %s", phase,
                             names[victim], i, names[next], got);
                next = (next + 1) % 3;
            }
            pool_cleanup(&p);
        }
    }
}

static void test_balance_rr_node_back_up_rejoins_the_rotation(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    expect_rr(&p, "web1 web2 web3 web1");
    pool_set_state(&p, p.slot[1], NODE_DOWN, "health", 0);
    expect_rr(&p, "web3 web1 web3 web1");
    pool_set_state(&p, p.slot[1], NODE_UP, "health", 0);
    expect_rr(&p, "web2 web3 web1 web2 web3 web1");
    pool_cleanup(&p);
}

static void test_balance_rr_skips_draining_stopped_and_weight_zero(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "w0 w1 w2 w3 w4");
    pool_set_state(&p, p.slot[1], NODE_DRAINING, "admin", 0);
    pool_set_state(&p, p.slot[2], NODE_STOPPED, "admin", 0);
    pool_set_weight(&p, p.slot[3], 0);
    expect_rr(&p, "w0 w4 w0 w4 w0 w4");
    pool_cleanup(&p);
}

static void test_balance_rr_excluded_nodes_are_not_picked(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    /* a retry after web2 failed: never web2 */
    for (unsigned i = 0; i < 10; i++)
        assert_string_not_equal(rr_name(&p, 1ULL << 1), "web2");
    assert_string_equal(rr_name(&p, (1ULL << 0) | (1ULL << 2)), "web2");
    assert_null(balance_rr(&p, 7));
    assert_null(balance_rr(&p, ~0ULL));
    /* exclusion is per call: the next plain picks use every node */
    unsigned seen = 0;
    for (unsigned i = 0; i < 3; i++)
        seen |= 1u << balance_rr(&p, 0)->id;
    assert_int_equal(seen, 7);
    pool_cleanup(&p);
}

static void test_balance_rr_nothing_eligible_is_null(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    assert_null(balance_rr(&p, 0));
    make_pool(&p, "web1 web2");
    pool_set_state(&p, p.slot[0], NODE_DOWN, "health", 0);
    pool_set_state(&p, p.slot[1], NODE_DRAINING, "admin", 0);
    assert_null(balance_rr(&p, 0));
    pool_set_state(&p, p.slot[1], NODE_UP, "admin", 0);
    assert_string_equal(rr_name(&p, 0), "web2");
    pool_cleanup(&p);
}

static void test_balance_rr_survives_add_and_remove(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    expect_rr(&p, "web1 web2");
    pool_remove(&p, p.slot[1]);
    expect_rr(&p, "web3 web1 web3 web1");
    add_node(&p, "web4", 1); /* takes slot 1 */
    unsigned count[3] = {0};
    for (unsigned i = 0; i < 30; i++)
        count[balance_rr(&p, 0)->id]++;
    assert_int_equal(count[0], 10);
    assert_int_equal(count[1], 10);
    assert_int_equal(count[2], 10);
    pool_cleanup(&p);
}

/* ---- affinity keys ------------------------------------------------------------------------ */

static void test_balance_affinity_key_by_mode(void **state)
{
    (void)state;
    struct sockaddr_storage a = v4("192.0.2.10", 40000);
    struct sockaddr_storage a_port = v4("192.0.2.10", 40001);
    struct sockaddr_storage a_host = v4("192.0.2.11", 40000);
    struct sockaddr_storage a_net = v4("192.0.3.10", 40000);

    /* none: address and port */
    assert_int_not_equal(balance_affinity_key(AFFINITY_NONE, &a),
                         balance_affinity_key(AFFINITY_NONE, &a_port));
    assert_int_not_equal(balance_affinity_key(AFFINITY_NONE, &a),
                         balance_affinity_key(AFFINITY_NONE, &a_host));
    /* single: address only */
    assert_int_equal(balance_affinity_key(AFFINITY_SINGLE, &a),
                     balance_affinity_key(AFFINITY_SINGLE, &a_port));
    assert_int_not_equal(balance_affinity_key(AFFINITY_SINGLE, &a),
                         balance_affinity_key(AFFINITY_SINGLE, &a_host));
    /* network: the /24 */
    assert_int_equal(balance_affinity_key(AFFINITY_NETWORK, &a),
                     balance_affinity_key(AFFINITY_NETWORK, &a_host));
    assert_int_equal(balance_affinity_key(AFFINITY_NETWORK, &a),
                     balance_affinity_key(AFFINITY_NETWORK, &a_port));
    assert_int_not_equal(balance_affinity_key(AFFINITY_NETWORK, &a),
                         balance_affinity_key(AFFINITY_NETWORK, &a_net));
    /* deterministic */
    assert_int_equal(balance_affinity_key(AFFINITY_NONE, &a),
                     balance_affinity_key(AFFINITY_NONE, &a));
}

static void test_balance_affinity_key_ipv6_and_mapped(void **state)
{
    (void)state;
    struct sockaddr_storage a = v6("2001:db8:1:2::1", 5000);
    struct sockaddr_storage a_port = v6("2001:db8:1:2::1", 5001);
    struct sockaddr_storage same48 = v6("2001:db8:1:ffff::9", 5000);
    struct sockaddr_storage other48 = v6("2001:db8:2:2::1", 5000);
    assert_int_equal(balance_affinity_key(AFFINITY_SINGLE, &a),
                     balance_affinity_key(AFFINITY_SINGLE, &a_port));
    assert_int_not_equal(balance_affinity_key(AFFINITY_NONE, &a),
                         balance_affinity_key(AFFINITY_NONE, &a_port));
    assert_int_not_equal(balance_affinity_key(AFFINITY_SINGLE, &a),
                         balance_affinity_key(AFFINITY_SINGLE, &same48));
    assert_int_equal(balance_affinity_key(AFFINITY_NETWORK, &a),
                     balance_affinity_key(AFFINITY_NETWORK, &same48));
    assert_int_not_equal(balance_affinity_key(AFFINITY_NETWORK, &a),
                         balance_affinity_key(AFFINITY_NETWORK, &other48));

    /* a dual-stack listener sees ::ffff:a.b.c.d: the same client as over IPv4 */
    struct sockaddr_storage m = v6("::ffff:192.0.2.10", 40000);
    struct sockaddr_storage m4 = v4("192.0.2.10", 40000);
    struct sockaddr_storage m4net = v4("192.0.2.99", 1);
    for (int mode = AFFINITY_NONE; mode <= AFFINITY_COOKIE; mode++)
        assert_int_equal(balance_affinity_key((enum lb_affinity)mode, &m),
                         balance_affinity_key((enum lb_affinity)mode, &m4));
    assert_int_equal(balance_affinity_key(AFFINITY_NETWORK, &m),
                     balance_affinity_key(AFFINITY_NETWORK, &m4net));

    /* ::a00:1 (IPv6) is not 10.0.0.1 (IPv4), though the last four bytes agree */
    struct sockaddr_storage compat = v6("::10.0.0.1", 0);
    struct sockaddr_storage plain = v4("10.0.0.1", 0);
    assert_int_not_equal(balance_affinity_key(AFFINITY_SINGLE, &compat),
                         balance_affinity_key(AFFINITY_SINGLE, &plain));
}

/* ---- rendezvous hashing ------------------------------------------------------------------- */

static void test_balance_hash_spreads_evenly(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    unsigned count[3] = {0}, seq[3] = {0};
    for (unsigned i = 0; i < KEYS; i++) {
        count[balance_hash(&p, client_key(i), 0)->id]++;
        seq[balance_hash(&p, i, 0)->id]++; /* raw sequential keys: the mixing must cope */
    }
    for (unsigned i = 0; i < 3; i++) {
        assert_in_range(count[i], KEYS / 3 * 95 / 100, KEYS / 3 * 105 / 100);
        assert_in_range(seq[i], KEYS / 3 * 95 / 100, KEYS / 3 * 105 / 100);
    }
    pool_cleanup(&p);
}

static void test_balance_hash_weight_two_gets_twice(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    pool_set_weight(&p, p.slot[0], 2);
    unsigned count[3] = {0};
    for (unsigned i = 0; i < KEYS; i++)
        count[balance_hash(&p, client_key(i), 0)->id]++;
    assert_in_range(count[0], KEYS / 2 * 95 / 100, KEYS / 2 * 105 / 100);
    assert_in_range(count[1], KEYS / 4 * 95 / 100, KEYS / 4 * 105 / 100);
    assert_in_range(count[2], KEYS / 4 * 95 / 100, KEYS / 4 * 105 / 100);
    pool_cleanup(&p);
}

static void test_balance_hash_removing_a_node_moves_only_its_keys(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    static unsigned char before[KEYS];
    for (unsigned i = 0; i < KEYS; i++)
        before[i] = (unsigned char)balance_hash(&p, client_key(i), 0)->id;
    pool_remove(&p, p.slot[1]);
    unsigned to[3] = {0};
    for (unsigned i = 0; i < KEYS; i++) {
        unsigned now = balance_hash(&p, client_key(i), 0)->id;
        if (before[i] != 1 && now != before[i])
            fail_msg("key %u was on slot %u, which stayed, but moved to slot %u", i, before[i],
                     now);
        if (before[i] == 1)
            to[now]++;
    }
    /* web2's keys spread over both survivors */
    assert_int_equal(to[1], 0);
    assert_in_range(to[0], KEYS / 6 * 85 / 100, KEYS / 6 * 115 / 100);
    assert_in_range(to[2], KEYS / 6 * 85 / 100, KEYS / 6 * 115 / 100);
    pool_cleanup(&p);
}

static void test_balance_hash_down_or_draining_node_moves_only_its_keys(void **state)
{
    (void)state;
    const enum node_state states[] = {NODE_DOWN, NODE_DRAINING, NODE_STOPPED};
    for (size_t s = 0; s < 3; s++) {
        struct pool p;
        make_pool(&p, "web1 web2 web3");
        static unsigned char before[KEYS];
        for (unsigned i = 0; i < KEYS; i++)
            before[i] = (unsigned char)balance_hash(&p, client_key(i), 0)->id;
        pool_set_state(&p, p.slot[2], states[s], "test", 0);
        unsigned moved = 0;
        for (unsigned i = 0; i < KEYS; i++) {
            unsigned now = balance_hash(&p, client_key(i), 0)->id;
            assert_int_not_equal(now, 2);
            if (before[i] != 2)
                assert_int_equal(now, before[i]);
            moved += now != before[i];
        }
        assert_in_range(moved, KEYS / 3 * 95 / 100, KEYS / 3 * 105 / 100);
        /* back up: every key returns where it was */
        pool_set_state(&p, p.slot[2], NODE_UP, "test", 0);
        for (unsigned i = 0; i < KEYS; i++)
            assert_int_equal(balance_hash(&p, client_key(i), 0)->id, before[i]);
        pool_cleanup(&p);
    }
}

static void test_balance_hash_adding_a_node_moves_a_quarter_to_it(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    static unsigned char before[KEYS];
    for (unsigned i = 0; i < KEYS; i++)
        before[i] = (unsigned char)balance_hash(&p, client_key(i), 0)->id;
    struct lb_node *w4 = add_node(&p, "web4", 1);
    unsigned moved = 0;
    for (unsigned i = 0; i < KEYS; i++) {
        unsigned now = balance_hash(&p, client_key(i), 0)->id;
        if (now != before[i]) {
            if (now != w4->id)
                fail_msg("key %u moved from slot %u to slot %u, not to the new node", i, before[i],
                         now);
            moved++;
        }
    }
    assert_in_range(moved, KEYS / 4 * 95 / 100, KEYS / 4 * 105 / 100);
    pool_cleanup(&p);
}

static void test_balance_hash_raising_a_weight_moves_keys_only_to_it(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    static unsigned char before[KEYS];
    for (unsigned i = 0; i < KEYS; i++)
        before[i] = (unsigned char)balance_hash(&p, client_key(i), 0)->id;
    pool_set_weight(&p, p.slot[0], 2);
    unsigned moved = 0;
    for (unsigned i = 0; i < KEYS; i++) {
        unsigned now = balance_hash(&p, client_key(i), 0)->id;
        if (now != before[i]) {
            assert_int_equal(now, 0);
            moved++;
        }
    }
    /* web1 goes from 1/3 to 1/2 of the keys */
    assert_in_range(moved, KEYS / 6 * 90 / 100, KEYS / 6 * 110 / 100);
    pool_cleanup(&p);
}

static void test_balance_hash_follows_names_not_slots(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    static char before[KEYS][POOL_NAME_MAX];
    for (unsigned i = 0; i < KEYS; i++)
        memcpy(before[i], balance_hash(&p, client_key(i), 0)->name, POOL_NAME_MAX);
    /* web1 leaves, web9 takes its slot and leaves again, web1 returns in another slot */
    pool_remove(&p, p.slot[0]);
    struct lb_node *w9 = add_node(&p, "web9", 1);
    assert_int_equal(w9->id, 0);
    struct lb_node *w1 = add_node(&p, "web1", 1);
    assert_int_equal(w1->id, 3);
    pool_remove(&p, w9);
    for (unsigned i = 0; i < KEYS; i++)
        assert_string_equal(balance_hash(&p, client_key(i), 0)->name, before[i]);
    pool_cleanup(&p);
}

static void test_balance_hash_exclude_falls_to_the_next_choice(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    for (unsigned i = 0; i < 1000; i++) {
        uint64_t k = client_key(i);
        struct lb_node *first = balance_hash(&p, k, 0);
        uint64_t ex = 1ULL << first->id;
        struct lb_node *second = balance_hash(&p, k, ex);
        assert_non_null(second);
        assert_ptr_not_equal(second, first);
        /* the fallback is the node the key would go to if the first were gone */
        pool_set_state(&p, first, NODE_DOWN, "test", 0);
        assert_ptr_equal(balance_hash(&p, k, 0), second);
        pool_set_state(&p, first, NODE_UP, "test", 0);
        assert_null(balance_hash(&p, k, 7));
    }
    pool_cleanup(&p);
}

static void test_balance_hash_nothing_eligible_is_null(void **state)
{
    (void)state;
    struct pool p;
    pool_init(&p);
    assert_null(balance_hash(&p, 42, 0));
    make_pool(&p, "web1 web2");
    pool_set_weight(&p, p.slot[0], 0);
    pool_set_state(&p, p.slot[1], NODE_DRAINING, "admin", 0);
    assert_null(balance_hash(&p, 42, 0));
    pool_cleanup(&p);
}

/* ---- the sticky table --------------------------------------------------------------------- */

static void test_sticky_remembers_and_expires(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2");
    struct sticky *s = sticky_new(64, 10);
    assert_non_null(s);
    assert_null(sticky_get(s, &p, 1, 0));
    sticky_put(s, 1, p.slot[1], 100);
    sticky_put(s, 2, p.slot[0], 100);
    assert_ptr_equal(sticky_get(s, &p, 1, 105), p.slot[1]);
    assert_ptr_equal(sticky_get(s, &p, 2, 110), p.slot[0]); /* exactly ttl: still fresh */
    assert_null(sticky_get(s, &p, 3, 105));
    /* a put refreshes */
    sticky_put(s, 1, p.slot[1], 108);
    assert_ptr_equal(sticky_get(s, &p, 1, 115), p.slot[1]);
    assert_null(sticky_get(s, &p, 2, 110.5));
    /* a put moves */
    sticky_put(s, 1, p.slot[0], 116);
    assert_ptr_equal(sticky_get(s, &p, 1, 116), p.slot[0]);
    sticky_free(s);
    sticky_free(NULL);
    pool_cleanup(&p);
}

static void test_sticky_ttl_zero_never_expires(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    struct sticky *s = sticky_new(8, 0);
    sticky_put(s, 7, p.slot[0], 0);
    assert_ptr_equal(sticky_get(s, &p, 7, 1e9), p.slot[0]);
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_sticky_only_nodes_serving_existing_users(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    struct lb_node *n = p.slot[0];
    struct sticky *s = sticky_new(8, 0);
    sticky_put(s, 7, n, 0);
    pool_set_state(&p, n, NODE_DRAINING, "admin", 0);
    assert_ptr_equal(sticky_get(s, &p, 7, 1), n);
    pool_set_weight(&p, n, 0);
    assert_ptr_equal(sticky_get(s, &p, 7, 1), n);
    pool_set_state(&p, n, NODE_STOPPED, "admin", 0);
    assert_null(sticky_get(s, &p, 7, 1));
    /* forgotten, not just hidden */
    pool_set_state(&p, n, NODE_DRAINING, "admin", 0);
    assert_null(sticky_get(s, &p, 7, 1));
    sticky_put(s, 8, n, 0);
    pool_set_state(&p, n, NODE_DOWN, "health", 0);
    assert_null(sticky_get(s, &p, 8, 1));
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_sticky_a_reused_slot_is_not_the_old_node(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2");
    struct sticky *s = sticky_new(8, 0);
    sticky_put(s, 7, p.slot[1], 0);
    pool_remove(&p, p.slot[1]);
    struct lb_node *w3 = add_node(&p, "web3", 1);
    assert_int_equal(w3->id, 1);
    assert_null(sticky_get(s, &p, 7, 1));
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_sticky_forget_node_drops_its_entries(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2");
    struct sticky *s = sticky_new(1024, 0);
    for (uint64_t k = 0; k < 100; k++)
        sticky_put(s, k, p.slot[k % 2], 0);
    sticky_forget_node(s, 1);
    for (uint64_t k = 0; k < 100; k++) {
        if (k % 2)
            assert_null(sticky_get(s, &p, k, 0));
        else
            assert_ptr_equal(sticky_get(s, &p, k, 0), p.slot[0]);
    }
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_sticky_full_window_evicts_the_oldest(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    /* capacity 1 rounds up to one window: every key competes for the same 8 slots */
    struct sticky *s = sticky_new(1, 0);
    assert_non_null(s);
    for (uint64_t k = 0; k < STICKY_WINDOW; k++)
        sticky_put(s, k, p.slot[0], (double)k);
    for (uint64_t k = 0; k < STICKY_WINDOW; k++)
        assert_non_null(sticky_get(s, &p, k, 100));
    sticky_put(s, 0, p.slot[0], 50); /* key 0 is now the newest; key 1 the oldest */
    sticky_put(s, 100, p.slot[0], 51);
    assert_null(sticky_get(s, &p, 1, 100));
    assert_non_null(sticky_get(s, &p, 0, 100));
    assert_non_null(sticky_get(s, &p, 100, 100));
    for (uint64_t k = 2; k < STICKY_WINDOW; k++)
        assert_non_null(sticky_get(s, &p, k, 100));
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_sticky_expired_entries_go_before_live_ones(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    struct sticky *s = sticky_new(STICKY_WINDOW, 10);
    /* keys 0..7 seen at 0..7; at 15, keys 0..4 are stale and 5..7 fresh */
    for (uint64_t k = 0; k < STICKY_WINDOW; k++)
        sticky_put(s, k, p.slot[0], (double)k);
    for (uint64_t k = 100; k < 105; k++)
        sticky_put(s, k, p.slot[0], 15);
    for (uint64_t k = 5; k < STICKY_WINDOW; k++)
        assert_non_null(sticky_get(s, &p, k, 15));
    for (uint64_t k = 100; k < 105; k++)
        assert_non_null(sticky_get(s, &p, k, 15));
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_sticky_new_refuses_absurd_capacity(void **state)
{
    (void)state;
    assert_null(sticky_new(SIZE_MAX, 0));
    assert_null(sticky_new(SIZE_MAX / 4, 0));
    struct sticky *s = sticky_new(0, 0);
    assert_non_null(s);
    sticky_free(s);
}

/* ---- affinity ----------------------------------------------------------------------------- */

static void test_balance_affinity_keeps_a_client_on_its_node(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    struct sticky *s = sticky_new(1024, 600);
    enum pick_reason why = PICK_RR;
    uint64_t k = client_key(7);
    struct lb_node *first = balance_affinity(&p, s, k, 0, 0, &why);
    assert_non_null(first);
    assert_int_equal(why, PICK_AFFINITY);
    assert_ptr_equal(first, balance_hash(&p, k, 0));
    for (unsigned i = 1; i < 20; i++) {
        assert_ptr_equal(balance_affinity(&p, s, k, 0, i, &why), first);
        assert_int_equal(why, PICK_AFFINITY);
    }
    /* no table: the hash alone */
    assert_ptr_equal(balance_affinity(&p, NULL, k, 0, 0, NULL), first);
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_balance_affinity_drain_keeps_bound_clients_only(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    struct sticky *s = sticky_new(4096, 600);
    enum pick_reason why;
    static unsigned char before[1000];
    for (unsigned i = 0; i < 1000; i++)
        before[i] = (unsigned char)balance_affinity(&p, s, client_key(i), 0, 0, &why)->id;
    struct lb_node *drained = p.slot[1];
    pool_set_state(&p, drained, NODE_DRAINING, "admin", 1);
    for (unsigned i = 0; i < 1000; i++) {
        struct lb_node *n = balance_affinity(&p, s, client_key(i), 0, 2, &why);
        assert_int_equal(n->id, before[i]); /* nobody moves */
        assert_int_equal(why, before[i] == 1 ? PICK_STICKY : PICK_AFFINITY);
    }
    /* new clients never reach the draining node */
    for (unsigned i = 1000; i < 4000; i++) {
        struct lb_node *n = balance_affinity(&p, s, client_key(i), 0, 3, &why);
        assert_ptr_not_equal(n, drained);
        assert_int_equal(why, PICK_AFFINITY);
    }
    /* a retry away from the draining node re-hashes */
    for (unsigned i = 0; i < 1000; i++) {
        if (before[i] != 1)
            continue;
        struct lb_node *n = balance_affinity(&p, s, client_key(i), 1ULL << 1, 4, &why);
        assert_ptr_not_equal(n, drained);
        assert_int_equal(why, PICK_AFFINITY);
    }
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_balance_affinity_stop_and_ttl_release_bound_clients(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    struct sticky *s = sticky_new(64, 60);
    enum pick_reason why;
    /* find a client of web2 */
    uint64_t k = 0;
    for (unsigned i = 0;; i++) {
        k = client_key(i);
        if (balance_hash(&p, k, 0) == p.slot[1])
            break;
    }
    assert_ptr_equal(balance_affinity(&p, s, k, 0, 0, &why), p.slot[1]);
    pool_set_state(&p, p.slot[1], NODE_DRAINING, "admin", 0);
    assert_ptr_equal(balance_affinity(&p, s, k, 0, 50, &why), p.slot[1]);
    assert_int_equal(why, PICK_STICKY);
    /* idle longer than the ttl: forgotten, re-hashed */
    assert_ptr_not_equal(balance_affinity(&p, s, k, 0, 200, &why), p.slot[1]);
    assert_int_equal(why, PICK_AFFINITY);

    /* stop: cut */
    pool_set_state(&p, p.slot[1], NODE_UP, "admin", 300);
    assert_ptr_equal(balance_affinity(&p, s, k, 0, 300, &why), p.slot[1]);
    pool_set_state(&p, p.slot[1], NODE_STOPPED, "admin", 301);
    assert_ptr_not_equal(balance_affinity(&p, s, k, 0, 301, &why), p.slot[1]);
    assert_int_equal(why, PICK_AFFINITY);
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_balance_affinity_up_sticky_node_is_rehashed_on_convergence(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web2 web3");
    struct sticky *s = sticky_new(4096, 600);
    enum pick_reason why;
    static unsigned char before[2000];
    for (unsigned i = 0; i < 2000; i++)
        before[i] = (unsigned char)balance_affinity(&p, s, client_key(i), 0, 0, &why)->id;
    struct lb_node *w4 = add_node(&p, "web4", 1);
    unsigned moved = 0;
    for (unsigned i = 0; i < 2000; i++) {
        struct lb_node *n = balance_affinity(&p, s, client_key(i), 0, 1, &why);
        assert_int_equal(why, PICK_AFFINITY);
        if (n->id != before[i]) {
            assert_ptr_equal(n, w4);
            moved++;
        }
    }
    assert_in_range(moved, 2000 / 4 * 80 / 100, 2000 / 4 * 120 / 100);
    sticky_free(s);
    pool_cleanup(&p);
}

static void test_balance_affinity_nothing_eligible_is_none(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    struct sticky *s = sticky_new(64, 0);
    enum pick_reason why = PICK_RR;
    pool_set_state(&p, p.slot[0], NODE_DOWN, "health", 0);
    assert_null(balance_affinity(&p, s, 5, 0, 0, &why));
    assert_int_equal(why, PICK_NONE);
    pool_set_state(&p, p.slot[0], NODE_UP, "health", 0);
    why = PICK_RR;
    assert_null(balance_affinity(&p, s, 5, 1, 0, &why));
    assert_int_equal(why, PICK_NONE);
    /* a client bound to the last node, now draining, is still served */
    assert_ptr_equal(balance_affinity(&p, s, 5, 0, 0, &why), p.slot[0]);
    pool_set_state(&p, p.slot[0], NODE_DRAINING, "admin", 0);
    assert_ptr_equal(balance_affinity(&p, s, 5, 0, 0, &why), p.slot[0]);
    assert_int_equal(why, PICK_STICKY);
    assert_null(balance_affinity(&p, s, 6, 0, 0, &why));
    assert_int_equal(why, PICK_NONE);
    sticky_free(s);
    pool_cleanup(&p);
}

/* ---- the lb cookie ------------------------------------------------------------------------ */

static struct lb_node *cookie(struct pool *p, const char *v, double now, double idle, double max)
{
    return balance_cookie_node(p, v, strlen(v), now, idle, max, NULL);
}

static void test_balance_cookie_value_formats_whole_seconds(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web.2");
    char out[BALANCE_COOKIE_MAX];
    assert_int_equal(balance_cookie_value(p.slot[0], 1000.7, 1234.2, out, sizeof out), 14);
    assert_string_equal(out, "web1.1000.1234");
    assert_int_equal(balance_cookie_value(p.slot[1], 5, 5, out, sizeof out), 9);
    assert_string_equal(out, "web.2.5.5");
    /* an issue time after now is now */
    assert_int_equal(balance_cookie_value(p.slot[0], 2000, 1500.9, out, sizeof out), 14);
    assert_string_equal(out, "web1.1500.1500");
    /* too small a buffer */
    char tiny[14];
    assert_int_equal(balance_cookie_value(p.slot[0], 1000, 1234, tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "");
    /* the longest value fits BALANCE_COOKIE_MAX and reads back */
    struct lb_node *lng = add_node(&p, "abcdefghijklmnopqrstuvwxyz01234", 1);
    int len = balance_cookie_value(lng, 1e20, 1e20, out, sizeof out);
    assert_int_equal(len, 31 + 1 + 15 + 1 + 15);
    pool_cleanup(&p);
}

static void test_balance_cookie_round_trips(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web.2 w");
    char out[BALANCE_COOKIE_MAX];
    for (unsigned i = 0; i < 3; i++) {
        int len = balance_cookie_value(p.slot[i], 1700000000.5, 1700000100.25, out, sizeof out);
        assert_true(len > 0);
        double issued = 0;
        assert_ptr_equal(balance_cookie_node(&p, out, (size_t)len, 1700000100.5, 60, 3600, &issued),
                         p.slot[i]);
        assert_true(issued == 1700000000.0);
    }
    pool_cleanup(&p);
}

static void test_balance_cookie_ages(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    struct lb_node *w1 = p.slot[0];
    /* idle: now - last */
    assert_ptr_equal(cookie(&p, "web1.1000.1100", 1130, 30, 0), w1);
    assert_null(cookie(&p, "web1.1000.1100", 1130.5, 30, 0));
    /* max: now - issued */
    assert_ptr_equal(cookie(&p, "web1.1000.1100", 1500, 0, 500), w1);
    assert_null(cookie(&p, "web1.1000.1100", 1500.5, 0, 500));
    /* both 0: unchecked */
    assert_ptr_equal(cookie(&p, "web1.1.1", 1e9, 0, 0), w1);
    /* from the future, beyond a clock step */
    assert_ptr_equal(cookie(&p, "web1.1000.1060", 1000, 0, 0), w1);
    assert_null(cookie(&p, "web1.1000.1061", 1000, 0, 0));
    /* issued after last */
    assert_null(cookie(&p, "web1.1100.1000", 1100, 0, 0));
    pool_cleanup(&p);
}

static void test_balance_cookie_node_must_serve_existing_users(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1");
    struct lb_node *w1 = p.slot[0];
    pool_set_state(&p, w1, NODE_DRAINING, "admin", 0);
    assert_ptr_equal(cookie(&p, "web1.1.2", 3, 0, 0), w1);
    pool_set_weight(&p, w1, 0);
    pool_set_state(&p, w1, NODE_UP, "admin", 0);
    assert_ptr_equal(cookie(&p, "web1.1.2", 3, 0, 0), w1);
    pool_set_state(&p, w1, NODE_DOWN, "health", 0);
    assert_null(cookie(&p, "web1.1.2", 3, 0, 0));
    pool_set_state(&p, w1, NODE_STOPPED, "admin", 0);
    assert_null(cookie(&p, "web1.1.2", 3, 0, 0));
    assert_null(cookie(&p, "web9.1.2", 3, 0, 0));
    pool_remove(&p, w1);
    assert_null(cookie(&p, "web1.1.2", 3, 0, 0));
    pool_cleanup(&p);
}

static void test_balance_cookie_refuses_hostile_values(void **state)
{
    (void)state;
    struct pool p;
    make_pool(&p, "web1 web.1 abcdefghijklmnopqrstuvwxyz01234");
    const char *bad[] = {
        "",
        ".",
        "..",
        "...",
        "web1",
        "web1.1",
        "web1..1",
        "web1.1.",
        ".1.2",
        "..1.2",
        "web1.-1.2",
        "web1.+1.2",
        "web1.1.+2",
        "web1. 1.2",
        "web1.1.2 ",
        " web1.1.2",
        "web1.1.2x",
        "web1.0x1.2",
        "web1.01.2",
        "web1.1.02",
        "web1.1e3.2000",
        "web1.1.2.3",
        "web1.1000000000000000.1000000000000000", /* 16 digits */
        "web/1.1.2",
        "web1\n.1.2",
        "WEB1.1.2",
        "abcdefghijklmnopqrstuvwxyz012345.1.2", /* a 32-character name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cookie(&p, bad[i], 2e15, 0, 0) != NULL)
            fail_msg("cookie value \"%s\" should be refused", bad[i]);

    /* the dotted name is found by splitting from the right */
    assert_ptr_equal(cookie(&p, "web.1.1.2", 3, 0, 0), p.slot[1]);
    assert_ptr_equal(cookie(&p, "abcdefghijklmnopqrstuvwxyz01234.1.2", 3, 0, 0), p.slot[2]);
    assert_ptr_equal(cookie(&p, "web1.0.0", 3, 0, 0), p.slot[0]);
    assert_ptr_equal(cookie(&p, "web1.999999999999999.999999999999999", 1e15, 0, 0), p.slot[0]);

    /* len, not NUL, ends the value: embedded NULs and a longer buffer are seen */
    const char nul[] = "web1\0.1.2";
    assert_null(balance_cookie_node(&p, nul, sizeof nul - 1, 3, 0, 0, NULL));
    assert_ptr_equal(balance_cookie_node(&p, "web1.1.2junk", 8, 3, 0, 0, NULL), p.slot[0]);
    assert_null(balance_cookie_node(&p, NULL, 0, 3, 0, 0, NULL));

    /* bounded length, whatever the content */
    char huge[4096];
    memset(huge, '1', sizeof huge);
    memcpy(huge, "web1.1.", 7);
    assert_null(balance_cookie_node(&p, huge, sizeof huge, 3, 0, 0, NULL));
    assert_null(balance_cookie_node(&p, huge, BALANCE_COOKIE_MAX, 3, 0, 0, NULL));

    /* a refused cookie leaves *issued alone */
    double issued = -1;
    assert_null(balance_cookie_node(&p, "web1.5.4", 8, 10, 0, 0, &issued));
    assert_true(issued == -1);
    pool_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balance_names_round_trip),
        cmocka_unit_test(test_balance_rr_equal_weights_rotate_strictly),
        cmocka_unit_test(test_balance_rr_weights_two_to_one_interleave),
        cmocka_unit_test(test_balance_rr_matches_nginx_five_one_one),
        cmocka_unit_test(test_balance_rr_shares_follow_weights),
        cmocka_unit_test(test_balance_rr_down_node_is_skipped_without_reordering),
        cmocka_unit_test(test_balance_rr_node_back_up_rejoins_the_rotation),
        cmocka_unit_test(test_balance_rr_skips_draining_stopped_and_weight_zero),
        cmocka_unit_test(test_balance_rr_excluded_nodes_are_not_picked),
        cmocka_unit_test(test_balance_rr_nothing_eligible_is_null),
        cmocka_unit_test(test_balance_rr_survives_add_and_remove),
        cmocka_unit_test(test_balance_affinity_key_by_mode),
        cmocka_unit_test(test_balance_affinity_key_ipv6_and_mapped),
        cmocka_unit_test(test_balance_hash_spreads_evenly),
        cmocka_unit_test(test_balance_hash_weight_two_gets_twice),
        cmocka_unit_test(test_balance_hash_removing_a_node_moves_only_its_keys),
        cmocka_unit_test(test_balance_hash_down_or_draining_node_moves_only_its_keys),
        cmocka_unit_test(test_balance_hash_adding_a_node_moves_a_quarter_to_it),
        cmocka_unit_test(test_balance_hash_raising_a_weight_moves_keys_only_to_it),
        cmocka_unit_test(test_balance_hash_follows_names_not_slots),
        cmocka_unit_test(test_balance_hash_exclude_falls_to_the_next_choice),
        cmocka_unit_test(test_balance_hash_nothing_eligible_is_null),
        cmocka_unit_test(test_sticky_remembers_and_expires),
        cmocka_unit_test(test_sticky_ttl_zero_never_expires),
        cmocka_unit_test(test_sticky_only_nodes_serving_existing_users),
        cmocka_unit_test(test_sticky_a_reused_slot_is_not_the_old_node),
        cmocka_unit_test(test_sticky_forget_node_drops_its_entries),
        cmocka_unit_test(test_sticky_full_window_evicts_the_oldest),
        cmocka_unit_test(test_sticky_expired_entries_go_before_live_ones),
        cmocka_unit_test(test_sticky_new_refuses_absurd_capacity),
        cmocka_unit_test(test_balance_affinity_keeps_a_client_on_its_node),
        cmocka_unit_test(test_balance_affinity_drain_keeps_bound_clients_only),
        cmocka_unit_test(test_balance_affinity_stop_and_ttl_release_bound_clients),
        cmocka_unit_test(test_balance_affinity_up_sticky_node_is_rehashed_on_convergence),
        cmocka_unit_test(test_balance_affinity_nothing_eligible_is_none),
        cmocka_unit_test(test_balance_cookie_value_formats_whole_seconds),
        cmocka_unit_test(test_balance_cookie_round_trips),
        cmocka_unit_test(test_balance_cookie_ages),
        cmocka_unit_test(test_balance_cookie_node_must_serve_existing_users),
        cmocka_unit_test(test_balance_cookie_refuses_hostile_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
