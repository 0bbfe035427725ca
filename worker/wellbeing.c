/* wellbeing: high-severity exposure per (project, shift, person). See
 * wellbeing.h. */
#include "wellbeing.h"

#include <stdlib.h>
#include <string.h>

#include "fatal.h"
#include "keys.h"
#include "slot.h"
#include "tally_error.h"
#include "wire.h"

#define WELLBEING_DEFAULT_SHIFT_HOURS 8u
#define WELLBEING_MS_PER_HOUR 3600000ull
#define WELLBEING_KEY_MAX (4 + 8 + KEYS_LABELER_MAX)

struct wellbeing {
  store_t *store;                /* borrowed */
  const config_cache_t *config;  /* borrowed */
  Tally__ClusterMap *const *map; /* borrowed: where the worker keeps its map */
  const uint32_t *worker_id;     /* borrowed: where the worker keeps its id */
};

wellbeing_t *wellbeing_new(store_t *store, const config_cache_t *config,
                           Tally__ClusterMap *const *map, const uint32_t *worker_id) {
  wellbeing_t *wb = calloc(1, sizeof *wb);
  if (wb == NULL) return NULL;
  wb->store = store;
  wb->config = config;
  wb->map = map;
  wb->worker_id = worker_id;
  return wb;
}

void wellbeing_destroy(wellbeing_t **wb) {
  if (wb == NULL || *wb == NULL) return;
  free(*wb);
  *wb = NULL;
}

uint64_t wellbeing_shift_of(const Tally__Project *p, uint64_t now_ms) {
  uint32_t hours = p->shift_hours ? p->shift_hours : WELLBEING_DEFAULT_SHIFT_HOURS;
  return now_ms / (hours * WELLBEING_MS_PER_HOUR);
}

int wellbeing_label_is_high(const Tally__Project *p, const char *label) {
  if (label == NULL || label[0] == '\0') return 0;
  for (size_t i = 0; i < p->n_high_severity; i++)
    if (strcmp(p->high_severity[i], label) == 0) return 1;
  return 0;
}

int wellbeing_item_is_high(const Tally__Project *p, const item_record_t *rec) {
  if (p->n_high_severity == 0) return 0;
  if (wellbeing_label_is_high(p, rec->category_hint)) return 1;
  for (size_t i = 0; i < rec->n_labels; i++)
    if (wellbeing_label_is_high(p, rec->labels[i]->label)) return 1;
  return rec->audit != NULL && wellbeing_label_is_high(p, rec->audit->label);
}

static size_t exposure_key(uint8_t *out, uint32_t project_id, uint64_t shift,
                           const char *labeler) {
  size_t len = strlen(labeler);
  if (len > KEYS_LABELER_MAX) len = KEYS_LABELER_MAX;
  keys_put_u32(out, project_id);
  keys_put_u64(out + 4, shift);
  memcpy(out + 12, labeler, len);
  return 12 + len;
}

/* The stored count of (project, shift, labeler), read through the batch. */
static uint64_t exposure_get(wellbeing_t *wb, const uint8_t *key, size_t key_len) {
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(wb->store, STORE_CF_EXPOSURE, key, key_len, &value, &len);
  if (rc < 0) fatal_exit("storage read failed");
  uint64_t count = rc == 1 && len == 8 ? keys_get_u64((const uint8_t *)value) : 0;
  free(value);
  return count;
}

static void exposure_add(wellbeing_t *wb, uint32_t project_id, uint64_t shift, const char *labeler) {
  uint8_t key[WELLBEING_KEY_MAX], value[8];
  size_t key_len = exposure_key(key, project_id, shift, labeler);
  keys_put_u64(value, exposure_get(wb, key, key_len) + 1);
  store_put(wb->store, STORE_CF_EXPOSURE, key, key_len, value, sizeof value);
}

int wellbeing_merge_row(wellbeing_t *wb, const uint8_t *key, size_t key_len, const uint8_t *value,
                        size_t len) {
  if (len != 8 || key_len < 12 || key_len > WELLBEING_KEY_MAX) return TALLY_E_INVALID_ARGUMENT;
  uint8_t sum[8];
  keys_put_u64(sum, exposure_get(wb, key, key_len) + keys_get_u64(value));
  store_put(wb->store, STORE_CF_EXPOSURE, key, key_len, sum, sizeof sum);
  return 0;
}

/* This worker's share of a person's budget. Every worker counts only what
 * it served, so the budget is split over the workers that own slots (ids in
 * ascending order get the remainder first): the shares add up to the
 * budget, and a person never sees more known high-severity items per shift
 * across the whole cluster, whichever workers serve them. The price is that
 * a person may be stopped on one worker while another still has share. */
uint32_t wellbeing_share(const wellbeing_t *wb, uint32_t budget) {
  const Tally__ClusterMap *map = *wb->map;
  uint32_t worker_id = *wb->worker_id;
  if (map == NULL || budget == 0) return budget;
  uint32_t owners[TALLY_SLOT_COUNT];
  size_t n = 0;
  for (size_t s = 0; s < map->n_slot_owner; s++) {
    uint32_t id = map->slot_owner[s];
    size_t i = 0;
    while (i < n && owners[i] != id) i++;
    if (id != 0 && i == n) owners[n++] = id;
  }
  size_t rank = 0, me_found = 0;
  for (size_t i = 0; i < n; i++) {
    if (owners[i] == worker_id) me_found = 1;
    else if (owners[i] < worker_id) rank++;
  }
  if (!me_found) return 0;
  return budget / (uint32_t)n + (rank < budget % n ? 1u : 0u);
}

int wellbeing_may_see(wellbeing_t *wb, const Tally__Project *p, const item_record_t *rec,
                      const char *labeler, uint64_t now_ms) {
  if (p->exposure_budget == 0 || !wellbeing_item_is_high(p, rec)) return 1;
  uint8_t key[WELLBEING_KEY_MAX];
  size_t key_len = exposure_key(key, p->id, wellbeing_shift_of(p, now_ms), labeler);
  return exposure_get(wb, key, key_len) < wellbeing_share(wb, p->exposure_budget);
}

int wellbeing_on_lease(wellbeing_t *wb, const Tally__Project *p, const item_record_t *rec,
                       const char *labeler, uint64_t now_ms) {
  if (!wellbeing_item_is_high(p, rec)) return 0;
  exposure_add(wb, p->id, wellbeing_shift_of(p, now_ms), labeler);
  return 1;
}

void wellbeing_on_submit(wellbeing_t *wb, const Tally__Project *p, const char *labeler,
                         const char *label, int lease_counted, uint64_t now_ms) {
  if (lease_counted || !wellbeing_label_is_high(p, label)) return;
  exposure_add(wb, p->id, wellbeing_shift_of(p, now_ms), labeler);
}

void wellbeing_handle_exposure(wellbeing_t *wb, responder_t *resp) {
  const router_request_t *req = responder_request(resp);
  const Tally__ExposureRequest *r = req->env->exposure_request;
  const Tally__Project *p = responder_project(resp, wb->config, r->project);
  if (p == NULL) return;
  if (r->from_shift > r->to_shift) {
    responder_error(resp, TALLY_E_INVALID_ARGUMENT, "from_shift is after to_shift");
    return;
  }
  uint8_t from[12], upper[12];
  keys_put_u32(from, p->id);
  keys_put_u64(from + 4, r->from_shift);
  keys_put_u32(upper, p->id);
  size_t upper_len = 12;
  if (r->to_shift == UINT64_MAX) {
    upper_len = keys_prefix_end(upper, from, 4);
  } else {
    keys_put_u64(upper + 4, r->to_shift + 1);
  }
  store_iter_t *it = store_iter_new(wb->store, STORE_CF_EXPOSURE, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory");
  Tally__ExposureRow *rows = NULL;
  Tally__ExposureRow **ptrs = NULL;
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (store_iter_seek(it, from, sizeof from); store_iter_valid(it); store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    const uint8_t *value = store_iter_value(it, &len);
    if (key_len < 12 || len != 8 || keys_get_u32(key) != p->id) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      rows = realloc(rows, cap * sizeof *rows);
      ptrs = realloc(ptrs, cap * sizeof *ptrs);
      names = realloc(names, cap * sizeof *names);
      if (rows == NULL || ptrs == NULL || names == NULL) fatal_exit("out of memory");
    }
    names[n] = strndup((const char *)key + 12, key_len - 12);
    if (names[n] == NULL) fatal_exit("out of memory");
    tally__exposure_row__init(&rows[n]);
    rows[n].labeler = names[n];
    rows[n].shift = keys_get_u64(key + 4);
    rows[n].count = keys_get_u64(value);
    n++;
  }
  int scan_rc = store_iter_error(it);
  store_iter_destroy(&it);
  for (size_t i = 0; i < n; i++) ptrs[i] = &rows[i];
  Tally__ExposureReply reply = TALLY__EXPOSURE_REPLY__INIT;
  reply.worker_id = responder_worker_id(resp);
  reply.n_rows = n;
  reply.rows = ptrs;
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_EXPOSURE_REPLY;
  env.exposure_reply = &reply;
  responder_reply_scan(resp, &env, scan_rc);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  free(rows);
  free(ptrs);
}
