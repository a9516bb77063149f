/* farmctl: parse the command group and hand over. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char usage[] =
    "usage: farmctl COMMAND [options]\n"
    "\n"
    "farmlab's one command: make, check and compare <machineKey>s, issue and decode\n"
    "forms-authentication cookies.\n"
    "\n"
    "commands:\n"
    "  key generate|lint|fingerprint|compare   <machineKey> settings\n"
    "  ticket issue|decode|which               forms-authentication cookies\n"
    "  up FILE | down | status                 start, stop and look at a farm (farms/*.ini)\n"
    "  drain|stop|start|kill|restart NODE      node control (drain NODE --wait: until lb\n"
    "                                          has drained it)\n"
    "  rekey NODE FILE | fault NODE SPEC       new keys, injected faults\n"
    "  add NODE --machine-key FILE | remove NODE   change the farm's members\n"
    "  keys                                    the running farm's key compatibility matrix\n"
    "  client USER ACTION                      one request as a simulated user\n"
    "  load --users N ...                      a population of users; session continuity\n"
    "\n"
    "Run 'farmctl COMMAND --help' for more. Exit status: 0 ok, 1 findings, 2 usage or\n"
    "input error, 3 cookie rejected, 4 a wait timed out, 5 what a wait waited for was undone\n"
    "by someone else.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("farmctl (farmlab) 0.1.0");
        return CLI_OK;
    }
    if (strcmp(argv[1], "key") == 0)
        return cmd_key(argc - 1, argv + 1);
    if (strcmp(argv[1], "ticket") == 0)
        return cmd_ticket(argc - 1, argv + 1);
    if (strcmp(argv[1], "client") == 0)
        return cmd_client(argc - 1, argv + 1);
    if (strcmp(argv[1], "load") == 0)
        return cmd_load(argc - 1, argv + 1);
    if (cmd_farm_has(argv[1]))
        return cmd_farm(argc - 1, argv + 1);
    return cli_error("unknown command '%s' (try 'farmctl --help')", argv[1]);
}
