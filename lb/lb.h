/* lb: the balancer as a whole — configuration, the node pool, the listeners, and the parts
 * that share them: proxy.c (client and backend connections) with answer.c (a node's answer),
 * health.c (active checks), admin.c (the admin API), trace.h (session tracing). main.c builds
 * one and runs the loop. */
#ifndef LB_LB_H
#define LB_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>

#include "balance.h"
#include "buf.h"
#include "errbuf.h"
#include "httpd.h"
#include "pool.h"
#include "trace.h"

#define LB_COOKIES_MAX      TRACE_COOKIES_MAX
#define LB_FREE_PARSERS_MAX 256
/* Longest --health-path (the check's request line must fit health.c's buffer). */
#define LB_HEALTH_PATH_MAX 1024
/* Longest --cookie-name (the headers lb adds to an answer must fit proxy.c's buffer). */
#define LB_COOKIE_NAME_MAX 64
/* How often a draining node that still has something on it is looked at again. */
#define LB_DRAIN_POLL 0.1

struct lb_config {
    const char *listen;
    const char *admin;
    const char *admin_token; /* NULL: no token (the admin listener is loopback by default);
                                never empty */
    enum lb_dispatch dispatch;
    enum lb_affinity affinity;
    const char *health_path; /* "" or NULL: no active checks; at most LB_HEALTH_PATH_MAX */
    double health_interval, health_timeout; /* interval > 0 */
    unsigned rise, fall;
    double timeout_connect, timeout_header, timeout_server, timeout_idle;
    unsigned retries;
    double drain_timeout;   /* draining nodes are stopped after this (0: never) */
    double drain_quiet;     /* ... or once nothing is left on them for this long (0: never) */
    bool drain_connections; /* --drain-mode connections: a draining node keeps its open
                               connections only, not its users (classic NLB drainstop) */
    const char *session_cookies[LB_COOKIES_MAX];
    size_t n_session_cookies;
    const char *affinity_cookie; /* name of lb's own cookie (AFFINITY_COOKIE) */
    double cookie_idle, cookie_max;
    const char *access_log; /* file, "-" for stdout, NULL for none */
    bool served_by;         /* add X-Served-By to answers */
    bool passive;           /* passive detection: connect failures and 5xx mark down */
    unsigned passive_fail;  /* consecutive failures that mark a node down */
    size_t max_header_bytes, max_body_bytes;
    size_t max_sessions; /* trace LRU cap */
    size_t max_conns;    /* clients; accept pauses beyond */
};

struct lb_stats {
    unsigned long long connections, requests, responses[6];
    unsigned long long retries, no_node_503, timeouts_504, bad_gateway_502, client_errors;
    unsigned long long out_of_sockets; /* 503s: lb itself had no descriptor (or memory) left */
    unsigned open_clients, open_backends;
    double out_of_sockets_logged; /* when the last out-of-sockets line was printed */
};

struct cconn;
struct bconn;

struct lb {
    struct ev_loop *loop;
    struct lb_config cfg;
    struct pool pool;
    struct sticky *sticky;
    struct trace *trace;
    int listen_fd;
    ev_io accept_w;
    ev_timer accept_resume; /* accepting pauses briefly when out of descriptors */
    char listen_addr[80];
    struct cconn *clients;
    struct lb_stats stats;
    FILE *access;
    struct httpd *admin;
    struct health *health;
    ev_timer drain_timer; /* runs while a node is draining: the end of its drain */
    bool draining;
    /* free lists: buffers and request parsers are reused, not reallocated per request */
    void *free_bufs;
    size_t n_free_bufs;
    struct http_parser *free_parsers[LB_FREE_PARSERS_MAX];
    size_t n_free_parsers;
};

int lb_init(struct lb *lb, struct ev_loop *loop, const struct lb_config *cfg, struct errbuf *err);
void lb_cleanup(struct lb *lb);

/* Start accepting on cfg->listen (port 0 works). */
int lb_listen(struct lb *lb, struct errbuf *err);

/* Node control, shared by the admin API and the health checks. */
int lb_node_add(struct lb *lb, const char *name, const char *addr, unsigned weight,
                struct errbuf *err);
int lb_node_remove(struct lb *lb, const char *name, struct errbuf *err);
/* up/down/draining/stopped; stopping cuts the node's in-flight connections. */
void lb_node_set_state(struct lb *lb, struct lb_node *n, enum node_state s, const char *reason);
/* Has a draining node finished, as NLB's drainstop does when the last connection closes? No
 * request in flight, no client connection bound to it (dispatch=connection), and no request
 * sent to it — by affinity, sticky or lb cookie — for cfg.drain_quiet seconds since the drain
 * began. now: loop time. */
bool lb_node_drained(const struct lb *lb, const struct lb_node *n, double now);
/* Stop the draining nodes whose drain has ended (drain timeout, or drained) and return how
 * long until one of the others should be looked at again (seconds; 0: no node needs it).
 * The drain timer runs this whenever a node is draining, health checks or not. now: loop
 * time. */
double lb_drain_check(struct lb *lb, double now);

/* Seconds since the Unix epoch (event times) and the loop's monotonic-ish now. */
double lb_now(const struct lb *lb);

/* Free what the free lists hold (at exit, after every connection is closed). */
void proxy_cleanup(struct lb *lb);
/* Close every connection of a node (stop, remove). */
void proxy_cut_node(struct lb *lb, struct lb_node *n);
/* Release a node's idle backend connections. */
void proxy_drop_idle(struct lb *lb, struct lb_node *n);
/* Stop accepting; finish in-flight requests (answering with Connection: close); break the
 * loop when no client is left. */
void proxy_drain(struct lb *lb);

#endif
