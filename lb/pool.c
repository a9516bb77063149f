#include "pool.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_TEXT_CAP sizeof(((struct lb_node *)0)->addr_text)

static const char *const state_names[NODE_STATE_COUNT] = {
    [NODE_UP] = "up",
    [NODE_DOWN] = "down",
    [NODE_DRAINING] = "draining",
    [NODE_STOPPED] = "stopped",
};

const char *node_state_name(enum node_state s)
{
    return s < NODE_STATE_COUNT ? state_names[s] : "?";
}

void pool_init(struct pool *p)
{
    memset(p, 0, sizeof *p);
}

void pool_cleanup(struct pool *p)
{
    for (size_t i = 0; i < POOL_MAX; i++) {
        free(p->slot[i]);
        p->slot[i] = NULL;
    }
    p->count = 0;
    p->version++;
}

static bool pool_name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool pool_name_ok(const char *name, size_t len)
{
    if (len == 0 || len >= POOL_NAME_MAX)
        return false;
    /* "." and ".." would read as path segments in the admin API's /nodes/NAME. */
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!pool_name_char_ok(name[i]))
            return false;
    return true;
}

bool pool_name_is_valid(const char *name)
{
    return name != NULL && pool_name_ok(name, strnlen(name, POOL_NAME_MAX));
}

/* Strictly "HOST:PORT" with a numeric IPv4 host or "localhost", or "[V6]:PORT"; port 1..65535
 * in plain digits. No name resolution: lb must never block on DNS. */
static int pool_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_text;
    size_t hlen;
    bool v6 = text[0] == '[';

    if (v6) {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hlen = (size_t)(end - text - 1);
        if (hlen == 0 || hlen >= sizeof host)
            return -1;
        memcpy(host, text + 1, hlen);
        port_text = end + 2;
    } else {
        /* One colon only: an unbracketed IPv6 address is ambiguous and refused. */
        const char *colon = strchr(text, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL)
            return -1;
        hlen = (size_t)(colon - text);
        if (hlen == 0 || hlen >= sizeof host)
            return -1;
        memcpy(host, text, hlen);
        port_text = colon + 1;
    }
    host[hlen] = '\0';

    size_t plen = strlen(port_text);
    if (plen == 0 || plen > 5)
        return -1;
    unsigned long port = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port_text[i] < '0' || port_text[i] > '9')
            return -1;
        port = port * 10 + (unsigned long)(port_text[i] - '0');
    }
    if (port == 0 || port > 65535)
        return -1;

    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -1;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return -1;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
    return 0;
}

struct lb_node *pool_add(struct pool *p, const char *name, const char *addr, unsigned weight,
                         double now, struct errbuf *err)
{
    if (!pool_name_is_valid(name)) {
        errbuf_set(err, "bad name: 1..%d of A-Z a-z 0-9 . _ - expected", POOL_NAME_MAX - 1);
        return NULL;
    }
    if (pool_find(p, name) != NULL) {
        errbuf_set(err, "name taken: %s", name);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    size_t alen = strnlen(addr, ADDR_TEXT_CAP);
    if (alen >= ADDR_TEXT_CAP || pool_parse_addr(addr, &ss, &sslen) < 0) {
        errbuf_set(err, "bad address: %.80s (numeric HOST:PORT or [V6]:PORT expected)", addr);
        return NULL;
    }
    if (weight > POOL_WEIGHT_MAX) {
        errbuf_set(err, "bad weight: %u (0..%d)", weight, POOL_WEIGHT_MAX);
        return NULL;
    }
    unsigned id = 0;
    while (id < POOL_MAX && p->slot[id] != NULL)
        id++;
    if (id == POOL_MAX) {
        errbuf_set(err, "pool full: %d nodes", POOL_MAX);
        return NULL;
    }
    struct lb_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        errbuf_set(err, "out of memory");
        return NULL;
    }
    n->id = id;
    memcpy(n->name, name, strlen(name) + 1);
    memcpy(n->addr_text, addr, alen + 1);
    n->addr = ss;
    n->addr_len = sslen;
    n->weight = weight;
    n->state = NODE_UP;
    snprintf(n->state_reason, sizeof n->state_reason, "added");
    n->state_since = now;
    p->slot[id] = n;
    p->count++;
    n->serial = ++p->version;
    return n;
}

void pool_remove(struct pool *p, struct lb_node *n)
{
    assert(n != NULL && n->id < POOL_MAX && p->slot[n->id] == n);
    p->slot[n->id] = NULL;
    p->count--;
    p->version++;
    free(n);
}

struct lb_node *pool_find(const struct pool *p, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < POOL_MAX; i++)
        if (p->slot[i] != NULL && strcmp(p->slot[i]->name, name) == 0)
            return p->slot[i];
    return NULL;
}

bool pool_set_state(struct pool *p, struct lb_node *n, enum node_state s, const char *reason,
                    double now)
{
    assert(s < NODE_STATE_COUNT);
    if (n->state == s)
        return false;
    n->state = s;
    snprintf(n->state_reason, sizeof n->state_reason, "%s", reason != NULL ? reason : "");
    n->state_since = now;
    p->version++;
    return true;
}

bool pool_set_weight(struct pool *p, struct lb_node *n, unsigned weight)
{
    if (weight > POOL_WEIGHT_MAX || n->weight == weight)
        return false;
    n->weight = weight;
    p->version++;
    return true;
}

bool node_takes_new(const struct lb_node *n)
{
    return n->state == NODE_UP && n->weight > 0;
}

bool node_serves_existing(const struct lb_node *n)
{
    return n->state == NODE_UP || n->state == NODE_DRAINING;
}

bool node_serves_users(const struct pool *p, const struct lb_node *n)
{
    return n->state == NODE_UP || (n->state == NODE_DRAINING && !p->drain_connections);
}

int pool_parse_node_arg(const char *arg, char *name, size_t name_cap, char *addr, size_t addr_cap,
                        struct errbuf *err)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL) {
        errbuf_set(err, "--node %.80s: NAME=HOST:PORT expected", arg);
        return -1;
    }
    size_t nlen = (size_t)(eq - arg);
    if (!pool_name_ok(arg, nlen) || nlen >= name_cap) {
        errbuf_set(err, "--node %.80s: bad name (1..%d of A-Z a-z 0-9 . _ -)", arg,
                   POOL_NAME_MAX - 1);
        return -1;
    }
    const char *a = eq + 1;
    size_t alen = strlen(a);
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (alen >= addr_cap || alen >= ADDR_TEXT_CAP || pool_parse_addr(a, &ss, &sslen) < 0) {
        errbuf_set(err, "--node %.80s: bad address (numeric HOST:PORT or [V6]:PORT expected)", arg);
        return -1;
    }
    memcpy(name, arg, nlen);
    name[nlen] = '\0';
    memcpy(addr, a, alen + 1);
    return 0;
}
