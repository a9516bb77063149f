/* stateserver: sim-node's state-server role, a simulated ASP.NET State Service
 * (aspnet_state). An HTTP front (server.h) over a statestore, plus a periodic sweep of
 * expired items. The protocol, modelled on the real service's (app id and session id in the
 * URL, a Timeout header in minutes):
 *
 *   GET    /<appid>(<sid>)   200 item bytes (application/octet-stream) | 404; slides expiry
 *   PUT    /<appid>(<sid>)   body = item; Timeout: <minutes> (default 20), or
 *                            X-Timeout-Seconds: <s> (wins; for tests) -> 200 | 400 | 503 full
 *   DELETE /<appid>(<sid>)   200 | 404
 *   GET    /health           200 "ok"
 *   GET    /_farm/info       {"role":"state-server","sessions":N,"apps":{..},"requests":N}
 *   POST   /_farm/advance?seconds=N   loopback peers only (else 403): move the clock forward
 *
 * The appid is the IIS metabase path (/LM/W3SVC/1/ROOT); appid and sid are both
 * case-sensitive. See docs/state-server.md. Prints nothing: the caller logs. */
#ifndef SIMNODE_STATESERVER_H
#define SIMNODE_STATESERVER_H

#include <stddef.h>

#include <ev.h>

#include "errbuf.h"
#include "httpd.h"

struct stateserver;

struct stateserver_opts {
    const char *listen;    /* "127.0.0.1:0", "[::1]:42424"; borrowed */
    size_t max_items;      /* 0: STATESTORE_DEFAULT_MAX_ITEMS */
    size_t max_bytes;      /* 0: STATESTORE_DEFAULT_MAX_BYTES */
    double sweep_interval; /* seconds between expiry sweeps; 0: 1 s */
    double header_timeout; /* 0: 10 s */
    double idle_timeout;   /* keep-alive idle limit; 0: 120 s */
};

/* Bind, listen and start the sweep timer on loop (the timer does not keep the loop alive).
 * Returns owned (stateserver_free) or NULL with err filled. */
struct stateserver *stateserver_new(struct ev_loop *loop, const struct stateserver_opts *o,
                                    struct errbuf *err);
/* Closes every connection and frees the store. NULL is a no-op. */
void stateserver_free(struct stateserver *ss);

/* The HTTP server underneath (borrowed): for httpd_address, httpd_drain, httpd_stats. */
struct httpd *stateserver_server(struct stateserver *ss);

/* Seconds on the store's clock: monotonic time plus what /_farm/advance added. */
double stateserver_now(const struct stateserver *ss);

/* The request handler (a httpd_handler_fn; app is the struct stateserver). */
void stateserver_handle(void *app, const struct request_ctx *rq, struct response *rs);

#endif
