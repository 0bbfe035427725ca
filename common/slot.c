/* slot: item → slot hashing with xxHash. See slot.h. */
#include "slot.h"

#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

uint32_t slot_of_item(const char *project, const char *item_id, size_t item_len) {
  XXH64_state_t state;
  static const char separator = '\0';
  XXH64_reset(&state, 0);
  XXH64_update(&state, project, strlen(project));
  XXH64_update(&state, &separator, 1);
  XXH64_update(&state, item_id, item_len);
  return (uint32_t)(XXH64_digest(&state) % TALLY_SLOT_COUNT);
}

void slot_list_format(char *out, size_t size, const uint32_t *named, size_t n_named,
                      size_t total) {
  if (n_named > total) n_named = total;
  size_t len = (size_t)snprintf(out, size, "%s", total == 1 ? "slot" : "slots");
  for (size_t i = 0; i < n_named && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "%s %u", i ? "," : "", named[i]);
  if (total > n_named && len < size) snprintf(out + len, size - len, ", ...");
}
