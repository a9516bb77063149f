#include "stateserver.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statestore.h"

#define STATESERVER_DEFAULT_TIMEOUT_S (20u * 60) /* ASP.NET's default session timeout */
#define STATESERVER_MAX_ADVANCE_S     (10.0 * 366 * 24 * 3600)
#define STATESERVER_MAX_HEADER_BYTES  8192

struct stateserver {
    struct ev_loop *loop;
    struct httpd *srv;
    struct statestore *store;
    ev_timer sweep;
    bool sweep_started;
    double offset; /* seconds added by /_farm/advance */
    unsigned long long requests;
};

static double stateserver_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double stateserver_now(const struct stateserver *ss)
{
    return stateserver_monotonic() + ss->offset;
}

static void stateserver_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct stateserver *ss = w->data;
    statestore_expire(ss->store, stateserver_now(ss));
}

struct stateserver *stateserver_new(struct ev_loop *loop, const struct stateserver_opts *o,
                                    struct errbuf *err)
{
    struct stateserver *ss = calloc(1, sizeof *ss);
    if (ss == NULL) {
        errbuf_set(err, "out of memory");
        goto fail;
    }
    ss->loop = loop;
    ss->store = statestore_new(o->max_items, o->max_bytes);
    if (ss->store == NULL) {
        errbuf_set(err, "out of memory");
        goto fail;
    }
    struct httpd_opts so = {
        .listen = o->listen,
        .limits = {.max_header_bytes = STATESERVER_MAX_HEADER_BYTES,
                   .max_body_bytes = STATESTORE_MAX_ITEM_BYTES},
        .header_timeout = o->header_timeout > 0 ? o->header_timeout : 10.0,
        .idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 120.0,
        .handler = stateserver_handle,
        .app = ss,
    };
    ss->srv = httpd_new(loop, &so, err);
    if (ss->srv == NULL)
        goto fail;
    double every = o->sweep_interval > 0 ? o->sweep_interval : 1.0;
    ev_timer_init(&ss->sweep, stateserver_sweep_cb, every, every);
    ss->sweep.data = ss;
    ev_timer_start(loop, &ss->sweep);
    ev_unref(loop); /* housekeeping only: must not keep a draining loop alive */
    ss->sweep_started = true;
    return ss;
fail:
    stateserver_free(ss);
    return NULL;
}

void stateserver_free(struct stateserver *ss)
{
    if (ss == NULL)
        return;
    if (ss->sweep_started) {
        ev_ref(ss->loop); /* undo the ev_unref before stopping, as libev asks */
        ev_timer_stop(ss->loop, &ss->sweep);
    }
    httpd_free(ss->srv);
    statestore_free(ss->store);
    free(ss);
}

struct httpd *stateserver_server(struct stateserver *ss)
{
    return ss->srv;
}

/* A short text/plain answer. */
static void stateserver_text(struct response *rs, int status, const char *msg)
{
    rs->status = status;
    response_header(rs, "Content-Type", "text/plain; charset=utf-8");
    buf_puts(rs->body, msg);
    buf_puts(rs->body, "\n");
}

static void stateserver_method_not_allowed(struct response *rs, const char *allow)
{
    response_header(rs, "Allow", allow);
    stateserver_text(rs, 405, "method not allowed");
}

static bool stateserver_path_is(const char *path, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(path, want, len) == 0;
}

/* Digits only, 1..max; -1 otherwise. */
static long stateserver_parse_uint(const char *s, size_t len, unsigned long max)
{
    if (len == 0 || len > 12)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > max)
        return -1;
    return (long)v;
}

/* The item's timeout from X-Timeout-Seconds, else Timeout (minutes), else the default.
 * Returns 0 on a malformed or out-of-range header. */
static unsigned stateserver_timeout(const struct request_ctx *rq)
{
    size_t len;
    const char *v = http_header_get(rq->req, rq->buf, "X-Timeout-Seconds", &len);
    if (v) {
        long s = stateserver_parse_uint(v, len, STATESTORE_MAX_TIMEOUT_S);
        return s > 0 ? (unsigned)s : 0;
    }
    v = http_header_get(rq->req, rq->buf, "Timeout", &len);
    if (v) {
        long m = stateserver_parse_uint(v, len, STATESTORE_MAX_TIMEOUT_S / 60);
        return m > 0 ? (unsigned)m * 60 : 0;
    }
    return STATESERVER_DEFAULT_TIMEOUT_S;
}

static void stateserver_store_error(struct response *rs, enum statestore_status st)
{
    switch (st) {
    case STATESTORE_OK:
        stateserver_text(rs, 200, "ok");
        return;
    case STATESTORE_NOT_FOUND:
        stateserver_text(rs, 404, "session item not found");
        return;
    case STATESTORE_FULL:
        stateserver_text(rs, 503, "state store full");
        return;
    case STATESTORE_INVALID:
        stateserver_text(rs, 400, "invalid key or timeout");
        return;
    case STATESTORE_NOMEM:
        stateserver_text(rs, 503, "out of memory");
        return;
    }
    stateserver_text(rs, 500, "internal error");
}

/* GET/PUT/DELETE /<appid>(<sid>). path ends with ')' and holds a '('. */
static void stateserver_item(struct stateserver *ss, const struct request_ctx *rq,
                             struct response *rs, const char *path, size_t path_len)
{
    const char *paren = memchr(path, '(', path_len);
    size_t app_len = (size_t)(paren - path);
    const char *sid = paren + 1;
    size_t sid_len = path_len - app_len - 2;
    char key[STATESTORE_MAX_KEY + 1];
    if (!statestore_appid_is_valid(path, app_len)) {
        stateserver_text(rs, 400, "invalid application id");
        return;
    }
    if (statestore_key(path, app_len, sid, sid_len, key, sizeof key) < 0) {
        stateserver_text(rs, 400, "invalid session id");
        return;
    }
    double now = stateserver_now(ss);
    int method = rq->req->method;
    if (method == HTTP_GET || method == HTTP_HEAD) {
        const void *data;
        size_t len;
        enum statestore_status st = statestore_get(ss->store, now, key, &data, &len);
        if (st != STATESTORE_OK) {
            stateserver_store_error(rs, st);
            return;
        }
        response_header(rs, "Content-Type", "application/octet-stream");
        if (buf_append(rs->body, data, len) != 0) {
            buf_clear(rs->head);
            stateserver_text(rs, 503, "out of memory");
        }
        return;
    }
    if (method == HTTP_PUT) {
        unsigned timeout_s = stateserver_timeout(rq);
        if (timeout_s == 0) {
            stateserver_text(rs, 400, "invalid Timeout or X-Timeout-Seconds header");
            return;
        }
        const struct buf *body = &rq->req->body;
        if (body->len > STATESTORE_MAX_ITEM_BYTES) {
            stateserver_text(rs, 413, "session item too large");
            return;
        }
        stateserver_store_error(
            rs, statestore_put(ss->store, now, key, body->data, body->len, timeout_s));
        return;
    }
    if (method == HTTP_DELETE) {
        stateserver_store_error(rs, statestore_del(ss->store, now, key));
        return;
    }
    stateserver_method_not_allowed(rs, "GET, HEAD, PUT, DELETE");
}

struct stateserver_json {
    struct buf *out;
    bool first;
};

static void stateserver_json_app(void *arg, const char *app, size_t app_len, size_t count)
{
    struct stateserver_json *j = arg;
    buf_puts(j->out, j->first ? "\"" : ",\"");
    buf_json(j->out, app, app_len);
    buf_printf(j->out, "\":%zu", count);
    j->first = false;
}

static void stateserver_info(struct stateserver *ss, struct response *rs)
{
    double now = stateserver_now(ss);
    statestore_expire(ss->store, now);
    struct buf *b = rs->body;
    buf_printf(b, "{\"role\":\"state-server\",\"sessions\":%zu,\"apps\":{",
               statestore_count(ss->store));
    struct stateserver_json j = {.out = b, .first = true};
    if (statestore_app_counts(ss->store, now, stateserver_json_app, &j) != 0) {
        buf_clear(b);
        stateserver_text(rs, 503, "out of memory");
        return;
    }
    buf_printf(b, "},\"requests\":%llu,\"clock_offset\":%.3f}\n", ss->requests, ss->offset);
    response_header(rs, "Content-Type", "application/json");
}

static void stateserver_advance(struct stateserver *ss, const struct request_ctx *rq,
                                struct response *rs, const char *query, size_t query_len)
{
    if (!rq->peer_is_loopback) {
        stateserver_text(rs, 403, "clock control is for loopback peers only");
        return;
    }
    char text[32];
    char *end = NULL;
    double secs = -1;
    if (http_param(query, query_len, "seconds", text, sizeof text) > 0)
        secs = strtod(text, &end);
    if (end == NULL || *end != '\0' || !isfinite(secs) || secs < 0 ||
        secs > STATESERVER_MAX_ADVANCE_S) {
        stateserver_text(rs, 400, "expected ?seconds=<non-negative number>");
        return;
    }
    ss->offset += secs;
    statestore_expire(ss->store, stateserver_now(ss));
    response_header(rs, "Content-Type", "application/json");
    buf_printf(rs->body, "{\"advanced\":%.3f,\"clock_offset\":%.3f}\n", secs, ss->offset);
}

void stateserver_handle(void *app, const struct request_ctx *rq, struct response *rs)
{
    struct stateserver *ss = app;
    ss->requests++;
    const char *path, *query;
    size_t path_len, query_len;
    http_url_split(rq->req, rq->buf, &path, &path_len, &query, &query_len);
    int method = rq->req->method;
    bool is_get = method == HTTP_GET || method == HTTP_HEAD;

    if (stateserver_path_is(path, path_len, "/health")) {
        if (!is_get) {
            stateserver_method_not_allowed(rs, "GET, HEAD");
            return;
        }
        response_header(rs, "Content-Type", "text/plain; charset=utf-8");
        buf_puts(rs->body, "ok");
        return;
    }
    if (stateserver_path_is(path, path_len, "/_farm/info")) {
        if (!is_get) {
            stateserver_method_not_allowed(rs, "GET, HEAD");
            return;
        }
        stateserver_info(ss, rs);
        return;
    }
    if (stateserver_path_is(path, path_len, "/_farm/advance")) {
        if (method != HTTP_POST) {
            stateserver_method_not_allowed(rs, "POST");
            return;
        }
        stateserver_advance(ss, rq, rs, query, query_len);
        return;
    }
    if (path_len >= 3 && path[0] == '/' && path[path_len - 1] == ')' &&
        memchr(path, '(', path_len) != NULL) {
        stateserver_item(ss, rq, rs, path, path_len);
        return;
    }
    stateserver_text(rs, 404, "no such resource; items live at /<appid>(<sid>)");
}
