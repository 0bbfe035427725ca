/* slot: item → slot hashing with xxHash. See slot.h. */
#include "slot.h"

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
