/* sim_ledger: item id → labels given by the simulation, an open-addressing
 * hash table (xxHash, linear probing, at most half full). See
 * sim_ledger.h. */
#include "sim_ledger.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct {
  char *item_id; /* NULL = free */
  sim_provenance_t p;
} sim_entry_t;

struct sim_ledger {
  sim_entry_t *entries;
  size_t cap; /* a power of two */
  size_t count;
};

#define SIM_LEDGER_INITIAL 1024u

sim_ledger_t *sim_ledger_new(void) {
  sim_ledger_t *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->entries = calloc(SIM_LEDGER_INITIAL, sizeof *l->entries);
  if (l->entries == NULL) {
    free(l);
    return NULL;
  }
  l->cap = SIM_LEDGER_INITIAL;
  return l;
}

void sim_ledger_destroy(sim_ledger_t **lp) {
  if (lp == NULL || *lp == NULL) return;
  sim_ledger_t *l = *lp;
  for (size_t i = 0; i < l->cap; i++) free(l->entries[i].item_id);
  free(l->entries);
  free(l);
  *lp = NULL;
}

size_t sim_ledger_count(const sim_ledger_t *l) { return l->count; }

/* The slot holding item_id, or the free slot where it belongs. */
static size_t probe(const sim_entry_t *entries, size_t cap, const char *item_id) {
  size_t i = (size_t)XXH64(item_id, strlen(item_id), 0) & (cap - 1);
  while (entries[i].item_id && strcmp(entries[i].item_id, item_id) != 0) i = (i + 1) & (cap - 1);
  return i;
}

static int grow(sim_ledger_t *l) {
  size_t cap = l->cap * 2;
  sim_entry_t *entries = calloc(cap, sizeof *entries);
  if (entries == NULL) return -1;
  for (size_t i = 0; i < l->cap; i++)
    if (l->entries[i].item_id) entries[probe(entries, cap, l->entries[i].item_id)] = l->entries[i];
  free(l->entries);
  l->entries = entries;
  l->cap = cap;
  return 0;
}

/* The entry of item_id, created empty if new; NULL when out of memory. */
static sim_provenance_t *entry(sim_ledger_t *l, const char *item_id) {
  if ((l->count + 1) * 2 > l->cap && grow(l) < 0) return NULL;
  sim_entry_t *e = &l->entries[probe(l->entries, l->cap, item_id)];
  if (e->item_id == NULL) {
    if ((e->item_id = strdup(item_id)) == NULL) return NULL;
    e->p.label_count = 0;
    e->p.audit = -1;
    l->count++;
  }
  return &e->p;
}

int sim_ledger_add_label(sim_ledger_t *l, const char *item_id, int label) {
  sim_provenance_t *p = entry(l, item_id);
  if (p == NULL) return -1;
  if (p->label_count < SIM_LEDGER_LABELS) p->labels[p->label_count++] = label;
  return 0;
}

int sim_ledger_set_audit(sim_ledger_t *l, const char *item_id, int label) {
  sim_provenance_t *p = entry(l, item_id);
  if (p == NULL) return -1;
  p->audit = label;
  return 0;
}

int sim_ledger_get(const sim_ledger_t *l, const char *item_id, sim_provenance_t *out) {
  const sim_entry_t *e = &l->entries[probe(l->entries, l->cap, item_id)];
  if (e->item_id == NULL) return 0;
  *out = e->p;
  return 1;
}

static int has_label(const sim_provenance_t *p, int label) {
  for (size_t i = 0; i < p->label_count; i++)
    if (p->labels[i] == label) return 1;
  return 0;
}

/* Without candidates: judge each side by what it said. */
static tally_attribution_t attribute_by_sides(const sim_provenance_t *p, int truth, int *known) {
  if (p == NULL || p->audit < 0 || p->label_count == 0) return TALLY_ATTRIBUTION_POLICY_UNCLEAR;
  int labeler_wrong = !has_label(p, truth), auditor_wrong = p->audit != truth;
  if (!labeler_wrong && !auditor_wrong) return TALLY_ATTRIBUTION_POLICY_UNCLEAR;
  *known = 1;
  if (labeler_wrong && auditor_wrong) return TALLY_ATTRIBUTION_BOTH;
  return labeler_wrong ? TALLY_ATTRIBUTION_LABELER : TALLY_ATTRIBUTION_AUDITOR;
}

tally_attribution_t sim_attribute(const sim_provenance_t *p, int truth, int a, int b, double u,
                                  double policy_unclear_share, int *known) {
  *known = 1;
  if (u < policy_unclear_share) return TALLY_ATTRIBUTION_POLICY_UNCLEAR;
  *known = 0;
  if (a < 0 || b < 0) return attribute_by_sides(p, truth, known);
  if (a != truth && b != truth) {
    *known = 1;
    return TALLY_ATTRIBUTION_BOTH;
  }
  if (a == truth && b == truth) return TALLY_ATTRIBUTION_POLICY_UNCLEAR; /* no one was wrong */
  int wrong = a == truth ? b : a;
  if (p && p->audit >= 0) {
    *known = 1;
    return p->audit == wrong ? TALLY_ATTRIBUTION_AUDITOR : TALLY_ATTRIBUTION_LABELER;
  }
  if (p && p->label_count > 0) {
    *known = 1;
    return has_label(p, wrong) ? TALLY_ATTRIBUTION_LABELER : TALLY_ATTRIBUTION_AUDITOR;
  }
  return TALLY_ATTRIBUTION_POLICY_UNCLEAR;
}
