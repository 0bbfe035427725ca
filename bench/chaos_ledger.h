/* chaos_ledger: the chaos suite's own record of what the cluster
 * acknowledged, kept outside the cluster (bench/chaos, docs/PERFORMANCE.md).
 *
 * Each writer (one thread of the crowd) appends text lines to its own file;
 * a write counts as acknowledged only once its line is on disk
 * (chaos_ledger_sync(): fdatasync), so a crash of the crowd can lose an
 * acknowledgement from the ledger but never invent one. The checker reads
 * every file of a ledger directory back into one array of records.
 *
 * Line format, version 1 (fields separated by one space; item and person
 * ids never contain spaces; times are unix ms, CLOCK_REALTIME):
 *   P MS ITEM                                    ingest about to be sent
 *   I SEND ACK ITEM                              ingest acknowledged (code 0)
 *   i SEND AT ITEM CODE                          ingest of unknown outcome
 *   G SEND RECV STAGE PERSON ITEM SLOT LEASE DEADLINE   lease granted
 *   S SEND ACK STAGE PERSON ITEM SLOT LEASE LABEL       submit acknowledged
 *   U SEND AT STAGE PERSON ITEM SLOT LEASE LABEL CODE   submit of unknown outcome
 *   X SEND AT STAGE PERSON ITEM SLOT LEASE LABEL CODE   submit refused (nothing stored)
 * STAGE is 0 label, 1 audit, 2 adjudicate (tally_stage_t); CODE a negative
 * TALLY_E_*. A reader skips a last line without its newline (a writer
 * in the middle of it). To change the format, add a new letter; never
 * change the fields of an existing one.
 */
#ifndef TALLY_BENCH_CHAOS_LEDGER_H
#define TALLY_BENCH_CHAOS_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#define CHAOS_ID_MAX 64

typedef struct {
  char kind; /* P I i G S U X */
  uint64_t send_ms;
  uint64_t at_ms; /* recv / ack / at; for P the one time */
  int stage;
  int code;
  uint32_t slot;
  uint64_t lease_id;
  uint64_t deadline_ms;
  char person[CHAOS_ID_MAX];
  char item[CHAOS_ID_MAX];
  char label[CHAOS_ID_MAX];
} chaos_record_t;

typedef struct chaos_ledger chaos_ledger_t;

/* Opens DIR/NAME.ledger for appending (created 0644). Returns 0 with *out,
 * or -errno. */
int chaos_ledger_open(chaos_ledger_t **out, const char *dir, const char *name);

/* Closes; safe on NULL and twice; sets *l to NULL. */
void chaos_ledger_destroy(chaos_ledger_t **l);

/* Appends one record as a line (one write(2)); not yet durable. 0 or -errno. */
int chaos_ledger_append(chaos_ledger_t *l, const chaos_record_t *r);

/* Makes every appended line durable (fdatasync). 0 or -errno. Only after
 * it returns 0 may an acknowledgement be counted. */
int chaos_ledger_sync(chaos_ledger_t *l);

/* Reads every *.ledger file of `dir` into *out (malloc'ed, caller frees),
 * *count records. Lines that do not parse are counted in *bad (a torn last
 * line is not). 0 or -errno. */
int chaos_ledger_read_dir(const char *dir, chaos_record_t **out, size_t *count, size_t *bad);

/* Wall clock in ms since the epoch (the ledger's and the events file's
 * time base). */
uint64_t chaos_now_ms(void);

#endif
