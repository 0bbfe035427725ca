/* cmd_security: `tally keys generate`, `tally admin-log`, `tally whoami`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "curve.h"

/* ------------------------------------------------------------ keys */

static const char keys_generate_help[] =
    "Usage: tally keys generate NAME [--dir DIR] [--force]\n\n"
    "Makes a CURVE key pair: DIR/NAME.key (secret, mode 0600: keep it to\n"
    "yourself) and DIR/NAME.pub (the public key, to give to an operator:\n"
    "`tally labeler add ID --public-key DIR/NAME.pub` for a person,\n"
    "`tally cluster admit DIR/NAME.pub` for a worker). Prints the public key.\n"
    "Needs no cluster.\n\n"
    "Options:\n"
    "  --dir DIR   where to write (default: the current directory)\n"
    "  --force     replace an existing NAME.key\n";

enum { OPT_DIR = CLI_OPT_COMMAND, OPT_FORCE, OPT_LIMIT, OPT_BEFORE };

static int keys_generate(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"dir", required_argument, NULL, OPT_DIR},
                                          {"force", no_argument, NULL, OPT_FORCE},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = "keys generate", *dir = ".";
  int force = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_DIR) dir = optarg;
    else if (c == OPT_FORCE) force = 1;
    else rc = cli_common_option(cli, cmd, keys_generate_help, c, argv);
  }
  if (rc == CLI_PARSED && optind >= argc) rc = cli_usage_error(cli, cmd, "missing NAME");
  if (rc == CLI_PARSED && optind + 1 < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
  const char *name = rc == CLI_PARSED ? argv[optind] : "";
  if (rc == CLI_PARSED && (name[0] == '\0' || strchr(name, '/') != NULL || name[0] == '.'))
    rc = cli_usage_error(cli, cmd, "NAME must be a plain file name (no '/', not starting with '.')");
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  char key_path[4096], pub_path[4096];
  if (snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name) >= (int)sizeof key_path ||
      snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name) >= (int)sizeof pub_path)
    return cli_parse_exit(cli_usage_error(cli, cmd, "DIR/NAME is too long"));
  struct stat st;
  if (!force && stat(key_path, &st) == 0) {
    fprintf(cli->err, "tally keys generate: %s exists; --force replaces it\n", key_path);
    return CLI_EXIT_FAILURE;
  }
  curve_keypair_t pair;
  if (curve_keypair_generate(&pair) < 0) {
    fprintf(cli->err, "tally keys generate: this libzmq cannot make CURVE keys\n");
    return CLI_EXIT_FAILURE;
  }
  if (curve_keypair_save(&pair, key_path, pub_path) < 0) {
    fprintf(cli->err, "tally keys generate: cannot write %s: %s\n", key_path, strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  if (cli->format == OUTPUT_JSON)
    return output_json(json_pack("{s:s, s:s, s:s}", "public_key", pair.public_key, "key_file",
                                 key_path, "public_file", pub_path),
                       cli->out) < 0
               ? CLI_EXIT_FAILURE
               : CLI_EXIT_OK;
  fprintf(cli->out, "%s\n", pair.public_key);
  fprintf(cli->err, "tally keys generate: wrote %s (secret) and %s\n", key_path, pub_path);
  return CLI_EXIT_OK;
}

int cmd_keys(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"generate", "make a key pair NAME.key / NAME.pub", keys_generate},
  };
  return cli_group(cli, "keys", subs, sizeof subs / sizeof subs[0], argc, argv);
}

/* ------------------------------------------------------------ admin-log */

static const char admin_log_help[] =
    "Usage: tally admin-log [--limit N] [--before SEQ]\n\n"
    "The coordinator's append-only log of administrative changes, newest\n"
    "first: who (the key's person; gateway/person when a gateway acted for\n"
    "someone), when, what, and the old and new value as JSON. Projects,\n"
    "people and roles, qualifications, keys, audit policies, wellbeing\n"
    "budgets, worker admissions and drains. Operators only.\n\n"
    "Options:\n"
    "  --limit N     entries to show (default 100, at most 10000)\n"
    "  --before SEQ  only entries older than SEQ (to page back)\n";

static int admin_log(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"limit", required_argument, NULL, OPT_LIMIT},
                                          {"before", required_argument, NULL, OPT_BEFORE},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = "admin-log";
  uint64_t limit = 100, before = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_LIMIT) {
      if (cli_parse_u64(optarg, 1, 10000, &limit) < 0)
        rc = cli_usage_error(cli, cmd, "bad --limit '%s' (1..10000)", optarg);
    } else if (c == OPT_BEFORE) {
      if (cli_parse_u64(optarg, 1, UINT64_MAX, &before) < 0)
        rc = cli_usage_error(cli, cmd, "bad --before '%s' (a sequence number)", optarg);
    } else {
      rc = cli_common_option(cli, cmd, admin_log_help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_admin_log_t *log = NULL;
  rc = tally_admin_log(cli->client, (uint32_t)limit, before, &log);
  if (rc < 0) return cli_fail(cli, cmd, rc);
  if (cli->format == OUTPUT_JSON) {
    json_t *list = json_array();
    for (size_t i = 0; i < log->count; i++) {
      const tally_admin_entry_t *e = &log->entries[i];
      json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "seq",
                                            (json_int_t)e->seq, "at_ms", (json_int_t)e->at_ms,
                                            "actor", e->actor, "action", e->action, "target",
                                            e->target, "old", e->old_value, "new", e->new_value));
    }
    tally_free(log);
    return output_json(json_pack("{s:o}", "entries", list), cli->out) < 0 ? CLI_EXIT_FAILURE
                                                                          : CLI_EXIT_OK;
  }
  static const char *const headers[] = {"SEQ", "AT", "ACTOR", "ACTION", "TARGET", "OLD", "NEW"};
  output_table_t *t = output_table_new(7, headers);
  for (size_t i = 0; t != NULL && i < log->count; i++) {
    const tally_admin_entry_t *e = &log->entries[i];
    char at[32];
    time_t secs = (time_t)(e->at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    output_table_cellf(t, "%llu", (unsigned long long)e->seq);
    output_table_cell(t, at);
    output_table_cell(t, e->actor);
    output_table_cell(t, e->action);
    output_table_cell(t, e->target);
    output_table_cell(t, e->old_value);
    output_table_cell(t, e->new_value);
  }
  rc = t ? output_table_print(t, cli->format, cli->out) : -1;
  output_table_free(&t);
  tally_free(log);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_admin_log(cli_t *cli, int argc, char **argv) { return admin_log(cli, argc, argv); }

/* ------------------------------------------------------------ whoami */

static const char whoami_help[] =
    "Usage: tally whoami\n\n"
    "Who the coordinator takes you for: the person (or worker) your key\n"
    "belongs to, their roles, and the key itself. An insecure cluster answers\n"
    "'anonymous' with every role.\n";

int cmd_whoami(cli_t *cli, int argc, char **argv) {
  int rc = cli_parse_positionals(cli, "whoami", whoami_help, argc, argv, 0, "", NULL);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_whoami_t *me = NULL;
  rc = tally_whoami(cli->client, &me);
  if (rc < 0) return cli_fail(cli, "whoami", rc);
  char roles[128];
  tally_roles_format(me->roles & (TALLY_ROLE_GATEWAY * 2 - 1), roles, sizeof roles);
  if (me->roles & 64) strncat(roles, roles[0] ? ",worker" : "worker", sizeof roles - strlen(roles) - 1);
  if (cli->format == OUTPUT_JSON) {
    rc = output_json(json_pack("{s:s, s:s, s:s, s:b}", "id", me->id, "roles", roles, "public_key",
                               me->public_key, "secure", me->secure),
                     cli->out);
  } else {
    static const char *const headers[] = {"ID", "ROLES", "PUBLIC KEY", "SECURE"};
    output_table_t *t = output_table_new(4, headers);
    if (t != NULL) {
      output_table_cell(t, me->id);
      output_table_cell(t, roles);
      output_table_cell(t, me->public_key);
      output_table_cell(t, me->secure ? "yes" : "no");
      rc = output_table_print(t, cli->format, cli->out);
      output_table_free(&t);
    } else {
      rc = -1;
    }
  }
  tally_free(me);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
