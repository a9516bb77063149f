/* admin: lb's admin API — JSON over HTTP on its own listener (loopback by default; with a
 * token, "Authorization: Bearer TOKEN" is required). It only calls the functions the CLI
 * would: lb_node_add/remove/set_state, pool_set_weight, and reads stats and the trace.
 *
 *   GET /nodes, GET /nodes/NAME, POST /nodes (name, address, weight), DELETE /nodes/NAME
 *   POST /nodes/NAME/drain|stop|start, POST /nodes/NAME/weight?w=N
 *   GET /stats, GET /metrics (Prometheus text), GET /sessions, GET /sessions/ID,
 *   GET /matrix, GET /events (?follow=1: Server-Sent Events; a Last-Event-ID resumes after
 *   that id; ids a follower can no longer get are announced by an "event: gap")
 *
 * HEAD works wherever GET does. Every error is {"error": "..."}: the API's own, and those of
 * the HTTP server under it (httpd's json_errors); a 405 carries Allow. */
#ifndef LB_ADMIN_H
#define LB_ADMIN_H

#include "lb.h"

int admin_start(struct lb *lb, struct errbuf *err);
void admin_stop(struct lb *lb);

#endif
