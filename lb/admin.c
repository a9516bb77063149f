#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ticks.h"

/* SSE followers of GET /events?follow=1. */
struct follower {
    struct httpd_stream *s;
    uint64_t seq; /* the last event id the stream took (sent, or announced lost) */
    struct follower *next;
};

struct admin {
    struct lb *lb;
    struct follower *followers;
    ev_timer push;
};

static struct admin *the_admin; /* one lb per process */

static void json_error(struct response *rs, int status, const char *msg)
{
    rs->status = status;
    response_header(rs, "Content-Type", "application/json");
    buf_puts(rs->body, "{\"error\":\"");
    buf_json(rs->body, msg, strlen(msg));
    buf_puts(rs->body, "\"}\n");
}

static void iso(double t, char *out)
{
    ticks_format_iso(ticks_from_unix((int64_t)t, (int32_t)((t - (int64_t)t) * 1e9)), out);
}

static void node_json(struct lb *lb, const struct lb_node *n, struct buf *b)
{
    const struct node_stats *s = &n->stats;
    char since[TICKS_ISO_MAX];
    /* state_since is loop time; convert to wall clock for display */
    iso(ev_time() - (ev_now(lb->loop) - n->state_since), since);
    buf_puts(b, "{\"name\":\"");
    buf_json(b, n->name, strlen(n->name));
    buf_puts(b, "\",\"address\":\"");
    buf_json(b, n->addr_text, strlen(n->addr_text));
    buf_printf(b, "\",\"weight\":%u,\"state\":\"%s\",\"reason\":\"", n->weight,
               node_state_name(n->state));
    buf_json(b, n->state_reason, strlen(n->state_reason));
    buf_printf(b,
               "\",\"since\":\"%s\",\"checked\":%s,\"check_ok\":%u,\"check_fail\":%u,"
               "\"passive_fail\":%u,",
               since, n->checked ? "true" : "false", n->check_ok, n->check_fail, n->passive_fail);
    buf_puts(b, "\"key\":\"");
    buf_json(b, n->key_fp, strlen(n->key_fp));
    buf_printf(b, "\",\"bound_connections\":%u,\"last_request\":", n->bound_conns);
    if (n->last_request > 0) {
        char last[TICKS_ISO_MAX];
        iso(ev_time() - (ev_now(lb->loop) - n->last_request), last);
        buf_printf(b, "\"%s\"", last);
    } else {
        buf_puts(b, "null");
    }
    buf_printf(b,
               ",\"requests\":%llu,\"active\":%u,\"idle\":%u,\"connections\":%llu,"
               "\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu,"
               "\"none\":%llu},\"connect_failures\":%llu,\"retries_away\":%llu,"
               "\"bytes_to\":%llu,\"bytes_from\":%llu}",
               s->requests, s->active, s->idle, s->connections, s->responses[1], s->responses[2],
               s->responses[3], s->responses[4], s->responses[5], s->responses[0],
               s->connect_failures, s->retries_away, s->bytes_to, s->bytes_from);
}

static void nodes_json(struct lb *lb, struct buf *b)
{
    buf_puts(b, "{\"nodes\":[");
    bool first = true;
    for (size_t i = 0; i < POOL_MAX; i++) {
        if (lb->pool.slot[i] == NULL)
            continue;
        if (!first)
            buf_puts(b, ",");
        node_json(lb, lb->pool.slot[i], b);
        first = false;
    }
    buf_puts(b, "]}\n");
}

static void stats_json(struct lb *lb, struct buf *b)
{
    const struct lb_stats *s = &lb->stats;
    struct trace_counts tc;
    trace_counts(lb->trace, &tc);
    buf_printf(b,
               "{\"listen\":\"%s\",\"dispatch\":\"%s\",\"affinity\":\"%s\","
               "\"connections\":%llu,\"open_clients\":%u,\"open_backends\":%u,"
               "\"requests\":%llu,\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
               "\"4xx\":%llu,\"5xx\":%llu},\"retries\":%llu,\"no_node_503\":%llu,"
               "\"timeouts_504\":%llu,\"bad_gateway_502\":%llu,\"client_errors\":%llu,"
               "\"out_of_sockets_503\":%llu,\"sessions\":{\"tracked\":%llu,\"issued\":%llu,"
               "\"hops\":%llu,\"rejected\":%llu,"
               "\"lost\":%llu,\"key_mismatch\":%llu}}\n",
               lb->listen_addr, lb_dispatch_name(lb->cfg.dispatch),
               lb_affinity_name(lb->cfg.affinity), s->connections, s->open_clients,
               s->open_backends, s->requests, s->responses[1], s->responses[2], s->responses[3],
               s->responses[4], s->responses[5], s->retries, s->no_node_503, s->timeouts_504,
               s->bad_gateway_502, s->client_errors, s->out_of_sockets, tc.sessions_tracked,
               tc.issued, tc.hops, tc.rejected, tc.lost, tc.key_mismatch);
}

/* One metric without labels: its HELP and TYPE lines and its sample. */
static void metric(struct buf *b, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* Everything /stats says, and per node its state and requests. Counters end in _total. */
static void metrics_text(struct lb *lb, struct buf *b)
{
    const struct lb_stats *s = &lb->stats;
    struct trace_counts tc;
    trace_counts(lb->trace, &tc);
    buf_puts(b, "# HELP farmlb_info How lb runs (the value is always 1).\n"
                "# TYPE farmlb_info gauge\nfarmlb_info{listen=\"");
    buf_json(b, lb->listen_addr, strlen(lb->listen_addr)); /* JSON escapes suit label values */
    buf_printf(b, "\",dispatch=\"%s\",affinity=\"%s\"} 1\n", lb_dispatch_name(lb->cfg.dispatch),
               lb_affinity_name(lb->cfg.affinity));
    metric(b, "farmlb_connections_total", "counter", "Client connections accepted.",
           s->connections);
    metric(b, "farmlb_open_connections", "gauge", "Open client connections.", s->open_clients);
    metric(b, "farmlb_open_backend_connections", "gauge",
           "Open connections to nodes, busy or idle.", s->open_backends);
    metric(b, "farmlb_requests_total", "counter", "Requests received from clients.", s->requests);
    buf_puts(b, "# HELP farmlb_responses_total Answers sent to clients, by status class.\n"
                "# TYPE farmlb_responses_total counter\n");
    for (int i = 1; i <= 5; i++)
        buf_printf(b, "farmlb_responses_total{class=\"%dxx\"} %llu\n", i, s->responses[i]);
    metric(b, "farmlb_retries_total", "counter", "Requests sent to another node after a failure.",
           s->retries);
    metric(b, "farmlb_no_node_total", "counter", "503 answers: no node was available.",
           s->no_node_503);
    metric(b, "farmlb_gateway_timeouts_total", "counter",
           "504 answers: no answer within --timeout-server.", s->timeouts_504);
    metric(b, "farmlb_bad_gateway_total", "counter", "502 answers: a node failed to answer.",
           s->bad_gateway_502);
    metric(b, "farmlb_out_of_sockets_total", "counter",
           "503 answers: lb had no descriptor or memory left for a node connection.",
           s->out_of_sockets);
    metric(b, "farmlb_client_errors_total", "counter",
           "Answers lb made itself to bad or refused requests (400, 403, 408, 413, 431, 501, "
           "505).",
           s->client_errors);
    metric(b, "farmlb_sessions_tracked", "gauge", "Sessions the trace holds now.",
           tc.sessions_tracked);
    buf_printf(b,
               "# HELP farmlb_session_events_total Session events seen by the tracer.\n"
               "# TYPE farmlb_session_events_total counter\n"
               "farmlb_session_events_total{event=\"issued\"} %llu\n"
               "farmlb_session_events_total{event=\"session-hop\"} %llu\n"
               "farmlb_session_events_total{event=\"rejected\"} %llu\n"
               "farmlb_session_events_total{event=\"session-lost\"} %llu\n"
               "farmlb_session_events_total{event=\"key-mismatch\"} %llu\n",
               tc.issued, tc.hops, tc.rejected, tc.lost, tc.key_mismatch);
    buf_puts(b, "# HELP farmlb_node_up Node state (1 when up).\n# TYPE farmlb_node_up gauge\n");
    for (size_t i = 0; i < POOL_MAX; i++) {
        const struct lb_node *n = lb->pool.slot[i];
        if (n)
            buf_printf(b, "farmlb_node_up{node=\"%s\",state=\"%s\"} %d\n", n->name,
                       node_state_name(n->state), n->state == NODE_UP);
    }
    buf_puts(b, "# HELP farmlb_node_requests_total Requests sent to a node.\n"
                "# TYPE farmlb_node_requests_total counter\n");
    for (size_t i = 0; i < POOL_MAX; i++) {
        const struct lb_node *n = lb->pool.slot[i];
        if (n)
            buf_printf(b, "farmlb_node_requests_total{node=\"%s\"} %llu\n", n->name,
                       n->stats.requests);
    }
}

/* ---- Server-Sent Events ---------------------------------------------------------------- */

/* Room one event takes at most on the stream: its fields are bounded (struct trace_event),
 * and JSON escaping at most sextuples a byte. */
#define SSE_EVENT_MAX 4096

struct push_ctx {
    struct buf *b;
    uint64_t last;    /* the newest id in b */
    bool out_of_room; /* no memory for the next event: b ends with `last` */
};

static void push_one(void *arg, uint64_t seq, const struct trace_event *e)
{
    struct push_ctx *p = arg;
    /* Reserved first, so that an event is in b whole or not at all. */
    if (p->out_of_room || buf_reserve(p->b, SSE_EVENT_MAX) != 0) {
        p->out_of_room = true;
        return;
    }
    buf_printf(p->b, "id: %llu\nevent: %s\ndata: ", (unsigned long long)seq,
               trace_event_name(e->kind));
    trace_json_event(e, seq, p->b);
    buf_puts(p->b, "\n\n");
    p->last = seq;
}

/* Send a follower what it has not had yet. Events the ring no longer holds are announced by
 * one gap event whose id is the last one lost (so a reconnect's Last-Event-ID goes on from
 * there). A follower whose queue is full (it does not read) keeps its place and gets the
 * rest on a later tick, once the queue has drained: an event is never skipped silently. */
static void push_follower(struct admin *a, struct follower *f, struct buf *b)
{
    if (httpd_stream_queued(f->s) > HTTPD_STREAM_QUEUE_MAX)
        return; /* not worth building what would be refused */
    uint64_t oldest, newest;
    trace_events_span(a->lb->trace, &oldest, &newest);
    if (newest <= f->seq)
        return;
    buf_clear(b);
    if (buf_reserve(b, SSE_EVENT_MAX) != 0)
        return; /* out of memory: try again on the next tick */
    struct push_ctx p = {.b = b, .last = f->seq};
    if (f->seq + 1 < oldest) {
        buf_printf(b,
                   "id: %llu\nevent: gap\ndata: {\"kind\":\"gap\",\"first\":%llu,\"last\":%llu}"
                   "\n\n",
                   (unsigned long long)(oldest - 1), (unsigned long long)(f->seq + 1),
                   (unsigned long long)(oldest - 1));
        p.last = oldest - 1;
    }
    trace_events_since(a->lb->trace, p.last, push_one, &p);
    if (b->len > 0 && httpd_stream_send(f->s, b->data, b->len) == 0)
        f->seq = p.last;
}

static void push_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct admin *a = w->data;
    struct buf b;
    buf_init(&b);
    for (struct follower *f = a->followers; f; f = f->next)
        push_follower(a, f, &b);
    buf_cleanup(&b);
}

static void follower_closed(void *arg, struct httpd_stream *s)
{
    struct admin *a = arg;
    for (struct follower **pp = &a->followers; *pp; pp = &(*pp)->next) {
        if ((*pp)->s == s) {
            struct follower *f = *pp;
            *pp = f->next;
            free(f);
            break;
        }
    }
    if (a->followers == NULL)
        ev_timer_stop(a->lb->loop, &a->push);
}

struct collect {
    struct buf *b;
    bool first;
};

static void collect_cb(void *arg, uint64_t seq, const struct trace_event *e)
{
    struct collect *col = arg;
    if (!col->first)
        buf_puts(col->b, ",");
    col->first = false;
    trace_json_event(e, seq, col->b);
}

/* Where a new follower starts: after the id its Last-Event-ID names (a reconnect), so that
 * nothing is sent twice and a gap shows what the ring lost meanwhile; without one (or with
 * one that is not a number), or with one ahead of the newest event (it came from an earlier
 * run of lb, whose ids started over), at the oldest event kept. */
static uint64_t follower_start(struct admin *a, const struct request_ctx *rq)
{
    uint64_t oldest, newest;
    trace_events_span(a->lb->trace, &oldest, &newest);
    uint64_t start = oldest ? oldest - 1 : 0;
    size_t len;
    const char *h = http_header_get(rq->req, rq->buf, "Last-Event-ID", &len);
    if (h == NULL || len == 0 || len > 19)
        return start;
    uint64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (h[i] < '0' || h[i] > '9')
            return start;
        id = id * 10 + (uint64_t)(h[i] - '0');
    }
    return id <= newest ? id : start;
}

static void events(struct admin *a, const struct request_ctx *rq, const char *query, size_t qlen,
                   struct response *rs)
{
    int method = rq->req->method;
    char follow[8];
    bool sse =
        http_param(query, qlen, "follow", follow, sizeof follow) > 0 && strcmp(follow, "0") != 0;
    if (sse && method == HTTP_HEAD) {
        /* The head a follower would get, without following. */
        response_header(rs, "Content-Type", "text/event-stream");
        rs->close = true;
        return;
    }
    if (!sse) {
        response_header(rs, "Content-Type", "application/json");
        struct collect col = {rs->body, true};
        buf_puts(rs->body, "{\"events\":[");
        trace_events_since(a->lb->trace, 0, collect_cb, &col);
        buf_puts(rs->body, "]}\n");
        return;
    }
    struct follower *f = calloc(1, sizeof *f);
    if (f == NULL) {
        json_error(rs, 503, "out of memory");
        return;
    }
    response_header(rs, "Content-Type", "text/event-stream");
    f->seq = follower_start(a, rq);
    f->s = response_stream(rs, follower_closed, a);
    f->next = a->followers;
    a->followers = f;
    buf_puts(rs->body, ": farmlab lb events\n\n");
    if (!ev_is_active(&a->push)) {
        ev_timer_set(&a->push, 0.05, 0.1);
        ev_timer_start(a->lb->loop, &a->push);
    }
}

/* ---- routing ---------------------------------------------------------------------------- */

static bool authorized(struct admin *a, const struct request_ctx *rq)
{
    const char *token = a->lb->cfg.admin_token; /* never empty (options refuse it) */
    if (token == NULL)
        return true;
    size_t len;
    const char *h = http_header_get(rq->req, rq->buf, "Authorization", &len);
    size_t tlen = strlen(token);
    if (h == NULL || len != tlen + 7 || strncmp(h, "Bearer ", 7) != 0)
        return false;
    return CRYPTO_memcmp(h + 7, token, tlen) == 0;
}

/* 405, with the methods the path does take. */
static void method_not_allowed(struct response *rs, const char *allow)
{
    char msg[80];
    response_header(rs, "Allow", allow);
    snprintf(msg, sizeof msg, "method not allowed; this path takes %s", allow);
    json_error(rs, 405, msg);
}

/* HEAD is GET without the body (the server leaves the body out). */
static bool is_get(int m)
{
    return m == HTTP_GET || m == HTTP_HEAD;
}

static void node_action(struct admin *a, struct lb_node *n, const char *action, size_t alen,
                        const char *query, size_t qlen, struct response *rs)
{
    struct lb *lb = a->lb;
    if (alen == 5 && memcmp(action, "drain", 5) == 0) {
        n->admin_drain = true;
        if (n->state != NODE_DOWN)
            lb_node_set_state(lb, n, NODE_DRAINING, "admin drain");
    } else if (alen == 4 && memcmp(action, "stop", 4) == 0) {
        n->admin_drain = false;
        lb_node_set_state(lb, n, NODE_STOPPED, "admin stop");
    } else if (alen == 5 && memcmp(action, "start", 5) == 0) {
        n->admin_drain = false;
        n->check_fail = 0;
        lb_node_set_state(lb, n, NODE_UP, "admin start");
    } else if (alen == 6 && memcmp(action, "weight", 6) == 0) {
        char w[16];
        char *end;
        long v = http_param(query, qlen, "w", w, sizeof w) > 0 ? strtol(w, &end, 10) : -1;
        if (v < 0 || v > 256 || *end) {
            json_error(rs, 400, "give ?w=N with N from 0 to 256");
            return;
        }
        unsigned from = n->weight;
        if (pool_set_weight(&lb->pool, n, (unsigned)v))
            trace_note_weight(lb->trace, ev_time(), n->name, (unsigned)v, from, "admin");
        fprintf(stderr, "lb event=node-weight node=%s weight=%ld from=%u\n", n->name, v, from);
    } else {
        json_error(rs, 404, "unknown action: use drain, stop, start or weight");
        return;
    }
    response_header(rs, "Content-Type", "application/json");
    node_json(lb, n, rs->body);
    buf_puts(rs->body, "\n");
}

static void add_node(struct admin *a, const struct request_ctx *rq, const char *query, size_t qlen,
                     struct response *rs)
{
    /* Parameters from the query or a form/JSON-less body: name=..&address=..&weight=.. */
    const char *src = query;
    size_t slen = qlen;
    if (slen == 0 && rq->req->body.len) {
        src = rq->req->body.data;
        slen = rq->req->body.len;
    }
    char name[POOL_NAME_MAX + 1], addr[80], w[16];
    if (http_param(src, slen, "name", name, sizeof name) <= 0 ||
        http_param(src, slen, "address", addr, sizeof addr) <= 0) {
        json_error(rs, 400, "give name=NAME&address=HOST:PORT[&weight=N]");
        return;
    }
    long weight = 1;
    if (http_param(src, slen, "weight", w, sizeof w) > 0) {
        char *end;
        weight = strtol(w, &end, 10);
        if (*end || weight < 0 || weight > 256) {
            json_error(rs, 400, "weight: a number from 0 to 256");
            return;
        }
    }
    struct errbuf err = {{0}};
    if (lb_node_add(a->lb, name, addr, (unsigned)weight, &err) != 0) {
        /* A taken name is a conflict; a bad name or address is a bad request. */
        json_error(rs, pool_find(&a->lb->pool, name) ? 409 : 400, err.msg);
        return;
    }
    rs->status = 201;
    response_header(rs, "Content-Type", "application/json");
    node_json(a->lb, pool_find(&a->lb->pool, name), rs->body);
    buf_puts(rs->body, "\n");
}

static void admin_handle(void *app, const struct request_ctx *rq, struct response *rs)
{
    struct admin *a = app;
    struct lb *lb = a->lb;
    const char *path, *query;
    size_t plen, qlen;
    http_url_split(rq->req, rq->buf, &path, &plen, &query, &qlen);
    int m = rq->req->method;
    response_header(rs, "Cache-Control", "no-store");
    if (!http_request_is_local(rq->req, rq->buf)) {
        /* A browser page on this machine can reach the admin port, but only under its own
         * site's name (DNS rebinding) or with its Origin (a form post). */
        json_error(rs, 403,
                   "the admin API answers requests that name it by IP address or localhost, "
                   "with no foreign Origin");
        return;
    }
    if (!authorized(a, rq)) {
        response_header(rs, "WWW-Authenticate", "Bearer");
        json_error(rs, 401, "a bearer token is required (Authorization: Bearer TOKEN)");
        return;
    }
#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, sizeof(lit) - 1) == 0)
    if (IS("/nodes")) {
        if (is_get(m)) {
            response_header(rs, "Content-Type", "application/json");
            nodes_json(lb, rs->body);
        } else if (m == HTTP_POST) {
            add_node(a, rq, query, qlen, rs);
        } else {
            method_not_allowed(rs, "GET, HEAD, POST");
        }
        return;
    }
    if (plen > 7 && memcmp(path, "/nodes/", 7) == 0) {
        const char *name = path + 7;
        const char *slash = memchr(name, '/', plen - 7);
        size_t nlen = slash ? (size_t)(slash - name) : plen - 7;
        char nbuf[POOL_NAME_MAX + 1];
        if (nlen == 0 || nlen > POOL_NAME_MAX) {
            json_error(rs, 404, "no such node");
            return;
        }
        memcpy(nbuf, name, nlen);
        nbuf[nlen] = '\0';
        struct lb_node *n = pool_find(&lb->pool, nbuf);
        if (n == NULL) {
            json_error(rs, 404, "no such node");
            return;
        }
        if (slash) {
            if (m != HTTP_POST) {
                method_not_allowed(rs, "POST");
                return;
            }
            node_action(a, n, slash + 1, plen - 7 - nlen - 1, query, qlen, rs);
            return;
        }
        if (is_get(m)) {
            response_header(rs, "Content-Type", "application/json");
            node_json(lb, n, rs->body);
            buf_puts(rs->body, "\n");
        } else if (m == HTTP_DELETE) {
            struct errbuf err = {{0}};
            lb_node_remove(lb, nbuf, &err);
            response_header(rs, "Content-Type", "application/json");
            buf_puts(rs->body, "{\"removed\":\"");
            buf_json(rs->body, nbuf, nlen);
            buf_puts(rs->body, "\"}\n");
        } else {
            method_not_allowed(rs, "GET, HEAD, DELETE");
        }
        return;
    }
    /* The rest are read-only: an unknown path is 404 whatever the method, a known one
     * 405 unless GET or HEAD. */
    bool known = IS("/stats") || IS("/metrics") || IS("/sessions") || IS("/matrix") ||
                 IS("/events") || (plen > 10 && memcmp(path, "/sessions/", 10) == 0);
    if (!known) {
        json_error(rs, 404, "unknown path: /nodes, /stats, /metrics, /sessions, /matrix, /events");
        return;
    }
    if (!is_get(m)) {
        method_not_allowed(rs, "GET, HEAD");
        return;
    }
    if (IS("/stats")) {
        response_header(rs, "Content-Type", "application/json");
        stats_json(lb, rs->body);
    } else if (IS("/metrics")) {
        response_header(rs, "Content-Type", "text/plain; version=0.0.4");
        metrics_text(lb, rs->body);
    } else if (IS("/sessions")) {
        response_header(rs, "Content-Type", "application/json");
        trace_json_sessions(lb->trace, rs->body, 200);
    } else if (IS("/matrix")) {
        response_header(rs, "Content-Type", "application/json");
        trace_json_matrix(lb->trace, rs->body);
    } else if (IS("/events")) {
        events(a, rq, query, qlen, rs);
    } else { /* /sessions/ID */
        char id[40];
        size_t ilen = plen - 10;
        if (ilen >= sizeof id) {
            json_error(rs, 404, "no such session");
            return;
        }
        memcpy(id, path + 10, ilen);
        id[ilen] = '\0';
        response_header(rs, "Content-Type", "application/json");
        if (trace_json_session(lb->trace, id, rs->body) != 0) {
            buf_clear(rs->body);
            json_error(rs, 404, "no such session (ids are the 16-hex-digit hashes of /sessions)");
        }
    }
#undef IS
}

int admin_start(struct lb *lb, struct errbuf *err)
{
    struct admin *a = calloc(1, sizeof *a);
    if (a == NULL) {
        errbuf_set(err, "out of memory");
        return -1;
    }
    a->lb = lb;
    ev_init(&a->push, push_cb);
    a->push.data = a;
    struct httpd_opts o = {
        .listen = lb->cfg.admin,
        .limits = {.max_header_bytes = 16384, .max_body_bytes = 65536},
        .header_timeout = lb->cfg.timeout_header, /* as for clients: 408 past it */
        .idle_timeout = 60,
        .handler = admin_handle,
        .app = a,
        .json_errors = true, /* the server's own 400/408/413/431 too */
    };
    lb->admin = httpd_new(lb->loop, &o, err);
    if (lb->admin == NULL) {
        free(a);
        return -1;
    }
    the_admin = a;
    return 0;
}

void admin_stop(struct lb *lb)
{
    struct admin *a = the_admin;
    if (a == NULL)
        return;
    ev_timer_stop(lb->loop, &a->push);
    httpd_free(lb->admin); /* closes followers, which unlink themselves */
    lb->admin = NULL;
    while (a->followers) {
        struct follower *f = a->followers;
        a->followers = f->next;
        free(f);
    }
    free(a);
    the_admin = NULL;
}
