/* ramp: who leaves ramp-up, decided from cluster-wide sums (see ramp.h). */
#include "ramp.h"

#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

int ramp_project_has_ramp(const Tally__Project *project) {
  return project->audit != NULL && project->audit->ramp_rate > 0.0;
}

int ramp_row_qualifies(const Tally__AuditPolicy *policy, const Tally__ReportRow *row) {
  uint64_t needed = policy->ramp_audits > 0 ? policy->ramp_audits : 1;
  const Tally__Accuracy *a = row->labeler_final;
  return a != NULL && a->defined && a->judged >= needed && a->value >= policy->ramp_target;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int ramp_contains(char *const *names, size_t n, const char *person) {
  return n > 0 && bsearch(&person, names, n, sizeof *names, compare_names) != NULL;
}

int ramp_graduates(const Tally__AuditPolicy *policy, char *const *current, size_t n,
                   const Tally__ReportReply *reply, char ***out, size_t *out_n) {
  *out = NULL;
  *out_n = 0;
  if (policy == NULL || reply->workers_failed > 0) return 0;
  size_t added = 0;
  for (size_t i = 0; i < reply->n_rows; i++)
    added += reply->rows[i]->key[0] != '\0' && ramp_row_qualifies(policy, reply->rows[i]) &&
             !ramp_contains(current, n, reply->rows[i]->key);
  if (added == 0) return 0;
  char **names = malloc((n + added) * sizeof *names);
  if (names == NULL) return TALLY_E_NOMEM;
  if (n > 0) memcpy(names, current, n * sizeof *names); /* current may be NULL when n is 0 */
  size_t count = n;
  for (size_t i = 0; i < reply->n_rows; i++) {
    const Tally__ReportRow *row = reply->rows[i];
    if (row->key[0] != '\0' && ramp_row_qualifies(policy, row) && !ramp_contains(current, n, row->key))
      names[count++] = row->key;
  }
  qsort(names, count, sizeof *names, compare_names);
  *out = names;
  *out_n = count;
  return (int)added;
}
