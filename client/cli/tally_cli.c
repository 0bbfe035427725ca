/* tally: the command-line client of a Tally cluster. Everything but main()
 * lives in tally_cli_core (cli.c and cmd_*.c) so tests can drive it. */
#include "cli.h"

int main(int argc, char **argv) {
  cli_t cli;
  cli_init(&cli);
  int rc = cli_main(&cli, argc, argv);
  cli_finish(&cli);
  return rc;
}
