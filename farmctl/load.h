/* load: the bookkeeping of `farmctl load`, without the network. The driver (cmd_load.c) runs
 * the simulated users and hands every answer to load_observe(); this module follows each
 * user's continuity from the X-Farm-* headers (which node answered, did the ticket and the
 * cart survive the hop), keeps the figures, and writes the report. Pure, so the unit tests
 * drive it with made-up answers.
 *
 * A user logs in, then repeats whoami, add an item, show the cart. After the login, an
 * answer whose ticket verdict is not valid is a logout: the user logs in again. A session
 * verdict of lost (or new, for a user that had a session), or a cart shorter than the items
 * the user put in it, is a lost cart. A hop is an answer from another node than the user's
 * previous answer; a lost hop is a hop on which the ticket or the cart was lost. A cart found
 * short is charged to the hop from the node that last showed it (whoami answers in between
 * do not show the cart). */
#ifndef FARMCTL_LOAD_H
#define FARMCTL_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define LOAD_MAX_NODES     32   /* distinct X-Farm-Node names tracked; more count as unknown */
#define LOAD_NODE_NAME_MAX 32   /* lb's node names are 1-31 characters */
#define LOAD_MAX_SAMPLES   100  /* events kept one by one for the JSON report */
#define LOAD_MAX_ERRORS    16   /* distinct transport error texts counted */
#define LOAD_CART_MAX      1000 /* a cart this full: the user clears its cookies, starts over */

enum load_step {
    LOAD_STEP_LOGIN,
    LOAD_STEP_WHOAMI,
    LOAD_STEP_ADD,
    LOAD_STEP_CART,
    LOAD_STEP_COUNT,
};
const char *load_step_name(enum load_step s);
bool load_step_is_post(enum load_step s);

/* The path and query of the user's next request: /login?user=USER, /whoami,
 * /cart/add?item=itemK (K = the user's items + 1), /cart. user is letters and digits. Returns
 * 0, or -1 when it does not fit. */
struct load_user;
int load_step_path(const struct load_user *u, const char *user, char *out, size_t cap);

/* X-Farm-Ticket verdicts; OTHER for a value this version does not know. */
enum load_ticket {
    LOAD_TICKET_VALID,
    LOAD_TICKET_EXPIRED,
    LOAD_TICKET_MAC_MISMATCH,
    LOAD_TICKET_BAD_TICKET,
    LOAD_TICKET_MALFORMED,
    LOAD_TICKET_ABSENT,
    LOAD_TICKET_OTHER,
    LOAD_TICKET_COUNT,
};
const char *load_ticket_name(enum load_ticket t);
enum load_ticket load_ticket_from_name(const char *s); /* NULL or unknown: OTHER */

/* Why a cart counts as lost. */
enum load_cart_why {
    LOAD_CART_SESSION_LOST,  /* X-Farm-Session: lost */
    LOAD_CART_SESSION_NEW,   /* X-Farm-Session: new, though the user had a session */
    LOAD_CART_ITEMS_MISSING, /* the session was found, but the cart is shorter */
    LOAD_CART_WHY_COUNT,
};
const char *load_cart_why_name(enum load_cart_why w);

enum load_kind {
    LOAD_KIND_LOGOUT,
    LOAD_KIND_CART,
};
const char *load_kind_name(enum load_kind k);

/* One answer, as the driver saw it. Strings are borrowed for the call. */
struct load_answer {
    enum load_step step;
    int status;          /* HTTP status; 0 when the transfer failed */
    const char *error;   /* the transport error's text when status is 0 */
    const char *node;    /* X-Farm-Node, NULL when absent */
    const char *ticket;  /* X-Farm-Ticket, NULL when absent */
    const char *session; /* X-Farm-Session, NULL when absent */
    long cart_items;     /* the cart's length in a 2xx /cart or /cart/add answer; -1 unknown */
    double at;           /* seconds since the run started, when the answer arrived */
    uint32_t latency_us;
};

/* One simulated user's continuity. */
struct load_user {
    unsigned id;         /* 1..N: the user is "user<id>" */
    enum load_step next; /* the request to send next */
    int node;            /* node index of the previous answer, -1 none yet */
    int issuer;          /* node index that issued the user's ticket, -1 when logged out */
    long cart;           /* items the cart should hold */
    int cart_node;       /* node index of the answer that last showed the cart, -1 none */
    unsigned items;      /* items added so far: the next is item<items+1> */
    bool has_session;    /* some answer carried a session verdict found, new or lost */
    bool start_over;     /* the cart is full: clear the cookies, load_user_start_over() */
    bool was_logged_out; /* at least once */
    bool lost_cart;      /* at least once */
};

void load_user_init(struct load_user *u, unsigned id);
/* A fresh visitor (no cookies): back to the login, the once-flags kept. */
void load_user_start_over(struct load_user *u);

/* A group of events with the same kind, hop and reason. */
struct load_group {
    enum load_kind kind;
    int from, to; /* node indexes; from == to: no hop */
    int why;      /* enum load_ticket for a logout, enum load_cart_why for a cart */
    uint64_t count;
    double first_at, last_at;
};

struct load_event {
    double at;
    unsigned user;
    enum load_kind kind;
    int from, to, why;
};

struct load_hops {
    uint64_t hops;        /* answers from this node after an answer from the other */
    uint64_t logins;      /* of which were logins (no ticket to lose) */
    uint64_t lost;        /* of which the ticket or the cart was lost */
    uint64_t lost_ticket; /* of which the ticket was lost */
    uint64_t lost_cart;   /* of which the cart was lost */
};

struct load_node {
    char name[LOAD_NODE_NAME_MAX];
    uint64_t answers;
    struct load_hops to;                        /* hops to this node */
    uint64_t ticket_why[LOAD_TICKET_COUNT];     /* logouts here (hop or not), by verdict */
    uint64_t cart_why[LOAD_CART_WHY_COUNT];     /* lost carts here, by reason */
    uint32_t lost_ticket_issuers;               /* bit i: a ticket issued by node i lost here */
    uint64_t rejected_from[LOAD_MAX_NODES];     /* tickets issued by node i rejected here */
    uint64_t checked_from[LOAD_MAX_NODES];      /* tickets issued by node i checked here */
    struct load_hops from_node[LOAD_MAX_NODES]; /* hops from node i to this node */
    uint64_t cart_lost_from[LOAD_MAX_NODES];    /* carts lost here after node i (i = self:
                                                   without a hop) */
};

struct load_stats {
    struct load_node node[LOAD_MAX_NODES];
    int n_nodes;

    uint64_t requests; /* answered or failed */
    uint64_t ok;       /* 2xx and 3xx */
    uint64_t by_status[600];
    uint64_t transport_errors;
    struct {
        char text[96];
        uint64_t count;
    } transport[LOAD_MAX_ERRORS];
    int n_transport;
    uint64_t no_node; /* answers without X-Farm-Node (the lb's own errors) */
    uint64_t steps[LOAD_STEP_COUNT];
    uint64_t logins; /* successful */

    uint64_t hops, lost_hops, lost_ticket_hops, lost_cart_hops;
    uint64_t logouts, lost_carts; /* events */
    uint64_t users_logged_out, users_lost_cart;
    uint64_t logouts_in_place, carts_in_place; /* events without a hop */

    struct load_group *groups;
    size_t n_groups, cap_groups;
    struct load_event samples[LOAD_MAX_SAMPLES];
    size_t n_samples;

    uint32_t *latency_us;
    size_t n_latency, cap_latency;
    double last_at;
};

/* What the run was; the report repeats it. */
struct load_config {
    unsigned users;
    unsigned concurrency;
    unsigned think_ms;
    unsigned source_ips;
    uint64_t max_requests; /* 0: duration-bound */
    double duration_s;     /* 0: request-bound */
    const char *url;       /* borrowed */
};

void load_stats_init(struct load_stats *st);
void load_stats_cleanup(struct load_stats *st);

/* Take one answer of user u: count it, follow the user's continuity, and set u->next (and
 * u->start_over). Returns 0, or -1 when memory ran out (the answer is then half counted). */
int load_observe(struct load_stats *st, struct load_user *u, const struct load_answer *a);

/* The index of the node named name, added when new; -1 when the table is full or the name
 * does not fit. */
int load_node_index(struct load_stats *st, const char *name);

/* The nearest-rank percentile p (0 < p <= 100) of sorted[0..n); 0 when n is 0. */
uint32_t load_percentile(const uint32_t *sorted, size_t n, double p);

/* The nodes common to every failing pair: fail(i, j) > 0 for i, j < n (i == j: a failure at
 * node i without a hop). Writes at most 2 node indexes to out and returns how many: 0 when
 * nothing failed or no node is in every failing pair, 1 (the node), or 2 (one pair fails,
 * both ends). */
int load_blame(uint64_t (*fail)(const struct load_stats *st, int i, int j),
               const struct load_stats *st, int out[2]);
uint64_t load_fail_ticket(const struct load_stats *st, int issuer, int checker);
uint64_t load_fail_cart(const struct load_stats *st, int from, int to);

/* The one-line verdict for a run of users users, without a trailing newline. */
void load_verdict(const struct load_stats *st, unsigned users, char *out, size_t cap);

/* Sort the latencies and the event groups for the report; call once, after the run. */
void load_finish(struct load_stats *st);

/* The report, after load_finish. elapsed_s: the run's wall time. */
void load_report_text(const struct load_stats *st, const struct load_config *cfg, double elapsed_s,
                      FILE *out);
/* The same as one JSON object; returns owned (NULL when memory ran out). */
json_t *load_report_json(const struct load_stats *st, const struct load_config *cfg,
                         double elapsed_s);

#endif
