/* slot_list_format: the slot lists of the replication log lines
 * (common/slot.h). */
#include <string.h>

#include "check.h"
#include "slot.h"

static const char *format(const uint32_t *named, size_t n_named, size_t total, size_t size) {
  static char out[128];
  slot_list_format(out, size, named, n_named, total);
  return out;
}

int main(void) {
  const uint32_t slots[] = {7, 8, 9, 10, 11};
  CHECK(strcmp(format(slots, 5, 1, 128), "slot 7") == 0);
  CHECK(strcmp(format(slots, 5, 3, 128), "slots 7, 8, 9") == 0);
  CHECK(strcmp(format(slots, 5, 5, 128), "slots 7, 8, 9, 10, 11") == 0);
  CHECK(strcmp(format(slots, 5, 900, 128), "slots 7, 8, 9, 10, 11, ...") == 0);
  CHECK(strcmp(format(slots, 2, 3, 128), "slots 7, 8, ...") == 0);
  CHECK(strcmp(format(slots, 5, 900, 12), "slots 7, 8,") == 0); /* cut, terminated */
  return check_summary();
}
