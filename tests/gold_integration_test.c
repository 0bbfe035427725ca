/* Gold mix-in end to end (README, "Gold items") on two workers.
 *
 * Project "gold": markets es and ja, overlap 1, no audits. Gold items are
 * ingested with a gold_label (priority LOW; production items NORMAL) and
 * the gold rate is set with the CLI (`audit-policy set --gold-rate`).
 *   phase 1  rate 0.1: three people (g1, g2 es; g3 es+ja) take 300 label
 *            leases each. Per person the gold share is within 4 binomial
 *            standard deviations of the rate, and within bounds in each
 *            third of their work (spread over time, no run of 3 gold
 *            tasks); no gold item twice to one person (the first gold
 *            task of each is released: never offered to them again);
 *            every gold task looks like a production one (stage label,
 *            the production priority NORMAL though gold was ingested LOW,
 *            the taxonomy, no severity hint, the person's market).
 *   counts   status and the quality report count production work only
 *            (items, labels, queues: no gold pool); `report gold` (CSV
 *            and JSON) has each person's gold answers and hits as done;
 *            a stored gold item holds one label per person who answered.
 *   phase 2  rate 0.5: g4 (ja only) works the ja queue dry; every ja gold
 *            item comes to them exactly once (those g3 had too: once per
 *            person), then the pool has none left for g4 and production
 *            goes on.
 *   restart  SIGKILL and restart of worker 0, rate 0.5: g1 goes on and
 *            gets none of the gold items they had (labels and the
 *            released one are stored).
 *   rate 0   no gold at all.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"

#define PROD_ES 1000
#define PROD_JA 100
#define PROD_JA_MORE 100 /* ingested before phase 2 */
#define GOLD_ES 60
#define GOLD_JA 20
#define LEASES 300
#define RATE 0.1
#define PEOPLE 3
#define GOLD_MAX 128

static cluster_t cluster;
static char out[65536];

typedef struct {
  const char *id;
  int gold_answered, hits, production, ja_gold, ja_production;
  char gold[GOLD_MAX][16]; /* gold items served (answered or released) */
  int n_gold;
} person_t;

static person_t people[] = {{.id = "g1"}, {.id = "g2"}, {.id = "g3"}, {.id = "g4"}};

/* Right after a worker's restart a lease may fail while the client's map
 * catches up: then it is retried, not counted as a failure. */
static int just_restarted;

static int is_gold(const char *item_id) { return strncmp(item_id, "g-", 2) == 0; }

/* Gold item ids "g-MARKET-NN": even NN has gold label ok, odd spam. */
static int gold_label_is_ok(const char *item_id) { return (atoi(item_id + 5) % 2) == 0; }

static void ingest(tally_t *t, const char *prefix, const char *market, int from, int to, int gold) {
  static tally_item_t items[2000];
  static char ids[2000][24];
  int n = 0;
  for (int i = from; i < to; i++, n++) {
    snprintf(ids[n], sizeof ids[n], "%s-%s-%0*d", prefix, market, gold ? 2 : 4, i);
    items[n] = (tally_item_t){ids[n], market, gold ? TALLY_PRIORITY_LOW : TALLY_PRIORITY_NORMAL,
                              "some content", gold ? (i % 2 == 0 ? "ok" : "spam") : NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "gold", items, (size_t)n, &res) == 0 && res && res->accepted == (size_t)n);
  tally_free(res);
}

static int has_served(const person_t *p, const char *item_id) {
  for (int i = 0; i < p->n_gold; i++)
    if (strcmp(p->gold[i], item_id) == 0) return 1;
  return 0;
}

static int set_gold_rate(double rate) {
  return cluster_cli(&cluster, out, sizeof out, "audit-policy set --project gold --gold-rate %g", rate);
}

/* One lease as `p` checked for blindness and answered "ok" (a person's
 * first gold task is released instead). Returns 1 for gold, 0 for
 * production, -1 when there was no task. */
static int lease_one(tally_t *t, person_t *p, const char *const *markets, size_t n_markets) {
  tally_task_t *task = NULL;
  int rc = tally_lease(t, p->id, "gold", TALLY_STAGE_LABEL, 0, &task);
  if (rc != 0 && just_restarted) return -1;
  CHECK(rc == 0);
  if (task == NULL) return -1;
  int gold = is_gold(task->item_id);
  /* What the person sees is the same for gold and production. */
  CHECK(task->stage == TALLY_STAGE_LABEL);
  CHECK_EQ_U64(task->priority, TALLY_PRIORITY_NORMAL);
  CHECK(task->label_count == 3 && task->severity_hint == 0 && task->candidate_count == 0);
  CHECK(strcmp(task->content, "some content") == 0);
  int mine = 0;
  for (size_t i = 0; i < n_markets; i++) mine |= strcmp(task->market, markets[i]) == 0;
  CHECK(mine);
  if (gold) {
    CHECK(!has_served(p, task->item_id)); /* never twice to one person */
    if (p->n_gold < GOLD_MAX) snprintf(p->gold[p->n_gold++], sizeof p->gold[0], "%s", task->item_id);
    p->ja_gold += strcmp(task->market, "ja") == 0;
  }
  if (gold && p->n_gold == 1) {
    CHECK(tally_release(t, p->id, task->slot, task->lease_id) == 0);
  } else {
    CHECK(tally_submit(t, p->id, task->slot, task->lease_id, "ok", 800) == 0);
    if (gold) {
      p->gold_answered++;
      p->hits += gold_label_is_ok(task->item_id);
    } else {
      p->production++;
      p->ja_production += strcmp(task->market, "ja") == 0;
    }
  }
  tally_free(task);
  return gold;
}

/* The CSV line of `who` in `report gold`: gold and hits. */
static int report_gold_line(const char *who, unsigned long long *gold, unsigned long long *hits) {
  char want[32];
  snprintf(want, sizeof want, "\n%s,", who);
  const char *line = strstr(out, want);
  return line != NULL && sscanf(line + strlen(want), "%llu,%llu", gold, hits) == 2;
}

int main(void) {
  harness_init(400);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 10000) != 0) return 1;
  const char *labels[] = {"ok", "spam", "abuse"};
  const char *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = "gold";
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 600;
  spec.sla_seconds = 3600;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  const char *es[] = {"es"}, *ja[] = {"ja"}, *both[] = {"es", "ja"};
  const char *const *their_markets[] = {es, es, both, ja};
  size_t their_count[] = {1, 1, 2, 1};
  for (int i = 0; i < 4; i++) {
    tally_labeler_t l = {people[i].id, TALLY_ROLE_LABELER, (const char **)their_markets[i], their_count[i], NULL};
    CHECK(tally_labeler_add(t, &l, NULL) == 0);
  }
  ingest(t, "p", "es", 0, PROD_ES, 0);
  ingest(t, "p", "ja", 0, PROD_JA, 0);
  ingest(t, "g", "es", 0, GOLD_ES, 1);
  ingest(t, "g", "ja", 0, GOLD_JA, 1);

  /* The rate through the CLI; bad rates refused. */
  CHECK(set_gold_rate(RATE) == 0);
  CHECK(strstr(out, "gold rate:") != NULL && strstr(out, "0.1") != NULL);
  CHECK(set_gold_rate(0.7) == 2); /* usage: at most 0.5 */
  tally_project_t *shown = NULL;
  CHECK(tally_project_show(t, "gold", &shown) == 0 && shown && shown->audit.gold_rate == RATE);
  if (shown) {
    tally_audit_policy_t too_much = shown->audit;
    too_much.gold_rate = 0.9;
    CHECK(tally_audit_policy_set(t, "gold", &too_much, NULL) == TALLY_E_INVALID_ARGUMENT);
  }
  tally_free(shown);

  /* ---- phase 1: the share, its spread, once per person, blind */
  int total_gold = 0;
  for (int k = 0; k < PEOPLE; k++) {
    person_t *p = &people[k];
    int thirds[3] = {0}, run = 0, longest = 0;
    for (int i = 0; i < LEASES; i++) {
      int gold = lease_one(t, p, their_markets[k], their_count[k]);
      CHECK(gold >= 0);
      if (gold < 0) break;
      thirds[i / (LEASES / 3)] += gold;
      run = gold ? run + 1 : 0;
      if (run > longest) longest = run;
    }
    double mean = LEASES * RATE, sd = sqrt(LEASES * RATE * (1 - RATE));
    printf("# %s: %d gold of %d leases (thirds %d %d %d, longest run %d)\n", p->id, p->n_gold, LEASES,
           thirds[0], thirds[1], thirds[2], longest);
    CHECK(fabs(p->n_gold - mean) <= 4 * sd);
    for (int i = 0; i < 3; i++) {
      double m3 = mean / 3, sd3 = sqrt(LEASES / 3 * RATE * (1 - RATE));
      CHECK(fabs(thirds[i] - m3) <= 4 * sd3);
    }
    CHECK(longest <= 2); /* at most one per worker in a row */
    total_gold += p->n_gold;
  }
  double all = PEOPLE * LEASES;
  CHECK(fabs(total_gold - all * RATE) <= 4 * sqrt(all * RATE * (1 - RATE)));

  /* ---- counts: production only; gold in its own report */
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "gold", &st) == 0 && st != NULL);
  int production = 0;
  for (int k = 0; k < PEOPLE; k++) production += people[k].production;
  if (st) {
    CHECK_EQ_U64(st->total.items, PROD_ES + PROD_JA);
    CHECK_EQ_U64(st->total.labels, (uint64_t)production);
    CHECK_EQ_U64(st->total.queued, PROD_ES + PROD_JA - (uint64_t)production);
    for (size_t w = 0; w < st->worker_count; w++)
      for (size_t q = 0; q < st->workers[w].queue_count; q++) CHECK(st->workers[w].queues[q].stage <= TALLY_STAGE_ADJUDICATE);
  }
  tally_free(st);
  tally_report_t *rep = NULL;
  tally_report_query_t by_labeler = {.by = TALLY_REPORT_BY_LABELER};
  CHECK(tally_report_quality(t, "gold", &by_labeler, &rep) == 0 && rep != NULL);
  for (size_t r = 0; rep && r < rep->row_count; r++)
    for (int k = 0; k < PEOPLE; k++)
      if (strcmp(rep->rows[r].key, people[k].id) == 0) {
        CHECK_EQ_U64(rep->rows[r].labels, (uint64_t)people[k].production);
        CHECK_EQ_U64(rep->rows[r].gold_total, (uint64_t)people[k].gold_answered);
        CHECK_EQ_U64(rep->rows[r].gold_hits, (uint64_t)people[k].hits);
      }
  tally_free(rep);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report gold --project gold --format csv") == 0);
  const char *header = "labeler,gold,hits,accuracy,wilson_low,wilson_high\r\n";
  CHECK(strncmp(out, header, strlen(header)) == 0);
  for (int k = 0; k < PEOPLE; k++) {
    unsigned long long gold = 0, hits = 0;
    CHECK(report_gold_line(people[k].id, &gold, &hits));
    CHECK_EQ_U64(gold, (uint64_t)people[k].gold_answered);
    CHECK_EQ_U64(hits, (uint64_t)people[k].hits);
  }
  CHECK(cluster_cli(&cluster, out, sizeof out, "report gold --project gold --format json") == 0);
  CHECK(strstr(out, "\"labeler\": \"g1\"") != NULL && strstr(out, "\"wilson_low\"") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report gold --project gold") == 0);
  CHECK(strstr(out, "LABELER") != NULL && strstr(out, "total") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report gold --help") == 0 &&
        strstr(out, "Usage: tally report gold") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report gold") == 2);
  /* A stored gold item: one label per person who answered it, none twice. */
  int answered_by = 0;
  const char *first = NULL;
  for (int k = 0; k < PEOPLE && first == NULL; k++)
    if (people[k].n_gold > 1) first = people[k].gold[1];
  tally_item_state_t *it = NULL;
  CHECK(first != NULL && tally_item_get(t, "gold", first, &it) == 0 && it != NULL);
  for (int k = 0; k < PEOPLE && first != NULL; k++)
    answered_by += has_served(&people[k], first) && strcmp(people[k].gold[0], first) != 0;
  if (it) {
    CHECK_EQ_U64(it->label_count, (uint64_t)answered_by);
    for (size_t a = 0; a < it->label_count; a++)
      for (size_t b = a + 1; b < it->label_count; b++) CHECK(strcmp(it->labels[a].labeler, it->labels[b].labeler) != 0);
    CHECK(!it->done);
  }
  tally_free(it);

  /* ---- phase 2: the ja pool runs out for g4; each of its items once */
  CHECK(set_gold_rate(0.5) == 0);
  /* A gold task stands in for a production task of the same worker, so a
   * worker's gold needs production beside it. Phase 1's g3 may have taken
   * most of one worker's ja production (55 of 100 once, and 9 of the 20
   * ja gold were then never due); more ja production keeps both workers
   * supplied. */
  ingest(t, "p", "ja", PROD_JA, PROD_JA + PROD_JA_MORE, 0);
  person_t *g4 = &people[3];
  int tasks = 0;
  /* An empty answer can come from a worker the client's backlog hints
   * (a heartbeat old) still rank first: the pool has run out only after
   * several empty answers in a row, a second apart. */
  for (int empty = 0; tasks < PROD_JA + PROD_JA_MORE + GOLD_JA + 10 && empty < 5;) {
    if (lease_one(t, g4, ja, 1) >= 0) {
      tasks++;
      empty = 0;
    } else {
      empty++;
      sleep(1);
    }
  }
  printf("# g4: %d gold (g3 had %d ja gold), %d production\n", g4->n_gold, people[2].ja_gold, g4->production);
  CHECK_EQ_U64(g4->n_gold, GOLD_JA); /* one given to g3 is still new to g4 */
  CHECK_EQ_U64(g4->production + people[2].ja_production, PROD_JA + PROD_JA_MORE);

  /* ---- restart: what a person had stays theirs */
  ingest(t, "p", "es", PROD_ES, PROD_ES + 200, 0);
  sleep(1); /* the released gold item's mark reaches storage with the next tick */
  cluster_kill_worker(&cluster, 0, SIGKILL);
  CHECK(cluster_start_worker(&cluster, 0) == 0);
  person_t *g1 = &people[0];
  int before = g1->n_gold, after = 0;
  just_restarted = 1;
  int leased = 0;
  for (int i = 0; i < 120; i++) {
    int gold = -1;
    for (int attempt = 0; attempt < 50 && gold < 0; attempt++) {
      gold = lease_one(t, g1, es, 1);
      if (gold < 0) usleep(100 * 1000);
    }
    after += gold > 0;
    leased += gold >= 0;
  }
  CHECK_EQ_U64(leased, 120);
  just_restarted = 0;
  printf("# g1 after the restart: %d more gold\n", after);
  CHECK(g1->n_gold == before + after); /* lease_one checked none came twice */
  CHECK(after > 0);

  /* ---- rate 0: no gold */
  CHECK(set_gold_rate(0) == 0);
  int gold_at_zero = 0;
  for (int i = 0; i < 40; i++) gold_at_zero += lease_one(t, &people[1], es, 1) > 0;
  CHECK_EQ_U64(gold_at_zero, 0);

  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
