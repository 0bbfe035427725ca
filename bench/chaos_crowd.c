/* chaos_crowd: ingester and labeler/auditor/lead threads that record every
 * acknowledged write in their ledgers (see chaos_crowd.h). */
#include "chaos_crowd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos_ledger.h"
#include "tally.h"

#define MAX_THREADS 64
#define DRAIN_IDLE_MS 3000 /* in drain mode: no task for this long, and the queues empty, end the crowd */
#define LEASE_SECONDS 30
#define LEASE_WAIT_MS 300
/* A submit of unknown outcome is sent again this often, this far apart:
 * about 30 s, longer than a worker restart or the partition of bench/chaos. */
#define SUBMIT_ATTEMPTS 30
#define SUBMIT_PAUSE_MS 1000

static const char *const labels[] = {"ok", "spam", "hate"};
static const char *const markets[] = {"es", "ja"};

typedef struct crowd crowd_t;

typedef struct {
  crowd_t *crowd;
  int stage;            /* tally_stage_t; -1 = the ingester */
  char person[CHAOS_ID_MAX];
  tally_t *t;
  chaos_ledger_t *ledger;
  unsigned rng;
  /* What this thread saw (summary). */
  uint64_t acked, unknown, refused, leases, lease_errors, ledger_errors;
} member_t;

struct crowd {
  const chaos_crowd_options_t *o;
  volatile sig_atomic_t *stop, *drain;
  atomic_uint_fast64_t ingested;  /* items acknowledged */
  atomic_uint_fast64_t labeled;   /* label submits acknowledged */
  atomic_uint_fast64_t last_task_ms;
  atomic_int ingest_done;
  atomic_int queues_empty; /* drain: the cluster has nothing queued or leased */
};

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static unsigned item_hash(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The label a person gives: the item's "true" label most of the time, so
 * that most audits agree and some go to a lead. */
static const char *pick_label(member_t *m, const char *item) {
  unsigned truth = item_hash(item) % 3;
  if (m->stage == TALLY_STAGE_ADJUDICATE || rand_r(&m->rng) % 100 < 85) return labels[truth];
  return labels[(truth + 1 + rand_r(&m->rng) % 2) % 3];
}

/* Records r; with sync, makes it durable first. A ledger that cannot be
 * written is counted: the checker would then miss acknowledgements, which
 * can only hide a loss, never invent one, and the summary says so. */
static void record(member_t *m, const chaos_record_t *r, int sync) {
  if (chaos_ledger_append(m->ledger, r) != 0 || (sync && chaos_ledger_sync(m->ledger) != 0))
    m->ledger_errors++;
}

static int stopping(const crowd_t *c) { return *c->stop != 0; }

static int drained(crowd_t *c) {
  if (!*c->drain || !atomic_load(&c->ingest_done) || !atomic_load(&c->queues_empty)) return 0;
  return chaos_now_ms() - atomic_load(&c->last_task_ms) > DRAIN_IDLE_MS;
}

/* Drain: every second, whether the project has nothing queued and no live
 * lease on any worker (a lease whose reply was lost holds its item until it
 * expires; then the item is queued again and someone takes it). */
static void watch_queues(member_t *m) {
  crowd_t *c = m->crowd;
  while (!stopping(c) && !atomic_load(&c->queues_empty)) {
    tally_status_t *st = NULL;
    if (tally_status(m->t, c->o->project, &st) == 0 && st->workers_failed == 0 && st->total.queued == 0 &&
        st->total.live_leases == 0)
      atomic_store(&c->queues_empty, 1);
    tally_free(st);
    sleep_ms(1000);
  }
}

/* ------------------------------------------------------------ ingest */

static void *ingest_run(void *arg) {
  member_t *m = arg;
  crowd_t *c = m->crowd;
  const chaos_crowd_options_t *o = c->o;
  int batch = o->batch;
  char (*ids)[CHAOS_ID_MAX] = calloc((size_t)batch, CHAOS_ID_MAX);
  tally_item_t *items = calloc((size_t)batch, sizeof *items);
  uint64_t next = 0;
  int pending = 0; /* the batch in ids is not acknowledged yet: send it again */
  while (ids != NULL && items != NULL && !stopping(c) && !*c->drain) {
    uint64_t in = atomic_load(&c->ingested), done = atomic_load(&c->labeled) / (uint64_t)o->overlap;
    if (!pending && in > done + (uint64_t)o->backlog) {
      sleep_ms(20);
      continue;
    }
    if (!pending) {
      for (int i = 0; i < batch; i++) snprintf(ids[i], CHAOS_ID_MAX, "%s-%llu", o->run, (unsigned long long)next++);
    }
    for (int i = 0; i < batch; i++) {
      items[i] = (tally_item_t){ids[i], markets[i % 2], (uint32_t)(i % 4), "{}", NULL, NULL};
      chaos_record_t r = {.kind = 'P', .at_ms = chaos_now_ms()};
      snprintf(r.item, sizeof r.item, "%s", ids[i]);
      record(m, &r, 0);
    }
    tally_ingest_result_t *res = NULL;
    uint64_t send = chaos_now_ms();
    int rc = tally_ingest(m->t, o->project, items, (size_t)batch, &res);
    uint64_t at = chaos_now_ms();
    int acked = 0;
    for (int i = 0; i < batch; i++) {
      int code = rc != 0 ? rc : res->items[i].code;
      chaos_record_t r = {.kind = code == 0 ? 'I' : 'i', .send_ms = send, .at_ms = at, .code = code};
      snprintf(r.item, sizeof r.item, "%s", ids[i]);
      record(m, &r, 0);
      acked += code == 0;
    }
    tally_free(res);
    /* Counted only once the lines are durable. */
    if (acked > 0 && chaos_ledger_sync(m->ledger) != 0) m->ledger_errors++;
    m->acked += (uint64_t)acked;
    m->unknown += (uint64_t)(batch - acked);
    atomic_fetch_add(&c->ingested, (uint64_t)acked);
    pending = acked < batch;
    if (pending) sleep_ms(100);
  }
  atomic_store(&c->ingest_done, 1);
  free(ids);
  free(items);
  if (*c->drain) watch_queues(m);
  return NULL;
}

/* ------------------------------------------------------------ people */

static int refusal_is_definite(int rc) {
  return rc == TALLY_E_LEASE_LOST || rc == TALLY_E_NOT_LEASE_OWNER || rc == TALLY_E_LABEL_NOT_IN_TAXONOMY ||
         rc == TALLY_E_CLOSED || rc == TALLY_E_PERMISSION_DENIED || rc == TALLY_E_INVALID_ARGUMENT;
}

static void work_once(member_t *m) {
  crowd_t *c = m->crowd;
  tally_task_t *task = NULL;
  uint64_t send = chaos_now_ms();
  int rc = tally_lease(m->t, m->person, c->o->project, (tally_stage_t)m->stage, LEASE_WAIT_MS, &task);
  uint64_t recv = chaos_now_ms();
  if (rc != 0) {
    m->lease_errors++;
    sleep_ms(50);
    return;
  }
  if (task == NULL) return;
  atomic_store(&c->last_task_ms, recv);
  m->leases++;
  chaos_record_t g = {.kind = 'G', .send_ms = send, .at_ms = recv, .stage = (int)task->stage,
                      .slot = task->slot, .lease_id = task->lease_id, .deadline_ms = task->deadline_ms};
  snprintf(g.person, sizeof g.person, "%s", m->person);
  snprintf(g.item, sizeof g.item, "%s", task->item_id);
  record(m, &g, 0);

  const char *label = pick_label(m, task->item_id);
  chaos_record_t s = g;
  snprintf(s.label, sizeof s.label, "%s", label);
  s.deadline_ms = 0;
  s.send_ms = chaos_now_ms();
  /* As a person would press submit again: a submit of unknown outcome is
   * sent again (a repeat of a stored one answers OK as the first did), so
   * a lease is not left held until it expires because a reply was lost. */
  for (int attempt = 0; attempt < SUBMIT_ATTEMPTS; attempt++) {
    if (attempt > 0) sleep_ms(SUBMIT_PAUSE_MS);
    if (task->stage == TALLY_STAGE_ADJUDICATE)
      rc = tally_submit_adjudication(m->t, m->person, task->slot, task->lease_id, label, TALLY_ATTRIBUTION_NONE,
                                     NULL, 10);
    else
      rc = tally_submit(m->t, m->person, task->slot, task->lease_id, label, 10);
    if (rc == 0 || refusal_is_definite(rc) || stopping(c)) break;
  }
  s.at_ms = chaos_now_ms();
  if (rc == 0) {
    s.kind = 'S';
    record(m, &s, 1);
    m->acked++;
    if (task->stage == TALLY_STAGE_LABEL) atomic_fetch_add(&c->labeled, 1);
  } else {
    s.kind = refusal_is_definite(rc) ? 'X' : 'U';
    s.code = rc;
    record(m, &s, 0);
    if (s.kind == 'X') m->refused++;
    else m->unknown++;
  }
  atomic_store(&c->last_task_ms, s.at_ms);
  tally_free(task);
}

static void *person_run(void *arg) {
  member_t *m = arg;
  while (!stopping(m->crowd) && !drained(m->crowd)) work_once(m);
  return NULL;
}

/* ------------------------------------------------------------ setup */

int chaos_crowd_setup(const chaos_crowd_options_t *o) {
  tally_t *t = NULL;
  int rc = tally_open(&t, o->coordinator, o->timeout_ms);
  if (rc != 0) {
    fprintf(stderr, "chaos: cannot open a client: %s\n", tally_strerror(rc));
    return rc;
  }
  tally_project_t spec = {0};
  spec.name = o->project;
  spec.labels = (const char **)labels;
  spec.label_count = 3;
  spec.markets = (const char **)markets;
  spec.market_count = 2;
  spec.overlap = (uint32_t)o->overlap;
  /* A lease whose reply was lost (a partition, a kill) holds its item
   * until it expires: short enough for the drain to see it come back. */
  spec.lease_seconds = LEASE_SECONDS;
  spec.audit_rate = 1.0;
  rc = tally_project_create(t, &spec, NULL);
  if (rc == TALLY_E_ALREADY_EXISTS) rc = 0;
  if (rc != 0) fprintf(stderr, "chaos: project create: %s\n", tally_last_error(t));
  struct { const char *prefix; int count; uint32_t role; } groups[] = {
      {"chaos-l", o->labelers, TALLY_ROLE_LABELER},
      {"chaos-a", o->auditors, TALLY_ROLE_AUDITOR},
      {"chaos-d", o->leads, TALLY_ROLE_LEAD}};
  for (size_t g = 0; rc == 0 && g < 3; g++)
    for (int i = 1; rc == 0 && i <= groups[g].count; i++) {
      char id[CHAOS_ID_MAX];
      snprintf(id, sizeof id, "%s%d", groups[g].prefix, i);
      tally_labeler_t l = {id, groups[g].role, (const char **)markets, 2, NULL};
      rc = tally_labeler_add(t, &l, NULL);
      if (rc == TALLY_E_ALREADY_EXISTS) rc = 0;
      if (rc != 0) fprintf(stderr, "chaos: labeler add %s: %s\n", id, tally_last_error(t));
    }
  tally_close(&t);
  return rc;
}

/* ------------------------------------------------------------ run */

static int member_init(member_t *m, crowd_t *c, tally_t *first, int stage, const char *person, unsigned seed) {
  memset(m, 0, sizeof *m);
  m->crowd = c;
  m->stage = stage;
  m->rng = seed;
  snprintf(m->person, sizeof m->person, "%s", person);
  int rc = first ? tally_open_sibling(&m->t, first) : tally_open(&m->t, c->o->coordinator, c->o->timeout_ms);
  if (rc != 0) {
    fprintf(stderr, "chaos: cannot open a client for %s: %s\n", person, tally_strerror(rc));
    return -1;
  }
  rc = chaos_ledger_open(&m->ledger, c->o->ledger_dir, person);
  if (rc != 0) {
    fprintf(stderr, "chaos: cannot open the ledger of %s in %s: %s\n", person, c->o->ledger_dir, strerror(-rc));
    tally_close(&m->t);
    return -1;
  }
  return 0;
}

int chaos_crowd_run(const chaos_crowd_options_t *o, volatile sig_atomic_t *stop, volatile sig_atomic_t *drain) {
  int n = 1 + o->labelers + o->auditors + o->leads;
  if (n > MAX_THREADS) {
    fprintf(stderr, "chaos: at most %d people\n", MAX_THREADS - 1);
    return -1;
  }
  crowd_t c = {.o = o, .stop = stop, .drain = drain};
  atomic_init(&c.ingested, 0);
  atomic_init(&c.labeled, 0);
  atomic_init(&c.last_task_ms, chaos_now_ms());
  atomic_init(&c.ingest_done, 0);
  atomic_init(&c.queues_empty, 0);
  member_t members[MAX_THREADS];
  pthread_t threads[MAX_THREADS];
  int started = 0, rc = 0;
  for (int k = 0; k < n && rc == 0; k++) {
    char person[CHAOS_ID_MAX];
    int stage;
    if (k == 0) {
      snprintf(person, sizeof person, "ingest-%s", o->run);
      stage = -1;
    } else if (k <= o->labelers) {
      snprintf(person, sizeof person, "chaos-l%d", k);
      stage = TALLY_STAGE_LABEL;
    } else if (k <= o->labelers + o->auditors) {
      snprintf(person, sizeof person, "chaos-a%d", k - o->labelers);
      stage = TALLY_STAGE_AUDIT;
    } else {
      snprintf(person, sizeof person, "chaos-d%d", k - o->labelers - o->auditors);
      stage = TALLY_STAGE_ADJUDICATE;
    }
    if (member_init(&members[k], &c, k ? members[0].t : NULL, stage, person, o->seed * 7919u + (unsigned)k) != 0) {
      rc = -1;
      break;
    }
    if (pthread_create(&threads[k], NULL, stage < 0 ? ingest_run : person_run, &members[k]) != 0) {
      tally_close(&members[k].t);
      chaos_ledger_destroy(&members[k].ledger);
      rc = -1;
      break;
    }
    started++;
  }
  if (rc != 0) *stop = 1;
  for (int k = 0; k < started; k++) pthread_join(threads[k], NULL);
  uint64_t tot[6] = {0};
  for (int k = 0; k < started; k++) {
    member_t *m = &members[k];
    tot[0] += m->acked, tot[1] += m->unknown, tot[2] += m->refused;
    tot[3] += m->leases, tot[4] += m->lease_errors, tot[5] += m->ledger_errors;
  }
  /* Siblings first: the first handle owns the shared context last. */
  for (int k = started - 1; k >= 0; k--) {
    tally_close(&members[k].t);
    chaos_ledger_destroy(&members[k].ledger);
  }
  fprintf(stderr,
          "chaos crowd: %llu writes acknowledged, %llu of unknown outcome, %llu refused; %llu leases, "
          "%llu failed lease calls, %llu ledger write errors\n",
          (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
          (unsigned long long)tot[3], (unsigned long long)tot[4], (unsigned long long)tot[5]);
  return rc == 0 && tot[5] == 0 ? 0 : -1;
}
