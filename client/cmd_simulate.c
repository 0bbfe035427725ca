/* cmd_simulate: `tally simulate` — a crowd of simulated labelers working a
 * project through the asynchronous interface (many requests in flight, one
 * connection per worker), or, with --generate, test items with a hidden
 * true label for them to find.
 *
 * A simulated labeler of accuracy A picks the item's true label with
 * probability A, else a uniformly random other label. The truth is the
 * "sim_truth" string of the item's content when the content is a JSON
 * object that has one (what --generate writes); otherwise the labeler picks
 * uniformly and its agreement is not measured.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cli.h"

#define SIM_DEFAULT_LABELERS 5u
#define SIM_DEFAULT_ACCURACY 0.9
#define SIM_IDLE_STOP_MS 2000u  /* stop when no task came for this long */
#define SIM_FAIL_STOP_MS 10000u /* ... or, while leases fail, this long */
#define SIM_BACKOFF_MS 100u     /* a labeler that found nothing anywhere waits this long */
#define SIM_POLL_BATCH 256

static const char simulate_help[] =
    "Usage: tally simulate --project P [--labelers N | --labeler ID ...]\n"
    "                      [--accuracy A | --accuracies a1,a2,...] [--tasks N]\n"
    "                      [--duration SECONDS] [--seed S] [--create-labelers]\n"
    "                      [--markets es,ja]\n"
    "       tally simulate --generate N --project P [--markets es,ja] [--labels a,b,c]\n"
    "                      [--emergency-share R] [--seed S] [--id-prefix PREFIX]\n\n"
    "Runs simulated labelers against PROJECT, interleaved, each leasing and\n"
    "submitting in turn. A labeler of accuracy A gives the item's true label\n"
    "(the \"sim_truth\" field of JSON object content) with probability A, else a\n"
    "random other label; without a truth it picks uniformly. Stops after --tasks\n"
    "labels, after --duration, or when no task came for 2 seconds, then prints\n"
    "per labeler: tasks done, configured accuracy, agreement with the truth;\n"
    "and totals with the rate.\n\n"
    "Options:\n"
    "  --project P          the project (required)\n"
    "  --labelers N         N labelers named sim-001, sim-002, ... (default 5)\n"
    "  --labeler ID         a labeler to simulate (repeatable; instead of --labelers)\n"
    "  --accuracy A         accuracy of every labeler, 0..1 (default 0.9)\n"
    "  --accuracies LIST    one accuracy per labeler, in order\n"
    "  --tasks N            stop after N submitted labels\n"
    "  --duration SECONDS   stop after this long\n"
    "  --seed S             random seed (default 1)\n"
    "  --create-labelers    add the labelers first (role labeler, the project's\n"
    "                       markets or --markets); existing ones are kept\n"
    "  --markets LIST       markets for --create-labelers / --generate\n\n"
    "With --generate N, writes N JSON Lines items for `tally ingest` to stdout\n"
    "instead: ids PREFIX00000001.. (default prefix \"item-\"), markets drawn from\n"
    "--markets, content {\"sim_truth\": LABEL, \"text\": ...} with labels from\n"
    "--labels (default: the project's taxonomy, fetched from the coordinator).\n"
    "  --emergency-share R  share of emergency-priority items (default 0.02)\n";

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
  OPT_ID_PREFIX
};

void simulate_opts_free(simulate_opts_t *o) {
  cli_list_free(&o->labelers, &o->labeler_count);
  cli_list_free(&o->markets, &o->market_count);
  cli_list_free(&o->labels, &o->label_count);
  free(o->accuracies);
  o->accuracies = NULL;
}

static int add_labeler(simulate_opts_t *o, const char *id) {
  char **list = realloc(o->labelers, (o->labeler_count + 1) * sizeof *list);
  if (list == NULL) return -1;
  o->labelers = list;
  if ((list[o->labeler_count] = strdup(id)) == NULL) return -1;
  o->labeler_count++;
  return 0;
}

/* After option parsing: labeler ids and one accuracy each. */
static int simulate_finish(cli_t *cli, simulate_opts_t *o, uint64_t n_labelers, double accuracy,
                           const char *accuracies) {
  static const char *cmd = "simulate";
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  if (o->generate) return CLI_PARSED;
  if (o->labeler_count == 0) {
    for (uint64_t i = 1; i <= (n_labelers ? n_labelers : SIM_DEFAULT_LABELERS); i++) {
      char id[32];
      snprintf(id, sizeof id, "sim-%03llu", (unsigned long long)i);
      if (add_labeler(o, id) < 0) return cli_usage_error(cli, cmd, "out of memory");
    }
  }
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
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "simulate";
  memset(o, 0, sizeof *o);
  o->seed = 1;
  o->emergency_share = 0.02;
  o->id_prefix = "item-";
  uint64_t n_labelers = 0;
  double accuracy = SIM_DEFAULT_ACCURACY;
  const char *accuracies = NULL;
  int have_accuracy = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_LABELERS:
        if (cli_parse_u64(optarg, 1, 100000, &n_labelers) < 0)
          rc = cli_usage_error(cli, cmd, "bad --labelers '%s' (1..100000)", optarg);
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
  if (rc == CLI_PARSED) rc = simulate_finish(cli, o, n_labelers, accuracy, accuracies);
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

typedef struct {
  const char *id;
  double accuracy;
  sim_state_t state;
  uint64_t next_ms; /* idle until */
  size_t misses;    /* empty lease replies in a row */
  int known, agrees; /* of the label being submitted */
  uint64_t tasks, with_truth, agreed;
} sim_labeler_t;

typedef struct {
  cli_t *cli;
  simulate_opts_t *o;
  tally_async_t *async;
  sim_labeler_t *labelers;
  size_t count;
  size_t workers; /* workers up: empty replies in a row before backing off */
  uint64_t rng;
  uint64_t start_ms, last_task_ms;
  int last_lease_failed; /* the latest lease reply was an error, not "no task" */
  uint64_t submitted, busy, leases, empty_leases, errors;
  int draining;
  const char *stopped;
  int fatal, last_error;
  char fatal_message[640], last_error_message[512];
} sim_t;

/* The true label of a task, if its content says (and it is a label). */
static int task_truth(const tally_task_t *task, size_t *truth) {
  json_t *content = json_loads(task->content, 0, NULL);
  const char *label = json_string_value(json_object_get(content, "sim_truth"));
  int found = 0;
  for (size_t i = 0; label && i < task->label_count && !found; i++) {
    if (strcmp(task->labels[i], label) == 0) {
      *truth = i;
      found = 1;
    }
  }
  json_decref(content);
  return found;
}

static void sim_fatal(sim_t *s, const sim_labeler_t *l, int code, const char *message) {
  if (s->fatal) return;
  s->fatal = code;
  snprintf(s->fatal_message, sizeof s->fatal_message, "labeler %s: %s", l->id, message);
  s->draining = 1;
  s->stopped = "error";
}

static void sim_on_lease(sim_t *s, sim_labeler_t *l, const tally_completion_t *c, uint64_t now) {
  s->busy--;
  l->state = SIM_IDLE;
  s->last_lease_failed = c->status < 0;
  if (c->status < 0) {
    if (!tally_error_is_retryable(c->status)) {
      sim_fatal(s, l, c->status, c->error);
      return;
    }
    s->errors++;
    l->next_ms = now + SIM_BACKOFF_MS;
    snprintf(s->last_error_message, sizeof s->last_error_message, "labeler %s: %s", l->id, c->error);
    s->last_error = c->status;
    return;
  }
  if (!c->has_task) {
    s->empty_leases++;
    if (++l->misses >= s->workers) {
      l->misses = 0;
      l->next_ms = now + SIM_BACKOFF_MS;
    }
    return;
  }
  const tally_task_t *task = &c->task;
  l->misses = 0;
  s->last_task_ms = now;
  if (s->draining || task->label_count == 0) {
    tally_async_release(s->async, l->id, task->slot, task->lease_id, NULL);
    return;
  }
  size_t truth = 0, pick;
  l->known = task_truth(task, &truth);
  if (!l->known)
    pick = rng_below(&s->rng, task->label_count);
  else if (task->label_count == 1 || rng_double(&s->rng) < l->accuracy)
    pick = truth;
  else
    pick = (truth + 1 + rng_below(&s->rng, task->label_count - 1)) % task->label_count;
  l->agrees = l->known && pick == truth;
  uint32_t handling_ms = (uint32_t)(2000 + rng_below(&s->rng, 28000));
  int rc = tally_async_submit(s->async, l->id, task->slot, task->lease_id, task->labels[pick], handling_ms, l);
  if (rc < 0) {
    s->errors++;
    l->next_ms = now + SIM_BACKOFF_MS;
    return;
  }
  l->state = SIM_SUBMITTING;
  s->busy++;
}

static void sim_on_submit(sim_t *s, sim_labeler_t *l, const tally_completion_t *c) {
  s->busy--;
  l->state = SIM_IDLE;
  if (c->status < 0) {
    s->errors++; /* e.g. the lease expired meanwhile: the task goes back to the queue */
    return;
  }
  l->tasks++;
  l->with_truth += (uint64_t)l->known;
  l->agreed += (uint64_t)l->agrees;
  s->submitted++;
}

static void sim_issue(sim_t *s, uint64_t now) {
  for (size_t i = 0; i < s->count && !s->draining; i++) {
    sim_labeler_t *l = &s->labelers[i];
    if (l->state != SIM_IDLE || now < l->next_ms) continue;
    if (s->o->tasks && s->submitted + s->busy >= s->o->tasks) return;
    int rc = tally_async_lease(s->async, l->id, s->o->project, TALLY_STAGE_LABEL, 0, l);
    if (rc < 0) {
      if (!tally_error_is_retryable(rc)) {
        sim_fatal(s, l, rc, tally_last_error(s->cli->client));
        return;
      }
      s->errors++;
      s->last_lease_failed = 1;
      s->last_error = rc;
      snprintf(s->last_error_message, sizeof s->last_error_message, "labeler %s: %s", l->id,
               tally_last_error(s->cli->client));
      l->next_ms = now + SIM_BACKOFF_MS;
      continue;
    }
    l->state = SIM_LEASING;
    s->busy++;
    s->leases++;
  }
}

static void sim_check_stop(sim_t *s, uint64_t now) {
  if (s->draining) return;
  if (s->o->tasks && s->submitted >= s->o->tasks)
    s->stopped = "tasks";
  else if (s->o->duration_s > 0 && (double)(now - s->start_ms) >= s->o->duration_s * 1000.0)
    s->stopped = "duration";
  else if (now - s->last_task_ms >= SIM_IDLE_STOP_MS && !s->last_lease_failed)
    s->stopped = "idle";
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
      sim_labeler_t *l = done[i].tag;
      if (l == NULL) continue; /* a release while draining */
      if (done[i].op == TALLY_OP_LEASE)
        sim_on_lease(s, l, &done[i], now);
      else if (done[i].op == TALLY_OP_SUBMIT)
        sim_on_submit(s, l, &done[i]);
    }
  }
}

static int create_labelers(cli_t *cli, simulate_opts_t *o) {
  const char **markets = (const char **)o->markets;
  size_t market_count = o->market_count;
  tally_project_t *p = NULL;
  if (market_count == 0) {
    int rc = tally_project_show(cli->client, o->project, &p);
    if (rc < 0) return cli_fail(cli, "simulate: project show", rc);
    markets = p->markets;
    market_count = p->market_count;
  }
  int exit_code = CLI_EXIT_OK;
  for (size_t i = 0; i < o->labeler_count && exit_code == CLI_EXIT_OK; i++) {
    tally_labeler_t spec = {o->labelers[i], TALLY_ROLE_LABELER, markets, market_count};
    int rc = tally_labeler_add(cli->client, &spec, NULL);
    if (rc < 0 && rc != TALLY_E_ALREADY_EXISTS) exit_code = cli_fail(cli, "simulate: labeler add", rc);
  }
  tally_free(p);
  return exit_code;
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }

static int print_results(sim_t *s, double elapsed_s) {
  cli_t *cli = s->cli;
  uint64_t with_truth = 0, agreed = 0;
  for (size_t i = 0; i < s->count; i++) with_truth += s->labelers[i].with_truth, agreed += s->labelers[i].agreed;
  double rate = elapsed_s > 0 ? (double)s->submitted / elapsed_s : 0;
  if (cli->format == OUTPUT_JSON) {
    json_t *list = json_array();
    for (size_t i = 0; i < s->count; i++) {
      const sim_labeler_t *l = &s->labelers[i];
      json_array_append_new(list, json_pack("{s:s, s:I, s:f, s:o, s:I}", "id", l->id, "tasks", (json_int_t)l->tasks,
                                            "accuracy", l->accuracy, "agreement",
                                            l->with_truth ? json_real(ratio(l->agreed, l->with_truth)) : json_null(),
                                            "with_truth", (json_int_t)l->with_truth));
    }
    json_t *total = json_pack("{s:I, s:I, s:o, s:f, s:f, s:I, s:I, s:I}", "tasks", (json_int_t)s->submitted,
                              "with_truth", (json_int_t)with_truth, "agreement",
                              with_truth ? json_real(ratio(agreed, with_truth)) : json_null(), "elapsed_s", elapsed_s,
                              "rate_per_s", rate, "leases", (json_int_t)s->leases, "empty_leases",
                              (json_int_t)s->empty_leases, "errors", (json_int_t)s->errors);
    return output_json(json_pack("{s:s, s:s, s:o, s:o}", "project", s->o->project, "stopped", s->stopped, "labelers",
                                 list, "total", total),
                       cli->out);
  }
  static const char *const headers[] = {"LABELER", "TASKS", "ACCURACY", "AGREEMENT", "WITH_TRUTH"};
  static const char *const csv_headers[] = {"labeler", "tasks", "accuracy", "agreement", "with_truth"};
  int csv = cli->format == OUTPUT_CSV;
  output_table_t *t = output_table_new(5, csv ? csv_headers : headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i <= s->count; i++) {
    const sim_labeler_t *l = i < s->count ? &s->labelers[i] : NULL;
    uint64_t tasks = l ? l->tasks : s->submitted, wt = l ? l->with_truth : with_truth, ag = l ? l->agreed : agreed;
    output_table_cell(t, l ? l->id : "total");
    output_table_cellf(t, "%llu", (unsigned long long)tasks);
    if (l)
      output_table_cellf(t, "%.3f", l->accuracy);
    else
      output_table_cell(t, "");
    if (wt)
      output_table_cellf(t, "%.3f", ratio(ag, wt));
    else
      output_table_cell(t, csv ? "" : "-");
    output_table_cellf(t, "%llu", (unsigned long long)wt);
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  FILE *f = csv ? cli->err : cli->out;
  fprintf(f, "%s%llu labels in %.1f s (%.1f labels/s); %llu leases, %llu empty, %llu errors; stopped: %s\n",
          csv ? "" : "\n", (unsigned long long)s->submitted, elapsed_s, rate, (unsigned long long)s->leases,
          (unsigned long long)s->empty_leases, (unsigned long long)s->errors, s->stopped);
  return rc;
}

static int run_crowd(cli_t *cli, simulate_opts_t *o) {
  int rc = cli_connect(cli);
  if (rc != 0) return rc;
  if (o->create_labelers && (rc = create_labelers(cli, o)) != CLI_EXIT_OK) return rc;
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
  sim_t s = {.cli = cli, .o = o, .count = o->labeler_count, .workers = up ? up : 1, .rng = o->seed};
  s.labelers = calloc(s.count, sizeof *s.labelers);
  if (s.labelers == NULL) {
    fputs("tally: simulate: out of memory (NOMEM)\n", cli->err);
    return CLI_EXIT_FAILURE;
  }
  for (size_t i = 0; i < s.count; i++) {
    s.labelers[i].id = o->labelers[i];
    s.labelers[i].accuracy = o->accuracies[i];
  }
  rc = tally_async_new(&s.async, cli->client);
  if (rc < 0) {
    free(s.labelers);
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
  free(s.labelers);
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
