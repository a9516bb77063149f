/* farmfile: a farm described in an INI file (read with inih), checked line by line so that
 * every mistake is reported as "file:line: message".
 *
 *   [farm]                  lb's settings by its long option names (listen, admin,
 *   listen = 127.0.0.1:0    dispatch, affinity, health-*, rise, fall, timeout-*, ...)
 *   [stateserver]           present: the farm has a session state server
 *   listen = 127.0.0.1:0
 *   [node web1]             one per node: machine-key (a path relative to the farm file),
 *   machine-key = keys/a.config   app-path, session, weight, fault, ...
 *
 * See docs/farm-file.md. Nothing here starts a process or touches the network. */
#ifndef FARMCTL_FARMFILE_H
#define FARMCTL_FARMFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"

#define FARMFILE_NAME_MAX  32 /* node names: 1-31 of A-Z a-z 0-9 . _ - (lb's rule) */
#define FARMFILE_NODES_MAX 64
#define FARMFILE_LB_MAX    48
#define FARMFILE_VALUE_MAX 200 /* inih reads lines of at most 196 characters */
#define FARMFILE_ADDR_MAX  80

enum farmfile_session {
    FARMFILE_SESSION_OFF,
    FARMFILE_SESSION_INPROC,
    FARMFILE_SESSION_STATESERVER,
};

/* "off", "inproc", "stateserver". */
const char *farmfile_session_name(enum farmfile_session s);
/* Returns 0, or -1 for a name that is none of them. */
int farmfile_session_from_name(const char *s, enum farmfile_session *out);

/* One lb setting of [farm], passed on as --NAME VALUE (a flag: --NAME alone, when on). */
struct farmfile_lb_setting {
    char name[32];
    char value[FARMFILE_VALUE_MAX];
    bool flag; /* no-passive, served-by: value is "yes" or "no" */
    int line;
};

struct farmfile_node {
    char name[FARMFILE_NAME_MAX];
    int line;                          /* the [node NAME] line */
    char machine_key[PATH_MAX];        /* as resolved: relative to the farm file's folder */
    int machine_key_line;              /* 0: not given */
    char app_path[FARMFILE_VALUE_MAX]; /* "" = sim-node's default, /LM/W3SVC/1/ROOT */
    enum farmfile_session session;
    int session_line;
    char session_timeout[32]; /* "" = sim-node's default */
    char ticket_timeout[32];
    bool sliding;
    char fault[FARMFILE_VALUE_MAX];
    unsigned weight; /* 1 by default */
    char listen[FARMFILE_ADDR_MAX];
    char clock[48];
    char seed[24];
};

struct farmfile {
    char path[PATH_MAX];
    char lb_listen[FARMFILE_ADDR_MAX]; /* 127.0.0.1:0 unless [farm] names one */
    char lb_admin[FARMFILE_ADDR_MAX];
    struct farmfile_lb_setting lb[FARMFILE_LB_MAX]; /* the other [farm] settings, in order */
    size_t n_lb;
    bool stateserver; /* a [stateserver] section was given */
    char stateserver_listen[FARMFILE_ADDR_MAX];
    struct farmfile_node nodes[FARMFILE_NODES_MAX];
    size_t n_nodes;
};

/* Read and check a farm file. Returns owned (farmfile_free), or NULL with err set to
 * "file:line: message" (or "file: message" when the file cannot be read or has no [node]
 * section: a farm needs at least one node). */
struct farmfile *farmfile_load(const char *path, struct errbuf *err);

/* The same over text in memory; path names it in errors and anchors relative machine-key
 * paths. Key files must exist and be readable. */
struct farmfile *farmfile_parse(const char *text, const char *path, struct errbuf *err);

void farmfile_free(struct farmfile *ff);

/* The node named name, or NULL. */
const struct farmfile_node *farmfile_node(const struct farmfile *ff, const char *name);

/* Is s a valid node name (1-31 of A-Z a-z 0-9 . _ -, and not lb, stateserver or access,
 * whose names the run directory's logs use)? */
bool farmfile_name_is_valid(const char *s);

/* Is s HOST:PORT or [IPv6]:PORT with a port from 0 to 65535? */
bool farmfile_addr_is_valid(const char *s);

#endif
