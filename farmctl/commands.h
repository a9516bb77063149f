/* The farmctl command groups. Each takes the argv that starts with its own name and
 * returns an exit code (cli.h). */
#ifndef FARMCTL_COMMANDS_H
#define FARMCTL_COMMANDS_H

#include <stdbool.h>

int cmd_key(int argc, char **argv);
int cmd_ticket(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_load(int argc, char **argv);

/* The farm commands (up, down, status, drain, stop, start, kill, restart, rekey, fault,
 * add, remove, keys) take the argv that starts with the command's own name. */
bool cmd_farm_has(const char *name);
int cmd_farm(int argc, char **argv);

#endif
