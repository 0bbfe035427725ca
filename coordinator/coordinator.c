/* coordinator: state and request dispatch. See coordinator.h. */
#include "coordinator.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "access.h"
#include "calibration.h"
#include "clock.h"
#include "curve.h"
#include "fatal.h"
#include "ident.h"
#include "log.h"
#include "membership.h"
#include "pbjson.h"
#include "ramp.h"
#include "rebalance.h"
#include "slot_map.h"
#include "tally_error.h"
#include "validate.h"
#include "wire.h"

#define MESSAGE_SIZE 512
#define QUOTE_SIZE 300

typedef struct {
  Tally__Project **items; /* ascending name; each owned (free_unpacked) */
  size_t count, capacity;
} project_list_t;

typedef struct {
  Tally__Labeler **items; /* ascending id; each owned (free_unpacked) */
  size_t count, capacity;
} labeler_list_t;

/* At most this many slot moves at once (each source sends one at a time). */
#define COORDINATOR_MOVES_MAX 8
/* A move not reported done within this is given up (its source is told in
 * its next heartbeat, and unfreezes the slot). */
#define COORDINATOR_MOVE_TIMEOUT_MS 60000

typedef struct {
  uint64_t move_id;
  uint32_t slot, source, target;
  uint64_t started_ms; /* monotonic */
} slot_move_t;

struct coordinator {
  meta_store_t *store;
  int store_borrowed; /* coordinator_open_shared: the caller closes it */
  slot_map_t *map;
  slot_map_t *plan; /* scratch copy on which map changes are planned */
  membership_t *members;
  project_list_t projects;
  labeler_list_t labelers;
  uint64_t config_version;
  uint32_t next_project_id;
  uint32_t next_worker_id;
  uint64_t heartbeat_timeout_ms;
  uint32_t expect_workers;       /* a fresh cluster waits for this many */
  uint64_t settle_deadline_ms;   /* monotonic; after it, assign to whoever is UP */
  /* Slot moves under way (not persisted: after a restart the sources report
   * theirs in heartbeats and are told to give them up). */
  slot_move_t moves[COORDINATOR_MOVES_MAX];
  size_t n_moves;
  uint64_t next_move_id;
  int rebalance_paused;
  /* Security (coordinator_set_security; all zero: --insecure). */
  int secure;
  char **admitted;               /* admitted worker keys (Z85), ascending; owned */
  size_t n_admitted, cap_admitted;
  uint64_t keys_version;         /* bumped whenever the allowed keys change */
  Tally__AdminLogEntry **admin_log; /* ascending seq; each owned (free_unpacked) */
  size_t n_admin_log, cap_admin_log;
  /* The request being handled (coordinator_handle is not reentrant): who
   * sent it, as access_check resolved it, and the actor for the admin log. */
  identity_t caller;
  char actor[2 * ACCESS_ID_MAX + 2];
  calibration_t *calibration;    /* calibration sessions (calibration.h) */
};

/* ---------------------------------------------------------------- helpers */

/* A deep copy of `message` (pack + unpack); NULL when out of memory. */
static ProtobufCMessage *message_clone(const ProtobufCMessage *message) {
  size_t size = protobuf_c_message_get_packed_size(message);
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL) return NULL;
  size_t len = protobuf_c_message_pack(message, buf);
  ProtobufCMessage *copy = protobuf_c_message_unpack(message->descriptor, NULL, len, buf);
  free(buf);
  return copy;
}

/* After a durable write, installing the change in memory must not fail:
 * if it does (out of memory), memory and disk would disagree, so stop and
 * let a restart reload the state from disk. */
static void must_install(int rc, const char *what) {
  if (rc >= 0) return;
  log_error("out of memory installing %s after it was persisted", what);
  fatal_exit("memory and storage would disagree; a restart reloads the stored state");
}

/* Position of `name` in the list, or where it would be inserted. */
static size_t project_position(const project_list_t *list, const char *name, int *found) {
  size_t low = 0, high = list->count;
  while (low < high) {
    size_t mid = low + (high - low) / 2;
    if (strcmp(list->items[mid]->name, name) < 0)
      low = mid + 1;
    else
      high = mid;
  }
  *found = low < list->count && strcmp(list->items[low]->name, name) == 0;
  return low;
}

static size_t labeler_position(const labeler_list_t *list, const char *id, int *found) {
  size_t low = 0, high = list->count;
  while (low < high) {
    size_t mid = low + (high - low) / 2;
    if (strcmp(list->items[mid]->id, id) < 0)
      low = mid + 1;
    else
      high = mid;
  }
  *found = low < list->count && strcmp(list->items[low]->id, id) == 0;
  return low;
}

/* New capacity for a full array of `capacity` entries. */
static size_t grown_capacity(size_t capacity) { return capacity ? 2 * capacity : 16; }

/* Inserts `project` at its sorted place (its name must be new). Returns 0 or
 * TALLY_E_NOMEM (list unchanged). */
static int project_list_insert(project_list_t *list, Tally__Project *project) {
  int found;
  size_t at = project_position(list, project->name, &found);
  if (list->count == list->capacity) {
    size_t capacity = grown_capacity(list->capacity);
    Tally__Project **items = realloc(list->items, capacity * sizeof *items);
    if (items == NULL) return TALLY_E_NOMEM;
    list->items = items;
    list->capacity = capacity;
  }
  memmove(list->items + at + 1, list->items + at, (list->count - at) * sizeof *list->items);
  list->items[at] = project;
  list->count++;
  return 0;
}

/* Inserts `labeler` at its sorted place (its id must be new). Returns 0 or
 * TALLY_E_NOMEM (list unchanged). */
static int labeler_list_insert(labeler_list_t *list, Tally__Labeler *labeler) {
  int found;
  size_t at = labeler_position(list, labeler->id, &found);
  if (list->count == list->capacity) {
    size_t capacity = grown_capacity(list->capacity);
    Tally__Labeler **items = realloc(list->items, capacity * sizeof *items);
    if (items == NULL) return TALLY_E_NOMEM;
    list->items = items;
    list->capacity = capacity;
  }
  memmove(list->items + at + 1, list->items + at, (list->count - at) * sizeof *list->items);
  list->items[at] = labeler;
  list->count++;
  return 0;
}

static Tally__Project *project_find(const coordinator_t *c, const char *name) {
  int found;
  size_t at = project_position(&c->projects, name, &found);
  return found ? c->projects.items[at] : NULL;
}

static Tally__Labeler *labeler_find(const coordinator_t *c, const char *id) {
  int found;
  size_t at = labeler_position(&c->labelers, id, &found);
  return found ? c->labelers.items[at] : NULL;
}

/* An audit policy made of borrowed pointers: only the known fields of a
 * policy from a request, for storing (unknown fields are dropped). */
typedef struct {
  Tally__AuditPolicy policy;
  Tally__MarketRate rates[VALIDATE_MAX_LIST];
  Tally__MarketRate *rate_pointers[VALIDATE_MAX_LIST];
} policy_view_t;

/* Fills `view` from `sent`, which passed validate_audit_policy (so it has
 * at most one rate per market of the project: at most VALIDATE_MAX_LIST). */
static void policy_view(policy_view_t *view, const Tally__AuditPolicy *sent) {
  tally__audit_policy__init(&view->policy);
  view->policy.rate = sent->rate;
  view->policy.ramp_rate = sent->ramp_rate;
  view->policy.ramp_audits = sent->ramp_audits;
  view->policy.ramp_target = sent->ramp_target;
  for (size_t i = 0; i < sent->n_market_rates && i < VALIDATE_MAX_LIST; i++) {
    tally__market_rate__init(&view->rates[i]);
    view->rates[i].market = sent->market_rates[i]->market;
    view->rates[i].rate = sent->market_rates[i]->rate;
    view->rate_pointers[i] = &view->rates[i];
  }
  view->policy.n_market_rates = sent->n_market_rates;
  view->policy.market_rates = view->rate_pointers;
}

/* The policy of a project created without one: its audit_rate, no market
 * rates, no ramp-up. */
static void policy_default(policy_view_t *view, double audit_rate) {
  tally__audit_policy__init(&view->policy);
  view->policy.rate = audit_rate;
}

/* ---------------------------------------------------------------- open/close */

static int load_project(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  Tally__Project *project = (Tally__Project *)record;
  /* Projects stored before audit policies existed: the same defaults as
   * project_create (in memory; written when the project next changes). */
  if (project->audit == NULL) {
    project->audit = malloc(sizeof *project->audit);
    if (project->audit == NULL) {
      protobuf_c_message_free_unpacked(record, NULL);
      return TALLY_E_NOMEM;
    }
    tally__audit_policy__init(project->audit);
    project->audit->rate = project->audit_rate;
  }
  if (project->policy_version == 0) project->policy_version = 1;
  if (project_list_insert(&c->projects, project) < 0) {
    protobuf_c_message_free_unpacked(record, NULL);
    return TALLY_E_NOMEM;
  }
  if (project->id >= c->next_project_id) c->next_project_id = project->id + 1;
  return 0;
}

static int load_labeler(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  if (labeler_list_insert(&c->labelers, (Tally__Labeler *)record) < 0) {
    protobuf_c_message_free_unpacked(record, NULL);
    return TALLY_E_NOMEM;
  }
  return 0;
}

static int admitted_insert(coordinator_t *c, const char *key);

static int load_admitted(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  int rc = admitted_insert(c, ((Tally__ClusterAdmit *)record)->public_key);
  protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

static int admin_log_append(coordinator_t *c, Tally__AdminLogEntry *entry);

static int load_admin_entry(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  int rc = admin_log_append(c, (Tally__AdminLogEntry *)record);
  if (rc < 0) protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

static int load_worker(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  Tally__WorkerInfo *worker = (Tally__WorkerInfo *)record;
  int rc = membership_put(c->members, worker, clock_monotonic_ms());
  if (worker->id >= c->next_worker_id) c->next_worker_id = worker->id + 1;
  protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

/* Loads counters, slot map, projects, labelers and workers from the store. */
static int coordinator_load(coordinator_t *c) {
  meta_counters_t *counters = malloc(sizeof *counters);
  if (counters == NULL) return TALLY_E_NOMEM;
  int rc = meta_store_load_counters(c->store, counters);
  if (rc == 0) {
    c->config_version = counters->config_version;
    c->next_project_id = counters->next_project_id;
    c->next_worker_id = counters->next_worker_id;
    slot_map_set_epoch(c->map, counters->epoch);
    for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++) {
      slot_map_set_owner(c->map, slot, counters->slot_owner[slot]);
      if (counters->slot_owner[slot] >= c->next_worker_id)
        c->next_worker_id = counters->slot_owner[slot] + 1;
    }
  }
  free(counters);
  if (rc == 0) rc = meta_store_load(c->store, META_PROJECTS, load_project, c);
  if (rc == 0) rc = meta_store_load(c->store, META_LABELERS, load_labeler, c);
  if (rc == 0) rc = meta_store_load(c->store, META_WORKERS, load_worker, c);
  if (rc == 0) rc = meta_store_load(c->store, META_ADMITTED, load_admitted, c);
  if (rc == 0) rc = meta_store_load(c->store, META_ADMIN_LOG, load_admin_entry, c);
  if (rc == 0) rc = calibration_load(c->calibration, c->store);
  return rc;
}

/* Creates `dir` when it does not exist yet. */
static int ensure_directory(const char *dir) {
  if (mkdir(dir, 0755) == 0 || errno == EEXIST) return 0;
  log_error("cannot create directory %s: %s", dir, strerror(errno));
  return TALLY_E_IO;
}

int coordinator_open_shared(coordinator_t **out, meta_store_t *store, uint64_t heartbeat_timeout_ms) {
  *out = NULL;
  if (heartbeat_timeout_ms == 0) return TALLY_E_INVALID_ARGUMENT;
  coordinator_t *c = calloc(1, sizeof *c);
  if (c == NULL) return TALLY_E_NOMEM;
  c->heartbeat_timeout_ms = heartbeat_timeout_ms;
  c->next_move_id = clock_now_ms() << 12;
  c->store = store;
  c->store_borrowed = 1;
  int rc = TALLY_E_NOMEM;
  if (slot_map_new(&c->map) == 0 && slot_map_new(&c->plan) == 0 &&
      membership_new(&c->members) == 0 && calibration_new(&c->calibration) == 0)
    rc = coordinator_load(c);
  if (rc < 0) {
    coordinator_close(&c);
    return rc;
  }
  log_info("state loaded: epoch %" PRIu64 ", config version %" PRIu64
           ", %zu projects, %zu labelers, %zu workers, %u slots unassigned",
           slot_map_epoch(c->map), c->config_version, c->projects.count, c->labelers.count,
           membership_count(c->members), slot_map_count_owned(c->map, 0));
  *out = c;
  return 0;
}

int coordinator_open(coordinator_t **out, const char *dir, uint64_t heartbeat_timeout_ms) {
  *out = NULL;
  if (heartbeat_timeout_ms == 0) return TALLY_E_INVALID_ARGUMENT;
  int rc = ensure_directory(dir);
  if (rc < 0) return rc;
  coordinator_t *c = calloc(1, sizeof *c);
  if (c == NULL) return TALLY_E_NOMEM;
  c->heartbeat_timeout_ms = heartbeat_timeout_ms;
  /* Move ids must not repeat across restarts: start from the clock. */
  c->next_move_id = clock_now_ms() << 12;
  char *path = malloc(strlen(dir) + sizeof "/meta");
  rc = TALLY_E_NOMEM;
  if (path != NULL && slot_map_new(&c->map) == 0 && slot_map_new(&c->plan) == 0 &&
      membership_new(&c->members) == 0 && calibration_new(&c->calibration) == 0) {
    sprintf(path, "%s/meta", dir);
    rc = meta_store_open(&c->store, path);
  }
  free(path);
  if (rc == 0) rc = coordinator_load(c);
  if (rc < 0) {
    coordinator_close(&c);
    return rc;
  }
  log_info("state loaded from %s: epoch %" PRIu64 ", config version %" PRIu64
           ", %zu projects, %zu labelers, %zu workers, %u slots unassigned",
           dir, slot_map_epoch(c->map), c->config_version, c->projects.count, c->labelers.count,
           membership_count(c->members), slot_map_count_owned(c->map, 0));
  *out = c;
  return 0;
}

void coordinator_close(coordinator_t **coordinator) {
  if (coordinator == NULL || *coordinator == NULL) return;
  coordinator_t *c = *coordinator;
  *coordinator = NULL;
  for (size_t i = 0; i < c->projects.count; i++)
    tally__project__free_unpacked(c->projects.items[i], NULL);
  for (size_t i = 0; i < c->labelers.count; i++)
    tally__labeler__free_unpacked(c->labelers.items[i], NULL);
  free(c->projects.items);
  free(c->labelers.items);
  for (size_t i = 0; i < c->n_admitted; i++) free(c->admitted[i]);
  free(c->admitted);
  for (size_t i = 0; i < c->n_admin_log; i++)
    tally__admin_log_entry__free_unpacked(c->admin_log[i], NULL);
  free(c->admin_log);
  membership_destroy(&c->members);
  calibration_destroy(&c->calibration);
  slot_map_destroy(&c->map);
  slot_map_destroy(&c->plan);
  if (!c->store_borrowed) meta_store_close(&c->store);
  free(c);
}

uint64_t coordinator_epoch(const coordinator_t *c) { return slot_map_epoch(c->map); }

uint64_t coordinator_config_version(const coordinator_t *c) { return c->config_version; }

void coordinator_figures(coordinator_t *c, coordinator_figures_t *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < membership_count(c->members); i++) {
    uint32_t state = membership_worker_at(c->members, i)->state;
    out->workers_by_state[state < 4 ? state : 0]++;
  }
  out->slots_unassigned = slot_map_count_owned(c->map, 0);
  out->epoch = slot_map_epoch(c->map);
  out->config_version = c->config_version;
  out->slot_moves = (uint32_t)c->n_moves;
  out->projects = (uint32_t)c->projects.count;
  out->labelers = (uint32_t)c->labelers.count;
}

uint64_t coordinator_heartbeat_timeout_ms(const coordinator_t *c) {
  return c->heartbeat_timeout_ms;
}

meta_store_t *coordinator_meta_store(coordinator_t *c) { return c->store; }

/* ---------------------------------------------------------------- replies */

/* Sends an error reply with a formatted message. */
__attribute__((format(printf, 3, 4))) static void reply_error(const coordinator_replier_t *r,
                                                              int code, const char *fmt, ...) {
  char message[MESSAGE_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  /* Never echo invalid UTF-8 or control characters of a request (ident.h). */
  char safe[MESSAGE_SIZE];
  ident_sanitize(message, 0, safe, sizeof safe);
  r->send_error(r->ctx, code, safe);
}

static void reply_storage_error(const coordinator_replier_t *r, int rc, const char *what);

/* ---------------------------------------------------------------- security */

/* Position of `key` in the sorted admitted list (sets *found). */
static size_t admitted_position(const coordinator_t *c, const char *key, int *found) {
  size_t lo = 0, hi = c->n_admitted;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(c->admitted[mid], key);
    if (cmp == 0) {
      *found = 1;
      return mid;
    }
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = 0;
  return lo;
}

static int admitted_insert(coordinator_t *c, const char *key) {
  int found;
  size_t at = admitted_position(c, key, &found);
  if (found) return 0;
  if (c->n_admitted == c->cap_admitted) {
    size_t cap = grown_capacity(c->cap_admitted);
    char **grown = realloc(c->admitted, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    c->admitted = grown;
    c->cap_admitted = cap;
  }
  char *copy = strdup(key);
  if (copy == NULL) return TALLY_E_NOMEM;
  memmove(c->admitted + at + 1, c->admitted + at, (c->n_admitted - at) * sizeof *c->admitted);
  c->admitted[at] = copy;
  c->n_admitted++;
  c->keys_version++;
  return 0;
}

static void admitted_remove(coordinator_t *c, const char *key) {
  int found;
  size_t at = admitted_position(c, key, &found);
  if (!found) return;
  free(c->admitted[at]);
  memmove(c->admitted + at, c->admitted + at + 1, (c->n_admitted - at - 1) * sizeof *c->admitted);
  c->n_admitted--;
  c->keys_version++;
}

static int is_admitted(const coordinator_t *c, const char *key) {
  int found;
  admitted_position(c, key, &found);
  return found;
}

/* Appends an entry (ownership taken on success) to the log in memory. */
static int admin_log_append(coordinator_t *c, Tally__AdminLogEntry *entry) {
  if (c->n_admin_log == c->cap_admin_log) {
    size_t cap = grown_capacity(c->cap_admin_log);
    Tally__AdminLogEntry **grown = realloc(c->admin_log, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    c->admin_log = grown;
    c->cap_admin_log = cap;
  }
  c->admin_log[c->n_admin_log++] = entry;
  return 0;
}

/* One administrative change, for the append-only log. */
typedef struct {
  const char *action;                 /* "project_create", ... */
  const char *target;                 /* project, person, worker or key */
  const ProtobufCMessage *old_value;  /* NULL: did not exist */
  const ProtobufCMessage *new_value;  /* NULL: removed */
} admin_change_t;

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
  Tally__AdminLogEntry *kept = (Tally__AdminLogEntry *)message_clone(&entry->base);
  must_install(kept ? admin_log_append(c, kept) : TALLY_E_NOMEM, "an admin log entry");
  admin_entry_clear(entry);
}

/* Commits *batch (the change, as the caller filled it) with the log entry
 * of `change` as one synced write, and destroys the batch. On success the
 * entry joins the log in memory. Returns 0 or the store's error (nothing
 * was written then). */
static int admin_log_commit(coordinator_t *c, meta_batch_t **batch, const admin_change_t *change) {
  Tally__AdminLogEntry entry;
  int rc = admin_log_stage(c, *batch, change, &entry);
  if (rc == 0) rc = meta_batch_commit(*batch);
  meta_batch_destroy(batch);
  if (rc == 0) admin_log_keep(c, &entry);
  else admin_entry_clear(&entry);
  return rc;
}

static const Tally__Labeler *person_by_key(const coordinator_t *c, const char *key) {
  for (size_t i = 0; i < c->labelers.count; i++) {
    const Tally__Labeler *l = c->labelers.items[i];
    if (l->public_key != NULL && strcmp(l->public_key, key) == 0) return l;
  }
  return NULL;
}

static const Tally__WorkerInfo *worker_by_key(const coordinator_t *c, const char *key) {
  for (size_t i = 0; i < membership_count(c->members); i++) {
    const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
    if (w->public_key != NULL && strcmp(w->public_key, key) == 0) return w;
  }
  return NULL;
}

static void person_identity(const Tally__Labeler *l, identity_t *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", l->id);
  out->roles = l->roles;
  out->is_person = 1;
}

static int find_person(void *user, const char *id, identity_t *out) {
  const Tally__Labeler *l = labeler_find(user, id);
  if (l == NULL) return 0;
  person_identity(l, out);
  return 1;
}

/* Who holds `key`: a person, an admitted worker (bound or not yet), or
 * nobody (0). */
static int resolve_key(const coordinator_t *c, const char *key, identity_t *out) {
  memset(out, 0, sizeof *out);
  const Tally__Labeler *l = person_by_key(c, key);
  if (l != NULL) {
    person_identity(l, out);
    return 1;
  }
  if (!is_admitted(c, key)) return 0;
  const Tally__WorkerInfo *w = worker_by_key(c, key);
  if (w != NULL) snprintf(out->id, sizeof out->id, "worker %u", w->id);
  else snprintf(out->id, sizeof out->id, "worker (not registered yet)");
  out->roles = TALLY__ROLE__ROLE_WORKER;
  return 1;
}

/* The id of the worker bound to the caller's key (0: none, or insecure). */
static uint32_t caller_worker_id(const coordinator_t *c, const char *key) {
  if (!c->secure || key == NULL || key[0] == '\0') return 0;
  const Tally__WorkerInfo *w = worker_by_key(c, key);
  return w ? w->id : 0;
}

static int key_in_use(const coordinator_t *c, const char *key, const char *except_person) {
  const Tally__Labeler *l = person_by_key(c, key);
  if (l != NULL && (except_person == NULL || strcmp(l->id, except_person) != 0)) return 1;
  return is_admitted(c, key);
}

static int labeler_persist(coordinator_t *c, const Tally__Labeler *labeler,
                           const coordinator_replier_t *r, const admin_change_t *change);

int coordinator_set_security(coordinator_t *c, const char *operator_key) {
  c->secure = 1;
  c->keys_version++;
  if (operator_key == NULL || operator_key[0] == '\0') return 0;
  if (!curve_key_is_valid(operator_key)) return TALLY_E_INVALID_ARGUMENT;
  const Tally__Labeler *other = person_by_key(c, operator_key);
  if (other != NULL && strcmp(other->id, COORDINATOR_OPERATOR_ID) != 0) {
    log_error("--operator-key is the key of '%s' already", other->id);
    return TALLY_E_ALREADY_EXISTS;
  }
  int found;
  size_t at = labeler_position(&c->labelers, COORDINATOR_OPERATOR_ID, &found);
  const Tally__Labeler *current = found ? c->labelers.items[at] : NULL;
  if (current != NULL && strcmp(current->public_key, operator_key) == 0 &&
      (current->roles & TALLY__ROLE__ROLE_OPERATOR))
    return 0;
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  if (current != NULL) labeler = *current;
  labeler.id = (char *)COORDINATOR_OPERATOR_ID;
  labeler.roles |= TALLY__ROLE__ROLE_OPERATOR;
  labeler.public_key = (char *)operator_key;
  snprintf(c->actor, sizeof c->actor, "coordinator --operator-key");
  admin_change_t change = {current ? "labeler_update" : "labeler_add", COORDINATOR_OPERATOR_ID,
                           current ? &current->base : NULL, &labeler.base};
  coordinator_replier_t none = {0};
  int rc = labeler_persist(c, &labeler, &none, &change);
  c->actor[0] = '\0';
  if (rc < 0) return rc;
  Tally__Labeler *stored = (Tally__Labeler *)message_clone(&labeler.base);
  if (stored == NULL) return TALLY_E_NOMEM;
  if (current != NULL) {
    tally__labeler__free_unpacked(c->labelers.items[at], NULL);
    c->labelers.items[at] = stored;
  } else {
    must_install(labeler_list_insert(&c->labelers, stored), "a labeler");
  }
  c->config_version++;
  log_info("person '%s' holds the operator key given with --operator-key", COORDINATOR_OPERATOR_ID);
  return 0;
}

int coordinator_is_secure(const coordinator_t *c) { return c->secure; }

uint64_t coordinator_keys_version(const coordinator_t *c) { return c->keys_version; }

int coordinator_allowed_keys(const coordinator_t *c, const char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  const char **keys = malloc((c->labelers.count + c->n_admitted + 1) * sizeof *keys);
  if (keys == NULL) return TALLY_E_NOMEM;
  size_t count = 0;
  for (size_t i = 0; i < c->labelers.count; i++)
    if (c->labelers.items[i]->public_key && c->labelers.items[i]->public_key[0])
      keys[count++] = c->labelers.items[i]->public_key;
  for (size_t i = 0; i < c->n_admitted; i++) keys[count++] = c->admitted[i];
  *out = keys;
  *n = count;
  return 0;
}

static void send_ack(const Tally__Envelope *request, const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__Ack ack = TALLY__ACK__INIT;
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  r->send(r->ctx, &env);
}

static void handle_cluster_admit(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r) {
  const Tally__ClusterAdmit *admit = request->cluster_admit;
  if (!curve_key_is_valid(admit->public_key)) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "not a CURVE public key (40 Z85 characters, as in a worker's .pub file)");
    return;
  }
  if (!admit->revoke && person_by_key(c, admit->public_key) != NULL) {
    reply_error(r, TALLY_E_ALREADY_EXISTS, "this key belongs to a person, not to a worker");
    return;
  }
  if (is_admitted(c, admit->public_key) == !admit->revoke) {
    send_ack(request, r); /* already so: nothing to record */
    return;
  }
  Tally__ClusterAdmit value = TALLY__CLUSTER_ADMIT__INIT;
  value.public_key = admit->public_key;
  const Tally__WorkerInfo *bound = worker_by_key(c, admit->public_key);
  char target[64];
  if (bound) snprintf(target, sizeof target, "worker %u", bound->id);
  else snprintf(target, sizeof target, "worker key %.8s...", admit->public_key);
  admin_change_t change = {admit->revoke ? "cluster_revoke" : "cluster_admit", target,
                           admit->revoke ? &value.base : NULL, admit->revoke ? NULL : &value.base};
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_admitted(batch, admit->public_key, !admit->revoke);
    rc = admin_log_commit(c, &batch, &change);
  }
  if (rc < 0) {
    reply_storage_error(r, rc, "the admission");
    return;
  }
  if (admit->revoke) admitted_remove(c, admit->public_key);
  else must_install(admitted_insert(c, admit->public_key), "an admitted key");
  log_info("%s %s: worker key %s", c->actor, admit->revoke ? "revoked" : "admitted",
           admit->public_key);
  send_ack(request, r);
}

static void handle_admin_log_request(coordinator_t *c, const Tally__Envelope *request,
                                     const coordinator_replier_t *r) {
  const Tally__AdminLogRequest *q = request->admin_log_request;
  size_t limit = q->limit == 0 ? 100 : q->limit > 10000 ? 10000 : q->limit;
  Tally__AdminLogEntry **entries = malloc((limit ? limit : 1) * sizeof *entries);
  if (entries == NULL) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
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

static void handle_whoami(coordinator_t *c, const Tally__Envelope *request, const char *key,
                          const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__WhoamiReply body = TALLY__WHOAMI_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.id = c->caller.id;
  body.roles = c->caller.roles;
  body.public_key = (char *)(key ? key : "");
  body.secure = c->secure;
  env.body_case = TALLY__ENVELOPE__BODY_WHOAMI_REPLY;
  env.whoami_reply = &body;
  r->send(r->ctx, &env);
}

/* Fills `config` with borrowed pointers to the current configuration. */
static void config_view(coordinator_t *c, Tally__ClusterConfig *config) {
  tally__cluster_config__init(config);
  config->version = c->config_version;
  config->n_projects = c->projects.count;
  config->projects = c->projects.items;
  config->n_labelers = c->labelers.count;
  config->labelers = c->labelers.items;
}

/* Fills `map` with borrowed pointers to the current cluster map; *workers
 * is an array the caller frees. Returns 0 or TALLY_E_NOMEM. */
static int map_view(coordinator_t *c, Tally__ClusterMap *map, Tally__WorkerInfo ***workers) {
  size_t count = membership_count(c->members);
  *workers = malloc((count ? count : 1) * sizeof **workers);
  if (*workers == NULL) return TALLY_E_NOMEM;
  for (size_t i = 0; i < count; i++) {
    Tally__WorkerInfo *worker = membership_worker_at(c->members, i);
    worker->slots_owned = slot_map_count_owned(c->map, worker->id);
    worker->slots_moving = 0;
    for (size_t m = 0; m < c->n_moves; m++) worker->slots_moving += c->moves[m].source == worker->id;
    (*workers)[i] = worker;
  }
  tally__cluster_map__init(map);
  map->epoch = slot_map_epoch(c->map);
  map->slot_count = TALLY_SLOT_COUNT;
  map->n_workers = count;
  map->workers = *workers;
  map->n_slot_owner = TALLY_SLOT_COUNT;
  map->slot_owner = (uint32_t *)slot_map_owners(c->map);
  map->config_version = c->config_version;
  return 0;
}

/* Reports a failed durable write. */
static void reply_storage_error(const coordinator_replier_t *r, int rc, const char *what) {
  if (rc == TALLY_E_NOMEM)
    reply_error(r, TALLY_E_INTERNAL, "out of memory while saving %s; nothing was changed", what);
  else
    reply_error(r, TALLY_E_STORAGE, "could not save %s durably; nothing was changed", what);
}

/* ---------------------------------------------------------------- projects */

/* Sends the reply to a configuration change: through defer_until_config
 * when the daemon supports it (answered once the workers run this
 * configuration), else at once. */
static void send_after_config(const coordinator_t *c, const coordinator_replier_t *r,
                              const Tally__Envelope *reply) {
  if (r->defer_until_config != NULL)
    r->defer_until_config(r->ctx, reply, c->config_version);
  else
    r->send(r->ctx, reply);
}

int coordinator_config_reached(const coordinator_t *c, uint64_t version) {
  return membership_config_reached(c->members, version);
}

static void send_project(const Tally__Envelope *request, const coordinator_replier_t *r,
                         Tally__Project *project) {
  Tally__Envelope env;
  Tally__ProjectReply body = TALLY__PROJECT_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.project = project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_REPLY;
  env.project_reply = &body;
  r->send(r->ctx, &env);
}

static void handle_project_create(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__Project *sent = request->project_create->project;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  if (sent == NULL) {
    reply_error(r, TALLY_E_BAD_REQUEST, "project_create carries no project");
    return;
  }
  /* Only the known fields of the request are stored (unknown ones dropped). */
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = sent->name;
  project.n_labels = sent->n_labels, project.labels = sent->labels;
  project.n_markets = sent->n_markets, project.markets = sent->markets;
  project.lease_seconds = sent->lease_seconds;
  project.audit_rate = sent->audit_rate;
  project.overlap = sent->overlap;
  project.sla_seconds = sent->sla_seconds;
  project.ordinal = sent->ordinal;
  project.policy_version = 1;
  project.n_high_severity = sent->n_high_severity, project.high_severity = sent->high_severity;
  project.exposure_budget = sent->exposure_budget;
  project.shift_hours = sent->shift_hours;
  if (validate_project(&project, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  int wellbeing_rc = validate_wellbeing(project.labels, project.n_labels, project.high_severity,
                                        project.n_high_severity, project.exposure_budget,
                                        &project.shift_hours, why, sizeof why);
  if (wellbeing_rc < 0) {
    r->send_error(r->ctx, wellbeing_rc, why);
    return;
  }
  policy_view_t policy;
  if (sent->audit == NULL) {
    policy_default(&policy, project.audit_rate);
  } else {
    int rc = validate_audit_policy(sent->audit, project.markets, project.n_markets, why,
                                   sizeof why);
    if (rc < 0) {
      r->send_error(r->ctx, rc, why);
      return;
    }
    /* audit_rate mirrors audit.rate: either may be given, not two values. */
    if (project.audit_rate != 0.0 && project.audit_rate != sent->audit->rate) {
      reply_error(r, TALLY_E_INVALID_ARGUMENT,
                  "audit_rate %g and audit.rate %g disagree (audit_rate mirrors audit.rate)",
                  project.audit_rate, sent->audit->rate);
      return;
    }
    policy_view(&policy, sent->audit);
    project.audit_rate = policy.policy.rate;
  }
  project.audit = &policy.policy;
  validate_quote(project.name, quoted, sizeof quoted);
  if (project_find(c, project.name) != NULL) {
    reply_error(r, TALLY_E_ALREADY_EXISTS, "project '%s' already exists", quoted);
    return;
  }
  if (c->next_project_id == UINT32_MAX) {
    reply_error(r, TALLY_E_INTERNAL, "project ids are exhausted");
    return;
  }
  project.id = c->next_project_id;
  project.created_ms = clock_now_ms();

  meta_batch_t *batch = NULL;
  admin_change_t change = {"project_create", project.name, NULL, &project.base};
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_project(batch, &project);
    meta_batch_put_next_project_id(batch, project.id + 1);
    meta_batch_put_config_version(batch, c->config_version + 1);
    rc = admin_log_commit(c, &batch, &change);
  }
  if (rc < 0) {
    reply_storage_error(r, rc, "the project");
    return;
  }
  Tally__Project *stored = (Tally__Project *)message_clone(&project.base);
  must_install(stored ? project_list_insert(&c->projects, stored) : TALLY_E_NOMEM, "a project");
  c->next_project_id++;
  c->config_version++;
  log_info("project '%s' created: id %u, %zu labels, %zu markets (config version %" PRIu64 ")",
           quoted, stored->id, stored->n_labels, stored->n_markets, c->config_version);
  send_project(request, r, stored);
}

static void handle_project_show(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r) {
  const char *name = request->project_show->name;
  Tally__Project *project = project_find(c, name);
  if (project == NULL) {
    char quoted[QUOTE_SIZE];
    validate_quote(name, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
    return;
  }
  send_project(request, r, project);
}

static void handle_project_list(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ProjectListReply body = TALLY__PROJECT_LIST_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.n_projects = c->projects.count;
  body.projects = c->projects.items;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_LIST_REPLY;
  env.project_list_reply = &body;
  r->send(r->ctx, &env);
}

/* Replaces the stored project at `at` with `project`: one synced batch that
 * also bumps the config version, then the copy in memory. Returns the stored
 * copy (owned by the project list), or NULL after replying the storage error
 * (nothing changed then). `what` names the change in that error. */
/* Writes `project` (borrowed) in place of project `at`, with the next
 * config version and an admin log entry for `action`, then installs it.
 * Returns the stored project, or NULL with *code (the store's error;
 * nothing changed). */
static const Tally__Project *project_commit(coordinator_t *c, size_t at,
                                            const Tally__Project *project, const char *what,
                                            const char *action, int *code) {
  meta_batch_t *batch = NULL;
  admin_change_t change = {action, project->name, &c->projects.items[at]->base, &project->base};
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_project(batch, project);
    meta_batch_put_config_version(batch, c->config_version + 1);
    rc = admin_log_commit(c, &batch, &change);
  }
  *code = rc;
  if (rc < 0) return NULL;
  Tally__Project *stored = (Tally__Project *)message_clone(&project->base);
  must_install(stored ? 0 : TALLY_E_NOMEM, what);
  tally__project__free_unpacked(c->projects.items[at], NULL);
  c->projects.items[at] = stored;
  c->config_version++;
  return stored;
}

/* project_commit for a request: a storage error is answered through r. */
static const Tally__Project *project_replace(coordinator_t *c, size_t at,
                                             const Tally__Project *project,
                                             const coordinator_replier_t *r, const char *what,
                                             const char *action) {
  int rc = 0;
  const Tally__Project *stored = project_commit(c, at, project, what, action, &rc);
  if (stored == NULL) reply_storage_error(r, rc, what);
  return stored;
}

/* Answers a project change with the stored project, once every UP worker
 * runs the new configuration (send_after_config). */
static void reply_project_after_config(coordinator_t *c, const Tally__Envelope *request,
                                       const coordinator_replier_t *r,
                                       const Tally__Project *stored) {
  Tally__Envelope env;
  Tally__ProjectReply reply = TALLY__PROJECT_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  reply.project = (Tally__Project *)stored;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_REPLY;
  env.project_reply = &reply;
  send_after_config(c, r, &env);
}

/* Sets *at to the position of project `name` and returns 1, or replies
 * UNKNOWN_PROJECT (naming it as `quoted`, validate_quote) and returns 0. */
static int project_at_or_reply(coordinator_t *c, const char *name, const char *quoted,
                               const coordinator_replier_t *r, size_t *at) {
  int found;
  *at = project_position(&c->projects, name, &found);
  if (!found) reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
  return found;
}

static void handle_audit_policy_set(coordinator_t *c, const Tally__Envelope *request,
                                    const coordinator_replier_t *r) {
  const Tally__AuditPolicySet *body = request->audit_policy_set;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(body->project, quoted, sizeof quoted);
  size_t at;
  if (!project_at_or_reply(c, body->project, quoted, r, &at)) return;
  if (body->policy == NULL) {
    reply_error(r, TALLY_E_BAD_REQUEST, "audit_policy_set carries no policy");
    return;
  }
  Tally__Project *current = c->projects.items[at];
  int rc = validate_audit_policy(body->policy, current->markets, current->n_markets, why,
                                 sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  /* The whole policy is replaced; policy_version stays (it tracks the
   * taxonomy and guidelines, not sampling rates). */
  policy_view_t policy;
  policy_view(&policy, body->policy);
  Tally__Project project = *current;
  project.audit = &policy.policy;
  project.audit_rate = policy.policy.rate;

  const Tally__Project *stored = project_replace(c, at, &project, r, "the audit policy",
                                                  "audit_policy_set");
  if (stored == NULL) return;
  log_info("project '%s': audit policy set (rate %g, %zu market rates, ramp %g until %u audits "
           "at %g; config version %" PRIu64 ")",
           quoted, stored->audit->rate, stored->audit->n_market_rates, stored->audit->ramp_rate,
           stored->audit->ramp_audits, stored->audit->ramp_target, c->config_version);
  reply_project_after_config(c, request, r, stored);
}

static void handle_wellbeing_set(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r) {
  const Tally__WellbeingSet *body = request->wellbeing_set;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(body->project, quoted, sizeof quoted);
  size_t at;
  if (!project_at_or_reply(c, body->project, quoted, r, &at)) return;
  Tally__Project *current = c->projects.items[at];
  uint32_t shift_hours = body->shift_hours;
  int rc = validate_wellbeing(current->labels, current->n_labels, body->high_severity,
                              body->n_high_severity, body->exposure_budget, &shift_hours, why,
                              sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  /* All three settings are replaced; counts already made stay. */
  Tally__Project project = *current;
  project.n_high_severity = body->n_high_severity;
  project.high_severity = body->high_severity;
  project.exposure_budget = body->exposure_budget;
  project.shift_hours = shift_hours;

  const Tally__Project *stored = project_replace(c, at, &project, r, "the wellbeing settings",
                                                  "wellbeing_set");
  if (stored == NULL) return;
  log_info("project '%s': wellbeing set (%zu high-severity labels, budget %u per %u h shift; "
           "config version %" PRIu64 ")",
           quoted, stored->n_high_severity, stored->exposure_budget, stored->shift_hours,
           c->config_version);
  reply_project_after_config(c, request, r, stored);
}

/* Largest guideline text kept in a project record, and URL; versions kept
 * per project (each bumps policy_version). Every worker receives every
 * project with the configuration, so these stay small: a long text belongs
 * behind the url. */
#define GUIDELINE_TEXT_MAX 4096u
#define GUIDELINE_URL_MAX 2048u
#define GUIDELINE_VERSIONS_MAX 100u

/* guideline_set: a new guideline version. policy_version is bumped and the
 * version appended to Project.guidelines in one synced write with its admin
 * log entry; answered once the workers run it, so from then on every label,
 * audit and verdict records the new version. */
static void handle_guideline_set(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r) {
  const Tally__GuidelineSet *body = request->guideline_set;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(body->project, quoted, sizeof quoted);
  size_t at;
  if (!project_at_or_reply(c, body->project, quoted, r, &at)) return;
  if (ident_check("guideline name", body->name, IDENT_NAME_MAX, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  if (body->url[0] == '\0' && body->text[0] == '\0') {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "a guideline version needs a url or a text");
    return;
  }
  if (strlen(body->url) > GUIDELINE_URL_MAX || strlen(body->text) > GUIDELINE_TEXT_MAX ||
      (body->url[0] != '\0' && ident_check("guideline url", body->url, GUIDELINE_URL_MAX, NULL, 0) < 0) ||
      !ident_utf8_is_valid(body->text, strlen(body->text))) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "the url is at most %u bytes of UTF-8 without control characters, the text at "
                "most %u bytes of UTF-8",
                GUIDELINE_URL_MAX, GUIDELINE_TEXT_MAX);
    return;
  }
  Tally__Project *current = c->projects.items[at];
  if (current->n_guidelines >= GUIDELINE_VERSIONS_MAX) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "a project keeps at most %u guideline versions",
                GUIDELINE_VERSIONS_MAX);
    return;
  }
  for (size_t i = 0; i < current->n_guidelines; i++)
    if (strcmp(current->guidelines[i]->name, body->name) == 0) {
      char name[QUOTE_SIZE];
      validate_quote(body->name, name, sizeof name);
      reply_error(r, TALLY_E_ALREADY_EXISTS,
                  "project '%s' has a guideline version named '%s' already (version %u)", quoted,
                  name, current->guidelines[i]->version);
      return;
    }
  Tally__GuidelineVersion version = TALLY__GUIDELINE_VERSION__INIT;
  version.version = (current->policy_version ? current->policy_version : 1) + 1;
  version.name = body->name;
  version.url = body->url;
  version.text = body->text;
  version.set_ms = clock_now_ms();
  version.set_by = c->caller.id;
  Tally__GuidelineVersion **versions = malloc((current->n_guidelines + 1) * sizeof *versions);
  if (versions == NULL) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  if (current->n_guidelines > 0)
    memcpy(versions, current->guidelines, current->n_guidelines * sizeof *versions);
  versions[current->n_guidelines] = &version;
  Tally__Project project = *current;
  project.policy_version = version.version;
  project.guidelines = versions;
  project.n_guidelines = current->n_guidelines + 1;
  const Tally__Project *stored = project_replace(c, at, &project, r, "the guideline version",
                                                  "guideline_set");
  free(versions);
  if (stored == NULL) return;
  log_info("project '%s': guideline version %u set (config version %" PRIu64 ")", quoted,
           stored->policy_version, c->config_version);
  reply_project_after_config(c, request, r, stored);
}

/* ---------------------------------------------------------------- calibration */

static const Tally__Project *calibration_project(void *ctx, const char *name) {
  return project_find(ctx, name);
}

static int calibration_commit(void *ctx, meta_batch_t **batch, const char *action,
                              const char *target, const ProtobufCMessage *old_value,
                              const ProtobufCMessage *new_value) {
  admin_change_t change = {action, target, old_value, new_value};
  return admin_log_commit(ctx, batch, &change);
}

static void handle_calibration(coordinator_t *c, const Tally__Envelope *request,
                               const coordinator_replier_t *r) {
  calibration_env_t env = {c,
                           calibration_project,
                           c->labelers.items,
                           c->labelers.count,
                           &c->caller,
                           clock_now_ms(),
                           c->store,
                           calibration_commit};
  calibration_handle(c->calibration, &env, request, r);
}

/* ---------------------------------------------------------------- reports */

void coordinator_report_job_free(coordinator_report_job_t **job) {
  if (job == NULL || *job == NULL) return;
  coordinator_report_job_t *j = *job;
  *job = NULL;
  report_destroy(&j->report);
  free(j->stats.project);
  free(j->stats.market);
  ops_report_destroy(&j->ops);
  if (j->ops_request.project != protobuf_c_empty_string) free(j->ops_request.project);
  if (j->ops_request.market != protobuf_c_empty_string) free(j->ops_request.market);
  for (size_t i = 0; j->endpoints && i < j->n_workers; i++) free(j->endpoints[i]);
  for (size_t i = 0; j->server_keys && i < j->n_workers; i++) free(j->server_keys[i]);
  free(j->endpoints);
  free(j->server_keys);
  free(j->worker_ids);
  free(j);
}

/* A job for a validated report request `body` on `project`: the engine
 * and the workers to ask. NULL when out of memory. */
static coordinator_report_job_t *report_job_build(coordinator_t *c, uint64_t request_id,
                                                  const Tally__ReportRequest *body,
                                                  const Tally__Project *project) {
  coordinator_report_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return NULL;
  job->request_id = request_id;
  tally__stats_request__init(&job->stats);
  job->stats.project = strdup(body->project);
  job->stats.market = strdup(body->market);
  job->stats.from_day = body->from_day;
  job->stats.to_day = body->to_day;
  size_t count = membership_count(c->members);
  job->worker_ids = calloc(count ? count : 1, sizeof *job->worker_ids);
  job->endpoints = calloc(count ? count : 1, sizeof *job->endpoints);
  job->server_keys = calloc(count ? count : 1, sizeof *job->server_keys);
  report_query_t query = {body->by, body->market, body->from_day, body->to_day};
  int ok = job->stats.project && job->stats.market && job->worker_ids && job->endpoints &&
           job->server_keys && report_new(&job->report, project, &query) == 0;
  for (size_t i = 0; ok && i < count; i++) {
    const Tally__WorkerInfo *worker = membership_worker_at(c->members, i);
    if (worker->state == TALLY__WORKER_STATE__WORKER_DOWN) continue;
    job->worker_ids[job->n_workers] = worker->id;
    ok = (job->endpoints[job->n_workers] = strdup(worker->endpoint)) != NULL &&
         (job->server_keys[job->n_workers] = strdup(worker->public_key)) != NULL;
    if (!ok) free(job->endpoints[job->n_workers]);
    job->n_workers += ok;
  }
  if (!ok) coordinator_report_job_free(&job);
  return job;
}

static coordinator_report_job_t *report_job_new(coordinator_t *c, const Tally__Envelope *request,
                                                const Tally__Project *project) {
  return report_job_build(c, request->request_id, request->report_request, project);
}

/* ------------------------------------------------------------ ramp-up (ramp.h) */

int coordinator_ramp_job(coordinator_t *c, size_t *cursor, coordinator_report_job_t **out) {
  *out = NULL;
  for (; *cursor < c->projects.count; (*cursor)++) {
    const Tally__Project *project = c->projects.items[*cursor];
    if (!ramp_project_has_ramp(project)) continue;
    Tally__ReportRequest body = TALLY__REPORT_REQUEST__INIT;
    body.project = project->name;
    body.by = "labeler";
    (*cursor)++;
    *out = report_job_build(c, 0, &body, project);
    return *out != NULL ? 1 : TALLY_E_NOMEM;
  }
  return 0;
}

int coordinator_ramp_apply(coordinator_t *c, const Tally__ReportReply *reply) {
  const Tally__Project *current = project_find(c, reply->project);
  if (current == NULL || !ramp_project_has_ramp(current)) return 0;
  char **names = NULL;
  size_t n = 0;
  int added = ramp_graduates(current->audit, current->ramped_up, current->n_ramped_up, reply, &names,
                             &n);
  if (added <= 0) return added;
  int found;
  size_t at = project_position(&c->projects, current->name, &found);
  Tally__Project project = *current;
  project.ramped_up = names;
  project.n_ramped_up = n;
  int rc = 0;
  char quoted[QUOTE_SIZE];
  validate_quote(current->name, quoted, sizeof quoted);
  const Tally__Project *stored = project_commit(c, at, &project, "the ramp-up set", "ramp_up_left", &rc);
  free(names); /* strings were borrowed from the old project and the reply */
  if (stored == NULL) {
    log_warn("project '%s': could not record who left ramp-up: %s", quoted, tally_strerror(rc));
    return rc;
  }
  log_info("project '%s': %d people left ramp-up (%zu in all; config version %" PRIu64 ")", quoted,
           added, stored->n_ramped_up, c->config_version);
  return added;
}

static int project_has_market(const Tally__Project *project, const char *market) {
  for (size_t i = 0; i < project->n_markets; i++)
    if (strcmp(project->markets[i], market) == 0) return 1;
  return 0;
}

static void handle_report_request(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__ReportRequest *body = request->report_request;
  char quoted[QUOTE_SIZE];
  const Tally__Project *project = project_find(c, body->project);
  if (project == NULL) {
    validate_quote(body->project, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
    return;
  }
  if (!report_by_is_valid(body->by)) {
    validate_quote(body->by, quoted, sizeof quoted);
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "by '%s' is not one of: \"\" (everything), labeler, market, category, day, version",
                quoted);
    return;
  }
  if (body->market[0] != '\0' && !project_has_market(project, body->market)) {
    validate_quote(body->market, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_MARKET, "'%s' is not a market of project '%s'", quoted,
                project->name);
    return;
  }
  if (body->from_day != 0 && body->to_day != 0 && body->from_day > body->to_day) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "from_day %u is after to_day %u", body->from_day,
                body->to_day);
    return;
  }
  if (r->defer_report == NULL) {
    reply_error(r, TALLY_E_UNAVAILABLE, "reports are not served on this connection");
    return;
  }
  coordinator_report_job_t *job = report_job_new(c, request, project);
  if (job == NULL) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory preparing the report");
    return;
  }
  log_debug("report on '%s' by '%s': asking %zu workers", project->name, body->by,
            job->n_workers);
  r->defer_report(r->ctx, job);
}

/* A job for a validated ops report request: the engine and the workers to
 * ask (every worker that is not DOWN). NULL when out of memory. */
static coordinator_report_job_t *ops_job_new(coordinator_t *c, const Tally__Envelope *request,
                                             const Tally__Project *project) {
  const Tally__OpsReportRequest *body = request->ops_report_request;
  coordinator_report_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return NULL;
  job->request_id = request->request_id;
  tally__stats_request__init(&job->stats);
  job->stats.project = strdup(body->project); /* for the gather's logs */
  job->stats.market = strdup(body->market);
  tally__ops_request__init(&job->ops_request);
  job->ops_request.project = strdup(body->project);
  job->ops_request.market = strdup(body->market);
  job->ops_request.from_day = body->from_day;
  job->ops_request.to_day = body->to_day;
  size_t count = membership_count(c->members);
  job->worker_ids = calloc(count ? count : 1, sizeof *job->worker_ids);
  job->endpoints = calloc(count ? count : 1, sizeof *job->endpoints);
  job->server_keys = calloc(count ? count : 1, sizeof *job->server_keys);
  ops_query_t query = {body->kind, body->by, body->market, body->from_day, body->to_day,
                       project->sla_seconds, body->shift_hours, clock_now_ms()};
  int ok = job->stats.project && job->stats.market && job->ops_request.project &&
           job->ops_request.market && job->worker_ids && job->endpoints && job->server_keys &&
           ops_report_new(&job->ops, project->name, &query) == 0;
  for (size_t i = 0; ok && i < count; i++) {
    const Tally__WorkerInfo *worker = membership_worker_at(c->members, i);
    if (worker->state == TALLY__WORKER_STATE__WORKER_DOWN) continue;
    job->worker_ids[job->n_workers] = worker->id;
    ok = (job->endpoints[job->n_workers] = strdup(worker->endpoint)) != NULL &&
         (job->server_keys[job->n_workers] = strdup(worker->public_key)) != NULL;
    if (!ok) free(job->endpoints[job->n_workers]);
    job->n_workers += ok;
  }
  if (!ok) coordinator_report_job_free(&job);
  return job;
}

/* ops_report_request: validated here, answered later by the daemon once
 * the workers sent their ops_replies (replier->defer_report). */
static void handle_ops_report_request(coordinator_t *c, const Tally__Envelope *request,
                                      const coordinator_replier_t *r) {
  const Tally__OpsReportRequest *body = request->ops_report_request;
  char quoted[QUOTE_SIZE];
  const Tally__Project *project = project_find(c, body->project);
  if (project == NULL) {
    validate_quote(body->project, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
    return;
  }
  if (!ops_report_kind_is_valid(body->kind)) {
    validate_quote(body->kind, quoted, sizeof quoted);
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "kind '%s' is not one of: throughput, backlog, sla, capacity, ttfa", quoted);
    return;
  }
  if (!ops_report_by_is_valid(body->kind, body->by)) {
    validate_quote(body->by, quoted, sizeof quoted);
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "by '%s' is not valid for a %s report: \"\" (everything), market, stage%s", quoted,
                body->kind,
                strcmp(body->kind, "backlog") == 0 || strcmp(body->kind, "capacity") == 0 ? ""
                                                                                        : ", day");
    return;
  }
  if (body->market[0] != '\0' && !project_has_market(project, body->market)) {
    validate_quote(body->market, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_MARKET, "'%s' is not a market of project '%s'", quoted,
                project->name);
    return;
  }
  if (body->from_day != 0 && body->to_day != 0 && body->from_day > body->to_day) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "from_day %u is after to_day %u", body->from_day,
                body->to_day);
    return;
  }
  if (!(body->shift_hours >= 0.0 && body->shift_hours <= 24.0)) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "shift_hours must be in 0..24 (0 = 8)");
    return;
  }
  if (r->defer_report == NULL) {
    reply_error(r, TALLY_E_UNAVAILABLE, "reports are not served on this connection");
    return;
  }
  coordinator_report_job_t *job = ops_job_new(c, request, project);
  if (job == NULL) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory preparing the report");
    return;
  }
  r->defer_report(r->ctx, job);
}

/* ---------------------------------------------------------------- labelers */

/* Writes `labeler`, a new config version and the log entry of `change` in
 * one synced batch. Returns 0, or the storage error after replying it when
 * the replier can (nothing changed then). */
static int labeler_persist(coordinator_t *c, const Tally__Labeler *labeler,
                           const coordinator_replier_t *r, const admin_change_t *change) {
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_labeler(batch, labeler);
    meta_batch_put_config_version(batch, c->config_version + 1);
    rc = admin_log_commit(c, &batch, change);
  }
  if (rc == 0) c->keys_version++;
  else if (r->send_error) reply_storage_error(r, rc, "the labeler");
  return rc;
}

/* Roles only an operator may give or take: they reach the cluster itself. */
#define OPERATOR_ONLY_ROLES (TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY)

/* May the caller give `labeler` (now `current`, NULL when new) its roles
 * and key? Replies PERMISSION_DENIED / ALREADY_EXISTS and returns -1 when
 * not. */
static int labeler_change_allowed(coordinator_t *c, const Tally__Labeler *current,
                                  const Tally__Labeler *labeler, const coordinator_replier_t *r) {
  uint32_t touched = labeler->roles | (current ? current->roles : 0);
  if ((touched & OPERATOR_ONLY_ROLES) && !(c->caller.roles & TALLY__ROLE__ROLE_OPERATOR)) {
    reply_error(r, TALLY_E_PERMISSION_DENIED,
                "only an operator may give, take or change a person with the operator or "
                "gateway role");
    return -1;
  }
  if (labeler->public_key != NULL && labeler->public_key[0] != '\0' &&
      key_in_use(c, labeler->public_key, labeler->id)) {
    reply_error(r, TALLY_E_ALREADY_EXISTS, "that public key already belongs to someone else");
    return -1;
  }
  return 0;
}

static void handle_labeler_add(coordinator_t *c, const Tally__Envelope *request,
                               const coordinator_replier_t *r) {
  const Tally__Labeler *sent = request->labeler_add->labeler;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  if (sent == NULL) {
    reply_error(r, TALLY_E_BAD_REQUEST, "labeler_add carries no labeler");
    return;
  }
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  labeler.id = sent->id;
  labeler.roles = sent->roles;
  labeler.n_markets = sent->n_markets, labeler.markets = sent->markets;
  labeler.public_key = sent->public_key;
  if (validate_labeler(&labeler, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  validate_quote(labeler.id, quoted, sizeof quoted);
  if (labeler_find(c, labeler.id) != NULL) {
    reply_error(r, TALLY_E_ALREADY_EXISTS, "labeler '%s' already exists", quoted);
    return;
  }
  if (labeler_change_allowed(c, NULL, &labeler, r) < 0) return;
  admin_change_t change = {"labeler_add", labeler.id, NULL, &labeler.base};
  if (labeler_persist(c, &labeler, r, &change) < 0) return;
  Tally__Labeler *stored = (Tally__Labeler *)message_clone(&labeler.base);
  must_install(stored ? labeler_list_insert(&c->labelers, stored) : TALLY_E_NOMEM, "a labeler");
  c->config_version++;
  log_info("labeler '%s' added: roles %u, %zu markets (config version %" PRIu64 ")", quoted,
           stored->roles, stored->n_markets, c->config_version);

  Tally__Envelope env;
  Tally__LabelerReply body = TALLY__LABELER_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.labeler = stored;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_REPLY;
  env.labeler_reply = &body;
  /* Not held for the workers: a worker fetches the configuration at once
   * when a request names a labeler it does not know, and holding every add
   * would slow bulk set-ups down to one heartbeat per person. A person with
   * a key is held: workers refuse a key at the handshake until their
   * configuration has it, and there is no request to fetch it by. */
  if (stored->public_key[0] != '\0') send_after_config(c, r, &env);
  else r->send(r->ctx, &env);
}

/* labeler_update: new roles and markets for a known person, persisted with
 * a new config version in one synced batch; answered once the workers run
 * it (send_after_config), so it holds from the person's next lease. */
static void handle_labeler_update(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__LabelerUpdate *update = request->labeler_update;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(update->id, quoted, sizeof quoted);
  int found;
  size_t at = labeler_position(&c->labelers, update->id, &found);
  if (!found) {
    reply_error(r, TALLY_E_UNKNOWN_LABELER, "unknown labeler '%s'", quoted);
    return;
  }
  Tally__Labeler *current = c->labelers.items[at];
  char *markets[VALIDATE_MAX_LIST];
  Tally__Labeler labeler;
  if (validate_labeler_update(current, update, markets, &labeler, why, sizeof why) < 0 ||
      validate_labeler(&labeler, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  if (labeler_change_allowed(c, current, &labeler, r) < 0) return;
  admin_change_t change = {"labeler_update", labeler.id, &current->base, &labeler.base};
  if (labeler_persist(c, &labeler, r, &change) < 0) return;
  Tally__Labeler *stored = (Tally__Labeler *)message_clone(&labeler.base);
  must_install(stored ? 0 : TALLY_E_NOMEM, "a labeler");
  tally__labeler__free_unpacked(current, NULL);
  c->labelers.items[at] = stored;
  c->config_version++;
  log_info("labeler '%s' updated: roles %u, %zu markets (config version %" PRIu64 ")", quoted,
           stored->roles, stored->n_markets, c->config_version);

  Tally__Envelope env;
  Tally__LabelerReply body = TALLY__LABELER_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.labeler = stored;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_REPLY;
  env.labeler_reply = &body;
  send_after_config(c, r, &env);
}

static void handle_labeler_list(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__LabelerListReply body = TALLY__LABELER_LIST_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.n_labelers = c->labelers.count;
  body.labelers = c->labelers.items;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_LIST_REPLY;
  env.labeler_list_reply = &body;
  r->send(r->ctx, &env);
}

/* ---------------------------------------------------------------- config and map */

static void handle_config_request(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ClusterConfig config;
  wire_envelope_init(&env, request->request_id);
  config_view(c, &config);
  env.body_case = TALLY__ENVELOPE__BODY_CONFIG;
  env.config = &config;
  r->send(r->ctx, &env);
}

/* Roles that see the whole map: queue depths of every stage and every
 * worker's figures. Anyone else (labelers, auditors) sees only the backlog
 * hints of the stages they work, and no per-worker counts: the depth of the
 * AUDIT queue, or a worker's queued total, would tell a labeler whether the
 * label they just gave was sampled (DESIGN.md, double-blind invariant 1). */
#define MAP_FULL_VIEW_ROLES                                                          \
  (TALLY__ROLE__ROLE_LEAD | TALLY__ROLE__ROLE_MANAGER | TALLY__ROLE__ROLE_OPERATOR | \
   TALLY__ROLE__ROLE_GATEWAY | TALLY__ROLE__ROLE_WORKER | TALLY__ROLE__ROLE_COORDINATOR)

/* May a caller with `roles` see hints of `stage`? */
static int stage_visible(uint32_t roles, uint32_t stage) {
  switch (stage) {
    case TALLY__STAGE__STAGE_LABEL: return (roles & TALLY__ROLE__ROLE_LABELER) != 0;
    case TALLY__STAGE__STAGE_AUDIT: return (roles & TALLY__ROLE__ROLE_AUDITOR) != 0;
    default: return 0; /* adjudication: leads, who see the whole map */
  }
}

static void handle_map_request(coordinator_t *c, const Tally__Envelope *request,
                               const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  if (map_view(c, &map, &workers) < 0) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  Tally__WorkerInfo *copies = NULL;
  Tally__BacklogHint **hints = NULL;
  uint32_t roles = c->caller.roles;
  if (!(roles & MAP_FULL_VIEW_ROLES)) {
    size_t total = 0;
    for (size_t i = 0; i < map.n_workers; i++) total += workers[i]->n_backlog;
    copies = calloc(map.n_workers ? map.n_workers : 1, sizeof *copies);
    hints = calloc(total ? total : 1, sizeof *hints);
    if (copies == NULL || hints == NULL) {
      free(copies);
      free(hints);
      free(workers);
      reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
      return;
    }
    size_t used = 0;
    for (size_t i = 0; i < map.n_workers; i++) {
      Tally__WorkerInfo *w = &copies[i];
      *w = *workers[i];
      w->queued = w->live_leases = w->items = 0;
      w->backlog = hints + used;
      w->n_backlog = 0;
      for (size_t h = 0; h < workers[i]->n_backlog; h++)
        if (stage_visible(roles, workers[i]->backlog[h]->stage))
          w->backlog[w->n_backlog++] = workers[i]->backlog[h];
      used += w->n_backlog;
      workers[i] = w;
    }
  }
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_MAP;
  env.map = &map;
  r->send(r->ctx, &env);
  free(workers);
  free(copies);
  free(hints);
}

/* ---------------------------------------------------------------- workers */

static slot_move_t *move_find(coordinator_t *c, uint64_t move_id);
static size_t moves_for_source(coordinator_t *c, uint32_t source, Tally__SlotMove *bodies,
                               Tally__SlotMove **ptrs);
static void coordinator_rebalance(coordinator_t *c, uint64_t now_ms);

/* Persists and installs a new durable record for worker `id` (state
 * `state`, endpoint `endpoint`) together with the planned slot map in
 * c->plan, whose epoch the caller has already advanced. `new_worker` also
 * advances next_worker_id. `public_key` binds the id to a key (NULL: keep
 * the bound one). Returns 0 or the store's error (nothing changed). */
static int commit_worker_change(coordinator_t *c, uint32_t id, const char *endpoint,
                                Tally__WorkerState state, int new_worker, int slots_changed,
                                const char *public_key) {
  Tally__WorkerInfo record = TALLY__WORKER_INFO__INIT;
  const Tally__WorkerInfo *known = membership_find(c->members, id);
  record.id = id;
  record.endpoint = (char *)endpoint;
  record.state = state;
  record.draining = known != NULL && known->draining;
  record.public_key = (char *)(public_key ? public_key : known ? known->public_key : "");
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_worker(batch, &record);
    if (new_worker) meta_batch_put_next_worker_id(batch, id + 1);
    if (slots_changed) meta_batch_put_slot_owners(batch, slot_map_owners(c->plan));
    meta_batch_put_epoch(batch, slot_map_epoch(c->plan));
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc < 0) return rc;
  must_install(membership_put(c->members, &record, clock_monotonic_ms()), "a worker");
  slot_map_copy(c->map, c->plan);
  if (new_worker) c->next_worker_id++;
  return 0;
}

void coordinator_expect_workers(coordinator_t *c, uint32_t workers, uint64_t settle_ms) {
  c->expect_workers = workers ? workers : 1;
  c->settle_deadline_ms = clock_monotonic_ms() + settle_ms;
}

/* True while a fresh cluster should still wait for more workers before it
 * hands out slots (see coordinator_expect_workers). */
static int still_settling(const coordinator_t *c, size_t up) {
  return up < c->expect_workers && clock_monotonic_ms() < c->settle_deadline_ms &&
         slot_map_count_owned(c->map, 0) == TALLY_SLOT_COUNT;
}

/* Plans the registration of worker `id` on c->plan: every unassigned slot
 * goes to the UP workers, this one included (unless a fresh cluster is
 * still waiting for the workers it expects). Returns the number of slots
 * assigned or TALLY_E_NOMEM. */
static int plan_registration(coordinator_t *c, uint32_t id) {
  size_t count = membership_count(c->members);
  uint32_t *candidates = malloc((count + 1) * sizeof *candidates);
  if (candidates == NULL) return TALLY_E_NOMEM;
  size_t up = membership_up_ids(c->members, candidates);
  size_t i = 0;
  while (i < up && candidates[i] != id) i++;
  if (i == up) candidates[up++] = id;
  slot_map_copy(c->plan, c->map);
  if (still_settling(c, up)) {
    free(candidates);
    return 0;
  }
  int assigned = slot_map_assign_unassigned(c->plan, candidates, up);
  free(candidates);
  return assigned;
}

static void send_register_reply(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r, uint32_t id) {
  Tally__Envelope env;
  Tally__WorkerRegisterReply body = TALLY__WORKER_REGISTER_REPLY__INIT;
  Tally__ClusterMap map;
  Tally__ClusterConfig config;
  Tally__WorkerInfo **workers = NULL;
  if (map_view(c, &map, &workers) < 0) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  config_view(c, &config);
  wire_envelope_init(&env, request->request_id);
  body.worker_id = id;
  body.map = &map;
  body.config = &config;
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER_REPLY;
  env.worker_register_reply = &body;
  r->send(r->ctx, &env);
  free(workers);
}

static void handle_worker_register(coordinator_t *c, const Tally__Envelope *request,
                                   const char *caller_key, const coordinator_replier_t *r) {
  const Tally__WorkerRegister *body = request->worker_register;
  char why[MESSAGE_SIZE];
  if (validate_endpoint(body->endpoint, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  const Tally__WorkerInfo *known = NULL;
  const char *key = c->secure ? caller_key : NULL;
  const Tally__WorkerInfo *bound = key ? worker_by_key(c, key) : NULL;
  if (bound != NULL && body->worker_id != 0 && body->worker_id != bound->id) {
    reply_error(r, TALLY_E_PERMISSION_DENIED, "this key is bound to worker %u, not to worker %u",
                bound->id, body->worker_id);
    return;
  }
  uint32_t asked = bound ? bound->id : body->worker_id;
  if (asked != 0 && (known = membership_find(c->members, asked)) == NULL) {
    reply_error(r, TALLY_E_NOT_FOUND,
                "unknown worker id %u; register with worker_id 0 to join as a new worker",
                asked);
    return;
  }
  if (key != NULL && known != NULL && known->public_key[0] != '\0' &&
      strcmp(known->public_key, key) != 0) {
    reply_error(r, TALLY_E_PERMISSION_DENIED,
                "worker id %u is bound to another key; a worker keeps its key for life", asked);
    return;
  }
  if (known == NULL && c->next_worker_id == UINT32_MAX) {
    reply_error(r, TALLY_E_INTERNAL, "worker ids are exhausted");
    return;
  }
  uint32_t id = known ? known->id : c->next_worker_id;
  int worker_changed = known == NULL || strcmp(known->endpoint, body->endpoint) != 0 ||
                       known->state != TALLY__WORKER_STATE__WORKER_UP ||
                       (key != NULL && strcmp(known->public_key, key) != 0);
  int assigned = plan_registration(c, id);
  if (assigned < 0) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory planning the slot map");
    return;
  }
  if (worker_changed || assigned > 0) {
    if (assigned == 0) slot_map_bump_epoch(c->plan);
    int rc = commit_worker_change(c, id, body->endpoint, TALLY__WORKER_STATE__WORKER_UP,
                                  known == NULL, assigned > 0, key);
    if (rc < 0) {
      reply_storage_error(r, rc, "the worker registration");
      return;
    }
    log_info("worker %u %s at %s; %d unassigned slots given out; epoch %" PRIu64, id,
             known ? "re-registered" : "registered", body->endpoint, assigned,
             slot_map_epoch(c->map));
  }
  membership_touch(c->members, id, clock_now_ms(), clock_monotonic_ms());
  send_register_reply(c, request, r, id);
}

static void handle_heartbeat(coordinator_t *c, const Tally__Envelope *request,
                             const char *caller_key, const coordinator_replier_t *r) {
  const Tally__Heartbeat *heartbeat = request->heartbeat;
  if (c->secure && caller_worker_id(c, caller_key) != heartbeat->worker_id) {
    reply_error(r, TALLY_E_PERMISSION_DENIED, "a worker may only send its own heartbeat");
    return;
  }
  const Tally__WorkerInfo *worker = membership_find(c->members, heartbeat->worker_id);
  if (worker == NULL) {
    reply_error(r, TALLY_E_NOT_FOUND, "unknown worker, register first");
    return;
  }
  if (worker->state != TALLY__WORKER_STATE__WORKER_UP) {
    slot_map_copy(c->plan, c->map);
    slot_map_bump_epoch(c->plan);
    int rc = commit_worker_change(c, worker->id, worker->endpoint, TALLY__WORKER_STATE__WORKER_UP,
                                  0, 0, NULL);
    if (rc < 0) {
      reply_storage_error(r, rc, "the worker's state");
      return;
    }
    log_info("worker %u is UP again; epoch %" PRIu64, heartbeat->worker_id,
             slot_map_epoch(c->map));
  }
  if (membership_note_heartbeat(c->members, heartbeat, clock_now_ms(), clock_monotonic_ms()) <
      0) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory recording the heartbeat");
    return;
  }
  Tally__Envelope env;
  Tally__HeartbeatReply body = TALLY__HEARTBEAT_REPLY__INIT;
  Tally__ClusterMap map;
  Tally__ClusterConfig config;
  Tally__WorkerInfo **workers = NULL;
  body.epoch = slot_map_epoch(c->map);
  body.config_version = c->config_version;
  /* Moves the worker reported: unknown ones are given up, unless the map
   * shows they happened (then the map tells the worker to finish). */
  uint64_t aborts[COORDINATOR_MOVES_MAX * 2];
  int finished_reported = 0;
  for (size_t i = 0; i < heartbeat->n_moving; i++) {
    const Tally__SlotMove *m = heartbeat->moving[i];
    if (m->slot >= TALLY_SLOT_COUNT || move_find(c, m->move_id) != NULL) continue;
    if (m->target_id != 0 && slot_map_owner(c->map, m->slot) == m->target_id)
      finished_reported = 1;
    else if (body.n_abort_moves < sizeof aborts / sizeof aborts[0])
      aborts[body.n_abort_moves++] = m->move_id;
  }
  body.abort_moves = aborts;
  Tally__SlotMove move_bodies[COORDINATOR_MOVES_MAX], *move_ptrs[COORDINATOR_MOVES_MAX];
  body.n_moves = moves_for_source(c, heartbeat->worker_id, move_bodies, move_ptrs);
  body.moves = move_ptrs;
  /* A drained worker hands its per-worker sums to a worker that stays. */
  Tally__SlotMove handoff = TALLY__SLOT_MOVE__INIT;
  const Tally__WorkerInfo *self = membership_find(c->members, heartbeat->worker_id);
  if (self != NULL && self->draining && heartbeat->has_aggregates && body.n_moves == 0 &&
      slot_map_count_owned(c->map, heartbeat->worker_id) == 0) {
    for (size_t i = 0; i < membership_count(c->members); i++) {
      const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
      if (w->id == heartbeat->worker_id || w->draining ||
          w->state != TALLY__WORKER_STATE__WORKER_UP)
        continue;
      handoff.source_id = heartbeat->worker_id;
      handoff.target_id = w->id;
      handoff.target_endpoint = w->endpoint;
      body.handoff = &handoff;
      break;
    }
  }
  if (heartbeat->epoch != body.epoch || finished_reported) {
    if (map_view(c, &map, &workers) < 0) {
      reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
      return;
    }
    body.map = &map;
  }
  if (heartbeat->config_version != body.config_version) {
    config_view(c, &config);
    body.config = &config;
  }
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT_REPLY;
  env.heartbeat_reply = &body;
  r->send(r->ctx, &env);
  free(workers);
}

/* Hands out unassigned slots to the UP workers once a fresh cluster has
 * stopped waiting for more (registration does it otherwise). */
static int assign_after_settling(coordinator_t *c) {
  size_t count = membership_count(c->members);
  if (count == 0 || slot_map_count_owned(c->map, 0) == 0) return 0;
  uint32_t *up_ids = malloc(count * sizeof *up_ids);
  if (up_ids == NULL) return TALLY_E_NOMEM;
  size_t up = membership_up_ids(c->members, up_ids);
  int rc = 0;
  if (up > 0 && !still_settling(c, up)) {
    slot_map_copy(c->plan, c->map);
    int assigned = slot_map_assign_unassigned(c->plan, up_ids, up);
    const Tally__WorkerInfo *first = membership_find(c->members, up_ids[0]);
    if (assigned > 0 && first != NULL) {
      rc = commit_worker_change(c, first->id, first->endpoint, TALLY__WORKER_STATE__WORKER_UP, 0,
                                1, NULL);
      if (rc == 0)
        log_info("%d unassigned slots given out to %zu workers; epoch %" PRIu64, assigned, up,
                 slot_map_epoch(c->map));
    }
  }
  free(up_ids);
  return rc;
}

int coordinator_check_liveness(coordinator_t *c, uint64_t now_ms) {
  int settled = assign_after_settling(c);
  if (settled < 0) return settled;
  size_t count = membership_count(c->members);
  uint32_t *silent = malloc((count ? count : 1) * sizeof *silent);
  if (silent == NULL) return TALLY_E_NOMEM;
  size_t n = membership_silent_ids(c->members, now_ms, c->heartbeat_timeout_ms, silent);
  int rc = 0;
  meta_batch_t *batch = NULL;
  if (n > 0) rc = meta_batch_new(c->store, &batch);
  if (n > 0 && rc == 0) {
    for (size_t i = 0; i < n; i++) {
      Tally__WorkerInfo record = *membership_find(c->members, silent[i]);
      record.state = TALLY__WORKER_STATE__WORKER_DOWN;
      meta_batch_put_worker(batch, &record);
    }
    meta_batch_put_epoch(batch, slot_map_epoch(c->map) + 1);
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (n > 0 && rc == 0) {
    for (size_t i = 0; i < n; i++) {
      Tally__WorkerInfo record = *membership_find(c->members, silent[i]);
      record.state = TALLY__WORKER_STATE__WORKER_DOWN;
      must_install(membership_put(c->members, &record, now_ms), "a worker state");
    }
    slot_map_bump_epoch(c->map);
    for (size_t i = 0; i < n; i++)
      log_warn("worker %u sent no heartbeat for over %" PRIu64
               " ms: DOWN (keeps its %u slots); epoch %" PRIu64,
               silent[i], c->heartbeat_timeout_ms, slot_map_count_owned(c->map, silent[i]),
               slot_map_epoch(c->map));
  }
  free(silent);
  coordinator_rebalance(c, now_ms);
  return rc < 0 ? rc : (int)n;
}

/* ---------------------------------------------------------------- slot moves */

static slot_move_t *move_find(coordinator_t *c, uint64_t move_id) {
  for (size_t i = 0; i < c->n_moves; i++)
    if (c->moves[i].move_id == move_id) return &c->moves[i];
  return NULL;
}

static void move_remove(coordinator_t *c, slot_move_t *m) {
  size_t i = (size_t)(m - c->moves);
  memmove(&c->moves[i], &c->moves[i + 1], (c->n_moves - i - 1) * sizeof c->moves[0]);
  c->n_moves--;
}

static int worker_is_up(const coordinator_t *c, uint32_t id) {
  const Tally__WorkerInfo *w = membership_find(c->members, id);
  return w != NULL && w->state == TALLY__WORKER_STATE__WORKER_UP;
}

/* Fills `bodies`/`ptrs` (room for COORDINATOR_MOVES_MAX) with the moves
 * `source` is to carry out; endpoints are borrowed. Returns how many. */
static size_t moves_for_source(coordinator_t *c, uint32_t source, Tally__SlotMove *bodies,
                               Tally__SlotMove **ptrs) {
  size_t n = 0;
  for (size_t i = 0; i < c->n_moves; i++) {
    const slot_move_t *m = &c->moves[i];
    const Tally__WorkerInfo *target = membership_find(c->members, m->target);
    if (m->source != source || target == NULL) continue;
    tally__slot_move__init(&bodies[n]);
    bodies[n].move_id = m->move_id;
    bodies[n].slot = m->slot;
    bodies[n].source_id = m->source;
    bodies[n].target_id = m->target;
    bodies[n].target_endpoint = target->endpoint;
    ptrs[n] = &bodies[n];
    n++;
  }
  return n;
}

/* Gives up moves that ran too long or lost their source or target, then
 * plans new ones (rebalance.h) unless a fresh cluster is still settling. */
static void coordinator_rebalance(coordinator_t *c, uint64_t now_ms) {
  for (size_t i = 0; i < c->n_moves;) {
    slot_move_t *m = &c->moves[i];
    int late = now_ms - m->started_ms > COORDINATOR_MOVE_TIMEOUT_MS;
    if (late || !worker_is_up(c, m->source) || !worker_is_up(c, m->target)) {
      log_warn("move %" PRIu64 " of slot %u from worker %u to %u given up (%s)", m->move_id,
               m->slot, m->source, m->target, late ? "took too long" : "a worker is not UP");
      move_remove(c, m);
      continue;
    }
    i++;
  }
  if (c->rebalance_paused || slot_map_count_owned(c->map, 0) > 0) return;
  size_t count = membership_count(c->members);
  if (count < 2 || c->n_moves == COORDINATOR_MOVES_MAX) return;
  rebalance_worker_t *workers = malloc(count * sizeof *workers);
  if (workers == NULL) return;
  for (size_t i = 0; i < count; i++) {
    const Tally__WorkerInfo *info = membership_worker_at(c->members, i);
    workers[i] = (rebalance_worker_t){info->id, info->state == TALLY__WORKER_STATE__WORKER_UP,
                                      info->draining};
  }
  rebalance_move_t active[COORDINATOR_MOVES_MAX], planned[COORDINATOR_MOVES_MAX];
  for (size_t i = 0; i < c->n_moves; i++)
    active[i] = (rebalance_move_t){c->moves[i].slot, c->moves[i].source, c->moves[i].target};
  size_t n = rebalance_plan(c->map, workers, count, active, c->n_moves, planned,
                            COORDINATOR_MOVES_MAX - c->n_moves);
  free(workers);
  for (size_t i = 0; i < n; i++) {
    slot_move_t *m = &c->moves[c->n_moves++];
    *m = (slot_move_t){c->next_move_id++, planned[i].slot, planned[i].source, planned[i].target,
                       now_ms};
    log_debug("move %" PRIu64 ": slot %u from worker %u to %u", m->move_id, m->slot, m->source,
              m->target);
  }
}

/* Persists the slot owners and epoch of c->plan and installs it. */
static int commit_map(coordinator_t *c) {
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_slot_owners(batch, slot_map_owners(c->plan));
    meta_batch_put_epoch(batch, slot_map_epoch(c->plan));
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc == 0) slot_map_copy(c->map, c->plan);
  return rc;
}

static void handle_slot_move_done(coordinator_t *c, const Tally__Envelope *request,
                                  const char *caller_key, const coordinator_replier_t *r) {
  const Tally__SlotMoveDone *done = request->slot_move_done;
  const Tally__SlotMove *m = done->move;
  if (m == NULL || m->slot >= TALLY_SLOT_COUNT) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "slot_move_done needs the move and a valid slot");
    return;
  }
  if (c->secure && caller_worker_id(c, caller_key) != m->source_id) {
    reply_error(r, TALLY_E_PERMISSION_DENIED, "only a move's source may report it done");
    return;
  }
  slot_move_t *active = move_find(c, m->move_id);
  int flipped = 0;
  if (active != NULL && active->source == m->source_id && active->slot == m->slot) {
    if (done->error != NULL && done->error[0] != '\0') {
      log_warn("move %" PRIu64 " of slot %u from worker %u to %u failed: %s", active->move_id,
               active->slot, active->source, active->target, done->error);
      move_remove(c, active);
    } else if (slot_map_owner(c->map, m->slot) != active->source || !worker_is_up(c, active->target)) {
      log_warn("move %" PRIu64 " of slot %u given up: owner or target changed", active->move_id,
               active->slot);
      move_remove(c, active);
    } else {
      slot_map_copy(c->plan, c->map);
      slot_map_set_owner(c->plan, active->slot, active->target);
      slot_map_bump_epoch(c->plan);
      int rc = commit_map(c);
      if (rc < 0) {
        reply_storage_error(r, rc, "the slot's new owner"); /* the source asks again */
        return;
      }
      log_info("slot %u moved from worker %u to worker %u (%" PRIu64 " keys, %" PRIu64
               " bytes); epoch %" PRIu64,
               active->slot, active->source, active->target, done->entries, done->bytes,
               slot_map_epoch(c->map));
      move_remove(c, active);
      flipped = 1;
    }
  } else {
    /* Not under way (any more): the map says whether it happened. */
    flipped = m->target_id != 0 && slot_map_owner(c->map, m->slot) == m->target_id;
  }
  coordinator_rebalance(c, clock_monotonic_ms());
  Tally__Envelope env;
  Tally__SlotMoveDoneReply body = TALLY__SLOT_MOVE_DONE_REPLY__INIT;
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  Tally__SlotMove bodies[COORDINATOR_MOVES_MAX], *ptrs[COORDINATOR_MOVES_MAX];
  if (map_view(c, &map, &workers) < 0) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  body.flipped = flipped;
  body.map = &map;
  body.move_id = m->move_id;
  body.n_moves = moves_for_source(c, m->source_id, bodies, ptrs);
  body.moves = ptrs;
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE_REPLY;
  env.slot_move_done_reply = &body;
  r->send(r->ctx, &env);
  free(workers);
}

static void handle_worker_drain(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r) {
  const Tally__WorkerDrain *d = request->worker_drain;
  const Tally__WorkerInfo *known = membership_find(c->members, d->worker_id);
  if (known == NULL) {
    reply_error(r, TALLY_E_NOT_FOUND, "no worker %u in this cluster", d->worker_id);
    return;
  }
  if (!d->undrain) {
    size_t others = 0;
    for (size_t i = 0; i < membership_count(c->members); i++) {
      const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
      others += w->id != known->id && w->state == TALLY__WORKER_STATE__WORKER_UP && !w->draining;
    }
    if (others == 0) {
      reply_error(r, TALLY_E_INVALID_ARGUMENT,
                  "worker %u cannot be drained: no other UP worker could take its slots",
                  known->id);
      return;
    }
  }
  if (known->draining != !d->undrain) {
    Tally__WorkerInfo record = TALLY__WORKER_INFO__INIT;
    record.id = known->id;
    record.endpoint = known->endpoint;
    record.state = known->state;
    record.draining = !d->undrain;
    record.public_key = known->public_key;
    meta_batch_t *batch = NULL;
    char target[32];
    snprintf(target, sizeof target, "worker %u", known->id);
    Tally__WorkerDrain before = TALLY__WORKER_DRAIN__INIT, after = TALLY__WORKER_DRAIN__INIT;
    before.worker_id = after.worker_id = known->id;
    before.undrain = !known->draining;
    after.undrain = d->undrain;
    admin_change_t change = {d->undrain ? "worker_undrain" : "worker_drain", target, &before.base,
                             &after.base};
    int rc = meta_batch_new(c->store, &batch);
    if (rc == 0) {
      meta_batch_put_worker(batch, &record);
      meta_batch_put_epoch(batch, slot_map_epoch(c->map) + 1);
      rc = admin_log_commit(c, &batch, &change);
    }
    if (rc < 0) {
      reply_storage_error(r, rc, "the worker's drain state");
      return;
    }
    must_install(membership_put(c->members, &record, clock_monotonic_ms()), "a worker");
    slot_map_bump_epoch(c->map);
    log_info("worker %u %s; epoch %" PRIu64, record.id,
             record.draining ? "is draining: its slots move to the other workers"
                             : "takes part in the balance again",
             slot_map_epoch(c->map));
    coordinator_rebalance(c, clock_monotonic_ms());
  }
  handle_map_request(c, request, r);
}

/* ---------------------------------------------------------------- credentials */

#define CREDENTIAL_HASH_MAX 256   /* an argon2id string is about 100 bytes */
#define CREDENTIAL_TOKEN_NAME_MAX 64
#define CREDENTIAL_SESSION_KEY_BYTES 32

static int is_hex_digest(const char *s) {
  if (s == NULL || strlen(s) != 64) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static int is_console_language(const char *s) {
  static const char *const known[] = {"en", "es", "ja", "ko"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(s, known[i]) == 0) return 1;
  return 0;
}

/* Reads the stored Credential of `person` into *out (NULL when none).
 * Returns 0 or the store's error. */
static int credential_load(coordinator_t *c, const char *person, Tally__Credential **out) {
  char key[ACCESS_ID_MAX + 16];
  snprintf(key, sizeof key, "person/%s", person);
  uint8_t *value = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = meta_store_get_credential(c->store, key, &value, &len);
  if (rc <= 0) return rc;
  *out = tally__credential__unpack(NULL, len, value);
  free(value);
  return *out ? 0 : TALLY_E_STORAGE;
}

typedef struct {
  meta_batch_t *batch;
  const char *person;
  uint32_t dropped;
} token_revoke_t;

static int token_revoke_one(void *user, const char *key, size_t key_len, const uint8_t *value,
                            size_t len) {
  token_revoke_t *t = user;
  Tally__ApiToken *token = tally__api_token__unpack(NULL, len, value);
  if (token == NULL) return 0; /* an unreadable entry names nobody */
  if (strcmp(token->person, t->person) == 0) {
    meta_batch_delete_credential(t->batch, key, key_len);
    t->dropped++;
  }
  tally__api_token__free_unpacked(token, NULL);
  return 0;
}

static void handle_credential_set(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__CredentialSet *set = request->credential_set;
  const Tally__Labeler *person = labeler_find(c, set->person);
  if (person == NULL) {
    reply_error(r, TALLY_E_UNKNOWN_LABELER, "no person '%s'", set->person);
    return;
  }
  uint32_t guarded = TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY;
  if ((person->roles & guarded) && !(c->caller.roles & TALLY__ROLE__ROLE_OPERATOR)) {
    reply_error(r, TALLY_E_PERMISSION_DENIED,
                "only an operator may set the credentials of an operator or gateway");
    return;
  }
  if (set->password_hash[0] != '\0' &&
      (strncmp(set->password_hash, "$argon2id$", 10) != 0 ||
       strlen(set->password_hash) > CREDENTIAL_HASH_MAX)) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "password_hash must be an argon2id string (crypto_pwhash_str), at most %d bytes",
                CREDENTIAL_HASH_MAX);
    return;
  }
  if (set->language[0] != '\0' && !is_console_language(set->language)) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "language must be one of en, es, ja, ko");
    return;
  }
  if (set->token_hash[0] != '\0' && !is_hex_digest(set->token_hash)) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "token_hash must be 64 lowercase hex digits");
    return;
  }
  char why[MESSAGE_SIZE];
  if (set->token_hash[0] != '\0' &&
      ident_check("token name", set->token_name, CREDENTIAL_TOKEN_NAME_MAX, why, sizeof why) < 0) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "%s", why);
    return;
  }
  Tally__Credential *old = NULL;
  int rc = credential_load(c, person->id, &old);
  if (rc < 0) {
    reply_storage_error(r, rc, "the credentials");
    return;
  }
  Tally__Credential next = TALLY__CREDENTIAL__INIT;
  if (old != NULL) next = *old;
  next.person = person->id;
  if (next.password_hash == NULL) next.password_hash = (char *)"";
  if (next.language == NULL) next.language = (char *)"";
  if (set->password_hash[0]) next.password_hash = set->password_hash;
  if (set->language[0]) next.language = set->language;
  next.changed_ms = clock_now_ms();
  meta_batch_t *batch = NULL;
  rc = meta_batch_new(c->store, &batch);
  token_revoke_t revoke = {batch, person->id, 0};
  if (rc == 0 && set->revoke_tokens) {
    rc = meta_store_scan_credentials(c->store, "token/", token_revoke_one, &revoke);
    next.token_count = 0;
  }
  char key[ACCESS_ID_MAX + 80];
  if (rc == 0 && set->token_hash[0]) {
    Tally__ApiToken token = TALLY__API_TOKEN__INIT;
    token.person = person->id;
    token.name = set->token_name;
    token.created_ms = next.changed_ms;
    snprintf(key, sizeof key, "token/%s", set->token_hash);
    meta_batch_put_credential_message(batch, key, &token.base);
    next.token_count++;
  }
  if (rc == 0) {
    snprintf(key, sizeof key, "person/%s", person->id);
    meta_batch_put_credential_message(batch, key, &next.base);
    /* The log says what changed, never a hash. */
    Tally__CredentialSet logged = TALLY__CREDENTIAL_SET__INIT;
    logged.person = person->id;
    logged.password_hash = (char *)(set->password_hash[0] ? "(changed)" : "");
    logged.language = set->language;
    logged.token_hash = (char *)(set->token_hash[0] ? "(new token)" : "");
    logged.token_name = set->token_hash[0] ? set->token_name : (char *)"";
    logged.revoke_tokens = set->revoke_tokens;
    admin_change_t change = {"credential_set", person->id, NULL, &logged.base};
    rc = admin_log_commit(c, &batch, &change);
  }
  meta_batch_destroy(&batch);
  if (old) tally__credential__free_unpacked(old, NULL);
  if (rc < 0) {
    reply_storage_error(r, rc, "the credentials");
    return;
  }
  log_info("%s set credentials of '%s'%s%s%s", c->actor, person->id,
           set->password_hash[0] ? " (password)" : "", set->token_hash[0] ? " (new token)" : "",
           set->revoke_tokens ? " (tokens revoked)" : "");
  send_ack(request, r);
}

/* The cluster's session key, made (and stored durably, logged without the
 * key) on first use. Returns 0 with key filled, or the store's error. */
static int session_key_get(coordinator_t *c, uint8_t key[CREDENTIAL_SESSION_KEY_BYTES]) {
  uint8_t *value = NULL;
  size_t len = 0;
  int rc = meta_store_get_credential(c->store, "session_key", &value, &len);
  if (rc < 0) return rc;
  if (rc == 1 && len == CREDENTIAL_SESSION_KEY_BYTES) {
    memcpy(key, value, len);
    free(value);
    return 0;
  }
  free(value);
  if (getrandom(key, CREDENTIAL_SESSION_KEY_BYTES, 0) != CREDENTIAL_SESSION_KEY_BYTES)
    return TALLY_E_INTERNAL;
  meta_batch_t *batch = NULL;
  rc = meta_batch_new(c->store, &batch);
  if (rc < 0) return rc;
  meta_batch_put_credential(batch, "session_key", key, CREDENTIAL_SESSION_KEY_BYTES);
  Tally__Ack made = TALLY__ACK__INIT;
  admin_change_t change = {"session_key_create", "gateway sessions", NULL, &made.base};
  return admin_log_commit(c, &batch, &change);
}

static void handle_credential_get(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__CredentialGet *get = request->credential_get;
  Tally__ApiToken *token = NULL;
  Tally__Credential *cred = NULL;
  const char *person_id = get->person;
  int rc = 0;
  if (get->person[0] == '\0' && get->token_hash[0] == '\0') {
    /* the session key alone (a gateway starting) */
    uint8_t only_key[CREDENTIAL_SESSION_KEY_BYTES];
    rc = get->session_key ? session_key_get(c, only_key) : TALLY_E_INVALID_ARGUMENT;
    if (rc == TALLY_E_INVALID_ARGUMENT) {
      reply_error(r, rc, "credential_get needs a person, a token_hash or session_key");
    } else if (rc < 0) {
      reply_storage_error(r, rc, "the session key");
    } else {
      Tally__Envelope env;
      Tally__CredentialReply body = TALLY__CREDENTIAL_REPLY__INIT;
      wire_envelope_init(&env, request->request_id);
      body.session_key.data = only_key;
      body.session_key.len = sizeof only_key;
      env.body_case = TALLY__ENVELOPE__BODY_CREDENTIAL_REPLY;
      env.credential_reply = &body;
      r->send(r->ctx, &env);
    }
    return;
  }
  if (get->token_hash[0] != '\0') {
    if (!is_hex_digest(get->token_hash)) {
      reply_error(r, TALLY_E_INVALID_ARGUMENT, "token_hash must be 64 lowercase hex digits");
      return;
    }
    char key[80];
    snprintf(key, sizeof key, "token/%s", get->token_hash);
    uint8_t *value = NULL;
    size_t len = 0;
    rc = meta_store_get_credential(c->store, key, &value, &len);
    if (rc == 1) {
      token = tally__api_token__unpack(NULL, len, value);
      rc = token ? 0 : TALLY_E_STORAGE;
    } else if (rc == 0) {
      rc = TALLY_E_NOT_FOUND;
    }
    free(value);
    if (token) person_id = token->person;
  }
  const Tally__Labeler *person = rc == 0 ? labeler_find(c, person_id) : NULL;
  if (rc == 0 && person == NULL) rc = TALLY_E_NOT_FOUND;
  if (rc == 0) rc = credential_load(c, person->id, &cred);
  uint8_t session_key[CREDENTIAL_SESSION_KEY_BYTES];
  if (rc == 0 && get->session_key) rc = session_key_get(c, session_key);
  if (rc == TALLY_E_NOT_FOUND) {
    reply_error(r, TALLY_E_NOT_FOUND, "%s", get->token_hash[0] ? "no such token" : "no such person");
  } else if (rc < 0) {
    reply_storage_error(r, rc, "the session key");
  } else {
    Tally__Envelope env;
    Tally__CredentialReply body = TALLY__CREDENTIAL_REPLY__INIT;
    wire_envelope_init(&env, request->request_id);
    body.person = person->id;
    body.roles = person->roles;
    body.n_markets = person->n_markets;
    body.markets = person->markets;
    body.password_hash = cred && cred->password_hash ? cred->password_hash : (char *)"";
    body.language = cred && cred->language ? cred->language : (char *)"";
    body.token_name = token ? token->name : (char *)"";
    if (get->session_key) {
      body.session_key.data = session_key;
      body.session_key.len = sizeof session_key;
    }
    env.body_case = TALLY__ENVELOPE__BODY_CREDENTIAL_REPLY;
    env.credential_reply = &body;
    r->send(r->ctx, &env);
  }
  if (cred) tally__credential__free_unpacked(cred, NULL);
  if (token) tally__api_token__free_unpacked(token, NULL);
}

/* ---------------------------------------------------------------- dispatch */

/* True for requests of the data plane, which workers serve. */
static int is_worker_request(Tally__Envelope__BodyCase body) {
  switch (body) {
    case TALLY__ENVELOPE__BODY_INGEST:
    case TALLY__ENVELOPE__BODY_LEASE:
    case TALLY__ENVELOPE__BODY_SUBMIT:
    case TALLY__ENVELOPE__BODY_SKIP:
    case TALLY__ENVELOPE__BODY_RELEASE:
    case TALLY__ENVELOPE__BODY_STATUS:
    case TALLY__ENVELOPE__BODY_ITEM_GET:
    case TALLY__ENVELOPE__BODY_STATS_REQUEST:
    case TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST:
    case TALLY__ENVELOPE__BODY_EXPORT_REQUEST:
    case TALLY__ENVELOPE__BODY_CASES_REQUEST:
    case TALLY__ENVELOPE__BODY_CASE_GET:
    case TALLY__ENVELOPE__BODY_SLOT_CHUNK:
      return 1;
    default:
      return 0;
  }
}

static void coordinator_dispatch(coordinator_t *c, const Tally__Envelope *request,
                                 const char *caller_key, const coordinator_replier_t *r) {
  switch (request->body_case) {
    case TALLY__ENVELOPE__BODY_PROJECT_CREATE:
      handle_project_create(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_PROJECT_LIST:
      handle_project_list(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_PROJECT_SHOW:
      handle_project_show(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET:
      handle_audit_policy_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_WELLBEING_SET:
      handle_wellbeing_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_REPORT_REQUEST:
      handle_report_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_OPS_REPORT_REQUEST:
      handle_ops_report_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_LABELER_ADD:
      handle_labeler_add(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_LABELER_LIST:
      handle_labeler_list(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_LABELER_UPDATE:
      handle_labeler_update(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CONFIG_REQUEST:
      handle_config_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_MAP_REQUEST:
      handle_map_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_WORKER_REGISTER:
      handle_worker_register(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_HEARTBEAT:
      handle_heartbeat(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE:
      handle_slot_move_done(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_WORKER_DRAIN:
      handle_worker_drain(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CLUSTER_ADMIT:
      handle_cluster_admit(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_ADMIN_LOG_REQUEST:
      handle_admin_log_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_WHOAMI_REQUEST:
      handle_whoami(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_GUIDELINE_SET:
      handle_guideline_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CREDENTIAL_SET:
      handle_credential_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CREDENTIAL_GET:
      handle_credential_get(c, request, r);
      break;
    default:
      if (calibration_handles(request->body_case)) {
        handle_calibration(c, request, r);
        break;
      }
      if (is_worker_request(request->body_case))
        reply_error(r, TALLY_E_UNKNOWN_TYPE,
                    "the coordinator does not serve '%s'; send it to a worker",
                    wire_body_name(request));
      else
        reply_error(r, TALLY_E_UNKNOWN_TYPE, "'%s' is not a request the coordinator serves",
                    wire_body_name(request));
      break;
  }
}

/* Resolves the caller and applies access.h's rules; 0 when the request
 * may go on (c->caller and c->actor set), else the error was replied. */
static int coordinator_authorize(coordinator_t *c, Tally__Envelope *request, const char *key,
                                 const coordinator_replier_t *r) {
  identity_t caller;
  char why[MESSAGE_SIZE];
  if (!c->secure) {
    access_anonymous(&caller);
  } else if (key == NULL || key[0] == '\0' || !resolve_key(c, key, &caller)) {
    reply_error(r, TALLY_E_UNAUTHENTICATED,
                "this coordinator does not know your key (ask an operator to add it)");
    return -1;
  }
  int rc = access_check(&caller, request, find_person, c, &c->caller, why, sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return -1;
  }
  if (strcmp(c->caller.id, caller.id) != 0)
    snprintf(c->actor, sizeof c->actor, "%s/%s", caller.id, c->caller.id);
  else
    snprintf(c->actor, sizeof c->actor, "%s", caller.id);
  return 0;
}

void coordinator_handle(coordinator_t *c, Tally__Envelope *request, const char *caller_key,
                        const coordinator_replier_t *r) {
  log_debug("request %" PRIu64 ": %s", request->request_id, wire_body_name(request));
  if (is_worker_request(request->body_case)) {
    reply_error(r, TALLY_E_UNKNOWN_TYPE, "the coordinator does not serve '%s'; send it to a worker",
                wire_body_name(request));
    return;
  }
  if (coordinator_authorize(c, request, caller_key, r) < 0) return;
  coordinator_dispatch(c, request, caller_key, r);
  c->actor[0] = '\0';
}
