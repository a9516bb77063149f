/* cli: small helpers shared by farmctl's commands: exit codes, errors, help. */
#ifndef FARMCTL_CLI_H
#define FARMCTL_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Exit codes, the same for every command. */
enum {
    CLI_OK = 0,
    CLI_FINDINGS = 1,   /* the command worked and found problems (lint errors, mismatches) */
    CLI_USAGE = 2,      /* bad usage, unreadable input, bad keys */
    CLI_REJECTED = 3,   /* a cookie was rejected */
    CLI_TIMEOUT = 4,    /* a wait ran out of time (drain --wait --timeout) */
    CLI_OVERRIDDEN = 5, /* what a wait waited for was undone by someone else (a draining node
                         * started or stopped meanwhile) */
};

/* "farmctl: " + message + newline on stderr. Returns CLI_USAGE for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Is the string one of the help flags? */
bool cli_is_help(const char *s);

/* Colour only when stdout is a terminal and NO_COLOR is unset. */
bool cli_color(void);

#endif
