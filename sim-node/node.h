/* node: one simulated ASP.NET server — its configuration, keys, session store, faults and
 * counters. app.c answers its requests; main.c builds it and runs the loop. */
#ifndef SIMNODE_NODE_H
#define SIMNODE_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "errbuf.h"
#include "fault.h"
#include "formsauth.h"
#include "machinekey.h"
#include "httpd.h"
#include "session.h"
#include "viewstate.h"

struct node_config {
    const char *name;
    const char *listen;
    const char *machine_key_file;
    const char *app_path; /* IIS metabase path: IsolateApps and the state-server app id */
    enum session_mode session;
    const char *state_server; /* HOST:PORT */
    double session_timeout;   /* seconds */
    double ticket_timeout;    /* seconds */
    bool sliding;
    const char *cookie_name;
    bool clock_pinned;
    int64_t clock; /* ticks, when pinned */
    uint64_t seed;
    bool state_server_role;
    const char *faults; /* initial fault spec, or NULL */
    struct http_limits limits;
    double header_timeout, idle_timeout;
};

/* Counters reported by /_farm/info. */
struct node_counters {
    unsigned long long requests;
    unsigned long long tickets[FA_STATUS_COUNT];
    unsigned long long sessions_found, sessions_new, sessions_lost, session_errors;
    unsigned long long logins, viewstate_ok, viewstate_failed, faults_injected;
};

struct node {
    struct node_config cfg;
    struct ev_loop *loop;
    struct httpd *srv;
    struct machinekey mk;
    struct formsauth fa;
    struct viewstate vs;
    struct mk_fingerprint fp;
    struct sessions *sessions;
    struct faults faults;
    struct node_counters counters;
    int64_t clock_offset;    /* ticks added to the real clock by POST /_farm/clock */
    char error_headers[256]; /* X-Farm-Node and X-Farm-Key for the server's own errors */
    uint64_t rng;            /* session ids */
    bool store_down;         /* the session store failed last time (logged on changes) */
};

/* Load keys (and the ViewState page), open the session store. Returns 0 or -1 with err. */
int node_init(struct node *n, const struct node_config *cfg, struct errbuf *err);
void node_cleanup(struct node *n);

/* Re-read the machine-key file (SIGHUP). On failure the old keys stay. */
int node_rekey(struct node *n, struct errbuf *err);

/* The node's notion of now, in ticks (pinned with --clock, moved by /_farm/clock). */
int64_t node_now(const struct node *n);

/* The request handler (app.c). */
void node_handle(void *node, const struct request_ctx *rq, struct response *rs);

/* The ViewState page sim-node serves at /form. */
extern const struct viewstate_page NODE_FORM_PAGE;

#endif
