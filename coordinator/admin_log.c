/* admin_log: the log of administrative changes. See admin_log.h. */
#include "admin_log.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coordinator_internal.h"
#include "pbjson.h"
#include "tally_error.h"
#include "wire.h"

/* Appends an entry (ownership taken on success) to the log in memory. */
static int admin_log_append(coordinator_t *c, Tally__AdminLogEntry *entry) {
  if (c->n_admin_log == c->cap_admin_log) {
    size_t cap = coordinator_grown_capacity(c->cap_admin_log);
    Tally__AdminLogEntry **grown = realloc(c->admin_log, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    c->admin_log = grown;
    c->cap_admin_log = cap;
  }
  c->admin_log[c->n_admin_log++] = entry;
  return 0;
}

/* Builds the entry of `change` (next seq, now, the current actor) into
 * *entry (strings malloc'ed) and puts it into `batch`, so the change and
 * its record are one atomic write (admin_log_commit). Returns 0 or
 * TALLY_E_NOMEM (then do not commit). */
static int admin_log_stage(coordinator_t *c, meta_batch_t *batch, const admin_change_t *change,
                           Tally__AdminLogEntry *entry) {
  tally__admin_log_entry__init(entry);
  entry->seq = c->n_admin_log ? c->admin_log[c->n_admin_log - 1]->seq + 1 : 1;
  entry->at_ms = clock_now_ms();
  entry->actor = strdup(c->actor[0] ? c->actor : "coordinator");
  entry->action = strdup(change->action);
  entry->target = strdup(change->target ? change->target : "");
  entry->old_value = pbjson_encode(change->old_value);
  entry->new_value = pbjson_encode(change->new_value);
  if (!(entry->actor && entry->action && entry->target && entry->old_value && entry->new_value))
    return TALLY_E_NOMEM;
  meta_batch_put_admin_entry(batch, entry);
  return 0;
}

static void admin_entry_clear(Tally__AdminLogEntry *entry) {
  free(entry->actor);
  free(entry->action);
  free(entry->target);
  free(entry->old_value);
  free(entry->new_value);
  tally__admin_log_entry__init(entry);
}

/* After a successful commit: the staged entry joins the log in memory. */
static void admin_log_keep(coordinator_t *c, Tally__AdminLogEntry *entry) {
  Tally__AdminLogEntry *kept = (Tally__AdminLogEntry *)coordinator_message_clone(&entry->base);
  coordinator_must_install(kept ? admin_log_append(c, kept) : TALLY_E_NOMEM, "an admin log entry");
  admin_entry_clear(entry);
}

/* Commits *batch (the change, as the caller filled it) with the log entry
 * of `change` as one synced write, and destroys the batch. On success the
 * entry joins the log in memory. Returns 0 or the store's error (nothing
 * was written then). */
int admin_log_commit(coordinator_t *c, meta_batch_t **batch, const admin_change_t *change) {
  Tally__AdminLogEntry entry;
  int rc = admin_log_stage(c, *batch, change, &entry);
  if (rc == 0) rc = meta_batch_commit(*batch);
  meta_batch_destroy(batch);
  if (rc == 0) admin_log_keep(c, &entry);
  else admin_entry_clear(&entry);
  return rc;
}

static int load_admin_entry(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  int rc = admin_log_append(c, (Tally__AdminLogEntry *)record);
  if (rc < 0) protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

int admin_log_load(coordinator_t *c) {
  return meta_store_load(c->store, META_ADMIN_LOG, load_admin_entry, c);
}

void admin_log_handle_request(coordinator_t *c, const Tally__Envelope *request,
                              const coordinator_replier_t *r) {
  const Tally__AdminLogRequest *q = request->admin_log_request;
  size_t limit = q->limit == 0 ? 100 : q->limit > 10000 ? 10000 : q->limit;
  Tally__AdminLogEntry **entries = malloc((limit ? limit : 1) * sizeof *entries);
  if (entries == NULL) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  size_t n = 0;
  for (size_t i = c->n_admin_log; i > 0 && n < limit; i--) {
    Tally__AdminLogEntry *e = c->admin_log[i - 1];
    if (q->before_seq != 0 && e->seq >= q->before_seq) continue;
    entries[n++] = e;
  }
  Tally__Envelope env;
  Tally__AdminLogReply body = TALLY__ADMIN_LOG_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.n_entries = n;
  body.entries = entries;
  env.body_case = TALLY__ENVELOPE__BODY_ADMIN_LOG_REPLY;
  env.admin_log_reply = &body;
  r->send(r->ctx, &env);
  free(entries);
}
