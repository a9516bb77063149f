/* drainwait: `farmctl drain NODE --wait`. After lb was asked to drain a node, wait until lb
 * stops it by itself — reason "drained" once nothing is left on it, or "drain timeout" —
 * as NLB's drainstop ends when the host's last connection closes (docs/lb.md, "The end of a
 * drain").
 *
 * No sleeping: lb's event stream (GET /events?follow=1, Server-Sent Events) says when the
 * node changes state, and GET /nodes/NAME — at each such event and once a second while
 * waiting — says what still holds the drain open: requests in flight, client connections
 * bound to the node, and how long since lb last sent it a request.
 *
 * The parsing and the wording are pure (drainwait_parse, drainwait_classify,
 * drainwait_holders, drainwait_is_state_event) so the unit tests drive them with made-up
 * answers; drainwait_run() is the loop over libcurl. */
#ifndef FARMCTL_DRAINWAIT_H
#define FARMCTL_DRAINWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errbuf.h"

/* What lb's GET /nodes/NAME says about a node, for the wait. */
struct drainwait_node {
    char state[16];       /* up, draining, stopped, down */
    char reason[64];      /* "admin drain", "drained", "drain timeout", "admin start", ... */
    int64_t since;        /* when it entered the state (.NET ticks, UTC); 0: unknown */
    unsigned active;      /* requests in flight */
    unsigned bound;       /* client connections bound to it (dispatch=connection) */
    int64_t last_request; /* when lb last sent it a request (ticks); 0: never */
};

/* Read GET /nodes/NAME's answer (JSON text). Returns 0, or -1 with err. */
int drainwait_parse(const char *json, struct drainwait_node *n, struct errbuf *err);

/* Where the drain stands. */
enum drainwait_state {
    DRAINWAIT_DRAINING,      /* still draining: wait */
    DRAINWAIT_DOWN,          /* down (failing checks): lb brings it back draining; wait */
    DRAINWAIT_DRAINED,       /* stopped by lb, reason "drained": done */
    DRAINWAIT_DRAIN_TIMEOUT, /* stopped by lb's --drain-timeout, whoever was left: done */
    DRAINWAIT_OVERRIDDEN,    /* up again, or stopped for another reason: someone else did it */
};
enum drainwait_state drainwait_classify(const struct drainwait_node *n);

/* What holds a draining node, as of now (ticks): "2 in flight, 1 bound connection, last
 * request 0.4 s ago", or "... no request since the drain began 3.0 s ago" (lb counts the
 * quiet period from the later of the two). */
void drainwait_holders(const struct drainwait_node *n, int64_t now, char *out, size_t cap);

/* Is this Server-Sent Events data (the text after "data:") a node-state event about node? */
bool drainwait_is_state_event(const char *data, const char *node);

/* Wait for the end of node's drain on lb's admin API at admin (HOST:PORT), at most timeout
 * seconds (0: no limit). Prints what holds the drain to out when it changes and every 5 s,
 * then a last line ("web2: drained (stopped after 12.3 s)"); failures go to stderr. Returns
 * an exit code (cli.h): CLI_OK drained, or stopped by lb's drain timeout; CLI_TIMEOUT the
 * timeout passed, the node still draining (or down); CLI_OVERRIDDEN the node was started,
 * stopped or removed by someone else meanwhile; CLI_FINDINGS lb does not answer. */
int drainwait_run(const char *admin, const char *node, double timeout, FILE *out);

#endif
