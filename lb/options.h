/* options: lb's settings from the command line or from a --config file (INI, read with
 * inih: `key = value` lines using the long option names, in any section). */
#ifndef LB_OPTIONS_H
#define LB_OPTIONS_H

#include <stdbool.h>

#include "errbuf.h"
#include "lb.h"

#define OPTIONS_NODES_MAX POOL_MAX
/* --max-sessions: the most the trace takes (trace.c allows up to 2^24) */
#define OPTIONS_SESSIONS_MAX 10000000

struct lb_options {
    struct lb_config cfg;
    struct {
        char name[POOL_NAME_MAX];
        char addr[80];
        unsigned weight;
    } nodes[OPTIONS_NODES_MAX];
    size_t n_nodes;
    char strings[8192]; /* storage for values copied from a config file */
    size_t used;
    /* --admin-token came on the command line: options_parse erased it from argv once
     * copied (ps reads /proc/PID/cmdline from there), and main warns */
    bool admin_token_on_argv;
};

void options_defaults(struct lb_options *o);
/* Apply one setting by its long name ("listen", "node", "weight", ...). value is copied.
 * Returns 0, 1 for --help, or -1 with err. */
int options_set(struct lb_options *o, const char *name, const char *value, struct errbuf *err);
/* Parse argv (and --config files it names). A --admin-token's value is copied, then
 * overwritten in argv (admin_token_on_argv set). Returns 0, 1 when --help was printed, -1 on
 * error (err says why). */
int options_parse(struct lb_options *o, int argc, char **argv, struct errbuf *err);
extern const char options_usage[];

#endif
