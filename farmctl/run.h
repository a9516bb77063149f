/* run: the run directory of a farm (docs/farm-run-dir.md) and the processes in it.
 *
 * farm.json says what runs where; farm.lock is held (flock) while a command changes it.
 * Children are started detached (their own session, stdin /dev/null, stdout and stderr to
 * their log in logs/), in the run directory, so they outlive farmctl and relative paths in
 * their arguments (keys/web1.config, logs/access.log) work. farmctl never sleeps to wait for
 * them: it follows their log with inotify and their life with a pidfd.
 *
 * Leaf code: errors go into a caller-owned errbuf; nothing here prints except
 * run_log_tail(). */
#ifndef FARMCTL_RUN_H
#define FARMCTL_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "errbuf.h"
#include "ticks.h"

#define RUN_NAME_MAX      32
#define RUN_ADDR_MAX      80
#define RUN_READY_TIMEOUT 10.0 /* seconds for a child to print its ready line(s) */
#define RUN_STOP_TIMEOUT  12.0 /* seconds after SIGTERM before SIGKILL (a node drains 10 s) */

struct run_node {
    char name[RUN_NAME_MAX];
    pid_t pid;
    char listen[RUN_ADDR_MAX];
    char machine_key[PATH_MAX]; /* relative to the run directory: keys/NAME.config */
    char app_path[256];
    char session[16]; /* off, inproc, stateserver */
    unsigned weight;
    char log[PATH_MAX]; /* logs/NAME.log */
    char **args;        /* sim-node's arguments (after the program name), owned */
    size_t n_args;
};

struct run_farm {
    char farm_file[PATH_MAX];
    char started[TICKS_ISO_MAX];
    struct {
        pid_t pid;
        char listen[RUN_ADDR_MAX];
        char admin[RUN_ADDR_MAX];
        char url[RUN_ADDR_MAX + 16];
    } lb;
    bool has_stateserver;
    struct {
        pid_t pid;
        char listen[RUN_ADDR_MAX];
    } stateserver;
    struct run_node *nodes; /* owned */
    size_t n_nodes;
};

/* The run directory runinfo_dir() picks (an empty opt is refused), made absolute. Returns 0,
 * or -1 with err. */
int run_dir_resolve(const char *opt, char *out, size_t n, struct errbuf *err);

/* Take farm.lock (blocking flock). With create, make the directory and keys/, logs/, jars/
 * first. Returns the lock's fd (close it to release), or -1 with err. Without create, a
 * missing directory gives -1 and errno ENOENT. */
int run_lock(const char *dir, bool create, struct errbuf *err);

/* Read farm.json. Returns 0, 1 when there is none (no farm), -1 with err. */
int run_farm_load(const char *dir, struct run_farm *f, struct errbuf *err);
/* Write farm.json atomically (a temporary file renamed over it). */
int run_farm_save(const char *dir, const struct run_farm *f, struct errbuf *err);
/* Remove farm.json; no farm.json is fine. */
int run_farm_remove(const char *dir, struct errbuf *err);
void run_farm_cleanup(struct run_farm *f);

/* The node named name, or NULL (borrowed from f). */
struct run_node *run_farm_node(struct run_farm *f, const char *name);
/* Append a node; takes n's args. Returns the node in f, or NULL (out of memory). */
struct run_node *run_farm_add_node(struct run_farm *f, struct run_node *n);
/* Remove and free the node named name (no-op when there is none). */
void run_farm_remove_node(struct run_farm *f, const char *name);
/* Set a node's args to a copy of argv[0..argc). Returns 0 or -1. */
int run_node_set_args(struct run_node *n, char *const *argv, size_t argc);
void run_node_cleanup(struct run_node *n);

/* The path of one of farmlab's programs (sim-node, lb): next to this farmctl, else in
 * $FARM_BIN, else the bare name for a PATH search. */
void run_program(const char *name, char *out, size_t n);

/* Start prog (argv[0] is its name) detached in dir, stdout and stderr appended to dir/log
 * (emptied first with truncate). *log_offset receives the log's size before the child
 * could write. Returns the child's pid, or -1 with err. */
pid_t run_spawn(const char *dir, const char *prog, char *const argv[], const char *log,
                bool truncate, off_t *log_offset, struct errbuf *err);

/* What a ready line told. */
struct run_ready {
    char listen[RUN_ADDR_MAX]; /* node, state server, lb's proxy */
    char admin[RUN_ADDR_MAX];  /* lb */
    char key[64];              /* node: the key fingerprint, "v=… d=… m=…" */
    bool autogenerate;
};

enum run_ready_kind {
    RUN_READY_NODE,        /* node=NAME event=ready listen=… key="…" */
    RUN_READY_STATESERVER, /* node=state-server event=ready role=state-server listen=… */
    RUN_READY_LB,          /* lb event=ready role=proxy listen=…  and  role=admin listen=… */
};

/* Wait until the log at path, read from offset, has the ready line(s) of kind; no sleeping:
 * inotify on the log, a pidfd on pid to notice an early exit. child: pid is our own child
 * (reaped here when it exits). Returns 0, or -1 with err ("exited with status 1", "no
 * ready line within 10 s"). */
int run_wait_ready(const char *path, off_t offset, pid_t pid, bool child, enum run_ready_kind kind,
                   double timeout, struct run_ready *r, struct errbuf *err);

/* Wait for the first line of the log, read from offset, that contains one of the needles
 * (NULL-terminated list). Returns the index of the needle with the whole line in line, or
 * -1 with err (timeout, the process exited). */
int run_wait_line(const char *path, off_t offset, pid_t pid, const char *const needles[],
                  double timeout, char *line, size_t n, struct errbuf *err);

/* The size of a file (the offset new lines will start at), or 0. */
off_t run_file_size(const char *path);

/* Is the process there (and not a zombie)? */
bool run_pid_alive(pid_t pid);
/* Is pid running the program named prog (its argv[0]'s last component)? Guards against
 * signalling a reused pid. */
bool run_pid_is(pid_t pid, const char *prog);
/* SIGTERM, wait up to timeout seconds (pidfd + poll), then SIGKILL and wait again. Our own
 * children are reaped. Returns 0 once the process is gone, -1 with err. */
int run_stop(pid_t pid, double timeout, bool *killed, struct errbuf *err);
/* Wait up to timeout seconds for pid to end (no signal). Returns 0 when it has. */
int run_wait_exit(pid_t pid, double timeout);

/* Print the last lines of the log (from offset on), each prefixed, to out. */
void run_log_tail(const char *path, off_t offset, int lines, const char *prefix, FILE *out);

/* Pick field key from a log line: key=value or key="value". Returns 0 or -1. */
int run_log_field(const char *line, const char *key, char *out, size_t n);

/* One HTTP request to 127.0.0.1 (libcurl, 5 s timeout). *status is the HTTP status;
 * *body (owned, NUL-terminated) the answer. body_in is sent as a form body. Returns 0 when
 * an answer came, -1 with err otherwise. */
int run_http(const char *method, const char *url, const char *body_in, long *status, char **body,
             struct errbuf *err);
/* URL-encode s (for a query parameter) into out. Returns 0, or -1 when it does not fit. */
int run_url_escape(const char *s, char *out, size_t n);

#endif
