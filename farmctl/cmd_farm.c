/* farmctl up|down|status|drain|stop|start|kill|restart|rekey|fault|add|remove|keys: run a
 * farm of sim-nodes behind lb from a farm file, and drive it. The run directory
 * (docs/farm-run-dir.md) says what runs where; run.c starts, follows and stops the
 * processes; farmfile.c reads the farm file. */
/* realpath */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "drainwait.h"
#include "farmfile.h"
#include "keyopts.h"
#include "mkconfig.h"
#include "run.h"
#include "ticks.h"

#define DEFAULT_APP_PATH "/LM/W3SVC/1/ROOT"

#define RUN_DIR_HELP                                                                               \
    "  --run-dir DIR      the farm's run directory (default $FARM_RUN_DIR, else ./.farm; not\n"    \
    "                     empty)\n"

static const char up_usage[] =
    "usage: farmctl up FILE [--run-dir DIR]\n"
    "\n"
    "Start the farm that FILE describes (docs/farm-file.md): its state server, its nodes\n"
    "(sim-node) and lb in front of them, on the addresses the file names (127.0.0.1:0 picks a\n"
    "free port). Each is started detached and outlives farmctl; farmctl waits for each ready\n"
    "line, writes the run directory (docs/farm-run-dir.md) and prints the farm's URL and\n"
    "its nodes with their key fingerprints. If anything fails to start, what was started\n"
    "is stopped again and the end of the failing log is shown.\n"
    "\n" RUN_DIR_HELP "\n"
    "Exit status: 0 up, 1 could not start (or a farm already runs there), 2 bad farm file.\n";

static const char down_usage[] =
    "usage: farmctl down [--run-dir DIR]\n"
    "\n"
    "Stop the farm: lb first, then the nodes, then the state server, each with SIGTERM (a\n"
    "node finishes its requests) and SIGKILL if it is not gone after 12 s. farm.json is\n"
    "removed; logs and cookie jars stay. With no farm running, says so and exits 0.\n"
    "\n" RUN_DIR_HELP;

static const char status_usage[] =
    "usage: farmctl status [--json] [--run-dir DIR]\n"
    "\n"
    "Show each node: its state in lb, its address and process, its key fingerprint and the\n"
    "requests lb sent it. Nodes that share a fingerprint share a group letter (and a colour\n"
    "on a terminal); when there is more than one group, a last line names the nodes that\n"
    "differ: their tickets are rejected by the others.\n"
    "\n"
    "  --json             one JSON object\n" RUN_DIR_HELP "\n"
    "Exit status: 0; 1 lb does not answer; 2 usage or no farm running.\n";

static const char node_action_usage[] =
    "usage: farmctl drain NODE [--wait [--timeout DUR]] [--run-dir DIR]\n"
    "       farmctl stop|start NODE [--run-dir DIR]\n"
    "\n"
    "Change a node's state in lb (as NLB's drainstop, stop and start):\n"
    "  drain   no new clients; clients bound to it (connection, affinity, cookie) stay, and\n"
    "          lb stops the node by itself (reason drained) once they have finished: nothing\n"
    "          in flight, no connection bound to it, no request for the farm's drain-quiet\n"
    "          (10 s unless the farm file says otherwise)\n"
    "  stop    no clients at all; its in-flight requests are cut\n"
    "  start   back in rotation\n"
    "\n"
    "  --wait          (drain) wait until lb has stopped the node, following lb's events;\n"
    "                  print what still holds it when that changes and every 5 s (requests\n"
    "                  in flight, bound connections, time since its last request), then\n"
    "                  'NODE: drained (stopped after N s)'\n"
    "  --timeout DUR   (with --wait) give up after DUR (500ms, 30s, 2m); the node stays\n"
    "                  draining. Without it, wait as long as the drain takes\n" RUN_DIR_HELP "\n"
    "Exit status: 0 done (with --wait: drained, or stopped by lb's drain-timeout); 1 lb\n"
    "refused or does not answer; 2 usage, no farm running or no such node; with --wait,\n"
    "4 the timeout passed with the node still draining, 5 someone else started, stopped\n"
    "or removed the node meanwhile.\n";

static const char kill_usage[] = "usage: farmctl kill NODE [--run-dir DIR]\n"
                                 "\n"
                                 "SIGKILL the node's process: a crash, as lb sees it. 'farmctl "
                                 "restart NODE' brings it back.\n"
                                 "\n" RUN_DIR_HELP;

static const char restart_usage[] =
    "usage: farmctl restart NODE [--run-dir DIR]\n"
    "\n"
    "Stop the node (SIGTERM, SIGKILL after 12 s) if it runs, and start it again with the same\n"
    "arguments on the same address; wait for its ready line. InProc sessions and\n"
    "AutoGenerate keys do not survive this, as on a real server.\n"
    "\n" RUN_DIR_HELP;

static const char rekey_usage[] =
    "usage: farmctl rekey NODE FILE [--run-dir DIR]\n"
    "\n"
    "Give the node the <machineKey> in FILE without a restart: FILE is checked, copied over\n"
    "the node's key file in the run directory, and the node gets SIGHUP. Prints the new key\n"
    "fingerprint once the node has loaded it.\n"
    "\n" RUN_DIR_HELP "\n"
    "Exit status: 0 rekeyed, 1 the node refused it or is not running, 2 bad FILE.\n";

static const char fault_usage[] =
    "usage: farmctl fault NODE SPEC [--run-dir DIR]\n"
    "\n"
    "Set faults on a node (docs/sim-node.md, section 9). SPEC is a comma-separated list:\n"
    "  latency=200ms[:50ms]  error=0.3[:503]  hang[=P]  reset[=P]  slow=BYTES  crash\n"
    "  lying-health  health-down  clear\n"
    "Items not named stay as they are; put 'clear' first to replace the whole set.\n"
    "\n" RUN_DIR_HELP;

static const char add_usage[] =
    "usage: farmctl add NODE --machine-key FILE [options] [--run-dir DIR]\n"
    "\n"
    "Start one more node and add it to lb.\n"
    "\n"
    "  --machine-key FILE     its <machineKey> (copied to the run directory)\n"
    "  --app-path PATH        IIS application path (default /LM/W3SVC/1/ROOT)\n"
    "  --session MODE         off (default), inproc, stateserver (the farm's state server)\n"
    "  --weight N             its weight in lb, 0 to 256 (default 1)\n"
    "  --listen ADDR          its address (default 127.0.0.1:0, a free port)\n"
    "  --fault SPEC           faults to start with\n" RUN_DIR_HELP;

static const char remove_usage[] = "usage: farmctl remove NODE [--run-dir DIR]\n"
                                   "\n"
                                   "Take the node out of lb and stop it.\n"
                                   "\n" RUN_DIR_HELP;

static const char keys_usage[] =
    "usage: farmctl keys [--run-dir DIR]\n"
    "\n"
    "The key compatibility matrix of the running farm, from the key files in the run\n"
    "directory: for every ordered pair of nodes, is a forms ticket issued by one accepted by\n"
    "the other, and if not, why. Nodes on AutoGenerate are named: their keys are random per\n"
    "process, so no other node can read their tickets.\n"
    "\n" RUN_DIR_HELP "\n"
    "Exit status: 0 every pair compatible, 1 some pair is not, 2 usage, no farm running or\n"
    "unreadable keys.\n";

/* ---- small helpers -------------------------------------------------------------------- */

/* A growing, NULL-terminated argv of owned strings. */
struct av {
    char **v;
    size_t n, cap;
    bool oom;
};

static void av_add(struct av *a, const char *s)
{
    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **t = realloc(a->v, cap * sizeof *t);
        if (t == NULL) {
            a->oom = true;
            return;
        }
        a->v = t;
        a->cap = cap;
    }
    a->v[a->n] = strdup(s);
    if (a->v[a->n] == NULL) {
        a->oom = true;
        return;
    }
    a->v[++a->n] = NULL;
}

static void av_addf(struct av *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void av_addf(struct av *a, const char *fmt, ...)
{
    char buf[PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    av_add(a, buf);
}

static void av_free(struct av *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Options every farm command takes; `want` is how many operands it needs. */
struct common {
    const char *run_dir;
    bool json;
    bool wait;      /* drain --wait */
    double timeout; /* --timeout, seconds (0: none) */
    const char *operand[2];
};

/* The options a command takes besides --run-dir and --help. */
enum {
    COMMON_JSON = 1 << 0, /* --json */
    COMMON_WAIT = 1 << 1, /* --wait [--timeout DUR] */
};

static int common_args(int argc, char **argv, const char *usage, int want, unsigned allow,
                       struct common *c)
{
    enum { O_RUN_DIR = 1, O_JSON, O_WAIT, O_TIMEOUT, O_HELP };
    static const struct option longopts[] = {
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"json", no_argument, NULL, O_JSON},
        {"wait", no_argument, NULL, O_WAIT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(c, 0, sizeof *c);
    int opt;
    int64_t ticks;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_RUN_DIR:
            c->run_dir = optarg;
            break;
        case O_JSON:
            if (!(allow & COMMON_JSON))
                return cli_error("%s: no --json here (see --help)", argv[0]);
            c->json = true;
            break;
        case O_WAIT:
        case O_TIMEOUT:
            if (!(allow & COMMON_WAIT))
                return cli_error("%s: no --%s here (see --help)", argv[0],
                                 opt == O_WAIT ? "wait" : "timeout");
            if (opt == O_WAIT) {
                c->wait = true;
            } else if (ticks_parse_duration(optarg, &ticks) != 0 || ticks <= 0) {
                return cli_error("--timeout: a duration such as 500ms, 30s or 2m, not '%s'",
                                 optarg);
            } else {
                c->timeout = (double)ticks / TICKS_PER_SECOND;
            }
            break;
        case 'h':
        case O_HELP:
            fputs(usage, stdout);
            return -2;
        default:
            return cli_error("see 'farmctl %s --help'", argv[0]);
        }
    }
    if (c->timeout > 0 && !c->wait)
        return cli_error("%s: --timeout goes with --wait (see --help)", argv[0]);
    int got = argc - optind;
    if (got != want)
        return cli_error("%s: %s (see --help)", argv[0],
                         got < want ? "missing argument" : "too many arguments");
    for (int i = 0; i < want; i++)
        c->operand[i] = argv[optind + i];
    return 0;
}

#define COMMON_RC(r) ((r) == -2 ? CLI_OK : CLI_USAGE)

/* An open farm: its run directory, farm.json and (for commands that change it) the lock. */
struct farm {
    char dir[PATH_MAX];
    int lock;
    struct run_farm f;
};

static void farm_close(struct farm *fm)
{
    run_farm_cleanup(&fm->f);
    if (fm->lock >= 0)
        close(fm->lock);
    fm->lock = -1;
}

/* Returns 0, or CLI_USAGE after a message with fm closed again: no farm running (the same
 * exit code as client and load), an unreadable farm.json, a bad --run-dir. farm_close() may
 * still be called. */
static int farm_open(struct farm *fm, const char *run_dir, bool lock)
{
    struct errbuf err = {{0}};
    memset(fm, 0, sizeof *fm);
    fm->lock = -1;
    if (run_dir_resolve(run_dir, fm->dir, sizeof fm->dir, &err) != 0)
        return cli_error("%s", err.msg);
    if (lock) {
        fm->lock = run_lock(fm->dir, false, &err);
        if (fm->lock < 0 && errno != ENOENT) {
            cli_error("%s", err.msg);
            goto fail;
        }
    }
    int r = run_farm_load(fm->dir, &fm->f, &err);
    if (r < 0) {
        cli_error("%s", err.msg);
        goto fail;
    }
    if (r == 1) {
        cli_error("no farm running in %s (farmctl up FILE)", fm->dir);
        goto fail;
    }
    return 0;
fail:
    farm_close(fm);
    return CLI_USAGE;
}

static struct run_node *farm_node(struct farm *fm, const char *name)
{
    struct run_node *n = run_farm_node(&fm->f, name);
    if (n == NULL) {
        char names[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < fm->f.n_nodes && used < sizeof names - 40; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     fm->f.nodes[i].name);
        cli_error("no node '%s' in the farm (nodes: %s)", name, used ? names : "none");
    }
    return n;
}

/* The width of a column of node names: the longest name, at least min. */
static int name_width(const struct run_farm *f, int min)
{
    int w = min;
    for (size_t i = 0; i < f->n_nodes; i++)
        if ((int)strlen(f->nodes[i].name) > w)
            w = (int)strlen(f->nodes[i].name);
    return w;
}

static bool farm_save(struct farm *fm)
{
    struct errbuf err = {{0}};
    if (run_farm_save(fm->dir, &fm->f, &err) != 0) {
        cli_error("%s", err.msg);
        return false;
    }
    return true;
}

/* Start a child, wait for its ready line(s). On failure: says why with the end of its log,
 * stops it if it still runs, returns -1. */
static int start_child(const char *dir, const char *prog, const char *what, struct av *argv,
                       const char *log, bool truncate, enum run_ready_kind kind,
                       struct run_ready *r, pid_t *pid)
{
    char bin[PATH_MAX], path[PATH_MAX + 8];
    struct errbuf err = {{0}};
    off_t off = 0;
    if (argv->oom) {
        cli_error("out of memory");
        return -1;
    }
    run_program(prog, bin, sizeof bin);
    *pid = run_spawn(dir, bin, argv->v, log, truncate, &off, &err);
    if (*pid < 0) {
        *pid = 0;
        cli_error("%s: %s", what, err.msg);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, log);
    if (run_wait_ready(path, off, *pid, true, kind, RUN_READY_TIMEOUT, r, &err) != 0) {
        cli_error("%s %s; the end of %s:", what, err.msg, path);
        run_log_tail(path, off, 12, "  | ", stderr);
        struct errbuf ignored = {{0}};
        run_stop(*pid, 2.0, NULL, &ignored);
        *pid = 0;
        return -1;
    }
    return 0;
}

/* Is pid a farm process we recorded and still the program we started? */
static bool is_ours(pid_t pid, const char *prog, const char *what)
{
    if (pid <= 1 || !run_pid_alive(pid))
        return false;
    if (!run_pid_is(pid, prog)) {
        fprintf(stderr, "farmctl: %s: pid %d is no longer %s; left alone\n", what, (int)pid, prog);
        return false;
    }
    return true;
}

/* Stop a process known to be ours (SIGTERM, then SIGKILL after RUN_STOP_TIMEOUT). Its
 * identity is not checked again: an exiting process has no command line any more. */
static void stop_pid(pid_t pid, const char *what)
{
    struct errbuf err = {{0}};
    bool killed = false;
    if (run_stop(pid, RUN_STOP_TIMEOUT, &killed, &err) != 0)
        cli_error("%s: %s", what, err.msg);
    else if (killed)
        fprintf(stderr, "farmctl: %s did not stop within %.0f s: killed\n", what, RUN_STOP_TIMEOUT);
}

/* Stop a recorded process if it is still ours. Returns true when there was one. */
static bool stop_recorded(pid_t pid, const char *prog, const char *what)
{
    if (!is_ours(pid, prog, what))
        return false;
    stop_pid(pid, what);
    return true;
}

static bool copy_file(const char *from, const char *to, struct errbuf *err)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb");
    if (in == NULL) {
        errbuf_set(err, "%s: %s", from, strerror(errno));
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (out == NULL) {
        errbuf_set(err, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        fclose(in);
        return false;
    }
    char buf[8192];
    size_t got;
    bool ok = true;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, got, out) != got)
            ok = false;
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) != 0)
        ok = false;
    /* Renamed over the old copy, so a node re-reading it on SIGHUP never sees half a file. */
    if (!ok || rename(tmp, to) != 0) {
        errbuf_set(err, "%s: cannot write: %s", to, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

/* Check a key file the way sim-node will read it. */
static bool key_file_ok(const char *path, const char *app_path, const char *where)
{
    struct mkconfig_opts o = {.app_path = app_path && *app_path ? app_path : DEFAULT_APP_PATH};
    struct machinekey mk;
    struct errbuf err = {{0}};
    if (mkconfig_load(path, &o, &mk, NULL, &err) != 0) {
        if (where)
            cli_error("%s: machine-key: %s", where, err.msg);
        else
            cli_error("%s", err.msg);
        return false;
    }
    machinekey_cleanup(&mk);
    return true;
}

static const char *farm_label(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    snprintf(out, n, "%s", slash ? slash + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
    return out;
}

/* sim-node's argv for a node of the farm. */
static void node_argv(const struct farmfile_node *n, const char *stateserver, struct av *a)
{
    av_add(a, "sim-node");
    av_add(a, "--name");
    av_add(a, n->name);
    av_add(a, "--listen");
    av_add(a, n->listen);
    av_add(a, "--machine-key");
    av_addf(a, "keys/%s.config", n->name);
    av_add(a, "--app-path");
    av_add(a, n->app_path[0] ? n->app_path : DEFAULT_APP_PATH);
    av_add(a, "--session");
    if (n->session == FARMFILE_SESSION_STATESERVER)
        av_addf(a, "stateserver=%s", stateserver);
    else
        av_add(a, farmfile_session_name(n->session));
    static const struct {
        const char *opt;
        size_t off;
    } strs[] = {
        {"--session-timeout", offsetof(struct farmfile_node, session_timeout)},
        {"--ticket-timeout", offsetof(struct farmfile_node, ticket_timeout)},
        {"--fault", offsetof(struct farmfile_node, fault)},
        {"--clock", offsetof(struct farmfile_node, clock)},
        {"--seed", offsetof(struct farmfile_node, seed)},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *v = (const char *)n + strs[i].off;
        if (*v) {
            av_add(a, strs[i].opt);
            av_add(a, v);
        }
    }
    if (n->sliding)
        av_add(a, "--sliding");
}

/* Start one node of the farm (its key file already in keys/), wait for it, record it in
 * fm->f. where (may be NULL) is the farm file and line that describe it, for messages.
 * Returns the recorded node or NULL (reported). */
static struct run_node *start_node(struct farm *fm, const struct farmfile_node *spec,
                                   const char *where, struct run_ready *r)
{
    struct av a = {0};
    node_argv(spec, fm->f.stateserver.listen, &a);
    char log[PATH_MAX], what[PATH_MAX + 64];
    snprintf(log, sizeof log, "logs/%s.log", spec->name);
    snprintf(what, sizeof what, "node %s%s%s%s", spec->name, where ? " (" : "", where ? where : "",
             where ? ")" : "");
    pid_t pid = 0;
    struct run_node *rec = NULL;
    if (start_child(fm->dir, "sim-node", what, &a, log, true, RUN_READY_NODE, r, &pid) != 0)
        goto out;
    /* The recorded arguments start it again as it is now: on the address it got. */
    for (size_t i = 0; i + 1 < a.n; i++)
        if (strcmp(a.v[i], "--listen") == 0) {
            char *addr = strdup(r->listen);
            if (addr) {
                free(a.v[i + 1]);
                a.v[i + 1] = addr;
            }
            break;
        }
    struct run_node n = {0};
    snprintf(n.name, sizeof n.name, "%s", spec->name);
    n.pid = pid;
    snprintf(n.listen, sizeof n.listen, "%s", r->listen);
    snprintf(n.machine_key, sizeof n.machine_key, "keys/%s.config", spec->name);
    snprintf(n.app_path, sizeof n.app_path, "%s",
             spec->app_path[0] ? spec->app_path : DEFAULT_APP_PATH);
    snprintf(n.session, sizeof n.session, "%s", farmfile_session_name(spec->session));
    n.weight = spec->weight;
    snprintf(n.log, sizeof n.log, "%s", log);
    if (run_node_set_args(&n, a.v + 1, a.n - 1) != 0 ||
        (rec = run_farm_add_node(&fm->f, &n)) == NULL) {
        run_node_cleanup(&n);
        cli_error("out of memory");
        struct errbuf ignored = {{0}};
        run_stop(pid, 2.0, NULL, &ignored);
    }
out:
    av_free(&a);
    return rec;
}

/* Stop everything recorded in fm->f: lb first (no new requests), then every node at once
 * (each drains its requests), then the state server they use. Returns how many were
 * running. */
static int stop_all(struct farm *fm)
{
    int stopped = stop_recorded(fm->f.lb.pid, "lb", "lb");
    bool *ours = calloc(fm->f.n_nodes + 1, sizeof *ours);
    for (size_t i = 0; i < fm->f.n_nodes; i++) {
        char what[64];
        snprintf(what, sizeof what, "node %s", fm->f.nodes[i].name);
        if (ours == NULL) { /* no memory to stop them at once: one after the other */
            stopped += stop_recorded(fm->f.nodes[i].pid, "sim-node", what);
        } else if ((ours[i] = is_ours(fm->f.nodes[i].pid, "sim-node", what))) {
            kill(fm->f.nodes[i].pid, SIGTERM);
            stopped++;
        }
    }
    for (size_t i = 0; ours && i < fm->f.n_nodes; i++) {
        char what[64];
        snprintf(what, sizeof what, "node %s", fm->f.nodes[i].name);
        if (ours[i])
            stop_pid(fm->f.nodes[i].pid, what);
    }
    free(ours);
    if (fm->f.has_stateserver)
        stopped += stop_recorded(fm->f.stateserver.pid, "sim-node", "state server");
    return stopped;
}

/* ---- up / down ------------------------------------------------------------------------ */

/* Does anything recorded in farm.json still run (as the program farmctl started)? */
static bool farm_is_running(const struct run_farm *f)
{
    if (run_pid_is(f->lb.pid, "lb") ||
        (f->has_stateserver && run_pid_is(f->stateserver.pid, "sim-node")))
        return true;
    for (size_t i = 0; i < f->n_nodes; i++)
        if (run_pid_is(f->nodes[i].pid, "sim-node"))
            return true;
    return false;
}

static int up_stateserver(struct farm *fm, const struct farmfile *ff)
{
    struct av av = {0};
    av_add(&av, "sim-node");
    av_add(&av, "--state-server");
    av_add(&av, "--listen");
    av_add(&av, ff->stateserver_listen);
    struct run_ready ready;
    pid_t pid = 0;
    int s = start_child(fm->dir, "sim-node", "the state server", &av, "logs/stateserver.log", true,
                        RUN_READY_STATESERVER, &ready, &pid);
    av_free(&av);
    if (s != 0)
        return -1;
    fm->f.has_stateserver = true;
    fm->f.stateserver.pid = pid;
    snprintf(fm->f.stateserver.listen, sizeof fm->f.stateserver.listen, "%s", ready.listen);
    return farm_save(fm) ? 0 : -1;
}

/* lb in front: the farm's settings, then the nodes as they listen now. */
static int up_lb(struct farm *fm, const struct farmfile *ff)
{
    struct av av = {0};
    av_add(&av, "lb");
    av_add(&av, "--listen");
    av_add(&av, ff->lb_listen);
    av_add(&av, "--admin");
    av_add(&av, ff->lb_admin);
    for (size_t i = 0; i < ff->n_lb; i++) {
        const struct farmfile_lb_setting *s = &ff->lb[i];
        if (s->flag) { /* lb's flags take no value: given when on */
            if (strcmp(s->value, "yes") == 0)
                av_addf(&av, "--%s", s->name);
            continue;
        }
        av_addf(&av, "--%s", s->name);
        av_add(&av, s->value);
    }
    for (size_t i = 0; i < fm->f.n_nodes; i++) {
        av_add(&av, "--node");
        av_addf(&av, "%s=%s", fm->f.nodes[i].name, fm->f.nodes[i].listen);
    }
    for (size_t i = 0; i < fm->f.n_nodes; i++)
        if (fm->f.nodes[i].weight != 1) {
            av_add(&av, "--weight");
            av_addf(&av, "%s=%u", fm->f.nodes[i].name, fm->f.nodes[i].weight);
        }
    av_add(&av, "--access-log");
    av_add(&av, "logs/access.log");
    struct run_ready ready;
    pid_t pid = 0;
    int s = start_child(fm->dir, "lb", "lb", &av, "logs/lb.log", true, RUN_READY_LB, &ready, &pid);
    av_free(&av);
    if (s != 0)
        return -1;
    fm->f.lb.pid = pid;
    snprintf(fm->f.lb.listen, sizeof fm->f.lb.listen, "%s", ready.listen);
    snprintf(fm->f.lb.admin, sizeof fm->f.lb.admin, "%s", ready.admin);
    snprintf(fm->f.lb.url, sizeof fm->f.lb.url, "http://%s/", ready.listen);
    return farm_save(fm) ? 0 : -1;
}

static void up_print(const struct farm *fm, const struct farmfile *ff, char (*keys)[64],
                     const bool *autogen)
{
    char label[PATH_MAX];
    printf("farm %s is up: %s\n", farm_label(ff->path, label, sizeof label), fm->f.lb.url);
    printf("  lb admin      %s\n", fm->f.lb.admin);
    if (fm->f.has_stateserver)
        printf("  state server  %s\n", fm->f.stateserver.listen);
    printf("  run dir       %s\n\n", fm->dir);
    int w = name_width(&fm->f, 4);
    printf("%-*s  %-21s  %-11s  %s\n", w, "NODE", "ADDRESS", "SESSION", "KEY");
    for (size_t i = 0; i < fm->f.n_nodes; i++)
        printf("%-*s  %-21s  %-11s  %s%s\n", w, fm->f.nodes[i].name, fm->f.nodes[i].listen,
               fm->f.nodes[i].session, keys[i],
               autogen[i] ? "  AutoGenerate (random per process)" : "");
}

static int cmd_up(int argc, char **argv)
{
    struct common c;
    int a = common_args(argc, argv, up_usage, 1, 0, &c);
    if (a != 0)
        return COMMON_RC(a);
    struct errbuf err = {{0}};
    struct farmfile *ff = farmfile_load(c.operand[0], &err);
    if (ff == NULL)
        return cli_error("%s", err.msg);
    int rc = CLI_USAGE;
    struct farm fm = {.lock = -1};
    char(*keys)[64] = NULL; /* each node's fingerprint, for the table */
    bool *autogen = NULL;
    for (size_t i = 0; i < ff->n_nodes; i++) {
        char where[PATH_MAX + 16];
        snprintf(where, sizeof where, "%s:%d", ff->path, ff->nodes[i].machine_key_line);
        if (!key_file_ok(ff->nodes[i].machine_key, ff->nodes[i].app_path, where))
            goto out;
    }

    if (run_dir_resolve(c.run_dir, fm.dir, sizeof fm.dir, &err) != 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    rc = CLI_FINDINGS;
    if ((fm.lock = run_lock(fm.dir, true, &err)) < 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    int r = run_farm_load(fm.dir, &fm.f, &err);
    if (r < 0) {
        cli_error("%s (remove it if no farm runs there)", err.msg);
        goto out;
    }
    if (r == 0 && farm_is_running(&fm.f)) {
        cli_error("a farm is already running in %s (from %s); stop it with 'farmctl down%s%s'",
                  fm.dir, fm.f.farm_file, c.run_dir ? " --run-dir " : "",
                  c.run_dir ? c.run_dir : "");
        goto out;
    }
    run_farm_cleanup(&fm.f); /* a farm that ended without 'down': forget it */
    memset(&fm.f, 0, sizeof fm.f);
    keys = calloc(ff->n_nodes + 1, sizeof *keys);
    autogen = calloc(ff->n_nodes + 1, sizeof *autogen);
    if (keys == NULL || autogen == NULL) {
        cli_error("out of memory");
        goto out;
    }

    /* Key files: a copy per node, which rekey replaces. */
    for (size_t i = 0; i < ff->n_nodes; i++) {
        char to[PATH_MAX + 64];
        snprintf(to, sizeof to, "%s/keys/%s.config", fm.dir, ff->nodes[i].name);
        if (!copy_file(ff->nodes[i].machine_key, to, &err)) {
            cli_error("%s", err.msg);
            goto out;
        }
    }
    if (realpath(ff->path, fm.f.farm_file) == NULL)
        snprintf(fm.f.farm_file, sizeof fm.f.farm_file, "%s", ff->path);
    ticks_format_iso(ticks_now(), fm.f.started);

    /* The state server, the nodes, lb: farm.json is saved after each, so that 'down' finds
     * whatever runs should farmctl itself be interrupted. */
    if (ff->stateserver && up_stateserver(&fm, ff) != 0)
        goto fail;
    for (size_t i = 0; i < ff->n_nodes; i++) {
        char where[PATH_MAX + 16];
        struct run_ready ready;
        snprintf(where, sizeof where, "%s:%d", ff->path, ff->nodes[i].line);
        if (start_node(&fm, &ff->nodes[i], where, &ready) == NULL || !farm_save(&fm))
            goto fail;
        snprintf(keys[i], sizeof keys[i], "%s", ready.key);
        autogen[i] = ready.autogenerate;
    }
    if (up_lb(&fm, ff) != 0)
        goto fail;
    up_print(&fm, ff, keys, autogen);
    rc = CLI_OK;
    goto out;

fail:
    stop_all(&fm);
    run_farm_remove(fm.dir, &err);
out:
    free(keys);
    free(autogen);
    farm_close(&fm);
    farmfile_free(ff);
    return rc;
}

static int cmd_down(int argc, char **argv)
{
    struct common c;
    int a = common_args(argc, argv, down_usage, 0, 0, &c);
    if (a != 0)
        return COMMON_RC(a);
    struct farm fm;
    struct errbuf err = {{0}};
    if (run_dir_resolve(c.run_dir, fm.dir, sizeof fm.dir, &err) != 0)
        return cli_error("%s", err.msg);
    fm.lock = run_lock(fm.dir, false, &err);
    if (fm.lock < 0 && errno != ENOENT)
        return cli_error("%s", err.msg);
    memset(&fm.f, 0, sizeof fm.f);
    int r = fm.lock < 0 ? 1 : run_farm_load(fm.dir, &fm.f, &err);
    if (r < 0) {
        cli_error("%s", err.msg);
        farm_close(&fm);
        return CLI_USAGE;
    }
    if (r == 1) {
        printf("no farm running in %s\n", fm.dir);
        farm_close(&fm);
        return CLI_OK;
    }
    int stopped = stop_all(&fm);
    int rc = CLI_OK;
    if (run_farm_remove(fm.dir, &err) != 0) {
        cli_error("%s", err.msg);
        rc = CLI_FINDINGS;
    }
    printf("farm down: %d process(es) stopped; logs kept in %s/logs\n", stopped, fm.dir);
    farm_close(&fm);
    return rc;
}

/* ---- status --------------------------------------------------------------------------- */

struct status_row {
    const char *name;
    const char *state;
    char reason[128];
    const char *listen;
    pid_t pid;
    bool alive;
    char key[64];
    bool autogen;
    long long requests;
    int group; /* -1: key unknown */
};

static json_t *get_json(const char *url)
{
    long st;
    char *body = NULL;
    struct errbuf err = {{0}};
    if (run_http("GET", url, NULL, &st, &body, &err) != 0 || st != 200) {
        free(body);
        return NULL;
    }
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

static json_t *lb_node_json(json_t *lbnodes, const char *name)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(lbnodes, "nodes"), i, n)
    {
        const char *nn = json_string_value(json_object_get(n, "name"));
        if (nn && strcmp(nn, name) == 0)
            return n;
    }
    return NULL;
}

static int cmd_status(int argc, char **argv)
{
    struct common c;
    int a = common_args(argc, argv, status_usage, 0, COMMON_JSON, &c);
    if (a != 0)
        return COMMON_RC(a);
    struct farm fm;
    int r = farm_open(&fm, c.run_dir, false);
    if (r != 0)
        return r;
    char url[256];
    snprintf(url, sizeof url, "http://%s/nodes", fm.f.lb.admin);
    json_t *lbnodes = get_json(url);
    size_t n = fm.f.n_nodes;
    struct status_row *rows = calloc(n + 1, sizeof *rows);
    json_t **infos = calloc(n + 1, sizeof *infos);
    char groups[26][64];
    size_t group_size[26] = {0}, n_groups = 0;
    if (rows == NULL || infos == NULL) {
        free(rows);
        free(infos);
        json_decref(lbnodes);
        farm_close(&fm);
        return cli_error("out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const struct run_node *rn = &fm.f.nodes[i];
        struct status_row *row = &rows[i];
        row->name = rn->name;
        row->listen = rn->listen;
        row->pid = rn->pid;
        row->alive = run_pid_alive(rn->pid);
        row->group = -1;
        json_t *ln = lb_node_json(lbnodes, rn->name);
        row->state = ln ? json_string_value(json_object_get(ln, "state")) : NULL;
        if (row->state == NULL)
            row->state = lbnodes ? "not-in-lb" : "?";
        const char *reason = ln ? json_string_value(json_object_get(ln, "reason")) : NULL;
        snprintf(row->reason, sizeof row->reason, "%s", reason ? reason : "");
        row->requests = ln ? (long long)json_integer_value(json_object_get(ln, "requests")) : 0;
        if (row->alive) {
            snprintf(url, sizeof url, "http://%s/_farm/info", rn->listen);
            infos[i] = get_json(url);
        }
        json_t *keys = json_object_get(infos[i], "keys");
        const char *fp = json_string_value(json_object_get(keys, "fingerprint"));
        row->autogen = json_is_true(json_object_get(keys, "autogenerate"));
        if (fp == NULL && ln) /* not answering: the last fingerprint lb saw */
            fp = json_string_value(json_object_get(ln, "key"));
        snprintf(row->key, sizeof row->key, "%s", fp && *fp ? fp : "");
        if (row->key[0] == '\0')
            continue;
        size_t g;
        for (g = 0; g < n_groups; g++)
            if (strcmp(groups[g], row->key) == 0)
                break;
        if (g == n_groups && n_groups < 26)
            snprintf(groups[n_groups++], sizeof groups[0], "%s", row->key);
        if (g < 26) {
            row->group = (int)g;
            group_size[g]++;
        }
    }
    /* The largest group (the first one on a tie) is the farm's key; the others differ. */
    size_t main_group = 0;
    for (size_t g = 1; g < n_groups; g++)
        if (group_size[g] > group_size[main_group])
            main_group = g;

    if (c.json) {
        json_t *out = json_object();
        json_object_set_new(out, "url", json_string(fm.f.lb.url));
        json_object_set_new(out, "admin", json_string(fm.f.lb.admin));
        json_object_set_new(out, "run_dir", json_string(fm.dir));
        json_object_set_new(out, "lb",
                            json_pack("{s:i, s:b, s:b}", "pid", (json_int_t)fm.f.lb.pid, "alive",
                                      run_pid_alive(fm.f.lb.pid), "answering", lbnodes != NULL));
        if (fm.f.has_stateserver)
            json_object_set_new(out, "stateserver",
                                json_pack("{s:s, s:i, s:b}", "listen", fm.f.stateserver.listen,
                                          "pid", (json_int_t)fm.f.stateserver.pid, "alive",
                                          run_pid_alive(fm.f.stateserver.pid)));
        else
            json_object_set_new(out, "stateserver", json_null());
        json_t *nodes = json_array(), *differs = json_array();
        for (size_t i = 0; i < n; i++) {
            const struct status_row *row = &rows[i];
            char letter[2] = {row->group >= 0 ? (char)('A' + row->group) : '\0', '\0'};
            json_array_append_new(
                nodes,
                json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:s?, s:b, s:s?, s:I}", "name", row->name,
                          "state", row->state, "reason", row->reason, "listen", row->listen, "pid",
                          (json_int_t)row->pid, "alive", row->alive, "key",
                          row->key[0] ? row->key : NULL, "autogenerate", row->autogen, "group",
                          letter[0] ? letter : NULL, "requests", (json_int_t)row->requests));
            if (row->group >= 0 && (size_t)row->group != main_group)
                json_array_append_new(differs, json_string(row->name));
        }
        json_t *gs = json_array();
        for (size_t g = 0; g < n_groups; g++) {
            json_t *members = json_array();
            for (size_t i = 0; i < n; i++)
                if (rows[i].group == (int)g)
                    json_array_append_new(members, json_string(rows[i].name));
            char letter[2] = {(char)('A' + g), '\0'};
            json_array_append_new(gs, json_pack("{s:s, s:s, s:o}", "group", letter, "key",
                                                groups[g], "nodes", members));
        }
        json_object_set_new(out, "nodes", nodes);
        json_object_set_new(out, "groups", gs);
        json_object_set_new(out, "differs", differs);
        char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
        json_decref(out);
    } else {
        bool color = cli_color();
        static const char *const palette[] = {"\033[32m", "\033[33m", "\033[35m",
                                              "\033[36m", "\033[31m", "\033[34m"};
        printf("farm %s  (admin %s", fm.f.lb.url, fm.f.lb.admin);
        if (fm.f.has_stateserver)
            printf(", state server %s%s", fm.f.stateserver.listen,
                   run_pid_alive(fm.f.stateserver.pid) ? "" : " GONE");
        printf(")\n");
        if (lbnodes == NULL)
            printf("lb is not answering on %s (%s)\n", fm.f.lb.admin,
                   run_pid_alive(fm.f.lb.pid) ? "process running" : "process gone");
        int w = name_width(&fm.f, 4);
        printf("%-*s  %-9s  %-21s  %-7s  %-34s  %s\n", w, "NODE", "STATE", "ADDRESS", "PID", "KEY",
               "REQUESTS");
        for (size_t i = 0; i < n; i++) {
            const struct status_row *row = &rows[i];
            char pid[16], key[96];
            if (row->alive)
                snprintf(pid, sizeof pid, "%d", (int)row->pid);
            else
                snprintf(pid, sizeof pid, "gone");
            if (row->group >= 0)
                snprintf(key, sizeof key, "%c %s%s", 'A' + row->group, row->key,
                         row->autogen ? " auto" : "");
            else
                snprintf(key, sizeof key, "- (unknown)");
            const char *on = "", *off = "";
            if (color && row->group >= 0) {
                on = palette[(size_t)row->group % (sizeof palette / sizeof palette[0])];
                off = "\033[0m";
            }
            printf("%-*s  %-9s  %-21s  %-7s  %s%-34s%s  %lld\n", w, row->name, row->state,
                   row->listen, pid, on, key, off, row->requests);
        }
        if (n_groups > 1) {
            /* Name the nodes outside the largest group, each in its group's colour. */
            size_t differ = 0;
            printf("keys: %zu groups \xe2\x80\x94 ", n_groups);
            for (size_t i = 0; i < n; i++) {
                if (rows[i].group < 0 || (size_t)rows[i].group == main_group)
                    continue;
                const char *on =
                    color ? palette[(size_t)rows[i].group % (sizeof palette / sizeof palette[0])]
                          : "";
                printf("%s%s%s%s", differ++ ? ", " : "", on, rows[i].name, color ? "\033[0m" : "");
            }
            printf(" differ%s\n", differ > 1 ? "" : "s");
        } else if (n_groups == 1) {
            printf("keys: one group \xe2\x80\x94 every node that answered shares one key\n");
        }
    }
    int rc = lbnodes ? CLI_OK : CLI_FINDINGS;
    for (size_t i = 0; i < n; i++)
        json_decref(infos[i]);
    free(infos);
    free(rows);
    json_decref(lbnodes);
    farm_close(&fm);
    return rc;
}

/* ---- node control --------------------------------------------------------------------- */

/* What every node command starts with: its options (allow: COMMON_* beyond --run-dir) and
 * operands (NODE first, `want` in all), the farm (locked when the command changes it) and
 * the node. Returns the node, with fm open and *rc CLI_OK; or NULL with *rc the exit code
 * (after --help or a message) and fm closed. */
static struct run_node *node_open(int argc, char **argv, const char *usage, int want,
                                  unsigned allow, bool lock, struct common *c, struct farm *fm,
                                  int *rc)
{
    int a = common_args(argc, argv, usage, want, allow, c);
    if (a != 0) {
        *rc = COMMON_RC(a);
        return NULL;
    }
    *rc = farm_open(fm, c->run_dir, lock);
    if (*rc != CLI_OK)
        return NULL;
    struct run_node *n = farm_node(fm, c->operand[0]);
    if (n == NULL) {
        *rc = CLI_USAGE;
        farm_close(fm);
    }
    return n;
}

/* One admin request to lb; prints lb's error on failure. Returns 0 or -1. */
static int lb_admin(const struct farm *fm, const char *method, const char *path, const char *body,
                    long *status, json_t **answer)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s%s", fm->f.lb.admin, path);
    char *text = NULL;
    struct errbuf err = {{0}};
    if (answer)
        *answer = NULL;
    if (run_http(method, url, body, status, &text, &err) != 0) {
        cli_error("lb does not answer: %s", err.msg);
        return -1;
    }
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    if (*status >= 300) {
        const char *e = json_string_value(json_object_get(j, "error"));
        cli_error("lb: %ld %s", *status, e ? e : "");
        json_decref(j);
        return -1;
    }
    if (answer)
        *answer = j;
    else
        json_decref(j);
    return 0;
}

static int cmd_node_action(int argc, char **argv)
{
    struct common c;
    struct farm fm;
    int rc;
    bool drain = strcmp(argv[0], "drain") == 0;
    struct run_node *n =
        node_open(argc, argv, node_action_usage, 1, drain ? COMMON_WAIT : 0, false, &c, &fm, &rc);
    if (n == NULL)
        return rc;
    char path[128];
    long st;
    json_t *j;
    snprintf(path, sizeof path, "/nodes/%s/%s", n->name, argv[0]);
    if (lb_admin(&fm, "POST", path, "", &st, &j) != 0) {
        rc = CLI_FINDINGS;
    } else {
        const char *state = json_string_value(json_object_get(j, "state"));
        printf("%s: %s\n", n->name, state ? state : "?");
        fflush(stdout);
        json_decref(j);
        if (c.wait)
            rc = drainwait_run(fm.f.lb.admin, n->name, c.timeout, stdout);
    }
    farm_close(&fm);
    return rc;
}

static int cmd_kill(int argc, char **argv)
{
    struct common c;
    struct farm fm;
    int rc;
    struct run_node *n = node_open(argc, argv, kill_usage, 1, 0, false, &c, &fm, &rc);
    if (n == NULL)
        return rc;
    if (!run_pid_is(n->pid, "sim-node")) {
        cli_error("%s is not running", n->name);
        rc = CLI_FINDINGS;
    } else {
        kill(n->pid, SIGKILL);
        if (run_wait_exit(n->pid, 5.0) != 0) {
            cli_error("%s (pid %d) did not end", n->name, (int)n->pid);
            rc = CLI_FINDINGS;
        } else {
            printf("%s: killed (pid %d)\n", n->name, (int)n->pid);
        }
    }
    farm_close(&fm);
    return rc;
}

static int cmd_restart(int argc, char **argv)
{
    struct common c;
    struct farm fm;
    int rc;
    struct run_node *n = node_open(argc, argv, restart_usage, 1, 0, true, &c, &fm, &rc);
    if (n == NULL)
        return rc;
    rc = CLI_FINDINGS;
    char what[64];
    snprintf(what, sizeof what, "node %s", n->name);
    stop_recorded(n->pid, "sim-node", what);
    if (n->n_args == 0) {
        cli_error("%s: farm.json has no arguments to start it with", n->name);
        goto out;
    }
    struct av av = {0};
    av_add(&av, "sim-node");
    for (size_t i = 0; i < n->n_args; i++) {
        /* The same address as before, whatever the recorded arguments say. */
        bool listen = i > 0 && strcmp(n->args[i - 1], "--listen") == 0;
        av_add(&av, listen ? n->listen : n->args[i]);
    }
    struct run_ready ready;
    pid_t pid = 0;
    int s = start_child(fm.dir, "sim-node", what, &av, n->log, false, RUN_READY_NODE, &ready, &pid);
    av_free(&av);
    if (s != 0) {
        n->pid = 0;
        farm_save(&fm);
        goto out;
    }
    n->pid = pid;
    if (!farm_save(&fm))
        goto out;
    printf("%s: restarted on %s (pid %d), key %s%s\n", n->name, ready.listen, (int)pid, ready.key,
           ready.autogenerate ? " (AutoGenerate: new random keys)" : "");
    rc = CLI_OK;
out:
    farm_close(&fm);
    return rc;
}

static int cmd_rekey(int argc, char **argv)
{
    struct common c;
    struct farm fm;
    int rc;
    struct run_node *n = node_open(argc, argv, rekey_usage, 2, 0, true, &c, &fm, &rc);
    if (n == NULL)
        return rc;
    rc = CLI_USAGE;
    if (!key_file_ok(c.operand[1], n->app_path, NULL))
        goto out;
    rc = CLI_FINDINGS;
    if (!run_pid_is(n->pid, "sim-node")) {
        cli_error("%s is not running (start it with 'farmctl restart %s')", n->name, n->name);
        goto out;
    }
    char to[2 * PATH_MAX], log[2 * PATH_MAX], line[1024];
    struct errbuf err = {{0}};
    snprintf(to, sizeof to, "%s/%s", fm.dir, n->machine_key);
    snprintf(log, sizeof log, "%s/%s", fm.dir, n->log);
    if (!copy_file(c.operand[1], to, &err)) {
        cli_error("%s", err.msg);
        goto out;
    }
    off_t off = run_file_size(log);
    if (kill(n->pid, SIGHUP) != 0) {
        cli_error("%s: cannot signal pid %d: %s", n->name, (int)n->pid, strerror(errno));
        goto out;
    }
    static const char *const needles[] = {" event=rekey ", " event=rekey-failed ", NULL};
    int which =
        run_wait_line(log, off, n->pid, needles, RUN_READY_TIMEOUT, line, sizeof line, &err);
    if (which < 0) {
        cli_error("%s %s", n->name, err.msg);
        goto out;
    }
    if (which == 1) {
        char why[512] = "";
        run_log_field(line, "error", why, sizeof why);
        cli_error("%s kept its old keys: %s", n->name, why);
        goto out;
    }
    char key[64] = "";
    run_log_field(line, "key", key, sizeof key);
    printf("%s: rekeyed, key %s\n", n->name, key);
    rc = CLI_OK;
out:
    farm_close(&fm);
    return rc;
}

static int cmd_fault(int argc, char **argv)
{
    struct common c;
    struct farm fm;
    int rc;
    struct run_node *n = node_open(argc, argv, fault_usage, 2, 0, false, &c, &fm, &rc);
    if (n == NULL)
        return rc;
    char spec[1600], url[2048], *body = NULL;
    if (run_url_escape(c.operand[1], spec, sizeof spec) != 0) {
        rc = cli_error("SPEC too long");
        goto out;
    }
    snprintf(url, sizeof url, "http://%s/_farm/fault?spec=%s", n->listen, spec);
    long st;
    struct errbuf err = {{0}};
    if (run_http("POST", url, "", &st, &body, &err) != 0) {
        cli_error("%s does not answer: %s", n->name, err.msg);
        rc = CLI_FINDINGS;
        goto out;
    }
    json_t *j = json_loads(body, 0, NULL);
    const char *faults = json_string_value(json_object_get(j, "faults"));
    if (st == 200) {
        printf("%s: faults %s\n", n->name, faults ? faults : "?");
        rc = CLI_OK;
    } else {
        const char *e = json_string_value(json_object_get(j, "error"));
        /* sim-node's 400 answers with the grammar; show it as it is. */
        cli_error("%s refused the fault spec (%ld): %s", n->name, st, e ? e : body);
        rc = st == 400 ? CLI_USAGE : CLI_FINDINGS;
    }
    json_decref(j);
    free(body);
out:
    farm_close(&fm);
    return rc;
}

static int cmd_add(int argc, char **argv)
{
    enum { O_KEY = 1, O_APP, O_SESSION, O_WEIGHT, O_LISTEN, O_FAULT, O_RUN_DIR, O_HELP };
    static const struct option longopts[] = {
        {"machine-key", required_argument, NULL, O_KEY},
        {"app-path", required_argument, NULL, O_APP},
        {"session", required_argument, NULL, O_SESSION},
        {"weight", required_argument, NULL, O_WEIGHT},
        {"listen", required_argument, NULL, O_LISTEN},
        {"fault", required_argument, NULL, O_FAULT},
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    struct farmfile_node spec = {.weight = 1, .session = FARMFILE_SESSION_OFF};
    snprintf(spec.listen, sizeof spec.listen, "127.0.0.1:0");
    const char *key = NULL, *run_dir = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case O_KEY:
            key = optarg;
            break;
        case O_APP:
            snprintf(spec.app_path, sizeof spec.app_path, "%s", optarg);
            break;
        case O_SESSION:
            if (farmfile_session_from_name(optarg, &spec.session) != 0)
                return cli_error("--session: off, inproc or stateserver; not '%s'", optarg);
            break;
        case O_WEIGHT: {
            unsigned long w = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end || optarg[0] == '-' || w > 256)
                return cli_error("--weight: a number from 0 to 256, not '%s'", optarg);
            spec.weight = (unsigned)w;
            break;
        }
        case O_LISTEN:
            if (!farmfile_addr_is_valid(optarg))
                return cli_error("--listen: HOST:PORT, not '%s'", optarg);
            snprintf(spec.listen, sizeof spec.listen, "%s", optarg);
            break;
        case O_FAULT:
            snprintf(spec.fault, sizeof spec.fault, "%s", optarg);
            break;
        case O_RUN_DIR:
            run_dir = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(add_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl add --help'");
        }
    }
    if (argc - optind != 1)
        return cli_error("add: give one NODE name (see --help)");
    const char *name = argv[optind];
    if (!farmfile_name_is_valid(name))
        return cli_error("node name '%s': 1 to 31 of A-Z a-z 0-9 . _ -, and not lb, "
                         "stateserver or access",
                         name);
    if (key == NULL)
        return cli_error("add: --machine-key FILE is required");
    snprintf(spec.name, sizeof spec.name, "%s", name);
    if (!key_file_ok(key, spec.app_path, NULL))
        return CLI_USAGE;

    struct farm fm;
    int rc = farm_open(&fm, run_dir, true);
    if (rc != 0)
        return rc;
    rc = CLI_FINDINGS;
    if (run_farm_node(&fm.f, name)) {
        rc = cli_error("the farm already has a node '%s'", name);
        goto out;
    }
    if (spec.session == FARMFILE_SESSION_STATESERVER && !fm.f.has_stateserver) {
        rc = cli_error("--session stateserver: this farm has no state server");
        goto out;
    }
    if (!run_pid_is(fm.f.lb.pid, "lb")) {
        cli_error("lb is not running");
        goto out;
    }
    char to[PATH_MAX + 64];
    struct errbuf err = {{0}};
    snprintf(to, sizeof to, "%s/keys/%s.config", fm.dir, name);
    if (!copy_file(key, to, &err)) {
        cli_error("%s", err.msg);
        goto out;
    }
    struct run_ready ready;
    struct run_node *n = start_node(&fm, &spec, NULL, &ready);
    if (n == NULL)
        goto out;
    char body[256];
    long st;
    snprintf(body, sizeof body, "name=%s&address=%s&weight=%u", name, n->listen, n->weight);
    if (lb_admin(&fm, "POST", "/nodes", body, &st, NULL) != 0) {
        stop_recorded(n->pid, "sim-node", name);
        run_farm_remove_node(&fm.f, name);
        goto out;
    }
    if (!farm_save(&fm))
        goto out;
    printf("%s: added on %s (pid %d), key %s%s\n", name, n->listen, (int)n->pid, ready.key,
           ready.autogenerate ? " (AutoGenerate: random per process)" : "");
    rc = CLI_OK;
out:
    farm_close(&fm);
    return rc;
}

static int cmd_remove(int argc, char **argv)
{
    struct common c;
    struct farm fm;
    int rc;
    struct run_node *n = node_open(argc, argv, remove_usage, 1, 0, true, &c, &fm, &rc);
    if (n == NULL)
        return rc;
    char path[128];
    long st;
    snprintf(path, sizeof path, "/nodes/%s", n->name);
    rc = CLI_OK;
    if (lb_admin(&fm, "DELETE", path, NULL, &st, NULL) != 0)
        rc = CLI_FINDINGS; /* still stop it and forget it */
    char what[64];
    snprintf(what, sizeof what, "node %s", n->name);
    stop_recorded(n->pid, "sim-node", what);
    char name[RUN_NAME_MAX];
    snprintf(name, sizeof name, "%s", n->name);
    run_farm_remove_node(&fm.f, name);
    if (!farm_save(&fm))
        rc = CLI_FINDINGS;
    else
        printf("%s: removed\n", name);
    farm_close(&fm);
    return rc;
}

/* ---- keys ----------------------------------------------------------------------------- */

static int cmd_keys(int argc, char **argv)
{
    struct common c;
    int a = common_args(argc, argv, keys_usage, 0, 0, &c);
    if (a != 0)
        return COMMON_RC(a);
    struct farm fm;
    int rc = farm_open(&fm, c.run_dir, false);
    if (rc != 0)
        return rc;
    size_t n = fm.f.n_nodes;
    struct keyset *ks = calloc(n + 1, sizeof *ks);
    const char **names = calloc(n + 1, sizeof *names);
    if (ks == NULL || names == NULL) {
        rc = cli_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char path[2 * PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", fm.dir, fm.f.nodes[i].machine_key);
        const char *app = fm.f.nodes[i].app_path[0] ? fm.f.nodes[i].app_path : DEFAULT_APP_PATH;
        if (keyopts_resolve_file(path, app, &ks[i]) != 0)
            rc = CLI_USAGE;
        names[i] = fm.f.nodes[i].name;
    }
    if (rc != CLI_OK)
        goto out;
    if (n == 0)
        printf("the farm has no nodes\n");
    else
        rc = keyopts_matrix(ks, names, n, KEYOPTS_NODES, cli_color());
out:
    for (size_t i = 0; ks && i < n; i++)
        keyset_cleanup(&ks[i]);
    free(ks);
    free(names);
    farm_close(&fm);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"up", cmd_up},
    {"down", cmd_down},
    {"status", cmd_status},
    {"drain", cmd_node_action},
    {"stop", cmd_node_action},
    {"start", cmd_node_action},
    {"kill", cmd_kill},
    {"restart", cmd_restart},
    {"rekey", cmd_rekey},
    {"fault", cmd_fault},
    {"add", cmd_add},
    {"remove", cmd_remove},
    {"keys", cmd_keys},
};

bool cmd_farm_has(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return true;
    return false;
}

int cmd_farm(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, argv[0]) == 0)
            return commands[i].run(argc, argv);
    return cli_error("unknown command '%s'", argv[0]);
}
