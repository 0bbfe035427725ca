/* item_record: see item_record.h. */
#include "item_record.h"

#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

#define ITEM_RECORD_FORMAT 1
#define ITEM_RECORD_SKIPPERS_MAX 32

static char *copy_or_empty(const char *s) {
  if (s == NULL || *s == '\0') return (char *)protobuf_c_empty_string;
  return strdup(s);
}

item_record_t *item_record_new(const char *market, uint32_t priority, const char *content,
                               const char *gold_label, uint32_t overlap, uint64_t seq,
                               uint64_t now_ms) {
  item_record_t *rec = malloc(sizeof *rec);
  if (rec == NULL) return NULL;
  tally__store__item_record__init(rec);
  rec->format = ITEM_RECORD_FORMAT;
  rec->market = copy_or_empty(market);
  rec->content = copy_or_empty(content);
  rec->gold_label = copy_or_empty(gold_label);
  rec->priority = priority;
  rec->overlap = overlap;
  rec->seq = seq;
  rec->ingested_ms = now_ms;
  rec->state = TALLY__STORE__ITEM_STATE__ITEM_LABELING;
  rec->stage = TALLY__STAGE__STAGE_LABEL;
  if (rec->market == NULL || rec->content == NULL || rec->gold_label == NULL) {
    item_record_free(&rec);
    return NULL;
  }
  return rec;
}

item_record_t *item_record_decode(const uint8_t *data, size_t len) {
  item_record_t *rec = tally__store__item_record__unpack(NULL, len, data);
  if (rec != NULL && rec->format != ITEM_RECORD_FORMAT) item_record_free(&rec);
  return rec;
}

uint8_t *item_record_encode(const item_record_t *rec, size_t *len) {
  *len = tally__store__item_record__get_packed_size(rec);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (buf != NULL) tally__store__item_record__pack(rec, buf);
  return buf;
}

void item_record_free(item_record_t **rec) {
  if (rec == NULL || *rec == NULL) return;
  tally__store__item_record__free_unpacked(*rec, NULL);
  *rec = NULL;
}

int item_record_wants_work_with(const item_record_t *rec, size_t holders) {
  if (rec->state != TALLY__STORE__ITEM_STATE__ITEM_LABELING) return 0;
  switch (rec->stage) {
    case TALLY__STAGE__STAGE_LABEL: return rec->n_labels + holders < rec->overlap;
    case TALLY__STAGE__STAGE_AUDIT: return rec->audit == NULL && holders == 0;
    case ITEM_RECORD_STAGE_GOLD: return 1;
    default: return rec->final_label[0] == '\0' && holders == 0;
  }
}

int item_record_wants_work(const item_record_t *rec) {
  return item_record_wants_work_with(rec, rec->n_lease_holders);
}

int item_record_lease_submitted(const item_record_t *rec, uint64_t lease_id) {
  for (size_t i = 0; i < rec->n_submitted_leases; i++)
    if (rec->submitted_leases[i] == lease_id) return 1;
  return 0;
}

int item_record_add_submitted_lease(item_record_t *rec, uint64_t lease_id) {
  uint64_t *grown =
      realloc(rec->submitted_leases, (rec->n_submitted_leases + 1) * sizeof *grown);
  if (grown == NULL) return TALLY_E_NOMEM;
  grown[rec->n_submitted_leases++] = lease_id;
  rec->submitted_leases = grown;
  return 0;
}

void item_record_clear_holders(item_record_t *rec) {
  for (size_t i = 0; i < rec->n_lease_holders; i++) free(rec->lease_holders[i]);
  free(rec->lease_holders);
  rec->lease_holders = NULL;
  rec->n_lease_holders = 0;
}

static int string_index(char **list, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i], s) == 0) return (int)i;
  return -1;
}

int item_record_excludes(const item_record_t *rec, const char *labeler) {
  for (size_t i = 0; i < rec->n_labels; i++)
    if (strcmp(rec->labels[i]->labeler, labeler) == 0) return 1;
  if (rec->audit != NULL && strcmp(rec->audit->labeler, labeler) == 0) return 1;
  return string_index(rec->lease_holders, rec->n_lease_holders, labeler) >= 0 ||
         string_index(rec->skipped_by, rec->n_skipped_by, labeler) >= 0;
}

static int string_list_append(char ***list, size_t *n, const char *s) {
  char *copy = strdup(s);
  if (copy == NULL) return TALLY_E_NOMEM;
  char **grown = realloc(*list, (*n + 1) * sizeof *grown);
  if (grown == NULL) {
    free(copy);
    return TALLY_E_NOMEM;
  }
  grown[(*n)++] = copy;
  *list = grown;
  return 0;
}

int item_record_add_holder(item_record_t *rec, const char *labeler) {
  return string_list_append(&rec->lease_holders, &rec->n_lease_holders, labeler);
}

int item_record_remove_holder(item_record_t *rec, const char *labeler) {
  int at = string_index(rec->lease_holders, rec->n_lease_holders, labeler);
  if (at < 0) return 0;
  free(rec->lease_holders[at]);
  rec->lease_holders[at] = rec->lease_holders[--rec->n_lease_holders];
  return 1;
}

int item_record_add_skipper(item_record_t *rec, const char *labeler) {
  if (rec->n_skipped_by >= ITEM_RECORD_SKIPPERS_MAX) return 0;
  if (string_index(rec->skipped_by, rec->n_skipped_by, labeler) >= 0) return 0;
  return string_list_append(&rec->skipped_by, &rec->n_skipped_by, labeler);
}

int item_record_add_seen(item_record_t *rec, const char *labeler) {
  if (string_index(rec->skipped_by, rec->n_skipped_by, labeler) >= 0) return 0;
  return string_list_append(&rec->skipped_by, &rec->n_skipped_by, labeler);
}

const char *item_record_label_of(const item_record_t *rec, const char *labeler) {
  for (size_t i = 0; i < rec->n_labels; i++)
    if (strcmp(rec->labels[i]->labeler, labeler) == 0) return rec->labels[i]->label;
  return NULL;
}

int item_record_add_sampled(item_record_t *rec, const char *labeler) {
  return string_list_append(&rec->sampled, &rec->n_sampled, labeler);
}

int item_record_set_audit(item_record_t *rec, const char *auditor, const char *label,
                          uint64_t at_ms, uint32_t handling_ms) {
  Tally__StoredLabel *audit = malloc(sizeof *audit);
  if (audit == NULL) return TALLY_E_NOMEM;
  tally__stored_label__init(audit);
  audit->labeler = strdup(auditor);
  audit->label = strdup(label);
  audit->at_ms = at_ms;
  audit->handling_ms = handling_ms;
  if (audit->labeler == NULL || audit->label == NULL) {
    tally__stored_label__free_unpacked(audit, NULL);
    return TALLY_E_NOMEM;
  }
  if (rec->audit) tally__stored_label__free_unpacked(rec->audit, NULL);
  rec->audit = audit;
  return 0;
}

int item_record_set_string(char **field, const char *value) {
  char *copy = value[0] ? strdup(value) : (char *)protobuf_c_empty_string;
  if (copy == NULL) return TALLY_E_NOMEM;
  if (*field && *field != protobuf_c_empty_string) free(*field);
  *field = copy;
  return 0;
}

void item_record_clear_skippers(item_record_t *rec) {
  for (size_t i = 0; i < rec->n_skipped_by; i++) free(rec->skipped_by[i]);
  rec->n_skipped_by = 0;
}

int item_record_add_label(item_record_t *rec, const char *labeler, const char *label,
                          uint64_t at_ms) {
  Tally__StoredLabel *stored = malloc(sizeof *stored);
  if (stored == NULL) return TALLY_E_NOMEM;
  tally__stored_label__init(stored);
  stored->labeler = strdup(labeler);
  stored->label = strdup(label);
  stored->at_ms = at_ms;
  Tally__StoredLabel **grown = realloc(rec->labels, (rec->n_labels + 1) * sizeof *grown);
  if (stored->labeler == NULL || stored->label == NULL || grown == NULL) {
    tally__stored_label__free_unpacked(stored, NULL);
    if (grown) rec->labels = grown;
    return TALLY_E_NOMEM;
  }
  grown[rec->n_labels++] = stored;
  rec->labels = grown;
  return 0;
}
