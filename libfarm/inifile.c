#include "inifile.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

/* inih does not call the handler for a section header, and its idea of the section is lost
 * between lines, so each line is parsed under a sentinel section and followed by a probe
 * `key = value`: when the probe reports another section than the sentinel, the line was a
 * section header. Neither name can be written in a line (control characters are refused). */
#define SENTINEL "\x02"
#define PROBE    "\x01"

#define BOM "\xEF\xBB\xBF"

void inifile_init(struct inifile *f, const char *path, const struct inifile_handler *handler,
                  void *user)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->handler = handler;
    f->user = user;
}

static int inifile_section(struct inifile *f, const char *raw)
{
    char name[INIFILE_LINE_MAX + 1];
    /* "[ node web1 ]" is "node web1". */
    while (isspace((unsigned char)*raw))
        raw++;
    snprintf(name, sizeof name, "%s", raw);
    size_t n = strlen(name);
    while (n > 0 && isspace((unsigned char)name[n - 1]))
        name[--n] = '\0';
    return f->handler->section(f->user, name, f->line, f->err);
}

/* inih's handler: 1 to go on, 0 when the caller refused the line. */
static int inifile_handle_cb(void *user, const char *section, const char *name, const char *value)
{
    struct inifile *f = user;
    if (f->failed)
        return 0;
    if (strcmp(name, PROBE) == 0) {
        if (strcmp(section, SENTINEL) != 0 && f->handler->section != NULL &&
            inifile_section(f, section) != 0)
            f->failed = true;
    } else if (f->handler->pair(f->user, name, value, f->line, f->err) != 0) {
        f->failed = true;
    }
    return !f->failed;
}

int inifile_line(struct inifile *f, const char *line, size_t len, struct errbuf *err)
{
    f->line++;
    if (f->line == 1 && len >= strlen(BOM) && memcmp(line, BOM, strlen(BOM)) == 0) {
        line += strlen(BOM);
        len -= strlen(BOM);
    }
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)line[i] < 0x20 && line[i] != '\t' &&
             !(line[i] == '\r' && i == len - 1)) ||
            line[i] == 0x7f) {
            errbuf_set(err, "%s:%d: a control character in the line", f->path, f->line);
            return -1;
        }
    if (len > INIFILE_LINE_MAX) {
        errbuf_set(err, "%s:%d: line too long (at most %d characters)", f->path, f->line,
                   INIFILE_LINE_MAX);
        return -1;
    }
    char buf[INIFILE_LINE_MAX + 16];
    snprintf(buf, sizeof buf, "[" SENTINEL "]\n%.*s\n" PROBE "=1\n", (int)len, line);
    if (err != NULL)
        err->msg[0] = '\0';
    f->err = err;
    f->failed = false;
    int r = ini_parse_string(buf, inifile_handle_cb, f);
    f->err = NULL;
    if (f->failed) {
        errbuf_prefix(err, "%s:%d: ", f->path, f->line);
        return -1;
    }
    if (r != 0) {
        const char *p = line;
        while (p < line + len && isspace((unsigned char)*p))
            p++;
        errbuf_set(err, "%s:%d: %s", f->path, f->line,
                   p < line + len && *p == '['
                       ? "a section header is [name]"
                       : "not a 'key = value' line, a [section] or a comment");
        return -1;
    }
    return 0;
}

int inifile_parse(const char *text, size_t len, const char *path,
                  const struct inifile_handler *handler, void *user, struct errbuf *err)
{
    struct inifile f;
    inifile_init(&f, path, handler, user);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (inifile_line(&f, p, n, err) != 0)
            return -1;
        p += n + (nl != NULL);
    }
    return 0;
}
