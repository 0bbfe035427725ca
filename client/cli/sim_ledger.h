/* sim_ledger: what `tally simulate` remembers about who said what.
 *
 * Adjudication is blind: a lead's task shows the two disputed labels in an
 * order that does not say which came from the labeler and which from the
 * auditor. The simulator's leads still attribute correctly, because the
 * simulator itself knows what its simulated labelers and auditors submitted
 * for each item id: this ledger records it (labels as indexes into the
 * project's taxonomy) and sim_attribute() turns it into the lead's verdict.
 * Items labeled or audited outside this run are unknown to it.
 */
#ifndef TALLY_CLIENT_SIM_LEDGER_H
#define TALLY_CLIENT_SIM_LEDGER_H

#include <stddef.h>

#include "tally.h"

/* Labeler labels kept per item (more, with a large overlap, are dropped). */
#define SIM_LEDGER_LABELS 4

typedef struct sim_ledger sim_ledger_t;

/* What the ledger knows about one item. */
typedef struct {
  int labels[SIM_LEDGER_LABELS]; /* labeler labels, in submit order */
  size_t label_count;
  int audit; /* the auditor's label, -1 = unknown */
} sim_provenance_t;

/* An empty ledger; NULL when out of memory. */
sim_ledger_t *sim_ledger_new(void);

/* Frees the ledger; safe on NULL and twice; sets *l to NULL. */
void sim_ledger_destroy(sim_ledger_t **l);

/* Records a simulated labeler's label / a simulated auditor's label for
 * `item_id`. Return 0 or -1 (out of memory). */
int sim_ledger_add_label(sim_ledger_t *l, const char *item_id, int label);
int sim_ledger_set_audit(sim_ledger_t *l, const char *item_id, int label);

/* What is known about `item_id`: 1 with *out, or 0 if nothing. */
int sim_ledger_get(const sim_ledger_t *l, const char *item_id, sim_provenance_t *out);

/* Number of items recorded. */
size_t sim_ledger_count(const sim_ledger_t *l);

/* A simulated lead's attribution of a disagreement on an item whose true
 * label is `truth`, given the candidates a and b (label indexes, -1 when
 * absent) and what the ledger knows (NULL: nothing). With probability
 * `policy_unclear_share` (u is a uniform draw in [0, 1)) the lead calls the
 * policy unclear. Otherwise: both candidates wrong → BOTH; one wrong → the
 * side that gave it (LABELER or AUDITOR), found from the ledger. When the
 * ledger cannot tell, POLICY_UNCLEAR with *known = 0 (else *known = 1). */
tally_attribution_t sim_attribute(const sim_provenance_t *p, int truth, int a, int b, double u,
                                  double policy_unclear_share, int *known);

#endif
