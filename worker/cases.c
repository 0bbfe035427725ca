/* cases: the case database. See cases.h. */
#include "cases.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fatal.h"
#include "keys.h"
#include "log.h"
#include "slot.h"
#include "tally_error.h"
#include "tally_store.pb-c.h"
#include "wire.h"

#define CASES_FORMAT 1
/* Search bounds: a text is a phrase, not a document; labels are names. */
#define CASES_TEXT_MAX 1024
#define CASES_LABEL_MAX 256
#define CASES_MS_PER_DAY 86400000ull
/* Key bytes before the newest-first part: slot u16 | project u32. */
#define CASES_PREFIX_LEN 6

struct cases {
  store_t *store;               /* borrowed */
  const config_cache_t *config; /* borrowed */
  const uint8_t *owned;         /* borrowed: TALLY_SLOT_COUNT flags */
};

cases_t *cases_new(store_t *store, const config_cache_t *config, const uint8_t *owned) {
  cases_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->store = store;
  c->config = config;
  c->owned = owned;
  return c;
}

void cases_destroy(cases_t **cases) {
  if (cases == NULL || *cases == NULL) return;
  free(*cases);
  *cases = NULL;
}

/* Fills `entry` (strings borrowed from rec) from an adjudicated item. */
static void case_entry_from(Tally__CaseEntry *entry, const item_record_t *rec) {
  const char *disputed = item_record_label_of(rec, rec->disputed_labeler);
  const char *audited = rec->audit ? rec->audit->label : "";
  int swap = rec->candidates_swapped;
  entry->market = rec->market;
  entry->final_label = rec->final_label;
  entry->attribution = rec->attribution;
  entry->lead = rec->adjudicator;
  entry->note = rec->note;
  entry->label_a = (char *)(swap ? audited : disputed ? disputed : "");
  entry->label_b = (char *)(swap ? (disputed ? disputed : "") : audited);
  entry->closed_ms = rec->closed_ms;
  entry->policy_version = rec->closed_policy_version;
}

void cases_on_verdict(cases_t *c, uint32_t slot, uint32_t project_id, const char *item_id,
                      size_t item_len, const item_record_t *rec) {
  Tally__CaseEntry entry = TALLY__CASE_ENTRY__INIT;
  Tally__Store__CaseRecord record = TALLY__STORE__CASE_RECORD__INIT;
  case_entry_from(&entry, rec);
  record.format = CASES_FORMAT;
  record.entry = &entry;
  size_t len = tally__store__case_record__get_packed_size(&record);
  uint8_t *value = malloc(len ? len : 1);
  if (value == NULL) fatal_exit("out of memory");
  tally__store__case_record__pack(&record, value);
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_case(key, slot, project_id, rec->closed_ms, item_id, item_len);
  store_put(c->store, STORE_CF_CASES, key, key_len, value, len);
  free(value);
}

/* One case found by a listing: its position (key after the slot and
 * project: newest-first time and item id) and its record. */
typedef struct {
  uint8_t position[8 + KEYS_ITEM_ID_MAX];
  size_t position_len;
  Tally__Store__CaseRecord *record; /* owned */
} found_t;

/* Bytewise order of positions (RocksDB's): newest first, then item id. */
static int position_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
  return c ? c : (a_len > b_len) - (a_len < b_len);
}

/* The best `room` cases seen so far, sorted by position. */
typedef struct {
  found_t *items;
  size_t count, room;
} best_t;

/* True when a case at `position` would not make it into a full list. */
static int best_rejects(const best_t *best, const uint8_t *position, size_t len) {
  if (best->count < best->room) return 0;
  const found_t *last = &best->items[best->count - 1];
  return position_compare(position, len, last->position, last->position_len) >= 0;
}

/* Inserts a case (taking the record), dropping the worst when full. */
static void best_insert(best_t *best, const uint8_t *position, size_t len,
                        Tally__Store__CaseRecord *record) {
  size_t at = best->count;
  while (at > 0 && position_compare(position, len, best->items[at - 1].position,
                                    best->items[at - 1].position_len) < 0)
    at--;
  if (best->count == best->room) {
    tally__store__case_record__free_unpacked(best->items[best->count - 1].record, NULL);
    best->count--;
  }
  memmove(best->items + at + 1, best->items + at, (best->count - at) * sizeof *best->items);
  memcpy(best->items[at].position, position, len);
  best->items[at].position_len = len;
  best->items[at].record = record;
  best->count++;
}

static int case_matches(const Tally__CasesRequest *r, const Tally__Store__CaseRecord *record) {
  const Tally__CaseEntry *e = record->entry;
  if (e == NULL) return 0;
  if (r->category[0] != '\0' && strcmp(e->final_label, r->category) != 0) return 0;
  if (r->market[0] != '\0' && strcmp(e->market, r->market) != 0) return 0;
  return 1;
}

/* True when `needle` occurs in `hay` ignoring ASCII case ("" occurs
 * everywhere). UTF-8 beyond ASCII is compared byte for byte. */
static int contains_folded(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return 1;
  return n == 0;
}

/* True when the request filters on something only the item's record holds:
 * the content, the audited labelers or their labels, the auditor's label. */
static int search_needs_item(const Tally__CasesRequest *r) {
  return r->text[0] != '\0' || r->labeler[0] != '\0' || r->labeler_label[0] != '\0' ||
         r->auditor_label[0] != '\0';
}

/* The search filters on the item's record (a case already matched the
 * list filters and, when `text` is in the note, the text). */
static int item_matches(const Tally__CasesRequest *r, const item_record_t *rec, int text_found) {
  if (!text_found && !contains_folded(rec->content ? rec->content : "", r->text)) return 0;
  const char *auditor = rec->audit ? rec->audit->label : "";
  if (r->auditor_label[0] != '\0' && strcmp(auditor, r->auditor_label) != 0) return 0;
  if (r->labeler[0] == '\0' && r->labeler_label[0] == '\0') return 1;
  for (size_t i = 0; i < rec->n_sampled; i++) {
    const char *theirs = item_record_label_of(rec, rec->sampled[i]);
    if (theirs == NULL) continue;
    if (r->labeler[0] != '\0' && strcmp(rec->sampled[i], r->labeler) != 0) continue;
    if (r->labeler_label[0] == '\0' || strcmp(theirs, r->labeler_label) == 0) return 1;
  }
  return 0;
}

/* The search filters of a case at `item_id` of `slot`: on the record
 * alone when they can be decided there, else on the item's record too. */
static int search_matches(cases_t *c, const Tally__CasesRequest *r, uint32_t project_id,
                          uint32_t slot, const uint8_t *item_id, size_t item_len,
                          const Tally__CaseEntry *e) {
  if (r->attribution != TALLY__ATTRIBUTION__ATTRIBUTION_NONE && e->attribution != r->attribution)
    return 0;
  /* Cases recorded before versions were have 0: the first version. */
  if (r->policy_version != 0 && (e->policy_version ? e->policy_version : 1) != r->policy_version)
    return 0;
  if (!search_needs_item(r)) return 1;
  int text_found = r->text[0] != '\0' && contains_folded(e->note, r->text);
  if (text_found && r->labeler[0] == '\0' && r->labeler_label[0] == '\0' && r->auditor_label[0] == '\0')
    return 1;
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_item(key, slot, project_id, (const char *)item_id, item_len);
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(c->store, STORE_CF_ITEMS, key, key_len, &value, &len);
  if (rc < 0) fatal_exit("storage read failed");
  item_record_t *rec = rc ? item_record_decode((uint8_t *)value, len) : NULL;
  free(value);
  int match = rec != NULL && item_matches(r, rec, text_found);
  item_record_free(&rec);
  return match;
}

/* Adds the matching cases of one slot newer than since_ms and after the
 * request's position to `best`. Returns 0, or TALLY_E_STORAGE when the
 * scan failed. */
static int scan_slot(cases_t *c, const Tally__CasesRequest *r, uint32_t project_id,
                      uint32_t slot, uint64_t since_ms, best_t *best) {
  uint8_t start[CASES_PREFIX_LEN + 8 + KEYS_ITEM_ID_MAX], upper[CASES_PREFIX_LEN];
  keys_put_u16(start, (uint16_t)slot);
  keys_put_u32(start + 2, project_id);
  size_t upper_len = keys_prefix_end(upper, start, CASES_PREFIX_LEN);
  size_t start_len = CASES_PREFIX_LEN;
  if (r->after.len > 0) {
    memcpy(start + CASES_PREFIX_LEN, r->after.data, r->after.len);
    start_len += r->after.len;
  }
  store_iter_t *it = store_iter_new(c->store, STORE_CF_CASES, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory");
  for (store_iter_seek(it, start, start_len); store_iter_valid(it); store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    if (key_len < CASES_PREFIX_LEN + 8) continue;
    const uint8_t *position = key + CASES_PREFIX_LEN;
    size_t position_len = key_len - CASES_PREFIX_LEN;
    if (r->after.len > 0 &&
        position_compare(position, position_len, r->after.data, r->after.len) <= 0)
      continue;
    if (UINT64_MAX - keys_get_u64(position) < since_ms) break; /* older from here on */
    if (best_rejects(best, position, position_len)) break;    /* later ones are worse */
    const uint8_t *value = store_iter_value(it, &len);
    Tally__Store__CaseRecord *record = tally__store__case_record__unpack(NULL, len, value);
    if (record == NULL) {
      log_error("case record in slot %u is unreadable", slot);
      continue;
    }
    if (case_matches(r, record) &&
        search_matches(c, r, project_id, slot, position + 8, position_len - 8, record->entry))
      best_insert(best, position, position_len, record);
    else
      tally__store__case_record__free_unpacked(record, NULL);
  }
  int rc = store_iter_error(it);
  store_iter_destroy(&it);
  return rc;
}

void cases_handle_list(cases_t *c, responder_t *resp) {
  const router_request_t *req = responder_request(resp);
  const Tally__CasesRequest *r = req->env->cases_request;
  uint64_t rid = req->env->request_id;
  const Tally__Project *p = responder_project(resp, c->config, r->project);
  if (p == NULL) return;
  if (r->after.len > 0 && (r->after.len < 8 || r->after.len > 8 + KEYS_ITEM_ID_MAX)) {
    responder_error(resp, TALLY_E_INVALID_ARGUMENT,
                    "'after' is not the 'next' of an earlier cases reply");
    return;
  }
  if (strlen(r->text) > CASES_TEXT_MAX || strlen(r->labeler) > KEYS_LABELER_MAX ||
      strlen(r->labeler_label) > CASES_LABEL_MAX || strlen(r->auditor_label) > CASES_LABEL_MAX ||
      (unsigned)r->attribution > TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR) {
    responder_error(resp, TALLY_E_INVALID_ARGUMENT,
                    "bad search: text at most %d bytes, labeler at most %d, labels at most %d, "
                    "attribution 0..4",
                    CASES_TEXT_MAX, KEYS_LABELER_MAX, CASES_LABEL_MAX);
    return;
  }
  size_t limit = r->limit ? r->limit : CASES_DEFAULT_LIMIT;
  if (limit > CASES_MAX_LIMIT) limit = CASES_MAX_LIMIT;
  /* One more than asked for: whether it exists says whether we are done. */
  best_t best = {calloc(limit + 1, sizeof(found_t)), 0, limit + 1};
  if (best.items == NULL) fatal_exit("out of memory");
  uint64_t since_ms = (uint64_t)r->since_day * CASES_MS_PER_DAY;
  int scan_rc = 0;
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT && scan_rc == 0; slot++)
    if (c->owned[slot]) scan_rc = scan_slot(c, r, p->id, slot, since_ms, &best);

  size_t n = best.count < limit ? best.count : limit;
  Tally__CaseEntry **entries = calloc(n ? n : 1, sizeof *entries);
  char **ids = calloc(n ? n : 1, sizeof *ids);
  if (entries == NULL || ids == NULL) fatal_exit("out of memory");
  for (size_t i = 0; i < n; i++) {
    found_t *f = &best.items[i];
    ids[i] = strndup((const char *)f->position + 8, f->position_len - 8);
    if (ids[i] == NULL) fatal_exit("out of memory");
    entries[i] = f->record->entry;
    entries[i]->project = p->name;
    entries[i]->item_id = ids[i];
  }
  Tally__CasesReply reply = TALLY__CASES_REPLY__INIT;
  reply.n_cases = n;
  reply.cases = entries;
  reply.done = best.count <= limit;
  if (n > 0) {
    reply.next.data = best.items[n - 1].position;
    reply.next.len = best.items[n - 1].position_len;
  }
  Tally__Envelope env;
  wire_envelope_init(&env, rid);
  env.body_case = TALLY__ENVELOPE__BODY_CASES_REPLY;
  env.cases_reply = &reply;
  responder_reply_scan(resp, &env, scan_rc);
  for (size_t i = 0; i < n; i++) {
    /* project and item_id are borrowed: unhook them before freeing. */
    best.items[i].record->entry->project = NULL;
    best.items[i].record->entry->item_id = NULL;
    free(ids[i]);
  }
  for (size_t i = 0; i < best.count; i++)
    tally__store__case_record__free_unpacked(best.items[i].record, NULL);
  free(entries);
  free(ids);
  free(best.items);
}

void cases_handle_get(cases_t *c, responder_t *resp) {
  const Tally__CaseGet *g = responder_request(resp)->env->case_get;
  uint64_t rid = responder_request(resp)->env->request_id;
  const Tally__Project *p = responder_project(resp, c->config, g->project);
  if (p == NULL) return;
  size_t id_len = strlen(g->item_id);
  if (id_len == 0 || id_len > KEYS_ITEM_ID_MAX) {
    responder_error(resp, TALLY_E_INVALID_ARGUMENT, "item id must be 1 to %d bytes",
                    KEYS_ITEM_ID_MAX);
    return;
  }
  uint32_t slot = slot_of_item(p->name, g->item_id, id_len);
  if (!responder_slot_check(resp, slot)) return;
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_item(key, slot, p->id, g->item_id, id_len);
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(c->store, STORE_CF_ITEMS, key, key_len, &value, &len);
  if (rc < 0) fatal_exit("storage read failed");
  item_record_t *rec = rc ? item_record_decode((uint8_t *)value, len) : NULL;
  free(value);
  if (rec == NULL || rec->adjudicator == NULL || rec->adjudicator[0] == '\0' ||
      rec->closed_ms == 0) {
    responder_error(resp, TALLY_E_NOT_FOUND,
                    rec ? "item '%.64s' of project '%s' has no case (it was not adjudicated)"
                        : "no item '%.64s' in project '%s'",
                    g->item_id, p->name);
    item_record_free(&rec);
    return;
  }
  Tally__CaseEntry entry = TALLY__CASE_ENTRY__INIT;
  case_entry_from(&entry, rec);
  entry.project = p->name;
  entry.item_id = g->item_id;
  entry.content = rec->content;
  Tally__CaseReply reply = TALLY__CASE_REPLY__INIT;
  reply.entry = &entry;
  Tally__Envelope env;
  wire_envelope_init(&env, rid);
  env.body_case = TALLY__ENVELOPE__BODY_CASE_REPLY;
  env.case_reply = &reply;
  responder_reply(resp, &env);
  item_record_free(&rec);
}
