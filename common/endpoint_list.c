/* endpoint_list: see endpoint_list.h. */
#include "endpoint_list.h"

#include <string.h>

#include "tally_error.h"

int endpoint_list_parse(endpoint_list_t *out, const char *text) {
  memset(out, 0, sizeof *out);
  if (text == NULL) return TALLY_E_INVALID_ARGUMENT;
  const char *at = text;
  for (;;) {
    const char *comma = strchr(at, ',');
    size_t len = comma ? (size_t)(comma - at) : strlen(at);
    const char *start = at;
    while (len > 0 && (*start == ' ' || *start == '\t')) start++, len--;
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t')) len--;
    if (len == 0 || len > ENDPOINT_LIST_MAX_LEN || out->count == ENDPOINT_LIST_MAX) {
      memset(out, 0, sizeof *out);
      return TALLY_E_INVALID_ARGUMENT;
    }
    memcpy(out->items[out->count], start, len);
    out->items[out->count][len] = '\0';
    out->count++;
    if (comma == NULL) return 0;
    at = comma + 1;
  }
}

const char *endpoint_list_current(const endpoint_list_t *list) {
  return list->items[list->current];
}

const char *endpoint_list_next(endpoint_list_t *list) {
  if (list->count > 0) list->current = (list->current + 1) % list->count;
  return list->items[list->current];
}

int endpoint_list_use(endpoint_list_t *list, const char *endpoint) {
  size_t len = endpoint ? strlen(endpoint) : 0;
  if (len == 0 || len > ENDPOINT_LIST_MAX_LEN) return TALLY_E_INVALID_ARGUMENT;
  for (size_t i = 0; i < list->count; i++)
    if (strcmp(list->items[i], endpoint) == 0) {
      list->current = i;
      return 0;
    }
  memcpy(list->items[list->current], endpoint, len + 1);
  return 0;
}
