/* statestore: the session items of the simulated ASP.NET State Service. A chained hash
 * table from key to item bytes with a sliding expiry; no sockets, no clock of its own and no
 * global state: every call takes `now`, seconds on the store's clock (the state server's
 * monotonic clock plus its test offset), so tests drive time by hand.
 *
 * Keys are appid + "(" + sid + ")" (case kept), built by statestore_key(): two web nodes
 * share a session only when their IIS application paths (/LM/W3SVC/<site id>/ROOT...) match,
 * which is the site-ID trap of real farms. The sid is case-sensitive.
 *
 * Memory is bounded by a maximum number of items and of bytes. A PUT that would pass either
 * bound first sweeps expired items, and fails with STATESTORE_FULL when that is not enough;
 * live sessions are never evicted (ASP.NET would lose a user's session silently). */
#ifndef SIMNODE_STATESTORE_H
#define SIMNODE_STATESTORE_H

#include <stdbool.h>
#include <stddef.h>

#define STATESTORE_DEFAULT_MAX_ITEMS 100000
#define STATESTORE_DEFAULT_MAX_BYTES (256u * 1024 * 1024)
#define STATESTORE_MAX_ITEM_BYTES    (64 * 1024) /* one item's bytes; the server answers 413 */
#define STATESTORE_MAX_APPID         400
#define STATESTORE_MAX_SID           80
#define STATESTORE_MAX_KEY           (STATESTORE_MAX_APPID + STATESTORE_MAX_SID + 2)
#define STATESTORE_MAX_TIMEOUT_S     (525600u * 60) /* ASP.NET's limit: one year */

enum statestore_status {
    STATESTORE_OK = 0,
    STATESTORE_NOT_FOUND, /* absent or expired */
    STATESTORE_FULL,      /* max items or bytes reached and nothing expired to evict */
    STATESTORE_INVALID,   /* key too long or empty, timeout out of range */
    STATESTORE_NOMEM,
};

struct statestore;

/* A store holding at most max_items items and about max_bytes bytes (keys, data and
 * per-item overhead); 0 picks the defaults. Returns owned (statestore_free) or NULL. */
struct statestore *statestore_new(size_t max_items, size_t max_bytes);
void statestore_free(struct statestore *s);

/* Look key up. On STATESTORE_OK, *data and *len describe the item's bytes, borrowed until
 * the next call that changes the store (put, del, expire, another get); the item's expiry
 * slides to now + its timeout. An expired item is removed and reported as NOT_FOUND. */
enum statestore_status statestore_get(struct statestore *s, double now, const char *key,
                                      const void **data, size_t *len);

/* Store a copy of data[0..len) under key (replacing any item), expiring timeout_s seconds
 * after its last access. timeout_s must be in 1..STATESTORE_MAX_TIMEOUT_S. */
enum statestore_status statestore_put(struct statestore *s, double now, const char *key,
                                      const void *data, size_t len, unsigned timeout_s);

/* Remove key. STATESTORE_NOT_FOUND when absent or already expired. */
enum statestore_status statestore_del(struct statestore *s, double now, const char *key);

/* Remove every item expired at now; returns how many. Cheap when nothing can have expired
 * yet (the store keeps a lower bound of the earliest expiry), so call it from a frequent
 * timer. */
size_t statestore_expire(struct statestore *s, double now);

/* Items held, including expired ones not yet swept. */
size_t statestore_count(const struct statestore *s);
/* Bytes accounted against max_bytes. */
size_t statestore_bytes(const struct statestore *s);

/* Call fn once per application with its number of live (unexpired at now) items, in byte
 * order of the appid (not NUL-terminated: use app_len). Returns 0, or -1 when
 * out of memory (fn not called). */
int statestore_app_counts(const struct statestore *s, double now,
                          void (*fn)(void *arg, const char *app, size_t app_len, size_t count),
                          void *arg);

/* Validation shared by the state server and its clients. A sid is 1..STATESTORE_MAX_SID
 * characters of [A-Za-z0-9] (ASP.NET's own ids are 24 of [a-z0-5]). An appid is
 * 1..STATESTORE_MAX_APPID bytes starting with '/', without control characters, spaces,
 * '(' , ')', '?', '#' or '%' (they would need escaping in the URL). */
bool statestore_sid_is_valid(const char *sid, size_t len);
bool statestore_appid_is_valid(const char *appid, size_t len);

/* Build the key for appid and sid into out (cap >= STATESTORE_MAX_KEY + 1 always suffices).
 * Returns the key length, or -1 when appid or sid is invalid. */
long statestore_key(const char *appid, size_t appid_len, const char *sid, size_t sid_len, char *out,
                    size_t cap);

const char *statestore_status_name(enum statestore_status st);

#endif
