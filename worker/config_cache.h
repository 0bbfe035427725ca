/* config_cache: the worker's copy of the cluster configuration.
 *
 * Projects and labelers come from the coordinator (ClusterConfig); the worker
 * keeps the latest copy in memory with hash lookups by name and id, and in
 * its own RocksDB so that it can serve while the coordinator is away.
 */
#ifndef TALLY_CONFIG_CACHE_H
#define TALLY_CONFIG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

typedef struct config_cache config_cache_t;

/* New empty cache (version 0) or NULL; config_cache_destroy(&c), safe twice. */
config_cache_t *config_cache_new(void);
void config_cache_destroy(config_cache_t **cache);

/* Replaces the configuration with the serialized ClusterConfig in `data`.
 * Returns 0, TALLY_E_BAD_REQUEST (undecodable) or TALLY_E_NOMEM; on error
 * the previous configuration stays. */
int config_cache_load(config_cache_t *cache, const uint8_t *data, size_t len);

/* Same, from a message owned by someone else (it is copied). */
int config_cache_copy(config_cache_t *cache, const Tally__ClusterConfig *config);

uint64_t config_cache_version(const config_cache_t *cache);

/* The current configuration, borrowed until the next load. */
const Tally__ClusterConfig *config_cache_config(const config_cache_t *cache);

/* Lookups; NULL when absent. Borrowed until the next load. */
const Tally__Project *config_cache_project(const config_cache_t *cache, const char *name);
const Tally__Project *config_cache_project_by_id(const config_cache_t *cache, uint32_t id);
const Tally__Labeler *config_cache_labeler(const config_cache_t *cache, const char *id);

/* Index of `label` in the project's taxonomy, or -1. */
int config_project_label_index(const Tally__Project *project, const char *label);
int config_project_has_market(const Tally__Project *project, const char *market);
int config_labeler_has_market(const Tally__Labeler *labeler, const char *market);
int config_labeler_has_role(const Tally__Labeler *labeler, uint32_t role);

#endif
