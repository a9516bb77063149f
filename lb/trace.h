/* trace: what happened to every user's session as it hopped between nodes — the farm's
 * eyes, and what no other proxy does.
 *
 * lb tells the trace, for each answered request, which node answered, the values of the
 * configured session cookies the request carried, the session cookies the answer set or
 * cleared (Set-Cookie), the answer's status and Location, and sim-node's X-Farm-Ticket /
 * X-Farm-Session / X-Farm-Key / X-Farm-User headers when present. From that it keeps:
 *
 *   sessions  one per user session (identified by a keyed hash, never the value): the node
 *             that issued it (from Set-Cookie), the last node that handled it, the user, and
 *             a bounded timeline of events
 *   events    issued, checked (accepted on a node), hop (node A → node B), rejected (with
 *             the verdict, the issuer, and both nodes' key fingerprints), session-lost (with
 *             a cause: session-store-miss, node-down, state-server-error, inferred-*),
 *             key-mismatch, cleared (logout), node-state, node-weight
 *   matrix    per cookie, issuer × checker counts of accepted and rejected checks
 *
 * Cookie kinds. A configured cookie whose name contains "AUTH" (case-insensitive; so
 * .ASPXAUTH) is ticket-like: judged by X-Farm-Ticket. Any other (ASP.NET_SessionId) is
 * session-id-like: judged by X-Farm-Session.
 *
 * Verdicts from sim-node's headers (the node that answered is the checker):
 *   ticket   valid → checked, matrix accepted. expired, malformed → rejected.
 *            mac-mismatch, bad-ticket → rejected, matrix rejected, and when the issuer's key
 *            fingerprint (the X-Farm-Key on the answer that issued the cookie) differs from
 *            the checker's, cause key-mismatch plus a key-mismatch event. absent: nothing.
 *   session  found → checked, matrix accepted. lost (or new while the request carried an
 *            id) → session-lost, matrix rejected, cause node-down when the session just hopped
 *            away from a node trace_note_state last called down or stopped, else
 *            session-store-miss. error → session-lost, cause state-server-error. off: nothing.
 * Without the header (any other backend) trouble is inferred, verdict "inferred". A login
 * redirect is a 302/303 to a Location containing "login" (case-insensitive); it is judged
 * only for the cookies the request carried (a redirect without one is a user not logged in).
 *   ticket   a login redirect → rejected, inferred-login-redirect (the node refused the
 *            ticket, on a hop or not: expiry too); the cookie cleared right after a hop →
 *            rejected, inferred-cookie-cleared; re-issued with another value right after a
 *            hop → rejected, inferred-reissue.
 *   session  a login redirect right after a hop, when the request carried no ticket-like
 *            cookie → session-lost, inferred-login-redirect: an app that keeps its login in
 *            session state sends the user to log in when the new node does not know the
 *            session (no state was refused; it was not there). Without a hop the session
 *            may be fine and the user not logged in; with a ticket, the redirect is the
 *            ticket's. Cleared or re-issued with another value right after a hop →
 *            session-lost, inferred-cookie-cleared / inferred-reissue.
 *   Matrix rejected when the issuer is known.
 * A cookie cleared without a hop (or with the header present) is a logout: a cleared event.
 * "checked" is recorded only when it says something: the session's first verdict, after a
 * hop, or when the verdict changed; rejections and losses are recorded every time. A hop is
 * recorded whenever the answering node differs from the session's last node.
 *
 * Re-issue. A Set-Cookie with a new value for a cookie the request carried (login again,
 * sliding renewal, a new session id) continues the request's session: the new value maps to
 * it (the previous one still does, for requests in flight), its issuer becomes the answering
 * node, and an issued event with cause "reissue" is recorded. A session's id stays the hash
 * of the first value it was seen with.
 *
 * Ids. A session's display id is 16 lower-case hex chars of SipHash-2-4 of the cookie value
 * under a random per-process key; trace_display_id gives the same id for the access log.
 *
 * Memory is bounded: an LRU cap on tracked sessions (allocated once, as used), a ring of
 * recent events, a per-session timeline ring, TRACE_NODES_MAX node names and a fixed table
 * of key fingerprints, at most 8 added by each node (beyond that, a new fingerprint shows as
 * unknown, and key-mismatch is not judged on it). Strings from the wire are stored as printable
 * ASCII (others become '?'), truncated to the fields below, and JSON-escaped on output. Pure code:
 * no I/O, no clock (times come in as seconds since the Unix epoch). Not thread-safe. */
#ifndef LB_TRACE_H
#define LB_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TRACE_COOKIES_MAX  4
#define TRACE_TIMELINE_MAX 32 /* events kept per session */
#define TRACE_NODES_MAX    64 /* distinct node names; later ones are traced as unknown */

enum trace_event_kind {
    TRACE_ISSUED,
    TRACE_CHECKED,
    TRACE_HOP,
    TRACE_REJECTED,
    TRACE_SESSION_LOST,
    TRACE_KEY_MISMATCH,
    TRACE_CLEARED,     /* the node cleared the cookie without trouble in sight: a logout */
    TRACE_NODE_STATE,  /* recorded by lb for node state changes (trace_note_state) */
    TRACE_NODE_WEIGHT, /* recorded by lb for weight changes (trace_note_weight) */
    TRACE_EVENT_KIND_COUNT,
};
/* "issued", "checked", "session-hop", "rejected", "session-lost", "key-mismatch", "cleared",
 * "node-state", "node-weight". */
const char *trace_event_name(enum trace_event_kind k);

/* Which field holds what, by kind (empty string when unknown or not applicable):
 *   issued        node = issuer, key_node = its fingerprint, cause "" or "reissue"
 *   checked       node = checker, from = issuer, verdict, key_node, key_from
 *   session-hop   from → node
 *   rejected      node = checker, from = issuer, verdict, cause, key_node, key_from
 *   session-lost  node, from = the session's previous node, verdict, cause
 *   key-mismatch  node = checker, from = issuer, key_node, key_from
 *   cleared       node
 *   node-state    node, verdict = the new state, cause = the reason
 *   node-weight   node, weight and weight_from (the new and the previous), cause = reason */
struct trace_event {
    double time;
    enum trace_event_kind kind;
    char session[17];  /* display id: 16 hex chars, "" for node events */
    char cookie[32];   /* which session cookie */
    char node[32];     /* where it happened */
    char from[32];     /* hop origin / issuer */
    char verdict[16];  /* valid, mac-mismatch, lost, inferred, ... */
    char cause[32];    /* key-mismatch, session-store-miss, node-down, inferred-login-redirect */
    char key_node[48]; /* the node's key fingerprint, when known */
    char key_from[48]; /* the issuer's key fingerprint, when known */
    char user[48];     /* X-Farm-User, when known */
    unsigned weight, weight_from; /* node-weight only */
};

/* One answered request, as the proxy saw it. Strings are borrowed for the call; the
 * NUL-terminated ones may be any bytes (they are sanitised). */
struct trace_obs {
    double now;           /* wall clock, seconds since the Unix epoch */
    const char *node;     /* name of the node that answered */
    const char *node_key; /* its X-Farm-Key, or NULL */
    int status;
    const char *location; /* Location header, or NULL */
    /* request cookies, by configured cookie index (NULL when absent) */
    const char *req_value[TRACE_COOKIES_MAX];
    size_t req_len[TRACE_COOKIES_MAX];
    /* Set-Cookie for configured cookies: value (set_len 0 = cleared, also for an expiry in
     * the past) */
    const char *set_value[TRACE_COOKIES_MAX];
    size_t set_len[TRACE_COOKIES_MAX];
    bool set_present[TRACE_COOKIES_MAX];
    /* sim-node headers, NULL when absent (an unknown value counts as absent) */
    const char *farm_ticket;  /* X-Farm-Ticket */
    const char *farm_session; /* X-Farm-Session */
    const char *farm_user;    /* X-Farm-User */
};

struct trace;

/* cookies: the configured session cookie names (e.g. ".ASPXAUTH", "ASP.NET_SessionId"),
 * copied; index i of trace_obs's arrays is cookies[i]. max_sessions: LRU cap; max_events:
 * the ring. The hash key is random per process. Returns owned, or NULL when n_cookies >
 * TRACE_COOKIES_MAX, max_sessions or max_events is 0 or absurd (> 2^24 / 2^20), out of
 * memory, or no randomness. */
struct trace *trace_new(const char *const *cookies, size_t n_cookies, size_t max_sessions,
                        size_t max_events);
void trace_free(struct trace *t); /* NULL: no-op */

void trace_observe(struct trace *t, const struct trace_obs *o);
/* A node changed state ("up", "down", "draining", "stopped"): a node-state event; down and
 * stopped also make a session lost right after hopping away from that node "node-down". */
void trace_note_state(struct trace *t, double now, const char *node, const char *state,
                      const char *reason);
/* A node's weight changed from `from` to `weight`: a node-weight event (NLB converges on it). */
void trace_note_weight(struct trace *t, double now, const char *node, unsigned weight,
                       unsigned from, const char *reason);

/* Events after sequence number `since` (0: all kept), oldest first, into fn; returns the
 * sequence number of the newest event (0: none yet). Sequence numbers start at 1 and grow by
 * one per event; a follower that fell behind the ring misses the overwritten ones (see
 * trace_events_span). e is borrowed for the call; fn must not call back into the trace. For
 * SSE followers. */
uint64_t trace_events_since(const struct trace *t, uint64_t since,
                            void (*fn)(void *arg, uint64_t seq, const struct trace_event *e),
                            void *arg);
/* The sequence numbers of the oldest and the newest event the ring still keeps (both 0 when
 * there is none yet): a follower at `since` lost since + 1 .. oldest - 1 when since + 1 <
 * oldest. */
void trace_events_span(const struct trace *t, uint64_t *oldest, uint64_t *newest);

/* JSON renderings for the admin API, appended to out (on out of memory, out may hold a
 * truncated document). Times are ISO 8601 UTC with milliseconds; unknown names are null.
 *
 * sessions: most recent first, at most limit (0: all):
 *   {"tracked":N,"sessions":[{"id","cookie","issuer","last_node","user","hops","rejections",
 *    "lost","last_verdict","created","updated"},...]}
 * session: the same fields plus "key_issuer" and "timeline":[event,...] oldest first; -1 when
 *   no session has this id (its display id, or the id of its current or previous value).
 * matrix: {"nodes":[names...],"cells":[{"cookie","issuer","checker","accepted","rejected",
 *   "last_verdict","key_issuer","key_checker"},...]} — only cells with a count.
 * event: {"seq","time","kind","session","cookie","node","from","verdict","cause","key_node",
 *   "key_from","user"}, members with empty values left out; a node-state event says "state"
 *   and "reason" for verdict and cause; a node-weight event is {"seq","time","kind","node",
 *   "weight","previous","reason"} with the weights as numbers. */
void trace_json_sessions(const struct trace *t, struct buf *out, size_t limit);
int trace_json_session(const struct trace *t, const char *id, struct buf *out);
void trace_json_matrix(const struct trace *t, struct buf *out);
void trace_json_event(const struct trace_event *e, uint64_t seq, struct buf *out);

/* Counts for /stats and /metrics: sessions tracked now; events recorded since start. */
struct trace_counts {
    unsigned long long sessions_tracked, issued, hops, rejected, lost, key_mismatch;
};
void trace_counts(const struct trace *t, struct trace_counts *c);

/* A short hash of a session cookie value for the access log (the same display id as above). */
void trace_display_id(const struct trace *t, const char *value, size_t len, char out[17]);

#endif
