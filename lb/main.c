/* lb: parse the options, build the balancer, run the loop, tear down. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fdlimit.h"
#include "health.h"
#include "lb.h"
#include "options.h"

static bool is_loopback_addr(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (httpd_parse_addr(text, &ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct lb *lb = w->data;
    if (lb->draining)
        return;
    fprintf(stderr, "lb event=stopping signal=%d open_clients=%u\n", w->signum,
            lb->stats.open_clients);
    proxy_drain(lb);
    (void)loop;
}

int main(int argc, char **argv)
{
    static struct lb_options o;
    struct errbuf err = {{0}};
    options_defaults(&o);
    int rc = options_parse(&o, argc, argv, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "lb: %s\n", err.msg);
        return 2;
    }
    if (o.admin_token_on_argv)
        fprintf(stderr, "lb event=warning what=\"admin token on the command line: ps shows it; "
                        "put admin-token in a --config file (mode 0600)\"\n");
    /* options checked the address and refused an empty token */
    if (!is_loopback_addr(o.cfg.admin) && o.cfg.admin_token == NULL) {
        fprintf(stderr,
                "lb: --admin %s is not a loopback address: give --admin-token TOKEN "
                "too, or the admin API would be open to the network\n",
                o.cfg.admin);
        return 2;
    }
    setvbuf(stderr, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    fd_limit_raise(); /* two descriptors per user: the client's and the node's */

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    static struct lb lb;
    if (lb_init(&lb, loop, &o.cfg, &err) != 0) {
        fprintf(stderr, "lb event=error error=\"%s\"\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < o.n_nodes; i++) {
        if (lb_node_add(&lb, o.nodes[i].name, o.nodes[i].addr, o.nodes[i].weight, &err) != 0) {
            fprintf(stderr, "lb event=error error=\"--node %s: %s\"\n", o.nodes[i].name, err.msg);
            lb_cleanup(&lb);
            return 2;
        }
    }
    if (lb_listen(&lb, &err) != 0 || admin_start(&lb, &err) != 0) {
        fprintf(stderr, "lb event=error error=\"%s\"\n", err.msg);
        lb_cleanup(&lb);
        return 1;
    }
    if (o.cfg.health_path && o.cfg.health_path[0])
        lb.health = health_new(&lb);
    fprintf(stderr, "lb event=ready role=proxy listen=%s dispatch=%s affinity=%s nodes=%zu\n",
            lb.listen_addr, lb_dispatch_name(o.cfg.dispatch), lb_affinity_name(o.cfg.affinity),
            lb.pool.count);
    fprintf(stderr, "lb event=ready role=admin listen=%s token=%s\n", httpd_address(lb.admin),
            o.cfg.admin_token ? "required" : "none");

    ev_signal sterm, sint;
    ev_signal_init(&sterm, on_term, SIGTERM);
    ev_signal_init(&sint, on_term, SIGINT);
    sterm.data = sint.data = &lb;
    ev_signal_start(loop, &sterm);
    ev_signal_start(loop, &sint);

    ev_run(loop, 0);

    fprintf(stderr, "lb event=stopped requests=%llu\n", lb.stats.requests);
    admin_stop(&lb);
    lb_cleanup(&lb);
    ev_loop_destroy(loop);
    return 0;
}
