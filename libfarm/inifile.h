/* inifile: INI read with inih one line at a time, so that every mistake is reported as
 * "file:line: message" and every [section] header reaches the caller (over a whole file,
 * inih tells its handler neither the line nor the headers it passes).
 *
 * The syntax is inih's: `[section]` headers, `key = value` or `key: value` lines, comments
 * on lines of their own starting with `;` or `#`, and after a value when the `;` follows a
 * space. A value cannot continue on the next line. On top of inih: lines are at most
 * INIFILE_LINE_MAX characters (inih would split a longer one silently), control characters
 * (DEL included) other than tab, and a CR that ends the line, are refused, and a UTF-8 BOM
 * is skipped on line 1 only.
 * Nothing here logs. */
#ifndef FARM_INIFILE_H
#define FARM_INIFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"

/* inih's line buffer is 200 bytes and must hold the line, "\r\n" and NUL. */
#define INIFILE_LINE_MAX 196

/* The caller's side. Each returns 0, or -1 with err set to a message without "file:line: "
 * (inifile adds it). line is the 1-based line being parsed. */
struct inifile_handler {
    /* A [section] header; name has its surrounding blanks trimmed. NULL: headers are
     * accepted and ignored. */
    int (*section)(void *user, const char *name, int line, struct errbuf *err);
    /* A key = value line, in whichever section came last. */
    int (*pair)(void *user, const char *name, const char *value, int line, struct errbuf *err);
};

/* One file being read; embed it, inifile_init it, feed it lines in order. */
struct inifile {
    const char *path;                      /* borrowed: names the file in errors */
    int line;                              /* lines fed so far */
    const struct inifile_handler *handler; /* borrowed */
    void *user;                            /* borrowed: passed to the handler */
    struct errbuf *err;                    /* borrowed, during inifile_line only */
    bool failed;                           /* a handler refused the line */
};

/* path and handler (and user) must outlive f. */
void inifile_init(struct inifile *f, const char *path, const struct inifile_handler *handler,
                  void *user);

/* The next line: len bytes, without its '\n' (a trailing '\r' is fine). Returns 0, or -1
 * with err set to "path:line: message". Stop at the first error. */
int inifile_line(struct inifile *f, const char *line, size_t len, struct errbuf *err);

/* Every line of text (len bytes; a NUL byte is a control character), the same way.
 * Returns 0, or -1 with err set to "path:line: message". */
int inifile_parse(const char *text, size_t len, const char *path,
                  const struct inifile_handler *handler, void *user, struct errbuf *err);

#endif
