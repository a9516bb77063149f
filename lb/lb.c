#include "lb.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"

static void drain_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct lb *lb = w->data;
    double after = lb_drain_check(lb, ev_now(loop));
    if (after > 0) {
        ev_timer_set(w, after, 0);
        ev_timer_start(loop, w);
    }
}

int lb_init(struct lb *lb, struct ev_loop *loop, const struct lb_config *cfg, struct errbuf *err)
{
    memset(lb, 0, sizeof *lb);
    lb->loop = loop;
    lb->cfg = *cfg;
    lb->listen_fd = -1;
    ev_init(&lb->drain_timer, drain_timer_cb);
    lb->drain_timer.data = lb;
    pool_init(&lb->pool);
    lb->pool.drain_connections = cfg->drain_connections;
    lb->sticky = sticky_new(65536, 3600);
    lb->trace = trace_new(cfg->session_cookies, cfg->n_session_cookies, cfg->max_sessions, 4096);
    if (lb->sticky == NULL || lb->trace == NULL) {
        errbuf_set(err,
                   "out of memory for the session trace (--max-sessions %zu, about 1.2 KB each)"
                   " or the sticky table",
                   cfg->max_sessions);
        lb_cleanup(lb);
        return -1;
    }
    if (cfg->access_log) {
        if (strcmp(cfg->access_log, "-") == 0) {
            lb->access = stdout;
        } else {
            lb->access = fopen(cfg->access_log, "a");
            if (lb->access == NULL) {
                errbuf_set(err, "--access-log: cannot open %s", cfg->access_log);
                lb_cleanup(lb);
                return -1;
            }
        }
        setvbuf(lb->access, NULL, _IOLBF, 0);
    }
    return 0;
}

void lb_cleanup(struct lb *lb)
{
    if (lb->loop)
        ev_timer_stop(lb->loop, &lb->drain_timer);
    health_free(lb->health);
    lb->health = NULL;
    httpd_free(lb->admin);
    lb->admin = NULL;
    for (size_t i = 0; i < POOL_MAX; i++)
        if (lb->pool.slot[i])
            proxy_cut_node(lb, lb->pool.slot[i]);
    pool_cleanup(&lb->pool);
    sticky_free(lb->sticky);
    lb->sticky = NULL;
    trace_free(lb->trace);
    lb->trace = NULL;
    if (lb->access && lb->access != stdout)
        fclose(lb->access);
    lb->access = NULL;
    if (lb->listen_fd >= 0)
        close(lb->listen_fd);
    lb->listen_fd = -1;
    proxy_cleanup(lb);
}

bool lb_node_drained(const struct lb *lb, const struct lb_node *n, double now)
{
    if (n->state != NODE_DRAINING || lb->cfg.drain_quiet <= 0)
        return false;
    double since = n->last_request > n->state_since ? n->last_request : n->state_since;
    return n->stats.active == 0 && n->bound_conns == 0 && now - since >= lb->cfg.drain_quiet;
}

double lb_drain_check(struct lb *lb, double now)
{
    const struct lb_config *cfg = &lb->cfg;
    double next = 0;
    for (size_t i = 0; i < POOL_MAX; i++) {
        struct lb_node *n = lb->pool.slot[i];
        if (n == NULL || n->state != NODE_DRAINING)
            continue;
        if (cfg->drain_timeout > 0 && now - n->state_since >= cfg->drain_timeout) {
            lb_node_set_state(lb, n, NODE_STOPPED, "drain timeout");
            continue;
        }
        if (lb_node_drained(lb, n, now)) {
            lb_node_set_state(lb, n, NODE_STOPPED, "drained");
            continue;
        }
        double due = 0; /* 0: this node's drain ends only when it is told */
        if (cfg->drain_timeout > 0)
            due = n->state_since + cfg->drain_timeout - now;
        if (cfg->drain_quiet > 0) {
            double since = n->last_request > n->state_since ? n->last_request : n->state_since;
            double quiet = since + cfg->drain_quiet - now;
            /* Past the quiet period but still busy: nothing says when a request ends or a
             * bound connection closes, so look again soon. */
            if (quiet <= 0)
                quiet = LB_DRAIN_POLL;
            if (due == 0 || quiet < due)
                due = quiet;
        }
        if (due > 0 && due < 0.001)
            due = 0.001;
        if (due > 0 && (next == 0 || due < next))
            next = due;
    }
    return next;
}

int lb_node_add(struct lb *lb, const char *name, const char *addr, unsigned weight,
                struct errbuf *err)
{
    struct lb_node *n = pool_add(&lb->pool, name, addr, weight, lb_now(lb), err);
    if (n == NULL)
        return -1;
    trace_note_state(lb->trace, ev_time(), n->name, "added", addr);
    fprintf(stderr, "lb event=node-added node=%s addr=%s weight=%u\n", n->name, n->addr_text,
            n->weight);
    if (lb->health)
        health_node_added(lb->health, n);
    return 0;
}

int lb_node_remove(struct lb *lb, const char *name, struct errbuf *err)
{
    struct lb_node *n = pool_find(&lb->pool, name);
    if (n == NULL) {
        errbuf_set(err, "no node named '%s'", name);
        return -1;
    }
    if (lb->health)
        health_node_removed(lb->health, n);
    proxy_cut_node(lb, n);
    sticky_forget_node(lb->sticky, n->id);
    trace_note_state(lb->trace, ev_time(), n->name, "removed", "admin");
    fprintf(stderr, "lb event=node-removed node=%s\n", n->name);
    pool_remove(&lb->pool, n);
    return 0;
}

void lb_node_set_state(struct lb *lb, struct lb_node *n, enum node_state s, const char *reason)
{
    enum node_state old = n->state;
    if (!pool_set_state(&lb->pool, n, s, reason, lb_now(lb)))
        return;
    fprintf(stderr, "lb event=node-state node=%s from=%s to=%s reason=\"%s\"\n", n->name,
            node_state_name(old), node_state_name(s), reason ? reason : "");
    trace_note_state(lb->trace, ev_time(), n->name, node_state_name(s), reason);
    if (s == NODE_UP || s == NODE_STOPPED)
        n->passive_fail = 0; /* a node back in service starts with a clean record */
    if (s == NODE_DRAINING) {
        /* Look at the drains on the next loop iteration, whatever the timer waited for. */
        ev_timer_stop(lb->loop, &lb->drain_timer);
        ev_timer_set(&lb->drain_timer, 0, 0);
        ev_timer_start(lb->loop, &lb->drain_timer);
    }
    if (s == NODE_STOPPED) {
        proxy_cut_node(lb, n);
        sticky_forget_node(lb->sticky, n->id);
    } else if (s == NODE_DOWN) {
        proxy_drop_idle(lb, n);
    }
}
