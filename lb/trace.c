#include "trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "siphash.h"

#define NIL            UINT32_MAX
#define NODE_NONE      0xff /* an index into t->node that names no node */
#define FP_PER_NODE    8    /* fingerprints one node may add: no node starves the others */
#define FP_MAX         (TRACE_NODES_MAX * FP_PER_NODE)
#define FP_NONE        0xffff
#define FP_LEN         48
#define NAME_LEN       32
#define USER_LEN       48
#define SESSIONS_LIMIT (1u << 24)
#define EVENTS_LIMIT   (1u << 20)
#define LOCATION_SCAN  4096 /* bytes of a Location searched for "login" */

_Static_assert(TRACE_NODES_MAX < NODE_NONE, "node indices must fit a uint8_t beside NODE_NONE");
_Static_assert(FP_MAX < FP_NONE, "fingerprint indices must fit a uint16_t beside FP_NONE");
_Static_assert(TRACE_TIMELINE_MAX <= UINT8_MAX, "timeline positions are uint8_t");

/* Verdicts are a closed vocabulary: a header value from the wire is matched against it and
 * never stored as such. */
enum verdict {
    V_NONE,
    V_VALID,
    V_EXPIRED,
    V_MAC_MISMATCH,
    V_BAD_TICKET,
    V_MALFORMED,
    V_ABSENT,
    V_FOUND,
    V_NEW,
    V_LOST,
    V_OFF,
    V_ERROR,
    V_INFERRED,
    V_CLEARED,
    V_COUNT,
};

static const char *const verdict_names[V_COUNT] = {
    [V_NONE] = "",
    [V_VALID] = "valid",
    [V_EXPIRED] = "expired",
    [V_MAC_MISMATCH] = "mac-mismatch",
    [V_BAD_TICKET] = "bad-ticket",
    [V_MALFORMED] = "malformed",
    [V_ABSENT] = "absent",
    [V_FOUND] = "found",
    [V_NEW] = "new",
    [V_LOST] = "lost",
    [V_OFF] = "off",
    [V_ERROR] = "error",
    [V_INFERRED] = "inferred",
    [V_CLEARED] = "cleared",
};

enum cause {
    C_NONE,
    C_KEY_MISMATCH,
    C_STORE_MISS,
    C_NODE_DOWN,
    C_STATE_ERROR,
    C_LOGIN_REDIRECT,
    C_COOKIE_CLEARED,
    C_INFERRED_REISSUE,
    C_REISSUE,
    C_COUNT,
};

static const char *const cause_names[C_COUNT] = {
    [C_NONE] = "",
    [C_KEY_MISMATCH] = "key-mismatch",
    [C_STORE_MISS] = "session-store-miss",
    [C_NODE_DOWN] = "node-down",
    [C_STATE_ERROR] = "state-server-error",
    [C_LOGIN_REDIRECT] = "inferred-login-redirect",
    [C_COOKIE_CLEARED] = "inferred-cookie-cleared",
    [C_INFERRED_REISSUE] = "inferred-reissue",
    [C_REISSUE] = "reissue",
};

static const char *const event_names[TRACE_EVENT_KIND_COUNT] = {
    [TRACE_ISSUED] = "issued",
    [TRACE_CHECKED] = "checked",
    [TRACE_HOP] = "session-hop",
    [TRACE_REJECTED] = "rejected",
    [TRACE_SESSION_LOST] = "session-lost",
    [TRACE_KEY_MISMATCH] = "key-mismatch",
    [TRACE_CLEARED] = "cleared",
    [TRACE_NODE_STATE] = "node-state",
    [TRACE_NODE_WEIGHT] = "node-weight",
};

const char *trace_event_name(enum trace_event_kind k)
{
    return (unsigned)k < TRACE_EVENT_KIND_COUNT ? event_names[k] : "?";
}

/* A timeline entry: the event with names and fingerprints as table indices (32 bytes
 * instead of a struct trace_event's 350). */
struct tl_entry {
    double time;
    uint64_t seq;
    uint16_t key_node, key_from;
    uint8_t kind, node, from, verdict, cause;
};

struct session {
    uint64_t id;     /* display id: the hash of the first value seen */
    uint64_t key[2]; /* hashes of the values that map here: current, previous */
    uint8_t n_keys;
    uint8_t cookie, issuer, last_node, last_verdict;
    uint16_t issuer_key;
    uint32_t lru_prev, lru_next; /* towards the most / least recently used */
    uint32_t hops, rejections, lost;
    double created, updated;
    uint8_t tl_start, tl_count;
    char user[USER_LEN];
    struct tl_entry tl[TRACE_TIMELINE_MAX];
};

struct cell {
    unsigned long long accepted, rejected;
    uint16_t key_issuer, key_checker;
    uint8_t last_verdict;
};

struct tnode {
    char name[NAME_LEN];
    uint16_t key;   /* its last fingerprint, FP_NONE before one is seen */
    uint16_t n_fps; /* fingerprints it added to the table */
    bool down;      /* trace_note_state said down, stopped or removed */
};

/* Open addressing with linear probing: slot index + 1 in idx1, 0 = empty (so a calloc'd
 * table is empty without touching its pages). */
struct slot {
    uint64_t h;
    uint32_t idx1;
};

struct trace {
    uint8_t hash_key[SIPHASH_KEY_LEN];
    size_t n_cookies;
    char cookie[TRACE_COOKIES_MAX][NAME_LEN];
    bool ticket_like[TRACE_COOKIES_MAX];

    struct tnode node[TRACE_NODES_MAX];
    size_t n_nodes;
    char fp[FP_MAX][FP_LEN];
    size_t n_fps;
    struct cell *cells; /* [n_cookies][TRACE_NODES_MAX][TRACE_NODES_MAX] */

    struct session *sess; /* max_sessions, the first n_sessions in use */
    size_t max_sessions, n_sessions;
    uint32_t lru_head, lru_tail;
    struct slot *map;
    size_t map_mask;

    struct trace_event *ring; /* event seq s lives at ring[(s - 1) % max_events] */
    size_t max_events;
    uint64_t last_seq;

    struct trace_counts counts;
};

/* What one observation says, decoded once for all its cookies. */
struct obs_ctx {
    const struct trace_obs *o;
    uint8_t node;
    uint16_t key;
    enum verdict ticket, session;
    bool login_redirect;
    bool carries_ticket; /* the request carried a ticket-like cookie */
    char user[USER_LEN];
};

/* ---- strings from the wire ------------------------------------------------------------ */

/* Copy as printable ASCII (anything else becomes '?'), truncated to cap - 1 bytes. */
static int pct_byte(const char *p)
{
    int v = 0;
    for (int i = 1; i <= 2; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Where to cut a percent-encoded text (sim-node's X-Farm-User) that was cut at o: before a
 * partial "%X", and before a UTF-8 character whose bytes are not all there. */
static size_t pct_cut(const char *s, size_t o)
{
    if (o >= 1 && s[o - 1] == '%')
        o -= 1;
    else if (o >= 2 && s[o - 2] == '%')
        o -= 2;
    size_t cont = 0;
    for (size_t at = o; at >= 3 && s[at - 3] == '%'; at -= 3) {
        int b = pct_byte(s + at - 3);
        if (b < 0x80)
            break;
        if (b < 0xC0) { /* a continuation byte */
            cont++;
            continue;
        }
        size_t need = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
        return cont < need ? at - 3 : o;
    }
    return o;
}

static void copy_clean(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    if (src != NULL) {
        for (; src[o] != '\0' && o + 1 < cap; o++) {
            unsigned char ch = (unsigned char)src[o];
            dst[o] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
        if (src[o] != '\0')
            o = pct_cut(dst, o); /* cut short: no half escape, no half character */
    }
    dst[o] = '\0';
}

static char lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Whether s (at most max bytes of it) contains the lower-case word w, ignoring ASCII case. */
static bool contains_ci(const char *s, size_t max, const char *w)
{
    size_t wl = strlen(w);
    for (size_t i = 0; i < max && s[i] != '\0'; i++) {
        size_t j = 0;
        while (j < wl && i + j < max && s[i + j] != '\0' && lower_ascii(s[i + j]) == w[j])
            j++;
        if (j == wl)
            return true;
    }
    return false;
}

static enum verdict verdict_from(const char *s, const enum verdict *allowed, size_t n)
{
    if (s == NULL)
        return V_NONE;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, verdict_names[allowed[i]]) == 0)
            return allowed[i];
    return V_NONE;
}

static enum verdict ticket_verdict(const char *s)
{
    static const enum verdict v[] = {V_VALID,      V_EXPIRED,   V_MAC_MISMATCH,
                                     V_BAD_TICKET, V_MALFORMED, V_ABSENT};
    return verdict_from(s, v, sizeof v / sizeof v[0]);
}

static enum verdict session_verdict(const char *s)
{
    static const enum verdict v[] = {V_FOUND, V_NEW, V_LOST, V_OFF, V_ERROR};
    return verdict_from(s, v, sizeof v / sizeof v[0]);
}

/* ---- names and fingerprints ----------------------------------------------------------- */

static uint8_t node_intern(struct trace *t, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return NODE_NONE;
    char clean[NAME_LEN];
    copy_clean(clean, sizeof clean, name);
    for (size_t i = 0; i < t->n_nodes; i++)
        if (strcmp(t->node[i].name, clean) == 0)
            return (uint8_t)i;
    if (t->n_nodes == TRACE_NODES_MAX)
        return NODE_NONE;
    struct tnode *n = &t->node[t->n_nodes];
    memcpy(n->name, clean, sizeof clean);
    n->key = FP_NONE;
    n->n_fps = 0;
    n->down = false;
    return (uint8_t)t->n_nodes++;
}

static const char *node_name(const struct trace *t, uint8_t i)
{
    return i < t->n_nodes ? t->node[i].name : "";
}

/* The fingerprint's index, adding it on behalf of node when new and there is room. */
static uint16_t fp_intern(struct trace *t, uint8_t node, const char *text)
{
    if (text == NULL || text[0] == '\0')
        return FP_NONE;
    char clean[FP_LEN];
    copy_clean(clean, sizeof clean, text);
    struct tnode *n = node != NODE_NONE ? &t->node[node] : NULL;
    if (n != NULL && n->key != FP_NONE && strcmp(t->fp[n->key], clean) == 0)
        return n->key; /* the usual case: the node's keys did not change */
    uint16_t k = FP_NONE;
    for (size_t i = 0; i < t->n_fps; i++) {
        if (strcmp(t->fp[i], clean) == 0) {
            k = (uint16_t)i;
            break;
        }
    }
    if (k == FP_NONE && n != NULL && n->n_fps < FP_PER_NODE && t->n_fps < FP_MAX) {
        memcpy(t->fp[t->n_fps], clean, sizeof clean);
        k = (uint16_t)t->n_fps++;
        n->n_fps++;
    }
    if (n != NULL && k != FP_NONE)
        n->key = k;
    return k;
}

static const char *fp_text(const struct trace *t, uint16_t k)
{
    return k < t->n_fps ? t->fp[k] : "";
}

/* ---- the session table: hash map + LRU list ------------------------------------------- */

static uint64_t value_hash(const struct trace *t, const char *p, size_t n)
{
    return siphash24(t->hash_key, p, n);
}

static uint32_t map_find(const struct trace *t, uint64_t h, int cookie)
{
    for (size_t i = h & t->map_mask; t->map[i].idx1 != 0; i = (i + 1) & t->map_mask) {
        const struct slot *s = &t->map[i];
        if (s->h == h && (cookie < 0 || t->sess[s->idx1 - 1].cookie == cookie))
            return s->idx1 - 1;
    }
    return NIL;
}

static void map_put(struct trace *t, uint64_t h, uint32_t idx)
{
    size_t i = h & t->map_mask;
    while (t->map[i].idx1 != 0)
        i = (i + 1) & t->map_mask;
    t->map[i].h = h;
    t->map[i].idx1 = idx + 1;
}

/* Remove (h, idx), shifting later entries of the probe run back (no tombstones). */
static void map_del(struct trace *t, uint64_t h, uint32_t idx)
{
    size_t i = h & t->map_mask;
    for (;; i = (i + 1) & t->map_mask) {
        if (t->map[i].idx1 == 0)
            return;
        if (t->map[i].h == h && t->map[i].idx1 == idx + 1)
            break;
    }
    for (size_t j = i;;) {
        j = (j + 1) & t->map_mask;
        if (t->map[j].idx1 == 0)
            break;
        size_t home = t->map[j].h & t->map_mask;
        /* Entry j may move to the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        t->map[i] = t->map[j];
        i = j;
    }
    t->map[i].idx1 = 0;
}

static void lru_unlink(struct trace *t, uint32_t si)
{
    struct session *s = &t->sess[si];
    if (s->lru_prev != NIL)
        t->sess[s->lru_prev].lru_next = s->lru_next;
    else
        t->lru_head = s->lru_next;
    if (s->lru_next != NIL)
        t->sess[s->lru_next].lru_prev = s->lru_prev;
    else
        t->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NIL;
}

static void lru_push_front(struct trace *t, uint32_t si)
{
    struct session *s = &t->sess[si];
    s->lru_prev = NIL;
    s->lru_next = t->lru_head;
    if (t->lru_head != NIL)
        t->sess[t->lru_head].lru_prev = si;
    t->lru_head = si;
    if (t->lru_tail == NIL)
        t->lru_tail = si;
}

static void session_touch(struct trace *t, uint32_t si, double now)
{
    if (t->lru_head != si) {
        lru_unlink(t, si);
        lru_push_front(t, si);
    }
    t->sess[si].updated = now;
}

/* A new session under value hash h: a fresh slot, or the least recently used one's. */
static uint32_t session_new(struct trace *t, uint64_t h, size_t cookie, double now)
{
    uint32_t si;
    if (t->n_sessions < t->max_sessions) {
        si = (uint32_t)t->n_sessions++;
    } else {
        si = t->lru_tail;
        struct session *old = &t->sess[si];
        for (uint8_t k = 0; k < old->n_keys; k++)
            map_del(t, old->key[k], si);
        lru_unlink(t, si);
    }
    struct session *s = &t->sess[si];
    memset(s, 0, offsetof(struct session, tl)); /* the timeline is overwritten as it fills */
    s->id = h;
    s->key[0] = h;
    s->n_keys = 1;
    s->cookie = (uint8_t)cookie;
    s->issuer = s->last_node = NODE_NONE;
    s->issuer_key = FP_NONE;
    s->last_verdict = V_NONE;
    s->created = s->updated = now;
    map_put(t, h, si);
    lru_push_front(t, si);
    return si;
}

/* The session now answers to value hash h; the previous value still maps to it, the one
 * before that no longer does. */
static void session_rekey(struct trace *t, uint32_t si, uint64_t h)
{
    struct session *s = &t->sess[si];
    if (s->n_keys == 2)
        map_del(t, s->key[1], si);
    s->key[1] = s->key[0];
    s->key[0] = h;
    s->n_keys = 2;
    map_put(t, h, si);
}

/* ---- events ---------------------------------------------------------------------------- */

static void display_id(uint64_t h, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, h >>= 4)
        out[i] = digits[h & 0xf];
    out[16] = '\0';
}

/* strlcpy for fields filled from our own tables (no printf on the hot path). */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The ring slot of the next event, and its sequence number. */
static struct trace_event *ring_next(struct trace *t, uint64_t *seq)
{
    *seq = ++t->last_seq;
    return &t->ring[(*seq - 1) % t->max_events];
}

struct rec {
    enum trace_event_kind kind;
    uint8_t node, from;
    enum verdict verdict;
    enum cause cause;
    uint16_t key_node, key_from;
};

static void event_from(const struct trace *t, const struct session *s, const struct rec *r,
                       double time, struct trace_event *e)
{
    e->time = time; /* every field is written: no memset on the hot path */
    e->kind = r->kind;
    display_id(s->id, e->session);
    memcpy(e->cookie, t->cookie[s->cookie], sizeof e->cookie);
    copy_str(e->node, sizeof e->node, node_name(t, r->node));
    copy_str(e->from, sizeof e->from, node_name(t, r->from));
    copy_str(e->verdict, sizeof e->verdict, verdict_names[r->verdict]);
    copy_str(e->cause, sizeof e->cause, cause_names[r->cause]);
    copy_str(e->key_node, sizeof e->key_node, fp_text(t, r->key_node));
    copy_str(e->key_from, sizeof e->key_from, fp_text(t, r->key_from));
    e->user[0] = '\0';
    e->weight = e->weight_from = 0;
}

/* Record an event of session si: the global ring, the session's timeline, the counts. */
static void record(struct trace *t, uint32_t si, const struct rec *r, double now)
{
    struct session *s = &t->sess[si];
    uint64_t seq;
    struct trace_event *e = ring_next(t, &seq);
    event_from(t, s, r, now, e);
    memcpy(e->user, s->user, sizeof e->user);

    unsigned slot = (s->tl_start + s->tl_count) % TRACE_TIMELINE_MAX;
    if (s->tl_count == TRACE_TIMELINE_MAX)
        s->tl_start = (uint8_t)((s->tl_start + 1) % TRACE_TIMELINE_MAX);
    else
        s->tl_count++;
    s->tl[slot] = (struct tl_entry){
        .time = now,
        .seq = seq,
        .key_node = r->key_node,
        .key_from = r->key_from,
        .kind = (uint8_t)r->kind,
        .node = r->node,
        .from = r->from,
        .verdict = (uint8_t)r->verdict,
        .cause = (uint8_t)r->cause,
    };

    switch (r->kind) {
    case TRACE_ISSUED:
        t->counts.issued++;
        break;
    case TRACE_HOP:
        t->counts.hops++;
        break;
    case TRACE_REJECTED:
        t->counts.rejected++;
        break;
    case TRACE_SESSION_LOST:
        t->counts.lost++;
        break;
    case TRACE_KEY_MISMATCH:
        t->counts.key_mismatch++;
        break;
    default:
        break;
    }
}

/* ---- the matrix ------------------------------------------------------------------------ */

static void matrix_count(struct trace *t, const struct session *s, const struct obs_ctx *c,
                         bool accepted, enum verdict v)
{
    if (s->issuer == NODE_NONE || c->node == NODE_NONE)
        return;
    size_t n = TRACE_NODES_MAX;
    struct cell *cell = &t->cells[((size_t)s->cookie * n + s->issuer) * n + c->node];
    if (accepted)
        cell->accepted++;
    else
        cell->rejected++;
    cell->last_verdict = (uint8_t)v;
    cell->key_issuer = s->issuer_key;
    cell->key_checker = c->key;
}

/* ---- judging one session on one answer --------------------------------------------------- */

static void checked(struct trace *t, uint32_t si, const struct obs_ctx *c, enum verdict v,
                    bool hopped)
{
    struct session *s = &t->sess[si];
    matrix_count(t, s, c, true, v);
    if (hopped || s->last_verdict != v) {
        struct rec r = {TRACE_CHECKED, c->node, s->issuer, v, C_NONE, c->key, s->issuer_key};
        record(t, si, &r, c->o->now);
    }
    s->last_verdict = (uint8_t)v;
}

static void rejected(struct trace *t, uint32_t si, const struct obs_ctx *c, enum verdict v,
                     enum cause cause, bool in_matrix)
{
    struct session *s = &t->sess[si];
    if (in_matrix)
        matrix_count(t, s, c, false, v);
    struct rec r = {TRACE_REJECTED, c->node, s->issuer, v, cause, c->key, s->issuer_key};
    record(t, si, &r, c->o->now);
    if (cause == C_KEY_MISMATCH) {
        struct rec k = {TRACE_KEY_MISMATCH, c->node, s->issuer, V_NONE, C_NONE, c->key,
                        s->issuer_key};
        record(t, si, &k, c->o->now);
    }
    s->rejections++;
    s->last_verdict = (uint8_t)v;
}

static void lost(struct trace *t, uint32_t si, const struct obs_ctx *c, enum verdict v,
                 enum cause cause, uint8_t prev, bool in_matrix)
{
    struct session *s = &t->sess[si];
    if (in_matrix)
        matrix_count(t, s, c, false, v);
    struct rec r = {TRACE_SESSION_LOST, c->node, prev, v, cause, FP_NONE, FP_NONE};
    record(t, si, &r, c->o->now);
    s->lost++;
    s->last_verdict = (uint8_t)v;
}

static void judge_ticket(struct trace *t, uint32_t si, const struct obs_ctx *c, bool hopped)
{
    const struct session *s = &t->sess[si];
    switch (c->ticket) {
    case V_VALID:
        checked(t, si, c, V_VALID, hopped);
        break;
    case V_EXPIRED:
    case V_MALFORMED:
        rejected(t, si, c, c->ticket, C_NONE, false);
        break;
    case V_MAC_MISMATCH:
    case V_BAD_TICKET: {
        bool keys_differ = s->issuer_key != FP_NONE && c->key != FP_NONE && s->issuer_key != c->key;
        rejected(t, si, c, c->ticket, keys_differ ? C_KEY_MISMATCH : C_NONE, true);
        break;
    }
    default: /* absent: the node did not look at this cookie */
        break;
    }
}

static void judge_session(struct trace *t, uint32_t si, const struct obs_ctx *c, bool hopped,
                          uint8_t prev)
{
    switch (c->session) {
    case V_FOUND:
        checked(t, si, c, V_FOUND, hopped);
        break;
    case V_LOST:
    case V_NEW: {
        bool prev_down = hopped && prev != NODE_NONE && t->node[prev].down;
        lost(t, si, c, c->session, prev_down ? C_NODE_DOWN : C_STORE_MISS, prev, true);
        break;
    }
    case V_ERROR:
        lost(t, si, c, V_ERROR, C_STATE_ERROR, prev, false);
        break;
    default: /* off: the node keeps no session state */
        break;
    }
}

static void cleared(struct trace *t, uint32_t si, const struct obs_ctx *c)
{
    struct session *s = &t->sess[si];
    struct rec r = {TRACE_CLEARED, c->node, NODE_NONE, V_CLEARED, C_NONE, FP_NONE, FP_NONE};
    record(t, si, &r, c->o->now);
    s->last_verdict = V_CLEARED;
}

/* Without the node's own verdict: what the answer's behaviour gives away. */
static void infer(struct trace *t, uint32_t si, const struct obs_ctx *c, bool ticket_like,
                  bool hopped, uint8_t prev, bool clears, bool reissues)
{
    enum cause cause = C_NONE;
    if (clears) {
        if (!hopped) {
            cleared(t, si, c); /* a logout, even if it redirects to the login page */
            return;
        }
        cause = C_COOKIE_CLEARED;
    } else if (c->login_redirect && (ticket_like || (hopped && !c->carries_ticket))) {
        cause = C_LOGIN_REDIRECT; /* see trace.h: what it means for each kind */
    } else if (reissues && hopped) {
        cause = C_INFERRED_REISSUE;
    }
    if (cause == C_NONE)
        return;
    if (ticket_like)
        rejected(t, si, c, V_INFERRED, cause, true);
    else
        lost(t, si, c, V_INFERRED, cause, prev, true);
}

static void observe_cookie(struct trace *t, const struct obs_ctx *c, size_t i)
{
    const struct trace_obs *o = c->o;
    bool ticket_like = t->ticket_like[i];
    bool has_verdict = (ticket_like ? c->ticket : c->session) != V_NONE;
    bool sets = o->set_present[i] && o->set_value[i] != NULL && o->set_len[i] > 0;
    bool clears = o->set_present[i] && !sets;
    uint64_t set_h = sets ? value_hash(t, o->set_value[i], o->set_len[i]) : 0;

    uint32_t si = NIL;
    if (o->req_value[i] != NULL && o->req_len[i] > 0) {
        uint64_t h = value_hash(t, o->req_value[i], o->req_len[i]);
        si = map_find(t, h, (int)i);
        if (si == NIL)
            si = session_new(t, h, i, o->now);
        session_touch(t, si, o->now);
        struct session *s = &t->sess[si];
        uint8_t prev = s->last_node;
        bool hopped = prev != NODE_NONE && c->node != NODE_NONE && prev != c->node;
        if (c->user[0] != '\0')
            memcpy(s->user, c->user, sizeof s->user);
        if (hopped) {
            struct rec r = {TRACE_HOP, c->node, prev, V_NONE, C_NONE, FP_NONE, FP_NONE};
            record(t, si, &r, o->now);
            s->hops++;
        }
        s->last_node = c->node;

        bool reissues = sets && set_h != h;
        if (!has_verdict) {
            infer(t, si, c, ticket_like, hopped, prev, clears, reissues);
        } else {
            if (ticket_like)
                judge_ticket(t, si, c, hopped);
            else
                judge_session(t, si, c, hopped, prev);
            if (clears)
                cleared(t, si, c);
        }
    }
    if (!sets)
        return;

    /* Set-Cookie with a value: a new session, or a new value for the request's one. */
    uint32_t known = map_find(t, set_h, (int)i);
    if (known != NIL) {
        session_touch(t, known, o->now); /* the same value again: nothing new */
        return;
    }
    enum cause cause = C_NONE;
    if (si != NIL) {
        session_rekey(t, si, set_h);
        cause = C_REISSUE;
    } else {
        si = session_new(t, set_h, i, o->now);
        if (c->user[0] != '\0')
            memcpy(t->sess[si].user, c->user, sizeof t->sess[si].user);
    }
    struct session *s = &t->sess[si];
    s->issuer = c->node;
    s->issuer_key = c->key;
    s->last_node = c->node;
    struct rec r = {TRACE_ISSUED, c->node, NODE_NONE, V_NONE, cause, c->key, FP_NONE};
    record(t, si, &r, o->now);
}

void trace_observe(struct trace *t, const struct trace_obs *o)
{
    struct obs_ctx c;
    c.o = o;
    c.node = node_intern(t, o->node);
    c.key = fp_intern(t, c.node, o->node_key);
    c.ticket = ticket_verdict(o->farm_ticket);
    c.session = session_verdict(o->farm_session);
    c.login_redirect = (o->status == 302 || o->status == 303) && o->location != NULL &&
                       contains_ci(o->location, LOCATION_SCAN, "login");
    copy_clean(c.user, sizeof c.user, o->farm_user);
    c.carries_ticket = false;
    for (size_t i = 0; i < t->n_cookies; i++)
        if (t->ticket_like[i] && o->req_value[i] != NULL && o->req_len[i] > 0)
            c.carries_ticket = true;
    for (size_t i = 0; i < t->n_cookies; i++)
        observe_cookie(t, &c, i);
}

/* A new event about a node (not a session): its kind, the node and why. */
static struct trace_event *node_event(struct trace *t, double now, enum trace_event_kind kind,
                                      const char *node, const char *reason)
{
    uint64_t seq;
    struct trace_event *e = ring_next(t, &seq);
    memset(e, 0, sizeof *e);
    e->time = now;
    e->kind = kind;
    copy_clean(e->node, sizeof e->node, node);
    copy_clean(e->cause, sizeof e->cause, reason);
    return e;
}

void trace_note_state(struct trace *t, double now, const char *node, const char *state,
                      const char *reason)
{
    uint8_t n = node_intern(t, node);
    /* Gone from the pool counts as down: its users' later losses are the node's fault. */
    bool down = state != NULL && (strcmp(state, "down") == 0 || strcmp(state, "stopped") == 0 ||
                                  strcmp(state, "removed") == 0);
    if (n != NODE_NONE)
        t->node[n].down = down;
    struct trace_event *e = node_event(t, now, TRACE_NODE_STATE, node, reason);
    copy_clean(e->verdict, sizeof e->verdict, state);
}

void trace_note_weight(struct trace *t, double now, const char *node, unsigned weight,
                       unsigned from, const char *reason)
{
    struct trace_event *e = node_event(t, now, TRACE_NODE_WEIGHT, node, reason);
    e->weight = weight;
    e->weight_from = from;
}

void trace_events_span(const struct trace *t, uint64_t *oldest, uint64_t *newest)
{
    *newest = t->last_seq;
    if (t->last_seq == 0)
        *oldest = 0;
    else
        *oldest = t->last_seq < t->max_events ? 1 : t->last_seq - t->max_events + 1;
}

uint64_t trace_events_since(const struct trace *t, uint64_t since,
                            void (*fn)(void *arg, uint64_t seq, const struct trace_event *e),
                            void *arg)
{
    uint64_t newest = t->last_seq;
    if (since >= newest)
        return newest;
    uint64_t kept = newest < t->max_events ? newest : t->max_events;
    uint64_t first = newest - kept + 1;
    if (since + 1 > first)
        first = since + 1;
    for (uint64_t seq = first; seq <= newest; seq++)
        fn(arg, seq, &t->ring[(seq - 1) % t->max_events]);
    return newest;
}

/* ---- life cycle ----------------------------------------------------------------------- */

static bool name_is_ticket_like(const char *name)
{
    return contains_ci(name, SIZE_MAX, "auth");
}

struct trace *trace_new(const char *const *cookies, size_t n_cookies, size_t max_sessions,
                        size_t max_events)
{
    if (n_cookies > TRACE_COOKIES_MAX || max_sessions == 0 || max_sessions > SESSIONS_LIMIT ||
        max_events == 0 || max_events > EVENTS_LIMIT)
        return NULL;
    struct trace *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if (RAND_bytes(t->hash_key, sizeof t->hash_key) != 1)
        goto fail;
    t->n_cookies = n_cookies;
    for (size_t i = 0; i < n_cookies; i++) {
        copy_clean(t->cookie[i], sizeof t->cookie[i], cookies[i]);
        t->ticket_like[i] = cookies[i] != NULL && name_is_ticket_like(cookies[i]);
    }
    size_t map_cap = 8;
    while (map_cap < 4 * max_sessions) /* two keys per session at most: load <= 1/2 */
        map_cap *= 2;
    t->map_mask = map_cap - 1;
    /* calloc: pages of these tables are touched only as sessions and events arrive */
    t->map = calloc(map_cap, sizeof *t->map);
    t->sess = calloc(max_sessions, sizeof *t->sess);
    t->ring = calloc(max_events, sizeof *t->ring);
    t->cells =
        calloc(n_cookies ? n_cookies * TRACE_NODES_MAX * TRACE_NODES_MAX : 1, sizeof *t->cells);
    if (t->map == NULL || t->sess == NULL || t->ring == NULL || t->cells == NULL)
        goto fail;
    t->max_sessions = max_sessions;
    t->max_events = max_events;
    t->lru_head = t->lru_tail = NIL;
    return t;
fail:
    trace_free(t);
    return NULL;
}

void trace_free(struct trace *t)
{
    if (t == NULL)
        return;
    free(t->map);
    free(t->sess);
    free(t->ring);
    free(t->cells);
    /* the hash key is not a secret worth more than the ids it hides, but leave no copy */
    memset(t->hash_key, 0, sizeof t->hash_key);
    free(t);
}

void trace_counts(const struct trace *t, struct trace_counts *c)
{
    *c = t->counts;
    c->sessions_tracked = t->n_sessions;
}

void trace_display_id(const struct trace *t, const char *value, size_t len, char out[17])
{
    display_id(value_hash(t, value, len), out);
}

/* ---- JSON ----------------------------------------------------------------------------- */

/* ISO 8601 UTC with milliseconds; out of range (or NaN) shows as the epoch. */
static void iso_time(double secs, char out[40])
{
    if (!(secs >= 0.0 && secs < 253402300800.0)) /* up to year 9999 */
        secs = 0.0;
    long long ms = (long long)(secs * 1000.0 + 0.5);
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&s, &tm) != NULL)
        n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        n = (size_t)snprintf(out, 40, "1970-01-01T00:00:00");
    snprintf(out + n, 40 - n, ".%03uZ", (unsigned)((unsigned long long)ms % 1000));
}

/* "s" JSON-escaped, or null when empty. */
static void json_str_or_null(struct buf *b, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        buf_puts(b, "null");
        return;
    }
    buf_puts(b, "\"");
    buf_json(b, s, strlen(s));
    buf_puts(b, "\"");
}

/* ,"name":"value" for a char array field — left out when empty. */
static void json_opt(struct buf *b, const char *name, const char *value, size_t cap)
{
    size_t len = strnlen(value, cap);
    if (len == 0)
        return;
    buf_printf(b, ",\"%s\":\"", name);
    buf_json(b, value, len);
    buf_puts(b, "\"");
}

#define JSON_OPT(b, name, e, field) json_opt(b, name, (e)->field, sizeof(e)->field)

void trace_json_event(const struct trace_event *e, uint64_t seq, struct buf *out)
{
    char when[40];
    iso_time(e->time, when);
    bool node_state = e->kind == TRACE_NODE_STATE;
    buf_printf(out, "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"kind\":\"%s\"", seq, when,
               trace_event_name(e->kind));
    if (e->kind == TRACE_NODE_WEIGHT) {
        JSON_OPT(out, "node", e, node);
        buf_printf(out, ",\"weight\":%u,\"previous\":%u", e->weight, e->weight_from);
        JSON_OPT(out, "reason", e, cause);
        buf_puts(out, "}");
        return;
    }
    JSON_OPT(out, "session", e, session);
    JSON_OPT(out, "cookie", e, cookie);
    JSON_OPT(out, "node", e, node);
    JSON_OPT(out, "from", e, from);
    JSON_OPT(out, node_state ? "state" : "verdict", e, verdict);
    JSON_OPT(out, node_state ? "reason" : "cause", e, cause);
    JSON_OPT(out, "key_node", e, key_node);
    JSON_OPT(out, "key_from", e, key_from);
    JSON_OPT(out, "user", e, user);
    buf_puts(out, "}");
}

static void json_session_fields(const struct trace *t, const struct session *s, struct buf *out)
{
    char id[17], created[40], updated[40];
    display_id(s->id, id);
    iso_time(s->created, created);
    iso_time(s->updated, updated);
    buf_printf(out, "{\"id\":\"%s\",\"cookie\":", id);
    json_str_or_null(out, t->cookie[s->cookie]);
    buf_puts(out, ",\"issuer\":");
    json_str_or_null(out, node_name(t, s->issuer));
    buf_puts(out, ",\"last_node\":");
    json_str_or_null(out, node_name(t, s->last_node));
    buf_puts(out, ",\"user\":");
    json_str_or_null(out, s->user);
    buf_printf(out, ",\"hops\":%" PRIu32 ",\"rejections\":%" PRIu32 ",\"lost\":%" PRIu32, s->hops,
               s->rejections, s->lost);
    buf_puts(out, ",\"last_verdict\":");
    json_str_or_null(out, verdict_names[s->last_verdict]);
    buf_printf(out, ",\"created\":\"%s\",\"updated\":\"%s\"", created, updated);
}

void trace_json_sessions(const struct trace *t, struct buf *out, size_t limit)
{
    buf_printf(out, "{\"tracked\":%zu,\"sessions\":[", t->n_sessions);
    size_t n = 0;
    for (uint32_t si = t->lru_head; si != NIL && (limit == 0 || n < limit);
         si = t->sess[si].lru_next, n++) {
        if (n > 0)
            buf_puts(out, ",");
        json_session_fields(t, &t->sess[si], out);
        buf_puts(out, "}");
    }
    buf_puts(out, "]}");
}

/* Exactly 16 hex digits. */
static int parse_id(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = lower_ascii(s[i]);
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else
            return -1;
        v = (v << 4) | (uint64_t)d;
    }
    if (s[16] != '\0')
        return -1;
    *out = v;
    return 0;
}

int trace_json_session(const struct trace *t, const char *id, struct buf *out)
{
    uint64_t h;
    if (id == NULL || parse_id(id, &h) != 0)
        return -1;
    uint32_t si = map_find(t, h, -1);
    for (size_t i = 0; si == NIL && i < t->n_sessions; i++) /* an id no value maps to now */
        if (t->sess[i].id == h)
            si = (uint32_t)i;
    if (si == NIL)
        return -1;
    const struct session *s = &t->sess[si];
    json_session_fields(t, s, out);
    buf_puts(out, ",\"key_issuer\":");
    json_str_or_null(out, fp_text(t, s->issuer_key));
    buf_puts(out, ",\"timeline\":[");
    for (unsigned k = 0; k < s->tl_count; k++) {
        const struct tl_entry *te = &s->tl[(s->tl_start + k) % TRACE_TIMELINE_MAX];
        struct rec r = {
            (enum trace_event_kind)te->kind, te->node,     te->from,    (enum verdict)te->verdict,
            (enum cause)te->cause,           te->key_node, te->key_from};
        struct trace_event e;
        event_from(t, s, &r, te->time, &e);
        if (k > 0)
            buf_puts(out, ",");
        trace_json_event(&e, te->seq, out);
    }
    buf_puts(out, "]}");
    return 0;
}

void trace_json_matrix(const struct trace *t, struct buf *out)
{
    buf_puts(out, "{\"nodes\":[");
    for (size_t i = 0; i < t->n_nodes; i++) {
        if (i > 0)
            buf_puts(out, ",");
        json_str_or_null(out, t->node[i].name);
    }
    buf_puts(out, "],\"cells\":[");
    bool first = true;
    size_t n = TRACE_NODES_MAX;
    for (size_t ck = 0; ck < t->n_cookies; ck++) {
        for (size_t is = 0; is < t->n_nodes; is++) {
            for (size_t ch = 0; ch < t->n_nodes; ch++) {
                const struct cell *cell = &t->cells[(ck * n + is) * n + ch];
                if (cell->accepted == 0 && cell->rejected == 0)
                    continue;
                if (!first)
                    buf_puts(out, ",");
                first = false;
                buf_puts(out, "{\"cookie\":");
                json_str_or_null(out, t->cookie[ck]);
                buf_puts(out, ",\"issuer\":");
                json_str_or_null(out, t->node[is].name);
                buf_puts(out, ",\"checker\":");
                json_str_or_null(out, t->node[ch].name);
                buf_printf(out,
                           ",\"accepted\":%llu,\"rejected\":%llu,\"last_verdict\":", cell->accepted,
                           cell->rejected);
                json_str_or_null(out, verdict_names[cell->last_verdict]);
                buf_puts(out, ",\"key_issuer\":");
                json_str_or_null(out, fp_text(t, cell->key_issuer));
                buf_puts(out, ",\"key_checker\":");
                json_str_or_null(out, fp_text(t, cell->key_checker));
                buf_puts(out, "}");
            }
        }
    }
    buf_puts(out, "]}");
}
