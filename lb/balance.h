/* balance: which node serves a request or a new connection. Pure functions over the pool:
 * no I/O. The proxy calls these; nothing here keeps a connection.
 *
 *   round robin   smooth weighted round robin (nginx's algorithm) over nodes that take new
 *                 clients, skipping excluded ones (nodes already tried for this request)
 *   affinity      NLB's client affinity: a key from the client address — none: address and
 *                 port; single: address; network: the /24 (IPv6: the /48) — hashed over
 *                 the current members with weighted rendezvous hashing, so a membership
 *                 change moves only the clients it must, as NLB convergence does. A client
 *                 whose node is draining stays on it (the sticky table remembers it).
 *   cookie        HAProxy-style inserted cookie naming the node; idle and maximum age. */
#ifndef LB_BALANCE_H
#define LB_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pool.h"

enum lb_dispatch {
    DISPATCH_REQUEST,    /* every request may go elsewhere, even within one connection */
    DISPATCH_CONNECTION, /* per TCP connection, as NLB */
};

enum lb_affinity {
    AFFINITY_NONE,
    AFFINITY_SINGLE,
    AFFINITY_NETWORK,
    AFFINITY_COOKIE,
};

const char *lb_dispatch_name(enum lb_dispatch d);
const char *lb_affinity_name(enum lb_affinity a);
int lb_dispatch_from_name(const char *s, enum lb_dispatch *out);
int lb_affinity_from_name(const char *s, enum lb_affinity *out);

/* Why a node was chosen (for the access log). */
enum pick_reason {
    PICK_NONE,       /* nothing available */
    PICK_RR,         /* round-robin slot */
    PICK_AFFINITY,   /* affinity hash */
    PICK_STICKY,     /* affinity-bound to a draining node */
    PICK_COOKIE,     /* the lb cookie named it */
    PICK_CONNECTION, /* the connection's node (dispatch=connection) */
    PICK_REDISPATCH, /* a retry after a failure elsewhere */
};
const char *pick_reason_name(enum pick_reason r);

/* Smooth weighted round robin (nginx's) over nodes that take new clients. exclude: bit i set
 * = node id i not eligible (nodes already tried for this request; they take no part in the
 * pick, as in nginx). Ties go to the first eligible slot after the last pick, cyclically, and
 * after any pool change (p->version moved) the counters restart from 0: equal weights then
 * rotate strictly through whoever is left, continuing from where they were. Returns NULL
 * when no node is eligible. No allocation. */
struct lb_node *balance_rr(struct pool *p, uint64_t exclude);

/* The affinity key of a client: a 64-bit hash of the client address (and port for none and
 * cookie). IPv4-mapped IPv6 clients count as IPv4. */
uint64_t balance_affinity_key(enum lb_affinity a, const struct sockaddr_storage *client);

/* Weighted rendezvous hashing over nodes that take new clients and are not excluded: each
 * node scores -weight / ln(u), u in (0,1) from hash(key, node name); the highest wins. The
 * name, not the slot, so a node removed and added again gets its clients back. NULL when no
 * node is eligible. */
struct lb_node *balance_hash(struct pool *p, uint64_t key, uint64_t exclude);

/* The sticky table: which node an affinity key was last sent to, so that users bound to a
 * draining node stay there. Bounded (LRU by open addressing + age); entries older than
 * `ttl` seconds are forgotten. */
struct sticky;
/* capacity is rounded up to a power of two (at least STICKY_WINDOW); ttl <= 0: entries never
 * expire (they are only evicted). Returns owned, or NULL (out of memory, capacity too big). */
struct sticky *sticky_new(size_t capacity, double ttl);
void sticky_free(struct sticky *s); /* NULL: no-op */
#define STICKY_WINDOW 8 /* slots probed per key; a full window evicts its oldest entry */
/* The node key was last sent to, if that node still serves existing users and the entry is
 * fresh; else NULL. */
struct lb_node *sticky_get(struct sticky *s, struct pool *p, uint64_t key, double now);
/* Record (or refresh) key -> n, seen now. */
void sticky_put(struct sticky *s, uint64_t key, const struct lb_node *n, double now);
/* Forget every entry for a node (removed or stopped). */
void sticky_forget_node(struct sticky *s, unsigned node_id);

/* Affinity for one request or connection: sticky first when its node serves existing users
 * but takes no new ones (draining, or weight 0) and is not excluded (PICK_STICKY); else the
 * hash (PICK_AFFINITY), so a client whose sticky node is up is simply re-hashed, as NLB
 * convergence does. Records the choice in s (s may be NULL: hash only). NULL and PICK_NONE
 * when no node is eligible. why may be NULL. */
struct lb_node *balance_affinity(struct pool *p, struct sticky *s, uint64_t key, uint64_t exclude,
                                 double now, enum pick_reason *why);

/* lb cookie (AFFINITY_COOKIE): value "<node-name>.<issued>.<last>" with times in whole
 * seconds (the name may itself hold dots: the times are the last two fields).
 * Returns the node when the cookie names a node that serves existing users and neither the
 * idle age (now - last) nor the max age (now - issued) passed, each checked when > 0; else
 * NULL. Hostile input: at most BALANCE_COOKIE_MAX - 1 bytes, times 1..15 digits with
 * issued <= last <= now + 60, a valid known name. On success *issued (may be NULL) is the
 * cookie's issue time, to pass back to balance_cookie_value. */
struct lb_node *balance_cookie_node(struct pool *p, const char *value, size_t len, double now,
                                    double idle_age, double max_age, double *issued);
/* Format the cookie value for node n (issued: first issue time, or now; a later issued is
 * taken as now). Returns the length, or -1 when cap is too small (BALANCE_COOKIE_MAX is
 * always enough). */
#define BALANCE_COOKIE_MAX 80
int balance_cookie_value(const struct lb_node *n, double issued, double now, char *out, size_t cap);

#endif
