/* runinfo: find the running farm. The run directory is --run-dir, else $FARM_RUN_DIR, else
 * ./.farm; its farm.json says where lb listens (docs/farm-run-dir.md). Read-only: `farmctl up`
 * writes farm.json, the client commands only read what they need from it. */
#ifndef FARMCTL_RUNINFO_H
#define FARMCTL_RUNINFO_H

#include <stddef.h>

#include "errbuf.h"

struct runinfo {
    char *dir;       /* the run directory (owned) */
    char *lb_url;    /* "http://127.0.0.1:40001/" (owned); from lb.url, else built from lb.listen */
    char *lb_listen; /* "127.0.0.1:40001" (owned), NULL when farm.json has none */
};

/* The run directory to use: opt (--run-dir) when given, else $FARM_RUN_DIR when set and not
 * empty, else ".farm". An empty opt is refused (NULL, err says so): `--run-dir "$DIR"` with DIR
 * unset must not fall back on another farm's directory. An empty $FARM_RUN_DIR counts as
 * unset. Returns opt, the environment's string or a literal (borrowed). */
const char *runinfo_dir(const char *opt, struct errbuf *err);

/* Read DIR/farm.json into ri. Fails with -1 and err: "no farm running in DIR (farmctl up
 * FILE)" when there is no farm.json, "DIR/farm.json:LINE: message" when it does not parse,
 * "DIR/farm.json: no lb.url or lb.listen" when it names no lb. On failure ri holds nothing to
 * free; on success free it with runinfo_cleanup. */
int runinfo_load(struct runinfo *ri, const char *dir, struct errbuf *err);

void runinfo_cleanup(struct runinfo *ri);

/* DIR/rel into out. Returns 0, or -1 when it does not fit. */
int runinfo_path(const struct runinfo *ri, const char *rel, char *out, size_t cap);

/* The URL of path (which may carry a query) on the farm whose base URL is base: one '/'
 * between them whether or not base ends with one or path starts with one. Returns 0, or -1
 * when it does not fit. */
int runinfo_url(const char *base, const char *path, char *out, size_t cap);

#endif
