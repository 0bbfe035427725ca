/* ramp_test: who leaves ramp-up from summed by-labeler rows
 * (common/ramp.h): the audits and accuracy thresholds, undefined accuracy,
 * partial gathers, the sorted list and its lookup. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ramp.h"

/* A by-labeler row with `audits` audits; `judged` of them closed (the
 * accuracy's judged count, which ramp-up counts). */
static Tally__ReportRow row(const char *key, uint64_t audits, Tally__Accuracy *a) {
  Tally__ReportRow r = TALLY__REPORT_ROW__INIT;
  r.key = (char *)key;
  r.audits = audits;
  r.labeler_final = a;
  return r;
}

static Tally__Accuracy accuracy(uint64_t judged, double value) {
  Tally__Accuracy a = TALLY__ACCURACY__INIT;
  a.defined = 1, a.judged = judged, a.value = value;
  return a;
}

int main(void) {
  Tally__AuditPolicy policy = TALLY__AUDIT_POLICY__INIT;
  policy.ramp_rate = 0.5;
  policy.ramp_audits = 6;
  policy.ramp_target = 0.8;
  Tally__Accuracy six = accuracy(6, 0.8), nine = accuracy(9, 0.8), five = accuracy(5, 0.8),
                  low = accuracy(20, 0.79), seven = accuracy(7, 0.8), none = TALLY__ACCURACY__INIT;
  /* "pend": 8 audits, of which 5 closed: the 3 waiting for a verdict do
   * not count (a person's standing shows closed audits only). */
  Tally__ReportRow rows[] = {row("zed", 6, &six),   row("amy", 9, &nine), row("few", 5, &five),
                             row("bad", 20, &low),  row("open", 20, &none), row("null", 20, NULL),
                             row("kim", 7, &seven), row("pend", 8, &five)};
  Tally__ReportRow *ptrs[8];
  for (int i = 0; i < 8; i++) ptrs[i] = &rows[i];
  CHECK(ramp_row_qualifies(&policy, &rows[0]) && !ramp_row_qualifies(&policy, &rows[2]) &&
        !ramp_row_qualifies(&policy, &rows[3]) && !ramp_row_qualifies(&policy, &rows[4]) &&
        !ramp_row_qualifies(&policy, &rows[5]) && !ramp_row_qualifies(&policy, &rows[7]));
  Tally__ReportReply reply = TALLY__REPORT_REPLY__INIT;
  reply.rows = ptrs;
  reply.n_rows = 8;

  /* kim has already left: amy and zed join, sorted with kim. */
  char *current[] = {"kim"};
  char **names = NULL;
  size_t n = 0;
  CHECK(ramp_graduates(&policy, current, 1, &reply, &names, &n) == 2);
  CHECK(n == 3 && names && strcmp(names[0], "amy") == 0 && strcmp(names[1], "kim") == 0 &&
        strcmp(names[2], "zed") == 0);
  CHECK(ramp_contains(names, n, "kim") && ramp_contains(names, n, "zed") && !ramp_contains(names, n, "few") &&
        !ramp_contains(names, 0, "amy"));
  free(names);

  /* Nothing new: no list. A partial gather decides nothing. */
  char *all[] = {"amy", "kim", "zed"};
  CHECK(ramp_graduates(&policy, all, 3, &reply, &names, &n) == 0 && names == NULL && n == 0);
  reply.workers_failed = 1;
  CHECK(ramp_graduates(&policy, current, 1, &reply, &names, &n) == 0 && names == NULL);
  reply.workers_failed = 0;

  /* ramp_audits 0 counts as 1. */
  policy.ramp_audits = 0;
  Tally__Accuracy a1 = accuracy(1, 1.0), a0 = accuracy(0, 0.0);
  a0.defined = 0;
  Tally__ReportRow one = row("one", 1, &a1), zero = row("zero", 0, &a0);
  CHECK(ramp_row_qualifies(&policy, &one) && !ramp_row_qualifies(&policy, &zero));

  Tally__Project project = TALLY__PROJECT__INIT;
  CHECK(!ramp_project_has_ramp(&project));
  project.audit = &policy;
  CHECK(ramp_project_has_ramp(&project));
  return check_summary();
}
