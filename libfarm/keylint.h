/* keylint: what is wrong with a <machineKey> for a web farm.
 *
 * Errors make a farm fail or a key unsafe: AutoGenerate (every server gets keys of its
 * own), a disclosed key, MD5 or DES, a key the legacy hex reader silently changes. Warnings
 * are weaker choices: IsolateApps, SHA1, 3DES, short keys, the legacy pipeline, a mode
 * that follows targetFramework instead of being written down. */
#ifndef FARM_KEYLINT_H
#define FARM_KEYLINT_H

#include <stdbool.h>
#include <stddef.h>

#include "disclosed.h"
#include "machinekey.h"

enum lint_severity {
    LINT_ERROR,
    LINT_WARNING,
};

#define LINT_MAX 24

struct lint_finding {
    enum lint_severity severity;
    const char *code; /* stable id, e.g. "autogenerate", "disclosed-key" */
    char message[320];
};

struct lint_report {
    struct lint_finding items[LINT_MAX];
    size_t count;
    size_t errors;
    size_t warnings;
};

const char *lint_severity_name(enum lint_severity s); /* "error", "warning" */

/* Check one resolved machineKey. written[] says which attributes the config wrote (indexed
 * by enum mk_attr; NULL means all were). disclosed may be NULL (built-in list only). */
void keylint_check(const struct machinekey *mk, const bool *written,
                   const struct disclosed_list *disclosed, struct lint_report *r);

#endif
