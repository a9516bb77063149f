#include "balance.h"

#include <assert.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DISPATCH_COUNT    (DISPATCH_CONNECTION + 1)
#define AFFINITY_COUNT    (AFFINITY_COOKIE + 1)
#define PICK_REASON_COUNT (PICK_REDISPATCH + 1)

static const char *const dispatch_names[DISPATCH_COUNT] = {
    [DISPATCH_REQUEST] = "request",
    [DISPATCH_CONNECTION] = "connection",
};

static const char *const affinity_names[AFFINITY_COUNT] = {
    [AFFINITY_NONE] = "none",
    [AFFINITY_SINGLE] = "single",
    [AFFINITY_NETWORK] = "network",
    [AFFINITY_COOKIE] = "cookie",
};

static const char *const pick_reason_names[PICK_REASON_COUNT] = {
    [PICK_NONE] = "none",
    [PICK_RR] = "rr",
    [PICK_AFFINITY] = "affinity",
    [PICK_STICKY] = "sticky",
    [PICK_COOKIE] = "cookie",
    [PICK_CONNECTION] = "connection",
    [PICK_REDISPATCH] = "redispatch",
};

const char *lb_dispatch_name(enum lb_dispatch d)
{
    return (unsigned)d < DISPATCH_COUNT ? dispatch_names[d] : "?";
}

const char *lb_affinity_name(enum lb_affinity a)
{
    return (unsigned)a < AFFINITY_COUNT ? affinity_names[a] : "?";
}

const char *pick_reason_name(enum pick_reason r)
{
    return (unsigned)r < PICK_REASON_COUNT ? pick_reason_names[r] : "?";
}

static int balance_lookup(const char *s, const char *const *names, int count)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < count; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

int lb_dispatch_from_name(const char *s, enum lb_dispatch *out)
{
    int i = balance_lookup(s, dispatch_names, DISPATCH_COUNT);
    if (i < 0)
        return -1;
    *out = (enum lb_dispatch)i;
    return 0;
}

int lb_affinity_from_name(const char *s, enum lb_affinity *out)
{
    int i = balance_lookup(s, affinity_names, AFFINITY_COUNT);
    if (i < 0)
        return -1;
    *out = (enum lb_affinity)i;
    return 0;
}

/* ---- hashing ---------------------------------------------------------------------------- */

/* The splitmix64 finalizer: a bijection whose every output bit depends on every input bit. */
static uint64_t balance_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* FNV-1a, then the finalizer (FNV alone mixes its last bytes poorly into the high bits). */
static uint64_t balance_hash_bytes(const uint8_t *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return balance_mix64(h);
}

uint64_t balance_affinity_key(enum lb_affinity a, const struct sockaddr_storage *client)
{
    /* family tag, address (masked), port: v4 and v6 keys never share an input */
    uint8_t buf[1 + 16 + 2];
    size_t n = 0;
    const uint8_t *port = NULL;
    bool with_port = a == AFFINITY_NONE || a == AFFINITY_COOKIE;

    if (client->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)client;
        buf[n++] = 4;
        memcpy(buf + n, &v4->sin_addr, 4);
        n += 4;
        port = (const uint8_t *)&v4->sin_port;
    } else if (client->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)client;
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            /* a dual-stack listener's view of an IPv4 client: the same client as over v4 */
            buf[n++] = 4;
            memcpy(buf + n, v6->sin6_addr.s6_addr + 12, 4);
            n += 4;
        } else {
            buf[n++] = 6;
            memcpy(buf + n, v6->sin6_addr.s6_addr, 16);
            if (a == AFFINITY_NETWORK)
                memset(buf + n + 6, 0, 10); /* the /48 */
            n += 16;
        }
        port = (const uint8_t *)&v6->sin6_port;
    } else {
        buf[n++] = 0; /* no address to speak of: every such client is one client */
    }
    if (a == AFFINITY_NETWORK && buf[0] == 4)
        buf[4] = 0; /* the /24, NLB's "Class C" */
    if (with_port && port != NULL) {
        memcpy(buf + n, port, 2);
        n += 2;
    }
    return balance_hash_bytes(buf, n);
}

/* ---- smooth weighted round robin -------------------------------------------------------- */

static unsigned balance_lowest_bit(uint64_t m)
{
    unsigned i = 0;
    while ((m & 1) == 0) {
        m >>= 1;
        i++;
    }
    return i;
}

/* nginx keeps each counter across membership and weight changes; then a node leaving with a
 * positive counter leaves the others out of step (three equal nodes, web2 going down right
 * after web1 was picked: web3 twice in a row), and one coming back is out of step too.
 * Restarting every counter at 0 on a pool change, with ties broken from the slot after the
 * last pick, continues a rotation of equal weights exactly, and restarts a weighted one at
 * the start of its smooth pattern. */
struct lb_node *balance_rr(struct pool *p, uint64_t exclude)
{
    if (p->rr_version != p->version) {
        /* The pool changed: start the counters afresh, and note who takes new clients. */
        p->rr_eligible = 0;
        for (unsigned i = 0; i < POOL_MAX; i++)
            if (p->slot[i] != NULL) {
                p->slot[i]->rr_current = 0;
                if (node_takes_new(p->slot[i]))
                    p->rr_eligible |= 1ULL << i;
            }
        p->rr_version = p->version;
    }
    uint64_t eligible = p->rr_eligible & ~exclude;
    if (eligible == 0)
        return NULL;

    /* Visit slots from rr_next on, cyclically: rotate the mask right by rr_next. Every
     * eligible node gains its weight; the first highest counter wins and pays back the sum. */
    unsigned start = p->rr_next % POOL_MAX;
    uint64_t rot = start == 0 ? eligible : (eligible >> start) | (eligible << (POOL_MAX - start));
    struct lb_node *best = NULL;
    int sum = 0;
    for (uint64_t m = rot; m != 0; m &= m - 1) {
        struct lb_node *n = p->slot[(balance_lowest_bit(m) + start) % POOL_MAX];
        n->rr_current += (int)n->weight;
        sum += (int)n->weight;
        if (best == NULL || n->rr_current > best->rr_current)
            best = n;
    }
    best->rr_current -= sum;
    p->rr_next = (best->id + 1) % POOL_MAX;
    return best;
}

/* ---- rendezvous hashing ----------------------------------------------------------------- */

/* u in (0, 1) for (key, node), from the node's name so that it survives removal and re-adding
 * in another slot. */
static double balance_hrw_uniform(uint64_t key, const struct lb_node *n)
{
    uint64_t c = balance_hash_bytes((const uint8_t *)n->name, strlen(n->name));
    uint64_t h = balance_mix64(balance_mix64(key ^ c) + c);
    return ((double)(h >> 11) + 0.5) * 0x1.0p-53;
}

struct lb_node *balance_hash(struct pool *p, uint64_t key, uint64_t exclude)
{
    struct lb_node *best = NULL;
    double best_score = 0;
    for (unsigned i = 0; i < POOL_MAX; i++) {
        struct lb_node *n = p->slot[i];
        if (n == NULL || !node_takes_new(n) || (exclude & (1ULL << i)) != 0)
            continue;
        /* -w / ln(u): the max over nodes picks node i with probability w_i / sum(w) */
        double score = (double)n->weight / -log(balance_hrw_uniform(key, n));
        if (best == NULL || score > best_score) {
            best = n;
            best_score = score;
        }
    }
    return best;
}

/* ---- the sticky table ------------------------------------------------------------------- */

struct sticky_entry {
    uint64_t key;
    uint64_t serial; /* the node's serial; 0 = free slot */
    double seen;
    unsigned node; /* slot id */
};

struct sticky {
    struct sticky_entry *e;
    size_t mask; /* capacity - 1 */
    double ttl;
};

struct sticky *sticky_new(size_t capacity, double ttl)
{
    size_t cap = STICKY_WINDOW;
    if (capacity > SIZE_MAX / 2 / sizeof(struct sticky_entry))
        return NULL;
    while (cap < capacity)
        cap <<= 1;
    struct sticky *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->e = calloc(cap, sizeof *s->e);
    if (s->e == NULL) {
        free(s);
        return NULL;
    }
    s->mask = cap - 1;
    s->ttl = ttl;
    return s;
}

void sticky_free(struct sticky *s)
{
    if (s == NULL)
        return;
    free(s->e);
    free(s);
}

static bool sticky_expired(const struct sticky *s, const struct sticky_entry *e, double now)
{
    return s->ttl > 0 && now - e->seen > s->ttl;
}

/* Every key lives within STICKY_WINDOW slots of its home, and every lookup reads the whole
 * window, so an entry is freed by zeroing it: no tombstones. */
static size_t sticky_home(const struct sticky *s, uint64_t key)
{
    return (size_t)balance_mix64(key) & s->mask;
}

struct lb_node *sticky_get(struct sticky *s, struct pool *p, uint64_t key, double now)
{
    size_t home = sticky_home(s, key);
    for (size_t j = 0; j < STICKY_WINDOW; j++) {
        struct sticky_entry *e = &s->e[(home + j) & s->mask];
        if (e->serial == 0 || e->key != key)
            continue;
        struct lb_node *n = e->node < POOL_MAX ? p->slot[e->node] : NULL;
        if (sticky_expired(s, e, now) || n == NULL || n->serial != e->serial ||
            !node_serves_users(p, n)) {
            memset(e, 0, sizeof *e);
            return NULL;
        }
        return n;
    }
    return NULL;
}

void sticky_put(struct sticky *s, uint64_t key, const struct lb_node *n, double now)
{
    assert(n != NULL && n->serial != 0);
    size_t home = sticky_home(s, key);
    struct sticky_entry *free_slot = NULL, *oldest = NULL;
    for (size_t j = 0; j < STICKY_WINDOW; j++) {
        struct sticky_entry *e = &s->e[(home + j) & s->mask];
        if (e->serial != 0 && e->key == key) {
            free_slot = e;
            break;
        }
        if (e->serial == 0 || sticky_expired(s, e, now)) {
            if (free_slot == NULL)
                free_slot = e;
        } else if (oldest == NULL || e->seen < oldest->seen) {
            oldest = e;
        }
    }
    struct sticky_entry *e = free_slot != NULL ? free_slot : oldest;
    e->key = key;
    e->serial = n->serial;
    e->seen = now;
    e->node = n->id;
}

void sticky_forget_node(struct sticky *s, unsigned node_id)
{
    for (size_t i = 0; i <= s->mask; i++)
        if (s->e[i].serial != 0 && s->e[i].node == node_id)
            memset(&s->e[i], 0, sizeof s->e[i]);
}

struct lb_node *balance_affinity(struct pool *p, struct sticky *s, uint64_t key, uint64_t exclude,
                                 double now, enum pick_reason *why)
{
    enum pick_reason r = PICK_AFFINITY;
    struct lb_node *n = s != NULL ? sticky_get(s, p, key, now) : NULL;
    if (n != NULL && !node_takes_new(n) && (exclude & (1ULL << n->id)) == 0) {
        r = PICK_STICKY;
    } else {
        n = balance_hash(p, key, exclude);
        if (n == NULL)
            r = PICK_NONE;
    }
    if (n != NULL && s != NULL)
        sticky_put(s, key, n, now);
    if (why != NULL)
        *why = r;
    return n;
}

/* ---- the lb cookie ---------------------------------------------------------------------- */

#define COOKIE_TIME_DIGITS  15  /* < 2^53: exact in a double */
#define COOKIE_FUTURE_SLACK 60. /* seconds a cookie's times may run ahead (a clock step) */

/* Whole seconds: 1..15 digits, no sign, no leading zero (except "0"). */
static int balance_parse_seconds(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > COOKIE_TIME_DIGITS || (n > 1 && s[0] == '0'))
        return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

struct lb_node *balance_cookie_node(struct pool *p, const char *value, size_t len, double now,
                                    double idle_age, double max_age, double *issued)
{
    if (value == NULL || len == 0 || len >= BALANCE_COOKIE_MAX)
        return NULL;
    /* name.issued.last, split from the right: names may hold dots */
    size_t last_dot = len;
    while (last_dot > 0 && value[last_dot - 1] != '.')
        last_dot--;
    if (last_dot < 2)
        return NULL;
    size_t mid_dot = last_dot - 1;
    while (mid_dot > 0 && value[mid_dot - 1] != '.')
        mid_dot--;
    if (mid_dot < 2)
        return NULL;
    /* value[last_dot - 1] and value[mid_dot - 1] are the two dots */
    long long t_issued, t_last;
    if (balance_parse_seconds(value + mid_dot, last_dot - 1 - mid_dot, &t_issued) < 0 ||
        balance_parse_seconds(value + last_dot, len - last_dot, &t_last) < 0)
        return NULL;
    size_t name_len = mid_dot - 1;
    char name[POOL_NAME_MAX];
    if (name_len >= sizeof name)
        return NULL;
    memcpy(name, value, name_len);
    name[name_len] = '\0';
    if (!pool_name_is_valid(name) || strlen(name) != name_len)
        return NULL;

    if (t_issued > t_last || (double)t_last > now + COOKIE_FUTURE_SLACK)
        return NULL;
    if (idle_age > 0 && now - (double)t_last > idle_age)
        return NULL;
    if (max_age > 0 && now - (double)t_issued > max_age)
        return NULL;
    struct lb_node *n = pool_find(p, name);
    if (n == NULL || !node_serves_users(p, n))
        return NULL;
    if (issued != NULL)
        *issued = (double)t_issued;
    return n;
}

static long long balance_cookie_seconds(double t)
{
    const double max = 999999999999999.; /* COOKIE_TIME_DIGITS nines */
    if (!(t > 0))
        return 0;
    if (t > max)
        return (long long)max;
    return (long long)floor(t);
}

int balance_cookie_value(const struct lb_node *n, double issued, double now, char *out, size_t cap)
{
    if (!(issued <= now))
        issued = now;
    int r = snprintf(out, cap, "%s.%lld.%lld", n->name, balance_cookie_seconds(issued),
                     balance_cookie_seconds(now));
    if (r < 0 || (size_t)r >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    return r;
}
