/* inotify, pidfd_open, flock, setsid, close_range, pipe2 are Linux/GNU interfaces. */
#define _GNU_SOURCE

#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "runinfo.h"

static bool copy(char *dst, size_t n, const char *src)
{
    return (size_t)snprintf(dst, n, "%s", src) < n;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pidfd_open_pid(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* ---- the directory and farm.json ---------------------------------------------------- */

int run_dir_resolve(const char *opt, char *out, size_t n, struct errbuf *err)
{
    const char *d = runinfo_dir(opt, err);
    if (d == NULL)
        return -1;
    char cwd[PATH_MAX];
    bool ok;
    if (d[0] == '/') {
        ok = copy(out, n, d);
    } else if (getcwd(cwd, sizeof cwd) == NULL) {
        errbuf_set(err, "cannot tell the current directory: %s", strerror(errno));
        return -1;
    } else {
        ok = (size_t)snprintf(out, n, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, d) < n;
    }
    if (!ok) {
        errbuf_set(err, "run directory: path too long");
        return -1;
    }
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (!copy(tmp, sizeof tmp, path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int run_lock(const char *dir, bool create, struct errbuf *err)
{
    char path[PATH_MAX];
    if (create) {
        static const struct {
            const char *sub;
            mode_t mode;
        } subs[] = {{"", 0755}, {"/keys", 0700}, {"/logs", 0755}, {"/jars", 0700}};
        for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
            snprintf(path, sizeof path, "%s%s", dir, subs[i].sub);
            if (mkdir_p(path, subs[i].mode) != 0) {
                errbuf_set(err, "%s: cannot make the directory: %s", path, strerror(errno));
                return -1;
            }
        }
    }
    snprintf(path, sizeof path, "%s/farm.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        errbuf_set(err, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        errbuf_set(err, "%s: cannot lock: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void get_str(json_t *o, const char *key, char *out, size_t n)
{
    const char *s = json_string_value(json_object_get(o, key));
    copy(out, n, s ? s : "");
}

static pid_t get_pid(json_t *o)
{
    json_int_t v = json_integer_value(json_object_get(o, "pid"));
    return v > 1 && v < INT32_MAX ? (pid_t)v : 0;
}

void run_node_cleanup(struct run_node *n)
{
    for (size_t i = 0; i < n->n_args; i++)
        free(n->args[i]);
    free(n->args);
    n->args = NULL;
    n->n_args = 0;
}

int run_node_set_args(struct run_node *n, char *const *argv, size_t argc)
{
    char **a = calloc(argc + 1, sizeof *a);
    if (a == NULL)
        return -1;
    for (size_t i = 0; i < argc; i++) {
        a[i] = strdup(argv[i]);
        if (a[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                free(a[j]);
            free(a);
            return -1;
        }
    }
    run_node_cleanup(n);
    n->args = a;
    n->n_args = argc;
    return 0;
}

void run_farm_cleanup(struct run_farm *f)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        run_node_cleanup(&f->nodes[i]);
    free(f->nodes);
    f->nodes = NULL;
    f->n_nodes = 0;
}

struct run_node *run_farm_node(struct run_farm *f, const char *name)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        if (strcmp(f->nodes[i].name, name) == 0)
            return &f->nodes[i];
    return NULL;
}

struct run_node *run_farm_add_node(struct run_farm *f, struct run_node *n)
{
    struct run_node *t = realloc(f->nodes, (f->n_nodes + 1) * sizeof *t);
    if (t == NULL)
        return NULL;
    f->nodes = t;
    t[f->n_nodes] = *n;
    n->args = NULL;
    n->n_args = 0;
    return &t[f->n_nodes++];
}

void run_farm_remove_node(struct run_farm *f, const char *name)
{
    struct run_node *n = run_farm_node(f, name);
    if (n == NULL)
        return;
    run_node_cleanup(n);
    size_t i = (size_t)(n - f->nodes);
    memmove(&f->nodes[i], &f->nodes[i + 1], (f->n_nodes - i - 1) * sizeof *n);
    f->n_nodes--;
}

int run_farm_load(const char *dir, struct run_farm *f, struct errbuf *err)
{
    memset(f, 0, sizeof *f);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/farm.json", dir);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 1;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (root == NULL) {
        errbuf_set(err, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        errbuf_set(err, "%s: not a JSON object", path);
        json_decref(root);
        return -1;
    }
    get_str(root, "farm_file", f->farm_file, sizeof f->farm_file);
    get_str(root, "started", f->started, sizeof f->started);
    json_t *lb = json_object_get(root, "lb");
    f->lb.pid = get_pid(lb);
    get_str(lb, "listen", f->lb.listen, sizeof f->lb.listen);
    get_str(lb, "admin", f->lb.admin, sizeof f->lb.admin);
    get_str(lb, "url", f->lb.url, sizeof f->lb.url);
    json_t *ss = json_object_get(root, "stateserver");
    if (json_is_object(ss)) {
        f->has_stateserver = true;
        f->stateserver.pid = get_pid(ss);
        get_str(ss, "listen", f->stateserver.listen, sizeof f->stateserver.listen);
    }
    json_t *nodes = json_object_get(root, "nodes");
    const char *name;
    json_t *o;
    json_object_foreach(nodes, name, o)
    {
        struct run_node n = {0};
        copy(n.name, sizeof n.name, name);
        n.pid = get_pid(o);
        get_str(o, "listen", n.listen, sizeof n.listen);
        get_str(o, "machine_key", n.machine_key, sizeof n.machine_key);
        get_str(o, "app_path", n.app_path, sizeof n.app_path);
        get_str(o, "session", n.session, sizeof n.session);
        get_str(o, "log", n.log, sizeof n.log);
        json_int_t w = json_integer_value(json_object_get(o, "weight"));
        n.weight = w >= 0 && w <= 256 ? (unsigned)w : 1;
        json_t *args = json_object_get(o, "args");
        size_t na = json_array_size(args);
        char **a = calloc(na + 1, sizeof *a);
        bool bad = a == NULL;
        for (size_t i = 0; !bad && i < na; i++) {
            const char *s = json_string_value(json_array_get(args, i));
            a[i] = strdup(s ? s : "");
            bad = a[i] == NULL;
        }
        n.args = a;
        n.n_args = na;
        if (bad || run_farm_add_node(f, &n) == NULL) {
            run_node_cleanup(&n);
            run_farm_cleanup(f);
            json_decref(root);
            errbuf_set(err, "%s: out of memory", path);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

int run_farm_save(const char *dir, const struct run_farm *f, struct errbuf *err)
{
    json_t *root = json_object();
    json_object_set_new(root, "farm_file", json_string(f->farm_file));
    json_object_set_new(root, "started", json_string(f->started));
    json_object_set_new(root, "lb",
                        json_pack("{s:i, s:s, s:s, s:s}", "pid", (json_int_t)f->lb.pid, "listen",
                                  f->lb.listen, "admin", f->lb.admin, "url", f->lb.url));
    if (f->has_stateserver)
        json_object_set_new(root, "stateserver",
                            json_pack("{s:i, s:s}", "pid", (json_int_t)f->stateserver.pid, "listen",
                                      f->stateserver.listen));
    else
        json_object_set_new(root, "stateserver", json_null());
    json_t *nodes = json_object();
    for (size_t i = 0; i < f->n_nodes; i++) {
        const struct run_node *n = &f->nodes[i];
        json_t *args = json_array();
        for (size_t j = 0; j < n->n_args; j++)
            json_array_append_new(args, json_string(n->args[j]));
        json_object_set_new(nodes, n->name,
                            json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:o}", "pid",
                                      (json_int_t)n->pid, "listen", n->listen, "machine_key",
                                      n->machine_key, "app_path", n->app_path, "session",
                                      n->session, "weight", (json_int_t)n->weight, "log", n->log,
                                      "args", args));
    }
    json_object_set_new(root, "nodes", nodes);

    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/farm.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(root, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0 || rename(tmp, path) != 0) {
        errbuf_set(err, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int run_farm_remove(const char *dir, struct errbuf *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/farm.json", dir);
    if (unlink(path) != 0 && errno != ENOENT) {
        errbuf_set(err, "%s: cannot remove: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- processes ------------------------------------------------------------------------ */

void run_program(const char *name, char *out, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if ((size_t)snprintf(out, n, "%s/%s", self, name) < n && access(out, X_OK) == 0)
                return;
        }
    }
    const char *bin = getenv("FARM_BIN");
    if (bin && *bin && (size_t)snprintf(out, n, "%s/%s", bin, name) < n && access(out, X_OK) == 0)
        return;
    copy(out, n, name);
}

off_t run_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

pid_t run_spawn(const char *dir, const char *prog, char *const argv[], const char *log,
                bool truncate, off_t *log_offset, struct errbuf *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, log);
    int logfd =
        open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
    if (logfd < 0) {
        errbuf_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    *log_offset = lseek(logfd, 0, SEEK_END);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2] = {-1, -1}; /* the child writes errno here when exec fails */
    if (nullfd < 0 || pipe2(report, O_CLOEXEC) != 0) {
        errbuf_set(err, "cannot start %s: %s", argv[0], strerror(errno));
        close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Detached: a session of its own (no terminal signals), nothing to read, its log
         * for output. Every other descriptor closes at exec. */
        setsid();
        signal(SIGPIPE, SIG_DFL);
        if (chdir(dir) == 0 && dup2(nullfd, 0) >= 0 && dup2(logfd, 1) >= 0 && dup2(logfd, 2) >= 0) {
            close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
            execvp(prog, argv);
        }
        int e = errno;
        ssize_t w = write(report[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    int e = errno;
    close(report[1]);
    close(logfd);
    close(nullfd);
    if (pid < 0) {
        close(report[0]);
        errbuf_set(err, "cannot start %s: %s", argv[0], strerror(e));
        return -1;
    }
    int child_errno = 0;
    ssize_t got;
    do
        got = read(report[0], &child_errno, sizeof child_errno);
    while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof child_errno) {
        waitpid(pid, NULL, 0);
        errbuf_set(err, "cannot run %s: %s", prog, strerror(child_errno));
        return -1;
    }
    return pid;
}

bool run_pid_alive(pid_t pid)
{
    if (pid <= 1)
        return false;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true; /* no /proc: trust kill() */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

bool run_pid_is(pid_t pid, const char *prog)
{
    if (!run_pid_alive(pid))
        return false;
    char path[64], buf[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *slash = strrchr(buf, '/');
    return strcmp(slash ? slash + 1 : buf, prog) == 0;
}

/* Wait until pid is gone or the time is up. Returns true when it is gone. */
static bool wait_gone(pid_t pid, int pidfd, double timeout)
{
    double deadline = now_mono() + timeout;
    for (;;) {
        /* Our own child: reap it, which also ends a zombie's "alive". */
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || !run_pid_alive(pid))
            return true;
        double left = deadline - now_mono();
        if (left <= 0)
            return false;
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            int ms = (int)(left * 1000) + 1;
            if (poll(&p, 1, ms) < 0 && errno != EINTR)
                return false;
        } else {
            /* No pidfd (a kernel before 5.3): look again in 20 ms. */
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

int run_wait_exit(pid_t pid, double timeout)
{
    if (!run_pid_alive(pid))
        return 0;
    int pidfd = pidfd_open_pid(pid);
    bool gone = wait_gone(pid, pidfd, timeout);
    if (pidfd >= 0)
        close(pidfd);
    return gone ? 0 : -1;
}

int run_stop(pid_t pid, double timeout, bool *killed, struct errbuf *err)
{
    if (killed)
        *killed = false;
    if (!run_pid_alive(pid)) {
        if (pid > 1)
            waitpid(pid, NULL, WNOHANG);
        return 0;
    }
    int pidfd = pidfd_open_pid(pid);
    int rc = 0;
    if (kill(pid, SIGTERM) != 0 && errno != ESRCH) {
        errbuf_set(err, "cannot signal pid %d: %s", (int)pid, strerror(errno));
        rc = -1;
    } else if (!wait_gone(pid, pidfd, timeout)) {
        if (killed)
            *killed = true;
        kill(pid, SIGKILL);
        if (!wait_gone(pid, pidfd, 5.0)) {
            errbuf_set(err, "pid %d did not end after SIGKILL", (int)pid);
            rc = -1;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return rc;
}

/* ---- following a log ------------------------------------------------------------------ */

struct watch {
    int ifd, fd, pidfd;
    pid_t pid;
    bool child;
    bool exited;
    int status; /* the child's wait status, once exited */
    char buf[8192];
    size_t len;
};

static void watch_close(struct watch *w)
{
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->fd >= 0)
        close(w->fd);
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->ifd = w->fd = w->pidfd = -1;
}

static int watch_open(struct watch *w, const char *path, off_t offset, pid_t pid, bool child,
                      struct errbuf *err)
{
    memset(w, 0, sizeof *w);
    w->ifd = w->fd = w->pidfd = -1;
    w->pid = pid;
    w->child = child;
    w->status = -1;
    /* The watch first, then the read: a line written in between is read, not missed. */
    w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (w->ifd < 0 || inotify_add_watch(w->ifd, path, IN_MODIFY) < 0) {
        errbuf_set(err, "%s: cannot watch: %s", path, strerror(errno));
        goto fail;
    }
    w->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (w->fd < 0 || lseek(w->fd, offset, SEEK_SET) < 0) {
        errbuf_set(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    w->pidfd = pidfd_open_pid(pid);
    if (w->pidfd < 0 && errno == ESRCH)
        w->exited = true;
    return 0;
fail:
    watch_close(w);
    return -1;
}

enum watch_result { WATCH_LINE, WATCH_TIMEOUT, WATCH_EXITED, WATCH_ERROR };

static void watch_note_exit(struct watch *w)
{
    if (w->exited)
        return;
    if (w->child) {
        int st;
        if (waitpid(w->pid, &st, WNOHANG) == w->pid) {
            w->exited = true;
            w->status = st;
        }
    } else if (!run_pid_alive(w->pid)) {
        w->exited = true;
    }
}

static enum watch_result watch_line(struct watch *w, double deadline, char *line, size_t n)
{
    for (;;) {
        char *nl = memchr(w->buf, '\n', w->len);
        if (nl || (w->len == sizeof w->buf)) {
            size_t l = nl ? (size_t)(nl - w->buf) : w->len;
            snprintf(line, n, "%.*s", (int)l, w->buf);
            size_t used = nl ? l + 1 : l;
            memmove(w->buf, w->buf + used, w->len - used);
            w->len -= used;
            return WATCH_LINE;
        }
        ssize_t got = read(w->fd, w->buf + w->len, sizeof w->buf - w->len);
        if (got > 0) {
            w->len += (size_t)got;
            continue;
        }
        if (got < 0 && errno != EINTR && errno != EAGAIN)
            return WATCH_ERROR;
        if (w->exited) {
            if (w->len > 0) { /* a last line without its newline */
                snprintf(line, n, "%.*s", (int)w->len, w->buf);
                w->len = 0;
                return WATCH_LINE;
            }
            return WATCH_EXITED;
        }
        double left = deadline - now_mono();
        if (left <= 0)
            return WATCH_TIMEOUT;
        struct pollfd p[2] = {{.fd = w->ifd, .events = POLLIN}, {.fd = w->pidfd, .events = POLLIN}};
        int ms = (int)(left * 1000) + 1;
        if (w->pidfd < 0 && ms > 20)
            ms = 20; /* no pidfd (a kernel before 5.3): look at the process every 20 ms */
        int r = poll(p, w->pidfd >= 0 ? 2 : 1, ms);
        if (r < 0 && errno != EINTR)
            return WATCH_ERROR;
        if (p[0].revents & POLLIN) {
            char ev[4096];
            while (read(w->ifd, ev, sizeof ev) > 0)
                ;
        }
        if (w->pidfd < 0 || (p[1].revents & POLLIN))
            watch_note_exit(w);
    }
}

static void exit_message(const struct watch *w, const char *what, struct errbuf *err)
{
    if (w->status >= 0 && WIFEXITED(w->status))
        errbuf_set(err, "exited with status %d %s", WEXITSTATUS(w->status), what);
    else if (w->status >= 0 && WIFSIGNALED(w->status))
        errbuf_set(err, "was killed by signal %d %s", WTERMSIG(w->status), what);
    else
        errbuf_set(err, "exited %s", what);
}

int run_log_field(const char *line, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *p = line; (p = strstr(p, key)) != NULL; p++) {
        if ((p != line && p[-1] != ' ') || p[klen] != '=')
            continue;
        const char *v = p + klen + 1;
        size_t len;
        if (*v == '"') {
            v++;
            const char *q = strchr(v, '"');
            len = q ? (size_t)(q - v) : strlen(v);
        } else {
            len = strcspn(v, " ");
        }
        if (len >= n)
            return -1;
        memcpy(out, v, len);
        out[len] = '\0';
        return 0;
    }
    return -1;
}

int run_wait_ready(const char *path, off_t offset, pid_t pid, bool child, enum run_ready_kind kind,
                   double timeout, struct run_ready *r, struct errbuf *err)
{
    memset(r, 0, sizeof *r);
    struct watch w;
    if (watch_open(&w, path, offset, pid, child, err) != 0)
        return -1;
    double deadline = now_mono() + timeout;
    char line[2048];
    int rc = -1;
    for (;;) {
        enum watch_result res = watch_line(&w, deadline, line, sizeof line);
        if (res == WATCH_TIMEOUT) {
            errbuf_set(err, "printed no ready line within %.0f s", timeout);
            break;
        }
        if (res == WATCH_EXITED) {
            exit_message(&w, "before its ready line", err);
            break;
        }
        if (res == WATCH_ERROR) {
            errbuf_set(err, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (strstr(line, " event=ready ") == NULL)
            continue;
        if (kind == RUN_READY_LB) {
            if (strstr(line, " role=proxy "))
                run_log_field(line, "listen", r->listen, sizeof r->listen);
            else if (strstr(line, " role=admin "))
                run_log_field(line, "listen", r->admin, sizeof r->admin);
            if (r->listen[0] && r->admin[0]) {
                rc = 0;
                break;
            }
            continue;
        }
        if (run_log_field(line, "listen", r->listen, sizeof r->listen) != 0)
            continue;
        if (kind == RUN_READY_NODE) {
            run_log_field(line, "key", r->key, sizeof r->key);
            r->autogenerate = strstr(line, " autogenerate=yes") != NULL;
        }
        rc = 0;
        break;
    }
    watch_close(&w);
    return rc;
}

int run_wait_line(const char *path, off_t offset, pid_t pid, const char *const needles[],
                  double timeout, char *line, size_t n, struct errbuf *err)
{
    struct watch w;
    if (watch_open(&w, path, offset, pid, false, err) != 0)
        return -1;
    double deadline = now_mono() + timeout;
    int rc = -1;
    while (rc < 0) {
        enum watch_result res = watch_line(&w, deadline, line, n);
        if (res == WATCH_TIMEOUT) {
            errbuf_set(err, "nothing in its log within %.0f s", timeout);
            break;
        }
        if (res == WATCH_EXITED) {
            exit_message(&w, "meanwhile", err);
            break;
        }
        if (res == WATCH_ERROR) {
            errbuf_set(err, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        for (int i = 0; needles[i]; i++)
            if (strstr(line, needles[i])) {
                rc = i;
                break;
            }
    }
    watch_close(&w);
    return rc;
}

void run_log_tail(const char *path, off_t offset, int lines, const char *prefix, FILE *out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (offset > 0)
        fseeko(f, offset, SEEK_SET);
    /* A ring of the last `lines` lines. */
    enum { RING = 64, WIDTH = 512 };
    static char ring[RING][WIDTH];
    if (lines > RING)
        lines = RING;
    size_t count = 0;
    while (fgets(ring[count % (size_t)lines], WIDTH, f)) {
        char *l = ring[count % (size_t)lines];
        size_t len = strlen(l);
        if (len && l[len - 1] != '\n') { /* skip the rest of a long line */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
        } else if (len) {
            l[len - 1] = '\0';
        }
        count++;
    }
    fclose(f);
    size_t first = count > (size_t)lines ? count - (size_t)lines : 0;
    for (size_t i = first; i < count; i++)
        fprintf(out, "%s%s\n", prefix, ring[i % (size_t)lines]);
}

/* ---- HTTP ----------------------------------------------------------------------------- */

struct grow {
    char *data;
    size_t len;
};

static size_t grow_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct grow *g = user;
    size_t n = size * nmemb;
    char *t = realloc(g->data, g->len + n + 1);
    if (t == NULL)
        return 0;
    memcpy(t + g->len, ptr, n);
    g->data = t;
    g->len += n;
    t[g->len] = '\0';
    return n;
}

int run_http(const char *method, const char *url, const char *body_in, long *status, char **body,
             struct errbuf *err)
{
    *status = 0;
    *body = NULL;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        errbuf_set(err, "libcurl: cannot start");
        return -1;
    }
    struct grow g = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the farm is on loopback */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_in ? body_in : "");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body_in)
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_in);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        errbuf_set(err, "%s %s: %s", method, url, curl_easy_strerror(rc));
        free(g.data);
        curl_easy_cleanup(c);
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    *body = g.data ? g.data : strdup("");
    return 0;
}

int run_url_escape(const char *s, char *out, size_t n)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (o + (plain ? 1 : 3) >= n)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hexd[*p >> 4];
            out[o++] = hexd[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}
