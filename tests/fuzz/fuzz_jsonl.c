/* fuzz_jsonl: one line of an ingest file (client/cli/jsonl.c jsonl_parse_item).
 *
 * The input is the line (no newline needed). Checks jsonl.h's contract:
 * JSONL_ITEM fills a non-empty id and market, a priority 0-3 and a content
 * string; JSONL_INVALID leaves the item cleared with a reason; every
 * answer's reason is a NUL-terminated string within the buffer.
 */
#include "fuzz_support.h"
#include "jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  jsonl_item_t item;
  char reason[128];
  memset(reason, 'x', sizeof reason);
  int rc = jsonl_parse_item((const char *)data, size, &item, reason, sizeof reason);
  fuzz_check(memchr(reason, '\0', sizeof reason) != NULL);
  switch (rc) {
    case JSONL_ITEM:
      fuzz_check(item.id != NULL && item.id[0] != '\0');
      fuzz_check(item.market != NULL && item.market[0] != '\0');
      fuzz_check(item.priority <= 3);
      fuzz_check(item.content != NULL);
      fuzz_check(item.gold_label == NULL || item.gold_label[0] != '\0');
      fuzz_check(item.category_hint == NULL || item.category_hint[0] != '\0');
      break;
    case JSONL_INVALID:
      fuzz_check(reason[0] != '\0');
      /* fall through: nothing is left to free */
    case JSONL_BLANK:
      fuzz_check(item.id == NULL && item.market == NULL && item.content == NULL &&
                 item.gold_label == NULL && item.category_hint == NULL);
      break;
    default:
      fuzz_check(!"jsonl_parse_item returned an unknown value");
  }
  jsonl_item_clear(&item);
  jsonl_item_clear(&item); /* safe on a zeroed item */
  return 0;
}
