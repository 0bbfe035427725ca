/* jsonl: one line of an ingest file (JSON Lines) → one item, validated.
 *
 * A line is a JSON object:
 *   {"id": str, "market": str,
 *    "priority": 0-3 or "low|normal|high|emergency" (optional, default normal),
 *    "content": str or any JSON value (serialized compactly; optional),
 *    "gold_label": str (optional), "category_hint": str (optional)}
 * Other keys are ignored. A line of only white space is blank.
 */
#ifndef TALLY_CLIENT_JSONL_H
#define TALLY_CLIENT_JSONL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *id;
  char *market;
  uint32_t priority;
  char *content;    /* never NULL after a successful parse ("" if absent) */
  char *gold_label; /* NULL if absent */
  char *category_hint; /* NULL if absent */
} jsonl_item_t;

enum { JSONL_INVALID = -1, JSONL_BLANK = 0, JSONL_ITEM = 1 };

/* Parses `len` bytes of `line` (no newline needed; a trailing CR/LF is
 * ignored). Returns JSONL_ITEM with *out filled (free with
 * jsonl_item_clear), JSONL_BLANK, or JSONL_INVALID with a one-line reason
 * in reason[] (e.g. `missing "market"`) and *out cleared. */
int jsonl_parse_item(const char *line, size_t len, jsonl_item_t *out, char *reason, size_t reason_size);

/* Frees the strings of an item and zeroes it; safe on a zeroed item. */
void jsonl_item_clear(jsonl_item_t *item);

#endif
