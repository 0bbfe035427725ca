/* gold_mix: when a person's next gold task is due on this worker.
 *
 * Gold items (ingested with a gold_label) sit in a pool of their own
 * (ITEM_RECORD_STAGE_GOLD) and are served in place of a production label
 * task at the project's AuditPolicy.gold_rate. Per (person, project) this
 * table holds a countdown of production label leases: when it reaches 0
 * the next label lease of that person in that project is a gold task (if
 * there is one they have not had: labeling.c), and a new gap is drawn.
 *
 * Gaps are random, not a fixed period, so a person cannot tell a gold task
 * by its position: with m = 1/rate a cycle (the gap's production leases
 * and the gold one) is floor(m * U + V) leases with U uniform in
 * [0.5, 1.5) and V uniform in [0, 1), which is m on average (the share is
 * the rate) and never shorter than about m/2 (no bursts).
 * The first gap of a person is drawn the same way, so nobody's first gold
 * comes at a predictable lease either.
 *
 * In memory only, like the leases it counts (DESIGN.md, "Leases"): a
 * restart draws new gaps, which keeps the share and the spacing within
 * one gap. Loop thread only. Bounded by people x projects seen here.
 */
#ifndef TALLY_GOLD_MIX_H
#define TALLY_GOLD_MIX_H

#include <stdint.h>

/* The largest gold rate a project may set (a gold task every other lease
 * on average); coordinator/validate.c refuses more. */
#define GOLD_MIX_RATE_MAX 0.5

typedef struct gold_mix gold_mix_t;

/* New empty table seeded with `seed` (the worker passes random bytes;
 * tests a fixed seed), or NULL when out of memory. */
gold_mix_t *gold_mix_new(uint64_t seed);

/* Frees the table; safe on NULL and twice (sets *g NULL). */
void gold_mix_destroy(gold_mix_t **g);

/* True when `person`'s next label lease in project `project_id` should be
 * a gold task at `rate` (0 or less, or NaN: never). A person seen for the
 * first time gets a first gap drawn. fatal_exit on out of memory. */
int gold_mix_is_due(gold_mix_t *g, const char *person, uint32_t project_id, double rate);

/* Records a label lease granted to `person` in the project: a production
 * one (`gold` 0) counts the gap down; a gold one (`gold` 1), or a turn
 * that found no gold item to give (`gold` 1 as well: the turn is spent),
 * draws a new gap. */
void gold_mix_on_lease(gold_mix_t *g, const char *person, uint32_t project_id, double rate,
                       int gold);

#endif
