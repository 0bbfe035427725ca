/* client_wellbeing: the exposure report (tally_exposure): every worker is
 * asked for its counts of a shift range and the counts are added per
 * (labeler, shift). tally_wellbeing_set lives with the other configuration
 * calls in client_admin.c. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "result.h"
#include "wire.h"

static int exposure_order(const void *a, const void *b) {
  const Tally__ExposureRow *x = *(const Tally__ExposureRow *const *)a;
  const Tally__ExposureRow *y = *(const Tally__ExposureRow *const *)b;
  int c = strcmp(x->labeler, y->labeler);
  if (c != 0) return c;
  return x->shift < y->shift ? -1 : x->shift > y->shift;
}

/* Adds the answers' rows per (labeler, shift) into a new result. */
static int exposure_merge(tally_t *t, const client_answer_t *answers, size_t count,
                          tally_exposure_t **out) {
  size_t total = 0;
  for (size_t w = 0; w < count; w++)
    if (answers[w].reply) total += answers[w].reply->exposure_reply->n_rows;
  const Tally__ExposureRow **all = malloc((total ? total : 1) * sizeof *all);
  result_t *r;
  tally_exposure_t *ex = result_new(sizeof *ex, &r);
  if (all == NULL || ex == NULL) {
    free(all);
    result_free(ex);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  size_t n = 0;
  for (size_t w = 0; w < count; w++) {
    if (answers[w].skipped) continue;
    if (answers[w].reply == NULL) {
      ex->workers_failed++;
      continue;
    }
    ex->workers_answered++;
    const Tally__ExposureReply *rep = answers[w].reply->exposure_reply;
    for (size_t i = 0; i < rep->n_rows; i++) all[n++] = rep->rows[i];
  }
  qsort(all, n, sizeof *all, exposure_order);
  ex->rows = result_alloc(r, (n ? n : 1) * sizeof *ex->rows);
  size_t kept = 0;
  for (size_t i = 0; ex->rows && i < n; i++) {
    if (kept > 0 && ex->rows[kept - 1].shift == all[i]->shift &&
        strcmp(ex->rows[kept - 1].labeler, all[i]->labeler) == 0) {
      ex->rows[kept - 1].count += all[i]->count;
      continue;
    }
    ex->rows[kept++] = (tally_exposure_row_t){result_strdup(r, all[i]->labeler), all[i]->shift,
                                              all[i]->count};
  }
  ex->count = kept;
  free(all);
  if (result_failed(r)) {
    result_free(ex);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = ex;
  return 0;
}

int tally_exposure(tally_t *t, const char *project, uint64_t from_shift, uint64_t to_shift,
                   tally_exposure_t **out) {
  *out = NULL;
  if (project == NULL || project[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "exposure needs a project");
  if (from_shift > to_shift)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "from_shift is after to_shift");
  Tally__Envelope req;
  Tally__ExposureRequest body;
  wire_envelope_init(&req, 0);
  tally__exposure_request__init(&body);
  body.project = (char *)project;
  body.from_shift = from_shift;
  body.to_shift = to_shift;
  req.body_case = TALLY__ENVELOPE__BODY_EXPOSURE_REQUEST;
  req.exposure_request = &body;
  client_answer_t *answers = NULL;
  size_t count = 0;
  int rc = client_scatter(t, &req, TALLY__ENVELOPE__BODY_EXPOSURE_REPLY, &answers, &count);
  if (rc < 0) return rc;
  const client_answer_t *first_failure = NULL;
  size_t answered = 0;
  for (size_t w = 0; w < count; w++) {
    answered += answers[w].reply != NULL;
    if (first_failure == NULL && !answers[w].skipped && answers[w].reply == NULL)
      first_failure = &answers[w];
  }
  if (answered == 0 && first_failure)
    rc = client_error(t, first_failure->code, "no worker answered (worker %u at %s: %s)",
                      first_failure->worker_id,
                      first_failure->endpoint ? first_failure->endpoint : "?",
                      first_failure->error ? first_failure->error : tally_strerror(first_failure->code));
  else
    rc = exposure_merge(t, answers, count, out);
  client_answers_free(&answers, count);
  return rc;
}
