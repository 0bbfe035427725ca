/* Ramp-up across the cluster (issue 16, Deliver 4), end to end with three
 * real workers (common/ramp.h).
 *
 * Project "ramp": base audit rate 0, ramp-up rate 1 until 6 audits at
 * accuracy 0.8 against the final label. Labeler "new" (market es) labels 9
 * items placed 3 on each worker, all sampled while ramping; auditor "qa"
 * agrees with every one. No worker alone ever holds 6 of new's audits, so
 * a per-worker count (as before) would keep new ramping for good; summed
 * over the workers, 9 audits at accuracy 1.0 qualify. Checked:
 *  - before the audits `tally labeler show` says ramping, 0 audits;
 *  - within the bound (gather period + gather deadline + heartbeats) the
 *    coordinator lists new in Project.ramped_up, and `labeler show` says
 *    done with 9 audits and 9/9 right;
 *  - afterwards none of 15 more labels of new (5 per worker) is sampled,
 *    on any worker;
 *  - labeler "slow" (market ja), whose 9 audits wait for a verdict (qa
 *    disagrees, no lead answers), has no accuracy yet and stays ramping:
 *    their next 3 labels are all sampled.
 *  - each person's own standing (`tally feedback --standing`, libtally's
 *    tally_feedback): new sees 9 closed, 9 judged, 9 right, "done" summed
 *    over the three workers; slow's standing with 9 audits pending is
 *    byte for byte what it was before any audit (nothing pending shows).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "harness.h"
#include "slot.h"
#include "tally.h"

#define WORKERS 3
/* RAMP_GATHER_PERIOD_MS + REPORT_GATHER_DEFAULT_DEADLINE_MS + heartbeats
 * and scheduling on a loaded 2-core machine. */
#define RAMP_BOUND_MS_PLAIN 12000
/* Sanitizer builds run the daemons several times slower (a gather round
 * then takes longer than its deadline and decides nothing): the bound
 * grows with them, the property (once, cluster-wide, bounded) stays. */
#define RAMP_BOUND_MS (getenv("ASAN_OPTIONS") || getenv("UBSAN_OPTIONS") ? 5 * RAMP_BOUND_MS_PLAIN : RAMP_BOUND_MS_PLAIN)

static cluster_t cluster;
static tally_map_t *map;
static char out[16384];
static uint64_t last_submit_ms; /* monotonic time of the last acknowledged submit */

/* Ingests `per_worker` items "<prefix>-N" of `market` on each worker. */
static void ingest_spread(tally_t *t, const char *prefix, const char *market, int per_worker, int *next) {
  char ids[64][32];
  tally_item_t items[64];
  size_t n = 0;
  for (size_t w = 0; w < WORKERS; w++)
    for (int k = 0; k < per_worker; k++, n++) {
      for (;; (*next)++) {
        snprintf(ids[n], sizeof ids[n], "%s-%d", prefix, *next);
        if (map->slot_owner[slot_of_item("ramp", ids[n], strlen(ids[n]))] == map->workers[w].id) break;
      }
      (*next)++;
      items[n] = (tally_item_t){ids[n], market, TALLY_PRIORITY_NORMAL, "content", NULL, NULL};
    }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "ramp", items, n, &res) == 0 && res && res->accepted == n);
  tally_free(res);
}

/* Leases and answers up to `max` tasks of `stage` as `who`; returns how
 * many. `label_for` gives the label by market. */
static int work(tally_t *t, const char *who, tally_stage_t stage, int max, const char *(*label_for)(const char *)) {
  int done = 0;
  for (int empty = 0; done < max && empty < 5;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, who, "ramp", stage, 200, &task) != 0 || task == NULL) {
      empty++;
      continue;
    }
    CHECK(tally_submit(t, who, task->slot, task->lease_id, label_for(task->market), 1000) == 0);
    last_submit_ms = clock_monotonic_ms();
    done++;
    tally_free(task);
  }
  return done;
}

static const char *label_ok(const char *market) {
  (void)market;
  return "ok";
}

/* qa agrees with new (es) and disagrees with slow (ja). */
static const char *label_qa(const char *market) { return strcmp(market, "es") == 0 ? "ok" : "spam"; }

static int has_left_ramp(tally_t *t, const char *who) {
  tally_project_t *p = NULL;
  int left = tally_project_show(t, "ramp", &p) == 0 && p && !tally_project_is_ramping(p, who);
  tally_free(p);
  return left;
}

int main(void) {
  harness_init(300);
  if (cluster_start(&cluster, WORKERS) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 3000) != 0) return 1;
  int spread = 0;
  for (int attempt = 0; attempt < 100 && !spread; attempt++) {
    tally_free(map);
    map = NULL;
    if (attempt > 0) usleep(100 * 1000);
    if (tally_cluster_map(t, &map) != 0 || map->worker_count != WORKERS || map->unassigned_slots != 0) continue;
    spread = 1;
    for (size_t w = 0; w < WORKERS; w++) spread &= map->workers[w].state == TALLY_WORKER_UP && map->workers[w].slots_owned > 0;
  }
  CHECK(spread);
  if (!spread) {
    cluster_stop(&cluster);
    return check_summary();
  }

  const char *labels[] = {"ok", "spam"}, *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = "ramp";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 60;
  spec.audit_rate = 0.0;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  tally_audit_policy_t policy = {0};
  policy.rate = 0.0;
  policy.ramp_rate = 1.0;
  policy.ramp_audits = 6;
  policy.ramp_target = 0.8;
  CHECK(tally_audit_policy_set(t, "ramp", &policy, NULL) == 0);
  tally_labeler_t people[] = {{"new", TALLY_ROLE_LABELER, &markets[0], 1, NULL},
                              {"slow", TALLY_ROLE_LABELER, &markets[1], 1, NULL},
                              {"qa", TALLY_ROLE_AUDITOR, markets, 2, NULL}};
  for (size_t i = 0; i < 3; i++) CHECK(tally_labeler_add(t, &people[i], NULL) == 0);

  int next_es = 0, next_ja = 0;
  ingest_spread(t, "es", "es", 3, &next_es);
  ingest_spread(t, "ja", "ja", 3, &next_ja);
  CHECK(work(t, "new", TALLY_STAGE_LABEL, 9, label_ok) == 9);
  CHECK(work(t, "slow", TALLY_STAGE_LABEL, 9, label_ok) == 9);
  CHECK(has_left_ramp(t, "new") == 0);
  /* Their own standing before any audit. */
  static char slow_before[4096];
  CHECK(cluster_cli(&cluster, slow_before, sizeof slow_before,
                    "--format json feedback --as slow --project ramp --standing") == 0);
  CHECK(strstr(slow_before, "\"closed\": 0") != NULL && strstr(slow_before, "\"ramp\": \"ramping\"") != NULL &&
        strstr(slow_before, "\"ramp_audits\": 6") != NULL && strstr(slow_before, "\"accuracy\": null") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "feedback --as new --project ramp --standing") == 0);
  CHECK(strstr(out, "ramping") != NULL && strstr(out, "6 judged at 0.80") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--timeout 30000 labeler show new --project ramp") == 0);
  CHECK(strstr(out, "ramping") != NULL);
  if (!strstr(out, "ramping")) fprintf(stderr, "%s\n", out);

  /* Every label was sampled: 18 audits, 3 of new's on each worker. */
  CHECK(work(t, "qa", TALLY_STAGE_AUDIT, 100, label_qa) == 18);

  /* Measured from the last audit, the one that completed the sums. */
  uint64_t waited = clock_monotonic_ms() - last_submit_ms;
  while (!has_left_ramp(t, "new") && (waited = clock_monotonic_ms() - last_submit_ms) < 2 * RAMP_BOUND_MS)
    usleep(50 * 1000);
  fprintf(stderr, "  new left ramp-up at most %llu ms after the last audit\n", (unsigned long long)waited);
  CHECK(has_left_ramp(t, "new") && waited <= RAMP_BOUND_MS);
  CHECK(!has_left_ramp(t, "slow"));

  /* A labeler's view of the project names nobody's ramp-up and carries no
   * audit policy (a lead's does: its ramp-up rate below). */
  tally_project_t *seen = NULL;
  CHECK(tally_act_for(t, "slow") == 0);
  CHECK(tally_project_show(t, "ramp", &seen) == 0);
  CHECK(seen != NULL && seen->ramped_up_count == 0 && seen->audit.ramp_rate == 0);
  tally_free(seen);
  seen = NULL;
  CHECK(tally_act_for(t, NULL) == 0);
  CHECK(tally_project_show(t, "ramp", &seen) == 0);
  CHECK(seen != NULL && seen->ramped_up_count == 1 && seen->audit.ramp_rate == 1.0);
  tally_free(seen);

  CHECK(cluster_cli(&cluster, out, sizeof out, "--timeout 30000 labeler show new --format json") == 0);
  CHECK(strstr(out, "\"ramp\": \"done\"") != NULL && strstr(out, "\"audits\": 9") != NULL &&
        strstr(out, "\"judged\": 9") != NULL && strstr(out, "\"correct\": 9") != NULL);
  if (!strstr(out, "\"ramp\": \"done\"")) fprintf(stderr, "%s\n", out);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--timeout 30000 labeler show slow") == 0);
  CHECK(strstr(out, "ramping") != NULL && strstr(out, "0/0") != NULL);
  if (!strstr(out, "ramping")) fprintf(stderr, "%s\n", out);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler show ghost") == 1);

  /* Where each stands, as they see it: summed over the three workers. */
  tally_feedback_t *fb = NULL;
  CHECK(tally_feedback(t, "new", "ramp", 100, &fb) == 0 && fb != NULL);
  if (fb) {
    CHECK(fb->count == 9 && fb->standing_count == 1);
    const tally_standing_t *st = fb->standing_count ? &fb->standing[0] : NULL;
    CHECK(st && strcmp(st->project, "ramp") == 0 && st->closed == 9 && st->judged == 9 && st->correct == 9 &&
          st->accuracy_defined && st->accuracy == 1.0 && st->wilson_low > 0.6 && st->has_ramp && !st->ramping &&
          st->ramp_audits == 6);
  }
  tally_free(fb);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format csv feedback --as new --project ramp --standing") == 0);
  CHECK(strstr(out, "project,closed,judged,correct,accuracy,wilson_low,wilson_high,ramp,ramp_audits,ramp_target\r\n"
                    "ramp,9,9,9,1.0000,") != NULL && strstr(out, ",done,6,0.8\r\n") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "feedback --as new --project ramp") == 0);
  CHECK(strstr(out, "9 of 9 judged correct") != NULL && strstr(out, "done") != NULL);
  /* slow's 9 audits wait for a verdict: their standing is unchanged. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json feedback --as slow --project ramp --standing") == 0);
  CHECK(strcmp(out, slow_before) == 0);
  if (strcmp(out, slow_before) != 0) fprintf(stderr, "before:\n%s\nafter:\n%s\n", slow_before, out);

  /* Every worker runs the configuration with the set within a few
   * heartbeats (200 ms in the harness). */
  usleep(1500 * 1000);
  ingest_spread(t, "es", "es", 5, &next_es);
  ingest_spread(t, "ja", "ja", 1, &next_ja);
  CHECK(work(t, "new", TALLY_STAGE_LABEL, 15, label_ok) == 15);
  CHECK(work(t, "slow", TALLY_STAGE_LABEL, 3, label_ok) == 3);
  /* Only slow's 3 labels were sampled. */
  int es_audits = 0, ja_audits = 0;
  for (int empty = 0; empty < 5;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, "qa", "ramp", TALLY_STAGE_AUDIT, 200, &task) != 0 || task == NULL) {
      empty++;
      continue;
    }
    es_audits += strcmp(task->market, "es") == 0;
    ja_audits += strcmp(task->market, "ja") == 0;
    CHECK(tally_submit(t, "qa", task->slot, task->lease_id, "spam", 1000) == 0);
    tally_free(task);
  }
  CHECK(es_audits == 0 && ja_audits == 3);
  if (es_audits != 0 || ja_audits != 3) fprintf(stderr, "es audits %d, ja audits %d\n", es_audits, ja_audits);

  tally_free(map);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
