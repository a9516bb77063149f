#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* One answer, as the driver would hand it over. */
static struct load_answer answer(enum load_step step, int status, const char *node,
                                 const char *ticket, const char *session, long cart)
{
    static double clock;
    clock += 0.01;
    return (struct load_answer){.step = step,
                                .status = status,
                                .node = node,
                                .ticket = ticket,
                                .session = session,
                                .cart_items = cart,
                                .at = clock,
                                .latency_us = 1000};
}

static void observe(struct load_stats *st, struct load_user *u, struct load_answer a)
{
    assert_int_equal(u->next, a.step); /* the driver sends what the user asked for */
    assert_int_equal(load_observe(st, u, &a), 0);
}

static int node_of(struct load_stats *st, const char *name)
{
    int i = load_node_index(st, name);
    assert_true(i >= 0);
    return i;
}

static void test_load_percentile_nearest_rank(void **state)
{
    (void)state;
    uint32_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (uint32_t)(i + 1);
    assert_int_equal(load_percentile(v, 0, 50), 0);
    assert_int_equal(load_percentile(v, 100, 50), 50);
    assert_int_equal(load_percentile(v, 100, 90), 90);
    assert_int_equal(load_percentile(v, 100, 99), 99);
    assert_int_equal(load_percentile(v, 100, 99.5), 100);
    assert_int_equal(load_percentile(v, 100, 100), 100);
    assert_int_equal(load_percentile(v, 1, 99), 1);
    /* 10 values: p50 is the 5th, p90 the 9th, p99 rounds up to the 10th. */
    assert_int_equal(load_percentile(v, 10, 50), 5);
    assert_int_equal(load_percentile(v, 10, 90), 9);
    assert_int_equal(load_percentile(v, 10, 99), 10);
    assert_int_equal(load_percentile(v, 10, 1), 1);
}

static void test_load_finish_sorts_latencies(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 1);
    uint32_t lat[] = {900, 100, 500, 300, 700};
    for (size_t i = 0; i < 5; i++) {
        struct load_answer a = answer(LOAD_STEP_LOGIN, 0, NULL, NULL, NULL, -1);
        a.error = "Couldn't connect to server";
        a.latency_us = lat[i];
        assert_int_equal(load_observe(st, &u, &a), 0);
    }
    load_finish(st);
    assert_int_equal(st->n_latency, 5);
    assert_int_equal(load_percentile(st->latency_us, st->n_latency, 50), 500);
    assert_int_equal(load_percentile(st->latency_us, st->n_latency, 100), 900);
    load_stats_cleanup(st);
    free(st);
}

static void test_load_step_paths(void **state)
{
    (void)state;
    struct load_user u;
    load_user_init(&u, 7);
    char path[64];
    assert_int_equal(load_step_path(&u, "user7", path, sizeof path), 0);
    assert_string_equal(path, "/login?user=user7");
    u.next = LOAD_STEP_ADD;
    u.items = 4;
    assert_int_equal(load_step_path(&u, "user7", path, sizeof path), 0);
    assert_string_equal(path, "/cart/add?item=item5");
    assert_true(load_step_is_post(LOAD_STEP_ADD));
    assert_false(load_step_is_post(LOAD_STEP_CART));
    assert_int_equal(load_step_path(&u, "user7", path, 8), -1); /* does not fit */
}

/* A healthy farm with a shared session: hops, nothing lost, the loop login, whoami, add,
 * cart, whoami. */
static void test_load_healthy_hops_lose_nothing(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 1);
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    assert_int_equal(u.issuer, node_of(st, "web1"));
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web2", "valid", "found", -1));
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web3", "valid", "found", 1));
    observe(st, &u, answer(LOAD_STEP_CART, 200, "web3", "valid", "found", 1));
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web1", "valid", "found", -1));
    assert_int_equal(u.next, LOAD_STEP_ADD);
    assert_int_equal(u.items, 1);
    assert_int_equal(u.cart, 1);
    assert_int_equal(st->requests, 5);
    assert_int_equal(st->logins, 1);
    assert_int_equal(st->hops, 3); /* web1>web2>web3, web3 again, >web1 */
    assert_int_equal(st->lost_hops, 0);
    assert_int_equal(st->logouts + st->lost_carts, 0);
    assert_int_equal(st->node[node_of(st, "web3")].to.hops, 1);
    assert_int_equal(st->node[node_of(st, "web3")].from_node[node_of(st, "web2")].hops, 1);
    assert_int_equal(st->node[node_of(st, "web1")].to.logins, 0);
    char v[512];
    load_verdict(st, 1, v, sizeof v);
    assert_string_equal(v, "no session lost: 1 users kept their login and their cart over 3 hops");
    load_stats_cleanup(st);
    free(st);
}

static void test_load_logout_event_and_login_again(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 3);
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web3", "mac-mismatch", "found", -1));
    assert_int_equal(u.next, LOAD_STEP_LOGIN);
    assert_int_equal(u.issuer, -1);
    assert_int_equal(st->logouts, 1);
    assert_int_equal(st->users_logged_out, 1);
    assert_int_equal(st->lost_ticket_hops, 1);
    assert_int_equal(st->lost_hops, 1);
    assert_int_equal(st->n_groups, 1);
    assert_int_equal(st->groups[0].kind, LOAD_KIND_LOGOUT);
    assert_int_equal(st->groups[0].from, node_of(st, "web1"));
    assert_int_equal(st->groups[0].to, node_of(st, "web3"));
    assert_int_equal(st->groups[0].why, LOAD_TICKET_MAC_MISMATCH);
    assert_int_equal(st->n_samples, 1);
    assert_int_equal(st->samples[0].user, 3);

    /* Logs in again, on web3 (no hop: the last answer came from web3 too); then web3's
     * ticket fails on web2: a second event, the same user. */
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web3", "valid", "found", -1));
    assert_int_equal(u.issuer, node_of(st, "web3"));
    assert_int_equal(st->node[node_of(st, "web3")].to.logins, 0); /* no hop */
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web2", "mac-mismatch", "found", -1));
    assert_int_equal(st->logouts, 2);
    assert_int_equal(st->users_logged_out, 1);
    assert_int_equal(st->logins, 2);
    int w1 = node_of(st, "web1"), w2 = node_of(st, "web2"), w3 = node_of(st, "web3");
    assert_int_equal(load_fail_ticket(st, w1, w3), 1);
    assert_int_equal(load_fail_ticket(st, w3, w2), 1);
    assert_int_equal(load_fail_ticket(st, w1, w2), 0);
    int who[2];
    assert_int_equal(load_blame(load_fail_ticket, st, who), 1);
    assert_int_equal(who[0], w3);

    /* A login on web1 is a hop, but no ticket travelled: not a lost hop. */
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "found", -1));
    assert_int_equal(st->node[node_of(st, "web1")].to.logins, 1);
    assert_int_equal(st->node[node_of(st, "web1")].to.lost, 0);
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web2", "valid", "found", -1));
    /* An expired ticket, and the user stayed on web2: a logout without a hop. */
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web2", "expired", "found", 1));
    assert_int_equal(u.next, LOAD_STEP_LOGIN);
    assert_int_equal(st->logouts, 3);
    assert_int_equal(st->logouts_in_place, 1);
    assert_int_equal(st->lost_ticket_hops, 2);
    /* The verdict counts the hops that lost the ticket, then the logout without a hop. No
     * node is an end of all three failing pairs (web1-web3, web3-web2, web1-web2). */
    char v[512];
    load_verdict(st, 1, v, sizeof v);
    assert_string_equal(v, "sessions break all over the farm: 2 of 4 hops (50.0%) lost the ticket "
                           "(expired, mac-mismatch), and 1 more logout came while the user stayed "
                           "on the same node; 1 of 1 users logged out");
    load_stats_cleanup(st);
    free(st);
}

/* Every logout while the user stayed on one node: tickets expiring on web1 are no key
 * fault, and the verdict says so; with another verdict among them, it says no hop lost the
 * ticket, instead of "0 of 3 hops lost the ticket, 4 more without a hop". */
static void test_load_verdict_logouts_without_a_hop(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user a, b;
    load_user_init(&a, 1);
    load_user_init(&b, 2);
    observe(st, &a, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    observe(st, &a, answer(LOAD_STEP_WHOAMI, 200, "web2", "valid", "found", -1));
    observe(st, &a, answer(LOAD_STEP_ADD, 200, "web1", "valid", "found", 1));
    observe(st, &a, answer(LOAD_STEP_CART, 302, "web1", "expired", NULL, -1));
    observe(st, &b, answer(LOAD_STEP_LOGIN, 200, "web2", "valid", "new", -1));
    observe(st, &b, answer(LOAD_STEP_WHOAMI, 200, "web1", "valid", "found", -1));
    observe(st, &b, answer(LOAD_STEP_ADD, 302, "web1", "expired", NULL, -1));
    assert_int_equal(st->hops, 3);
    assert_int_equal(st->lost_ticket_hops, 0);
    assert_int_equal(st->logouts, 2);
    assert_int_equal(st->logouts_in_place, 2);
    char v[512];
    load_verdict(st, 2, v, sizeof v);
    assert_string_equal(v, "no key fault: both logouts were expired tickets, at web1 (is its "
                           "clock ahead, or its forms timeout shorter?); 2 of 2 users logged out");

    /* One more, on web2: three now, and no one node is in every failing pair. */
    struct load_user c;
    load_user_init(&c, 3);
    observe(st, &c, answer(LOAD_STEP_LOGIN, 200, "web2", "valid", "new", -1));
    observe(st, &c, answer(LOAD_STEP_WHOAMI, 302, "web2", "expired", NULL, -1));
    load_verdict(st, 3, v, sizeof v);
    assert_string_equal(v, "no key fault: all 3 logouts were expired tickets, all over the farm "
                           "(the forms timeout ran out during the run); 3 of 3 users logged out");

    /* One more, not expired: the hop-by-hop wording again. */
    struct load_user d;
    load_user_init(&d, 4);
    observe(st, &d, answer(LOAD_STEP_LOGIN, 200, "web2", "valid", "new", -1));
    observe(st, &d, answer(LOAD_STEP_WHOAMI, 302, "web2", "mac-mismatch", NULL, -1));
    load_verdict(st, 4, v, sizeof v);
    assert_string_equal(v, "sessions break all over the farm, but none of the 3 hops lost the "
                           "ticket: all 4 logouts (expired, mac-mismatch) came while the user "
                           "stayed on the same node; 4 of 4 users logged out");
    load_stats_cleanup(st);
    free(st);
}

/* A single node (or affinity): no hop at all, one logout. */
static void test_load_verdict_one_logout_no_hops(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 1);
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web1", "mac-mismatch", "found", -1));
    char v[512];
    load_verdict(st, 1, v, sizeof v);
    assert_string_equal(v, "sessions break at web1, with no hop at all: the one logout "
                           "(mac-mismatch) came while the user stayed on the same node; 1 of 1 "
                           "users logged out");
    load_stats_cleanup(st);
    free(st);
}

static void test_load_lost_cart_reasons(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 1);
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web1", "valid", "found", -1));
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web1", "valid", "found", 1));
    /* InProc on another node: the session is lost there. */
    observe(st, &u, answer(LOAD_STEP_CART, 200, "web2", "valid", "lost", 0));
    assert_int_equal(st->lost_carts, 1);
    assert_int_equal(st->users_lost_cart, 1);
    assert_int_equal(st->lost_cart_hops, 1);
    assert_int_equal(st->node[node_of(st, "web2")].cart_why[LOAD_CART_SESSION_LOST], 1);
    assert_int_equal(u.cart, 0);
    assert_int_equal(u.next, LOAD_STEP_WHOAMI); /* a lost cart does not log the user out */

    /* Items missing while the session is found (a store that dropped the item). */
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web2", "valid", "found", -1));
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web2", "valid", "found", 1));
    observe(st, &u, answer(LOAD_STEP_CART, 200, "web2", "valid", "found", 0));
    assert_int_equal(st->lost_carts, 2);
    assert_int_equal(st->carts_in_place, 1);
    assert_int_equal(st->node[node_of(st, "web2")].cart_why[LOAD_CART_ITEMS_MISSING], 1);

    /* A cart seen on web2, a whoami hop to web1 (which does not show the cart), then the
     * cart short on web1: charged to the hop web2 -> web1. */
    uint64_t lost_hops = st->lost_cart_hops;
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web1", "valid", "found", -1));
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web1", "valid", "found", 0));
    assert_int_equal(st->lost_carts, 3);
    assert_int_equal(st->carts_in_place, 1);
    assert_int_equal(st->lost_cart_hops, lost_hops + 1);
    int w1 = node_of(st, "web1"), w2 = node_of(st, "web2");
    assert_int_equal(st->node[w1].from_node[w2].lost_cart, 1);
    assert_int_equal(load_fail_cart(st, w2, w1), 1);
    assert_int_equal(st->groups[st->n_groups - 1].from, w2);
    assert_int_equal(st->groups[st->n_groups - 1].to, w1);
    observe(st, &u, answer(LOAD_STEP_CART, 200, "web1", "valid", "found", 0));

    /* A new session for a user that had one. */
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web3", "valid", "new", -1));
    assert_int_equal(st->lost_carts, 4);
    assert_int_equal(st->node[node_of(st, "web3")].cart_why[LOAD_CART_SESSION_NEW], 1);

    /* A cart that grew (another node's copy) is not a loss, and an error answer's body is
     * not counted. */
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web3", "valid", "found", 3));
    observe(st, &u, answer(LOAD_STEP_CART, 500, "web3", "valid", "error", -1));
    assert_int_equal(st->lost_carts, 4);
    assert_int_equal(u.cart, 3);
    assert_int_equal(st->ok, st->requests - 1);
    assert_int_equal(st->by_status[500], 1);

    char v[512];
    load_verdict(st, 1, v, sizeof v);
    assert_non_null(strstr(v, "carts lost all over the farm: 3 of 3 hops (100.0%) lost the cart "
                              "(session lost, session new, items missing), and 1 more lost cart "
                              "came without a hop; 1 of 1 users lost their cart"));
    assert_non_null(strstr(v, "1 of 13 requests failed"));
    load_stats_cleanup(st);
    free(st);
}

static void test_load_errors_retry_the_same_step(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 1);
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    struct load_answer a = answer(LOAD_STEP_WHOAMI, 0, NULL, NULL, NULL, -1);
    a.error = "Timeout was reached";
    observe(st, &u, a);
    assert_int_equal(u.next, LOAD_STEP_WHOAMI);
    assert_int_equal(st->transport_errors, 1);
    assert_int_equal(st->n_transport, 1);
    assert_string_equal(st->transport[0].text, "Timeout was reached");
    observe(st, &u, a);
    assert_int_equal(st->transport[0].count, 2);
    /* The lb's own 502: no node, nothing learnt, the same step again. */
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 502, NULL, NULL, NULL, -1));
    assert_int_equal(u.next, LOAD_STEP_WHOAMI);
    assert_int_equal(u.node, node_of(st, "web1"));
    assert_int_equal(st->no_node, 1);
    assert_int_equal(st->hops, 0);
    /* A login that fails is tried again. */
    struct load_user v;
    load_user_init(&v, 2);
    observe(st, &v, answer(LOAD_STEP_LOGIN, 500, "web2", "absent", "new", -1));
    assert_int_equal(v.next, LOAD_STEP_LOGIN);
    assert_int_equal(st->logins, 1);
    assert_int_equal(st->logouts, 0);
    load_stats_cleanup(st);
    free(st);
}

static void test_load_full_cart_starts_over(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    struct load_user u;
    load_user_init(&u, 1);
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    observe(st, &u, answer(LOAD_STEP_WHOAMI, 200, "web1", "valid", "found", -1));
    u.cart = LOAD_CART_MAX - 1;
    observe(st, &u, answer(LOAD_STEP_ADD, 200, "web1", "valid", "found", LOAD_CART_MAX));
    assert_true(u.start_over);
    assert_int_equal(u.next, LOAD_STEP_LOGIN);
    load_user_start_over(&u);
    assert_false(u.start_over);
    assert_int_equal(u.cart, 0);
    assert_int_equal(u.node, -1);
    /* A fresh visitor: a new session is not a lost cart. */
    observe(st, &u, answer(LOAD_STEP_LOGIN, 200, "web2", "valid", "new", -1));
    assert_int_equal(st->lost_carts, 0);
    assert_int_equal(st->hops, 0);
    load_stats_cleanup(st);
    free(st);
}

static uint64_t fail_table[LOAD_MAX_NODES][LOAD_MAX_NODES];

static uint64_t fail_from_table(const struct load_stats *st, int i, int j)
{
    (void)st;
    return fail_table[i][j];
}

static void test_load_blame_names_the_common_node(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    node_of(st, "web1");
    node_of(st, "web2");
    node_of(st, "web3");
    int who[2] = {-1, -1};
    memset(fail_table, 0, sizeof fail_table);
    assert_int_equal(load_blame(fail_from_table, st, who), 0); /* nothing failed */

    /* One node on AutoGenerate: every pair with web3 fails, both ways. */
    fail_table[0][2] = fail_table[1][2] = fail_table[2][0] = fail_table[2][1] = 5;
    assert_int_equal(load_blame(fail_from_table, st, who), 1);
    assert_int_equal(who[0], 2);

    /* One pair: both ends. */
    memset(fail_table, 0, sizeof fail_table);
    fail_table[0][1] = 1;
    assert_int_equal(load_blame(fail_from_table, st, who), 2);
    assert_int_equal(who[0], 0);
    assert_int_equal(who[1], 1);

    /* Every node differs: no one node to blame. */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            fail_table[i][j] = i != j;
    assert_int_equal(load_blame(fail_from_table, st, who), 0);

    /* Failures at one node without a hop (a restarted AutoGenerate node): that node. */
    memset(fail_table, 0, sizeof fail_table);
    fail_table[1][1] = 3;
    assert_int_equal(load_blame(fail_from_table, st, who), 1);
    assert_int_equal(who[0], 1);
    load_stats_cleanup(st);
    free(st);
}

static void test_load_node_table_is_bounded(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    char name[16];
    for (int i = 0; i < LOAD_MAX_NODES; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(load_node_index(st, name), i);
    }
    assert_int_equal(load_node_index(st, "n0"), 0);
    assert_int_equal(load_node_index(st, "one-too-many"), -1);
    assert_int_equal(load_node_index(st, ""), -1);
    load_stats_cleanup(st);
    free(st);
}

/* Three users on a farm where web3 runs on AutoGenerate; the report names web3. */
static void run_autogenerate_farm(struct load_stats *st)
{
    struct load_user a, b, c;
    load_user_init(&a, 1);
    load_user_init(&b, 2);
    load_user_init(&c, 3);
    observe(st, &c, answer(LOAD_STEP_LOGIN, 200, "web3", "valid", "new", -1));
    observe(st, &c, answer(LOAD_STEP_WHOAMI, 200, "web1", "mac-mismatch", "found", -1));
    observe(st, &a, answer(LOAD_STEP_LOGIN, 200, "web1", "valid", "new", -1));
    observe(st, &a, answer(LOAD_STEP_WHOAMI, 200, "web2", "valid", "found", -1));
    observe(st, &a, answer(LOAD_STEP_ADD, 200, "web3", "mac-mismatch", "found", 1));
    observe(st, &b, answer(LOAD_STEP_LOGIN, 200, "web2", "valid", "new", -1));
    observe(st, &b, answer(LOAD_STEP_WHOAMI, 200, "web3", "mac-mismatch", "found", -1));
    load_finish(st);
}

static void test_load_report_names_the_broken_node(void **state)
{
    (void)state;
    struct load_stats *st = calloc(1, sizeof *st);
    load_stats_init(st);
    run_autogenerate_farm(st);
    struct load_config cfg = {.users = 3, .concurrency = 3, .source_ips = 1, .url = "http://x/"};

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    load_report_text(st, &cfg, 1.0, f);
    fclose(f);
    assert_non_null(strstr(text, "requests    7 in 1.00 s, 7 rps (3 logins)"));
    assert_non_null(strstr(text, "logged out  3 of 3 users at least once (3 events)"));
    assert_non_null(strstr(text, "web3: 2 of 2 hops to web3 lost the ticket (mac-mismatch): it "
                                 "rejected 2 of 2 tickets issued by web1, web2"));
    assert_non_null(strstr(text, "web1: 1 of 1 hops to web1 lost the ticket (mac-mismatch): it "
                                 "rejected 1 of 1 tickets issued by web3"));
    assert_non_null(strstr(text, "verdict: sessions break at web3: 3 of 4 hops (75.0%) lost"));
    /* The logout table in node order, though web3 -> web1 happened first; a's hop is
     * web2 -> web3 (from is the previous answer's node, not the issuer). */
    char *g23 = strstr(text, "  web2 -> web3             mac-mismatch          2  "),
         *g31 = strstr(text, "  web3 -> web1             mac-mismatch          1  ");
    assert_non_null(g23);
    assert_non_null(g31);
    assert_true(g23 < g31);
    assert_non_null(strstr(text, "web3 rejected 2 of 2 tickets the other nodes issued, and the "
                                 "other nodes rejected 1 of 1 web3 issued"));
    free(text);

    json_t *o = load_report_json(st, &cfg, 1.0);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "requests")), 7);
    json_t *lo = json_object_get(o, "logged_out");
    assert_int_equal(json_integer_value(json_object_get(lo, "users")), 3);
    json_t *blame = json_object_get(lo, "blame");
    assert_int_equal(json_array_size(blame), 1);
    assert_string_equal(json_string_value(json_array_get(blame, 0)), "web3");
    json_t *hops = json_object_get(o, "hops");
    assert_int_equal(json_integer_value(json_object_get(hops, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(hops, "lost_ticket")), 3);
    assert_non_null(strstr(json_string_value(json_object_get(o, "verdict")), "at web3"));
    assert_int_equal(json_array_size(json_object_get(o, "first_events")), 3);
    json_decref(o);
    load_stats_cleanup(st);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_percentile_nearest_rank),
        cmocka_unit_test(test_load_finish_sorts_latencies),
        cmocka_unit_test(test_load_step_paths),
        cmocka_unit_test(test_load_healthy_hops_lose_nothing),
        cmocka_unit_test(test_load_logout_event_and_login_again),
        cmocka_unit_test(test_load_verdict_logouts_without_a_hop),
        cmocka_unit_test(test_load_verdict_one_logout_no_hops),
        cmocka_unit_test(test_load_lost_cart_reasons),
        cmocka_unit_test(test_load_errors_retry_the_same_step),
        cmocka_unit_test(test_load_full_cart_starts_over),
        cmocka_unit_test(test_load_blame_names_the_common_node),
        cmocka_unit_test(test_load_node_table_is_bounded),
        cmocka_unit_test(test_load_report_names_the_broken_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
