#include "statestore.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STATESTORE_MIN_BUCKETS 16

struct statestore_item {
    struct statestore_item *next; /* bucket chain */
    uint64_t hash;
    double expires; /* on the store's clock */
    unsigned timeout_s;
    size_t key_len;
    size_t app_len; /* the appid part of the key: up to the first '(' */
    size_t data_len;
    char *data; /* owned; at least one byte allocated */
    char key[]; /* NUL-terminated */
};

struct statestore {
    struct statestore_item **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
    size_t bytes;
    size_t max_items;
    size_t max_bytes;
    /* No item expires before this (a lower bound, exact after a sweep): sweeps before it
     * are skipped, so a full store refusing PUTs does not rescan on every request. */
    double next_expiry;
};

static uint64_t statestore_hash(const char *key, size_t len)
{
    /* FNV-1a, 64 bit. Not flood-resistant; the state server is a lab tool on loopback. */
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211u;
    }
    return h;
}

static size_t statestore_item_bytes(size_t key_len, size_t data_len)
{
    return sizeof(struct statestore_item) + key_len + 1 + data_len;
}

struct statestore *statestore_new(size_t max_items, size_t max_bytes)
{
    struct statestore *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto fail;
    s->n_buckets = STATESTORE_MIN_BUCKETS;
    s->buckets = calloc(s->n_buckets, sizeof *s->buckets);
    if (s->buckets == NULL)
        goto fail;
    s->max_items = max_items ? max_items : STATESTORE_DEFAULT_MAX_ITEMS;
    s->max_bytes = max_bytes ? max_bytes : STATESTORE_DEFAULT_MAX_BYTES;
    s->next_expiry = INFINITY;
    return s;
fail:
    statestore_free(s);
    return NULL;
}

static void statestore_item_free(struct statestore_item *it)
{
    free(it->data);
    free(it);
}

void statestore_free(struct statestore *s)
{
    if (s == NULL)
        return;
    if (s->buckets) {
        for (size_t i = 0; i < s->n_buckets; i++) {
            struct statestore_item *it = s->buckets[i];
            while (it) {
                struct statestore_item *next = it->next;
                statestore_item_free(it);
                it = next;
            }
        }
    }
    free(s->buckets);
    free(s);
}

/* The link that points at key's item (or at the NULL ending its chain). */
static struct statestore_item **statestore_find(struct statestore *s, const char *key, size_t len,
                                                uint64_t h)
{
    struct statestore_item **link = &s->buckets[h & (s->n_buckets - 1)];
    while (*link) {
        struct statestore_item *it = *link;
        if (it->hash == h && it->key_len == len && memcmp(it->key, key, len) == 0)
            break;
        link = &it->next;
    }
    return link;
}

static void statestore_unlink(struct statestore *s, struct statestore_item **link)
{
    struct statestore_item *it = *link;
    *link = it->next;
    s->count--;
    s->bytes -= statestore_item_bytes(it->key_len, it->data_len);
    statestore_item_free(it);
}

/* Double the bucket array when the chains grow past one item per bucket on average. A
 * failed allocation only leaves the chains longer. */
static void statestore_maybe_grow(struct statestore *s)
{
    if (s->count <= s->n_buckets || s->n_buckets > SIZE_MAX / 2 / sizeof *s->buckets)
        return;
    size_t n = s->n_buckets * 2;
    struct statestore_item **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < s->n_buckets; i++) {
        struct statestore_item *it = s->buckets[i];
        while (it) {
            struct statestore_item *next = it->next;
            struct statestore_item **head = &b[it->hash & (n - 1)];
            it->next = *head;
            *head = it;
            it = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->n_buckets = n;
}

static bool statestore_key_is_valid(size_t len)
{
    return len > 0 && len <= STATESTORE_MAX_KEY;
}

enum statestore_status statestore_get(struct statestore *s, double now, const char *key,
                                      const void **data, size_t *len)
{
    size_t key_len = strlen(key);
    if (!statestore_key_is_valid(key_len))
        return STATESTORE_INVALID;
    struct statestore_item **link = statestore_find(s, key, key_len, statestore_hash(key, key_len));
    struct statestore_item *it = *link;
    if (it == NULL)
        return STATESTORE_NOT_FOUND;
    if (it->expires <= now) {
        statestore_unlink(s, link);
        return STATESTORE_NOT_FOUND;
    }
    /* Sliding expiry, as ASP.NET session state. Expiries only grow here, so next_expiry
     * stays a valid lower bound. */
    it->expires = now + it->timeout_s;
    *data = it->data;
    *len = it->data_len;
    return STATESTORE_OK;
}

static bool statestore_would_overflow(const struct statestore *s, size_t add_items,
                                      size_t add_bytes, size_t free_bytes)
{
    if (s->count + add_items > s->max_items)
        return true;
    return s->bytes - free_bytes + add_bytes > s->max_bytes;
}

enum statestore_status statestore_put(struct statestore *s, double now, const char *key,
                                      const void *data, size_t len, unsigned timeout_s)
{
    size_t key_len = strlen(key);
    if (!statestore_key_is_valid(key_len) || timeout_s == 0 ||
        timeout_s > STATESTORE_MAX_TIMEOUT_S || len > SIZE_MAX / 2)
        return STATESTORE_INVALID;
    size_t need = statestore_item_bytes(key_len, len);
    /* Sweep first when a new item of this size would not fit; the sweep may remove key's
     * own item, so look it up afterwards. */
    if (statestore_would_overflow(s, 1, need, 0))
        statestore_expire(s, now);

    uint64_t h = statestore_hash(key, key_len);
    struct statestore_item **link = statestore_find(s, key, key_len, h);
    struct statestore_item *it = *link;
    if (it) {
        size_t old = statestore_item_bytes(it->key_len, it->data_len);
        if (statestore_would_overflow(s, 0, need, old))
            return STATESTORE_FULL;
        char *copy = malloc(len ? len : 1);
        if (copy == NULL)
            return STATESTORE_NOMEM;
        if (len)
            memcpy(copy, data, len);
        free(it->data);
        it->data = copy;
        it->data_len = len;
        s->bytes = s->bytes - old + need;
    } else {
        if (statestore_would_overflow(s, 1, need, 0))
            return STATESTORE_FULL;
        it = malloc(sizeof *it + key_len + 1);
        if (it == NULL)
            return STATESTORE_NOMEM;
        it->data = malloc(len ? len : 1);
        if (it->data == NULL) {
            free(it);
            return STATESTORE_NOMEM;
        }
        if (len)
            memcpy(it->data, data, len);
        it->data_len = len;
        memcpy(it->key, key, key_len + 1);
        it->key_len = key_len;
        /* statestore_key() keeps '(' out of appids, so the first one ends the app. */
        const char *paren = memchr(key, '(', key_len);
        it->app_len = paren ? (size_t)(paren - key) : key_len;
        it->hash = h;
        it->next = NULL;
        *link = it;
        s->count++;
        s->bytes += need;
    }
    it->timeout_s = timeout_s;
    it->expires = now + timeout_s;
    if (it->expires < s->next_expiry)
        s->next_expiry = it->expires;
    statestore_maybe_grow(s);
    return STATESTORE_OK;
}

enum statestore_status statestore_del(struct statestore *s, double now, const char *key)
{
    size_t key_len = strlen(key);
    if (!statestore_key_is_valid(key_len))
        return STATESTORE_INVALID;
    struct statestore_item **link = statestore_find(s, key, key_len, statestore_hash(key, key_len));
    if (*link == NULL)
        return STATESTORE_NOT_FOUND;
    bool expired = (*link)->expires <= now;
    statestore_unlink(s, link);
    return expired ? STATESTORE_NOT_FOUND : STATESTORE_OK;
}

size_t statestore_expire(struct statestore *s, double now)
{
    if (now < s->next_expiry)
        return 0;
    size_t removed = 0;
    double next = INFINITY;
    for (size_t i = 0; i < s->n_buckets; i++) {
        struct statestore_item **link = &s->buckets[i];
        while (*link) {
            if ((*link)->expires <= now) {
                statestore_unlink(s, link);
                removed++;
            } else {
                if ((*link)->expires < next)
                    next = (*link)->expires;
                link = &(*link)->next;
            }
        }
    }
    s->next_expiry = next;
    return removed;
}

size_t statestore_count(const struct statestore *s)
{
    return s->count;
}

size_t statestore_bytes(const struct statestore *s)
{
    return s->bytes;
}

static int statestore_cmp_app(const void *a, const void *b)
{
    const struct statestore_item *x = *(const struct statestore_item *const *)a;
    const struct statestore_item *y = *(const struct statestore_item *const *)b;
    size_t n = x->app_len < y->app_len ? x->app_len : y->app_len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return (x->app_len > y->app_len) - (x->app_len < y->app_len);
}

int statestore_app_counts(const struct statestore *s, double now,
                          void (*fn)(void *arg, const char *app, size_t app_len, size_t count),
                          void *arg)
{
    /* Rare (the info endpoint), so sort instead of keeping a second table up to date. */
    const struct statestore_item **v = NULL;
    size_t n = 0;
    if (s->count) {
        v = malloc(s->count * sizeof *v);
        if (v == NULL)
            return -1;
    }
    for (size_t i = 0; i < s->n_buckets; i++)
        for (const struct statestore_item *it = s->buckets[i]; it; it = it->next)
            if (it->expires > now)
                v[n++] = it;
    if (n)
        qsort(v, n, sizeof *v, statestore_cmp_app);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && statestore_cmp_app(&v[i], &v[j]) == 0)
            j++;
        fn(arg, v[i]->key, v[i]->app_len, j - i);
        i = j;
    }
    free(v);
    return 0;
}

bool statestore_sid_is_valid(const char *sid, size_t len)
{
    if (len == 0 || len > STATESTORE_MAX_SID)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = sid[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool statestore_appid_is_valid(const char *appid, size_t len)
{
    if (len == 0 || len > STATESTORE_MAX_APPID || appid[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)appid[i];
        if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '?' || c == '#' || c == '%')
            return false;
    }
    return true;
}

long statestore_key(const char *appid, size_t appid_len, const char *sid, size_t sid_len, char *out,
                    size_t cap)
{
    if (!statestore_appid_is_valid(appid, appid_len) || !statestore_sid_is_valid(sid, sid_len))
        return -1;
    size_t n = appid_len + 1 + sid_len + 1;
    if (n + 1 > cap)
        return -1;
    /* As the field reports of farms have it, the application path is case-sensitive here:
     * /LM/W3SVC/1/ROOT and /lm/w3svc/1/root are two applications to the state server. */
    memcpy(out, appid, appid_len);
    out[appid_len] = '(';
    memcpy(out + appid_len + 1, sid, sid_len);
    out[n - 1] = ')';
    out[n] = '\0';
    return (long)n;
}

const char *statestore_status_name(enum statestore_status st)
{
    static const char *const names[] = {
        [STATESTORE_OK] = "ok",       [STATESTORE_NOT_FOUND] = "not_found",
        [STATESTORE_FULL] = "full",   [STATESTORE_INVALID] = "invalid",
        [STATESTORE_NOMEM] = "nomem",
    };
    if ((unsigned)st < sizeof names / sizeof names[0] && names[st])
        return names[st];
    return "unknown";
}
