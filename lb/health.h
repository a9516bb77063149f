/* health: active HTTP health checks. Every interval, each node that is not stopped gets
 * `GET <path>`; a 2xx or 3xx answer within the timeout is a success. `rise` successes in a
 * row bring a down node up, `fall` failures in a row take an up node down (draining nodes
 * are checked too, and go down when they fail). Checks only flip node states, through
 * lb_node_set_state; the end of a drain is lb.c's (lb_drain_check), checks or not. A request
 * that would not fit the check's buffer (options bound cfg.health_path to LB_HEALTH_PATH_MAX)
 * is never sent: the check fails instead. cfg.health_interval must be more than 0. */
#ifndef LB_HEALTH_H
#define LB_HEALTH_H

#include "lb.h"

struct health;

struct health *health_new(struct lb *lb);
void health_free(struct health *h);
void health_node_added(struct health *h, struct lb_node *n);
void health_node_removed(struct health *h, struct lb_node *n);

#endif
