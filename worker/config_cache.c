/* config_cache: ClusterConfig with uthash indexes. See config_cache.h. */
#include "config_cache.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "tally_error.h"

typedef struct named_entry {
  const char *name;
  uint32_t id;
  const void *value;
  UT_hash_handle hh;
} named_entry_t;

struct config_cache {
  Tally__ClusterConfig *config; /* owned (unpacked) */
  named_entry_t *projects;      /* by name */
  named_entry_t *project_ids;   /* by id (hh on id) */
  named_entry_t *labelers;      /* by id string */
  named_entry_t *entries;       /* one allocation for all entries */
};

config_cache_t *config_cache_new(void) { return calloc(1, sizeof(config_cache_t)); }

static void config_cache_clear(config_cache_t *c) {
  HASH_CLEAR(hh, c->projects);
  HASH_CLEAR(hh, c->project_ids);
  HASH_CLEAR(hh, c->labelers);
  free(c->entries);
  c->entries = NULL;
  if (c->config) tally__cluster_config__free_unpacked(c->config, NULL);
  c->config = NULL;
}

void config_cache_destroy(config_cache_t **cache) {
  if (cache == NULL || *cache == NULL) return;
  config_cache_clear(*cache);
  free(*cache);
  *cache = NULL;
}

int config_cache_load(config_cache_t *c, const uint8_t *data, size_t len) {
  Tally__ClusterConfig *config = tally__cluster_config__unpack(NULL, len, data);
  if (config == NULL) return TALLY_E_BAD_REQUEST;
  size_t n = config->n_projects * 2 + config->n_labelers;
  named_entry_t *entries = calloc(n ? n : 1, sizeof *entries);
  if (entries == NULL) {
    tally__cluster_config__free_unpacked(config, NULL);
    return TALLY_E_NOMEM;
  }
  config_cache_clear(c);
  c->config = config;
  c->entries = entries;
  named_entry_t *e = entries;
  for (size_t i = 0; i < config->n_projects; i++) {
    Tally__Project *p = config->projects[i];
    e->name = p->name;
    e->value = p;
    HASH_ADD_KEYPTR(hh, c->projects, e->name, strlen(e->name), e);
    e++;
    e->id = p->id;
    e->value = p;
    HASH_ADD(hh, c->project_ids, id, sizeof(uint32_t), e);
    e++;
  }
  for (size_t i = 0; i < config->n_labelers; i++) {
    e->name = config->labelers[i]->id;
    e->value = config->labelers[i];
    HASH_ADD_KEYPTR(hh, c->labelers, e->name, strlen(e->name), e);
    e++;
  }
  return 0;
}

int config_cache_copy(config_cache_t *c, const Tally__ClusterConfig *config) {
  size_t len = tally__cluster_config__get_packed_size(config);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) return TALLY_E_NOMEM;
  tally__cluster_config__pack(config, buf);
  int rc = config_cache_load(c, buf, len);
  free(buf);
  return rc;
}

uint64_t config_cache_version(const config_cache_t *c) {
  return c->config ? c->config->version : 0;
}

const Tally__ClusterConfig *config_cache_config(const config_cache_t *c) { return c->config; }

const Tally__Project *config_cache_project(const config_cache_t *c, const char *name) {
  named_entry_t *e = NULL;
  HASH_FIND_STR(c->projects, name, e);
  return e ? e->value : NULL;
}

const Tally__Project *config_cache_project_by_id(const config_cache_t *c, uint32_t id) {
  named_entry_t *e = NULL;
  HASH_FIND(hh, c->project_ids, &id, sizeof id, e);
  return e ? e->value : NULL;
}

const Tally__Labeler *config_cache_labeler(const config_cache_t *c, const char *id) {
  named_entry_t *e = NULL;
  HASH_FIND_STR(c->labelers, id, e);
  return e ? e->value : NULL;
}

static int string_in(char **list, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i], s) == 0) return (int)i;
  return -1;
}

int config_project_label_index(const Tally__Project *p, const char *label) {
  return string_in(p->labels, p->n_labels, label);
}

int config_project_has_market(const Tally__Project *p, const char *market) {
  return string_in(p->markets, p->n_markets, market) >= 0;
}

int config_labeler_has_market(const Tally__Labeler *l, const char *market) {
  return string_in(l->markets, l->n_markets, market) >= 0;
}

int config_labeler_has_role(const Tally__Labeler *l, uint32_t role) {
  return (l->roles & role) != 0;
}
