/* pool: the farm's members as lb sees them — address, weight, state, health counters and
 * statistics. Pure bookkeeping: no sockets, no timers. Health checks and the admin API only
 * flip states through pool_set_state; the proxy reads them.
 *
 * States, as NLB and HAProxy name them:
 *   up        takes new clients
 *   down      failed health checks (or passive detection); takes nothing
 *   draining  NLB drainstop / HAProxy drain: no new clients; existing connections and
 *             affinity-bound users are served until they finish or the drain times out
 *   stopped   NLB stop: takes nothing, in-flight connections are cut */
#ifndef LB_POOL_H
#define LB_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errbuf.h"

#define POOL_MAX        64 /* nodes; node ids are 0..POOL_MAX-1 and fit a uint64_t mask */
#define POOL_NAME_MAX   32
#define POOL_WEIGHT_MAX 256 /* as HAProxy; weights above are refused */

enum node_state {
    NODE_UP,
    NODE_DOWN,
    NODE_DRAINING,
    NODE_STOPPED,
    NODE_STATE_COUNT,
};

const char *node_state_name(enum node_state s); /* "up", "down", "draining", "stopped" */

struct node_stats {
    unsigned long long requests;     /* requests sent to this node */
    unsigned long long responses[6]; /* by class: [1]=1xx ... [5]=5xx, [0]=no response */
    unsigned long long connect_failures;
    unsigned long long retries_away; /* requests retried on another node after failing here */
    unsigned long long bytes_to, bytes_from;
    unsigned long long connections; /* backend connections opened */
    unsigned active;                /* requests in flight */
    unsigned idle;                  /* idle keep-alive connections held */
};

struct lb_node {
    unsigned id;     /* slot, stable while the node exists; reused after */
    uint64_t serial; /* never reused: tells a node from a later one in its slot */
    char name[POOL_NAME_MAX];
    char addr_text[80]; /* as given: "127.0.0.1:9001" */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    unsigned weight; /* 0..256; 0 takes no new clients */
    enum node_state state;
    char state_reason[64]; /* "health check: 503", "admin", ... */
    double state_since;    /* seconds (loop time) */
    /* health: consecutive results */
    unsigned check_ok, check_fail;
    unsigned passive_fail; /* consecutive failed connects and 5xx answers (passive) */
    bool checked;          /* at least one active check ran */
    bool admin_drain;      /* drained by the admin: stays draining when it comes back up */
    /* smooth weighted round robin (balance_rr's; nobody else writes it) */
    int rr_current;
    struct node_stats stats;
    void *idle_head; /* the proxy's idle backend connections (owned there) */
    /* for the end of a drain: client connections bound to the node (dispatch=connection)
     * and when a request was last sent to it (loop time) */
    unsigned bound_conns;
    double last_request;
    /* last key fingerprints and name seen in X-Farm-Key / X-Farm-Node answers */
    char key_fp[64];
};

struct pool {
    struct lb_node *slot[POOL_MAX]; /* owned; NULL where free */
    size_t count;
    uint64_t version; /* bumped on every change: add, remove, state, weight */
    /* balance_rr's cursor (with each node's rr_current): the version its counters belong
     * to, and the slot after the last pick, where ties start (cyclically) */
    /* --drain-mode connections: users bound by affinity or lb's cookie leave a draining
     * node on their next connection (node_serves_users) */
    bool drain_connections;
    uint64_t rr_version;
    uint64_t rr_eligible; /* slots that took new clients at rr_version */
    unsigned rr_next;
};

void pool_init(struct pool *p);
void pool_cleanup(struct pool *p); /* frees the nodes (the proxy must have released idles) */

/* Add a node "NAME=HOST:PORT" style pieces. Names: 1..31 of [A-Za-z0-9._-], unique, not "."
 * or "..". Addresses: numeric "A.B.C.D:PORT" or "[V6]:PORT" ("localhost" = 127.0.0.1), port
 * 1..65535. Weight 0..POOL_WEIGHT_MAX. The node starts up (reason "added") in the lowest free
 * slot. Returns the node (owned by the pool), or NULL with err ("bad name", "name taken",
 * "bad address", "bad weight", "pool full", "out of memory"). */
struct lb_node *pool_add(struct pool *p, const char *name, const char *addr, unsigned weight,
                         double now, struct errbuf *err);
/* Remove and free (the caller has closed the node's connections and told the sticky table,
 * sticky_forget_node). n must be in p; n is invalid afterwards. */
void pool_remove(struct pool *p, struct lb_node *n);
struct lb_node *pool_find(const struct pool *p, const char *name);
/* Is this a valid node name (1..31 of [A-Za-z0-9._-], not "." or "..")? */
bool pool_name_is_valid(const char *name);

/* Change state (no-op if unchanged: reason and time kept). Records reason (truncated; NULL
 * = "") and now. Returns true when it changed. */
bool pool_set_state(struct pool *p, struct lb_node *n, enum node_state s, const char *reason,
                    double now);
/* Returns true when it changed; false when unchanged or weight > POOL_WEIGHT_MAX (refused). */
bool pool_set_weight(struct pool *p, struct lb_node *n, unsigned weight);

/* Takes new clients (up and weight > 0)? */
bool node_takes_new(const struct lb_node *n);
/* Serves clients already bound to it (up or draining)? */
bool node_serves_existing(const struct lb_node *n);
/* Whether users bound to n (affinity, lb's cookie) still go there: while it is up, and
 * while it drains unless the pool drains connections only. */
bool node_serves_users(const struct pool *p, const struct lb_node *n);

/* Parse "NAME=HOST:PORT" (the --node option), checking both parts as pool_add would.
 * Returns 0 or -1 with err. */
int pool_parse_node_arg(const char *arg, char *name, size_t name_cap, char *addr, size_t addr_cap,
                        struct errbuf *err);

#endif
