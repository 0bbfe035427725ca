/* cmd_calibration: `tally calibration create|items|assign|list|next|submit|
 * close|key|results|trend` — calibration sessions (README, "Calibration
 * sessions"): the same items for a group, outside production, blind, with
 * a deadline, scored against an answer key. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"

#define CALIBRATION_DEFAULT_DEADLINE_S (7u * 86400u)
#define CALIBRATION_FILE_MAX_ITEMS 1000u

static const char create_help[] =
    "Usage: tally calibration create NAME --project P [--items FILE] [--deadline WHEN]\n"
    "                                [--market M]... [--person X]...\n\n"
    "Creates a calibration session (lead or manager): items of project P that a\n"
    "group labels outside production — no queue, no audit, no statistic, no\n"
    "export sees them — each member every item once, blind, before the\n"
    "deadline. Items come from a JSON Lines file, one object per line:\n"
    "  {\"id\": \"c1\", \"content\": \"...\", \"media_url\": \"https://...\",\n"
    "   \"market\": \"es\", \"key\": \"spam\"}\n"
    "content (text, or any JSON value, stored compactly) or media_url is\n"
    "required; market and key are optional. Items with a key are scored\n"
    "against it; without one, the lead keys them after closing\n"
    "(`tally calibration key`). At most 1000 items per session.\n\n"
    "Options:\n"
    "  --project P      the project whose taxonomy is used (required)\n"
    "  --items FILE     the items ('-' = stdin); more with `calibration items add`\n"
    "  --deadline WHEN  +30m, +2h, +3d, or YYYY-MM-DDTHH:MMZ (UTC); default +7d\n"
    "  --market M       the group: everyone with market M who labels or audits\n"
    "  --person X       the group: person X (repeat, or a,b,c)\n";

static const char items_help[] =
    "Usage: tally calibration items add NAME FILE\n\n"
    "Adds the items of a JSON Lines FILE ('-' = stdin; the format of\n"
    "`calibration create --items`) to an open session.\n";

static const char assign_help[] =
    "Usage: tally calibration assign NAME [--market M]... [--person X]...\n\n"
    "Adds to the session's group everyone of market M who labels or audits\n"
    "(as they are when they ask for work) and named people. Each member labels\n"
    "every item.\n";

static const char list_help[] =
    "Usage: tally calibration list [--project P]\n\n"
    "Lists calibration sessions: leads and managers see every session with its\n"
    "group, keyed items and labels; others see the sessions they are in, with\n"
    "their own progress (DONE of ITEMS).\n";

static const char next_help[] =
    "Usage: tally calibration next NAME [--as PERSON]\n\n"
    "Shows the next item of the session you have not labeled: its content,\n"
    "media URL and the labels to choose from (never the key or anyone's\n"
    "label). Exit status 3 when you have labeled every item. --as names\n"
    "someone else, with a gateway's key only.\n";

static const char submit_help[] =
    "Usage: tally calibration submit NAME ITEM_ID LABEL [--as PERSON] [--handling-ms N]\n\n"
    "Records your label of one item. Each item is labeled once: the same label\n"
    "again answers as the first time, another label is refused\n"
    "(ALREADY_EXISTS). After the deadline or once the lead closed the session,\n"
    "labels are refused (CLOSED).\n";

static const char close_help[] =
    "Usage: tally calibration close NAME\n\n"
    "Closes the session: no more labels are taken. Then key unkeyed items with\n"
    "`tally calibration key` and read `tally calibration results`.\n";

static const char key_help[] =
    "Usage: tally calibration key NAME ITEM_ID LABEL [ITEM_ID LABEL]... | --file FILE\n\n"
    "Sets (or changes) the answer key of items of a closed session: the lead's\n"
    "verdict after the session. --file reads JSON Lines {\"id\": ..., \"key\": ...}.\n";

static const char results_help[] =
    "Usage: tally calibration results NAME [--top N]\n\n"
    "The session's results (lead or manager; live, marked so, while it is open):\n"
    "  people: each person's labels and accuracy against the key (right of\n"
    "          keyed items labeled) with its 95% Wilson interval, and the group's;\n"
    "  agreement: Fleiss' kappa, Krippendorff's alpha (nominal; ordinal too for an\n"
    "          ordinal taxonomy) and percent agreement over every item, computed\n"
    "          once from all labels; undefined where every label is one category;\n"
    "  items:  most disagreement first (1 - share of agreeing pairs of its labels),\n"
    "          with the label distribution and the key: the policy questions to\n"
    "          discuss. --top N shows the first N (default all).\n"
    "CSV: one table with a `section` column (person, group, coefficient, item).\n";

static const char trend_help[] =
    "Usage: tally calibration trend --project P [--person X]\n\n"
    "Each person's accuracy against the key in every closed session of the\n"
    "project, in session date order (lead or manager).\n";

enum {
  OPT_PROJECT = CLI_OPT_COMMAND,
  OPT_ITEMS,
  OPT_DEADLINE,
  OPT_MARKET,
  OPT_PERSON,
  OPT_AS,
  OPT_HANDLING,
  OPT_FILE,
  OPT_TOP
};

/* ------------------------------------------------------------ helpers */

typedef struct {
  char **v;
  size_t n;
} strings_t;

static void strings_free(strings_t *s) {
  cli_list_free(&s->v, &s->n);
}

/* Appends the comma-separated items of `text`. Returns 0 or -1. */
static int strings_add(strings_t *s, const char *text) {
  char **more = NULL;
  size_t n = 0;
  if (cli_split_list(text, &more, &n) < 0) return -1;
  char **grown = realloc(s->v, (s->n + n) * sizeof *grown);
  if (grown == NULL) {
    cli_list_free(&more, &n);
    return -1;
  }
  s->v = grown;
  memcpy(s->v + s->n, more, n * sizeof *more);
  s->n += n;
  free(more);
  return 0;
}

/* "+30m", "+2h", "+3d", "+90s" or "YYYY-MM-DDTHH:MM[:SS]Z" into unix ms. */
static int parse_deadline(const char *text, uint64_t now_ms, uint64_t *out) {
  if (text[0] == '+') {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(text + 1, &end, 10);
    if (errno || end == text + 1 || end[0] == '\0' || end[1] != '\0' || n == 0 || n > 100000) return -1;
    uint64_t unit = end[0] == 's' ? 1000ull : end[0] == 'm' ? 60000ull : end[0] == 'h' ? 3600000ull
                    : end[0] == 'd' ? 86400000ull : 0;
    if (unit == 0) return -1;
    *out = now_ms + n * unit;
    return 0;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  char *end = strptime(text, "%Y-%m-%dT%H:%M", &tm);
  if (end == NULL) return -1;
  if (end[0] == ':') {
    end = strptime(end, ":%S", &tm);
    if (end == NULL) return -1;
  }
  if (strcmp(end, "Z") != 0) return -1;
  time_t t = timegm(&tm);
  if (t <= 0) return -1;
  *out = (uint64_t)t * 1000ull;
  return 0;
}

/* Items read from a JSON Lines file; strings malloc'ed. */
typedef struct {
  tally_calibration_item_t *items;
  size_t count;
  char **owned; /* every string, for freeing */
  size_t n_owned;
} item_file_t;

static void item_file_free(item_file_t *f) {
  for (size_t i = 0; i < f->n_owned; i++) free(f->owned[i]);
  free(f->owned);
  free(f->items);
  memset(f, 0, sizeof *f);
}

static const char *own(item_file_t *f, char *s) {
  if (s == NULL) return NULL;
  char **grown = realloc(f->owned, (f->n_owned + 1) * sizeof *grown);
  if (grown == NULL) {
    free(s);
    return NULL;
  }
  f->owned = grown;
  f->owned[f->n_owned++] = s;
  return s;
}

/* The string member `name` of `o` (NULL when absent); -1 when not a string. */
static int string_member(json_t *o, const char *name, const char **out) {
  json_t *v = json_object_get(o, name);
  *out = NULL;
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_string(v)) return -1;
  *out = json_string_value(v);
  return 0;
}

/* Reads `path` ('-' stdin): one item per non-blank line; `key_only` reads
 * {"id", "key"} lines for `calibration key`. Returns 0, or prints the
 * first bad line and returns -1. */
static int item_file_read(cli_t *cli, const char *command, const char *path, int key_only,
                          item_file_t *f) {
  memset(f, 0, sizeof *f);
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (in == NULL) {
    fprintf(cli->err, "tally %s: cannot open %s: %s\n", command, path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    size_t blank = strspn(line, " \t\r\n");
    if ((ssize_t)blank == len) continue;
    json_error_t error;
    json_t *o = json_loadb(line, (size_t)len, 0, &error);
    const char *id = NULL, *market = NULL, *content = NULL, *url = NULL, *key = NULL;
    const char *why = NULL;
    char *content_text = NULL;
    if (o == NULL || !json_is_object(o)) why = "not a JSON object";
    else if (string_member(o, "id", &id) < 0 || id == NULL || id[0] == '\0') why = "missing \"id\" (a string)";
    else if (string_member(o, "key", &key) < 0) why = "\"key\" is not a string";
    else if (!key_only && (string_member(o, "market", &market) < 0 || string_member(o, "media_url", &url) < 0))
      why = "\"market\" and \"media_url\" must be strings";
    else if (key_only && (key == NULL || key[0] == '\0')) why = "missing \"key\"";
    if (why == NULL && !key_only) {
      json_t *c = json_object_get(o, "content");
      if (c != NULL && json_is_string(c)) content = json_string_value(c);
      else if (c != NULL && !json_is_null(c)) content = content_text = json_dumps(c, JSON_COMPACT);
      if ((content == NULL || content[0] == '\0') && (url == NULL || url[0] == '\0'))
        why = "needs \"content\" or \"media_url\"";
    }
    if (why == NULL && f->count >= CALIBRATION_FILE_MAX_ITEMS) why = "more than 1000 items";
    tally_calibration_item_t *grown = why ? NULL : realloc(f->items, (f->count + 1) * sizeof *grown);
    if (why == NULL && grown == NULL) why = "out of memory";
    if (why != NULL) {
      fprintf(cli->err, "tally %s: %s line %zu: %s\n", command, path, lineno, why);
      rc = -1;
    } else {
      f->items = grown;
      tally_calibration_item_t *item = &f->items[f->count++];
      item->id = own(f, strdup(id));
      item->market = market ? own(f, strdup(market)) : NULL;
      item->content = content ? own(f, strdup(content)) : NULL;
      item->media_url = url ? own(f, strdup(url)) : NULL;
      item->key = key ? own(f, strdup(key)) : NULL;
    }
    free(content_text);
    json_decref(o);
  }
  free(line);
  if (in != stdin) fclose(in);
  if (rc < 0) item_file_free(f);
  return rc;
}

static json_t *number_or_null(int defined, double value) { return defined ? json_real(value) : json_null(); }

static json_t *accuracy_json(const tally_accuracy_t *a) {
  return json_pack("{s:I, s:I, s:o, s:o, s:o}", "judged", (json_int_t)a->judged, "correct",
                   (json_int_t)a->correct, "accuracy", number_or_null(a->defined, a->value), "wilson_low",
                   number_or_null(a->defined, a->wilson_low), "wilson_high",
                   number_or_null(a->defined, a->wilson_high));
}

static void cell_number(output_table_t *t, int csv, int defined, double value) {
  if (!defined)
    output_table_cell(t, csv ? "" : "undefined");
  else
    output_table_cellf(t, csv ? "%.6g" : "%.3f", value);
}

static json_t *session_json(const tally_calibration_t *s) {
  return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:s, s:I}", "name",
                   s->name, "project", s->project, "state", s->state, "created_ms", (json_int_t)s->created_ms,
                   "deadline_ms", (json_int_t)s->deadline_ms, "closed_ms", (json_int_t)s->closed_ms, "items",
                   (json_int_t)s->items, "keyed_items", (json_int_t)s->keyed_items, "markets",
                   output_json_strings(s->markets, s->market_count), "people",
                   output_json_strings(s->people, s->people_count), "members", (json_int_t)s->members,
                   "labels", (json_int_t)s->labels, "your_done", (json_int_t)s->your_done, "created_by",
                   s->created_by, "policy_version", (json_int_t)s->policy_version);
}

static const char *const session_headers[] = {"NAME",   "PROJECT", "STATE", "DEADLINE", "ITEMS", "KEYED",
                                              "GROUP",  "MEMBERS", "LABELS", "DONE"};
static const char *const session_csv_headers[] = {"name",  "project", "state",   "deadline_ms", "items", "keyed_items",
                                                  "group", "members", "labels", "your_done"};

static void session_row(output_table_t *t, int csv, const tally_calibration_t *s) {
  char deadline[32];
  output_time(s->deadline_ms, deadline, sizeof deadline);
  char *markets = output_join(s->markets, s->market_count, ",");
  char *people = output_join(s->people, s->people_count, ",");
  output_table_cell(t, s->name);
  output_table_cell(t, s->project);
  output_table_cell(t, s->state);
  if (csv) output_table_cellf(t, "%llu", (unsigned long long)s->deadline_ms);
  else output_table_cell(t, deadline);
  output_table_cellf(t, "%u", s->items);
  output_table_cellf(t, "%u", s->keyed_items);
  output_table_cellf(t, "%s%s%s", markets ? markets : "", markets && markets[0] && people && people[0] ? "," : "",
                     people ? people : "");
  output_table_cellf(t, "%u", s->members);
  output_table_cellf(t, "%llu", (unsigned long long)s->labels);
  output_table_cellf(t, "%u", s->your_done);
  free(markets);
  free(people);
}

static int print_sessions(cli_t *cli, const tally_calibration_t *sessions, size_t count) {
  if (cli->format == OUTPUT_JSON) {
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++) json_array_append_new(a, session_json(&sessions[i]));
    return output_json(json_pack("{s:o}", "sessions", a), cli->out);
  }
  int csv = cli->format == OUTPUT_CSV;
  output_table_t *t = output_table_new(10, csv ? session_csv_headers : session_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < count; i++) session_row(t, csv, &sessions[i]);
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

/* Prints one session and frees it; returns the exit code. `s` is passed by
 * address: the call that fills it is an argument of the same call. */
static int finish_session(cli_t *cli, const char *what, int rc, tally_calibration_t **sp) {
  tally_calibration_t *s = *sp;
  if (rc < 0) return cli_fail(cli, what, rc);
  rc = print_sessions(cli, s, 1);
  tally_free(s);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* Parses options of the subcommands (those in `allowed`) and positionals. */
typedef struct {
  const char *project, *items_file, *deadline, *as, *file;
  strings_t markets, people;
  uint32_t handling_ms;
  uint64_t top;
  const char *args[64];
  int nargs;
} calibration_opts_t;

static int calibration_parse(cli_t *cli, const char *cmd, const char *help, int argc, char **argv,
                             const char *allowed, int min_args, int max_args, calibration_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"items", required_argument, NULL, OPT_ITEMS},
                                          {"deadline", required_argument, NULL, OPT_DEADLINE},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"person", required_argument, NULL, OPT_PERSON},
                                          {"as", required_argument, NULL, OPT_AS},
                                          {"handling-ms", required_argument, NULL, OPT_HANDLING},
                                          {"file", required_argument, NULL, OPT_FILE},
                                          {"top", required_argument, NULL, OPT_TOP},
                                          CLI_GLOBAL_OPTIONS};
  static const char *const names[] = {"project", "items", "deadline", "market", "person",
                                      "as",      "handling-ms", "file", "top"};
  memset(o, 0, sizeof *o);
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c >= OPT_PROJECT && c <= OPT_TOP) {
      const char *name = names[c - OPT_PROJECT];
      char pattern[32];
      snprintf(pattern, sizeof pattern, " %s ", name);
      if (strstr(allowed, pattern) == NULL) {
        rc = cli_usage_error(cli, cmd, "--%s is not an option of this command", name);
        break;
      }
    }
    switch (c) {
      case OPT_PROJECT: o->project = optarg; break;
      case OPT_ITEMS: o->items_file = optarg; break;
      case OPT_DEADLINE: o->deadline = optarg; break;
      case OPT_AS: o->as = optarg; break;
      case OPT_FILE: o->file = optarg; break;
      case OPT_MARKET:
      case OPT_PERSON:
        if (strings_add(c == OPT_MARKET ? &o->markets : &o->people, optarg) < 0)
          rc = cli_usage_error(cli, cmd, "bad --%s '%s' (comma-separated names)",
                               c == OPT_MARKET ? "market" : "person", optarg);
        break;
      case OPT_HANDLING:
        if (cli_parse_u64(optarg, 0, UINT32_MAX, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --handling-ms '%s'", optarg);
        o->handling_ms = (uint32_t)n;
        break;
      case OPT_TOP:
        if (cli_parse_u64(optarg, 1, 100000, &o->top) < 0) rc = cli_usage_error(cli, cmd, "bad --top '%s'", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, help, c, argv);
    }
  }
  while (rc == CLI_PARSED && optind < argc) {
    if (o->nargs == max_args || o->nargs == (int)(sizeof o->args / sizeof o->args[0])) {
      rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
      break;
    }
    o->args[o->nargs++] = argv[optind++];
  }
  if (rc == CLI_PARSED && o->nargs < min_args) rc = cli_usage_error(cli, cmd, "missing arguments (see --help)");
  if (rc != CLI_PARSED) {
    strings_free(&o->markets);
    strings_free(&o->people);
  }
  return rc;
}

static void opts_free(calibration_opts_t *o) {
  strings_free(&o->markets);
  strings_free(&o->people);
}

/* ------------------------------------------------------------ lead commands */

static int calibration_create(cli_t *cli, int argc, char **argv) {
  static const char *cmd = "calibration create";
  calibration_opts_t o;
  int rc = calibration_parse(cli, cmd, create_help, argc, argv, " project items deadline market person ", 1, 1, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  uint64_t deadline = clock_now_ms() + CALIBRATION_DEFAULT_DEADLINE_S * 1000ull;
  if (o.project == NULL || o.project[0] == '\0') rc = cli_usage_error(cli, cmd, "missing --project P");
  else if (o.deadline && parse_deadline(o.deadline, clock_now_ms(), &deadline) < 0)
    rc = cli_usage_error(cli, cmd, "bad --deadline '%s' (+30m, +2h, +3d or YYYY-MM-DDTHH:MMZ)", o.deadline);
  item_file_t items = {0};
  if (rc == CLI_PARSED && o.items_file && item_file_read(cli, cmd, o.items_file, 0, &items) < 0) rc = CLI_USAGE;
  if (rc != CLI_PARSED) {
    opts_free(&o);
    return cli_parse_exit(rc);
  }
  if ((rc = cli_connect(cli)) == 0) {
    tally_calibration_spec_t spec = {o.args[0],
                                     o.project,
                                     deadline,
                                     items.items,
                                     items.count,
                                     (const char **)o.markets.v,
                                     o.markets.n,
                                     (const char **)o.people.v,
                                     o.people.n};
    tally_calibration_t *s = NULL;
    rc = finish_session(cli, cmd, tally_calibration_create(cli->client, &spec, &s), &s);
  }
  item_file_free(&items);
  opts_free(&o);
  return rc;
}

static int calibration_items_add(cli_t *cli, int argc, char **argv) {
  static const char *cmd = "calibration items add";
  calibration_opts_t o;
  int rc = calibration_parse(cli, cmd, items_help, argc, argv, " ", 2, 2, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  item_file_t items;
  if (item_file_read(cli, cmd, o.args[1], 0, &items) < 0) {
    opts_free(&o);
    return CLI_EXIT_USAGE;
  }
  if ((rc = cli_connect(cli)) == 0) {
    tally_calibration_t *s = NULL;
    rc = finish_session(cli, cmd,
                        tally_calibration_items_add(cli->client, o.args[0], items.items, items.count, &s), &s);
  }
  item_file_free(&items);
  opts_free(&o);
  return rc;
}

static int calibration_items(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {{"add", "add items from a JSON Lines file", calibration_items_add}};
  return cli_group(cli, "calibration items", subs, 1, argc, argv);
}

static int calibration_assign(cli_t *cli, int argc, char **argv) {
  static const char *cmd = "calibration assign";
  calibration_opts_t o;
  int rc = calibration_parse(cli, cmd, assign_help, argc, argv, " market person ", 1, 1, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if (o.markets.n == 0 && o.people.n == 0) {
    opts_free(&o);
    return cli_parse_exit(cli_usage_error(cli, cmd, "give --market M or --person X"));
  }
  if ((rc = cli_connect(cli)) == 0) {
    tally_calibration_t *s = NULL;
    rc = finish_session(cli, cmd,
                        tally_calibration_assign(cli->client, o.args[0], (const char **)o.markets.v, o.markets.n,
                                                 (const char **)o.people.v, o.people.n, &s),
                        &s);
  }
  opts_free(&o);
  return rc;
}

static int calibration_list(cli_t *cli, int argc, char **argv) {
  calibration_opts_t o;
  int rc = calibration_parse(cli, "calibration list", list_help, argc, argv, " project ", 0, 0, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  opts_free(&o);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_calibration_list_t *list = NULL;
  rc = tally_calibration_list(cli->client, o.project, &list);
  if (rc < 0) return cli_fail(cli, "calibration list", rc);
  rc = print_sessions(cli, list->sessions, list->count);
  tally_free(list);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int calibration_close(cli_t *cli, int argc, char **argv) {
  calibration_opts_t o;
  int rc = calibration_parse(cli, "calibration close", close_help, argc, argv, " ", 1, 1, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  opts_free(&o);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_calibration_t *s = NULL;
  return finish_session(cli, "calibration close", tally_calibration_close(cli->client, o.args[0], &s), &s);
}

static int calibration_key(cli_t *cli, int argc, char **argv) {
  static const char *cmd = "calibration key";
  calibration_opts_t o;
  int rc = calibration_parse(cli, cmd, key_help, argc, argv, " file ", 1, 63, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  opts_free(&o);
  if ((o.nargs - 1) % 2 != 0 || (o.nargs == 1) == (o.file == NULL))
    return cli_parse_exit(cli_usage_error(cli, cmd, "give ITEM_ID LABEL pairs or --file FILE"));
  item_file_t from_file = {0};
  if (o.file && item_file_read(cli, cmd, o.file, 1, &from_file) < 0) return CLI_EXIT_USAGE;
  size_t n = o.file ? from_file.count : (size_t)(o.nargs - 1) / 2;
  tally_calibration_key_t *keys = calloc(n ? n : 1, sizeof *keys);
  if (keys == NULL) {
    item_file_free(&from_file);
    fprintf(cli->err, "tally: %s: out of memory\n", cmd);
    return CLI_EXIT_FAILURE;
  }
  for (size_t i = 0; i < n; i++)
    keys[i] = o.file ? (tally_calibration_key_t){from_file.items[i].id, from_file.items[i].key}
                     : (tally_calibration_key_t){o.args[1 + 2 * i], o.args[2 + 2 * i]};
  if ((rc = cli_connect(cli)) == 0) {
    tally_calibration_t *s = NULL;
    rc = finish_session(cli, cmd, tally_calibration_key(cli->client, o.args[0], keys, n, &s), &s);
  }
  free(keys);
  item_file_free(&from_file);
  return rc;
}

/* ------------------------------------------------------------ member commands */

static int calibration_next(cli_t *cli, int argc, char **argv) {
  calibration_opts_t o;
  int rc = calibration_parse(cli, "calibration next", next_help, argc, argv, " as ", 1, 1, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  opts_free(&o);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_calibration_task_t *task = NULL;
  rc = tally_calibration_next(cli->client, o.args[0], o.as, &task);
  if (rc < 0) return cli_fail(cli, "calibration next", rc);
  if (cli->format == OUTPUT_JSON) {
    rc = output_json(json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I}", "has_task", task->has_task,
                               "session", task->session, "project", task->project, "item_id", task->item_id,
                               "market", task->market, "content", task->content, "media_url", task->media_url,
                               "labels", output_json_strings(task->labels, task->label_count), "deadline_ms",
                               (json_int_t)task->deadline_ms, "done", (json_int_t)task->done, "total",
                               (json_int_t)task->total),
                     cli->out);
  } else if (cli->format == OUTPUT_CSV) {
    static const char *const headers[] = {"session", "item_id", "market", "content", "media_url", "labels",
                                          "deadline_ms", "done", "total"};
    output_table_t *t = output_table_new(9, headers);
    char *labels = output_join(task->labels, task->label_count, ",");
    if (t != NULL && task->has_task) {
      const char *cells[] = {task->session, task->item_id, task->market, task->content, task->media_url,
                             labels ? labels : ""};
      for (size_t i = 0; i < 6; i++) output_table_cell(t, cells[i]);
      output_table_cellf(t, "%llu", (unsigned long long)task->deadline_ms);
      output_table_cellf(t, "%u", task->done);
      output_table_cellf(t, "%u", task->total);
    }
    rc = t ? output_table_print(t, OUTPUT_CSV, cli->out) : -1;
    output_table_free(&t);
    free(labels);
  } else if (task->has_task) {
    char deadline[32];
    output_time(task->deadline_ms, deadline, sizeof deadline);
    char *labels = output_join(task->labels, task->label_count, ", ");
    output_field(cli->out, "session:", "%s (%u of %u labeled, deadline %s)", task->session, task->done,
                 task->total, deadline);
    output_field(cli->out, "item:", "%s", task->item_id);
    if (task->market[0]) output_field(cli->out, "market:", "%s", task->market);
    if (task->content[0]) output_field(cli->out, "content:", "%s", task->content);
    if (task->media_url[0]) output_field(cli->out, "media:", "%s", task->media_url);
    output_field(cli->out, "labels:", "%s", labels ? labels : "");
    free(labels);
  } else {
    fprintf(cli->out, "every item of %s is labeled (%u of %u)\n", task->session, task->done, task->total);
  }
  int has = task->has_task;
  tally_free(task);
  if (rc < 0) return CLI_EXIT_FAILURE;
  return has ? CLI_EXIT_OK : CLI_EXIT_NO_TASK;
}

static int calibration_submit(cli_t *cli, int argc, char **argv) {
  calibration_opts_t o;
  int rc = calibration_parse(cli, "calibration submit", submit_help, argc, argv, " as handling-ms ", 3, 3, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  opts_free(&o);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_calibration_ack_t *ack = NULL;
  rc = tally_calibration_submit(cli->client, o.args[0], o.as, o.args[1], o.args[2], o.handling_ms, &ack);
  if (rc < 0) return cli_fail(cli, "calibration submit", rc);
  if (cli->format == OUTPUT_JSON)
    rc = output_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "session", ack->session, "item_id", ack->item_id,
                               "label", ack->label, "at_ms", (json_int_t)ack->at_ms, "done", (json_int_t)ack->done,
                               "total", (json_int_t)ack->total),
                     cli->out);
  else if (cli->format == OUTPUT_CSV) {
    static const char *const headers[] = {"session", "item_id", "label", "at_ms", "done", "total"};
    output_table_t *t = output_table_new(6, headers);
    if (t) {
      output_table_cell(t, ack->session);
      output_table_cell(t, ack->item_id);
      output_table_cell(t, ack->label);
      output_table_cellf(t, "%llu", (unsigned long long)ack->at_ms);
      output_table_cellf(t, "%u", ack->done);
      output_table_cellf(t, "%u", ack->total);
    }
    rc = t ? output_table_print(t, OUTPUT_CSV, cli->out) : -1;
    output_table_free(&t);
  } else {
    char safe[128];
    fprintf(cli->out, "labeled %s: %s (%u of %u)\n", output_safe(ack->item_id, safe, sizeof safe), ack->label,
            ack->done, ack->total);
  }
  tally_free(ack);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* ------------------------------------------------------------ results */

static char *distribution_text(const tally_calibration_results_t *res, const tally_calibration_item_result_t *it,
                               const char *sep) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL) return NULL;
  int first = 1;
  for (size_t j = 0; it->distribution && j < res->label_count; j++) {
    if (it->distribution[j] == 0) continue;
    fprintf(f, "%s%s=%llu", first ? "" : sep, res->labels[j], (unsigned long long)it->distribution[j]);
    first = 0;
  }
  return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static json_t *results_json(const tally_calibration_results_t *res, size_t items) {
  json_t *people = json_array(), *coefficients = json_object(), *list = json_array();
  for (size_t i = 0; i < res->people_count; i++) {
    json_t *p = accuracy_json(&res->people[i].accuracy);
    json_object_set_new(p, "person", json_string(res->people[i].person));
    json_object_set_new(p, "labeled", json_integer(res->people[i].labeled));
    json_array_append_new(people, p);
  }
  for (size_t i = 0; i < res->coefficient_count; i++)
    json_object_set_new(coefficients, res->coefficients[i].name,
                        number_or_null(res->coefficients[i].defined, res->coefficients[i].value));
  for (size_t i = 0; i < items; i++) {
    const tally_calibration_item_result_t *it = &res->items[i];
    json_t *dist = json_object();
    for (size_t j = 0; it->distribution && j < res->label_count; j++)
      if (it->distribution[j]) json_object_set_new(dist, res->labels[j], json_integer((json_int_t)it->distribution[j]));
    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:o, s:s, s:o}", "item_id", it->item_id, "market",
                                          it->market, "key", it->key, "labels", (json_int_t)it->labels,
                                          "disagreement", number_or_null(it->disagreement_defined, it->disagreement),
                                          "top_label", it->top_label, "distribution", dist));
  }
  return json_pack("{s:o, s:b, s:o, s:o, s:o, s:o}", "session", session_json(&res->session), "live", res->live,
                   "people", people, "group", accuracy_json(&res->group), "coefficients", coefficients, "items",
                   list);
}

static int results_csv(cli_t *cli, const tally_calibration_results_t *res, size_t items) {
  static const char *const headers[] = {"section", "name",        "labeled",     "judged",       "correct",
                                        "accuracy", "wilson_low", "wilson_high", "value",        "disagreement",
                                        "top_label", "key",       "distribution"};
  output_table_t *t = output_table_new(13, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i <= res->people_count; i++) {
    const tally_accuracy_t *a = i < res->people_count ? &res->people[i].accuracy : &res->group;
    output_table_cell(t, i < res->people_count ? "person" : "group");
    output_table_cell(t, i < res->people_count ? res->people[i].person : "all");
    if (i < res->people_count) output_table_cellf(t, "%u", res->people[i].labeled);
    else output_table_cell(t, "");
    output_table_cellf(t, "%llu", (unsigned long long)a->judged);
    output_table_cellf(t, "%llu", (unsigned long long)a->correct);
    cell_number(t, 1, a->defined, a->value);
    cell_number(t, 1, a->defined, a->wilson_low);
    cell_number(t, 1, a->defined, a->wilson_high);
    for (int j = 0; j < 5; j++) output_table_cell(t, "");
  }
  for (size_t i = 0; i < res->coefficient_count; i++) {
    output_table_cell(t, "coefficient");
    output_table_cell(t, res->coefficients[i].name);
    for (int j = 0; j < 6; j++) output_table_cell(t, "");
    cell_number(t, 1, res->coefficients[i].defined, res->coefficients[i].value);
    for (int j = 0; j < 4; j++) output_table_cell(t, "");
  }
  for (size_t i = 0; i < items; i++) {
    const tally_calibration_item_result_t *it = &res->items[i];
    char *dist = distribution_text(res, it, ";");
    output_table_cell(t, "item");
    output_table_cell(t, it->item_id);
    output_table_cellf(t, "%u", it->labels);
    for (int j = 0; j < 6; j++) output_table_cell(t, "");
    cell_number(t, 1, it->disagreement_defined, it->disagreement);
    output_table_cell(t, it->top_label);
    output_table_cell(t, it->key);
    output_table_cell(t, dist ? dist : "");
    free(dist);
  }
  int rc = output_table_print(t, OUTPUT_CSV, cli->out);
  output_table_free(&t);
  return rc;
}

static int results_text(cli_t *cli, const tally_calibration_results_t *res, size_t items) {
  const tally_calibration_t *s = &res->session;
  char deadline[32];
  output_time(s->deadline_ms, deadline, sizeof deadline);
  output_field(cli->out, "session:", "%s (project %s, %s%s)", s->name, s->project, s->state,
               res->live ? ": live figures, members still labeling" : "");
  output_field(cli->out, "deadline:", "%s", deadline);
  output_field(cli->out, "items:", "%u (%u keyed), %llu labels", s->items, s->keyed_items,
               (unsigned long long)s->labels);
  fputc('\n', cli->out);
  static const char *const people_headers[] = {"PERSON", "LABELED", "JUDGED", "RIGHT", "ACCURACY", "LOW", "HIGH"};
  output_table_t *t = output_table_new(7, people_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i <= res->people_count; i++) {
    const tally_accuracy_t *a = i < res->people_count ? &res->people[i].accuracy : &res->group;
    output_table_cell(t, i < res->people_count ? res->people[i].person : "(group)");
    if (i < res->people_count) output_table_cellf(t, "%u", res->people[i].labeled);
    else output_table_cellf(t, "%llu", (unsigned long long)s->labels);
    output_table_cellf(t, "%llu", (unsigned long long)a->judged);
    output_table_cellf(t, "%llu", (unsigned long long)a->correct);
    cell_number(t, 0, a->defined, a->value);
    cell_number(t, 0, a->defined, a->wilson_low);
    cell_number(t, 0, a->defined, a->wilson_high);
  }
  int rc = output_table_print(t, OUTPUT_TABLE, cli->out);
  output_table_free(&t);
  fputc('\n', cli->out);
  for (size_t i = 0; i < res->coefficient_count; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s:", res->coefficients[i].name);
    if (res->coefficients[i].defined) output_field(cli->out, key, "%.3f", res->coefficients[i].value);
    else output_field(cli->out, key, "undefined");
  }
  fputc('\n', cli->out);
  static const char *const item_headers[] = {"ITEM", "LABELS", "DISAGREEMENT", "TOP", "KEY", "DISTRIBUTION"};
  t = output_table_new(6, item_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < items; i++) {
    const tally_calibration_item_result_t *it = &res->items[i];
    char *dist = distribution_text(res, it, ", ");
    output_table_cell(t, it->item_id);
    output_table_cellf(t, "%u", it->labels);
    cell_number(t, 0, it->disagreement_defined, it->disagreement);
    output_table_cell(t, it->top_label);
    output_table_cell(t, it->key[0] ? it->key : "-");
    output_table_cell(t, dist ? dist : "");
    free(dist);
  }
  if (output_table_print(t, OUTPUT_TABLE, cli->out) < 0) rc = -1;
  output_table_free(&t);
  return rc;
}

static int calibration_results(cli_t *cli, int argc, char **argv) {
  calibration_opts_t o;
  int rc = calibration_parse(cli, "calibration results", results_help, argc, argv, " top ", 1, 1, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  opts_free(&o);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_calibration_results_t *res = NULL;
  rc = tally_calibration_results(cli->client, o.args[0], &res);
  if (rc < 0) return cli_fail(cli, "calibration results", rc);
  size_t items = o.top && o.top < res->item_count ? (size_t)o.top : res->item_count;
  if (cli->format == OUTPUT_JSON) rc = output_json(results_json(res, items), cli->out);
  else if (cli->format == OUTPUT_CSV) rc = results_csv(cli, res, items);
  else rc = results_text(cli, res, items);
  tally_free(res);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int calibration_trend(cli_t *cli, int argc, char **argv) {
  calibration_opts_t o;
  int rc = calibration_parse(cli, "calibration trend", trend_help, argc, argv, " project person ", 0, 0, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  const char *person = o.people.n ? o.people.v[0] : NULL;
  if (o.project == NULL || o.project[0] == '\0' || o.people.n > 1) {
    opts_free(&o);
    return cli_parse_exit(cli_usage_error(cli, "calibration trend", "give --project P and at most one --person"));
  }
  if ((rc = cli_connect(cli)) != 0) {
    opts_free(&o);
    return rc;
  }
  tally_calibration_trend_t *trend = NULL;
  rc = tally_calibration_trend(cli->client, o.project, person, &trend);
  opts_free(&o);
  if (rc < 0) return cli_fail(cli, "calibration trend", rc);
  if (cli->format == OUTPUT_JSON) {
    json_t *points = json_array();
    for (size_t i = 0; i < trend->count; i++) {
      json_t *p = accuracy_json(&trend->points[i].accuracy);
      json_object_set_new(p, "person", json_string(trend->points[i].person));
      json_object_set_new(p, "session", json_string(trend->points[i].session));
      json_object_set_new(p, "created_ms", json_integer((json_int_t)trend->points[i].created_ms));
      json_object_set_new(p, "closed_ms", json_integer((json_int_t)trend->points[i].closed_ms));
      json_array_append_new(points, p);
    }
    rc = output_json(json_pack("{s:o}", "points", points), cli->out);
  } else {
    int csv = cli->format == OUTPUT_CSV;
    static const char *const headers[] = {"PERSON", "SESSION", "CREATED", "JUDGED", "RIGHT", "ACCURACY", "LOW", "HIGH"};
    static const char *const csv_headers[] = {"person", "session", "created_ms", "judged", "correct",
                                              "accuracy", "wilson_low", "wilson_high"};
    output_table_t *t = output_table_new(8, csv ? csv_headers : headers);
    for (size_t i = 0; t && i < trend->count; i++) {
      const tally_calibration_trend_point_t *p = &trend->points[i];
      char created[32];
      output_time(p->created_ms, created, sizeof created);
      output_table_cell(t, p->person);
      output_table_cell(t, p->session);
      if (csv) output_table_cellf(t, "%llu", (unsigned long long)p->created_ms);
      else output_table_cell(t, created);
      output_table_cellf(t, "%llu", (unsigned long long)p->accuracy.judged);
      output_table_cellf(t, "%llu", (unsigned long long)p->accuracy.correct);
      cell_number(t, csv, p->accuracy.defined, p->accuracy.value);
      cell_number(t, csv, p->accuracy.defined, p->accuracy.wilson_low);
      cell_number(t, csv, p->accuracy.defined, p->accuracy.wilson_high);
    }
    rc = t ? output_table_print(t, cli->format, cli->out) : -1;
    output_table_free(&t);
  }
  tally_free(trend);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_calibration(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"create", "create a session: items, answer key, group, deadline (lead)", calibration_create},
      {"items", "add items to an open session (items add)", calibration_items},
      {"assign", "add markets or people to the group (lead)", calibration_assign},
      {"list", "sessions you may see", calibration_list},
      {"next", "your next item of a session (member)", calibration_next},
      {"submit", "your label of one item (member)", calibration_submit},
      {"close", "close a session (lead)", calibration_close},
      {"key", "set the answer key after closing (lead)", calibration_key},
      {"results", "accuracy per person, agreement, most disagreed items (lead)", calibration_results},
      {"trend", "accuracy per person across a project's sessions (lead)", calibration_trend},
  };
  return cli_group(cli, "calibration", subs, sizeof subs / sizeof subs[0], argc, argv);
}
