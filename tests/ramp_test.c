/* ramp_test: who leaves ramp-up from summed by-labeler rows
 * (common/ramp.h): the audits and accuracy thresholds, undefined accuracy,
 * partial gathers, the sorted list and its lookup. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ramp.h"

static Tally__ReportRow row(const char *key, uint64_t audits, Tally__Accuracy *a) {
  Tally__ReportRow r = TALLY__REPORT_ROW__INIT;
  r.key = (char *)key;
  r.audits = audits;
  r.labeler_final = a;
  return r;
}

int main(void) {
  Tally__AuditPolicy policy = TALLY__AUDIT_POLICY__INIT;
  policy.ramp_rate = 0.5;
  policy.ramp_audits = 6;
  policy.ramp_target = 0.8;
  Tally__Accuracy good = TALLY__ACCURACY__INIT, low = TALLY__ACCURACY__INIT, none = TALLY__ACCURACY__INIT;
  good.defined = 1, good.value = 0.8, good.judged = 5, good.correct = 4;
  low.defined = 1, low.value = 0.79;
  Tally__ReportRow rows[] = {row("zed", 6, &good), row("amy", 9, &good), row("few", 5, &good),
                             row("bad", 20, &low), row("open", 20, &none), row("null", 20, NULL),
                             row("kim", 7, &good)};
  Tally__ReportRow *ptrs[7];
  for (int i = 0; i < 7; i++) ptrs[i] = &rows[i];
  CHECK(ramp_row_qualifies(&policy, &rows[0]) && !ramp_row_qualifies(&policy, &rows[2]) &&
        !ramp_row_qualifies(&policy, &rows[3]) && !ramp_row_qualifies(&policy, &rows[4]) &&
        !ramp_row_qualifies(&policy, &rows[5]));
  Tally__ReportReply reply = TALLY__REPORT_REPLY__INIT;
  reply.rows = ptrs;
  reply.n_rows = 7;

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
  Tally__ReportRow one = row("one", 1, &good), zero = row("zero", 0, &good);
  CHECK(ramp_row_qualifies(&policy, &one) && !ramp_row_qualifies(&policy, &zero));

  Tally__Project project = TALLY__PROJECT__INIT;
  CHECK(!ramp_project_has_ramp(&project));
  project.audit = &policy;
  CHECK(ramp_project_has_ramp(&project));
  return check_summary();
}
