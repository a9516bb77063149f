#include "load.h"

#include <stdlib.h>
#include <string.h>

static const char *const step_names[LOAD_STEP_COUNT] = {
    [LOAD_STEP_LOGIN] = "login",
    [LOAD_STEP_WHOAMI] = "whoami",
    [LOAD_STEP_ADD] = "add",
    [LOAD_STEP_CART] = "cart",
};

static const char *const ticket_names[LOAD_TICKET_COUNT] = {
    [LOAD_TICKET_VALID] = "valid",
    [LOAD_TICKET_EXPIRED] = "expired",
    [LOAD_TICKET_MAC_MISMATCH] = "mac-mismatch",
    [LOAD_TICKET_BAD_TICKET] = "bad-ticket",
    [LOAD_TICKET_MALFORMED] = "malformed",
    [LOAD_TICKET_ABSENT] = "absent",
    [LOAD_TICKET_OTHER] = "other",
};

static const char *const cart_why_names[LOAD_CART_WHY_COUNT] = {
    [LOAD_CART_SESSION_LOST] = "session lost",
    [LOAD_CART_SESSION_NEW] = "session new",
    [LOAD_CART_ITEMS_MISSING] = "items missing",
};

const char *load_step_name(enum load_step s)
{
    return (unsigned)s < LOAD_STEP_COUNT ? step_names[s] : "?";
}

bool load_step_is_post(enum load_step s)
{
    return s == LOAD_STEP_ADD;
}

const char *load_ticket_name(enum load_ticket t)
{
    return (unsigned)t < LOAD_TICKET_COUNT ? ticket_names[t] : "?";
}

enum load_ticket load_ticket_from_name(const char *s)
{
    if (s == NULL)
        return LOAD_TICKET_OTHER;
    for (int i = 0; i < LOAD_TICKET_OTHER; i++)
        if (strcmp(s, ticket_names[i]) == 0)
            return (enum load_ticket)i;
    return LOAD_TICKET_OTHER;
}

const char *load_cart_why_name(enum load_cart_why w)
{
    return (unsigned)w < LOAD_CART_WHY_COUNT ? cart_why_names[w] : "?";
}

const char *load_kind_name(enum load_kind k)
{
    return k == LOAD_KIND_LOGOUT ? "logout" : "lost-cart";
}

static const char *why_name(enum load_kind k, int why)
{
    return k == LOAD_KIND_LOGOUT ? load_ticket_name((enum load_ticket)why)
                                 : load_cart_why_name((enum load_cart_why)why);
}

int load_step_path(const struct load_user *u, const char *user, char *out, size_t cap)
{
    int n;
    switch (u->next) {
    case LOAD_STEP_LOGIN:
        n = snprintf(out, cap, "/login?user=%s", user);
        break;
    case LOAD_STEP_WHOAMI:
        n = snprintf(out, cap, "/whoami");
        break;
    case LOAD_STEP_ADD:
        n = snprintf(out, cap, "/cart/add?item=item%u", u->items + 1);
        break;
    case LOAD_STEP_CART:
        n = snprintf(out, cap, "/cart");
        break;
    default:
        return -1;
    }
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

void load_user_init(struct load_user *u, unsigned id)
{
    memset(u, 0, sizeof *u);
    u->id = id;
    load_user_start_over(u);
}

void load_user_start_over(struct load_user *u)
{
    u->next = LOAD_STEP_LOGIN;
    u->node = -1;
    u->issuer = -1;
    u->cart = 0;
    u->cart_node = -1;
    u->items = 0;
    u->has_session = false;
    u->start_over = false;
}

void load_stats_init(struct load_stats *st)
{
    memset(st, 0, sizeof *st);
}

void load_stats_cleanup(struct load_stats *st)
{
    free(st->groups);
    free(st->latency_us);
    memset(st, 0, sizeof *st);
}

int load_node_index(struct load_stats *st, const char *name)
{
    for (int i = 0; i < st->n_nodes; i++)
        if (strcmp(st->node[i].name, name) == 0)
            return i;
    size_t len = strlen(name);
    if (st->n_nodes == LOAD_MAX_NODES || len == 0 || len >= LOAD_NODE_NAME_MAX)
        return -1;
    memcpy(st->node[st->n_nodes].name, name, len + 1);
    return st->n_nodes++;
}

static void count_transport(struct load_stats *st, const char *text)
{
    st->transport_errors++;
    if (text == NULL)
        text = "transport error";
    for (int i = 0; i < st->n_transport; i++)
        if (strncmp(st->transport[i].text, text, sizeof st->transport[i].text - 1) == 0) {
            st->transport[i].count++;
            return;
        }
    int i = st->n_transport < LOAD_MAX_ERRORS ? st->n_transport++ : LOAD_MAX_ERRORS - 1;
    if (i == LOAD_MAX_ERRORS - 1 && st->transport[i].count > 0 &&
        strcmp(st->transport[i].text, "other") != 0) {
        /* Table full: the last slot becomes "other". */
        snprintf(st->transport[i].text, sizeof st->transport[i].text, "other");
    } else if (st->transport[i].count == 0) {
        snprintf(st->transport[i].text, sizeof st->transport[i].text, "%s", text);
    }
    st->transport[i].count++;
}

static int push_latency(struct load_stats *st, uint32_t us)
{
    if (st->n_latency == st->cap_latency) {
        size_t cap = st->cap_latency ? st->cap_latency * 2 : 4096;
        uint32_t *p = realloc(st->latency_us, cap * sizeof *p);
        if (p == NULL)
            return -1;
        st->latency_us = p;
        st->cap_latency = cap;
    }
    st->latency_us[st->n_latency++] = us;
    return 0;
}

static int record_event(struct load_stats *st, const struct load_user *u, enum load_kind kind,
                        int from, int to, int why, double at)
{
    if (st->n_samples < LOAD_MAX_SAMPLES)
        st->samples[st->n_samples++] = (struct load_event){
            .at = at, .user = u->id, .kind = kind, .from = from, .to = to, .why = why};
    for (size_t i = 0; i < st->n_groups; i++) {
        struct load_group *g = &st->groups[i];
        if (g->kind == kind && g->from == from && g->to == to && g->why == why) {
            g->count++;
            if (at < g->first_at)
                g->first_at = at;
            if (at > g->last_at)
                g->last_at = at;
            return 0;
        }
    }
    if (st->n_groups == st->cap_groups) {
        size_t cap = st->cap_groups ? st->cap_groups * 2 : 16;
        struct load_group *p = realloc(st->groups, cap * sizeof *p);
        if (p == NULL)
            return -1;
        st->groups = p;
        st->cap_groups = cap;
    }
    st->groups[st->n_groups++] = (struct load_group){.kind = kind,
                                                     .from = from,
                                                     .to = to,
                                                     .why = why,
                                                     .count = 1,
                                                     .first_at = at,
                                                     .last_at = at};
    return 0;
}

static enum load_step step_after(enum load_step s)
{
    switch (s) {
    case LOAD_STEP_WHOAMI:
        return LOAD_STEP_ADD;
    case LOAD_STEP_ADD:
        return LOAD_STEP_CART;
    default:
        return LOAD_STEP_WHOAMI;
    }
}

int load_observe(struct load_stats *st, struct load_user *u, const struct load_answer *a)
{
    int rc = 0;
    st->requests++;
    if ((unsigned)a->step < LOAD_STEP_COUNT)
        st->steps[a->step]++;
    if (a->at > st->last_at)
        st->last_at = a->at;
    if (push_latency(st, a->latency_us) != 0)
        rc = -1;
    if (a->status == 0) {
        /* No answer: try the same step again. */
        count_transport(st, a->error);
        return rc;
    }
    st->by_status[a->status > 0 && a->status < 600 ? a->status : 0]++;
    if (a->status >= 200 && a->status < 400)
        st->ok++;
    if (a->step == LOAD_STEP_ADD)
        u->items++; /* the name was used, whatever came of it */

    int to = a->node != NULL ? load_node_index(st, a->node) : -1;
    if (to < 0) {
        /* Not a node's answer (the lb's own 502, 503, 504): nothing to learn about the
         * session; try the same step again. */
        st->no_node++;
        return rc;
    }
    struct load_node *n = &st->node[to];
    n->answers++;
    int from = u->node;
    bool hop = from >= 0 && from != to;
    if (hop) {
        st->hops++;
        n->to.hops++;
        n->from_node[from].hops++;
        if (a->step == LOAD_STEP_LOGIN) {
            n->to.logins++;
            n->from_node[from].logins++;
        }
    }
    u->node = to;

    /* The ticket. */
    enum load_ticket verdict = load_ticket_from_name(a->ticket);
    bool lost_ticket = false;
    bool ok = a->status >= 200 && a->status < 400;
    if (a->step == LOAD_STEP_LOGIN) {
        if (ok && verdict == LOAD_TICKET_VALID) {
            st->logins++;
            u->issuer = to;
            u->next = LOAD_STEP_WHOAMI;
        } else {
            u->issuer = -1;
            u->next = LOAD_STEP_LOGIN;
        }
    } else if (u->issuer >= 0) {
        n->checked_from[u->issuer]++;
        if (verdict != LOAD_TICKET_VALID) {
            lost_ticket = true;
            n->rejected_from[u->issuer]++;
            n->ticket_why[verdict]++;
            n->lost_ticket_issuers |= 1u << u->issuer;
            st->logouts++;
            if (!u->was_logged_out)
                st->users_logged_out++;
            u->was_logged_out = true;
            if (!hop)
                st->logouts_in_place++;
            if (record_event(st, u, LOAD_KIND_LOGOUT, hop ? from : to, to, verdict, a->at) != 0)
                rc = -1;
            u->issuer = -1;
            u->next = LOAD_STEP_LOGIN;
        } else {
            u->next = step_after(a->step);
        }
    } else {
        u->next = LOAD_STEP_LOGIN;
    }

    /* The cart. */
    bool lost_cart = false;
    enum load_cart_why why = LOAD_CART_SESSION_LOST;
    if (a->session != NULL) {
        bool known = strcmp(a->session, "found") == 0 || strcmp(a->session, "lost") == 0 ||
                     strcmp(a->session, "new") == 0;
        if (strcmp(a->session, "lost") == 0) {
            lost_cart = true;
            why = LOAD_CART_SESSION_LOST;
        } else if (strcmp(a->session, "new") == 0 && u->has_session) {
            lost_cart = true;
            why = LOAD_CART_SESSION_NEW;
        }
        if (known)
            u->has_session = true;
    }
    /* Where the cart was last seen: a cart missing items was lost on the way from there,
     * though whoami answers in between (which do not show the cart) may have hopped. */
    int cart_from = hop ? from : to;
    if (a->cart_items >= 0 && ok) {
        long want = u->cart + (a->step == LOAD_STEP_ADD ? 1 : 0);
        if (!lost_cart && a->cart_items < want) {
            lost_cart = true;
            why = LOAD_CART_ITEMS_MISSING;
            if (u->cart_node >= 0)
                cart_from = u->cart_node;
        }
        u->cart = a->cart_items;
        u->cart_node = to;
    } else if (lost_cart) {
        u->cart = 0; /* the node started an empty session under the user's id */
        u->cart_node = to;
    }
    bool cart_hop = cart_from != to;
    if (lost_cart) {
        n->cart_why[why]++;
        n->cart_lost_from[cart_from]++;
        st->lost_carts++;
        if (!u->lost_cart)
            st->users_lost_cart++;
        u->lost_cart = true;
        if (!cart_hop)
            st->carts_in_place++;
        if (record_event(st, u, LOAD_KIND_CART, cart_from, to, why, a->at) != 0)
            rc = -1;
    }

    bool ticket_lost_hop = hop && lost_ticket;
    bool cart_lost_hop = lost_cart && cart_hop;
    if (ticket_lost_hop || cart_lost_hop) {
        st->lost_hops++;
        n->to.lost++;
    }
    if (ticket_lost_hop) {
        st->lost_ticket_hops++;
        n->to.lost_ticket++;
        n->from_node[from].lost_ticket++;
        n->from_node[from].lost++;
    }
    if (cart_lost_hop) {
        st->lost_cart_hops++;
        n->to.lost_cart++;
        n->from_node[cart_from].lost_cart++;
        if (!(ticket_lost_hop && cart_from == from))
            n->from_node[cart_from].lost++;
    }

    if (u->cart >= LOAD_CART_MAX && u->next != LOAD_STEP_LOGIN) {
        u->start_over = true;
        u->next = LOAD_STEP_LOGIN;
    }
    return rc;
}

uint32_t load_percentile(const uint32_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    if (p <= 0)
        return sorted[0];
    /* Nearest rank: the smallest value with at least p % of the values at or below it. */
    double exact = p / 100.0 * (double)n;
    size_t rank = (size_t)exact;
    if ((double)rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

uint64_t load_fail_ticket(const struct load_stats *st, int issuer, int checker)
{
    return st->node[checker].rejected_from[issuer];
}

uint64_t load_fail_cart(const struct load_stats *st, int from, int to)
{
    return st->node[to].cart_lost_from[from];
}

int load_blame(uint64_t (*fail)(const struct load_stats *st, int i, int j),
               const struct load_stats *st, int out[2])
{
    /* A node is to blame when it is an end of every failing pair. */
    int n = st->n_nodes;
    bool any = false;
    bool in_all[LOAD_MAX_NODES];
    for (int k = 0; k < n; k++)
        in_all[k] = true;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (fail(st, i, j) == 0)
                continue;
            any = true;
            for (int k = 0; k < n; k++)
                if (k != i && k != j)
                    in_all[k] = false;
        }
    int found = 0;
    if (!any)
        return 0;
    for (int k = 0; k < n; k++)
        if (in_all[k]) {
            if (found == 2)
                return 0; /* cannot happen: a pair has two ends */
            out[found++] = k;
        }
    return found;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static const char *group_node(const struct load_stats *st, int i)
{
    return i >= 0 && i < st->n_nodes ? st->node[i].name : "";
}

/* Order of the report: kind, from, to (by name), reason. */
static int group_cmp(const struct load_stats *st, const struct load_group *a,
                     const struct load_group *b)
{
    int c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if ((c = strcmp(group_node(st, a->from), group_node(st, b->from))) != 0)
        return c;
    if ((c = strcmp(group_node(st, a->to), group_node(st, b->to))) != 0)
        return c;
    return a->why < b->why ? -1 : a->why > b->why;
}

void load_finish(struct load_stats *st)
{
    if (st->n_latency > 1)
        qsort(st->latency_us, st->n_latency, sizeof *st->latency_us, cmp_u32);
    /* Insertion sort: a run has a few dozen groups (kinds x hops x reasons). */
    for (size_t i = 1; i < st->n_groups; i++) {
        struct load_group g = st->groups[i];
        size_t j = i;
        for (; j > 0 && group_cmp(st, &st->groups[j - 1], &g) > 0; j--)
            st->groups[j] = st->groups[j - 1];
        st->groups[j] = g;
    }
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The verdicts most often seen, as "mac-mismatch" or "mac-mismatch, expired". */
static void top_ticket_whys(const uint64_t why[LOAD_TICKET_COUNT], char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < LOAD_TICKET_COUNT; i++)
        if (why[i] > 0 && len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", ticket_names[i]);
}

static void top_cart_whys(const uint64_t why[LOAD_CART_WHY_COUNT], char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < LOAD_CART_WHY_COUNT; i++)
        if (why[i] > 0 && len < cap)
            len +=
                (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", cart_why_names[i]);
}

static void farm_ticket_whys(const struct load_stats *st, char *out, size_t cap)
{
    uint64_t why[LOAD_TICKET_COUNT] = {0};
    for (int i = 0; i < st->n_nodes; i++)
        for (int w = 0; w < LOAD_TICKET_COUNT; w++)
            why[w] += st->node[i].ticket_why[w];
    top_ticket_whys(why, out, cap);
}

static void farm_cart_whys(const struct load_stats *st, char *out, size_t cap)
{
    uint64_t why[LOAD_CART_WHY_COUNT] = {0};
    for (int i = 0; i < st->n_nodes; i++)
        for (int w = 0; w < LOAD_CART_WHY_COUNT; w++)
            why[w] += st->node[i].cart_why[w];
    top_cart_whys(why, out, cap);
}

/* "at web3", "between web1 and web3", or "all over the farm". */
static void blame_text(const struct load_stats *st, int n, const int who[2], char *out, size_t cap)
{
    if (n == 1)
        snprintf(out, cap, "at %s", st->node[who[0]].name);
    else if (n == 2)
        snprintf(out, cap, "between %s and %s", st->node[who[0]].name, st->node[who[1]].name);
    else
        snprintf(out, cap, "all over the farm");
}

#define APPEND(out, len, cap, ...)                                                                 \
    do {                                                                                           \
        if ((len) < (cap))                                                                         \
            (len) += (size_t)snprintf((out) + (len), (cap) - (len), __VA_ARGS__);                  \
    } while (0)

/* How the verdict words one kind of loss. */
struct loss_words {
    const char *what;  /* "sessions break" */
    const char *thing; /* what a hop loses: "ticket" */
    const char *event; /* one event: "logout"; "logouts" for more */
    const char *stay;  /* how an event without a hop came about */
};

static const struct loss_words logout_words = {
    .what = "sessions break",
    .thing = "ticket",
    .event = "logout",
    .stay = "while the user stayed on the same node",
};
static const struct loss_words cart_words = {
    .what = "carts lost",
    .thing = "cart",
    .event = "lost cart",
    .stay = "without a hop",
};

/* "sessions break at web3: 5 of 20 hops (25.0%) lost the ticket (mac-mismatch)", then the
 * events without a hop, if any. When none was on a hop, says that first: the hops are not
 * the cause. Returns the new length. */
static size_t verdict_losses(char *out, size_t len, size_t cap, const struct loss_words *w,
                             const char *where, uint64_t events, uint64_t on_hops, uint64_t hops,
                             const char *whys)
{
    uint64_t in_place = events - on_hops;
    if (on_hops == 0) {
        if (hops > 0)
            APPEND(out, len, cap, "%s %s, but none of the %llu hops lost the %s: ", w->what, where,
                   (unsigned long long)hops, w->thing);
        else
            APPEND(out, len, cap, "%s %s, with no hop at all: ", w->what, where);
        if (events == 1)
            APPEND(out, len, cap, "the one %s (%s) came %s", w->event, whys, w->stay);
        else if (events == 2)
            APPEND(out, len, cap, "both %ss (%s) came %s", w->event, whys, w->stay);
        else
            APPEND(out, len, cap, "all %llu %ss (%s) came %s", (unsigned long long)events, w->event,
                   whys, w->stay);
        return len;
    }
    APPEND(out, len, cap, "%s %s: %llu of %llu hops (%.1f%%) lost the %s (%s)", w->what, where,
           (unsigned long long)on_hops, (unsigned long long)hops, pct(on_hops, hops), w->thing,
           whys);
    if (in_place > 0)
        APPEND(out, len, cap, ", and %llu more %s%s came %s", (unsigned long long)in_place,
               w->event, in_place == 1 ? "" : "s", w->stay);
    return len;
}

static uint64_t farm_ticket_count(const struct load_stats *st, enum load_ticket t)
{
    uint64_t n = 0;
    for (int i = 0; i < st->n_nodes; i++)
        n += st->node[i].ticket_why[t];
    return n;
}

/* Every logout an expired ticket: the keys matched (the MAC held, the ticket decrypted), so
 * the verdict says that first. Expiry on one or two nodes only points at their clocks or
 * their forms timeout; all over the farm, at the timeout itself. */
static size_t verdict_expired(char *out, size_t len, size_t cap, const struct load_stats *st,
                              int nb, const char *where)
{
    if (st->logouts == 1)
        APPEND(out, len, cap, "no key fault: the one logout was an expired ticket, %s", where);
    else if (st->logouts == 2)
        APPEND(out, len, cap, "no key fault: both logouts were expired tickets, %s", where);
    else
        APPEND(out, len, cap, "no key fault: all %llu logouts were expired tickets, %s",
               (unsigned long long)st->logouts, where);
    if (nb == 1)
        APPEND(out, len, cap, " (is its clock ahead, or its forms timeout shorter?)");
    else if (nb == 2)
        APPEND(out, len, cap, " (are their clocks ahead, or their forms timeouts shorter?)");
    else
        APPEND(out, len, cap, " (the forms timeout ran out during the run)");
    return len;
}

void load_verdict(const struct load_stats *st, unsigned users, char *out, size_t cap)
{
    size_t len = 0;
    char whys[128], where[96];
    int who[2];
    out[0] = '\0';
    uint64_t errors = st->requests - st->ok;
    if (st->requests == 0 || st->requests == st->transport_errors) {
        APPEND(out, len, cap, "no answer: every request failed (is the farm up?)");
        return;
    }
    if (st->logouts == 0 && st->lost_carts == 0) {
        APPEND(out, len, cap,
               "no session lost: %u users kept their login and their cart over %llu hops", users,
               (unsigned long long)st->hops);
    }
    if (st->logouts > 0) {
        int nb = load_blame(load_fail_ticket, st, who);
        blame_text(st, nb, who, where, sizeof where);
        farm_ticket_whys(st, whys, sizeof whys);
        bool all_expired = farm_ticket_count(st, LOAD_TICKET_EXPIRED) == st->logouts;
        if (all_expired)
            len = verdict_expired(out, len, cap, st, nb, where);
        else
            len = verdict_losses(out, len, cap, &logout_words, where, st->logouts,
                                 st->lost_ticket_hops, st->hops, whys);
        APPEND(out, len, cap, "; %llu of %u users logged out",
               (unsigned long long)st->users_logged_out, users);
        if (nb == 1 && !all_expired) {
            /* How the blamed node and the others treat each other's tickets. */
            int x = who[0];
            uint64_t in_rej = 0, in_chk = 0, out_rej = 0, out_chk = 0;
            for (int i = 0; i < st->n_nodes; i++) {
                if (i == x)
                    continue;
                in_rej += st->node[x].rejected_from[i];
                in_chk += st->node[x].checked_from[i];
                out_rej += st->node[i].rejected_from[x];
                out_chk += st->node[i].checked_from[x];
            }
            const char *name = st->node[x].name;
            if (in_chk > 0)
                APPEND(out, len, cap, "; %s rejected %llu of %llu tickets the other nodes issued",
                       name, (unsigned long long)in_rej, (unsigned long long)in_chk);
            if (out_chk > 0)
                APPEND(out, len, cap, "%s the other nodes rejected %llu of %llu %s issued",
                       in_chk > 0 ? ", and" : ";", (unsigned long long)out_rej,
                       (unsigned long long)out_chk, name);
        }
    }
    if (st->lost_carts > 0) {
        int nb = load_blame(load_fail_cart, st, who);
        blame_text(st, nb, who, where, sizeof where);
        farm_cart_whys(st, whys, sizeof whys);
        if (len > 0)
            APPEND(out, len, cap, "; ");
        len = verdict_losses(out, len, cap, &cart_words, where, st->lost_carts, st->lost_cart_hops,
                             st->hops, whys);
        APPEND(out, len, cap, "; %llu of %u users lost their cart",
               (unsigned long long)st->users_lost_cart, users);
        uint64_t session_lost = 0;
        for (int i = 0; i < st->n_nodes; i++)
            session_lost += st->node[i].cart_why[LOAD_CART_SESSION_LOST];
        if (nb == 0 && session_lost > 0)
            APPEND(out, len, cap,
                   "; every node loses the others' sessions: InProc? use a state server or "
                   "affinity");
    }
    if (errors > 0)
        APPEND(out, len, cap, "; %llu of %llu requests failed", (unsigned long long)errors,
               (unsigned long long)st->requests);
}

static double ms(uint32_t us)
{
    return (double)us / 1000.0;
}

static const char *node_name(const struct load_stats *st, int i)
{
    return i >= 0 && i < st->n_nodes ? st->node[i].name : "-";
}

/* "web1, web2" for the bits set in mask, in name order. */
static void issuer_list(const struct load_stats *st, uint32_t mask, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    const char *last = "";
    for (;;) {
        const char *next = NULL;
        for (int i = 0; i < st->n_nodes; i++)
            if ((mask & (1u << i)) && strcmp(st->node[i].name, last) > 0 &&
                (next == NULL || strcmp(st->node[i].name, next) < 0))
                next = st->node[i].name;
        if (next == NULL)
            break;
        APPEND(out, len, cap, "%s%s", len ? ", " : "", next);
        last = next;
    }
}

/* Rounded for the JSON report: 3 decimals. */
static double round3(double x)
{
    return (double)(long long)(x * 1000.0 + (x < 0 ? -0.5 : 0.5)) / 1000.0;
}

static void print_groups(const struct load_stats *st, enum load_kind kind, FILE *out)
{
    bool header = false;
    for (size_t i = 0; i < st->n_groups; i++) {
        const struct load_group *g = &st->groups[i];
        if (g->kind != kind)
            continue;
        if (!header) {
            fprintf(out, "  %-24s %-14s %8s  %s\n", "hop", "why", "events", "when");
            header = true;
        }
        char hop[64];
        if (g->from == g->to)
            snprintf(hop, sizeof hop, "%s (no hop)", node_name(st, g->to));
        else
            snprintf(hop, sizeof hop, "%s -> %s", node_name(st, g->from), node_name(st, g->to));
        fprintf(out, "  %-24s %-14s %8llu  %.2fs-%.2fs\n", hop, why_name(kind, g->why),
                (unsigned long long)g->count, g->first_at, g->last_at);
    }
}

void load_report_text(const struct load_stats *st, const struct load_config *cfg, double elapsed_s,
                      FILE *out)
{
    fprintf(out, "farmctl load: %u users, concurrency %u, think %u ms, %u source address%s, %s\n",
            cfg->users, cfg->concurrency, cfg->think_ms, cfg->source_ips,
            cfg->source_ips == 1 ? "" : "es", cfg->url);
    fprintf(out, "requests    %llu in %.2f s, %.0f rps (%llu logins)\n",
            (unsigned long long)st->requests, elapsed_s,
            elapsed_s > 0 ? (double)st->requests / elapsed_s : 0.0, (unsigned long long)st->logins);
    fprintf(out, "latency     p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n",
            ms(load_percentile(st->latency_us, st->n_latency, 50)),
            ms(load_percentile(st->latency_us, st->n_latency, 90)),
            ms(load_percentile(st->latency_us, st->n_latency, 99)),
            ms(load_percentile(st->latency_us, st->n_latency, 100)));
    uint64_t errors = st->requests - st->ok;
    if (errors == 0) {
        fprintf(out, "errors      none\n");
    } else {
        fprintf(out, "errors      %llu (%.2f%%):", (unsigned long long)errors,
                pct(errors, st->requests));
        for (int s = 0; s < 600; s++)
            if (st->by_status[s] > 0 && (s < 200 || s >= 400))
                fprintf(out, " %d x%llu", s, (unsigned long long)st->by_status[s]);
        for (int i = 0; i < st->n_transport; i++)
            fprintf(out, " \"%s\" x%llu", st->transport[i].text,
                    (unsigned long long)st->transport[i].count);
        fputc('\n', out);
    }
    fprintf(out, "logged out  %llu of %u users at least once (%llu events)\n",
            (unsigned long long)st->users_logged_out, cfg->users, (unsigned long long)st->logouts);
    print_groups(st, LOAD_KIND_LOGOUT, out);
    fprintf(out, "carts lost  %llu of %u users at least once (%llu events)\n",
            (unsigned long long)st->users_lost_cart, cfg->users,
            (unsigned long long)st->lost_carts);
    print_groups(st, LOAD_KIND_CART, out);
    fprintf(out, "hops        %llu, %llu lost (%.1f%%): %llu lost the ticket, %llu the cart\n",
            (unsigned long long)st->hops, (unsigned long long)st->lost_hops,
            pct(st->lost_hops, st->hops), (unsigned long long)st->lost_ticket_hops,
            (unsigned long long)st->lost_cart_hops);
    if (st->lost_hops > 0) {
        fprintf(out, "lost hops by node:\n");
        int order[LOAD_MAX_NODES];
        for (int i = 0; i < st->n_nodes; i++)
            order[i] = i;
        /* Most lost hops first: the broken node leads. (Insertion sort: at most 32.) */
        for (int i = 1; i < st->n_nodes; i++)
            for (int j = i; j > 0 && st->node[order[j]].to.lost > st->node[order[j - 1]].to.lost;
                 j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        for (int k = 0; k < st->n_nodes; k++) {
            const struct load_node *n = &st->node[order[k]];
            char whys[128], issuers[256];
            if (n->to.lost_ticket > 0) {
                uint64_t rejected = 0, checked = 0;
                uint32_t mask = 0;
                for (int i = 0; i < st->n_nodes; i++)
                    if (n->rejected_from[i] > 0) {
                        mask |= 1u << i;
                        rejected += n->rejected_from[i];
                        checked += n->checked_from[i];
                    }
                top_ticket_whys(n->ticket_why, whys, sizeof whys);
                issuer_list(st, mask, issuers, sizeof issuers);
                fprintf(out,
                        "  %s: %llu of %llu hops to %s lost the ticket (%s): it rejected %llu of "
                        "%llu tickets issued by %s\n",
                        n->name, (unsigned long long)n->to.lost_ticket,
                        (unsigned long long)n->to.hops, n->name, whys, (unsigned long long)rejected,
                        (unsigned long long)checked, issuers);
            }
            if (n->to.lost_cart > 0) {
                top_cart_whys(n->cart_why, whys, sizeof whys);
                fprintf(out, "  %s: %llu of %llu hops to %s lost the cart (%s)\n", n->name,
                        (unsigned long long)n->to.lost_cart, (unsigned long long)n->to.hops,
                        n->name, whys);
            }
        }
    }
    char verdict[1024];
    load_verdict(st, cfg->users, verdict, sizeof verdict);
    fprintf(out, "verdict: %s\n", verdict);
}

static json_t *hops_json(const struct load_hops *h)
{
    return json_pack("{sI sI sI sI sI}", "hops", (json_int_t)h->hops, "logins",
                     (json_int_t)h->logins, "lost", (json_int_t)h->lost, "lost_ticket",
                     (json_int_t)h->lost_ticket, "lost_cart", (json_int_t)h->lost_cart);
}

static json_t *names_json(const struct load_stats *st, int n, const int who[2])
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(st->node[who[i]].name));
    return a;
}

json_t *load_report_json(const struct load_stats *st, const struct load_config *cfg,
                         double elapsed_s)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "url", json_string(cfg->url));
    json_object_set_new(o, "users", json_integer(cfg->users));
    json_object_set_new(o, "concurrency", json_integer(cfg->concurrency));
    json_object_set_new(o, "think_ms", json_integer(cfg->think_ms));
    json_object_set_new(o, "source_ips", json_integer(cfg->source_ips));
    json_object_set_new(o, "elapsed_s", json_real(round3(elapsed_s)));
    json_object_set_new(o, "requests", json_integer((json_int_t)st->requests));
    json_object_set_new(o, "rps",
                        json_real(round3(elapsed_s > 0 ? (double)st->requests / elapsed_s : 0.0)));
    json_object_set_new(o, "logins", json_integer((json_int_t)st->logins));
    json_t *steps = json_object();
    for (int i = 0; i < LOAD_STEP_COUNT; i++)
        json_object_set_new(steps, step_names[i], json_integer((json_int_t)st->steps[i]));
    json_object_set_new(o, "by_step", steps);
    json_object_set_new(o, "latency_ms",
                        json_pack("{sf sf sf sf}", "p50",
                                  ms(load_percentile(st->latency_us, st->n_latency, 50)), "p90",
                                  ms(load_percentile(st->latency_us, st->n_latency, 90)), "p99",
                                  ms(load_percentile(st->latency_us, st->n_latency, 99)), "max",
                                  ms(load_percentile(st->latency_us, st->n_latency, 100))));

    json_t *errors = json_object();
    json_object_set_new(errors, "total", json_integer((json_int_t)(st->requests - st->ok)));
    json_t *by_status = json_object();
    for (int s = 0; s < 600; s++)
        if (st->by_status[s] > 0 && (s < 200 || s >= 400)) {
            char key[8];
            snprintf(key, sizeof key, "%d", s);
            json_object_set_new(by_status, key, json_integer((json_int_t)st->by_status[s]));
        }
    json_object_set_new(errors, "by_status", by_status);
    json_object_set_new(errors, "transport", json_integer((json_int_t)st->transport_errors));
    json_t *by_error = json_object();
    for (int i = 0; i < st->n_transport; i++)
        json_object_set_new(by_error, st->transport[i].text,
                            json_integer((json_int_t)st->transport[i].count));
    json_object_set_new(errors, "by_transport_error", by_error);
    json_object_set_new(errors, "without_node", json_integer((json_int_t)st->no_node));
    json_object_set_new(o, "errors", errors);

    for (int k = 0; k < 2; k++) {
        enum load_kind kind = k == 0 ? LOAD_KIND_LOGOUT : LOAD_KIND_CART;
        json_t *part = json_object();
        json_object_set_new(
            part, "users",
            json_integer((json_int_t)(k == 0 ? st->users_logged_out : st->users_lost_cart)));
        json_object_set_new(part, "events",
                            json_integer((json_int_t)(k == 0 ? st->logouts : st->lost_carts)));
        json_object_set_new(
            part, "without_hop",
            json_integer((json_int_t)(k == 0 ? st->logouts_in_place : st->carts_in_place)));
        json_t *groups = json_array();
        for (size_t i = 0; i < st->n_groups; i++) {
            const struct load_group *g = &st->groups[i];
            if (g->kind != kind)
                continue;
            json_array_append_new(
                groups, json_pack("{ss ss ss sI sf sf}", "from", node_name(st, g->from), "to",
                                  node_name(st, g->to), "why", why_name(kind, g->why), "events",
                                  (json_int_t)g->count, "first_s", round3(g->first_at), "last_s",
                                  round3(g->last_at)));
        }
        json_object_set_new(part, "by_hop", groups);
        int who[2];
        int nb = load_blame(k == 0 ? load_fail_ticket : load_fail_cart, st, who);
        json_object_set_new(part, "blame", names_json(st, nb, who));
        json_object_set_new(o, k == 0 ? "logged_out" : "carts_lost", part);
    }

    json_t *hops = json_object();
    json_object_set_new(hops, "total", json_integer((json_int_t)st->hops));
    json_object_set_new(hops, "lost", json_integer((json_int_t)st->lost_hops));
    json_object_set_new(hops, "lost_ticket", json_integer((json_int_t)st->lost_ticket_hops));
    json_object_set_new(hops, "lost_cart", json_integer((json_int_t)st->lost_cart_hops));
    json_t *pairs = json_array();
    for (int to = 0; to < st->n_nodes; to++)
        for (int from = 0; from < st->n_nodes; from++) {
            const struct load_hops *h = &st->node[to].from_node[from];
            if (h->hops == 0)
                continue;
            json_t *p = json_pack("{ss ss}", "from", st->node[from].name, "to", st->node[to].name);
            json_t *counts = hops_json(h);
            json_object_update(p, counts); /* after from and to */
            json_decref(counts);
            json_array_append_new(pairs, p);
        }
    json_object_set_new(hops, "pairs", pairs);
    json_object_set_new(o, "hops", hops);

    json_t *nodes = json_array();
    for (int i = 0; i < st->n_nodes; i++) {
        const struct load_node *n = &st->node[i];
        json_t *j = json_object();
        json_object_set_new(j, "node", json_string(n->name));
        json_object_set_new(j, "answers", json_integer((json_int_t)n->answers));
        json_object_set_new(j, "hops_to", hops_json(&n->to));
        json_t *tw = json_object();
        for (int w = 0; w < LOAD_TICKET_COUNT; w++)
            if (n->ticket_why[w] > 0)
                json_object_set_new(tw, ticket_names[w],
                                    json_integer((json_int_t)n->ticket_why[w]));
        json_object_set_new(j, "ticket_lost_why", tw);
        json_t *cw = json_object();
        for (int w = 0; w < LOAD_CART_WHY_COUNT; w++)
            if (n->cart_why[w] > 0)
                json_object_set_new(cw, cart_why_names[w],
                                    json_integer((json_int_t)n->cart_why[w]));
        json_object_set_new(j, "cart_lost_why", cw);
        json_t *rej = json_object();
        for (int k = 0; k < st->n_nodes; k++)
            if (n->checked_from[k] > 0)
                json_object_set_new(rej, st->node[k].name,
                                    json_pack("{sI sI}", "checked", (json_int_t)n->checked_from[k],
                                              "rejected", (json_int_t)n->rejected_from[k]));
        json_object_set_new(j, "tickets_by_issuer", rej);
        json_array_append_new(nodes, j);
    }
    json_object_set_new(o, "nodes", nodes);

    json_t *samples = json_array();
    for (size_t i = 0; i < st->n_samples; i++) {
        const struct load_event *e = &st->samples[i];
        json_array_append_new(samples,
                              json_pack("{sf sI ss ss ss ss}", "at_s", round3(e->at), "user",
                                        (json_int_t)e->user, "kind", load_kind_name(e->kind),
                                        "from", node_name(st, e->from), "to", node_name(st, e->to),
                                        "why", why_name(e->kind, e->why)));
    }
    json_object_set_new(o, "first_events", samples);

    char verdict[1024];
    load_verdict(st, cfg->users, verdict, sizeof verdict);
    json_object_set_new(o, "verdict", json_string(verdict));
    return o;
}
