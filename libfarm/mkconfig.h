/* mkconfig: find <machineKey> in an XML file and resolve it with machinekey_init().
 *
 * Any XML file works: a bare <machineKey .../> element, a web.config or a machine.config,
 * where the element sits under configuration/system.web, possibly inside <location>.
 * <httpRuntime targetFramework="4.5"> (or later) in the same system.web makes Framework45
 * the default compatibilityMode, as in ASP.NET. validationKey, decryptionKey, validation and
 * decryption are trimmed of surrounding white space first, as ASP.NET does.
 *
 * Errors read "file:line: message" and never quote what the file holds, since it holds keys:
 * no attribute value, and not libxml2's messages (they quote the input); an XML error names
 * its kind and column instead. An unknown attribute's name is repeated, as ASP.NET does,
 * unless it looks like key text. */
#ifndef FARM_MKCONFIG_H
#define FARM_MKCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "machinekey.h"

struct mkconfig_opts {
    const char *app_path;          /* the application, see mk_params; NULL = "/LM/W3SVC/1/ROOT" */
    const uint8_t *autogen_secret; /* see mk_params; NULL = CSPRNG */
};

/* One <machineKey> element found in a file. */
struct mkconfig_elem {
    int line;                         /* 1-based line of the element */
    char location[256];               /* the enclosing <location path="...">, "" if none */
    bool written[MK_ATTR_COMPAT + 1]; /* which attributes the element writes (by enum mk_attr) */
    bool fx45_default;                /* targetFramework >= 4.5 applied */
    int status;                       /* 0: mk is valid; -1: err says why */
    struct machinekey mk;
    struct errbuf err; /* "file:line: message" when status is -1 */
};

/* Every <machineKey> element of the file, in document order, into a malloc'd array
 * (*out, *count; free with mkconfig_free, which wipes the keys). Returns 0, or -1 when
 * the file cannot be read, is not XML, or holds no <machineKey> (err says which). A file
 * whose elements are all found returns 0 even if some of them do not resolve: look at
 * each elem's status. */
int mkconfig_read_all(const char *path, const struct mkconfig_opts *opts,
                      struct mkconfig_elem **out, size_t *count, struct errbuf *err);
void mkconfig_free(struct mkconfig_elem *elems, size_t count);

/* The one machineKey a program runs with: the first element in document order that is not
 * inside a <location>, else the first one. Returns 0 or -1 (err: "file:line: message").
 * line (if not NULL) receives the element's line. */
int mkconfig_load(const char *path, const struct mkconfig_opts *opts, struct machinekey *mk,
                  int *line, struct errbuf *err);

#endif
