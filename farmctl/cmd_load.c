/* farmctl load: a population of simulated users over libcurl's multi interface. Each user is
 * one easy handle, reused for all its requests so its cookie engine keeps its cookies, and one
 * share handle that holds its own connection cache, so a user keeps its own keep-alive
 * connection as a browser would (lb's per-connection dispatch and address affinity see one
 * client per user). Users wait in one FIFO queue: the front is the next due, because every
 * user re-enters it with the same think time. The bookkeeping is in load.c. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "fdlimit.h"
#include "load.h"
#include "runinfo.h"
#include "ticks.h"

static const char load_usage[] =
    "usage: farmctl load --users N (--duration D | --requests M) [--concurrency C]\n"
    "                    [--think MS] [--source-ips K] [--timeout D] [--json]\n"
    "                    [--run-dir DIR | --url URL]\n"
    "\n"
    "Drive N simulated users through the running farm's load balancer. Each user logs in,\n"
    "then repeats: GET /whoami, POST /cart/add?item=itemK, GET /cart, with its own cookies\n"
    "and its own keep-alive connection. From the X-Farm-* headers of every answer, follow\n"
    "each user's continuity: a ticket no longer valid is a logout (the user logs in again),\n"
    "a session lost or a cart missing items is a lost cart; note on which hop (from -> to\n"
    "node) and why. Report requests per second, latency percentiles, errors, logged-out\n"
    "users, lost carts, hops and lost hops by node, and a verdict naming where sessions break.\n"
    "\n"
    "options:\n"
    "  --users N          simulated users (1-100000)\n"
    "  --duration D       run this long (500ms, 30s, 2m), then let requests in flight finish\n"
    "  --requests M       send M requests in all, logins included\n"
    "  --concurrency C    at most C requests in flight (default N)\n"
    "  --think MS         each user waits MS milliseconds between its requests (default 0)\n"
    "  --source-ips K     spread users over 127.0.0.1 .. 127.0.0.K (default 1): lb's\n"
    "                     affinity single sees K clients (network sees one /24)\n"
    "  --timeout D        give up on a request after D (default 10s): a transport error;\n"
    "                     a user whose request got no answer waits 50 ms at least\n"
    "  --json             the report as one JSON object\n"
    "  --run-dir DIR      the farm's run directory (default $FARM_RUN_DIR, else ./.farm; not\n"
    "                     empty)\n"
    "  --url URL          the farm's URL, instead of the run directory's lb.url\n"
    "\n"
    "Exit status: 0 the load ran (even if sessions were lost: the report says so), 1 over 1%\n"
    "of the requests failed in transport, 2 usage or no farm running.\n";

#define LOAD_BODY_MAX    (256u * 1024)
#define LOAD_RETRY_PAUSE 0.05 /* seconds */

struct vuser {
    struct load_user st;
    CURL *easy;
    CURLSH *share;
    char name[24];
    char iface[32];
    enum load_step step; /* the request in flight */
    double due;          /* monotonic seconds: when the user may send its next request */
    char *body;
    size_t body_len, body_cap;
    bool body_over; /* the body was longer than LOAD_BODY_MAX */
};

struct run {
    CURLM *multi;
    struct vuser *users;
    unsigned n_users;
    unsigned *queue; /* ring of user indexes waiting to send, in due order */
    size_t q_head, q_len;
    unsigned in_flight, concurrency;
    uint64_t started, max_requests;
    double t0, deadline; /* deadline 0: request-bound */
    long think_ms, timeout_ms;
    const char *base_url;
    struct load_stats *stats;
    bool out_of_memory;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t vuser_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct vuser *u = userdata;
    size_t n = size * nmemb;
    size_t take = n;
    if (u->body_len + take > LOAD_BODY_MAX) {
        take = LOAD_BODY_MAX - u->body_len;
        u->body_over = true;
    }
    if (u->body_len + take + 1 > u->body_cap) {
        size_t cap = u->body_cap ? u->body_cap : 1024;
        while (cap < u->body_len + take + 1)
            cap *= 2;
        char *p = realloc(u->body, cap);
        if (p == NULL)
            return 0; /* CURLE_WRITE_ERROR */
        u->body = p;
        u->body_cap = cap;
    }
    memcpy(u->body + u->body_len, ptr, take);
    u->body_len += take;
    u->body[u->body_len] = '\0';
    return n;
}

static int vuser_init(struct vuser *u, unsigned id, unsigned source_ips, long timeout_ms)
{
    memset(u, 0, sizeof *u);
    load_user_init(&u->st, id);
    snprintf(u->name, sizeof u->name, "user%u", id);
    u->easy = curl_easy_init();
    u->share = curl_share_init();
    if (u->easy == NULL || u->share == NULL)
        return -1;
    /* The share holds this user's connection cache only; cookies stay in the easy handle. */
    if (curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)
        return -1;
    curl_easy_setopt(u->easy, CURLOPT_SHARE, u->share);
    curl_easy_setopt(u->easy, CURLOPT_COOKIEFILE, ""); /* the cookie engine, in memory */
    curl_easy_setopt(u->easy, CURLOPT_WRITEFUNCTION, vuser_write_cb);
    curl_easy_setopt(u->easy, CURLOPT_WRITEDATA, u);
    curl_easy_setopt(u->easy, CURLOPT_PRIVATE, u);
    curl_easy_setopt(u->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(u->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(u->easy, CURLOPT_USERAGENT, "farmctl-load/0.1");
    if (source_ips > 1) {
        snprintf(u->iface, sizeof u->iface, "host!127.0.0.%u", (id - 1) % source_ips + 1);
        curl_easy_setopt(u->easy, CURLOPT_INTERFACE, u->iface);
    }
    return 0;
}

static void vuser_cleanup(struct vuser *u, CURLM *multi)
{
    if (u->easy != NULL) {
        if (multi != NULL)
            curl_multi_remove_handle(multi, u->easy); /* not added: a harmless error */
        curl_easy_cleanup(u->easy);
        u->easy = NULL;
    }
    if (u->share != NULL) {
        curl_share_cleanup(u->share);
        u->share = NULL;
    }
    free(u->body);
    u->body = NULL;
}

static void queue_push(struct run *r, unsigned idx)
{
    r->queue[(r->q_head + r->q_len) % r->n_users] = idx;
    r->q_len++;
}

static unsigned queue_pop(struct run *r)
{
    unsigned idx = r->queue[r->q_head];
    r->q_head = (r->q_head + 1) % r->n_users;
    r->q_len--;
    return idx;
}

static bool may_start(const struct run *r, double now)
{
    if (r->max_requests > 0)
        return r->started < r->max_requests;
    return now < r->deadline;
}

/* Send the user's next request. Returns 0, or -1 when curl refused it (out of memory). */
static int vuser_send(struct run *r, struct vuser *u)
{
    char path[128], url[4096];
    if (u->st.start_over) {
        curl_easy_setopt(u->easy, CURLOPT_COOKIELIST, "ALL");
        load_user_start_over(&u->st);
    }
    if (load_step_path(&u->st, u->name, path, sizeof path) != 0 ||
        runinfo_url(r->base_url, path, url, sizeof url) != 0)
        return -1;
    u->step = u->st.next;
    u->body_len = 0;
    u->body_over = false;
    curl_easy_setopt(u->easy, CURLOPT_URL, url);
    if (load_step_is_post(u->step)) {
        curl_easy_setopt(u->easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(u->easy, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(u->easy, CURLOPT_POST, 1L);
    } else {
        curl_easy_setopt(u->easy, CURLOPT_HTTPGET, 1L);
    }
    if (curl_multi_add_handle(r->multi, u->easy) != CURLM_OK)
        return -1;
    r->in_flight++;
    r->started++;
    return 0;
}

static const char *header(CURL *easy, const char *name, char *out, size_t cap)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL)
        return NULL;
    snprintf(out, cap, "%s", h->value);
    return out;
}

/* The length of the "cart" array in a JSON body, -1 when there is none. */
static long cart_length(const struct vuser *u)
{
    if (u->body_len == 0 || u->body_over)
        return -1;
    json_t *j = json_loadb(u->body, u->body_len, 0, NULL);
    json_t *cart = json_object_get(j, "cart");
    long n = json_is_array(cart) ? (long)json_array_size(cart) : -1;
    json_decref(j);
    return n;
}

static void vuser_done(struct run *r, struct vuser *u, CURLcode cc, double now)
{
    char node[LOAD_NODE_NAME_MAX + 8], ticket[32], session[32];
    long status = 0;
    curl_off_t total_us = 0;
    curl_easy_getinfo(u->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    struct load_answer a = {
        .step = u->step,
        .cart_items = -1,
        .at = now - r->t0,
        .latency_us = total_us > UINT32_MAX ? UINT32_MAX : (uint32_t)total_us,
    };
    if (cc == CURLE_OK) {
        curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &status);
        a.status = (int)status;
        a.node = header(u->easy, "X-Farm-Node", node, sizeof node);
        a.ticket = header(u->easy, "X-Farm-Ticket", ticket, sizeof ticket);
        a.session = header(u->easy, "X-Farm-Session", session, sizeof session);
        if (status >= 200 && status < 300 &&
            (u->step == LOAD_STEP_CART || u->step == LOAD_STEP_ADD))
            a.cart_items = cart_length(u);
    } else {
        a.error = curl_easy_strerror(cc);
    }
    curl_multi_remove_handle(r->multi, u->easy);
    r->in_flight--;
    if (load_observe(r->stats, &u->st, &a) != 0)
        r->out_of_memory = true;
    /* After a transport error the user pauses at least LOAD_RETRY_PAUSE: a farm that is down
     * is not hammered in a tight loop, and the error count stays a count of attempts users
     * would make. */
    double pause = (double)r->think_ms / 1000.0;
    if (cc != CURLE_OK && pause < LOAD_RETRY_PAUSE)
        pause = LOAD_RETRY_PAUSE;
    u->due = now + pause;
    queue_push(r, (unsigned)(u - r->users));
}

static int run_load(struct run *r)
{
    r->t0 = mono_now();
    for (unsigned i = 0; i < r->n_users; i++) {
        r->users[i].due = r->t0;
        queue_push(r, i);
    }
    for (;;) {
        double now = mono_now();
        while (r->q_len > 0 && r->in_flight < r->concurrency && may_start(r, now) &&
               r->users[r->queue[r->q_head]].due <= now) {
            struct vuser *u = &r->users[queue_pop(r)];
            if (vuser_send(r, u) != 0)
                return cli_error("libcurl refused a request (out of memory?)");
        }
        if (r->in_flight == 0 && (!may_start(r, now) || r->q_len == 0))
            break;
        int running = 0;
        curl_multi_perform(r->multi, &running);
        CURLMsg *msg;
        int left;
        bool finished = false;
        now = mono_now();
        while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct vuser *u = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&u);
            vuser_done(r, u, msg->data.result, now);
            finished = true;
        }
        if (finished)
            continue; /* users may be due at once (no think time): send before waiting */
        /* Wait for sockets, curl's own timers, or the next user's due time. */
        int wait_ms = 1000;
        if (r->q_len > 0 && r->in_flight < r->concurrency && may_start(r, now)) {
            double d = r->users[r->queue[r->q_head]].due - now;
            wait_ms = d <= 0 ? 0 : (int)(d * 1000.0) + 1;
        }
        if (r->max_requests == 0 && may_start(r, now)) {
            double d = r->deadline - now;
            int dl = d <= 0 ? 0 : (int)(d * 1000.0) + 1;
            if (dl < wait_ms)
                wait_ms = dl;
        }
        if (wait_ms > 0 || r->in_flight > 0)
            curl_multi_poll(r->multi, NULL, 0, wait_ms, NULL);
    }
    return 0;
}

static int parse_count(const char *opt, const char *s, unsigned long min, unsigned long max,
                       unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return cli_error("%s: a whole number from %lu to %lu, not '%s'", opt, min, max, s);
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, double *out)
{
    int64_t ticks;
    if (ticks_parse_duration(s, &ticks) != 0 || ticks <= 0)
        return cli_error("%s: a duration such as 500ms, 30s or 2m, not '%s'", opt, s);
    *out = (double)ticks / 1e7;
    return 0;
}

int cmd_load(int argc, char **argv)
{
    enum {
        O_USERS = 1,
        O_DURATION,
        O_REQUESTS,
        O_CONCURRENCY,
        O_THINK,
        O_SOURCE_IPS,
        O_TIMEOUT,
        O_JSON,
        O_RUN_DIR,
        O_URL,
        O_HELP
    };
    static const struct option longopts[] = {
        {"users", required_argument, NULL, O_USERS},
        {"duration", required_argument, NULL, O_DURATION},
        {"requests", required_argument, NULL, O_REQUESTS},
        {"concurrency", required_argument, NULL, O_CONCURRENCY},
        {"think", required_argument, NULL, O_THINK},
        {"source-ips", required_argument, NULL, O_SOURCE_IPS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"json", no_argument, NULL, O_JSON},
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"url", required_argument, NULL, O_URL},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    unsigned long users = 0, requests = 0, concurrency = 0, think = 0, source_ips = 1;
    double duration = 0, timeout = 10;
    bool as_json = false;
    const char *run_dir = NULL, *url_opt = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case O_USERS:
            bad = parse_count("--users", optarg, 1, 100000, &users);
            break;
        case O_DURATION:
            bad = parse_seconds("--duration", optarg, &duration);
            break;
        case O_REQUESTS:
            bad = parse_count("--requests", optarg, 1, 1000000000UL, &requests);
            break;
        case O_CONCURRENCY:
            bad = parse_count("--concurrency", optarg, 1, 100000, &concurrency);
            break;
        case O_THINK:
            bad = parse_count("--think", optarg, 0, 600000, &think);
            break;
        case O_SOURCE_IPS:
            bad = parse_count("--source-ips", optarg, 1, 254, &source_ips);
            break;
        case O_TIMEOUT:
            bad = parse_seconds("--timeout", optarg, &timeout);
            break;
        case O_JSON:
            as_json = true;
            break;
        case O_RUN_DIR:
            run_dir = optarg;
            break;
        case O_URL:
            url_opt = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(load_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl load --help'");
        }
        if (bad)
            return CLI_USAGE;
    }
    if (optind < argc)
        return cli_error("unexpected argument '%s' (see --help)", argv[optind]);
    if (users == 0)
        return cli_error("give --users N (see --help)");
    if ((duration > 0) == (requests > 0))
        return cli_error("give one of --duration D and --requests M (see --help)");
    if (url_opt != NULL && run_dir != NULL)
        return cli_error("give --url or --run-dir, not both");
    if (url_opt != NULL && strncmp(url_opt, "http://", 7) != 0)
        return cli_error("--url: an http:// URL, not '%s'", url_opt);
    if (concurrency == 0 || concurrency > users)
        concurrency = users;

    struct runinfo ri = {0};
    const char *base_url = url_opt;
    if (base_url == NULL) {
        struct errbuf err = {{0}};
        const char *dir = runinfo_dir(run_dir, &err);
        if (dir == NULL || runinfo_load(&ri, dir, &err) != 0)
            return cli_error("%s", err.msg);
        base_url = ri.lb_url;
    }
    fd_limit_raise(); /* one connection per user */

    int rc = CLI_USAGE;
    struct load_stats *stats = calloc(1, sizeof *stats);
    struct run r = {
        .n_users = (unsigned)users,
        .concurrency = (unsigned)concurrency,
        .max_requests = requests,
        .think_ms = (long)think,
        .timeout_ms = (long)(timeout * 1000.0),
        .base_url = base_url,
        .stats = stats,
    };
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(stats);
        runinfo_cleanup(&ri);
        return cli_error("libcurl failed to initialise");
    }
    r.users = calloc(users, sizeof *r.users);
    r.queue = calloc(users, sizeof *r.queue);
    r.multi = curl_multi_init();
    if (stats == NULL || r.users == NULL || r.queue == NULL || r.multi == NULL) {
        cli_error("out of memory");
        goto out;
    }
    load_stats_init(stats);
    /* Keep every user's connection: the caches live in the shares, but the multi must not
     * close what it thinks are surplus connections either. */
    curl_multi_setopt(r.multi, CURLMOPT_MAXCONNECTS, (long)users + 16);
    for (unsigned i = 0; i < r.n_users; i++)
        if (vuser_init(&r.users[i], i + 1, (unsigned)source_ips, r.timeout_ms) != 0) {
            cli_error("out of memory making %lu users", users);
            goto out;
        }
    if (duration > 0)
        r.deadline = mono_now() + duration;
    if (run_load(&r) != 0)
        goto out;
    double elapsed = stats->last_at > 0 ? stats->last_at : mono_now() - r.t0;
    if (r.out_of_memory)
        cli_error("out of memory: the report misses some answers");
    load_finish(stats);

    struct load_config cfg = {
        .users = (unsigned)users,
        .concurrency = (unsigned)concurrency,
        .think_ms = (unsigned)think,
        .source_ips = (unsigned)source_ips,
        .max_requests = requests,
        .duration_s = duration,
        .url = base_url,
    };
    if (as_json) {
        json_t *o = load_report_json(stats, &cfg, elapsed);
        char *s = o != NULL ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
        if (s != NULL)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        load_report_text(stats, &cfg, elapsed, stdout);
    }
    rc = stats->transport_errors * 100 > stats->requests ? CLI_FINDINGS : CLI_OK;
out:
    if (r.users != NULL)
        for (unsigned i = 0; i < r.n_users; i++)
            vuser_cleanup(&r.users[i], r.multi);
    if (r.multi != NULL)
        curl_multi_cleanup(r.multi);
    curl_global_cleanup();
    free(r.users);
    free(r.queue);
    if (stats != NULL)
        load_stats_cleanup(stats);
    free(stats);
    runinfo_cleanup(&ri);
    return rc;
}
