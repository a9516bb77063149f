#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "inifile.h"
#include "ticks.h"

const char options_usage[] =
    "usage: lb --listen ADDR --node NAME=HOST:PORT [--node ...] [options]\n"
    "       lb --config FILE\n"
    "\n"
    "A round-robin reverse proxy that can behave like a Microsoft NLB cluster, and that\n"
    "traces which node issued and which node checked every session cookie.\n"
    "\n"
    "options:\n"
    "  --listen ADDR              client listener, HOST:PORT (port 0: any free port)\n"
    "  --admin ADDR               admin API listener (default 127.0.0.1:0; loopback unless\n"
    "                             --admin-token is given)\n"
    "  --admin-token TOKEN        require 'Authorization: Bearer TOKEN' on the admin API\n"
    "                             (not empty). Here ps shows it to every local user until\n"
    "                             lb has erased it (lb warns): put admin-token in a --config\n"
    "                             file (mode 0600) instead\n"
    "  --node NAME=HOST:PORT      a farm member (repeat)\n"
    "  --weight NAME=N            a member's weight, 0..256 (default 1)\n"
    "  --dispatch request|connection\n"
    "                             per request (default: every request may hop) or per TCP\n"
    "                             connection (as NLB)\n"
    "  --affinity none|single|network|cookie\n"
    "                             NLB affinity (client address+port / address / its /24),\n"
    "                             or lb's own cookie (default none)\n"
    "  --cookie-name NAME         lb's affinity cookie (default FARMLB)\n"
    "  --cookie-idle DUR, --cookie-max DUR   its idle and maximum age (default 30m, 8h)\n"
    "  --health-path PATH         active HTTP check (default /health; '' turns checks off;\n"
    "                             at most 1024 characters)\n"
    "  --health-interval DUR      more than 0 (default 1s)   --health-timeout DUR (1s)\n"
    "  --rise N, --fall N         successes to come up, failures to go down (2, 3)\n"
    "  --no-passive               do not mark nodes down on connect failures and 5xx\n"
    "  --timeout-connect DUR      (2s)  --timeout-header DUR (10s, then 408)\n"
    "  --timeout-server DUR       (30s, then 504)  --timeout-idle DUR (60s)\n"
    "  --retries N                other nodes to try after a failure (default 2)\n"
    "  --drain-quiet DUR          stop a draining node once nothing was in flight, no\n"
    "                             connection bound and no user sent to it for DUR\n"
    "                             (NLB drainstop's end; default 10s, 0: never)\n"
    "  --drain-timeout DUR        stop a draining node after DUR at most (default: never)\n"
    "  --drain-mode MODE          users (default): a draining node keeps its open\n"
    "                             connections and the users bound to it (HAProxy's drain,\n"
    "                             NLB with extended affinity); connections: only its open\n"
    "                             connections (classic NLB drainstop)\n"
    "  --session-cookie NAME      a session cookie to trace (repeat; default .ASPXAUTH and\n"
    "                             ASP.NET_SessionId)\n"
    "  --max-sessions N           sessions tracked, 1..10000000 (LRU; default 20000,\n"
    "                             ~1.2 KB each)\n"
    "  --access-log FILE|-        one line per request\n"
    "  --served-by                add X-Served-By: NODE to answers\n"
    "  --max-header-bytes N       431 past this (default 16384)\n"
    "  --max-body-bytes N         413 past this (default 1048576)\n"
    "  --config FILE              read these settings from an INI file (key = value)\n"
    "  -h, --help                 this text\n"
    "\n"
    "Ready lines on stderr name both listeners (port 0 works). SIGTERM drains and exits 0.\n"
    "See docs/lb.md.\n";

void options_defaults(struct lb_options *o)
{
    memset(o, 0, sizeof *o);
    struct lb_config *c = &o->cfg;
    c->admin = "127.0.0.1:0";
    c->dispatch = DISPATCH_REQUEST;
    c->affinity = AFFINITY_NONE;
    c->health_path = "/health";
    c->health_interval = 1;
    c->health_timeout = 1;
    c->rise = 2;
    c->fall = 3;
    c->timeout_connect = 2;
    c->timeout_header = 10;
    c->timeout_server = 30;
    c->timeout_idle = 60;
    c->drain_quiet = 10;
    c->retries = 2;
    c->affinity_cookie = "FARMLB";
    c->cookie_idle = 30 * 60;
    c->cookie_max = 8 * 3600;
    c->passive = true;
    c->passive_fail = 3;
    c->max_header_bytes = 16384;
    c->max_body_bytes = 1048576;
    c->max_sessions = 20000; /* about 1.2 KB each when full */
    c->max_conns = 100000;
}

static const char *keep(struct lb_options *o, const char *v)
{
    size_t n = strlen(v) + 1;
    if (o->used + n > sizeof o->strings)
        return NULL;
    char *p = o->strings + o->used;
    memcpy(p, v, n);
    o->used += n;
    return p;
}

static int duration(const char *name, const char *v, double *out, struct errbuf *err)
{
    int64_t t;
    if (ticks_parse_duration(v, &t) != 0) {
        errbuf_set(err, "--%s: not a duration: '%s' (e.g. 500ms, 2s, 1m)", name, v);
        return -1;
    }
    *out = (double)t / TICKS_PER_SECOND;
    return 0;
}

static int number_in(const char *name, const char *v, unsigned long long min,
                     unsigned long long max, unsigned long long *out, struct errbuf *err)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v == '\0' || *end || v[0] == '-' || n < min || n > max) {
        errbuf_set(err, "--%s: a number from %llu to %llu, not '%s'", name, min, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int number(const char *name, const char *v, unsigned long long max, unsigned long long *out,
                  struct errbuf *err)
{
    return number_in(name, v, 0, max, out, err);
}

/* A listener address, checked here so that a mistake is named where it was made (the
 * command line, or a config file's line) and for what it is. */
static int address(const char *name, const char *v, struct errbuf *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (httpd_parse_addr(v, &ss, &len) == 0 && (v[0] == '[' || strchr(v, ':') == strrchr(v, ':')))
        return 0;
    const char *port = NULL;
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        port = end && end[1] == ':' ? end + 2 : NULL;
    } else if (strchr(v, ':') != strrchr(v, ':')) {
        errbuf_set(err, "--%s: '%s': write an IPv6 address in brackets, [ADDR]:PORT", name, v);
        return -1;
    } else if (strchr(v, ':')) {
        port = strchr(v, ':') + 1;
    }
    if (port == NULL || *port == '\0') {
        errbuf_set(err, "--%s: '%s' has no port: give HOST:PORT (port 0: any free port)", name, v);
        return -1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 0 || p > 65535 || !(*port >= '0' && *port <= '9')) {
        errbuf_set(err, "--%s: '%s': the port is a number from 0 to 65535", name, v);
        return -1;
    }
    errbuf_set(err,
               "--%s: '%s': not an IP address and port (e.g. 127.0.0.1:0, [::1]:8080,"
               " localhost:0)",
               name, v);
    return -1;
}

/* The path of the health check's request line: "" (no checks) or "/..." of visible
 * characters. */
static int health_path(const char *v, struct errbuf *err)
{
    size_t len = strlen(v);
    if (len > LB_HEALTH_PATH_MAX) {
        errbuf_set(err, "--health-path: at most %d characters (this one has %zu)",
                   LB_HEALTH_PATH_MAX, len);
        return -1;
    }
    if (len > 0 && v[0] != '/') {
        errbuf_set(err, "--health-path: a path starting with '/', or '' for no checks, not '%s'",
                   v);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f) {
            errbuf_set(err, "--health-path: no spaces or control characters (percent-encode"
                            " them)");
            return -1;
        }
    return 0;
}

/* lb's cookie name: an RFC 6265 token, short enough for the headers lb adds. */
static int cookie_name(const char *v, struct errbuf *err)
{
    size_t len = strlen(v);
    bool ok = len > 0 && len <= LB_COOKIE_NAME_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = v[i] > ' ' && v[i] < 0x7f && strchr("()<>@,;:\\\"/[]?={}", v[i]) == NULL;
    if (!ok) {
        errbuf_set(err, "--cookie-name: 1 to %d letters, digits or !#$%%&'*+-.^_`|~, not '%s'",
                   LB_COOKIE_NAME_MAX, v);
        return -1;
    }
    return 0;
}

/* A flag: given alone on the command line (""), or yes/no in a config file. */
static int flag_value(const char *name, const char *v, bool *out, struct errbuf *err)
{
    static const char *const yes[] = {"", "yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    errbuf_set(err, "--%s: yes or no, not '%s'", name, v);
    return -1;
}

int options_set(struct lb_options *o, const char *name, const char *value, struct errbuf *err)
{
    struct lb_config *c = &o->cfg;
    unsigned long long n;
    const char *v = keep(o, value);
    if (v == NULL) {
        errbuf_set(err, "too many settings");
        return -1;
    }
#define IS(s) (strcmp(name, s) == 0)
    if (IS("listen") || IS("admin")) {
        if (address(name, v, err) != 0)
            return -1;
        *(IS("listen") ? &c->listen : &c->admin) = v;
    } else if (IS("admin-token")) {
        if (v[0] == '\0') {
            errbuf_set(err, "--admin-token: empty (an empty token would leave the admin API"
                            " open): give a secret, or leave the option out");
            return -1;
        }
        c->admin_token = v;
    } else if (IS("node")) {
        if (o->n_nodes == OPTIONS_NODES_MAX) {
            errbuf_set(err, "--node: at most %d nodes", OPTIONS_NODES_MAX);
            return -1;
        }
        if (pool_parse_node_arg(v, o->nodes[o->n_nodes].name, sizeof o->nodes[0].name,
                                o->nodes[o->n_nodes].addr, sizeof o->nodes[0].addr, err) != 0)
            return -1;
        o->nodes[o->n_nodes].weight = 1;
        o->n_nodes++;
    } else if (IS("weight")) {
        const char *eq = strchr(v, '=');
        size_t i;
        if (eq == NULL) {
            errbuf_set(err, "--weight: NAME=N, not '%s'", v);
            return -1;
        }
        for (i = 0; i < o->n_nodes; i++)
            if (strlen(o->nodes[i].name) == (size_t)(eq - v) &&
                memcmp(o->nodes[i].name, v, (size_t)(eq - v)) == 0)
                break;
        if (i == o->n_nodes) {
            errbuf_set(err, "--weight: no --node named '%.*s' (give --node first)", (int)(eq - v),
                       v);
            return -1;
        }
        if (number("weight", eq + 1, 256, &n, err) != 0)
            return -1;
        o->nodes[i].weight = (unsigned)n;
    } else if (IS("dispatch")) {
        if (lb_dispatch_from_name(v, &c->dispatch) != 0) {
            errbuf_set(err, "--dispatch: request or connection, not '%s'", v);
            return -1;
        }
    } else if (IS("affinity")) {
        if (lb_affinity_from_name(v, &c->affinity) != 0) {
            errbuf_set(err, "--affinity: none, single, network or cookie, not '%s'", v);
            return -1;
        }
    } else if (IS("cookie-name")) {
        if (cookie_name(v, err) != 0)
            return -1;
        c->affinity_cookie = v;
    } else if (IS("cookie-idle")) {
        return duration(name, v, &c->cookie_idle, err);
    } else if (IS("cookie-max")) {
        return duration(name, v, &c->cookie_max, err);
    } else if (IS("health-path")) {
        if (health_path(v, err) != 0)
            return -1;
        c->health_path = v;
    } else if (IS("health-interval")) {
        double d;
        if (duration(name, v, &d, err) != 0)
            return -1;
        if (d <= 0) {
            errbuf_set(err, "--health-interval: more than 0 (to turn checks off: --health-path"
                            " '')");
            return -1;
        }
        c->health_interval = d;
    } else if (IS("health-timeout")) {
        return duration(name, v, &c->health_timeout, err);
    } else if (IS("rise") || IS("fall")) {
        if (number(name, v, 1000, &n, err) != 0)
            return -1;
        if (n == 0) {
            errbuf_set(err, "--%s: at least 1", name);
            return -1;
        }
        *(IS("rise") ? &c->rise : &c->fall) = (unsigned)n;
    } else if (IS("no-passive")) {
        bool on;
        if (flag_value(name, v, &on, err) != 0)
            return -1;
        c->passive = !on;
    } else if (IS("timeout-connect")) {
        return duration(name, v, &c->timeout_connect, err);
    } else if (IS("timeout-header")) {
        return duration(name, v, &c->timeout_header, err);
    } else if (IS("timeout-server")) {
        return duration(name, v, &c->timeout_server, err);
    } else if (IS("timeout-idle")) {
        return duration(name, v, &c->timeout_idle, err);
    } else if (IS("drain-timeout")) {
        return duration(name, v, &c->drain_timeout, err);
    } else if (IS("drain-quiet")) {
        return duration(name, v, &c->drain_quiet, err);
    } else if (IS("drain-mode")) {
        if (strcmp(v, "users") != 0 && strcmp(v, "connections") != 0) {
            errbuf_set(err, "--drain-mode: users or connections, not '%s'", v);
            return -1;
        }
        c->drain_connections = strcmp(v, "connections") == 0;
    } else if (IS("retries")) {
        if (number(name, v, 16, &n, err) != 0)
            return -1;
        c->retries = (unsigned)n;
    } else if (IS("session-cookie")) {
        if (c->n_session_cookies == LB_COOKIES_MAX) {
            errbuf_set(err, "--session-cookie: at most %d", LB_COOKIES_MAX);
            return -1;
        }
        c->session_cookies[c->n_session_cookies++] = v;
    } else if (IS("max-sessions")) {
        if (number_in(name, v, 1, OPTIONS_SESSIONS_MAX, &n, err) != 0)
            return -1;
        c->max_sessions = (size_t)n;
    } else if (IS("access-log")) {
        c->access_log = v;
    } else if (IS("served-by")) {
        if (flag_value(name, v, &c->served_by, err) != 0)
            return -1;
    } else if (IS("max-header-bytes")) {
        if (number(name, v, 1 << 20, &n, err) != 0)
            return -1;
        c->max_header_bytes = (size_t)n;
    } else if (IS("max-body-bytes")) {
        if (number(name, v, 64u << 20, &n, err) != 0)
            return -1;
        c->max_body_bytes = (size_t)n;
    } else {
        errbuf_set(err, "unknown setting '%s' (see --help)", name);
        return -1;
    }
#undef IS
    return 0;
}

static int config_pair(void *user, const char *name, const char *value, int line,
                       struct errbuf *err)
{
    struct lb_options *o = user;
    (void)line;
    if (strcmp(name, "config") == 0) {
        errbuf_set(err, "config files do not nest");
        return -1;
    }
    return options_set(o, name, value, err) == 0 ? 0 : -1;
}

/* A config file past this is not one. */
#define CONFIG_MAX_BYTES (1u << 20)

/* inih parses one line at a time (inifile), so that every error can name its line. Sections
 * are allowed and ignored. */
static int load_config(struct lb_options *o, const char *path, struct errbuf *err)
{
    static const struct inifile_handler handler = {.pair = config_pair};
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        errbuf_set(err, "%s: cannot read", path);
        return -1;
    }
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, f) : 0;
    int rc = -1;
    if (text == NULL)
        errbuf_set(err, "%s: out of memory", path);
    else if (ferror(f))
        errbuf_set(err, "%s: cannot read", path);
    else if (len > CONFIG_MAX_BYTES)
        errbuf_set(err, "%s: too large for a config file", path);
    else
        rc = inifile_parse(text, len, path, &handler, o, err);
    free(text);
    fclose(f);
    return rc;
}

int options_parse(struct lb_options *o, int argc, char **argv, struct errbuf *err)
{
    static const char *const names[] = {
        "listen",           "admin",          "admin-token",    "node",
        "weight",           "dispatch",       "affinity",       "cookie-name",
        "cookie-idle",      "cookie-max",     "health-path",    "health-interval",
        "health-timeout",   "rise",           "fall",           "no-passive",
        "timeout-connect",  "timeout-header", "timeout-server", "timeout-idle",
        "drain-timeout",    "drain-quiet",    "drain-mode",     "retries",
        "session-cookie",   "max-sessions",   "access-log",     "served-by",
        "max-header-bytes", "max-body-bytes", "config",
    };
    enum { N = sizeof names / sizeof names[0] };
    struct option longopts[N + 2];
    for (int i = 0; i < N; i++) {
        bool flag = strcmp(names[i], "no-passive") == 0 || strcmp(names[i], "served-by") == 0;
        longopts[i] =
            (struct option){names[i], flag ? no_argument : required_argument, NULL, 1000 + i};
    }
    longopts[N] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[N + 1] = (struct option){NULL, 0, NULL, 0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(options_usage, stdout);
            return 1;
        }
        if (opt < 1000 || opt >= 1000 + N) {
            errbuf_set(err, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            return -1;
        }
        const char *name = names[opt - 1000];
        if (strcmp(name, "config") == 0) {
            if (load_config(o, optarg, err) != 0)
                return -1;
            continue;
        }
        int set = options_set(o, name, optarg ? optarg : "", err);
        if (strcmp(name, "admin-token") == 0 && optarg) {
            /* Copied by options_set: erase it where ps reads it (/proc/PID/cmdline is served
             * from this memory). ps showed it from exec until here; main warns. */
            memset(optarg, 0, strlen(optarg));
            o->admin_token_on_argv = set == 0;
        }
        if (set != 0)
            return -1;
    }
    if (optind < argc) {
        errbuf_set(err, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (o->cfg.listen == NULL) {
        errbuf_set(err, "--listen ADDR is required (e.g. --listen 127.0.0.1:0)");
        return -1;
    }
    if (o->cfg.n_session_cookies == 0) {
        o->cfg.session_cookies[0] = ".ASPXAUTH";
        o->cfg.session_cookies[1] = "ASP.NET_SessionId";
        o->cfg.n_session_cookies = 2;
    }
    return 0;
}
