#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "trace.h"

#define AUTH 0 /* cookie index of .ASPXAUTH */
#define SID  1 /* cookie index of ASP.NET_SessionId */

#define K1 "v=11111111 d=11111111 m=fx45"
#define K2 "v=11111111 d=11111111 m=fx45" /* web2 shares web1's keys */
#define K3 "v=33333333 d=33333333 m=fx45"

/* Cookie values as a browser would carry them; none may ever appear in the trace's output. */
#define TICKET_A "8F3A0C11D2E4B6A7C9E1F3A5B7C9D1E3F5A7B9C1D3E5F7A9B1C3D5E7F9A1B3C5"
#define TICKET_B "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define TICKET_C "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"
#define SID_A    "kq3vzr1xw0nbm4tyh2cdpl5e"
#define SID_B    "a1b2c3d4e5f6g7h8i9j0k1l2"

static const char *const cookies[] = {".ASPXAUTH", "ASP.NET_SessionId"};

static struct trace *new_trace(size_t max_sessions, size_t max_events)
{
    struct trace *t = trace_new(cookies, 2, max_sessions, max_events);
    assert_non_null(t);
    return t;
}

static struct trace_obs answer(double now, const char *node, const char *key)
{
    struct trace_obs o;
    memset(&o, 0, sizeof o);
    o.now = now;
    o.node = node;
    o.node_key = key;
    o.status = 200;
    return o;
}

static void carry(struct trace_obs *o, int i, const char *value)
{
    o->req_value[i] = value;
    o->req_len[i] = strlen(value);
}

static void set_cookie(struct trace_obs *o, int i, const char *value)
{
    o->set_value[i] = value;
    o->set_len[i] = strlen(value);
    o->set_present[i] = true;
}

/* sim-node's web1 logs a user in: the answer sets the ticket. */
static void login(struct trace *t, double now, const char *node, const char *key,
                  const char *ticket)
{
    struct trace_obs o = answer(now, node, key);
    o.farm_ticket = "absent";
    o.farm_session = "off";
    set_cookie(&o, AUTH, ticket);
    trace_observe(t, &o);
}

/* A request carrying the ticket, answered by node with sim-node's verdict (NULL: no
 * X-Farm-* headers at all). */
static void visit(struct trace *t, double now, const char *node, const char *key,
                  const char *ticket, const char *verdict)
{
    struct trace_obs o = answer(now, node, verdict ? key : NULL);
    carry(&o, AUTH, ticket);
    o.farm_ticket = verdict;
    o.farm_session = verdict ? "off" : NULL;
    o.farm_user = verdict && strcmp(verdict, "valid") == 0 ? "alice" : NULL;
    trace_observe(t, &o);
}

/* ---- capturing events ------------------------------------------------------------------- */

#define CAPTURE_MAX 256

struct capture {
    size_t n;
    uint64_t seq[CAPTURE_MAX];
    struct trace_event ev[CAPTURE_MAX];
};

static void capture_cb(void *arg, uint64_t seq, const struct trace_event *e)
{
    struct capture *c = arg;
    assert_true(c->n < CAPTURE_MAX);
    c->seq[c->n] = seq;
    c->ev[c->n] = *e;
    c->n++;
}

static struct capture *events(const struct trace *t, uint64_t since)
{
    static struct capture c;
    memset(&c, 0, sizeof c);
    trace_events_since(t, since, capture_cb, &c);
    return &c;
}

static size_t count_kind(const struct capture *c, enum trace_event_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->ev[i].kind == k;
    return n;
}

/* The only event of kind k; fails unless there is exactly one. */
static const struct trace_event *only(const struct capture *c, enum trace_event_kind k)
{
    const struct trace_event *found = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (c->ev[i].kind == k) {
            assert_null(found);
            found = &c->ev[i];
        }
    }
    assert_non_null(found);
    return found;
}

static uint64_t newest_seq(const struct trace *t)
{
    struct capture *c = events(t, 0);
    return c->n ? c->seq[c->n - 1] : 0;
}

/* ---- JSON helpers ----------------------------------------------------------------------- */

static json_t *parse(const struct buf *b)
{
    json_error_t err;
    json_t *j = json_loadb(b->data, b->len, 0, &err);
    if (j == NULL)
        fail_msg("invalid JSON (%s at %d): %s", err.text, err.position, b->data);
    return j;
}

static json_t *matrix_json(const struct trace *t)
{
    struct buf b;
    buf_init(&b);
    trace_json_matrix(t, &b);
    json_t *j = parse(&b);
    buf_cleanup(&b);
    return j;
}

/* The matrix cell for cookie, issuer → checker, or NULL. Borrowed from m. */
static json_t *cell(json_t *m, const char *cookie, const char *issuer, const char *checker)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(m, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "cookie")), cookie) == 0 &&
            strcmp(json_string_value(json_object_get(c, "issuer")), issuer) == 0 &&
            strcmp(json_string_value(json_object_get(c, "checker")), checker) == 0)
            return c;
    }
    return NULL;
}

static json_int_t int_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *str_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("member %s is not a string", key);
    return json_string_value(v);
}

static json_t *session_json(const struct trace *t, const char *value)
{
    char id[17];
    trace_display_id(t, value, strlen(value), id);
    struct buf b;
    buf_init(&b);
    assert_int_equal(trace_json_session(t, id, &b), 0);
    json_t *j = parse(&b);
    buf_cleanup(&b);
    return j;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_trace_event_names(void **state)
{
    (void)state;
    assert_string_equal(trace_event_name(TRACE_ISSUED), "issued");
    assert_string_equal(trace_event_name(TRACE_CHECKED), "checked");
    assert_string_equal(trace_event_name(TRACE_HOP), "session-hop");
    assert_string_equal(trace_event_name(TRACE_REJECTED), "rejected");
    assert_string_equal(trace_event_name(TRACE_SESSION_LOST), "session-lost");
    assert_string_equal(trace_event_name(TRACE_KEY_MISMATCH), "key-mismatch");
    assert_string_equal(trace_event_name(TRACE_CLEARED), "cleared");
    assert_string_equal(trace_event_name(TRACE_NODE_STATE), "node-state");
    assert_string_equal(trace_event_name(TRACE_NODE_WEIGHT), "node-weight");
    assert_string_equal(trace_event_name(TRACE_EVENT_KIND_COUNT), "?");
}

static void test_trace_new_rejects_bad_limits(void **state)
{
    (void)state;
    const char *five[] = {"a", "b", "c", "d", "e"};
    assert_null(trace_new(five, 5, 10, 10));
    assert_null(trace_new(cookies, 2, 0, 10));
    assert_null(trace_new(cookies, 2, 10, 0));
    assert_null(trace_new(cookies, 2, ((size_t)1 << 24) + 1, 10));
    assert_null(trace_new(cookies, 2, 10, ((size_t)1 << 20) + 1));
    trace_free(NULL); /* a no-op */
    struct trace *t = trace_new(cookies, 0, 1, 1);
    assert_non_null(t);
    trace_free(t);
}

static void test_trace_issued_then_hop_is_recorded(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", K1, TICKET_A);
    visit(t, 101, "web1", K1, TICKET_A, "valid");
    visit(t, 102, "web2", K2, TICKET_A, "valid");

    struct capture *c = events(t, 0);
    assert_int_equal(c->n, 4); /* issued, checked web1, hop, checked web2 */
    assert_int_equal(c->ev[0].kind, TRACE_ISSUED);
    assert_string_equal(c->ev[0].node, "web1");
    assert_string_equal(c->ev[0].key_node, K1);
    assert_int_equal(c->ev[1].kind, TRACE_CHECKED);
    assert_string_equal(c->ev[1].node, "web1");
    const struct trace_event *hop = only(c, TRACE_HOP);
    assert_string_equal(hop->from, "web1");
    assert_string_equal(hop->node, "web2");
    assert_string_equal(hop->cookie, ".ASPXAUTH");
    assert_int_equal(c->ev[3].kind, TRACE_CHECKED);
    assert_string_equal(c->ev[3].node, "web2");
    assert_string_equal(c->ev[3].from, "web1");
    assert_string_equal(c->ev[3].verdict, "valid");
    assert_string_equal(c->ev[3].user, "alice");
    for (size_t i = 0; i < c->n; i++)
        assert_string_equal(c->ev[i].session, c->ev[0].session);

    /* The same verdict on the same node again says nothing new. */
    visit(t, 103, "web2", K2, TICKET_A, "valid");
    assert_int_equal(events(t, 0)->n, 4);

    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 1);
    assert_int_equal(n.issued, 1);
    assert_int_equal(n.hops, 1);
    assert_int_equal(n.rejected, 0);

    json_t *m = matrix_json(t);
    json_t *web12 = cell(m, ".ASPXAUTH", "web1", "web2");
    assert_non_null(web12);
    assert_int_equal(int_of(web12, "accepted"), 2);
    assert_int_equal(int_of(web12, "rejected"), 0);
    assert_string_equal(str_of(web12, "last_verdict"), "valid");
    json_decref(m);

    json_t *s = session_json(t, TICKET_A);
    assert_string_equal(str_of(s, "issuer"), "web1");
    assert_string_equal(str_of(s, "last_node"), "web2");
    assert_string_equal(str_of(s, "user"), "alice");
    assert_int_equal(int_of(s, "hops"), 1);
    assert_int_equal(json_array_size(json_object_get(s, "timeline")), 4);
    json_decref(s);
    trace_free(t);
}

static void test_trace_mac_mismatch_on_web3_is_rejected_with_key_mismatch(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", K1, TICKET_A);
    visit(t, 101, "web2", K2, TICKET_A, "valid");
    uint64_t before = newest_seq(t);
    visit(t, 102, "web3", K3, TICKET_A, "mac-mismatch");

    struct capture *c = events(t, before);
    assert_int_equal(c->n, 3); /* hop web2 → web3, rejected, key-mismatch */
    assert_int_equal(c->ev[0].kind, TRACE_HOP);
    assert_string_equal(c->ev[0].from, "web2");
    assert_string_equal(c->ev[0].node, "web3");
    const struct trace_event *r = only(c, TRACE_REJECTED);
    assert_string_equal(r->node, "web3");
    assert_string_equal(r->from, "web1");
    assert_string_equal(r->verdict, "mac-mismatch");
    assert_string_equal(r->cause, "key-mismatch");
    assert_string_equal(r->key_node, K3);
    assert_string_equal(r->key_from, K1);
    const struct trace_event *k = only(c, TRACE_KEY_MISMATCH);
    assert_string_equal(k->node, "web3");
    assert_string_equal(k->from, "web1");
    assert_string_equal(k->key_node, K3);
    assert_string_equal(k->key_from, K1);

    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.rejected, 1);
    assert_int_equal(n.key_mismatch, 1);
    assert_int_equal(n.hops, 2);

    json_t *m = matrix_json(t);
    json_t *nodes = json_object_get(m, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    assert_string_equal(json_string_value(json_array_get(nodes, 2)), "web3");
    json_t *web13 = cell(m, ".ASPXAUTH", "web1", "web3");
    assert_non_null(web13);
    assert_int_equal(int_of(web13, "accepted"), 0);
    assert_int_equal(int_of(web13, "rejected"), 1);
    assert_string_equal(str_of(web13, "last_verdict"), "mac-mismatch");
    assert_string_equal(str_of(web13, "key_issuer"), K1);
    assert_string_equal(str_of(web13, "key_checker"), K3);
    json_t *web12 = cell(m, ".ASPXAUTH", "web1", "web2");
    assert_non_null(web12);
    assert_int_equal(int_of(web12, "accepted"), 1);
    assert_null(cell(m, ".ASPXAUTH", "web2", "web3")); /* web2 only checked, never issued */
    json_decref(m);

    /* The timeline tells the story: web1 issued → web2 valid → web3 rejected. */
    json_t *s = session_json(t, TICKET_A);
    json_t *tl = json_object_get(s, "timeline");
    const char *want[] = {"issued",      "session-hop", "checked",
                          "session-hop", "rejected",    "key-mismatch"};
    assert_int_equal(json_array_size(tl), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(str_of(json_array_get(tl, i), "kind"), want[i]);
    json_t *rej = json_array_get(tl, 4);
    assert_string_equal(str_of(rej, "verdict"), "mac-mismatch");
    assert_string_equal(str_of(rej, "from"), "web1");
    assert_string_equal(str_of(rej, "key_from"), K1);
    assert_string_equal(str_of(rej, "key_node"), K3);
    assert_int_equal(int_of(s, "rejections"), 1);
    assert_string_equal(str_of(s, "last_verdict"), "mac-mismatch");
    assert_string_equal(str_of(s, "key_issuer"), K1);
    json_decref(s);
    trace_free(t);
}

static void test_trace_mac_mismatch_with_same_keys_is_no_key_mismatch(void **state)
{
    (void)state;
    /* Same fingerprints yet the MAC fails (another app path with IsolateApps, say): a
     * rejection between the pair, but not one the fingerprints explain. */
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", K1, TICKET_A);
    visit(t, 101, "web2", K2, TICKET_A, "bad-ticket");
    struct capture *c = events(t, 0);
    assert_int_equal(count_kind(c, TRACE_KEY_MISMATCH), 0);
    const struct trace_event *r = only(c, TRACE_REJECTED);
    assert_string_equal(r->verdict, "bad-ticket");
    assert_string_equal(r->cause, "");
    json_t *m = matrix_json(t);
    assert_int_equal(int_of(cell(m, ".ASPXAUTH", "web1", "web2"), "rejected"), 1);
    json_decref(m);
    trace_free(t);
}

static void test_trace_expired_ticket_is_rejected_outside_the_matrix(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", K1, TICKET_A);
    visit(t, 101, "web1", K1, TICKET_A, "expired");
    visit(t, 102, "web1", K1, TICKET_A, "absent"); /* the node did not look: nothing */
    struct capture *c = events(t, 0);
    assert_int_equal(c->n, 2);
    assert_string_equal(only(c, TRACE_REJECTED)->verdict, "expired");
    json_t *m = matrix_json(t);
    assert_int_equal(json_array_size(json_object_get(m, "cells")), 0);
    json_decref(m);
    trace_free(t);
}

static void test_trace_session_store_miss(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    struct trace_obs o = answer(100, "web1", K1);
    o.farm_ticket = "absent";
    o.farm_session = "new";
    set_cookie(&o, SID, SID_A);
    trace_observe(t, &o);

    o = answer(101, "web1", K1);
    carry(&o, SID, SID_A);
    o.farm_ticket = "absent";
    o.farm_session = "found";
    trace_observe(t, &o);

    uint64_t before = newest_seq(t);
    o = answer(102, "web2", K2);
    carry(&o, SID, SID_A);
    o.farm_ticket = "absent";
    o.farm_session = "lost";
    trace_observe(t, &o);

    struct capture *c = events(t, before);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->ev[0].kind, TRACE_HOP);
    const struct trace_event *l = only(c, TRACE_SESSION_LOST);
    assert_string_equal(l->cookie, "ASP.NET_SessionId");
    assert_string_equal(l->node, "web2");
    assert_string_equal(l->from, "web1");
    assert_string_equal(l->verdict, "lost");
    assert_string_equal(l->cause, "session-store-miss");

    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.lost, 1);

    json_t *m = matrix_json(t);
    json_t *web12 = cell(m, "ASP.NET_SessionId", "web1", "web2");
    assert_non_null(web12);
    assert_int_equal(int_of(web12, "rejected"), 1);
    assert_string_equal(str_of(web12, "last_verdict"), "lost");
    assert_int_equal(int_of(cell(m, "ASP.NET_SessionId", "web1", "web1"), "accepted"), 1);
    json_decref(m);

    /* The state server failing is a loss of another cause, and no pair's fault. */
    before = newest_seq(t);
    o = answer(103, "web2", K2);
    carry(&o, SID, SID_A);
    o.farm_ticket = "absent";
    o.farm_session = "error";
    trace_observe(t, &o);
    l = only(events(t, before), TRACE_SESSION_LOST);
    assert_string_equal(l->verdict, "error");
    assert_string_equal(l->cause, "state-server-error");

    json_t *s = session_json(t, SID_A);
    assert_int_equal(int_of(s, "lost"), 2);
    json_decref(s);
    trace_free(t);
}

static void test_trace_session_lost_after_its_node_went_down(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    struct trace_obs o = answer(100, "web1", K1);
    o.farm_session = "new";
    set_cookie(&o, SID, SID_A);
    trace_observe(t, &o);

    trace_note_state(t, 101, "web1", "down", "health check: connection refused by peer");
    uint64_t before = newest_seq(t);
    o = answer(102, "web2", K2);
    carry(&o, SID, SID_A);
    o.farm_session = "lost";
    trace_observe(t, &o);
    assert_string_equal(only(events(t, before), TRACE_SESSION_LOST)->cause, "node-down");

    /* web1 back up: a later loss after hopping away from it is the store's again. */
    trace_note_state(t, 103, "web1", "up", "health check: ok");
    o = answer(104, "web1", K1);
    carry(&o, SID, SID_A);
    o.farm_session = "found";
    trace_observe(t, &o);
    before = newest_seq(t);
    o = answer(105, "web2", K2);
    carry(&o, SID, SID_A);
    o.farm_session = "lost";
    trace_observe(t, &o);
    assert_string_equal(only(events(t, before), TRACE_SESSION_LOST)->cause, "session-store-miss");

    /* web1 removed from the pool: a loss after hopping away from it is the node's too. */
    trace_note_state(t, 106, "web1", "up", "health check: ok");
    o = answer(107, "web1", K1);
    carry(&o, SID, SID_A);
    o.farm_session = "found";
    trace_observe(t, &o);
    trace_note_state(t, 108, "web1", "removed", "admin");
    before = newest_seq(t);
    o = answer(109, "web2", K2);
    carry(&o, SID, SID_A);
    o.farm_session = "lost";
    trace_observe(t, &o);
    assert_string_equal(only(events(t, before), TRACE_SESSION_LOST)->cause, "node-down");

    /* The node-state events themselves. */
    struct capture *c = events(t, 0);
    assert_int_equal(count_kind(c, TRACE_NODE_STATE), 4);
    const struct trace_event *ns = &c->ev[1];
    assert_int_equal(ns->kind, TRACE_NODE_STATE);
    assert_string_equal(ns->node, "web1");
    assert_string_equal(ns->verdict, "down");
    assert_string_equal(ns->cause, "health check: connection refuse"); /* cut to the field */
    assert_string_equal(ns->session, "");
    struct buf b;
    buf_init(&b);
    trace_json_event(ns, c->seq[1], &b);
    json_t *j = parse(&b);
    assert_string_equal(str_of(j, "kind"), "node-state");
    assert_string_equal(str_of(j, "state"), "down");
    assert_string_equal(str_of(j, "reason"), "health check: connection refuse");
    assert_null(json_object_get(j, "verdict"));
    assert_null(json_object_get(j, "session"));
    assert_int_equal(int_of(j, "seq"), (json_int_t)c->seq[1]);
    json_decref(j);
    buf_cleanup(&b);
    trace_free(t);
}

static void test_trace_infers_login_redirect_without_farm_headers(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", NULL, TICKET_A);
    uint64_t before = newest_seq(t);

    struct trace_obs o = answer(101, "web2", NULL);
    carry(&o, AUTH, TICKET_A);
    o.status = 302;
    o.location = "/Account/LOGIN.aspx?ReturnUrl=%2fcart";
    trace_observe(t, &o);

    struct capture *c = events(t, before);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->ev[0].kind, TRACE_HOP);
    const struct trace_event *r = only(c, TRACE_REJECTED);
    assert_string_equal(r->verdict, "inferred");
    assert_string_equal(r->cause, "inferred-login-redirect");
    assert_string_equal(r->node, "web2");
    assert_string_equal(r->from, "web1");

    json_t *m = matrix_json(t);
    json_t *web12 = cell(m, ".ASPXAUTH", "web1", "web2");
    assert_non_null(web12);
    assert_int_equal(int_of(web12, "rejected"), 1);
    assert_string_equal(str_of(web12, "last_verdict"), "inferred");
    assert_true(json_is_null(json_object_get(web12, "key_issuer")));
    json_decref(m);

    /* A redirect elsewhere, or a 200, says nothing. */
    before = newest_seq(t);
    o = answer(102, "web2", NULL);
    carry(&o, AUTH, TICKET_A);
    o.status = 302;
    o.location = "/cart";
    trace_observe(t, &o);
    o.status = 200;
    o.location = "/login"; /* not a redirect */
    trace_observe(t, &o);
    assert_int_equal(events(t, before)->n, 0);
    trace_free(t);
}

/* An app that keeps its login in session state (a cookie of its own, not ticket-like) sends
 * a user whose session the new node does not know to log in: the session was lost. */
static void test_trace_infers_session_lost_from_login_redirect_after_hop(void **state)
{
    (void)state;
    const char *names[] = {"SID"};
    struct trace *t = trace_new(names, 1, 16, 64);
    assert_non_null(t);
    struct trace_obs o = answer(100, "web1", NULL);
    set_cookie(&o, 0, SID_A);
    trace_observe(t, &o);

    /* On the node that issued it: the session may be fine and the user not logged in. */
    uint64_t before = newest_seq(t);
    o = answer(101, "web1", NULL);
    carry(&o, 0, SID_A);
    o.status = 302;
    o.location = "/login?ReturnUrl=/page";
    trace_observe(t, &o);
    assert_int_equal(events(t, before)->n, 0);

    /* Right after a hop: lost on web2. */
    o.now = 102;
    o.node = "web2";
    trace_observe(t, &o);
    struct capture *c = events(t, before);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->ev[0].kind, TRACE_HOP);
    const struct trace_event *l = only(c, TRACE_SESSION_LOST);
    assert_string_equal(l->cookie, "SID");
    assert_string_equal(l->verdict, "inferred");
    assert_string_equal(l->cause, "inferred-login-redirect");
    assert_string_equal(l->node, "web2");
    assert_string_equal(l->from, "web1");
    assert_int_equal(count_kind(c, TRACE_REJECTED), 0);

    json_t *m = matrix_json(t);
    json_t *web12 = cell(m, "SID", "web1", "web2");
    assert_non_null(web12);
    assert_int_equal(int_of(web12, "rejected"), 1);
    assert_int_equal(int_of(web12, "accepted"), 0);
    assert_string_equal(str_of(web12, "last_verdict"), "inferred");
    json_decref(m);
    json_t *js = session_json(t, SID_A);
    assert_int_equal(int_of(js, "lost"), 1);
    assert_int_equal(int_of(js, "rejections"), 0);
    json_decref(js);

    /* A redirect to the login page of a request that carried no traced cookie: a user not
     * logged in, nothing else. */
    before = newest_seq(t);
    o = answer(103, "web1", NULL);
    o.status = 302;
    o.location = "/login?ReturnUrl=/page";
    trace_observe(t, &o);
    assert_int_equal(events(t, before)->n, 0);
    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 1);
    assert_int_equal(n.lost, 1);
    trace_free(t);
}

/* With a ticket and a session id on the request, a login redirect is the ticket's: the ticket
 * is rejected, the session is not called lost. */
static void test_trace_login_redirect_blames_the_ticket_not_the_session(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    struct trace_obs o = answer(100, "web1", NULL);
    set_cookie(&o, AUTH, TICKET_A);
    set_cookie(&o, SID, SID_A);
    trace_observe(t, &o);

    uint64_t before = newest_seq(t);
    o = answer(101, "web2", NULL);
    carry(&o, AUTH, TICKET_A);
    carry(&o, SID, SID_A);
    o.status = 302;
    o.location = "/Account/Login.aspx?ReturnUrl=%2fcart";
    trace_observe(t, &o);
    struct capture *c = events(t, before);
    assert_int_equal(count_kind(c, TRACE_HOP), 2);
    const struct trace_event *r = only(c, TRACE_REJECTED);
    assert_string_equal(r->cookie, ".ASPXAUTH");
    assert_string_equal(r->cause, "inferred-login-redirect");
    assert_int_equal(count_kind(c, TRACE_SESSION_LOST), 0);
    trace_free(t);
}

static void test_trace_node_weight_event(void **state)
{
    (void)state;
    struct trace *t = new_trace(4, 8);
    trace_note_weight(t, 1700000000.25, "web1", 3, 1, "admin");
    struct capture *c = events(t, 0);
    assert_int_equal(c->n, 1);
    const struct trace_event *e = only(c, TRACE_NODE_WEIGHT);
    assert_string_equal(e->node, "web1");
    assert_int_equal(e->weight, 3);
    assert_int_equal(e->weight_from, 1);
    assert_string_equal(e->cause, "admin");

    struct buf b;
    buf_init(&b);
    trace_json_event(e, c->seq[0], &b);
    json_t *j = parse(&b);
    assert_int_equal(json_object_size(j), 7); /* seq time kind node weight previous reason */
    assert_int_equal(int_of(j, "seq"), 1);
    assert_string_equal(str_of(j, "time"), "2023-11-14T22:13:20.250Z");
    assert_string_equal(str_of(j, "kind"), "node-weight");
    assert_string_equal(str_of(j, "node"), "web1");
    assert_int_equal(int_of(j, "weight"), 3);
    assert_int_equal(int_of(j, "previous"), 1);
    assert_string_equal(str_of(j, "reason"), "admin");
    json_decref(j);
    buf_cleanup(&b);

    /* Weight 0 (no new clients) is a weight like any other. */
    trace_note_weight(t, 1700000001, "web1", 0, 3, "admin");
    e = &events(t, 1)->ev[0];
    assert_int_equal(e->weight, 0);
    assert_int_equal(e->weight_from, 3);
    trace_free(t);
}

static void test_trace_events_span_follows_the_ring(void **state)
{
    (void)state;
    struct trace *t = new_trace(4, 4);
    uint64_t oldest = 99, newest = 99;
    trace_events_span(t, &oldest, &newest);
    assert_int_equal(oldest, 0);
    assert_int_equal(newest, 0);
    for (int i = 1; i <= 10; i++) {
        trace_note_weight(t, i, "web1", (unsigned)i, (unsigned)i - 1, "admin");
        trace_events_span(t, &oldest, &newest);
        assert_int_equal(newest, i);
        assert_int_equal(oldest, i <= 4 ? 1 : i - 3);
        assert_int_equal(events(t, 0)->seq[0], oldest); /* what trace_events_since gives */
    }
    trace_free(t);
}

static void test_trace_infers_cleared_cookie(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", NULL, TICKET_A);
    visit(t, 101, "web1", NULL, TICKET_A, NULL);

    /* Cleared right after a hop: the new node threw the ticket away. */
    uint64_t before = newest_seq(t);
    struct trace_obs o = answer(102, "web2", NULL);
    carry(&o, AUTH, TICKET_A);
    set_cookie(&o, AUTH, "");
    trace_observe(t, &o);
    const struct trace_event *r = only(events(t, before), TRACE_REJECTED);
    assert_string_equal(r->verdict, "inferred");
    assert_string_equal(r->cause, "inferred-cookie-cleared");

    /* Cleared on the node that last served it, with a redirect to the login page: a logout. */
    login(t, 103, "web1", NULL, TICKET_B);
    before = newest_seq(t);
    o = answer(104, "web1", NULL);
    carry(&o, AUTH, TICKET_B);
    set_cookie(&o, AUTH, "");
    o.status = 302;
    o.location = "/login";
    trace_observe(t, &o);
    struct capture *c = events(t, before);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->ev[0].kind, TRACE_CLEARED);
    assert_string_equal(c->ev[0].node, "web1");

    json_t *s = session_json(t, TICKET_B);
    assert_string_equal(str_of(s, "last_verdict"), "cleared");
    assert_int_equal(int_of(s, "rejections"), 0);
    json_decref(s);

    /* A session id cleared after a hop: lost. */
    o = answer(105, "web1", NULL);
    set_cookie(&o, SID, SID_A);
    trace_observe(t, &o);
    before = newest_seq(t);
    o = answer(106, "web3", NULL);
    carry(&o, SID, SID_A);
    set_cookie(&o, SID, "");
    trace_observe(t, &o);
    const struct trace_event *l = only(events(t, before), TRACE_SESSION_LOST);
    assert_string_equal(l->cause, "inferred-cookie-cleared");
    assert_string_equal(l->from, "web1");
    trace_free(t);
}

static void test_trace_infers_reissue_after_hop(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    struct trace_obs o = answer(100, "web1", NULL);
    set_cookie(&o, AUTH, TICKET_A);
    set_cookie(&o, SID, SID_A);
    trace_observe(t, &o);

    uint64_t before = newest_seq(t);
    o = answer(101, "web2", NULL);
    carry(&o, AUTH, TICKET_A);
    carry(&o, SID, SID_A);
    set_cookie(&o, AUTH, TICKET_B);
    set_cookie(&o, SID, SID_B);
    trace_observe(t, &o);
    struct capture *c = events(t, before);
    /* per cookie: hop, rejected or lost, issued (reissue) */
    assert_int_equal(c->n, 6);
    const struct trace_event *r = only(c, TRACE_REJECTED);
    assert_string_equal(r->cookie, ".ASPXAUTH");
    assert_string_equal(r->cause, "inferred-reissue");
    const struct trace_event *l = only(c, TRACE_SESSION_LOST);
    assert_string_equal(l->cookie, "ASP.NET_SessionId");
    assert_string_equal(l->cause, "inferred-reissue");
    assert_int_equal(count_kind(c, TRACE_ISSUED), 2);
    for (size_t i = 0; i < c->n; i++)
        if (c->ev[i].kind == TRACE_ISSUED) {
            assert_string_equal(c->ev[i].node, "web2");
            assert_string_equal(c->ev[i].cause, "reissue");
        }

    /* The new values continue the sessions: web2 is their issuer now. */
    json_t *s = session_json(t, TICKET_B);
    char id_a[17];
    trace_display_id(t, TICKET_A, strlen(TICKET_A), id_a);
    assert_string_equal(str_of(s, "id"), id_a);
    assert_string_equal(str_of(s, "issuer"), "web2");
    json_decref(s);
    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 2);
    trace_free(t);
}

static void test_trace_renewal_continues_the_session(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 64);
    login(t, 100, "web1", K1, TICKET_A);

    /* Sliding renewal on web1: valid, and a new value. Not a rejection. */
    struct trace_obs o = answer(101, "web1", K1);
    carry(&o, AUTH, TICKET_A);
    o.farm_ticket = "valid";
    set_cookie(&o, AUTH, TICKET_B);
    trace_observe(t, &o);
    /* An in-flight request with the old value still finds the session. */
    visit(t, 102, "web1", K1, TICKET_A, "valid");
    /* Renewed again on web3, whose keys differ: the issuer is web3 now. */
    o = answer(103, "web3", K3);
    carry(&o, AUTH, TICKET_B);
    o.farm_ticket = "valid";
    set_cookie(&o, AUTH, TICKET_C);
    trace_observe(t, &o);
    visit(t, 104, "web3", K3, TICKET_C, "valid");

    struct capture *c = events(t, 0);
    assert_int_equal(count_kind(c, TRACE_REJECTED), 0);
    assert_int_equal(count_kind(c, TRACE_ISSUED), 3);
    for (size_t i = 0; i < c->n; i++)
        assert_string_equal(c->ev[i].session, c->ev[0].session);
    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 1);

    json_t *s = session_json(t, TICKET_C);
    assert_string_equal(str_of(s, "issuer"), "web3");
    assert_string_equal(str_of(s, "key_issuer"), K3);
    json_decref(s);

    /* The first value no longer maps to the session, but its id (the first value's) does. */
    char id_a[17];
    trace_display_id(t, TICKET_A, strlen(TICKET_A), id_a);
    struct buf b;
    buf_init(&b);
    assert_int_equal(trace_json_session(t, id_a, &b), 0);
    buf_cleanup(&b);
    uint64_t before = newest_seq(t);
    visit(t, 105, "web3", K3, TICKET_A, "mac-mismatch"); /* a stale tab: a new session */
    assert_int_equal(count_kind(events(t, before), TRACE_HOP), 0);
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 2);
    trace_free(t);
}

static void test_trace_cookie_kind_follows_the_name(void **state)
{
    (void)state;
    const char *names[] = {"MyAuthCookie", "SESSIONX"};
    struct trace *t = trace_new(names, 2, 16, 64);
    assert_non_null(t);
    struct trace_obs o = answer(100, "web1", K1);
    carry(&o, 0, TICKET_A);
    carry(&o, 1, SID_A);
    o.farm_ticket = "mac-mismatch";
    o.farm_session = "found";
    trace_observe(t, &o);
    struct capture *c = events(t, 0);
    assert_int_equal(c->n, 2);
    assert_string_equal(only(c, TRACE_REJECTED)->cookie, "MyAuthCookie");
    assert_string_equal(only(c, TRACE_CHECKED)->cookie, "SESSIONX");
    assert_string_equal(only(c, TRACE_CHECKED)->verdict, "found");
    trace_free(t);
}

static void test_trace_lru_evicts_least_recently_used(void **state)
{
    (void)state;
    struct trace *t = new_trace(3, 64);
    const char *v[] = {"value-1", "value-2", "value-3", "value-4"};
    for (int i = 0; i < 3; i++)
        login(t, 100 + i, "web1", K1, v[i]);
    visit(t, 110, "web1", K1, v[0], "valid"); /* value-1 is the most recent now */
    login(t, 111, "web1", K1, v[3]);          /* evicts value-2, the least recent */

    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 3);
    struct buf b;
    buf_init(&b);
    char id[17];
    trace_display_id(t, v[1], strlen(v[1]), id);
    assert_int_equal(trace_json_session(t, id, &b), -1);
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            continue;
        trace_display_id(t, v[i], strlen(v[i]), id);
        buf_clear(&b);
        assert_int_equal(trace_json_session(t, id, &b), 0);
    }

    /* Most recent first: value-4, value-1, value-3; limit cuts the list. */
    buf_clear(&b);
    trace_json_sessions(t, &b, 0);
    json_t *j = parse(&b);
    assert_int_equal(int_of(j, "tracked"), 3);
    json_t *list = json_object_get(j, "sessions");
    assert_int_equal(json_array_size(list), 3);
    const char *order[] = {v[3], v[0], v[2]};
    for (size_t i = 0; i < 3; i++) {
        trace_display_id(t, order[i], strlen(order[i]), id);
        assert_string_equal(str_of(json_array_get(list, i), "id"), id);
    }
    json_decref(j);
    buf_clear(&b);
    trace_json_sessions(t, &b, 2);
    j = parse(&b);
    assert_int_equal(json_array_size(json_object_get(j, "sessions")), 2);
    json_decref(j);
    buf_cleanup(&b);
    trace_free(t);
}

static void test_trace_lru_churn_keeps_the_table_consistent(void **state)
{
    (void)state;
    /* Thousands of sessions through an 8-slot table: every insertion past the cap evicts,
     * every eviction deletes from the hash map. The newest 8 must all be found, no older. */
    struct trace *t = new_trace(8, 16);
    char value[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(value, sizeof value, "session-%d", i);
        login(t, 100 + i, i % 2 ? "web1" : "web2", K1, value);
        if (i % 3 == 0) { /* and some renewals, so sessions hold two keys */
            char renewed[40];
            snprintf(renewed, sizeof renewed, "renewed-%d", i);
            struct trace_obs o = answer(100 + i, "web1", K1);
            carry(&o, AUTH, value);
            o.farm_ticket = "valid";
            set_cookie(&o, AUTH, renewed);
            trace_observe(t, &o);
        }
    }
    struct buf b;
    buf_init(&b);
    char id[17];
    for (int i = 0; i < 5000; i++) {
        snprintf(value, sizeof value, "session-%d", i);
        trace_display_id(t, value, strlen(value), id);
        buf_clear(&b);
        int want = i >= 5000 - 8 ? 0 : -1;
        if (trace_json_session(t, id, &b) != want)
            fail_msg("session-%d: expected %s", i, want ? "evicted" : "found");
    }
    buf_cleanup(&b);
    struct trace_counts n;
    trace_counts(t, &n);
    assert_int_equal(n.sessions_tracked, 8);
    trace_free(t);
}

static void test_trace_ring_keeps_the_newest_events(void **state)
{
    (void)state;
    struct trace *t = new_trace(4, 4);
    assert_int_equal(trace_events_since(t, 0, capture_cb, &(struct capture){0}), 0);
    char reason[16];
    for (int i = 1; i <= 10; i++) {
        snprintf(reason, sizeof reason, "r%d", i);
        trace_note_state(t, i, "web1", i % 2 ? "down" : "up", reason);
    }
    struct capture *c = events(t, 0);
    assert_int_equal(c->n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(c->seq[i], 7 + i);
        snprintf(reason, sizeof reason, "r%zu", 7 + i);
        assert_string_equal(c->ev[i].cause, reason);
    }
    c = events(t, 8);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->seq[0], 9);
    struct capture none = {0};
    assert_int_equal(trace_events_since(t, 10, capture_cb, &none), 10);
    assert_int_equal(none.n, 0);
    assert_int_equal(trace_events_since(t, 99, capture_cb, &none), 10);
    assert_int_equal(none.n, 0);
    trace_free(t);
}

static void test_trace_timeline_keeps_the_newest(void **state)
{
    (void)state;
    struct trace *t = new_trace(4, 1024);
    login(t, 100, "web1", K1, TICKET_A);
    for (int i = 0; i < 40; i++) /* each: hop + checked */
        visit(t, 101 + i, i % 2 ? "web1" : "web2", K1, TICKET_A, "valid");
    json_t *s = session_json(t, TICKET_A);
    json_t *tl = json_object_get(s, "timeline");
    assert_int_equal(json_array_size(tl), TRACE_TIMELINE_MAX);
    json_int_t prev = 0;
    for (size_t i = 0; i < TRACE_TIMELINE_MAX; i++) {
        json_int_t seq = int_of(json_array_get(tl, i), "seq");
        assert_true(seq > prev);
        prev = seq;
    }
    assert_int_equal(prev, (json_int_t)newest_seq(t)); /* 1 issued + 80 */
    assert_int_equal(prev, 81);
    assert_int_equal(int_of(s, "hops"), 40);
    json_decref(s);
    trace_free(t);
}

/* sim-node percent-encodes X-Farm-User; a name too long for the trace is cut before a
 * partial escape and before a character whose bytes are not all there. */
static void test_trace_user_cut_keeps_whole_characters(void **state)
{
    (void)state;
    static const struct {
        const char *user, *want;
    } cases[] = {
        /* 44 + "%E2%82%AC" (the euro sign) needs 53 bytes: the euro goes whole. */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%E2%82%AC",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        /* 45 + "%C3%AB": the cut falls inside the second escape. */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%C3%AB",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        /* 41 + "%C3%AB" is 47 bytes: it fits whole. */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%C3%AB",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%C3%AB"},
        /* 42 + "%C3%AB" is 48: the cut leaves "%C3%A", and the whole character goes. */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%C3%AB",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        /* ASCII is cut where it is cut. */
        {"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct trace *t = new_trace(16, 64);
        login(t, 100, "web1", K1, TICKET_A);
        struct trace_obs o = answer(101, "web1", K1);
        carry(&o, AUTH, TICKET_A);
        o.farm_ticket = "valid";
        o.farm_session = "off";
        o.farm_user = cases[i].user;
        trace_observe(t, &o);
        struct capture *c = events(t, 0);
        assert_string_equal(c->ev[c->n - 1].user, cases[i].want);
        trace_free(t);
    }
}

static void test_trace_json_parses_and_never_contains_cookie_values(void **state)
{
    (void)state;
    struct trace *t = new_trace(16, 256);
    /* Hostile strings: quotes, backslashes, control bytes, non-ASCII, overlong. */
    const char *evil_user = "ma\"l\\lory\n\x01\xc3\xa9\xff<script>";
    const char *evil_key = "v=\"\\\x7f d=\xfe m=fx45 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *evil_node = "we\"b9\\";

    struct trace_obs o = answer(1700000000.5, "web1", K1);
    o.farm_ticket = "absent";
    o.farm_session = "new";
    set_cookie(&o, AUTH, TICKET_A);
    set_cookie(&o, SID, SID_A);
    trace_observe(t, &o);

    o = answer(1700000001, evil_node, evil_key);
    carry(&o, AUTH, TICKET_A);
    carry(&o, SID, SID_A);
    o.farm_ticket = "valid";
    o.farm_session = "lost";
    o.farm_user = evil_user;
    o.status = 302;
    o.location = "\x01\"login\\";
    trace_observe(t, &o);

    o = answer(1700000002, "web3", K3);
    carry(&o, AUTH, TICKET_A);
    carry(&o, SID, SID_A);
    o.farm_ticket = "mac-mismatch";
    o.farm_session = "bogus\"value"; /* unknown: as if absent */
    set_cookie(&o, SID, SID_B);
    trace_observe(t, &o);
    trace_note_state(t, 1700000003, evil_node, "down\"\x02", evil_user);

    const char *secrets[] = {TICKET_A, SID_A, SID_B};
    struct buf b;
    buf_init(&b);
    json_t *j;

    trace_json_sessions(t, &b, 0);
    j = parse(&b);
    json_t *first = json_array_get(json_object_get(j, "sessions"), 0);
    assert_non_null(first);
    json_decref(j);

    for (size_t i = 0; i < 2; i++) {
        char id[17];
        trace_display_id(t, secrets[i], strlen(secrets[i]), id);
        assert_int_equal(strlen(id), 16);
        assert_int_equal(strspn(id, "0123456789abcdef"), 16);
        assert_int_equal(trace_json_session(t, id, &b), 0);
    }
    trace_json_matrix(t, &b);
    struct capture *c = events(t, 0);
    assert_true(c->n > 5);
    for (size_t i = 0; i < c->n; i++)
        trace_json_event(&c->ev[i], c->seq[i], &b);

    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(b.data, secrets[i]) != NULL)
            fail_msg("output contains the cookie value %s", secrets[i]);

    /* Each rendering alone is valid JSON with sanitised strings. */
    buf_clear(&b);
    trace_json_session(t, c->ev[0].session, &b);
    j = parse(&b);
    assert_string_equal(str_of(j, "user"), "ma\"l\\lory\?\?\?\?\?<script>");
    assert_string_equal(str_of(j, "last_node"), "web3");
    json_decref(j);
    buf_clear(&b);
    trace_json_matrix(t, &b);
    j = parse(&b);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "nodes"), 1)),
                        evil_node);
    json_decref(j);
    const struct trace_event *ns = only(c, TRACE_NODE_STATE);
    buf_clear(&b);
    trace_json_event(ns, 1, &b);
    j = parse(&b);
    assert_string_equal(str_of(j, "state"), "down\"?");
    json_decref(j);
    assert_string_equal(only(c, TRACE_KEY_MISMATCH)->key_from, K1);
    buf_cleanup(&b);
    trace_free(t);
}

static void test_trace_event_time_is_iso8601_utc_with_millis(void **state)
{
    (void)state;
    struct trace_event e;
    memset(&e, 0, sizeof e);
    e.kind = TRACE_HOP;
    struct {
        double t;
        const char *want;
    } cases[] = {
        {1700000000.123, "2023-11-14T22:13:20.123Z"},
        {0.9996, "1970-01-01T00:00:01.000Z"},
        {951782400.0, "2000-02-29T00:00:00.000Z"},
        {-5.0, "1970-01-01T00:00:00.000Z"},
        {NAN, "1970-01-01T00:00:00.000Z"},
        {1e300, "1970-01-01T00:00:00.000Z"},
    };
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        e.time = cases[i].t;
        buf_clear(&b);
        trace_json_event(&e, 42, &b);
        json_t *j = parse(&b);
        assert_string_equal(str_of(j, "time"), cases[i].want);
        assert_string_equal(str_of(j, "kind"), "session-hop");
        assert_int_equal(int_of(j, "seq"), 42);
        assert_null(json_object_get(j, "node")); /* empty members are left out */
        json_decref(j);
    }
    buf_cleanup(&b);
}

static void test_trace_display_id_depends_on_the_process_key(void **state)
{
    (void)state;
    struct trace *a = new_trace(4, 4);
    struct trace *b = new_trace(4, 4);
    char ia[17], ia2[17], ib[17];
    trace_display_id(a, TICKET_A, strlen(TICKET_A), ia);
    trace_display_id(a, TICKET_A, strlen(TICKET_A), ia2);
    trace_display_id(b, TICKET_A, strlen(TICKET_A), ib);
    assert_string_equal(ia, ia2);
    assert_string_not_equal(ia, ib); /* another key: 2^-64 to collide */
    struct buf out;
    buf_init(&out);
    assert_int_equal(trace_json_session(a, "not-an-id", &out), -1);
    assert_int_equal(trace_json_session(a, "0123456789abcdef0", &out), -1);
    assert_int_equal(trace_json_session(a, ia, &out), -1); /* nothing observed yet */
    assert_int_equal(out.len, 0);
    buf_cleanup(&out);
    trace_free(a);
    trace_free(b);
}

static void test_trace_more_nodes_than_the_table(void **state)
{
    (void)state;
    struct trace *t = new_trace(4, 16);
    char name[16];
    for (int i = 0; i < TRACE_NODES_MAX + 10; i++) {
        snprintf(name, sizeof name, "n%d", i);
        visit(t, i, name, K1, TICKET_A, "valid");
    }
    json_t *m = matrix_json(t);
    assert_int_equal(json_array_size(json_object_get(m, "nodes")), TRACE_NODES_MAX);
    json_decref(m);
    json_t *s = session_json(t, TICKET_A);
    assert_true(json_is_null(json_object_get(s, "last_node")));
    assert_int_equal(int_of(s, "hops"), TRACE_NODES_MAX - 1);
    json_decref(s);
    trace_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_event_names),
        cmocka_unit_test(test_trace_new_rejects_bad_limits),
        cmocka_unit_test(test_trace_issued_then_hop_is_recorded),
        cmocka_unit_test(test_trace_mac_mismatch_on_web3_is_rejected_with_key_mismatch),
        cmocka_unit_test(test_trace_mac_mismatch_with_same_keys_is_no_key_mismatch),
        cmocka_unit_test(test_trace_expired_ticket_is_rejected_outside_the_matrix),
        cmocka_unit_test(test_trace_session_store_miss),
        cmocka_unit_test(test_trace_session_lost_after_its_node_went_down),
        cmocka_unit_test(test_trace_infers_login_redirect_without_farm_headers),
        cmocka_unit_test(test_trace_infers_session_lost_from_login_redirect_after_hop),
        cmocka_unit_test(test_trace_login_redirect_blames_the_ticket_not_the_session),
        cmocka_unit_test(test_trace_infers_cleared_cookie),
        cmocka_unit_test(test_trace_infers_reissue_after_hop),
        cmocka_unit_test(test_trace_renewal_continues_the_session),
        cmocka_unit_test(test_trace_cookie_kind_follows_the_name),
        cmocka_unit_test(test_trace_lru_evicts_least_recently_used),
        cmocka_unit_test(test_trace_lru_churn_keeps_the_table_consistent),
        cmocka_unit_test(test_trace_ring_keeps_the_newest_events),
        cmocka_unit_test(test_trace_events_span_follows_the_ring),
        cmocka_unit_test(test_trace_node_weight_event),
        cmocka_unit_test(test_trace_timeline_keeps_the_newest),
        cmocka_unit_test(test_trace_json_parses_and_never_contains_cookie_values),
        cmocka_unit_test(test_trace_user_cut_keeps_whole_characters),
        cmocka_unit_test(test_trace_event_time_is_iso8601_utc_with_millis),
        cmocka_unit_test(test_trace_display_id_depends_on_the_process_key),
        cmocka_unit_test(test_trace_more_nodes_than_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
