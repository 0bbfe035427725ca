/* coordinator: the coordinator's state: open, load, close, and the helpers
 * its modules share (coordinator_internal.h). See coordinator.h. */
#include "coordinator.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_log.h"
#include "admission.h"
#include "catalog.h"
#include "clock.h"
#include "coordinator_internal.h"
#include "fatal.h"
#include "ident.h"
#include "log.h"
#include "registration.h"
#include "replicas.h"
#include "tally_error.h"
#include "wire.h"

/* ---------------------------------------------------------------- helpers */

/* A deep copy of `message` (pack + unpack); NULL when out of memory. */
ProtobufCMessage *coordinator_message_clone(const ProtobufCMessage *message) {
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
void coordinator_must_install(int rc, const char *what) {
  if (rc >= 0) return;
  log_error("out of memory installing %s after it was persisted", what);
  fatal_exit("memory and storage would disagree; a restart reloads the stored state");
}

/* New capacity for a full array of `capacity` entries. */
size_t coordinator_grown_capacity(size_t capacity) { return capacity ? 2 * capacity : 16; }

/* ---------------------------------------------------------------- replies */

/* Sends an error reply with a formatted message. */
void coordinator_reply_error(const coordinator_replier_t *r, int code, const char *fmt, ...) {
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

/* Reports a failed durable write. */
void coordinator_reply_storage_error(const coordinator_replier_t *r, int rc, const char *what) {
  if (rc == TALLY_E_NOMEM)
    coordinator_reply_error(r, TALLY_E_INTERNAL,
                            "out of memory while saving %s; nothing was changed", what);
  else
    coordinator_reply_error(r, TALLY_E_STORAGE, "could not save %s durably; nothing was changed",
                            what);
}

/* Sends an Ack to `request`. */
void coordinator_send_ack(const Tally__Envelope *request, const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__Ack ack = TALLY__ACK__INIT;
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  r->send(r->ctx, &env);
}

/* ---------------------------------------------------------------- open/close */

/* Loads counters, slot map, projects, labelers, workers, admitted keys, the
 * admin log and calibration sessions from the store. */
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

  if (rc == 0) rc = catalog_load(c);
  if (rc == 0) rc = registration_load(c);
  if (rc == 0) rc = replicas_load(c);
  if (rc == 0) rc = admission_load(c);
  if (rc == 0) rc = admin_log_load(c);
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
  c->next_move_id = clock_now_ms() << 12; /* as coordinator_open */
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
  replicas_close(c);
  if (!c->store_borrowed) meta_store_close(&c->store);
  free(c);
}

void coordinator_set_control_plane(coordinator_t *c, coordinator_control_plane_fn fn, void *ctx) {
  c->control_plane = fn;
  c->control_plane_ctx = ctx;
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

int coordinator_config_reached(const coordinator_t *c, uint64_t version) {
  return membership_config_reached(c->members, version);
}
