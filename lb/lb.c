#include "lb.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"

int lb_init(struct lb *lb, struct ev_loop *loop, const struct lb_config *cfg, struct errbuf *err)
{
    memset(lb, 0, sizeof *lb);
    lb->loop = loop;
    lb->cfg = *cfg;
    lb->listen_fd = -1;
    pool_init(&lb->pool);
    lb->sticky = sticky_new(65536, 3600);
    lb->trace = trace_new(cfg->session_cookies, cfg->n_session_cookies, cfg->max_sessions, 4096);
    if (lb->sticky == NULL || lb->trace == NULL) {
        errbuf_set(err, "cannot set up the session trace (--max-sessions from 1 to 16777216)"
                        " or the sticky table: out of memory?");
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
    if (s == NODE_STOPPED) {
        proxy_cut_node(lb, n);
        sticky_forget_node(lb->sticky, n->id);
    } else if (s == NODE_DOWN) {
        proxy_drop_idle(lb, n);
    }
}
