/* sim-node: a simulated ASP.NET web-farm node, or (--state-server) the simulated ASP.NET
 * State Service. Parse argv, build the node, run the loop, tear down. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fdlimit.h"
#include "node.h"
#include "stateserver.h"
#include "ticks.h"

static const char usage[] =
    "usage: sim-node --name NAME --listen ADDR --machine-key FILE [options]\n"
    "       sim-node --state-server --listen ADDR\n"
    "\n"
    "A simulated ASP.NET web-farm node: logs users in with forms-authentication tickets,\n"
    "round-trips ViewState and keeps session state, protected with FILE's <machineKey>\n"
    "exactly as ASP.NET does, and says on every answer (X-Farm-* headers) whether it could\n"
    "validate what the browser sent. With --state-server it is the session state server.\n"
    "\n"
    "options:\n"
    "  --name NAME              node name, shown in X-Farm-Node (default node)\n"
    "  --listen ADDR            HOST:PORT to listen on; port 0 picks a free one (the ready\n"
    "                           line on stderr names it)\n"
    "  --machine-key FILE       XML file with the <machineKey> (web.config, machine.config\n"
    "                           or a bare element); SIGHUP re-reads it\n"
    "  --app-path PATH          IIS application path (default /LM/W3SVC/1/ROOT): IsolateApps\n"
    "                           keys and the state-server application id derive from it\n"
    "  --session MODE           off (default), inproc, or stateserver=HOST:PORT\n"
    "  --session-timeout DUR    session timeout (default 20m)\n"
    "  --ticket-timeout DUR     forms ticket lifetime (default 30m)\n"
    "  --sliding                renew tickets past half their life (slidingExpiration)\n"
    "  --cookie-name NAME       forms cookie name (default .ASPXAUTH)\n"
    "  --clock ISO8601          pin the node's clock (expired tickets on demand)\n"
    "  --seed N                 seed for the random choices of faults\n"
    "  --fault SPEC             start with faults, e.g. latency=200ms:50ms,error=0.1:503\n"
    "  --max-header-bytes N     431 past this (default 16384)\n"
    "  --max-body-bytes N       413 past this (default 1048576)\n"
    "  --header-timeout DUR     408 when a request head takes longer (default 10s)\n"
    "  --idle-timeout DUR       close idle keep-alive connections (default 60s)\n"
    "  --state-server           run the state server instead of a node\n"
    "  -h, --help               this text\n"
    "\n"
    "Endpoints: /login?user=NAME, /logout, /whoami, /account, /cart, /cart/add?item=X,\n"
    "/form, /health, /_farm/info, /_farm/fault?spec=..., /_farm/clock?set=|advance=.\n"
    "See docs/sim-node.md. Exit status: 0 after SIGTERM, 2 usage, 1 failure to start.\n";

static double duration_arg(const char *opt, const char *s)
{
    int64_t t;
    if (ticks_parse_duration(s, &t) != 0 || t <= 0) {
        fprintf(stderr, "sim-node: %s: not a duration: '%s' (e.g. 30s, 20m, 1h)\n", opt, s);
        exit(2);
    }
    return (double)t / TICKS_PER_SECOND;
}

static size_t size_arg(const char *opt, const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0 || s[0] == '-') {
        fprintf(stderr, "sim-node: %s: not a positive number: '%s'\n", opt, s);
        exit(2);
    }
    return (size_t)v;
}

/* How long SIGTERM waits for in-flight requests (a hanging fault never finishes). */
#define DRAIN_DEADLINE 10.0

struct run {
    struct ev_loop *loop;
    struct node *node; /* NULL in the state-server role */
    struct httpd *srv;
    const char *name;
    bool stopping;
    ev_timer deadline;
};

static void drained(void *arg)
{
    struct run *r = arg;
    ev_break(r->loop, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct run *r = w->data;
    fprintf(stderr, "node=%s event=drain-deadline open_connections=%u\n", r->name,
            httpd_stats(r->srv)->open_connections);
    ev_break(loop, EVBREAK_ALL);
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct run *r = w->data;
    if (r->stopping)
        return;
    r->stopping = true;
    fprintf(stderr, "node=%s event=stopping signal=%d\n", r->name, w->signum);
    ev_timer_init(&r->deadline, on_deadline, DRAIN_DEADLINE, 0);
    r->deadline.data = r;
    ev_timer_start(loop, &r->deadline);
    ev_unref(loop); /* the deadline alone must not keep the loop running */
    httpd_drain(r->srv, drained, r);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct run *r = w->data;
    if (r->node == NULL)
        return;
    struct errbuf err = {{0}};
    if (node_rekey(r->node, &err) != 0) {
        fprintf(stderr, "node=%s event=rekey-failed error=\"%s\" keys=unchanged\n", r->name,
                err.msg);
        return;
    }
    fprintf(stderr, "node=%s event=rekey key=\"%s\"\n", r->name, r->node->fp.text);
}

int main(int argc, char **argv)
{
    enum {
        O_NAME = 1,
        O_LISTEN,
        O_MK,
        O_APP,
        O_SESSION,
        O_STIMEOUT,
        O_TTIMEOUT,
        O_SLIDING,
        O_COOKIE,
        O_CLOCK,
        O_SEED,
        O_FAULT,
        O_MAXHDR,
        O_MAXBODY,
        O_HDRTO,
        O_IDLETO,
        O_STATE,
    };
    static const struct option longopts[] = {
        {"name", required_argument, NULL, O_NAME},
        {"listen", required_argument, NULL, O_LISTEN},
        {"machine-key", required_argument, NULL, O_MK},
        {"app-path", required_argument, NULL, O_APP},
        {"session", required_argument, NULL, O_SESSION},
        {"session-timeout", required_argument, NULL, O_STIMEOUT},
        {"ticket-timeout", required_argument, NULL, O_TTIMEOUT},
        {"sliding", no_argument, NULL, O_SLIDING},
        {"cookie-name", required_argument, NULL, O_COOKIE},
        {"clock", required_argument, NULL, O_CLOCK},
        {"seed", required_argument, NULL, O_SEED},
        {"fault", required_argument, NULL, O_FAULT},
        {"max-header-bytes", required_argument, NULL, O_MAXHDR},
        {"max-body-bytes", required_argument, NULL, O_MAXBODY},
        {"header-timeout", required_argument, NULL, O_HDRTO},
        {"idle-timeout", required_argument, NULL, O_IDLETO},
        {"state-server", no_argument, NULL, O_STATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct node_config cfg = {
        .name = "node",
        .app_path = "/LM/W3SVC/1/ROOT",
        .session = SESSION_OFF,
        .session_timeout = 20 * 60,
        .ticket_timeout = 30 * 60,
        .cookie_name = ".ASPXAUTH",
        .seed = (uint64_t)time(NULL),
        .limits = {.max_header_bytes = 16384, .max_body_bytes = 1048576},
        .header_timeout = 10,
        .idle_timeout = 60,
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_NAME:
            cfg.name = optarg;
            break;
        case O_LISTEN:
            cfg.listen = optarg;
            break;
        case O_MK:
            cfg.machine_key_file = optarg;
            break;
        case O_APP:
            cfg.app_path = optarg;
            break;
        case O_SESSION:
            if (strcmp(optarg, "off") == 0) {
                cfg.session = SESSION_OFF;
            } else if (strcmp(optarg, "inproc") == 0) {
                cfg.session = SESSION_INPROC;
            } else if (strncmp(optarg, "stateserver=", 12) == 0 && optarg[12]) {
                cfg.session = SESSION_STATESERVER;
                cfg.state_server = optarg + 12;
            } else {
                fprintf(stderr,
                        "sim-node: --session: off, inproc or stateserver=HOST:PORT, "
                        "not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_STIMEOUT:
            cfg.session_timeout = duration_arg("--session-timeout", optarg);
            break;
        case O_TTIMEOUT:
            cfg.ticket_timeout = duration_arg("--ticket-timeout", optarg);
            break;
        case O_SLIDING:
            cfg.sliding = true;
            break;
        case O_COOKIE:
            cfg.cookie_name = optarg;
            break;
        case O_CLOCK:
            if (ticks_parse_iso(optarg, &cfg.clock) != 0) {
                fprintf(stderr, "sim-node: --clock: not an ISO 8601 time: '%s'\n", optarg);
                return 2;
            }
            cfg.clock_pinned = true;
            break;
        case O_SEED:
            cfg.seed = strtoull(optarg, NULL, 10);
            break;
        case O_FAULT:
            cfg.faults = optarg;
            break;
        case O_MAXHDR:
            cfg.limits.max_header_bytes = size_arg("--max-header-bytes", optarg);
            break;
        case O_MAXBODY:
            cfg.limits.max_body_bytes = size_arg("--max-body-bytes", optarg);
            break;
        case O_HDRTO:
            cfg.header_timeout = duration_arg("--header-timeout", optarg);
            break;
        case O_IDLETO:
            cfg.idle_timeout = duration_arg("--idle-timeout", optarg);
            break;
        case O_STATE:
            cfg.state_server_role = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("sim-node: see --help\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sim-node: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (cfg.listen == NULL) {
        fputs("sim-node: --listen ADDR is required (e.g. --listen 127.0.0.1:0)\n", stderr);
        return 2;
    }
    if (!cfg.state_server_role && cfg.machine_key_file == NULL) {
        fputs("sim-node: --machine-key FILE is required (farmctl key generate makes one)\n",
              stderr);
        return 2;
    }
    setvbuf(stderr, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    fd_limit_raise(); /* one descriptor per connection, and lb may open one per user */

    struct run r = {.loop = ev_default_loop(EVFLAG_AUTO), .name = cfg.name};
    struct errbuf err = {{0}};
    struct node *node = NULL;
    struct stateserver *state = NULL;
    if (cfg.state_server_role) {
        r.name = "state-server";
        struct stateserver_opts so = {
            .listen = cfg.listen,
            .header_timeout = cfg.header_timeout,
            .idle_timeout = cfg.idle_timeout,
        };
        state = stateserver_new(r.loop, &so, &err);
        if (state == NULL) {
            fprintf(stderr, "node=state-server event=error error=\"%s\"\n", err.msg);
            return 1;
        }
        r.srv = stateserver_server(state);
        fprintf(stderr, "node=state-server event=ready role=state-server listen=%s\n",
                httpd_address(r.srv));
    } else {
        node = calloc(1, sizeof *node);
        if (node == NULL || node_init(node, &cfg, &err) != 0) {
            fprintf(stderr, "node=%s event=error error=\"%s\"\n", cfg.name, err.msg);
            free(node);
            return 1;
        }
        node->loop = r.loop;
        struct httpd_opts so = {
            .listen = cfg.listen,
            .limits = cfg.limits,
            .header_timeout = cfg.header_timeout,
            .idle_timeout = cfg.idle_timeout,
            .handler = node_handle,
            .app = node,
            .error_headers = node->error_headers,
        };
        node->srv = httpd_new(r.loop, &so, &err);
        if (node->srv == NULL) {
            fprintf(stderr, "node=%s event=error error=\"%s\"\n", cfg.name, err.msg);
            node_cleanup(node);
            free(node);
            return 1;
        }
        r.srv = node->srv;
        r.node = node;
        char faults[256];
        faults_describe(&node->faults, faults, sizeof faults);
        fprintf(stderr,
                "node=%s event=ready listen=%s key=\"%s\" mode=%s session=%s app_path=%s "
                "faults=%s%s\n",
                cfg.name, httpd_address(node->srv), node->fp.text, mk_compat_name(node->mk.compat),
                session_mode_name(cfg.session), cfg.app_path, faults,
                node->mk.vkey.autogen || node->mk.dkey.autogen ? " autogenerate=yes" : "");
        if (node->faults.crash) {
            fprintf(stderr, "node=%s event=crash exit=3\n", cfg.name);
            return 3;
        }
    }

    ev_signal sterm, sint, shup;
    ev_signal_init(&sterm, on_term, SIGTERM);
    ev_signal_init(&sint, on_term, SIGINT);
    ev_signal_init(&shup, on_hup, SIGHUP);
    sterm.data = sint.data = shup.data = &r;
    ev_signal_start(r.loop, &sterm);
    ev_signal_start(r.loop, &sint);
    ev_signal_start(r.loop, &shup);

    ev_run(r.loop, 0);

    fprintf(stderr, "node=%s event=stopped\n", r.name);
    if (node) {
        httpd_free(node->srv);
        node_cleanup(node);
        free(node);
    } else {
        stateserver_free(state);
    }
    ev_loop_destroy(r.loop);
    return 0;
}
