/* chaos_check: the ledger against the cluster (see chaos_check.h). */
#include "chaos_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos_ledger.h"
#include "slot.h"
#include "tally.h"

/* ------------------------------------------------------------ a string map */

typedef struct {
  char **keys;
  size_t *values;
  size_t cap, count;
} strmap_t;

static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void strmap_free(strmap_t *m) {
  for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
  free(m->keys);
  free(m->values);
  memset(m, 0, sizeof *m);
}

/* The slot of key, or of the empty place where it would go. */
static size_t strmap_place(const strmap_t *m, const char *key) {
  size_t i = (size_t)str_hash(key) & (m->cap - 1);
  while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
  return i;
}

static int strmap_get(const strmap_t *m, const char *key, size_t *value) {
  if (m->cap == 0) return 0;
  size_t i = strmap_place(m, key);
  if (m->keys[i] == NULL) return 0;
  *value = m->values[i];
  return 1;
}

/* Sets key -> value (replacing). 0 or -ENOMEM. */
static int strmap_put(strmap_t *m, const char *key, size_t value) {
  if ((m->count + 1) * 2 > m->cap) {
    strmap_t bigger = {0};
    bigger.cap = m->cap ? m->cap * 2 : 1024;
    bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
    bigger.values = calloc(bigger.cap, sizeof *bigger.values);
    if (bigger.keys == NULL || bigger.values == NULL) {
      free(bigger.keys);
      free(bigger.values);
      return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i] != NULL) {
        size_t j = strmap_place(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.values[j] = m->values[i];
      }
    bigger.count = m->count;
    free(m->keys);
    free(m->values);
    *m = bigger;
  }
  size_t i = strmap_place(m, key);
  if (m->keys[i] == NULL) {
    m->keys[i] = strdup(key);
    if (m->keys[i] == NULL) return -ENOMEM;
    m->count++;
  }
  m->values[i] = value;
  return 0;
}

/* Names the first few violations on stderr, so a failed check says what. */
static void note(const char *what, const char *person, const char *item, const char *detail) {
  static int noted;
  if (noted++ < 10) fprintf(stderr, "chaos check: %s: %s on %s%s%s\n", what, person, item, detail ? ": " : "", detail ? detail : "");
}

/* ------------------------------------------------------------ the cluster's view */

typedef struct {
  char labeler[CHAOS_ID_MAX];
  char label[CHAOS_ID_MAX];
} pair_t;

typedef struct {
  char item[CHAOS_ID_MAX];
  int closed;       /* from the export */
  int done;         /* read with tally_item_get: the item is done (closed) */
  int readable;     /* 0: could not be read (unreachable) */
  pair_t *labels;
  size_t label_count;
  pair_t audit;     /* closed only; labeler "" when none */
  pair_t verdict;   /* closed only: adjudicator and final label ("" adjudicator: agreed) */
} view_t;

typedef struct {
  view_t *items;
  size_t count, cap;
  strmap_t index;
  uint64_t export_conflicts; /* one item exported twice with different contents */
} views_t;

static void views_free(views_t *v) {
  for (size_t i = 0; i < v->count; i++) free(v->items[i].labels);
  free(v->items);
  strmap_free(&v->index);
}

static view_t *views_add(views_t *v, const char *item) {
  if (v->count == v->cap) {
    size_t ncap = v->cap ? v->cap * 2 : 4096;
    view_t *grown = realloc(v->items, ncap * sizeof *grown);
    if (grown == NULL) return NULL;
    v->items = grown;
    v->cap = ncap;
  }
  if (strmap_put(&v->index, item, v->count) != 0) return NULL;
  view_t *w = &v->items[v->count++];
  memset(w, 0, sizeof *w);
  snprintf(w->item, sizeof w->item, "%s", item);
  return w;
}

static view_t *views_find(views_t *v, const char *item) {
  size_t i;
  return strmap_get(&v->index, item, &i) ? &v->items[i] : NULL;
}

static void set_pair(pair_t *p, const char *who, const char *what) {
  snprintf(p->labeler, sizeof p->labeler, "%s", who ? who : "");
  snprintf(p->label, sizeof p->label, "%s", what ? what : "");
}

static int set_labels(view_t *w, const tally_stored_label_t *labels, size_t n) {
  free(w->labels);
  w->labels = n ? calloc(n, sizeof *w->labels) : NULL;
  if (n && w->labels == NULL) return -ENOMEM;
  for (size_t i = 0; i < n; i++) set_pair(&w->labels[i], labels[i].labeler, labels[i].label);
  w->label_count = n;
  return 0;
}

static int same_judgment(const view_t *w, const tally_judgment_t *j) {
  if (w->label_count != j->label_count) return 0;
  for (size_t i = 0; i < w->label_count; i++)
    if (strcmp(w->labels[i].labeler, j->labels[i].labeler) || strcmp(w->labels[i].label, j->labels[i].label))
      return 0;
  return strcmp(w->audit.labeler, j->audit.labeler) == 0 && strcmp(w->audit.label, j->audit.label) == 0 &&
         strcmp(w->verdict.labeler, j->adjudicator) == 0 && strcmp(w->verdict.label, j->final_label) == 0;
}

/* What on_judgment returns to stop the export when memory runs out (a
 * positive value: the export's own errors are negative). */
#define JUDGMENT_NOMEM 1

static int on_judgment(void *arg, const tally_judgment_t *j) {
  views_t *v = arg;
  view_t *w = views_find(v, j->item_id);
  if (w != NULL) { /* a slot exported twice (moved mid-export) or two copies */
    if (!same_judgment(w, j)) {
      v->export_conflicts++;
      note("two different copies in the export", "-", j->item_id, NULL);
    }
    return 0;
  }
  w = views_add(v, j->item_id);
  if (w == NULL || set_labels(w, j->labels, j->label_count) != 0) return JUDGMENT_NOMEM;
  w->closed = 1;
  w->readable = 1;
  set_pair(&w->audit, j->audit.labeler, j->audit.label);
  set_pair(&w->verdict, j->adjudicator, j->final_label);
  return 0;
}

/* ------------------------------------------------------------ events */

typedef struct {
  uint64_t at_ms;
  uint64_t dead_ms; /* kill: when the process was seen gone (0: unknown) */
  char what[16];
  char target[32];
  uint8_t slots[TALLY_SLOT_COUNT]; /* 1: the target owned it */
} event_t;

static int read_events(const char *path, event_t **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (path == NULL) return 0;
  FILE *f = fopen(path, "r");
  if (f == NULL) return errno == ENOENT ? 0 : -errno;
  char line[16384];
  size_t cap = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    event_t e = {0};
    char slots[16000] = "";
    if (sscanf(line, "%" SCNu64 " %15s %31s %15999s %" SCNu64, &e.at_ms, e.what, e.target, slots, &e.dead_ms) < 3)
      continue;
    for (char *p = slots, *end; *p;) {
      unsigned long s = strtoul(p, &end, 10);
      if (end == p) break;
      if (s < TALLY_SLOT_COUNT) e.slots[s] = 1;
      p = *end == ',' ? end + 1 : end;
    }
    if (*count == cap) {
      cap = cap ? cap * 2 : 64;
      event_t *grown = realloc(*out, cap * sizeof *grown);
      if (grown == NULL) {
        fclose(f);
        return -ENOMEM;
      }
      *out = grown;
    }
    (*out)[(*count)++] = e;
  }
  fclose(f);
  return 0;
}

/* True when an event (any kill, restart, partition, heal) lies in [from, to]. */
static int event_between(const event_t *ev, size_t n, uint64_t from, uint64_t to) {
  for (size_t i = 0; i < n; i++)
    if (ev[i].at_ms >= from && ev[i].at_ms <= to) return 1;
  return 0;
}

/* ------------------------------------------------------------ the checks */


static void lease_key(char *buf, size_t size, const chaos_record_t *r) {
  snprintf(buf, size, "%s|%s|%d|%u.%" PRIu64, r->person, r->item, r->stage, r->slot, r->lease_id);
}

static void write_key(char *buf, size_t size, const char *person, const char *item, int stage) {
  snprintf(buf, size, "%s|%s|%d", person, item, stage);
}

/* Checks one acknowledged submit against the item's view. */
static void check_submit(const chaos_record_t *r, const view_t *w, int final, int stable,
                         chaos_check_result_t *out) {
  if (w == NULL || !w->readable) {
    if (w == NULL && r->stage == TALLY_STAGE_AUDIT && !final) out->pending++;
    else if (w == NULL) out->lost++, note("item of a write not found", r->person, r->item, NULL);
    else out->unreachable++;
    return;
  }
  if (r->stage == TALLY_STAGE_LABEL) {
    size_t mine = 0, same = 0;
    for (size_t i = 0; i < w->label_count; i++)
      if (strcmp(w->labels[i].labeler, r->person) == 0) {
        mine++;
        same += strcmp(w->labels[i].label, r->label) == 0;
      }
    if (mine == 0) out->lost++, note("label lost", r->person, r->item, NULL);
    else if (mine > 1) out->duplicated++, note("label twice", r->person, r->item, NULL);
    else if (same == 0) out->split_brain++, note("label stored with another value", r->person, r->item, r->label);
    return;
  }
  const pair_t *p = r->stage == TALLY_STAGE_AUDIT ? &w->audit : &w->verdict;
  if (!w->closed && !stable && w->done) {
    out->unverified++; /* closed, but the export missed it while slots moved */
  } else if (!w->closed) {
    /* An audit that disagreed waits for a verdict: pending (a violation
     * only at the final check). A verdict closes its item. */
    if (r->stage == TALLY_STAGE_AUDIT) {
      out->pending++;
      if (final) note("audit acknowledged, item never closed", r->person, r->item, NULL);
    } else if (!stable) {
      out->pending++; /* the export may have missed it while its slot moved */
    } else {
      out->lost++, note("verdict acknowledged, item not closed", r->person, r->item, NULL);
    }
  } else if (p->labeler[0] == '\0') {
    out->lost++;
    note(r->stage == TALLY_STAGE_AUDIT ? "audit lost" : "verdict lost", r->person, r->item, NULL);
  } else if (strcmp(p->labeler, r->person) != 0 || strcmp(p->label, r->label) != 0) {
    out->split_brain++;
    note(r->stage == TALLY_STAGE_AUDIT ? "another audit stored" : "another verdict stored", r->person, r->item,
         p->labeler);
  }
}

/* Leases of one (item, stage), held at once for certain, beyond the limit. */
static uint64_t double_leases(const chaos_record_t *recs, const size_t *group, size_t n, const strmap_t *ends,
                              const chaos_record_t *all, const event_t *ev, size_t nev, int overlap) {
  uint64_t violations = 0;
  for (size_t b = 0; b < n; b++) {
    const chaos_record_t *B = &recs[group[b]];
    int limit = B->stage == TALLY_STAGE_LABEL ? overlap : 1, held = 0, same_person = 0;
    for (size_t a = 0; a < n; a++) {
      const chaos_record_t *A = &recs[group[a]];
      if (a == b || (A->slot == B->slot && A->lease_id == B->lease_id)) continue;
      char key[256];
      size_t end_index;
      lease_key(key, sizeof key, A);
      uint64_t end = strmap_get(ends, key, &end_index) ? all[end_index].send_ms : A->deadline_ms;
      if (A->deadline_ms < end) end = A->deadline_ms;
      if (!(A->at_ms <= B->send_ms && B->at_ms <= end)) continue;
      if (event_between(ev, nev, A->send_ms, B->at_ms)) continue;
      held++;
      same_person += strcmp(A->person, B->person) == 0;
    }
    violations += held + 1 > limit || same_person > 0;
  }
  return violations;
}

static int cmp_by_item_stage(const void *x, const void *y, void *arg) {
  const chaos_record_t *recs = arg;
  const chaos_record_t *a = &recs[*(const size_t *)x], *b = &recs[*(const size_t *)y];
  int c = strcmp(a->item, b->item);
  if (c) return c;
  return a->stage - b->stage;
}

static void failovers(const chaos_check_options_t *o, const chaos_record_t *recs, size_t n, const event_t *ev,
                      size_t nev, chaos_check_result_t *out) {
  out->failovers = nev ? calloc(nev, sizeof *out->failovers) : NULL;
  if (out->failovers == NULL) return;
  for (size_t e = 0; e < nev; e++) {
    if (strcmp(ev[e].what, "kill") != 0 && strcmp(ev[e].what, "partition") != 0) continue;
    chaos_failover_t *f = &out->failovers[out->failover_count++];
    f->at_ms = ev[e].at_ms;
    snprintf(f->what, sizeof f->what, "%s", ev[e].what);
    snprintf(f->target, sizeof f->target, "%s", ev[e].target);
    f->failover_ms = -1;
    /* Writes sent once the process was gone: a dying process can still
     * answer for a few ms after the signal under load. */
    uint64_t from = ev[e].dead_ms > ev[e].at_ms ? ev[e].dead_ms : ev[e].at_ms;
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
      const chaos_record_t *r = &recs[i];
      uint32_t slot;
      if (r->kind == 'S' && r->send_ms >= from) slot = r->slot;
      else if (r->kind == 'I' && r->send_ms >= from) slot = slot_of_item(o->project, r->item, strlen(r->item));
      else continue;
      if (slot < TALLY_SLOT_COUNT && ev[e].slots[slot] && r->at_ms < first) first = r->at_ms;
    }
    if (first != UINT64_MAX) f->failover_ms = (int64_t)(first - ev[e].at_ms);
  }
}

uint64_t chaos_check_violations(const chaos_check_result_t *r, int final) {
  uint64_t v = r->lost + r->duplicated + r->overlap + r->double_leases + r->split_brain;
  if (final) v += r->pending + r->unreachable;
  return v;
}

/* The map's epoch into *epoch; returns 0 when no slot is moving, 1 when
 * one is or the map could not be read. */
static int map_state(tally_t *t, uint64_t *epoch) {
  tally_map_t *map = NULL;
  if (tally_cluster_map(t, &map) != 0) return 1;
  *epoch = map->epoch;
  uint32_t moving = 0;
  for (size_t i = 0; i < map->worker_count; i++) moving += map->workers[i].slots_moving;
  tally_free(map);
  return moving > 0;
}

/* Reads the items of acknowledged submits that the export did not have
 * (open items: their labels; an open item's audit is not shown, so an
 * acknowledged audit on it is pending). */
static int read_open_items(tally_t *t, const char *project, const chaos_record_t *recs, size_t n, uint64_t t0,
                           views_t *v) {
  for (size_t i = 0; i < n; i++) {
    const chaos_record_t *r = &recs[i];
    if (r->kind != 'S' || r->at_ms >= t0 || views_find(v, r->item) != NULL) continue;
    tally_item_state_t *st = NULL;
    int rc = tally_item_get(t, project, r->item, &st);
    view_t *w = views_add(v, r->item);
    if (w == NULL) {
      tally_free(st);
      return -ENOMEM;
    }
    if (rc == 0) {
      w->readable = 1;
      w->done = st->done;
      if (set_labels(w, st->labels, st->label_count) != 0) rc = -ENOMEM;
    } else if (rc == TALLY_E_NOT_FOUND) {
      w->readable = 1; /* no such item: every label on it is lost */
      rc = 0;
    }
    tally_free(st);
    if (rc == -ENOMEM) return rc;
  }
  return 0;
}

int chaos_check_run(const chaos_check_options_t *o, chaos_check_result_t *out) {
  memset(out, 0, sizeof *out);
  event_t *ev = NULL;
  size_t nev = 0;
  chaos_record_t *recs = NULL;
  size_t n = 0, bad = 0;
  views_t v = {0};
  strmap_t ends = {0}, writes = {0}, leases = {0};
  size_t *order = NULL;
  tally_t *t = NULL;
  int rc = tally_open(&t, o->coordinator, o->timeout_ms);
  if (rc != 0) {
    fprintf(stderr, "chaos check: cannot open a client: %s\n", tally_strerror(rc));
    return rc;
  }
  /* 1. The cluster (item count, closed audits), then the ledger, then the
   * open items; again, up to o->stable_wait_ms, while slots move (the map's
   * epoch changed or a slot was moving): an item count or an export taken
   * during a move can miss items that are there. */
  uint64_t t0 = 0, give_up = chaos_now_ms() + (uint64_t)o->stable_wait_ms;
  int stable = 0;
  for (;;) {
    uint64_t epoch_before = 0, epoch_after = 0;
    int moving_before = map_state(t, &epoch_before), moving_after;
    t0 = chaos_now_ms();
    out->counts_checked = 0;
    out->items_counted = 0;
    tally_status_t *st = NULL;
    if (tally_status(t, o->project, &st) == 0 && st->workers_failed == 0) {
      out->counts_checked = 1;
      out->items_counted = st->total.items;
    }
    tally_free(st);
    tally_export_summary_t sum = {0};
    for (int attempt = 0; attempt < 5; attempt++) {
      views_free(&v);
      memset(&v, 0, sizeof v);
      rc = tally_export_judgments(t, o->project, 0, on_judgment, &v, &sum);
      if (rc == 0 || rc == JUDGMENT_NOMEM) break;
    }
    if (rc != 0) {
      fprintf(stderr, "chaos check: export failed: %s\n",
              rc == JUDGMENT_NOMEM ? "out of memory" : tally_last_error(t));
      rc = rc == JUDGMENT_NOMEM ? -ENOMEM : rc;
      goto done;
    }
    out->judgments = sum.judgments;

    /* 2. The ledger, read after the cluster. */
    free(recs);
    recs = NULL;
    rc = chaos_ledger_read_dir(o->ledger_dir, &recs, &n, &bad);
    if (rc != 0) {
      fprintf(stderr, "chaos check: cannot read the ledger in %s: %s\n", o->ledger_dir, strerror(-rc));
      goto done;
    }
    rc = read_open_items(t, o->project, recs, n, t0, &v);
    if (rc != 0) goto done;
    moving_after = map_state(t, &epoch_after);
    stable = moving_before == 0 && moving_after == 0 && epoch_before == epoch_after;
    if (stable || chaos_now_ms() >= give_up) break;
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
  }
  out->stable = stable;
  if (!stable) out->counts_checked = 0;
  out->split_brain += v.export_conflicts;
  if (bad > 0) fprintf(stderr, "chaos check: %zu ledger lines do not parse (ignored)\n", bad);
  rc = read_events(o->events_file, &ev, &nev);
  if (rc != 0) {
    fprintf(stderr, "chaos check: cannot read %s: %s\n", o->events_file, strerror(-rc));
    goto done;
  }

  /* 3. Acknowledged writes, each once (a repeated acknowledgement of one
   * write, e.g. a retried submit answered OK again, is one write). */
  strmap_t ingested = {0}, sent = {0};
  uint64_t ingested_before_t0 = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const chaos_record_t *r = &recs[i];
    size_t dummy;
    char key[256];
    switch (r->kind) {
      case 'P':
        if (!strmap_get(&sent, r->item, &dummy)) rc = strmap_put(&sent, r->item, i);
        break;
      case 'I':
        if (r->at_ms < t0 && !strmap_get(&ingested, r->item, &dummy)) {
          rc = strmap_put(&ingested, r->item, i);
          ingested_before_t0++;
        }
        break;
      case 'i': out->unknown++; break;
      case 'U':
      case 'X': /* either ends its lease */
        out->unknown += r->kind == 'U';
        out->refused += r->kind == 'X';
        lease_key(key, sizeof key, r);
        rc = strmap_put(&ends, key, i);
        break;
      case 'S':
        lease_key(key, sizeof key, r);
        rc = strmap_put(&ends, key, i);
        write_key(key, sizeof key, r->person, r->item, r->stage);
        if (rc == 0 && r->at_ms < t0 && !strmap_get(&writes, key, &dummy)) {
          rc = strmap_put(&writes, key, i);
          check_submit(r, views_find(&v, r->item), o->final, out->stable, out);
          out->labels += r->stage == TALLY_STAGE_LABEL;
          out->audits += r->stage == TALLY_STAGE_AUDIT;
          out->verdicts += r->stage == TALLY_STAGE_ADJUDICATE;
        }
        break;
      case 'G':
        write_key(key, sizeof key, r->person, r->item, r->stage);
        rc = strmap_put(&leases, key, i);
        break;
    }
  }
  out->ingests = ingested_before_t0;
  out->acked = out->ingests + out->labels + out->audits + out->verdicts;
  /* Items: every acknowledged one counted, nothing beyond what was sent. */
  if (rc == 0 && out->counts_checked) {
    if (out->items_counted < ingested_before_t0) out->lost += ingested_before_t0 - out->items_counted;
    if (out->items_counted > sent.count) out->duplicated += out->items_counted - sent.count;
  }
  strmap_free(&ingested);
  strmap_free(&sent);
  if (rc != 0) goto done;

  /* 4. Every item read: overlap, and no label without a lease. */
  for (size_t i = 0; i < v.count; i++) {
    const view_t *w = &v.items[i];
    int repeated = 0;
    for (size_t a = 0; a < w->label_count; a++) {
      for (size_t b = a + 1; b < w->label_count; b++)
        repeated |= strcmp(w->labels[a].labeler, w->labels[b].labeler) == 0;
      char key[256];
      size_t dummy;
      write_key(key, sizeof key, w->labels[a].labeler, w->item, TALLY_STAGE_LABEL);
      /* A phantom: stored, never leased by that person. Only items read
       * before the ledger (the export) can be judged: a label read later
       * may have its lease line written after the ledger was read. */
      if (w->closed && strncmp(w->labels[a].labeler, "chaos-", 6) == 0 && !strmap_get(&leases, key, &dummy)) {
        out->split_brain++;
        note("a stored label no lease explains", w->labels[a].labeler, w->item, NULL);
      }
    }
    if (repeated || w->label_count > (size_t)o->overlap) {
      out->overlap++;
      note(repeated ? "one labeler twice" : "more labels than the overlap", "-", w->item, NULL);
    }
  }

  /* 5. Double leases, per (item, stage). */
  size_t ng = 0;
  order = malloc((n ? n : 1) * sizeof *order);
  if (order == NULL) {
    rc = -ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    if (recs[i].kind == 'G') order[ng++] = i;
  qsort_r(order, ng, sizeof *order, cmp_by_item_stage, recs);
  for (size_t s = 0, e; s < ng; s = e) {
    for (e = s + 1; e < ng && cmp_by_item_stage(&order[s], &order[e], recs) == 0; e++) {
    }
    if (e - s > 1) out->double_leases += double_leases(recs, order + s, e - s, &ends, recs, ev, nev, o->overlap);
  }
  failovers(o, recs, n, ev, nev, out);

done:
  free(order);
  free(ev);
  free(recs);
  views_free(&v);
  strmap_free(&ends);
  strmap_free(&writes);
  strmap_free(&leases);
  tally_close(&t);
  return rc;
}
