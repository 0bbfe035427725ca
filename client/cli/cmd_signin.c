/* cmd_signin: the web console's sign-in credentials, kept by the
 * coordinator (tally-gateway, docs/GATEWAY.md): `tally labeler password`,
 * `tally labeler language` and `tally token create|revoke`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char password_help[] =
    "Usage: tally labeler password ID < password-file\n\n"
    "Sets the web console password of person ID, read as the first line of\n"
    "standard input (8 to 1024 bytes; the line end is not part of it). The\n"
    "password is hashed here with argon2id; the cluster stores only the hash.\n"
    "Needs the manager, operator or gateway role (operator for an operator's\n"
    "or gateway's password).\n";

static const char language_help[] =
    "Usage: tally labeler language ID LANG\n\n"
    "Sets the language the web console speaks to person ID: en, es, ja or ko.\n";

static const char token_create_help[] =
    "Usage: tally token create ID --name NAME [--replace]\n\n"
    "Makes an API token for scripts that call the gateway's HTTP API as person\n"
    "ID (header `Authorization: Bearer TOKEN`) and prints it on stdout, once:\n"
    "the cluster keeps only its hash.\n\n"
    "Options:\n"
    "  --name NAME   what the token is for (shown in the admin log)\n"
    "  --replace     revoke ID's other tokens first\n";

static const char token_revoke_help[] =
    "Usage: tally token revoke ID\n\n"
    "Revokes every API token of person ID. Gateways cache a token for at most\n"
    "30 seconds.\n";

static int labeler_password(cli_t *cli, int argc, char **argv) {
  const char *args[1];
  int rc = cli_parse_positionals(cli, "labeler password", password_help, argc, argv, 1, "ID", args);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  char line[TALLY_PASSWORD_MAX + 2];
  if (fgets(line, sizeof line, stdin) == NULL) {
    fprintf(stderr, "tally labeler password: no password on standard input\n");
    return CLI_EXIT_FAILURE;
  }
  line[strcspn(line, "\r\n")] = '\0';
  if ((rc = cli_connect(cli)) != 0) return rc;
  rc = tally_password_set(cli->client, args[0], line);
  memset(line, 0, sizeof line);
  if (rc < 0) return cli_fail(cli, "labeler password", rc);
  fprintf(cli->out, "password of %s set\n", args[0]);
  return CLI_EXIT_OK;
}

static int labeler_language(cli_t *cli, int argc, char **argv) {
  const char *args[2];
  int rc = cli_parse_positionals(cli, "labeler language", language_help, argc, argv, 2, "ID and LANG",
                                 args);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  rc = tally_language_set(cli->client, args[0], args[1]);
  if (rc < 0) return cli_fail(cli, "labeler language", rc);
  fprintf(cli->out, "language of %s: %s\n", args[0], args[1]);
  return CLI_EXIT_OK;
}

int cmd_labeler_password(cli_t *cli, int argc, char **argv) { return labeler_password(cli, argc, argv); }
int cmd_labeler_language(cli_t *cli, int argc, char **argv) { return labeler_language(cli, argc, argv); }

enum { OPT_NAME = CLI_OPT_COMMAND, OPT_REPLACE };

static int token_create(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"name", required_argument, NULL, OPT_NAME},
                                          {"replace", no_argument, NULL, OPT_REPLACE},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "token create";
  const char *name = NULL;
  int replace = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_NAME) name = optarg;
    else if (c == OPT_REPLACE) replace = 1;
    else rc = cli_common_option(cli, cmd, token_create_help, c, argv);
  }
  if (rc == CLI_PARSED && optind + 1 != argc)
    rc = cli_usage_error(cli, cmd, "expected ID (the person the token acts as)");
  if (rc == CLI_PARSED && (name == NULL || name[0] == '\0'))
    rc = cli_usage_error(cli, cmd, "--name is required");
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  const char *person = argv[optind];
  if ((rc = cli_connect(cli)) != 0) return rc;
  char token[TALLY_TOKEN_MAX];
  rc = tally_token_create(cli->client, person, name, replace, token, sizeof token);
  if (rc < 0) return cli_fail(cli, cmd, rc);
  fprintf(cli->out, "%s\n", token);
  memset(token, 0, sizeof token);
  return CLI_EXIT_OK;
}

static int token_revoke(cli_t *cli, int argc, char **argv) {
  const char *args[1];
  int rc = cli_parse_positionals(cli, "token revoke", token_revoke_help, argc, argv, 1, "ID", args);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  rc = tally_tokens_revoke(cli->client, args[0]);
  if (rc < 0) return cli_fail(cli, "token revoke", rc);
  fprintf(cli->out, "tokens of %s revoked\n", args[0]);
  return CLI_EXIT_OK;
}

int cmd_token(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"create", "make an API token for the gateway's HTTP API (shown once)", token_create},
      {"revoke", "revoke every API token of a person", token_revoke},
  };
  return cli_group(cli, "token", subs, sizeof subs / sizeof subs[0], argc, argv);
}
