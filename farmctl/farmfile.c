#include "farmfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inifile.h"
#include "ticks.h"

enum kind {
    K_ADDR,
    K_STRING,   /* any text, not empty */
    K_PATH_OPT, /* any text, empty allowed (health-path: '' turns checks off) */
    K_DURATION, /* 500ms, 2s, 1m30s */
    K_NUMBER,   /* min..max */
    K_FLAG,     /* yes/no */
    K_ENUM,     /* one of choices, separated by | */
    K_ISO,      /* an ISO 8601 time */
    K_REFUSED,  /* a known lb option farmctl sets itself: `why` says so */
};

struct key_spec {
    const char *name;
    enum kind kind;
    unsigned long long min, max;
    const char *choices; /* K_ENUM; the reason for K_REFUSED */
    bool repeat;         /* may be given more than once */
};

/* [farm]: lb's long options (docs/lb.md). */
static const struct key_spec farm_keys[] = {
    {"listen", K_ADDR, 0, 0, NULL, false},
    {"admin", K_ADDR, 0, 0, NULL, false},
    {"dispatch", K_ENUM, 0, 0, "request|connection", false},
    {"affinity", K_ENUM, 0, 0, "none|single|network|cookie", false},
    {"cookie-name", K_STRING, 0, 0, NULL, false},
    {"cookie-idle", K_DURATION, 0, 0, NULL, false},
    {"cookie-max", K_DURATION, 0, 0, NULL, false},
    {"health-path", K_PATH_OPT, 0, 0, NULL, false},
    {"health-interval", K_DURATION, 1, 0, NULL, false}, /* min 1: more than 0 */
    {"health-timeout", K_DURATION, 0, 0, NULL, false},
    {"rise", K_NUMBER, 1, 1000, NULL, false},
    {"fall", K_NUMBER, 1, 1000, NULL, false},
    {"no-passive", K_FLAG, 0, 0, NULL, false},
    {"timeout-connect", K_DURATION, 0, 0, NULL, false},
    {"timeout-header", K_DURATION, 0, 0, NULL, false},
    {"timeout-server", K_DURATION, 0, 0, NULL, false},
    {"timeout-idle", K_DURATION, 0, 0, NULL, false},
    {"drain-timeout", K_DURATION, 0, 0, NULL, false},
    {"drain-quiet", K_DURATION, 0, 0, NULL, false},
    {"drain-mode", K_ENUM, 0, 0, "users|connections", false},
    {"retries", K_NUMBER, 0, 16, NULL, false},
    {"session-cookie", K_STRING, 0, 0, NULL, true},
    {"max-sessions", K_NUMBER, 1, 10000000, NULL, false},
    {"served-by", K_FLAG, 0, 0, NULL, false},
    {"max-header-bytes", K_NUMBER, 0, 1 << 20, NULL, false},
    {"max-body-bytes", K_NUMBER, 0, 64u << 20, NULL, false},
    {"node", K_REFUSED, 0, 0, "write a [node NAME] section for each node", false},
    {"weight", K_REFUSED, 0, 0, "give 'weight' in the node's [node NAME] section", false},
    {"access-log", K_REFUSED, 0, 0,
     "farmctl writes lb's access log to logs/access.log in the run directory", false},
    {"admin-token", K_REFUSED, 0, 0,
     "not in farm files: farmctl drives lb's admin API on loopback without a token", false},
    {"config", K_REFUSED, 0, 0, "the farm file is lb's configuration", false},
};

static const struct key_spec stateserver_keys[] = {
    {"listen", K_ADDR, 0, 0, NULL, false},
};

/* [node NAME]: sim-node's options that make sense per node. */
static const struct key_spec node_keys[] = {
    {"machine-key", K_STRING, 0, 0, NULL, false},
    {"app-path", K_STRING, 0, 0, NULL, false},
    {"session", K_ENUM, 0, 0, "off|inproc|stateserver", false},
    {"session-timeout", K_DURATION, 0, 0, NULL, false},
    {"ticket-timeout", K_DURATION, 0, 0, NULL, false},
    {"sliding", K_FLAG, 0, 0, NULL, false},
    {"fault", K_STRING, 0, 0, NULL, false},
    {"weight", K_NUMBER, 0, 256, NULL, false},
    {"listen", K_ADDR, 0, 0, NULL, false},
    {"clock", K_ISO, 0, 0, NULL, false},
    {"seed", K_NUMBER, 0, UINT64_MAX, NULL, false},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum section_kind { SEC_NONE, SEC_FARM, SEC_STATESERVER, SEC_NODE };

struct parse {
    struct farmfile *ff;
    const char *path;
    char dir[PATH_MAX]; /* the farm file's folder, with a trailing '/', or "" */
    enum section_kind kind;
    struct farmfile_node *node; /* SEC_NODE */
    int farm_line, stateserver_line;
    /* Where each non-repeatable key was first given in the current section. */
    struct {
        const char *name;
        int line;
    } seen[64];
    size_t n_seen;
};

static const char *const session_names[] = {
    [FARMFILE_SESSION_OFF] = "off",
    [FARMFILE_SESSION_INPROC] = "inproc",
    [FARMFILE_SESSION_STATESERVER] = "stateserver",
};

const char *farmfile_session_name(enum farmfile_session s)
{
    return (size_t)s < COUNT(session_names) ? session_names[s] : "?";
}

int farmfile_session_from_name(const char *s, enum farmfile_session *out)
{
    for (size_t i = 0; i < COUNT(session_names); i++)
        if (strcmp(s, session_names[i]) == 0) {
            *out = (enum farmfile_session)i;
            return 0;
        }
    return -1;
}

bool farmfile_name_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FARMFILE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return strcmp(s, "lb") != 0 && strcmp(s, "stateserver") != 0 && strcmp(s, "access") != 0;
}

bool farmfile_addr_is_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || strlen(s) >= FARMFILE_ADDR_MAX)
        return false;
    if (s[0] == '[' && colon[-1] != ']')
        return false;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    return atol(p) <= 65535;
}

static bool flag_value(const char *v, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < COUNT(yes); i++)
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
    for (size_t i = 0; i < COUNT(no); i++)
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    return false;
}

static bool enum_value(const char *v, const char *choices)
{
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && n > 0 && memcmp(c, v, n) == 0)
            return true;
        c += len + (bar != NULL);
    }
    return false;
}

/* Check value against its key's kind. Returns 0, or -1 with err (no "file:line: "). */
static int check_value(const struct key_spec *k, const char *v, struct errbuf *err)
{
    int64_t t;
    switch (k->kind) {
    case K_REFUSED:
        errbuf_set(err, "'%s' is not a farm file setting: %s", k->name, k->choices);
        return -1;
    case K_PATH_OPT:
        return 0;
    default:
        break;
    }
    if (*v == '\0') {
        errbuf_set(err, "%s: a value is required", k->name);
        return -1;
    }
    switch (k->kind) {
    case K_ADDR:
        if (!farmfile_addr_is_valid(v)) {
            errbuf_set(err, "%s: HOST:PORT or [IPv6]:PORT (port 0 picks a free one), not '%s'",
                       k->name, v);
            return -1;
        }
        return 0;
    case K_DURATION:
        if (ticks_parse_duration(v, &t) != 0) {
            errbuf_set(err, "%s: not a duration: '%s' (e.g. 500ms, 2s, 20m, 1h30m)", k->name, v);
            return -1;
        }
        if (k->min > 0 && t == 0) {
            errbuf_set(err, "%s: must be more than 0, not '%s'", k->name, v);
            return -1;
        }
        return 0;
    case K_NUMBER: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end || v[0] == '-' || errno || n < k->min || n > k->max) {
            errbuf_set(err, "%s: a number from %llu to %llu, not '%s'", k->name, k->min, k->max, v);
            return -1;
        }
        return 0;
    }
    case K_FLAG: {
        bool b;
        if (!flag_value(v, &b)) {
            errbuf_set(err, "%s: yes or no, not '%s'", k->name, v);
            return -1;
        }
        return 0;
    }
    case K_ENUM:
        if (!enum_value(v, k->choices)) {
            char alts[128];
            snprintf(alts, sizeof alts, "%s", k->choices);
            for (char *p = alts; *p; p++)
                if (*p == '|')
                    *p = ',';
            errbuf_set(err, "%s: one of %s; not '%s'", k->name, alts, v);
            return -1;
        }
        return 0;
    case K_ISO:
        if (ticks_parse_iso(v, &t) != 0) {
            errbuf_set(err, "%s: an ISO 8601 time (2026-03-01T12:00:00Z), not '%s'", k->name, v);
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

static bool copy(char *dst, size_t n, const char *src)
{
    return (size_t)snprintf(dst, n, "%s", src) < n;
}

/* A section header (its name trimmed by inifile), as the kinds we know. */
static int enter_section_cb(void *user, const char *name, int line, struct errbuf *err)
{
    struct parse *x = user;
    x->n_seen = 0;
    x->node = NULL;

    if (strcmp(name, "farm") == 0 || strcmp(name, "stateserver") == 0) {
        bool farm = name[0] == 'f';
        int *first = farm ? &x->farm_line : &x->stateserver_line;
        if (*first) {
            errbuf_set(err, "[%s] given twice (first on line %d)", name, *first);
            return -1;
        }
        *first = line;
        x->kind = farm ? SEC_FARM : SEC_STATESERVER;
        if (!farm)
            x->ff->stateserver = true;
        return 0;
    }
    if (strncmp(name, "node", 4) == 0 && (name[4] == '\0' || isspace((unsigned char)name[4]))) {
        const char *nn = name + 4;
        while (isspace((unsigned char)*nn))
            nn++;
        if (*nn == '\0') {
            errbuf_set(err, "[node] needs a name: [node web1]");
            return -1;
        }
        if (!farmfile_name_is_valid(nn)) {
            errbuf_set(err,
                       "node name '%s': 1 to 31 of A-Z a-z 0-9 . _ -, and not lb, stateserver or "
                       "access",
                       nn);
            return -1;
        }
        const struct farmfile_node *dup = farmfile_node(x->ff, nn);
        if (dup) {
            errbuf_set(err, "node '%s' given twice (first on line %d)", nn, dup->line);
            return -1;
        }
        if (x->ff->n_nodes == FARMFILE_NODES_MAX) {
            errbuf_set(err, "too many nodes (at most %d)", FARMFILE_NODES_MAX);
            return -1;
        }
        struct farmfile_node *node = &x->ff->nodes[x->ff->n_nodes++];
        memset(node, 0, sizeof *node);
        copy(node->name, sizeof node->name, nn);
        node->line = line;
        node->weight = 1;
        node->session = FARMFILE_SESSION_OFF;
        copy(node->listen, sizeof node->listen, "127.0.0.1:0");
        x->node = node;
        x->kind = SEC_NODE;
        return 0;
    }
    errbuf_set(err, "unknown section [%s]: [farm], [stateserver] or [node NAME]", name);
    return -1;
}

static const struct key_spec *find_key(const struct key_spec *keys, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int set_node(struct parse *x, const char *name, const char *v, int line, struct errbuf *err)
{
    struct farmfile_node *n = x->node;
    bool ok = true;
    if (strcmp(name, "machine-key") == 0) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s%s", v[0] == '/' ? "" : x->dir, v) >=
            sizeof path) {
            errbuf_set(err, "machine-key: path too long");
            return -1;
        }
        if (access(path, R_OK) != 0) {
            errbuf_set(err, "machine-key: cannot read '%s': %s", path, strerror(errno));
            return -1;
        }
        copy(n->machine_key, sizeof n->machine_key, path);
        n->machine_key_line = line;
    } else if (strcmp(name, "app-path") == 0) {
        ok = copy(n->app_path, sizeof n->app_path, v);
    } else if (strcmp(name, "session") == 0) {
        farmfile_session_from_name(v, &n->session);
        n->session_line = line;
    } else if (strcmp(name, "session-timeout") == 0) {
        ok = copy(n->session_timeout, sizeof n->session_timeout, v);
    } else if (strcmp(name, "ticket-timeout") == 0) {
        ok = copy(n->ticket_timeout, sizeof n->ticket_timeout, v);
    } else if (strcmp(name, "sliding") == 0) {
        flag_value(v, &n->sliding);
    } else if (strcmp(name, "fault") == 0) {
        ok = copy(n->fault, sizeof n->fault, v);
    } else if (strcmp(name, "weight") == 0) {
        n->weight = (unsigned)strtoul(v, NULL, 10);
    } else if (strcmp(name, "listen") == 0) {
        ok = copy(n->listen, sizeof n->listen, v);
    } else if (strcmp(name, "clock") == 0) {
        ok = copy(n->clock, sizeof n->clock, v);
    } else if (strcmp(name, "seed") == 0) {
        ok = copy(n->seed, sizeof n->seed, v);
    }
    if (!ok) {
        errbuf_set(err, "%s: value too long", name);
        return -1;
    }
    return 0;
}

static int set_farm(struct parse *x, const struct key_spec *k, const char *v, int line,
                    struct errbuf *err)
{
    struct farmfile *ff = x->ff;
    if (strcmp(k->name, "listen") == 0)
        return copy(ff->lb_listen, sizeof ff->lb_listen, v) ? 0 : -1;
    if (strcmp(k->name, "admin") == 0)
        return copy(ff->lb_admin, sizeof ff->lb_admin, v) ? 0 : -1;
    if (ff->n_lb == FARMFILE_LB_MAX) {
        errbuf_set(err, "too many [farm] settings (at most %d)", FARMFILE_LB_MAX);
        return -1;
    }
    struct farmfile_lb_setting *s = &ff->lb[ff->n_lb++];
    copy(s->name, sizeof s->name, k->name);
    copy(s->value, sizeof s->value, v);
    s->line = line;
    s->flag = k->kind == K_FLAG;
    if (s->flag) {
        bool on = false;
        flag_value(v, &on);
        copy(s->value, sizeof s->value, on ? "yes" : "no");
    }
    return 0;
}

/* A key = value line, in the section we are in. */
static int setting_cb(void *user, const char *name, const char *value, int line, struct errbuf *err)
{
    struct parse *x = user;
    const struct key_spec *keys = NULL;
    size_t n = 0;
    const char *where = "";
    switch (x->kind) {
    case SEC_NONE:
        errbuf_set(err,
                   "'%s' outside a section: start with [farm], [stateserver] or "
                   "[node NAME]",
                   name);
        return -1;
    case SEC_FARM:
        keys = farm_keys, n = COUNT(farm_keys), where = "[farm]";
        break;
    case SEC_STATESERVER:
        keys = stateserver_keys, n = COUNT(stateserver_keys), where = "[stateserver]";
        break;
    case SEC_NODE:
        keys = node_keys, n = COUNT(node_keys), where = "[node]";
        break;
    }
    const struct key_spec *k = find_key(keys, n, name);
    if (k == NULL) {
        if (*name == '\0')
            errbuf_set(err, "a setting without a name");
        else
            errbuf_set(err, "unknown setting '%s' in %s (see docs/farm-file.md)", name, where);
        return -1;
    }
    if (!k->repeat) {
        for (size_t i = 0; i < x->n_seen; i++)
            if (strcmp(x->seen[i].name, k->name) == 0) {
                errbuf_set(err, "%s given twice in this section (first on line %d)", k->name,
                           x->seen[i].line);
                return -1;
            }
        if (x->n_seen < COUNT(x->seen))
            x->seen[x->n_seen].name = k->name, x->seen[x->n_seen++].line = line;
    }
    if (check_value(k, value, err) != 0)
        return -1;
    int rc = 0;
    if (x->kind == SEC_FARM)
        rc = set_farm(x, k, value, line, err);
    else if (x->kind == SEC_STATESERVER)
        rc = copy(x->ff->stateserver_listen, sizeof x->ff->stateserver_listen, value) ? 0 : -1;
    else
        rc = set_node(x, name, value, line, err);
    if (rc != 0) {
        if (err->msg[0] == '\0')
            errbuf_set(err, "%s: value too long", name);
        return -1;
    }
    return 0;
}

/* What only the whole file can tell. */
static int check_farm(struct parse *x, struct errbuf *err)
{
    struct farmfile *ff = x->ff;
    if (ff->n_nodes == 0) {
        errbuf_set(err, "%s: no [node NAME] section: a farm needs at least one node", x->path);
        return -1;
    }
    for (size_t i = 0; i < ff->n_nodes; i++) {
        const struct farmfile_node *n = &ff->nodes[i];
        if (n->machine_key_line == 0) {
            errbuf_set(err, "%s:%d: node '%s' has no machine-key (the path of its key file)",
                       x->path, n->line, n->name);
            return -1;
        }
        if (n->session == FARMFILE_SESSION_STATESERVER && !ff->stateserver) {
            errbuf_set(err,
                       "%s:%d: node '%s': session = stateserver, but the farm has no "
                       "[stateserver] section",
                       x->path, n->session_line, n->name);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->listen, ff->nodes[j].listen) == 0 &&
                strcmp(strrchr(n->listen, ':'), ":0") != 0) {
                errbuf_set(err, "%s:%d: node '%s' listens on %s like '%s'", x->path, n->line,
                           n->name, n->listen, ff->nodes[j].name);
                return -1;
            }
    }
    return 0;
}

struct farmfile *farmfile_parse(const char *text, const char *path, struct errbuf *err)
{
    struct farmfile *ff = calloc(1, sizeof *ff);
    struct parse *x = calloc(1, sizeof *x);
    if (ff == NULL || x == NULL) {
        errbuf_set(err, "%s: out of memory", path);
        goto fail;
    }
    err->msg[0] = '\0';
    copy(ff->path, sizeof ff->path, path);
    copy(ff->lb_listen, sizeof ff->lb_listen, "127.0.0.1:0");
    copy(ff->lb_admin, sizeof ff->lb_admin, "127.0.0.1:0");
    copy(ff->stateserver_listen, sizeof ff->stateserver_listen, "127.0.0.1:0");
    x->ff = ff;
    x->path = path;
    const char *slash = strrchr(path, '/');
    if (slash && (size_t)(slash - path + 1) < sizeof x->dir)
        snprintf(x->dir, sizeof x->dir, "%.*s", (int)(slash - path + 1), path);

    static const struct inifile_handler handler = {.section = enter_section_cb, .pair = setting_cb};
    if (inifile_parse(text, strlen(text), path, &handler, x, err) != 0)
        goto fail;
    if (check_farm(x, err) != 0)
        goto fail;
    free(x);
    return ff;
fail:
    free(x);
    free(ff);
    return NULL;
}

struct farmfile *farmfile_load(const char *path, struct errbuf *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        errbuf_set(err, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0, len = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            while (ncap < len + got + 1)
                ncap *= 2;
            char *t = ncap <= (1u << 20) ? realloc(text, ncap) : NULL;
            if (t == NULL) {
                errbuf_set(err, "%s: too large for a farm file", path);
                free(text);
                fclose(f);
                return NULL;
            }
            text = t;
            cap = ncap;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        errbuf_set(err, "%s: cannot read", path);
        free(text);
        return NULL;
    }
    if (text == NULL) {
        text = strdup("");
        if (text == NULL) {
            errbuf_set(err, "%s: out of memory", path);
            return NULL;
        }
    } else {
        text[len] = '\0';
        if (strlen(text) != len) {
            errbuf_set(err, "%s: not a text file (NUL bytes)", path);
            free(text);
            return NULL;
        }
    }
    struct farmfile *ff = farmfile_parse(text, path, err);
    free(text);
    return ff;
}

void farmfile_free(struct farmfile *ff)
{
    free(ff);
}

const struct farmfile_node *farmfile_node(const struct farmfile *ff, const char *name)
{
    for (size_t i = 0; i < ff->n_nodes; i++)
        if (strcmp(ff->nodes[i].name, name) == 0)
            return &ff->nodes[i];
    return NULL;
}
