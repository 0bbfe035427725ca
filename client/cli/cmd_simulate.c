/* cmd_simulate: `tally simulate` — a crowd of simulated labelers, auditors
 * and leads working a project through the asynchronous interface (many
 * requests in flight, one connection per worker), or, with --generate, test
 * items with a hidden true label for them to find.
 *
 * A simulated labeler or auditor of accuracy A picks the item's true label
 * with probability A, else a uniformly random other label. The truth is the
 * "sim_truth" string of the item's content when the content is a JSON
 * object that has one (what --generate writes); otherwise the person picks
 * uniformly and their agreement is not measured. A simulated lead gives the
 * truth as the final label and attributes the disagreement correctly: the
 * candidates do not say who gave which, but the simulation remembers what
 * its own labelers and auditors submitted (sim_ledger.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "sim_ledger.h"

#define SIM_DEFAULT_LABELERS 5u
#define SIM_DEFAULT_ACCURACY 0.9
#define SIM_DEFAULT_AUDITOR_ACCURACY 0.95
#define SIM_DEFAULT_POLICY_UNCLEAR_SHARE 0.05
#define SIM_MAX_PEOPLE 100000u
#define SIM_IDLE_STOP_MS 2000u  /* stop when no task came for this long */
#define SIM_FAIL_STOP_MS 10000u /* ... or, while leases fail, this long */
#define SIM_BACKOFF_MS 100u     /* a labeler that found nothing anywhere waits this long */
#define SIM_POLL_BATCH 256

static const char simulate_help[] =
    "Usage: tally simulate --project P [--labelers N | --labeler ID ...]\n"
    "                      [--accuracy A | --accuracies a1,a2,...] [--tasks N]\n"
    "                      [--auditors N] [--auditor-accuracy A] [--leads N]\n"
    "                      [--policy-unclear-share S] [--duration SECONDS]\n"
    "                      [--seed S] [--create-labelers] [--markets es,ja]\n"
    "       tally simulate --generate N --project P [--markets es,ja] [--labels a,b,c]\n"
    "                      [--emergency-share R] [--hint-share H] [--seed S]\n"
    "                      [--id-prefix PREFIX]\n\n"
    "Runs simulated people against PROJECT, interleaved, each leasing and\n"
    "submitting in turn: labelers label, auditors take the blind audit tasks,\n"
    "leads adjudicate the disagreements. A labeler or auditor of accuracy A\n"
    "gives the item's true label (the \"sim_truth\" field of JSON object\n"
    "content) with probability A, else a random other label; without a truth\n"
    "they pick uniformly. A lead gives the truth as the final label and, with\n"
    "probability S, calls the policy unclear; otherwise the cluster derives who\n"
    "was wrong from the final label (both sides when neither candidate is the\n"
    "truth, else the side that gave the wrong label), and the simulation counts\n"
    "the attribution it expects (it remembers what its own labelers and\n"
    "auditors submitted; items labeled outside this run are called\n"
    "policy-unclear and counted as unattributable).\n"
    "Stops after --duration, or when no task came for 2 seconds; --tasks N stops\n"
    "the labelers after N labels (auditors and leads go on until their queues\n"
    "are empty). Then prints per person: role, tasks done, configured accuracy,\n"
    "agreement with the truth; totals per role with the rate and the leads'\n"
    "attributions.\n\n"
    "Options:\n"
    "  --project P               the project (required)\n"
    "  --labelers N              N labelers named sim-001, sim-002, ... (default 5)\n"
    "  --labeler ID              a labeler to simulate (repeatable; instead of --labelers)\n"
    "  --accuracy A              accuracy of every labeler, 0..1 (default 0.9)\n"
    "  --accuracies LIST         one accuracy per labeler, in order\n"
    "  --auditors N              N auditors named sim-aud-001, ... (default 0)\n"
    "  --auditor-accuracy A      accuracy of the auditors (default 0.95)\n"
    "  --leads N                 N leads named sim-lead-001, ... (default 0)\n"
    "  --policy-unclear-share S  share of adjudications a lead calls policy-unclear\n"
    "                            (default 0.05)\n"
    "  --tasks N                 the labelers stop after N submitted labels\n"
    "  --duration SECONDS        stop after this long\n"
    "  --seed S                  random seed (default 1)\n"
    "  --create-labelers         add the people first (labelers with role labeler,\n"
    "                            auditors with role auditor, leads with role lead;\n"
    "                            the project's markets or --markets); existing ones\n"
    "                            are kept\n"
    "  --markets LIST            markets for --create-labelers / --generate\n\n"
    "With --generate N, writes N JSON Lines items for `tally ingest` to stdout\n"
    "instead: ids PREFIX00000001.. (default prefix \"item-\"), markets drawn from\n"
    "--markets, content {\"sim_truth\": LABEL, \"text\": ...} with labels from\n"
    "--labels (default: the project's taxonomy, fetched from the coordinator).\n"
    "  --emergency-share R  share of emergency-priority items (default 0.02)\n"
    "  --hint-share H       share of items whose \"category_hint\" is their true label\n"
    "                       (as an upstream classifier would give; default 0.5)\n";

enum {
  OPT_PROJECT = CLI_OPT_COMMAND,
  OPT_LABELERS,
  OPT_LABELER,
  OPT_ACCURACY,
  OPT_ACCURACIES,
  OPT_TASKS,
  OPT_DURATION,
  OPT_SEED,
  OPT_CREATE,
  OPT_MARKETS,
  OPT_GENERATE,
  OPT_EMERGENCY,
  OPT_LABELS,
  OPT_ID_PREFIX,
  OPT_AUDITORS,
  OPT_AUDITOR_ACCURACY,
  OPT_LEADS,
  OPT_POLICY_UNCLEAR,
  OPT_HINT_SHARE
};

void simulate_opts_free(simulate_opts_t *o) {
  cli_list_free(&o->labelers, &o->labeler_count);
  cli_list_free(&o->auditors, &o->auditor_count);
  cli_list_free(&o->leads, &o->lead_count);
  cli_list_free(&o->markets, &o->market_count);
  cli_list_free(&o->labels, &o->label_count);
  free(o->accuracies);
  o->accuracies = NULL;
}

static int add_id(char ***ids, size_t *count, const char *id) {
  char **list = realloc(*ids, (*count + 1) * sizeof *list);
  if (list == NULL) return -1;
  *ids = list;
  if ((list[*count] = strdup(id)) == NULL) return -1;
  (*count)++;
  return 0;
}

static int add_labeler(simulate_opts_t *o, const char *id) { return add_id(&o->labelers, &o->labeler_count, id); }

/* Adds n people named PREFIX001, PREFIX002, ... */
static int add_numbered(char ***ids, size_t *count, const char *prefix, uint64_t n) {
  for (uint64_t i = 1; i <= n; i++) {
    char id[48];
    snprintf(id, sizeof id, "%s%03llu", prefix, (unsigned long long)i);
    if (add_id(ids, count, id) < 0) return -1;
  }
  return 0;
}

/* After option parsing: people's ids and one accuracy per labeler. */
static int simulate_finish(cli_t *cli, simulate_opts_t *o, uint64_t n_labelers, double accuracy,
                           const char *accuracies, uint64_t n_auditors, uint64_t n_leads) {
  static const char *cmd = "simulate";
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  if (o->generate) return CLI_PARSED;
  if (o->labeler_count == 0 &&
      add_numbered(&o->labelers, &o->labeler_count, "sim-", n_labelers ? n_labelers : SIM_DEFAULT_LABELERS) < 0)
    return cli_usage_error(cli, cmd, "out of memory");
  if (add_numbered(&o->auditors, &o->auditor_count, "sim-aud-", n_auditors) < 0 ||
      add_numbered(&o->leads, &o->lead_count, "sim-lead-", n_leads) < 0)
    return cli_usage_error(cli, cmd, "out of memory");
  o->accuracies = calloc(o->labeler_count, sizeof *o->accuracies);
  if (o->accuracies == NULL) return cli_usage_error(cli, cmd, "out of memory");
  for (size_t i = 0; i < o->labeler_count; i++) o->accuracies[i] = accuracy;
  if (accuracies == NULL) return CLI_PARSED;
  char **items = NULL;
  size_t count = 0;
  int rc = CLI_PARSED;
  if (cli_split_list(accuracies, &items, &count) < 0 || (count != 1 && count != o->labeler_count)) {
    rc = cli_usage_error(cli, cmd, "--accuracies needs one value or one per labeler (%zu)", o->labeler_count);
  } else {
    for (size_t i = 0; i < o->labeler_count && rc == CLI_PARSED; i++) {
      const char *text = items[count == 1 ? 0 : i];
      if (cli_parse_double(text, 0.0, 1.0, &o->accuracies[i]) < 0)
        rc = cli_usage_error(cli, cmd, "bad accuracy '%s' (a number from 0 to 1)", text);
    }
  }
  cli_list_free(&items, &count);
  return rc;
}

int simulate_parse(cli_t *cli, int argc, char **argv, simulate_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"labelers", required_argument, NULL, OPT_LABELERS},
                                          {"labeler", required_argument, NULL, OPT_LABELER},
                                          {"accuracy", required_argument, NULL, OPT_ACCURACY},
                                          {"accuracies", required_argument, NULL, OPT_ACCURACIES},
                                          {"tasks", required_argument, NULL, OPT_TASKS},
                                          {"duration", required_argument, NULL, OPT_DURATION},
                                          {"seed", required_argument, NULL, OPT_SEED},
                                          {"create-labelers", no_argument, NULL, OPT_CREATE},
                                          {"markets", required_argument, NULL, OPT_MARKETS},
                                          {"generate", required_argument, NULL, OPT_GENERATE},
                                          {"emergency-share", required_argument, NULL, OPT_EMERGENCY},
                                          {"labels", required_argument, NULL, OPT_LABELS},
                                          {"id-prefix", required_argument, NULL, OPT_ID_PREFIX},
                                          {"auditors", required_argument, NULL, OPT_AUDITORS},
                                          {"auditor-accuracy", required_argument, NULL, OPT_AUDITOR_ACCURACY},
                                          {"leads", required_argument, NULL, OPT_LEADS},
                                          {"policy-unclear-share", required_argument, NULL, OPT_POLICY_UNCLEAR},
                                          {"hint-share", required_argument, NULL, OPT_HINT_SHARE},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "simulate";
  memset(o, 0, sizeof *o);
  o->seed = 1;
  o->emergency_share = 0.02;
  o->hint_share = 0.5;
  o->id_prefix = "item-";
  o->auditor_accuracy = SIM_DEFAULT_AUDITOR_ACCURACY;
  o->policy_unclear_share = SIM_DEFAULT_POLICY_UNCLEAR_SHARE;
  uint64_t n_labelers = 0, n_auditors = 0, n_leads = 0;
  double accuracy = SIM_DEFAULT_ACCURACY;
  const char *accuracies = NULL;
  int have_accuracy = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_LABELERS:
        if (cli_parse_u64(optarg, 1, SIM_MAX_PEOPLE, &n_labelers) < 0)
          rc = cli_usage_error(cli, cmd, "bad --labelers '%s' (1..%u)", optarg, SIM_MAX_PEOPLE);
        break;
      case OPT_AUDITORS:
        if (cli_parse_u64(optarg, 0, SIM_MAX_PEOPLE, &n_auditors) < 0)
          rc = cli_usage_error(cli, cmd, "bad --auditors '%s' (0..%u)", optarg, SIM_MAX_PEOPLE);
        break;
      case OPT_LEADS:
        if (cli_parse_u64(optarg, 0, SIM_MAX_PEOPLE, &n_leads) < 0)
          rc = cli_usage_error(cli, cmd, "bad --leads '%s' (0..%u)", optarg, SIM_MAX_PEOPLE);
        break;
      case OPT_AUDITOR_ACCURACY:
        if (cli_parse_double(optarg, 0.0, 1.0, &o->auditor_accuracy) < 0)
          rc = cli_usage_error(cli, cmd, "bad --auditor-accuracy '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_POLICY_UNCLEAR:
        if (cli_parse_double(optarg, 0.0, 1.0, &o->policy_unclear_share) < 0)
          rc = cli_usage_error(cli, cmd, "bad --policy-unclear-share '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_LABELER:
        if (optarg[0] == '\0')
          rc = cli_usage_error(cli, cmd, "empty --labeler");
        else if (add_labeler(o, optarg) < 0)
          rc = cli_usage_error(cli, cmd, "out of memory");
        break;
      case OPT_ACCURACY:
        have_accuracy = 1;
        if (cli_parse_double(optarg, 0.0, 1.0, &accuracy) < 0)
          rc = cli_usage_error(cli, cmd, "bad --accuracy '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_ACCURACIES: accuracies = optarg; break;
      case OPT_TASKS:
        if (cli_parse_u64(optarg, 1, UINT64_MAX, &o->tasks) < 0)
          rc = cli_usage_error(cli, cmd, "bad --tasks '%s' (a positive integer)", optarg);
        break;
      case OPT_DURATION:
        if (cli_parse_double(optarg, 0.001, 1e7, &o->duration_s) < 0)
          rc = cli_usage_error(cli, cmd, "bad --duration '%s' (seconds)", optarg);
        break;
      case OPT_SEED:
        if (cli_parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0)
          rc = cli_usage_error(cli, cmd, "bad --seed '%s' (a non-negative integer)", optarg);
        break;
      case OPT_CREATE: o->create_labelers = 1; break;
      case OPT_MARKETS:
        cli_list_free(&o->markets, &o->market_count);
        if (cli_split_list(optarg, &o->markets, &o->market_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --markets '%s' (comma-separated, no empty names)", optarg);
        break;
      case OPT_GENERATE:
        o->generate = 1;
        if (cli_parse_u64(optarg, 0, UINT64_MAX, &o->generate_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --generate '%s' (a number of items)", optarg);
        break;
      case OPT_EMERGENCY:
        if (cli_parse_double(optarg, 0.0, 1.0, &o->emergency_share) < 0)
          rc = cli_usage_error(cli, cmd, "bad --emergency-share '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_HINT_SHARE:
        if (cli_parse_double(optarg, 0.0, 1.0, &o->hint_share) < 0)
          rc = cli_usage_error(cli, cmd, "bad --hint-share '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_LABELS:
        cli_list_free(&o->labels, &o->label_count);
        if (cli_split_list(optarg, &o->labels, &o->label_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --labels '%s' (comma-separated, no empty names)", optarg);
        break;
      case OPT_ID_PREFIX: o->id_prefix = optarg; break;
      default: rc = cli_common_option(cli, cmd, simulate_help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc == CLI_PARSED && n_labelers && o->labeler_count)
    rc = cli_usage_error(cli, cmd, "use either --labelers N or --labeler ID, not both");
  if (rc == CLI_PARSED && have_accuracy && accuracies)
    rc = cli_usage_error(cli, cmd, "use either --accuracy or --accuracies, not both");
  if (rc == CLI_PARSED) rc = simulate_finish(cli, o, n_labelers, accuracy, accuracies, n_auditors, n_leads);
  if (rc != CLI_PARSED) simulate_opts_free(o);
  return rc;
}

/* ------------------------------------------------------------ randomness */

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double rng_double(uint64_t *state) { return (double)(rng_next(state) >> 11) * 0x1.0p-53; }

static size_t rng_below(uint64_t *state, size_t n) {
  size_t k = (size_t)(rng_double(state) * (double)n);
  return k < n ? k : n - 1;
}

/* ------------------------------------------------------------ --generate */

static int generate(cli_t *cli, simulate_opts_t *o) {
  if (o->label_count == 0 || o->market_count == 0) {
    int rc = cli_connect(cli);
    if (rc != 0) return rc;
    tally_project_t *p = NULL;
    rc = tally_project_show(cli->client, o->project, &p);
    if (rc < 0) return cli_fail(cli, "simulate --generate", rc);
    if (o->label_count == 0) {
      for (size_t i = 0; i < p->label_count; i++) {
        char **l = realloc(o->labels, (o->label_count + 1) * sizeof *l);
        if (l == NULL || (l[o->label_count] = strdup(p->labels[i])) == NULL) {
          if (l) o->labels = l;
          tally_free(p);
          return CLI_EXIT_FAILURE;
        }
        o->labels = l;
        o->label_count++;
      }
    }
    if (o->market_count == 0) {
      for (size_t i = 0; i < p->market_count; i++) {
        char **m = realloc(o->markets, (o->market_count + 1) * sizeof *m);
        if (m == NULL || (m[o->market_count] = strdup(p->markets[i])) == NULL) {
          if (m) o->markets = m;
          tally_free(p);
          return CLI_EXIT_FAILURE;
        }
        o->markets = m;
        o->market_count++;
      }
    }
    tally_free(p);
  }
  if (o->label_count == 0 || o->market_count == 0) {
    fprintf(cli->err, "tally: simulate --generate: the project has no labels or no markets\n");
    return CLI_EXIT_FAILURE;
  }
  /* Skewed truth: label i has weight 1/(i+1), as real queues are. */
  double total = 0;
  for (size_t i = 0; i < o->label_count; i++) total += 1.0 / (double)(i + 1);
  uint64_t rng = o->seed;
  /* Hints draw from their own stream, so the rest stays what it was. */
  uint64_t hint_rng = o->seed ^ 0x9e3779b97f4a7c15ull;
  for (uint64_t n = 1; n <= o->generate_count; n++) {
    double pick = rng_double(&rng) * total;
    size_t truth = 0;
    while (truth + 1 < o->label_count && (pick -= 1.0 / (double)(truth + 1)) > 0) truth++;
    const char *market = o->markets[rng_below(&rng, o->market_count)];
    double p = rng_double(&rng);
    const char *priority = p < o->emergency_share ? "emergency"
                           : p < o->emergency_share + 0.1 ? "high"
                           : p < o->emergency_share + 0.2 ? "low"
                                                          : "normal";
    char id[256], text[64];
    snprintf(id, sizeof id, "%s%08llu", o->id_prefix, (unsigned long long)n);
    snprintf(text, sizeof text, "simulated item %llu", (unsigned long long)n);
    json_t *line = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", id, "market", market, "priority", priority,
                             "content", "sim_truth", o->labels[truth], "text", text);
    if (line != NULL && rng_double(&hint_rng) < o->hint_share)
      json_object_set_new(line, "category_hint", json_string(o->labels[truth]));
    if (line == NULL || json_dumpf(line, cli->out, JSON_COMPACT) < 0) {
      json_decref(line);
      fprintf(cli->err, "tally: simulate --generate: write failed\n");
      return CLI_EXIT_FAILURE;
    }
    json_decref(line);
    fputc('\n', cli->out);
  }
  return fflush(cli->out) == 0 && !ferror(cli->out) ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ------------------------------------------------------------ the crowd */

typedef enum { SIM_IDLE, SIM_LEASING, SIM_SUBMITTING } sim_state_t;

/* One simulated person; `stage` is what their role works on. */
typedef struct {
  const char *id;
  tally_stage_t stage; /* LABEL: labeler, AUDIT: auditor, ADJUDICATE: lead */
  double accuracy;     /* 1 for leads: they give the truth */
  sim_state_t state;
  uint64_t next_ms; /* idle until */
  size_t misses;    /* empty lease replies in a row */
  /* the task being submitted */
  int known, agrees;
  char *item_id;
  int pick; /* label index */
  tally_attribution_t attribution;
  int attributable;
  /* what they did */
  uint64_t tasks, with_truth, agreed;
  uint64_t attributed[TALLY_ATTRIBUTION_POLICY_UNCLEAR + 1], unattributable;
} sim_person_t;

typedef struct {
  cli_t *cli;
  simulate_opts_t *o;
  tally_async_t *async;
  sim_person_t *people; /* interleaved: labeler, auditor, lead, labeler, ... */
  size_t count;
  size_t cursor;  /* who is asked first in the next round */
  size_t workers; /* workers up: empty replies in a row before backing off */
  sim_ledger_t *ledger; /* with leads: who said what, per item */
  uint64_t rng;
  uint64_t start_ms, last_task_ms;
  int last_lease_failed; /* the latest lease reply was an error, not "no task" */
  uint64_t submitted[3]; /* per stage */
  uint64_t busy, label_busy, leases, empty_leases, errors;
  int draining;
  const char *stopped;
  int fatal, last_error;
  char fatal_message[640], last_error_message[512];
} sim_t;

static const char *role_of(tally_stage_t stage) {
  return stage == TALLY_STAGE_AUDIT ? "auditor" : stage == TALLY_STAGE_ADJUDICATE ? "lead" : "labeler";
}

/* Index of `label` in the task's taxonomy, or -1. */
static int label_index(const tally_task_t *task, const char *label) {
  for (size_t i = 0; label && i < task->label_count; i++)
    if (strcmp(task->labels[i], label) == 0) return (int)i;
  return -1;
}

/* The true label of a task, if its content says (and it is a label). */
static int task_truth(const tally_task_t *task, size_t *truth) {
  json_t *content = json_loads(task->content, 0, NULL);
  int i = label_index(task, json_string_value(json_object_get(content, "sim_truth")));
  json_decref(content);
  if (i < 0) return 0;
  *truth = (size_t)i;
  return 1;
}

static void sim_fatal(sim_t *s, const sim_person_t *p, int code, const char *message) {
  if (s->fatal) return;
  s->fatal = code;
  snprintf(s->fatal_message, sizeof s->fatal_message, "%s %s: %s", role_of(p->stage), p->id, message);
  s->draining = 1;
  s->stopped = "error";
}

static int labels_done(const sim_t *s) { return s->o->tasks && s->submitted[TALLY_STAGE_LABEL] >= s->o->tasks; }

/* A labeler's or auditor's answer: the truth with their accuracy. */
static void pick_label(sim_t *s, sim_person_t *p, const tally_task_t *task) {
  size_t truth = 0;
  p->known = task_truth(task, &truth);
  if (!p->known)
    p->pick = (int)rng_below(&s->rng, task->label_count);
  else if (task->label_count == 1 || rng_double(&s->rng) < p->accuracy)
    p->pick = (int)truth;
  else
    p->pick = (int)((truth + 1 + rng_below(&s->rng, task->label_count - 1)) % task->label_count);
  p->agrees = p->known && (size_t)p->pick == truth;
}

/* A lead's verdict: the truth, and who was wrong. */
static void pick_verdict(sim_t *s, sim_person_t *p, const tally_task_t *task) {
  size_t truth = 0;
  int a = task->candidate_count > 0 ? label_index(task, task->candidates[0]) : -1;
  int b = task->candidate_count > 1 ? label_index(task, task->candidates[1]) : -1;
  double u = rng_double(&s->rng);
  p->known = task_truth(task, &truth);
  if (!p->known) { /* nothing to judge by */
    p->pick = a >= 0 ? a : (int)rng_below(&s->rng, task->label_count);
    p->attribution = TALLY_ATTRIBUTION_POLICY_UNCLEAR;
    p->attributable = 0;
    p->agrees = 0;
    return;
  }
  sim_provenance_t prov;
  int have = sim_ledger_get(s->ledger, task->item_id, &prov);
  p->pick = (int)truth;
  p->agrees = 1;
  p->attribution = sim_attribute(have ? &prov : NULL, (int)truth, a, b, u, s->o->policy_unclear_share,
                                 &p->attributable);
}

static void sim_on_lease(sim_t *s, sim_person_t *p, const tally_completion_t *c, uint64_t now) {
  s->busy--;
  s->label_busy -= p->stage == TALLY_STAGE_LABEL;
  p->state = SIM_IDLE;
  s->last_lease_failed = c->status < 0;
  if (c->status < 0) {
    if (!tally_error_is_retryable(c->status)) {
      sim_fatal(s, p, c->status, c->error);
      return;
    }
    s->errors++;
    p->next_ms = now + SIM_BACKOFF_MS;
    snprintf(s->last_error_message, sizeof s->last_error_message, "%s %s: %s", role_of(p->stage), p->id, c->error);
    s->last_error = c->status;
    return;
  }
  if (!c->has_task) {
    s->empty_leases++;
    if (++p->misses >= s->workers) {
      p->misses = 0;
      p->next_ms = now + SIM_BACKOFF_MS;
    }
    return;
  }
  const tally_task_t *task = &c->task;
  p->misses = 0;
  s->last_task_ms = now;
  free(p->item_id);
  p->item_id = NULL;
  if (s->draining || task->label_count == 0 || (p->item_id = strdup(task->item_id)) == NULL) {
    tally_async_release(s->async, p->id, task->slot, task->lease_id, NULL);
    return;
  }
  uint32_t handling_ms = (uint32_t)(2000 + rng_below(&s->rng, 28000));
  int rc;
  if (p->stage == TALLY_STAGE_ADJUDICATE) {
    pick_verdict(s, p, task);
    /* Only "policy unclear" is the lead's to say; the worker derives the rest. */
    tally_attribution_t said =
        p->attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR ? TALLY_ATTRIBUTION_POLICY_UNCLEAR : TALLY_ATTRIBUTION_NONE;
    rc = tally_async_submit_adjudication(s->async, p->id, task->slot, task->lease_id, task->labels[p->pick], said,
                                         "simulated", handling_ms, p);
  } else {
    pick_label(s, p, task);
    rc = tally_async_submit(s->async, p->id, task->slot, task->lease_id, task->labels[p->pick], handling_ms, p);
  }
  if (rc < 0) {
    s->errors++;
    p->next_ms = now + SIM_BACKOFF_MS;
    return;
  }
  p->state = SIM_SUBMITTING;
  s->busy++;
  s->label_busy += p->stage == TALLY_STAGE_LABEL;
}

/* What the leads will need: who said what about the item. */
static void sim_remember(sim_t *s, const sim_person_t *p) {
  if (s->ledger == NULL || p->item_id == NULL) return;
  int rc = 0;
  if (p->stage == TALLY_STAGE_LABEL) rc = sim_ledger_add_label(s->ledger, p->item_id, p->pick);
  if (p->stage == TALLY_STAGE_AUDIT) rc = sim_ledger_set_audit(s->ledger, p->item_id, p->pick);
  if (rc < 0) s->errors++; /* out of memory: the lead will not know this item */
}

static void sim_on_submit(sim_t *s, sim_person_t *p, const tally_completion_t *c) {
  s->busy--;
  s->label_busy -= p->stage == TALLY_STAGE_LABEL;
  p->state = SIM_IDLE;
  if (c->status < 0) {
    s->errors++; /* e.g. the lease expired meanwhile: the task goes back to the queue */
    return;
  }
  p->tasks++;
  p->with_truth += (uint64_t)p->known;
  p->agreed += (uint64_t)p->agrees;
  s->submitted[p->stage]++;
  if (p->stage == TALLY_STAGE_ADJUDICATE) {
    p->attributed[p->attribution]++;
    p->unattributable += !p->attributable;
  } else {
    sim_remember(s, p);
  }
}

/* Everyone idle gets a lease request, starting one further each round so
 * nobody is always first. */
static void sim_issue(sim_t *s, uint64_t now) {
  s->cursor = s->count ? (s->cursor + 1) % s->count : 0;
  for (size_t k = 0; k < s->count && !s->draining; k++) {
    sim_person_t *p = &s->people[(s->cursor + k) % s->count];
    if (p->state != SIM_IDLE || now < p->next_ms) continue;
    if (p->stage == TALLY_STAGE_LABEL && s->o->tasks && s->submitted[TALLY_STAGE_LABEL] + s->label_busy >= s->o->tasks)
      continue;
    int rc = tally_async_lease(s->async, p->id, s->o->project, p->stage, 0, p);
    if (rc < 0) {
      if (!tally_error_is_retryable(rc)) {
        sim_fatal(s, p, rc, tally_last_error(s->cli->client));
        return;
      }
      s->errors++;
      s->last_lease_failed = 1;
      s->last_error = rc;
      snprintf(s->last_error_message, sizeof s->last_error_message, "%s %s: %s", role_of(p->stage), p->id,
               tally_last_error(s->cli->client));
      p->next_ms = now + SIM_BACKOFF_MS;
      continue;
    }
    p->state = SIM_LEASING;
    s->busy++;
    s->label_busy += p->stage == TALLY_STAGE_LABEL;
    s->leases++;
  }
}

static void sim_check_stop(sim_t *s, uint64_t now) {
  if (s->draining) return;
  /* Without auditors and leads, --tasks ends the run; with them, they
   * finish what the labels started (the run ends when all is idle). */
  int only_labelers = s->o->auditor_count == 0 && s->o->lead_count == 0;
  if (labels_done(s) && only_labelers)
    s->stopped = "tasks";
  else if (s->o->duration_s > 0 && (double)(now - s->start_ms) >= s->o->duration_s * 1000.0)
    s->stopped = "duration";
  else if (now - s->last_task_ms >= SIM_IDLE_STOP_MS && !s->last_lease_failed)
    s->stopped = labels_done(s) ? "tasks" : "idle";
  else if (now - s->last_task_ms >= SIM_FAIL_STOP_MS) {
    s->stopped = "error";
    s->fatal = s->last_error ? s->last_error : TALLY_E_UNAVAILABLE;
    snprintf(s->fatal_message, sizeof s->fatal_message, "no task for %u s; last failure: %s", SIM_FAIL_STOP_MS / 1000,
             s->last_error_message);
  } else
    return;
  s->draining = 1;
}

static int sim_loop(sim_t *s) {
  tally_completion_t done[SIM_POLL_BATCH];
  uint64_t drain_deadline = 0;
  for (;;) {
    uint64_t now = clock_monotonic_ms();
    sim_check_stop(s, now);
    if (s->draining) {
      if (drain_deadline == 0) drain_deadline = now + (uint64_t)s->cli->timeout_ms + 1000;
      if (tally_async_in_flight(s->async) == 0 || now >= drain_deadline) return 0;
    } else {
      sim_issue(s, now);
    }
    if (tally_async_in_flight(s->async) == 0) {
      /* Everyone is backing off: sleep instead of spinning. */
      struct timespec nap = {0, 5 * 1000000L};
      nanosleep(&nap, NULL);
      continue;
    }
    int n = tally_async_poll(s->async, 10, done, SIM_POLL_BATCH);
    if (n < 0) return n;
    now = clock_monotonic_ms();
    for (int i = 0; i < n; i++) {
      sim_person_t *p = done[i].tag;
      if (p == NULL) continue; /* a release */
      if (done[i].op == TALLY_OP_LEASE)
        sim_on_lease(s, p, &done[i], now);
      else if (done[i].op == TALLY_OP_SUBMIT)
        sim_on_submit(s, p, &done[i]);
    }
  }
}

static int create_people(cli_t *cli, simulate_opts_t *o) {
  const char **markets = (const char **)o->markets;
  size_t market_count = o->market_count;
  tally_project_t *p = NULL;
  if (market_count == 0) {
    int rc = tally_project_show(cli->client, o->project, &p);
    if (rc < 0) return cli_fail(cli, "simulate: project show", rc);
    markets = p->markets;
    market_count = p->market_count;
  }
  const struct {
    char **ids;
    size_t count;
    tally_role_t role;
  } groups[] = {{o->labelers, o->labeler_count, TALLY_ROLE_LABELER},
                {o->auditors, o->auditor_count, TALLY_ROLE_AUDITOR},
                {o->leads, o->lead_count, TALLY_ROLE_LEAD}};
  int exit_code = CLI_EXIT_OK;
  for (size_t g = 0; g < 3; g++) {
    for (size_t i = 0; i < groups[g].count && exit_code == CLI_EXIT_OK; i++) {
      tally_labeler_t spec = {groups[g].ids[i], (uint32_t)groups[g].role, markets, market_count, NULL};
      int rc = tally_labeler_add(cli->client, &spec, NULL);
      if (rc < 0 && rc != TALLY_E_ALREADY_EXISTS) exit_code = cli_fail(cli, "simulate: labeler add", rc);
    }
  }
  tally_free(p);
  return exit_code;
}

/* The people, interleaved by role so that no role waits behind another. */
static sim_person_t *people_new(const simulate_opts_t *o, size_t *count) {
  size_t n = o->labeler_count + o->auditor_count + o->lead_count;
  sim_person_t *people = calloc(n ? n : 1, sizeof *people);
  if (people == NULL) return NULL;
  size_t k = 0;
  for (size_t i = 0; k < n; i++) {
    if (i < o->labeler_count)
      people[k++] = (sim_person_t){.id = o->labelers[i], .stage = TALLY_STAGE_LABEL, .accuracy = o->accuracies[i]};
    if (i < o->auditor_count)
      people[k++] =
          (sim_person_t){.id = o->auditors[i], .stage = TALLY_STAGE_AUDIT, .accuracy = o->auditor_accuracy};
    if (i < o->lead_count)
      people[k++] = (sim_person_t){.id = o->leads[i], .stage = TALLY_STAGE_ADJUDICATE, .accuracy = 1.0};
  }
  *count = n;
  return people;
}

static void people_free(sim_person_t *people, size_t count) {
  for (size_t i = 0; people && i < count; i++) free(people[i].item_id);
  free(people);
}

/* ------------------------------------------------------------ results */

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }

/* Sums of one role. */
typedef struct {
  uint64_t people, tasks, with_truth, agreed;
  uint64_t attributed[TALLY_ATTRIBUTION_POLICY_UNCLEAR + 1], unattributable;
} sim_totals_t;

static sim_totals_t role_totals(const sim_t *s, tally_stage_t stage) {
  sim_totals_t t = {0};
  for (size_t i = 0; i < s->count; i++) {
    const sim_person_t *p = &s->people[i];
    if (p->stage != stage) continue;
    t.people++;
    t.tasks += p->tasks;
    t.with_truth += p->with_truth;
    t.agreed += p->agreed;
    for (int a = 0; a <= TALLY_ATTRIBUTION_POLICY_UNCLEAR; a++) t.attributed[a] += p->attributed[a];
    t.unattributable += p->unattributable;
  }
  return t;
}

static json_t *agreement_json(uint64_t agreed, uint64_t with_truth) {
  return with_truth ? json_real(ratio(agreed, with_truth)) : json_null();
}

static json_t *attributions_json(const uint64_t *attributed, uint64_t unattributable) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I}", "labeler", (json_int_t)attributed[TALLY_ATTRIBUTION_LABELER],
                   "auditor", (json_int_t)attributed[TALLY_ATTRIBUTION_AUDITOR], "both",
                   (json_int_t)attributed[TALLY_ATTRIBUTION_BOTH], "policy_unclear",
                   (json_int_t)attributed[TALLY_ATTRIBUTION_POLICY_UNCLEAR], "unattributable",
                   (json_int_t)unattributable);
}

static json_t *person_json(const sim_person_t *p) {
  json_t *doc = json_pack("{s:s, s:s, s:I, s:f, s:o, s:I}", "id", p->id, "role", role_of(p->stage), "tasks",
                          (json_int_t)p->tasks, "accuracy", p->accuracy, "agreement",
                          agreement_json(p->agreed, p->with_truth), "with_truth", (json_int_t)p->with_truth);
  if (doc && p->stage == TALLY_STAGE_ADJUDICATE)
    json_object_set_new(doc, "attributions", attributions_json(p->attributed, p->unattributable));
  return doc;
}

static int print_json(sim_t *s, double elapsed_s, double rate) {
  json_t *groups[3] = {json_array(), json_array(), json_array()};
  for (size_t i = 0; i < s->count; i++) json_array_append_new(groups[s->people[i].stage], person_json(&s->people[i]));
  sim_totals_t lab = role_totals(s, TALLY_STAGE_LABEL), aud = role_totals(s, TALLY_STAGE_AUDIT),
               lead = role_totals(s, TALLY_STAGE_ADJUDICATE);
  json_t *total = json_pack("{s:I, s:I, s:o, s:I, s:o, s:I, s:o, s:f, s:f, s:I, s:I, s:I}", "tasks",
                            (json_int_t)lab.tasks, "with_truth", (json_int_t)lab.with_truth, "agreement",
                            agreement_json(lab.agreed, lab.with_truth), "audits", (json_int_t)aud.tasks,
                            "audit_agreement", agreement_json(aud.agreed, aud.with_truth), "adjudications",
                            (json_int_t)lead.tasks, "attributions",
                            attributions_json(lead.attributed, lead.unattributable), "elapsed_s", elapsed_s,
                            "rate_per_s", rate, "leases", (json_int_t)s->leases, "empty_leases",
                            (json_int_t)s->empty_leases, "errors", (json_int_t)s->errors);
  return output_json(json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "project", s->o->project, "stopped", s->stopped,
                               "labelers", groups[0], "auditors", groups[1], "leads", groups[2], "total", total),
                     s->cli->out);
}

static void table_row(output_table_t *t, int csv, const char *who, const char *role, uint64_t tasks,
                      const double *accuracy, uint64_t agreed, uint64_t with_truth) {
  output_table_cell(t, who);
  output_table_cell(t, role);
  output_table_cellf(t, "%llu", (unsigned long long)tasks);
  if (accuracy)
    output_table_cellf(t, "%.3f", *accuracy);
  else
    output_table_cell(t, "");
  if (with_truth)
    output_table_cellf(t, "%.3f", ratio(agreed, with_truth));
  else
    output_table_cell(t, csv ? "" : "-");
  output_table_cellf(t, "%llu", (unsigned long long)with_truth);
}

static int print_results(sim_t *s, double elapsed_s) {
  cli_t *cli = s->cli;
  uint64_t all = s->submitted[0] + s->submitted[1] + s->submitted[2];
  double rate = elapsed_s > 0 ? (double)all / elapsed_s : 0;
  if (cli->format == OUTPUT_JSON) return print_json(s, elapsed_s, rate);
  static const char *const headers[] = {"PERSON", "ROLE", "TASKS", "ACCURACY", "AGREEMENT", "WITH_TRUTH"};
  static const char *const csv_headers[] = {"person", "role", "tasks", "accuracy", "agreement", "with_truth"};
  int csv = cli->format == OUTPUT_CSV;
  output_table_t *t = output_table_new(6, csv ? csv_headers : headers);
  if (t == NULL) return -1;
  for (int stage = 0; stage < 3; stage++) {
    for (size_t i = 0; i < s->count; i++) {
      const sim_person_t *p = &s->people[i];
      if ((int)p->stage == stage)
        table_row(t, csv, p->id, role_of(p->stage), p->tasks, &p->accuracy, p->agreed, p->with_truth);
    }
  }
  for (int stage = 0; stage < 3; stage++) {
    sim_totals_t r = role_totals(s, (tally_stage_t)stage);
    if (r.people) table_row(t, csv, "total", role_of((tally_stage_t)stage), r.tasks, NULL, r.agreed, r.with_truth);
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  FILE *f = csv ? cli->err : cli->out;
  fprintf(f, "%s%llu labels, %llu audits, %llu adjudications in %.1f s (%.1f tasks/s); %llu leases, %llu empty, "
          "%llu errors; stopped: %s\n",
          csv ? "" : "\n", (unsigned long long)s->submitted[0], (unsigned long long)s->submitted[1],
          (unsigned long long)s->submitted[2], elapsed_s, rate, (unsigned long long)s->leases,
          (unsigned long long)s->empty_leases, (unsigned long long)s->errors, s->stopped);
  sim_totals_t lead = role_totals(s, TALLY_STAGE_ADJUDICATE);
  if (lead.people)
    fprintf(f, "attributions: labeler %llu, auditor %llu, both %llu, policy-unclear %llu (%llu of them "
            "unattributable: labels from outside this run)\n",
            (unsigned long long)lead.attributed[TALLY_ATTRIBUTION_LABELER],
            (unsigned long long)lead.attributed[TALLY_ATTRIBUTION_AUDITOR],
            (unsigned long long)lead.attributed[TALLY_ATTRIBUTION_BOTH],
            (unsigned long long)lead.attributed[TALLY_ATTRIBUTION_POLICY_UNCLEAR],
            (unsigned long long)lead.unattributable);
  return rc;
}

static int run_crowd(cli_t *cli, simulate_opts_t *o) {
  int rc = cli_connect(cli);
  if (rc != 0) return rc;
  if (o->create_labelers && (rc = create_people(cli, o)) != CLI_EXIT_OK) return rc;
  tally_map_t *map = NULL;
  rc = tally_cluster_map(cli->client, &map);
  if (rc < 0) return cli_fail(cli, "simulate", rc);
  /* Leases go round the live workers that own slots: that many empty
   * replies in a row mean "nothing anywhere" (see tally_async_lease). */
  size_t up = 0, owning = 0;
  for (size_t i = 0; i < map->worker_count; i++) {
    up += map->workers[i].state != TALLY_WORKER_DOWN;
    owning += map->workers[i].state != TALLY_WORKER_DOWN && map->workers[i].slots_owned > 0;
  }
  if (owning) up = owning;
  tally_free(map);
  sim_t s = {.cli = cli, .o = o, .workers = up ? up : 1, .rng = o->seed};
  s.people = people_new(o, &s.count);
  if (o->lead_count) s.ledger = sim_ledger_new();
  if (s.people == NULL || (o->lead_count && s.ledger == NULL)) {
    people_free(s.people, s.count);
    sim_ledger_destroy(&s.ledger);
    fputs("tally: simulate: out of memory (NOMEM)\n", cli->err);
    return CLI_EXIT_FAILURE;
  }
  rc = tally_async_new(&s.async, cli->client);
  if (rc < 0) {
    people_free(s.people, s.count);
    sim_ledger_destroy(&s.ledger);
    return cli_fail(cli, "simulate", rc);
  }
  s.start_ms = s.last_task_ms = clock_monotonic_ms();
  rc = sim_loop(&s);
  double elapsed = (double)(clock_monotonic_ms() - s.start_ms) / 1000.0;
  tally_async_destroy(&s.async);
  int exit_code = CLI_EXIT_OK;
  if (rc < 0) {
    exit_code = cli_fail(cli, "simulate", rc);
  } else {
    if (print_results(&s, elapsed) < 0) exit_code = CLI_EXIT_FAILURE;
    if (s.fatal) {
      fprintf(cli->err, "tally: simulate: %s (%s)\n", s.fatal_message, tally_error_name(s.fatal));
      exit_code = CLI_EXIT_FAILURE;
    }
  }
  people_free(s.people, s.count);
  sim_ledger_destroy(&s.ledger);
  return exit_code;
}

int cmd_simulate(cli_t *cli, int argc, char **argv) {
  simulate_opts_t o;
  int rc = simulate_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  rc = o.generate ? generate(cli, &o) : run_crowd(cli, &o);
  simulate_opts_free(&o);
  return rc;
}
