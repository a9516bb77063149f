#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One node's check: a connection in flight, at most. */
struct check {
    struct health *h;
    struct lb_node *node; /* borrowed */
    int fd;
    ev_io io;
    ev_timer timeout;
    char buf[256];
    size_t len;
    size_t sent;
    char req[LB_HEALTH_PATH_MAX + sizeof((struct lb_node *)0)->addr_text + 128];
    size_t req_len;
    bool connected;
};

struct health {
    struct lb *lb;
    ev_timer tick;
    struct check *checks[POOL_MAX];
};

static void check_finish(struct check *k, bool ok, const char *why)
{
    struct health *h = k->h;
    struct lb *lb = h->lb;
    struct lb_node *n = k->node;
    ev_io_stop(lb->loop, &k->io);
    ev_timer_stop(lb->loop, &k->timeout);
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    n->checked = true;
    if (ok) {
        n->check_fail = 0;
        n->check_ok++;
        if (n->state == NODE_DOWN && n->check_ok >= lb->cfg.rise)
            lb_node_set_state(lb, n, n->admin_drain ? NODE_DRAINING : NODE_UP,
                              "health check passed");
        return;
    }
    n->check_ok = 0;
    n->check_fail++;
    if ((n->state == NODE_UP || n->state == NODE_DRAINING) && n->check_fail >= lb->cfg.fall) {
        char reason[64];
        snprintf(reason, sizeof reason, "health check: %s", why);
        lb_node_set_state(lb, n, NODE_DOWN, reason);
    }
}

static void check_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct check *k = w->data;
    if (!k->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            check_finish(k, false, "connect failed");
            return;
        }
        k->connected = true;
    }
    if (k->sent < k->req_len) {
        ssize_t n = send(k->fd, k->req + k->sent, k->req_len - k->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                check_finish(k, false, "send failed");
            return;
        }
        k->sent += (size_t)n;
        if (k->sent == k->req_len) {
            ev_io_stop(loop, w);
            ev_io_set(w, k->fd, EV_READ);
            ev_io_start(loop, w);
        }
        return;
    }
    (void)revents;
    ssize_t n = recv(k->fd, k->buf + k->len, sizeof k->buf - 1 - k->len, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            check_finish(k, false, "read failed");
        return;
    }
    k->len += (size_t)n;
    k->buf[k->len] = '\0';
    char *eol = strstr(k->buf, "\r\n");
    if (eol == NULL && n > 0 && k->len < sizeof k->buf - 1)
        return;
    int status = 0;
    if (sscanf(k->buf, "HTTP/%*d.%*d %d", &status) != 1) {
        check_finish(k, false, n == 0 ? "closed" : "not HTTP");
        return;
    }
    char why[32];
    snprintf(why, sizeof why, "status %d", status);
    check_finish(k, status >= 200 && status < 400, why);
}

static void check_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    check_finish(w->data, false, "timeout");
}

static void check_start(struct check *k)
{
    struct lb *lb = k->h->lb;
    struct lb_node *n = k->node;
    if (k->fd >= 0 || n->state == NODE_STOPPED)
        return;
    /* Out of descriptors (or anything else of lb's own): no check this time, and nothing
     * counted against the node; the next tick tries again. */
    k->fd = socket(n->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0)
        return;
    k->len = k->sent = 0;
    k->connected = false;
    int len = snprintf(k->req, sizeof k->req,
                       "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: farmlab-lb-check\r\n"
                       "Connection: close\r\n\r\n",
                       lb->cfg.health_path, n->addr_text);
    if (len < 0 || (size_t)len >= sizeof k->req) {
        /* options bound the path; never send a cut request (or what lies past it) */
        k->req_len = 0;
        check_finish(k, false, "request too long");
        return;
    }
    k->req_len = (size_t)len;
    if (connect(k->fd, (struct sockaddr *)&n->addr, n->addr_len) != 0 && errno != EINPROGRESS) {
        if (errno == EADDRNOTAVAIL || errno == EAGAIN || errno == ENOBUFS || errno == ENOMEM) {
            close(k->fd); /* out of local ports or memory: lb's trouble, not the node's */
            k->fd = -1;
            return;
        }
        check_finish(k, false, "connect failed");
        return;
    }
    ev_io_init(&k->io, check_io_cb, k->fd, EV_WRITE);
    k->io.data = k;
    ev_io_start(lb->loop, &k->io);
    ev_timer_init(&k->timeout, check_timeout_cb, lb->cfg.health_timeout, 0);
    k->timeout.data = k;
    ev_timer_start(lb->loop, &k->timeout);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct health *h = w->data;
    struct lb *lb = h->lb;
    if (lb->cfg.health_path == NULL || lb->cfg.health_path[0] == '\0')
        return;
    for (size_t i = 0; i < POOL_MAX; i++)
        if (h->checks[i])
            check_start(h->checks[i]);
}

struct health *health_new(struct lb *lb)
{
    struct health *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->lb = lb;
    for (size_t i = 0; i < POOL_MAX; i++)
        if (lb->pool.slot[i])
            health_node_added(h, lb->pool.slot[i]);
    ev_timer_init(&h->tick, tick_cb, 0.01, lb->cfg.health_interval);
    h->tick.data = h;
    ev_timer_start(lb->loop, &h->tick);
    return h;
}

void health_node_added(struct health *h, struct lb_node *n)
{
    if (h->checks[n->id])
        return;
    struct check *k = calloc(1, sizeof *k);
    if (k == NULL)
        return;
    k->h = h;
    k->node = n;
    k->fd = -1;
    h->checks[n->id] = k;
}

void health_node_removed(struct health *h, struct lb_node *n)
{
    struct check *k = h->checks[n->id];
    if (k == NULL)
        return;
    ev_io_stop(h->lb->loop, &k->io);
    ev_timer_stop(h->lb->loop, &k->timeout);
    if (k->fd >= 0)
        close(k->fd);
    free(k);
    h->checks[n->id] = NULL;
}

void health_free(struct health *h)
{
    if (h == NULL)
        return;
    ev_timer_stop(h->lb->loop, &h->tick);
    for (size_t i = 0; i < POOL_MAX; i++)
        if (h->checks[i])
            health_node_removed(h, h->checks[i]->node);
    free(h);
}
