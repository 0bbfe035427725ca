/* chaos-ledger: the crowd and the independent ledger of the chaos suite
 * (bench/chaos drives it; docs/PERFORMANCE.md, "Issue 19: chaos").
 *
 *   chaos-ledger setup   the project and the crowd's people
 *   chaos-ledger crowd   runs the crowd, recording acknowledged writes
 *   chaos-ledger check   compares the ledger with the cluster (one cycle)
 *   chaos-ledger slots   the slots a worker owns (for the events file)
 *   chaos-ledger settle  waits for balanced slots, none moving
 *   chaos-ledger synced  waits until every slot's followers are in sync
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chaos_check.h"
#include "chaos_crowd.h"
#include "chaos_ledger.h"
#include "tally.h"

static const char usage[] =
    "usage: chaos-ledger COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  setup   create the project (audit rate 1, lease 30 s) and the crowd's people\n"
    "  crowd   run the crowd: an ingester and labeler, auditor and lead threads, each\n"
    "          appending every acknowledged write to its own file in --ledger DIR\n"
    "          (synced before it counts). SIGTERM/SIGINT: stop; SIGUSR1: stop ingesting\n"
    "          and exit once the queues are empty (nothing queued or leased, no task\n"
    "          for 3 s)\n"
    "  check   compare the ledger with the cluster: one line, and a CSV row appended\n"
    "          to --csv FILE; exit 0 when nothing is lost, duplicated, over overlap,\n"
    "          doubly leased or split, 1 when something is, 2 when it cannot check\n"
    "  slots   print the slots worker --worker ENDPOINT owns, comma-separated ('-': none)\n"
    "  settle  wait up to --stable-wait S until the slots are balanced and none moves;\n"
    "          exit 0 when they are, 1 when not\n"
    "  synced  wait up to --stable-wait S until every worker is up and every slot has\n"
    "          a follower, all of them in sync, none waiting (R >= 2: the cluster can\n"
    "          lose a worker again); prints the ms waited; exit 0 when so, 1 when not\n"
    "\n"
    "options (defaults in brackets):\n"
    "  --coordinator EP    coordinator endpoint(s) [$TALLY_COORDINATOR or tcp://127.0.0.1:7400]\n"
    "                      (the key: $TALLY_KEY and $TALLY_COORDINATOR_KEY, a gateway's key)\n"
    "  --project NAME      [chaos]\n"
    "  --overlap N         labels per item [2]\n"
    "  --timeout-ms N      reply timeout of each client handle [2000]\n"
    "  --ledger DIR        the ledger directory (crowd, check)\n"
    "crowd:\n"
    "  --labelers N --auditors N --leads N   people [4, 2, 1]\n"
    "  --backlog N         items ingested but not yet labeled, at most [200]\n"
    "  --batch N           items per ingest call [10]\n"
    "  --run ID            item id prefix [r<pid>]\n"
    "  --seed N            label choices [1]\n"
    "check:\n"
    "  --events FILE       lines 'MS WHAT TARGET [SLOTS [DEAD_MS]]' (kill, restart,\n"
    "                      partition, heal; SLOTS: comma-separated or -)\n"
    "  --cycle N           the cycle number printed and written [0]\n"
    "  --csv FILE          append a row (header when the file is new)\n"
    "  --failover-csv FILE write every kill's and partition's failover time (rewritten)\n"
    "  --final             the crowd has drained: pending audits and unreadable items fail\n"
    "  --stable-wait S     read the cluster again for up to S s while slots move [30]\n"
    "slots:\n"
    "  --worker ENDPOINT   the worker, as in the map\n";

enum {
  OPT_COORDINATOR = 256, OPT_PROJECT, OPT_OVERLAP, OPT_TIMEOUT, OPT_LEDGER, OPT_LABELERS, OPT_AUDITORS,
  OPT_LEADS, OPT_BACKLOG, OPT_BATCH, OPT_RUN, OPT_SEED, OPT_EVENTS, OPT_CYCLE, OPT_CSV, OPT_FAILOVER_CSV,
  OPT_FINAL, OPT_WORKER, OPT_STABLE_WAIT
};

typedef struct {
  chaos_crowd_options_t crowd;
  chaos_check_options_t check;
  const char *csv, *failover_csv, *worker;
  int cycle;
} args_t;

static volatile sig_atomic_t stop_flag, drain_flag;
static void on_stop(int sig) { (void)sig; stop_flag = 1; }
static void on_drain(int sig) { (void)sig; drain_flag = 1; }

static int number(const char *name, const char *text, int low, int high, int *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < low || v > high) {
    fprintf(stderr, "chaos-ledger: %s must be a number from %d to %d (got '%s')\n", name, low, high, text);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse(int argc, char **argv, args_t *a) {
  static const struct option options[] = {
      {"coordinator", required_argument, NULL, OPT_COORDINATOR}, {"project", required_argument, NULL, OPT_PROJECT},
      {"overlap", required_argument, NULL, OPT_OVERLAP}, {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
      {"ledger", required_argument, NULL, OPT_LEDGER}, {"labelers", required_argument, NULL, OPT_LABELERS},
      {"auditors", required_argument, NULL, OPT_AUDITORS}, {"leads", required_argument, NULL, OPT_LEADS},
      {"backlog", required_argument, NULL, OPT_BACKLOG}, {"batch", required_argument, NULL, OPT_BATCH},
      {"run", required_argument, NULL, OPT_RUN}, {"seed", required_argument, NULL, OPT_SEED},
      {"events", required_argument, NULL, OPT_EVENTS}, {"cycle", required_argument, NULL, OPT_CYCLE},
      {"csv", required_argument, NULL, OPT_CSV}, {"failover-csv", required_argument, NULL, OPT_FAILOVER_CSV},
      {"final", no_argument, NULL, OPT_FINAL}, {"worker", required_argument, NULL, OPT_WORKER},
      {"stable-wait", required_argument, NULL, OPT_STABLE_WAIT},
      {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  static char run[32];
  snprintf(run, sizeof run, "r%ld", (long)getpid());
  const char *ep = getenv("TALLY_COORDINATOR");
  a->crowd = (chaos_crowd_options_t){ep && *ep ? ep : NULL, "chaos", NULL, run, 4, 2, 1, 2, 200, 10, 2000, 1};
  int c, seed = 1, stable_wait = 30;
  while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
    int bad = 0;
    switch (c) {
      case OPT_COORDINATOR: a->crowd.coordinator = optarg; break;
      case OPT_PROJECT: a->crowd.project = optarg; break;
      case OPT_OVERLAP: bad = number("--overlap", optarg, 1, 8, &a->crowd.overlap); break;
      case OPT_TIMEOUT: bad = number("--timeout-ms", optarg, 100, 600000, &a->crowd.timeout_ms); break;
      case OPT_LEDGER: a->crowd.ledger_dir = optarg; break;
      case OPT_LABELERS: bad = number("--labelers", optarg, 1, 40, &a->crowd.labelers); break;
      case OPT_AUDITORS: bad = number("--auditors", optarg, 0, 10, &a->crowd.auditors); break;
      case OPT_LEADS: bad = number("--leads", optarg, 0, 10, &a->crowd.leads); break;
      case OPT_BACKLOG: bad = number("--backlog", optarg, 1, 1000000, &a->crowd.backlog); break;
      case OPT_BATCH: bad = number("--batch", optarg, 1, 500, &a->crowd.batch); break;
      case OPT_RUN: a->crowd.run = optarg; break;
      case OPT_SEED: bad = number("--seed", optarg, 0, 1000000000, &seed); break;
      case OPT_EVENTS: a->check.events_file = optarg; break;
      case OPT_CYCLE: bad = number("--cycle", optarg, 0, 100000000, &a->cycle); break;
      case OPT_CSV: a->csv = optarg; break;
      case OPT_FAILOVER_CSV: a->failover_csv = optarg; break;
      case OPT_FINAL: a->check.final = 1; break;
      case OPT_WORKER: a->worker = optarg; break;
      case OPT_STABLE_WAIT: bad = number("--stable-wait", optarg, 0, 3600, &stable_wait); break;
      case 'h': fputs(usage, stdout); exit(0);
      default: fputs(usage, stderr); return -1;
    }
    if (bad) return -1;
  }
  a->crowd.seed = (unsigned)seed;
  if (strlen(a->crowd.run) > 24) {
    fprintf(stderr, "chaos-ledger: --run must be at most 24 characters\n");
    return -1;
  }
  a->check.coordinator = a->crowd.coordinator;
  a->check.project = a->crowd.project;
  a->check.ledger_dir = a->crowd.ledger_dir;
  a->check.overlap = a->crowd.overlap;
  a->check.timeout_ms = a->crowd.timeout_ms;
  a->check.stable_wait_ms = stable_wait * 1000;
  return 0;
}

static int cmd_crowd(args_t *a) {
  if (a->crowd.ledger_dir == NULL) {
    fprintf(stderr, "chaos-ledger crowd: --ledger DIR is required\n");
    return 2;
  }
  if (mkdir(a->crowd.ledger_dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "chaos-ledger crowd: cannot create %s: %s\n", a->crowd.ledger_dir, strerror(errno));
    return 1;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_drain;
  sigaction(SIGUSR1, &sa, NULL);
  return chaos_crowd_run(&a->crowd, &stop_flag, &drain_flag) == 0 ? 0 : 1;
}

static const char csv_header[] =
    "cycle,at_ms,acked,ingests,labels,audits,verdicts,judgments,items_counted,unknown,refused,lost,duplicated,"
    "overlap,double_leases,split_brain,pending,unreachable,unverified,stable,last_failover_ms,verdict\r\n";

static int cmd_check(args_t *a) {
  if (a->check.ledger_dir == NULL) {
    fprintf(stderr, "chaos-ledger check: --ledger DIR is required\n");
    return 2;
  }
  chaos_check_result_t r;
  if (chaos_check_run(&a->check, &r) != 0) {
    free(r.failovers);
    return 2;
  }
  uint64_t violations = chaos_check_violations(&r, a->check.final);
  int64_t last = r.failover_count ? r.failovers[r.failover_count - 1].failover_ms : -1;
  char failover[32] = "-", unverified[64] = "";
  if (r.unverified) snprintf(unverified, sizeof unverified, ", unverified %" PRIu64, r.unverified);
  if (last >= 0) snprintf(failover, sizeof failover, "%" PRId64 " ms", last);
  char name[32];
  if (a->check.final) snprintf(name, sizeof name, "final check");
  else snprintf(name, sizeof name, "cycle %d", a->cycle);
  printf("%s: %" PRIu64 " acknowledged (%" PRIu64 " ingests, %" PRIu64 " labels, %" PRIu64 " audits, %" PRIu64
         " verdicts), %" PRIu64 " closed; lost %" PRIu64 ", duplicated %" PRIu64 ", overlap %" PRIu64
         ", double leases %" PRIu64 ", split brain %" PRIu64 "; pending %" PRIu64 ", unreachable %" PRIu64
         ", unknown outcome %" PRIu64 "%s%s; failover %s: %s\n",
         name, r.acked, r.ingests, r.labels, r.audits, r.verdicts, r.judgments, r.lost, r.duplicated, r.overlap,
         r.double_leases, r.split_brain, r.pending, r.unreachable, r.unknown, unverified,
         r.counts_checked ? "" : r.stable ? " (item count not checked: a worker did not answer)"
                                          : " (slots kept moving: item count not checked)",
         failover,
         violations ? "FAIL" : "ok");
  if (a->csv != NULL) {
    int fresh = access(a->csv, F_OK) != 0;
    FILE *f = fopen(a->csv, "a");
    if (f == NULL) {
      fprintf(stderr, "chaos-ledger check: cannot write %s: %s\n", a->csv, strerror(errno));
    } else {
      if (fresh) fputs(csv_header, f);
      fprintf(f,
              "%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
              ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
              ",%" PRIu64 ",%" PRIu64 ",%d,%" PRId64 ",%s\r\n",
              a->cycle, chaos_now_ms(), r.acked, r.ingests, r.labels, r.audits, r.verdicts, r.judgments,
              r.items_counted, r.unknown, r.refused, r.lost, r.duplicated, r.overlap, r.double_leases,
              r.split_brain, r.pending, r.unreachable, r.unverified, r.stable, last, violations ? "fail" : "ok");
      fclose(f);
    }
  }
  if (a->failover_csv != NULL) {
    FILE *f = fopen(a->failover_csv, "w");
    if (f != NULL) {
      fputs("at_ms,event,target,failover_ms\r\n", f);
      for (size_t i = 0; i < r.failover_count; i++)
        fprintf(f, "%" PRIu64 ",%s,%s,%" PRId64 "\r\n", r.failovers[i].at_ms, r.failovers[i].what,
                r.failovers[i].target, r.failovers[i].failover_ms);
      fclose(f);
    }
  }
  free(r.failovers);
  return violations ? 1 : 0;
}

static int cmd_slots(args_t *a) {
  if (a->worker == NULL) {
    fprintf(stderr, "chaos-ledger slots: --worker ENDPOINT is required\n");
    return 2;
  }
  tally_t *t = NULL;
  tally_map_t *map = NULL;
  int rc = tally_open(&t, a->crowd.coordinator, a->crowd.timeout_ms);
  if (rc == 0) rc = tally_cluster_map(t, &map);
  if (rc != 0) {
    fprintf(stderr, "chaos-ledger slots: %s\n", t ? tally_last_error(t) : tally_strerror(rc));
    tally_close(&t);
    return 1;
  }
  uint32_t id = 0;
  for (size_t i = 0; i < map->worker_count; i++)
    if (strcmp(map->workers[i].endpoint, a->worker) == 0) id = map->workers[i].id;
  int printed = 0;
  for (uint32_t s = 0; id != 0 && s < map->slot_count; s++)
    if (map->slot_owner[s] == id) printf("%s%u", printed++ ? "," : "", s);
  printf("%s\n", printed ? "" : "-");
  tally_free(map);
  tally_close(&t);
  return 0;
}

/* Waits until no slot moves (a fresh cluster whose workers came late
 * balances by moving slots), up to --stable-wait seconds. */
static int cmd_settle(args_t *a) {
  tally_t *t = NULL;
  if (tally_open(&t, a->crowd.coordinator, a->crowd.timeout_ms) != 0) return 1;
  uint64_t give_up = chaos_now_ms() + (uint64_t)a->check.stable_wait_ms;
  int settled = 0;
  while (!settled) {
    tally_map_t *map = NULL;
    if (tally_cluster_map(t, &map) == 0) {
      uint32_t moving = 0, low = UINT32_MAX, high = 0, up = 0;
      for (size_t i = 0; i < map->worker_count; i++) {
        const tally_worker_info_t *w = &map->workers[i];
        moving += w->slots_moving;
        if (w->state != TALLY_WORKER_UP) continue;
        up++;
        if (w->slots_owned < low) low = w->slots_owned;
        if (w->slots_owned > high) high = w->slots_owned;
      }
      settled = moving == 0 && up > 0 && high - low <= 1 && map->unassigned_slots == 0;
    }
    tally_free(map);
    if (settled || chaos_now_ms() >= give_up) break;
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
  }
  tally_close(&t);
  return settled ? 0 : 1;
}

/* 1 when every worker is up and every slot has a follower, all in sync. */
static int all_in_sync(const tally_cluster_status_t *st) {
  if (st->slots == NULL || st->slot_replica_count == 0) return 0;
  for (size_t i = 0; i < st->map.worker_count; i++)
    if (st->map.workers[i].state != TALLY_WORKER_UP) return 0;
  for (size_t i = 0; i < st->slot_replica_count; i++) {
    const tally_slot_replicas_t *r = &st->slots[i];
    if (r->waiting || r->primary == 0 || r->follower_count == 0 ||
        r->in_sync_count != r->follower_count)
      return 0;
  }
  return 1;
}

/* Waits until the cluster could lose any one worker again (R >= 2), up to
 * --stable-wait seconds. */
static int cmd_synced(args_t *a) {
  tally_t *t = NULL;
  if (tally_open(&t, a->crowd.coordinator, a->crowd.timeout_ms) != 0) return 1;
  uint64_t started = chaos_now_ms(), give_up = started + (uint64_t)a->check.stable_wait_ms;
  int synced = 0;
  for (;;) {
    tally_cluster_status_t *st = NULL;
    if (tally_cluster_status(t, &st) == 0) synced = all_in_sync(st);
    tally_free(st);
    if (synced || chaos_now_ms() >= give_up) break;
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
  }
  tally_close(&t);
  printf("%" PRIu64 "\n", chaos_now_ms() - started);
  return synced ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  args_t a = {0};
  if (parse(argc - 1, argv + 1, &a) != 0) return 2;
  if (optind < argc - 1) {
    fprintf(stderr, "chaos-ledger: unexpected argument '%s'\n", argv[optind + 1]);
    return 2;
  }
  if (strcmp(cmd, "setup") == 0) return chaos_crowd_setup(&a.crowd) == 0 ? 0 : 1;
  if (strcmp(cmd, "crowd") == 0) return cmd_crowd(&a);
  if (strcmp(cmd, "check") == 0) return cmd_check(&a);
  if (strcmp(cmd, "slots") == 0) return cmd_slots(&a);
  if (strcmp(cmd, "settle") == 0) return cmd_settle(&a);
  if (strcmp(cmd, "synced") == 0) return cmd_synced(&a);
  fprintf(stderr, "chaos-ledger: unknown command '%s' (try --help)\n", cmd);
  return 2;
}
