#include "drainwait.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "run.h"
#include "ticks.h"

#define GET_EVERY   1.0 /* seconds between two looks at GET /nodes/NAME while waiting */
#define PRINT_EVERY 5.0 /* seconds between two progress lines when nothing changes */

/* ---- pure parts ------------------------------------------------------------------------ */

static int64_t iso_ticks(json_t *v)
{
    int64_t t;
    const char *s = json_string_value(v);
    return s && ticks_parse_iso(s, &t) == 0 ? t : 0;
}

static unsigned count(json_t *v)
{
    json_int_t i = json_integer_value(v);
    return i > 0 ? (unsigned)i : 0;
}

int drainwait_parse(const char *json, struct drainwait_node *n, struct errbuf *err)
{
    memset(n, 0, sizeof *n);
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    const char *state = json_string_value(json_object_get(j, "state"));
    if (state == NULL) {
        errbuf_set(err, "lb's answer has no node state: %.80s", json);
        json_decref(j);
        return -1;
    }
    const char *reason = json_string_value(json_object_get(j, "reason"));
    snprintf(n->state, sizeof n->state, "%s", state);
    snprintf(n->reason, sizeof n->reason, "%s", reason ? reason : "");
    n->since = iso_ticks(json_object_get(j, "since"));
    n->active = count(json_object_get(j, "active"));
    n->bound = count(json_object_get(j, "bound_connections"));
    n->last_request = iso_ticks(json_object_get(j, "last_request"));
    json_decref(j);
    return 0;
}

enum drainwait_state drainwait_classify(const struct drainwait_node *n)
{
    if (strcmp(n->state, "draining") == 0)
        return DRAINWAIT_DRAINING;
    if (strcmp(n->state, "down") == 0)
        return DRAINWAIT_DOWN;
    if (strcmp(n->state, "stopped") == 0 && strcmp(n->reason, "drained") == 0)
        return DRAINWAIT_DRAINED;
    if (strcmp(n->state, "stopped") == 0 && strcmp(n->reason, "drain timeout") == 0)
        return DRAINWAIT_DRAIN_TIMEOUT;
    return DRAINWAIT_OVERRIDDEN;
}

static double seconds(int64_t ticks)
{
    return ticks > 0 ? (double)ticks / TICKS_PER_SECOND : 0.0;
}

void drainwait_holders(const struct drainwait_node *n, int64_t now, char *out, size_t cap)
{
    int k = snprintf(out, cap, "%u in flight, %u bound connection%s, ", n->active, n->bound,
                     n->bound == 1 ? "" : "s");
    if (k < 0 || (size_t)k >= cap)
        return;
    if (n->last_request > 0 && n->last_request >= n->since)
        snprintf(out + k, cap - (size_t)k, "last request %.1f s ago",
                 seconds(now - n->last_request));
    else
        snprintf(out + k, cap - (size_t)k, "no request since the drain began %.1f s ago",
                 seconds(now - n->since));
}

bool drainwait_is_state_event(const char *data, const char *node)
{
    if (strstr(data, "node-state") == NULL) /* most events are about sessions */
        return false;
    json_t *j = json_loads(data, 0, NULL);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    const char *name = json_string_value(json_object_get(j, "node"));
    bool yes = kind && name && strcmp(kind, "node-state") == 0 && strcmp(name, node) == 0;
    json_decref(j);
    return yes;
}

/* ---- the event stream ------------------------------------------------------------------ */

/* GET /events?follow=1, read line by line; only notes that a node-state event about the
 * node came (the decisions are taken on GET /nodes/NAME, which also covers events missed
 * or replayed from before). */
struct stream {
    const char *node;
    char line[16384];
    size_t len;
    bool too_long; /* the line being read did not fit: skipped */
    bool state_event;
};

static size_t stream_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct stream *s = arg;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c != '\n') {
            if (s->len + 1 < sizeof s->line)
                s->line[s->len++] = c;
            else
                s->too_long = true;
            continue;
        }
        if (s->len && s->line[s->len - 1] == '\r')
            s->len--;
        s->line[s->len] = '\0';
        if (!s->too_long && strncmp(s->line, "data:", 5) == 0 &&
            drainwait_is_state_event(s->line + 5, s->node))
            s->state_event = true;
        s->len = 0;
        s->too_long = false;
    }
    return n;
}

/* ---- the wait -------------------------------------------------------------------------- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* GET /nodes/NAME. Returns 0, 1 when lb no longer has the node, -1 (reported) when lb does
 * not answer or makes no sense. */
static int look(const char *admin, const char *node, struct drainwait_node *n)
{
    char url[RUN_ADDR_MAX + 64];
    snprintf(url, sizeof url, "http://%s/nodes/%s", admin, node);
    long status;
    char *body = NULL;
    struct errbuf err = {{0}};
    int rc = -1;
    if (run_http("GET", url, NULL, &status, &body, &err) != 0)
        fprintf(stderr, "farmctl: lb does not answer: %s\n", err.msg);
    else if (status == 404)
        rc = 1;
    else if (status != 200)
        fprintf(stderr, "farmctl: lb: GET /nodes/%s: HTTP %ld\n", node, status);
    else if (drainwait_parse(body, n, &err) != 0)
        fprintf(stderr, "farmctl: %s\n", err.msg);
    else
        rc = 0;
    free(body);
    return rc;
}

/* The last line, once the node is no longer draining (or down). Returns the exit code. */
static int ended(const char *node, const struct drainwait_node *n, int64_t began, double waited,
                 FILE *out)
{
    double took = began > 0 && n->since >= began ? seconds(n->since - began) : waited;
    switch (drainwait_classify(n)) {
    case DRAINWAIT_DRAINED:
        fprintf(out, "%s: drained (stopped after %.1f s)\n", node, took);
        return CLI_OK;
    case DRAINWAIT_DRAIN_TIMEOUT:
        fprintf(out, "%s: stopped by lb's drain-timeout after %.1f s, before it was drained\n",
                node, took);
        return CLI_OK;
    default:
        fprintf(stderr, "farmctl: %s: %s (%s) before it was drained: someone else %s it\n", node,
                n->state, n->reason,
                strcmp(n->state, "up") == 0        ? "started"
                : strcmp(n->state, "stopped") == 0 ? "stopped"
                                                   : "changed");
        return CLI_OVERRIDDEN;
    }
}

int drainwait_run(const char *admin, const char *node, double timeout, FILE *out)
{
    struct stream s = {.node = node};
    char url[RUN_ADDR_MAX + 32];
    snprintf(url, sizeof url, "http://%s/events?follow=1", admin);
    CURLM *multi = curl_multi_init();
    CURL *follow = curl_easy_init();
    if (multi == NULL || follow == NULL) {
        curl_easy_cleanup(follow);
        curl_multi_cleanup(multi);
        fprintf(stderr, "farmctl: libcurl: cannot start\n");
        return CLI_FINDINGS;
    }
    curl_easy_setopt(follow, CURLOPT_URL, url);
    curl_easy_setopt(follow, CURLOPT_NOPROXY, "*"); /* the farm is on loopback */
    curl_easy_setopt(follow, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(follow, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(follow, CURLOPT_WRITEFUNCTION, stream_write_cb);
    curl_easy_setopt(follow, CURLOPT_WRITEDATA, &s);
    bool following = curl_multi_add_handle(multi, follow) == CURLM_OK;

    double t0 = mono_now(), deadline = timeout > 0 ? t0 + timeout : 0;
    double next_look = t0, last_print = 0;
    int64_t began = 0; /* when lb says the drain began (ticks) */
    struct drainwait_node n, shown;
    memset(&shown, 0, sizeof shown);
    int rc;
    for (;;) {
        int running = 0;
        if (following) {
            curl_multi_perform(multi, &running);
            if (running == 0) { /* lb closed the stream: once-a-second looks go on */
                curl_multi_remove_handle(multi, follow);
                following = false;
            }
        }
        double now = mono_now();
        bool out_of_time = deadline > 0 && now >= deadline;
        if (s.state_event || now >= next_look || out_of_time) {
            s.state_event = false;
            next_look = now + GET_EVERY;
            int r = look(admin, node, &n);
            if (r < 0) {
                rc = CLI_FINDINGS;
                break;
            }
            if (r == 1) {
                fprintf(stderr, "farmctl: %s: removed from lb before it was drained\n", node);
                rc = CLI_OVERRIDDEN;
                break;
            }
            enum drainwait_state st = drainwait_classify(&n);
            if (st == DRAINWAIT_DRAINING && n.since > 0)
                began = n.since;
            if (st != DRAINWAIT_DRAINING && st != DRAINWAIT_DOWN) {
                rc = ended(node, &n, began, now - t0, out);
                break;
            }
            char what[256];
            if (st == DRAINWAIT_DRAINING)
                drainwait_holders(&n, ticks_now(), what, sizeof what);
            else
                snprintf(what, sizeof what, "lb drains it again when it is back (%s)", n.reason);
            if (out_of_time) {
                fprintf(stderr,
                        "farmctl: %s: not drained within --timeout (%.1f s): %s: %s; it stays "
                        "draining\n",
                        node, timeout, n.state, what);
                rc = CLI_TIMEOUT;
                break;
            }
            bool changed = strcmp(n.state, shown.state) != 0 || n.active != shown.active ||
                           n.bound != shown.bound;
            if (changed || now - last_print >= PRINT_EVERY) {
                fprintf(out, "%s: %s: %s\n", node, n.state, what);
                fflush(out);
                shown = n;
                last_print = now;
            }
        }
        double until = next_look;
        if (deadline > 0 && deadline < until)
            until = deadline;
        int wait_ms = (int)((until - mono_now()) * 1000) + 1;
        if (wait_ms > 0)
            curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
    if (following)
        curl_multi_remove_handle(multi, follow);
    curl_easy_cleanup(follow);
    curl_multi_cleanup(multi);
    return rc;
}
