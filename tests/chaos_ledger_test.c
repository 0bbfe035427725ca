/* chaos_ledger: records written with chaos_ledger_append/sync come back
 * from chaos_ledger_read_dir field for field, from every *.ledger file of
 * the directory; a torn last line (a writer in the middle of it) is
 * skipped, not counted as bad; a line that does not parse is counted as
 * bad; files of other names are ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaos_ledger.h"
#include "check.h"

static const chaos_record_t *find(const chaos_record_t *r, size_t n, char kind, const char *item) {
  for (size_t i = 0; i < n; i++)
    if (r[i].kind == kind && strcmp(r[i].item, item) == 0) return &r[i];
  return NULL;
}

static void write_raw(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "a");
  CHECK(f != NULL);
  if (f != NULL) {
    fputs(text, f);
    fclose(f);
  }
}

int main(void) {
  char dir[] = "/tmp/tally-test-chaos-ledger.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);

  chaos_ledger_t *a = NULL, *b = NULL;
  CHECK(chaos_ledger_open(&a, dir, "chaos-l1") == 0);
  CHECK(chaos_ledger_open(&b, dir, "ingest") == 0);
  chaos_ledger_t *none = NULL;
  CHECK(chaos_ledger_open(&none, "/nonexistent-dir-of-chaos", "x") < 0 && none == NULL);
  chaos_record_t g = {.kind = 'G', .send_ms = 1000, .at_ms = 1005, .stage = 1, .slot = 1023,
                      .lease_id = 18446744073709551615ull, .deadline_ms = 121005};
  snprintf(g.person, sizeof g.person, "chaos-l1");
  snprintf(g.item, sizeof g.item, "r1-17");
  chaos_record_t s = g;
  s.kind = 'S';
  s.deadline_ms = 0;
  snprintf(s.label, sizeof s.label, "spam");
  chaos_record_t u = s;
  u.kind = 'U';
  u.code = -100;
  chaos_record_t p = {.kind = 'P', .at_ms = 7};
  snprintf(p.item, sizeof p.item, "r1-18");
  chaos_record_t in = {.kind = 'I', .send_ms = 8, .at_ms = 9};
  snprintf(in.item, sizeof in.item, "r1-18");
  chaos_record_t un = {.kind = 'i', .send_ms = 10, .at_ms = 11, .code = -13};
  snprintf(un.item, sizeof un.item, "r1-19");
  CHECK(chaos_ledger_append(a, &g) == 0);
  CHECK(chaos_ledger_append(a, &s) == 0);
  CHECK(chaos_ledger_append(a, &u) == 0);
  CHECK(chaos_ledger_sync(a) == 0);
  CHECK(chaos_ledger_append(b, &p) == 0);
  CHECK(chaos_ledger_append(b, &in) == 0);
  CHECK(chaos_ledger_append(b, &un) == 0);
  CHECK(chaos_ledger_sync(b) == 0);
  chaos_record_t bad_kind = {.kind = 'Q'};
  CHECK(chaos_ledger_append(a, &bad_kind) < 0);
  chaos_ledger_destroy(&a);
  chaos_ledger_destroy(&a); /* twice is safe */
  CHECK(a == NULL);
  chaos_ledger_destroy(&b);

  write_raw(dir, "chaos-l1.ledger", "S 1 2 0 chaos-l1 r1-20 5 6 ok"); /* torn: no newline */
  write_raw(dir, "other.ledger", "Z what is this\nS 1 2 zero x y 1 2 ok\n");
  write_raw(dir, "notes.txt", "S 1 2 0 chaos-l1 r1-21 5 6 ok\n");

  chaos_record_t *recs = NULL;
  size_t n = 0, bad = 0;
  CHECK(chaos_ledger_read_dir(dir, &recs, &n, &bad) == 0);
  CHECK_EQ_U64(n, 6);
  CHECK_EQ_U64(bad, 2);
  const chaos_record_t *r = find(recs, n, 'G', "r1-17");
  CHECK(r != NULL && r->send_ms == 1000 && r->at_ms == 1005 && r->stage == 1 && r->slot == 1023 &&
        r->lease_id == 18446744073709551615ull && r->deadline_ms == 121005 && strcmp(r->person, "chaos-l1") == 0);
  r = find(recs, n, 'S', "r1-17");
  CHECK(r != NULL && strcmp(r->label, "spam") == 0 && r->lease_id == g.lease_id);
  r = find(recs, n, 'U', "r1-17");
  CHECK(r != NULL && r->code == -100);
  r = find(recs, n, 'I', "r1-18");
  CHECK(r != NULL && r->send_ms == 8 && r->at_ms == 9);
  r = find(recs, n, 'i', "r1-19");
  CHECK(r != NULL && r->code == -13 && r->at_ms == 11);
  CHECK(find(recs, n, 'S', "r1-20") == NULL); /* the torn line */
  CHECK(find(recs, n, 'S', "r1-21") == NULL); /* not a .ledger file */
  free(recs);

  CHECK(chaos_ledger_read_dir("/nonexistent-dir-of-chaos", &recs, &n, &bad) < 0);

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  return check_summary();
}
