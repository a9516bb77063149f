#include "runinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

const char *runinfo_dir(const char *opt, struct errbuf *err)
{
    if (opt != NULL && *opt == '\0') {
        errbuf_set(err, "--run-dir: empty (give a directory, or leave --run-dir out for "
                        "$FARM_RUN_DIR, else ./.farm)");
        return NULL;
    }
    if (opt != NULL)
        return opt;
    const char *env = getenv("FARM_RUN_DIR");
    if (env != NULL && *env != '\0')
        return env;
    return ".farm";
}

static char *dup_string_member(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

int runinfo_load(struct runinfo *ri, const char *dir, struct errbuf *err)
{
    memset(ri, 0, sizeof *ri);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/farm.json", dir) >= (int)sizeof path) {
        errbuf_set(err, "%s: run directory path too long", dir);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            errbuf_set(err, "no farm running in %s (farmctl up FILE)", dir);
        else
            errbuf_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        errbuf_set(err, "%s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    json_t *lb = json_object_get(root, "lb");
    ri->lb_listen = dup_string_member(lb, "listen");
    ri->lb_url = dup_string_member(lb, "url");
    if (ri->lb_url == NULL && ri->lb_listen != NULL) {
        size_t n = strlen(ri->lb_listen) + sizeof "http:///";
        ri->lb_url = malloc(n);
        if (ri->lb_url != NULL)
            snprintf(ri->lb_url, n, "http://%s/", ri->lb_listen);
    }
    json_decref(root);
    if (ri->lb_url == NULL) {
        errbuf_set(err, "%s: no lb.url or lb.listen", path);
        goto fail;
    }
    ri->dir = strdup(dir);
    if (ri->dir == NULL) {
        errbuf_set(err, "out of memory");
        goto fail;
    }
    return 0;
fail:
    runinfo_cleanup(ri);
    return -1;
}

void runinfo_cleanup(struct runinfo *ri)
{
    free(ri->dir);
    free(ri->lb_url);
    free(ri->lb_listen);
    memset(ri, 0, sizeof *ri);
}

int runinfo_path(const struct runinfo *ri, const char *rel, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", ri->dir, rel);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int runinfo_url(const char *base, const char *path, char *out, size_t cap)
{
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    while (*path == '/')
        path++;
    int n = snprintf(out, cap, "%.*s/%s", (int)blen, base, path);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}
