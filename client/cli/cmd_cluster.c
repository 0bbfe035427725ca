/* cmd_cluster: `tally cluster status` (the map and worker health, from the
 * coordinator) and `tally status` (counts summed over the workers). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "curve.h"

static const char cluster_status_help[] =
    "Usage: tally cluster status\n\n"
    "Shows the cluster map: epoch, each worker (id, state, endpoint, slots owned,\n"
    "queued, live leases, items, time since its last heartbeat), how many slots\n"
    "have no owner, how many are unavailable (owned by a worker that is down),\n"
    "and the ownership skew: the most slots an UP worker owns over the mean of\n"
    "the UP workers, draining ones left out (1.00 = even; undefined without UP\n"
    "workers owning slots). A draining worker shows as state \"draining\" until\n"
    "it owns no slot; JSON adds draining, slots_moving and holds_sums.\n"
    "CSV repeats the cluster figures (epoch, skew, unavailable and unassigned\n"
    "slots) on every worker row.\n";

static const char status_help[] =
    "Usage: tally status [--project P]\n\n"
    "Cluster-wide counts (items, labels, done, queued, live and expired leases,\n"
    "skips) summed over the workers, the depth of every (project, market, stage)\n"
    "queue, and each worker's share. Workers that are down or do not answer are\n"
    "listed and reported on stderr; the command still exits 0 with the sums of\n"
    "the others, or 1 if no worker answered.\n\n"
    "Options:\n"
    "  --project P   only this project\n";

static void heartbeat_age(uint64_t last_ms, uint64_t now_ms, char *buf, size_t size) {
  if (last_ms == 0) {
    snprintf(buf, size, "never");
    return;
  }
  char d[32];
  output_duration(now_ms > last_ms ? now_ms - last_ms : 0, d, sizeof d);
  snprintf(buf, size, "%s ago", d);
}

/* Slots owned by a DOWN worker: nobody serves them until it is back. */
static uint32_t map_unavailable_slots(const tally_map_t *map) {
  uint32_t n = 0;
  for (size_t s = 0; map->slot_owner && s < map->slot_count; s++)
    for (size_t i = 0; map->slot_owner[s] != 0 && i < map->worker_count; i++)
      if (map->workers[i].id == map->slot_owner[s]) {
        n += map->workers[i].state == TALLY_WORKER_DOWN;
        break;
      }
  return n;
}

/* Ownership skew: the most slots an UP worker owns over the mean of the UP
 * workers (draining workers left out: they are emptied on purpose). Returns 0 (undefined) when no UP worker owns a slot, else 1. */
static int map_skew(const tally_map_t *map, double *skew) {
  uint64_t total = 0, most = 0, up = 0;
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    if (w->state != TALLY_WORKER_UP || w->draining) continue;
    up++;
    total += w->slots_owned;
    if (w->slots_owned > most) most = w->slots_owned;
  }
  *skew = 0;
  if (total == 0) return 0;
  *skew = (double)most * (double)up / (double)total;
  return 1;
}

static json_t *map_json(const tally_map_t *map, uint64_t now) {
  json_t *workers = json_array();
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    json_t *age = w->last_heartbeat_ms ? json_integer((json_int_t)(now > w->last_heartbeat_ms ? now - w->last_heartbeat_ms : 0))
                                       : json_null();
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)w->id, "state",
                          tally_worker_state_name(w->state), "endpoint", w->endpoint, "slots_owned",
                          (json_int_t)w->slots_owned, "queued", (json_int_t)w->queued, "live_leases",
                          (json_int_t)w->live_leases, "items", (json_int_t)w->items, "last_heartbeat_ms",
                          (json_int_t)w->last_heartbeat_ms, "heartbeat_age_ms", age);
    json_object_set_new(o, "draining", json_boolean(w->draining));
    json_object_set_new(o, "slots_moving", json_integer((json_int_t)w->slots_moving));
    json_object_set_new(o, "holds_sums", json_boolean(w->holds_sums));
    json_array_append_new(workers, o);
  }
  double skew;
  json_t *skew_json = map_skew(map, &skew) ? json_real(skew) : json_null();
  return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "epoch", (json_int_t)map->epoch, "slot_count",
                   (json_int_t)map->slot_count, "unassigned_slots", (json_int_t)map->unassigned_slots,
                   "unavailable_slots", (json_int_t)map_unavailable_slots(map), "skew", skew_json,
                   "config_version", (json_int_t)map->config_version, "workers", workers);
}

static const char *const worker_headers[] = {"ID",          "STATE", "ENDPOINT", "SLOTS",    "QUEUED",
                                             "LIVE_LEASES", "ITEMS", "HEARTBEAT"};
static const char *const worker_csv_headers[] = {"id",          "state",       "endpoint",          "slots_owned",
                                                 "queued",      "live_leases", "items",             "last_heartbeat_ms",
                                                 "epoch",       "skew",        "unavailable_slots", "unassigned_slots"};

static int print_map(cli_t *cli, const tally_map_t *map) {
  uint64_t now = clock_now_ms();
  if (cli->format == OUTPUT_JSON) return output_json(map_json(map, now), cli->out);
  int csv = cli->format == OUTPUT_CSV;
  double skew;
  int skew_defined = map_skew(map, &skew);
  uint32_t unavailable = map_unavailable_slots(map);
  output_table_t *t = output_table_new(csv ? 12 : 8, csv ? worker_csv_headers : worker_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    char age[48];
    heartbeat_age(w->last_heartbeat_ms, now, age, sizeof age);
    output_table_cellf(t, "%u", w->id);
    output_table_cell(t, w->draining && w->state == TALLY_WORKER_UP ? "draining"
                                                                    : tally_worker_state_name(w->state));
    output_table_cell(t, w->endpoint);
    output_table_cellf(t, "%u", w->slots_owned);
    output_table_cellf(t, "%llu", (unsigned long long)w->queued);
    output_table_cellf(t, "%llu", (unsigned long long)w->live_leases);
    output_table_cellf(t, "%llu", (unsigned long long)w->items);
    if (!csv) {
      output_table_cell(t, age);
      continue;
    }
    output_table_cellf(t, "%llu", (unsigned long long)w->last_heartbeat_ms);
    output_table_cellf(t, "%llu", (unsigned long long)map->epoch);
    if (skew_defined)
      output_table_cellf(t, "%.4f", skew);
    else
      output_table_cell(t, "");
    output_table_cellf(t, "%u", unavailable);
    output_table_cellf(t, "%u", map->unassigned_slots);
  }
  if (!csv) {
    char skew_text[32] = "undefined";
    if (skew_defined) snprintf(skew_text, sizeof skew_text, "%.2f", skew);
    fprintf(cli->out,
            "epoch %llu, %u slots, %u unassigned, %u unavailable (owner down), skew %s, %zu workers, "
            "config version %llu\n\n",
            (unsigned long long)map->epoch, map->slot_count, map->unassigned_slots, unavailable, skew_text,
            map->worker_count, (unsigned long long)map->config_version);
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static int cluster_status(cli_t *cli, int argc, char **argv) {
  int rc = cli_parse_positionals(cli, "cluster status", cluster_status_help, argc, argv, 0, "", NULL);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_map_t *map = NULL;
  rc = tally_cluster_map(cli->client, &map);
  if (rc < 0) return cli_fail(cli, "cluster status", rc);
  rc = print_map(cli, map);
  tally_free(map);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static const char cluster_drain_help[] =
    "Usage: tally cluster drain WORKER_ID [--wait] [--timeout SECONDS] [--undrain]\n\n"
    "Drains a worker: the coordinator moves its slots, live and one at a time,\n"
    "to the other UP workers (requests for a slot being moved get a retryable\n"
    "UNAVAILABLE for the moment it is copied; nothing is lost), and then has it\n"
    "hand its statistics, operations and exposure sums to a worker that stays,\n"
    "so reports keep them. Once it owns no slot it can be stopped. Workers that\n"
    "join later receive slots the same way, automatically.\n\n"
    "Options:\n"
    "  --wait            wait until the worker owns no slot and holds no sums,\n"
    "                    printing progress on stderr\n"
    "  --timeout S       give up waiting after S seconds (default 600); exit 1\n"
    "  --undrain         take the worker back into the balance instead\n";

enum { OPT_WAIT = CLI_OPT_COMMAND, OPT_TIMEOUT, OPT_UNDRAIN, OPT_REVOKE };

/* The worker's entry in `map`, or NULL. */
static const tally_worker_info_t *map_worker(const tally_map_t *map, uint32_t id) {
  for (size_t i = 0; i < map->worker_count; i++)
    if (map->workers[i].id == id) return &map->workers[i];
  return NULL;
}

static int cluster_drain(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"wait", no_argument, NULL, OPT_WAIT},
                                          {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                          {"undrain", no_argument, NULL, OPT_UNDRAIN},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = "cluster drain";
  int wait = 0, undrain = 0;
  uint64_t timeout_s = 600, id = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_WAIT: wait = 1; break;
      case OPT_UNDRAIN: undrain = 1; break;
      case OPT_TIMEOUT:
        if (cli_parse_u64(optarg, 1, 86400, &timeout_s) < 0)
          rc = cli_usage_error(cli, cmd, "bad --timeout '%s' (1..86400 seconds)", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, cluster_drain_help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind >= argc) rc = cli_usage_error(cli, cmd, "missing WORKER_ID");
  if (rc == CLI_PARSED && optind + 1 < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
  if (rc == CLI_PARSED && cli_parse_u64(argv[optind], 1, UINT32_MAX, &id) < 0)
    rc = cli_usage_error(cli, cmd, "bad WORKER_ID '%s' (see tally cluster status)", argv[optind]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_map_t *map = NULL;
  rc = tally_worker_drain(cli->client, (uint32_t)id, undrain, &map);
  if (rc < 0) return cli_fail(cli, cmd, rc);
  uint64_t deadline = clock_monotonic_ms() + timeout_s * 1000u;
  uint32_t last_reported = UINT32_MAX;
  while (wait && !undrain) {
    const tally_worker_info_t *w = map_worker(map, (uint32_t)id);
    int has_sums = w != NULL && (w->holds_sums || w->items > 0);
    if (w == NULL || (w->slots_owned == 0 && w->slots_moving == 0 && !has_sums)) break;
    if (w->slots_owned != last_reported) {
      fprintf(stderr, "tally cluster drain: worker %u owns %u slots (%u moving)\n", w->id,
              w->slots_owned, w->slots_moving);
      last_reported = w->slots_owned;
    }
    if (clock_monotonic_ms() >= deadline) {
      fprintf(stderr, "tally cluster drain: worker %u still owns %u slots after %llu s\n",
              (unsigned)id, w->slots_owned, (unsigned long long)timeout_s);
      tally_free(map);
      return CLI_EXIT_FAILURE;
    }
    usleep(500 * 1000);
    tally_free(map);
    map = NULL;
    if ((rc = tally_cluster_map(cli->client, &map)) < 0) return cli_fail(cli, cmd, rc);
  }
  if (wait && !undrain) fprintf(stderr, "tally cluster drain: worker %u is drained\n", (unsigned)id);
  rc = print_map(cli, map);
  tally_free(map);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static const char cluster_admit_help[] =
    "Usage: tally cluster admit KEY [--revoke]\n\n"
    "Admits a worker's CURVE public key (40 Z85 characters, or the worker's\n"
    "worker.pub file): a worker holding the secret half may then register.\n"
    "Its worker id is bound to the key at its first registration, so no\n"
    "other process can take that id or its slots. Operators only; recorded\n"
    "in the admin log.\n\n"
    "Options:\n"
    "  --revoke   withdraw the admission: the worker is refused from its next request\n";

static int cluster_admit(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"revoke", no_argument, NULL, OPT_REVOKE},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = "cluster admit";
  int revoke = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_REVOKE) revoke = 1;
    else rc = cli_common_option(cli, cmd, cluster_admit_help, c, argv);
  }
  if (rc == CLI_PARSED && optind >= argc) rc = cli_usage_error(cli, cmd, "missing KEY");
  if (rc == CLI_PARSED && optind + 1 < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
  char key[41];
  if (rc == CLI_PARSED && curve_public_parse(key, argv[optind]) < 0)
    rc = cli_usage_error(cli, cmd, "KEY must be a CURVE public key (40 Z85 characters) or a .pub file");
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  rc = tally_cluster_admit(cli->client, key, revoke);
  if (rc < 0) return cli_fail(cli, cmd, rc);
  fprintf(cli->out, "%s %s\n", revoke ? "revoked" : "admitted", key);
  return CLI_EXIT_OK;
}

int cmd_cluster(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"status", "epoch, workers and slot ownership", cluster_status},
      {"drain", "move a worker's slots to the others (before stopping it)", cluster_drain},
      {"admit", "admit a worker's public key (operators)", cluster_admit},
  };
  return cli_group(cli, "cluster", subs, sizeof subs / sizeof subs[0], argc, argv);
}

/* ------------------------------------------------------------ status */

static json_t *counts_json(const tally_worker_status_t *s) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "items", (json_int_t)s->items, "labels",
                   (json_int_t)s->labels, "done", (json_int_t)s->done, "queued", (json_int_t)s->queued,
                   "live_leases", (json_int_t)s->live_leases, "expired_leases", (json_int_t)s->expired_leases,
                   "skips", (json_int_t)s->skips);
}

static json_t *status_json(const tally_status_t *st, const char *project) {
  json_t *queues = json_array();
  for (size_t i = 0; i < st->total.queue_count; i++) {
    const tally_queue_status_t *q = &st->total.queues[i];
    json_array_append_new(queues, json_pack("{s:s, s:s, s:s, s:I, s:s}", "project", q->project, "market", q->market,
                                            "stage", tally_stage_name(q->stage), "depth", (json_int_t)q->depth,
                                            "top_priority", tally_priority_name(q->top_priority)));
  }
  json_t *workers = json_array();
  for (size_t i = 0; i < st->worker_count; i++) {
    const tally_worker_status_t *w = &st->workers[i];
    json_t *o = json_pack("{s:I, s:s}", "id", (json_int_t)w->worker_id, "endpoint", w->endpoint);
    if (w->code == 0) {
      json_t *counts = counts_json(w);
      json_object_update(o, counts);
      json_decref(counts);
    }
    json_object_set_new(o, "error", w->code ? json_pack("{s:s, s:s}", "code", tally_error_name(w->code), "message",
                                                        w->error ? w->error : "")
                                            : json_null());
    json_array_append_new(workers, o);
  }
  return json_pack("{s:o, s:o, s:o, s:o, s:I}", "project", project ? json_string(project) : json_null(), "total",
                   counts_json(&st->total), "queues", queues, "workers", workers, "workers_failed",
                   (json_int_t)st->workers_failed);
}

static void status_text(cli_t *cli, const tally_status_t *st, const char *project) {
  FILE *f = cli->out;
  const tally_worker_status_t *s = &st->total;
  output_field(f, "scope:", "%s%s", project ? "project " : "all projects", project ? project : "");
  output_field(f, "workers:", "%zu answered, %zu failed", st->worker_count - st->workers_failed, st->workers_failed);
  output_field(f, "items:", "%llu", (unsigned long long)s->items);
  output_field(f, "labels:", "%llu", (unsigned long long)s->labels);
  output_field(f, "done:", "%llu", (unsigned long long)s->done);
  output_field(f, "queued:", "%llu", (unsigned long long)s->queued);
  output_field(f, "live leases:", "%llu", (unsigned long long)s->live_leases);
  output_field(f, "expired leases:", "%llu", (unsigned long long)s->expired_leases);
  output_field(f, "skips:", "%llu", (unsigned long long)s->skips);
  static const char *const queue_headers[] = {"PROJECT", "MARKET", "STAGE", "DEPTH", "TOP_PRIORITY"};
  output_table_t *t = output_table_new(5, queue_headers);
  if (t && s->queue_count) {
    for (size_t i = 0; i < s->queue_count; i++) {
      const tally_queue_status_t *q = &s->queues[i];
      output_table_cell(t, q->project);
      output_table_cell(t, q->market);
      output_table_cell(t, tally_stage_name(q->stage));
      output_table_cellf(t, "%llu", (unsigned long long)q->depth);
      output_table_cell(t, q->depth ? tally_priority_name(q->top_priority) : "-");
    }
    fputc('\n', f);
    output_table_print(t, OUTPUT_TABLE, f);
  }
  output_table_free(&t);
  static const char *const worker_headers[] = {"WORKER", "ENDPOINT", "ITEMS", "LABELS", "DONE", "QUEUED", "LIVE_LEASES",
                                               "STATUS"};
  t = output_table_new(8, worker_headers);
  if (t == NULL) return;
  for (size_t i = 0; i < st->worker_count; i++) {
    const tally_worker_status_t *w = &st->workers[i];
    output_table_cellf(t, "%u", w->worker_id);
    output_table_cell(t, w->endpoint);
    output_table_cellf(t, "%llu", (unsigned long long)w->items);
    output_table_cellf(t, "%llu", (unsigned long long)w->labels);
    output_table_cellf(t, "%llu", (unsigned long long)w->done);
    output_table_cellf(t, "%llu", (unsigned long long)w->queued);
    output_table_cellf(t, "%llu", (unsigned long long)w->live_leases);
    if (w->code)
      output_table_cellf(t, "%s: %s", tally_error_name(w->code), w->error ? w->error : "");
    else
      output_table_cell(t, "ok");
  }
  fputc('\n', f);
  output_table_print(t, OUTPUT_TABLE, f);
  output_table_free(&t);
}

static void status_csv_row(output_table_t *t, const char *scope, const tally_worker_status_t *w) {
  output_table_cell(t, scope);
  output_table_cell(t, w->endpoint);
  output_table_cellf(t, "%llu", (unsigned long long)w->items);
  output_table_cellf(t, "%llu", (unsigned long long)w->labels);
  output_table_cellf(t, "%llu", (unsigned long long)w->done);
  output_table_cellf(t, "%llu", (unsigned long long)w->queued);
  output_table_cellf(t, "%llu", (unsigned long long)w->live_leases);
  output_table_cellf(t, "%llu", (unsigned long long)w->expired_leases);
  output_table_cellf(t, "%llu", (unsigned long long)w->skips);
  output_table_cell(t, w->code ? tally_error_name(w->code) : "");
}

static int status_csv(cli_t *cli, const tally_status_t *st) {
  static const char *const headers[] = {"worker", "endpoint", "items",          "labels", "done",
                                        "queued", "live_leases", "expired_leases", "skips",  "error"};
  output_table_t *t = output_table_new(10, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < st->worker_count; i++) {
    char id[16];
    snprintf(id, sizeof id, "%u", st->workers[i].worker_id);
    status_csv_row(t, id, &st->workers[i]);
  }
  status_csv_row(t, "total", &st->total);
  int rc = output_table_print(t, OUTPUT_CSV, cli->out);
  output_table_free(&t);
  return rc;
}

enum { OPT_PROJECT = CLI_OPT_COMMAND };

int cmd_status(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT}, CLI_GLOBAL_OPTIONS};
  const char *project = NULL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_PROJECT)
      project = optarg[0] ? optarg : NULL;
    else
      rc = cli_common_option(cli, "status", status_help, c, argv);
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, "status", "unexpected argument '%s'", argv[optind]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_status_t *st = NULL;
  rc = tally_status(cli->client, project, &st);
  if (rc < 0) return cli_fail(cli, "status", rc);
  for (size_t i = 0; i < st->worker_count; i++) {
    const tally_worker_status_t *w = &st->workers[i];
    if (w->code)
      fprintf(cli->err, "tally: status: worker %u (%s) not counted: %s (%s)\n", w->worker_id, w->endpoint,
              w->error ? w->error : "", tally_error_name(w->code));
  }
  if (cli->format == OUTPUT_JSON)
    rc = output_json(status_json(st, project), cli->out);
  else if (cli->format == OUTPUT_CSV)
    rc = status_csv(cli, st);
  else
    status_text(cli, st, project), rc = 0;
  tally_free(st);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
