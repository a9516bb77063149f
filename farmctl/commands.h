/* The farmctl command groups. Each takes the argv that starts with its own name and
 * returns an exit code (cli.h). */
#ifndef FARMCTL_COMMANDS_H
#define FARMCTL_COMMANDS_H

int cmd_key(int argc, char **argv);
int cmd_ticket(int argc, char **argv);

#endif
