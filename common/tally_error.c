/* tally_error: code table and conversions. See tally_error.h. */
#include "tally_error.h"

#include <stddef.h>

typedef struct {
  int code;
  const char *name;
  const char *message;
} error_entry_t;

#define TALLY_ERROR_ENTRY_(name, num, msg) {-(num), #name, msg},
static const error_entry_t error_table[] = {
    {0, "OK", "success"}, TALLY_ERROR_MAP(TALLY_ERROR_ENTRY_)};
#undef TALLY_ERROR_ENTRY_

static const error_entry_t *error_find(int code) {
  for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
    if (error_table[i].code == code) return &error_table[i];
  return NULL;
}

const char *tally_strerror(int code) {
  const error_entry_t *e = error_find(code);
  return e ? e->message : "unknown error";
}

const char *tally_error_name(int code) {
  const error_entry_t *e = error_find(code);
  return e ? e->name : "UNKNOWN";
}

int tally_error_to_wire(int code) {
  if (code >= 0) return 0;
  if (code == TALLY_E_TIMEOUT || code == TALLY_E_TRANSPORT) return -TALLY_E_UNAVAILABLE;
  if (code <= -100 || error_find(code) == NULL) return -TALLY_E_INTERNAL;
  return -code;
}

int tally_error_from_wire(int wire_code) {
  if (wire_code == 0) return 0;
  if (wire_code < 0 || wire_code >= 100 || error_find(-wire_code) == NULL)
    return TALLY_E_INTERNAL;
  return -wire_code;
}

int tally_error_is_retryable(int code) {
  return code == TALLY_E_MOVED || code == TALLY_E_UNAVAILABLE || code == TALLY_E_TIMEOUT;
}
