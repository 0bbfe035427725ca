/* jsonl: ingest line parsing and validation with jansson. See jsonl.h. */
#include "jsonl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

void jsonl_item_clear(jsonl_item_t *item) {
  free(item->id);
  free(item->market);
  free(item->content);
  free(item->gold_label);
  free(item->category_hint);
  memset(item, 0, sizeof *item);
}

static int is_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
  return 1;
}

/* A required non-empty string field, copied into *out. */
static int required_string(json_t *obj, const char *key, char **out, char *reason, size_t size) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL || json_is_null(v)) {
    snprintf(reason, size, "missing \"%s\"", key);
    return -1;
  }
  if (!json_is_string(v)) {
    snprintf(reason, size, "\"%s\" must be a string", key);
    return -1;
  }
  if (json_string_length(v) == 0) {
    snprintf(reason, size, "\"%s\" is empty", key);
    return -1;
  }
  *out = strdup(json_string_value(v));
  return 0;
}

static int parse_priority(json_t *v, uint32_t *out, char *reason, size_t size) {
  if (v == NULL || json_is_null(v)) {
    *out = TALLY_PRIORITY_NORMAL;
    return 0;
  }
  if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 3) {
    *out = (uint32_t)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v) && tally_priority_parse(json_string_value(v), out) == 0) return 0;
  snprintf(reason, size, "bad \"priority\": must be 0-3 or low|normal|high|emergency");
  return -1;
}

static int parse_content(json_t *v, char **out, char *reason, size_t size) {
  if (v == NULL || json_is_null(v))
    *out = strdup("");
  else if (json_is_string(v))
    *out = strdup(json_string_value(v));
  else
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (*out == NULL) {
    snprintf(reason, size, "out of memory");
    return -1;
  }
  return 0;
}

/* An optional string field `name` (absent, null or "": left NULL). */
static int parse_optional_label(json_t *v, const char *name, char **out, char *reason, size_t size) {
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    snprintf(reason, size, "\"%s\" must be a string", name);
    return -1;
  }
  if (json_string_length(v) > 0) *out = strdup(json_string_value(v));
  return 0;
}

int jsonl_parse_item(const char *line, size_t len, jsonl_item_t *out, char *reason, size_t reason_size) {
  memset(out, 0, sizeof *out);
  if (reason_size) reason[0] = '\0';
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  if (is_blank(line, len)) return JSONL_BLANK;
  json_error_t error;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
  if (obj == NULL) {
    snprintf(reason, reason_size, "malformed JSON: %s (column %d)", error.text, error.column);
    return JSONL_INVALID;
  }
  int rc = -1;
  if (!json_is_object(obj)) {
    snprintf(reason, reason_size, "not a JSON object");
    goto done;
  }
  if (required_string(obj, "id", &out->id, reason, reason_size) < 0) goto done;
  if (required_string(obj, "market", &out->market, reason, reason_size) < 0) goto done;
  if (parse_priority(json_object_get(obj, "priority"), &out->priority, reason, reason_size) < 0) goto done;
  if (parse_content(json_object_get(obj, "content"), &out->content, reason, reason_size) < 0) goto done;
  if (parse_optional_label(json_object_get(obj, "gold_label"), "gold_label", &out->gold_label, reason,
                           reason_size) < 0 ||
      parse_optional_label(json_object_get(obj, "category_hint"), "category_hint", &out->category_hint, reason,
                           reason_size) < 0)
    goto done;
  rc = 0;
  if (out->id == NULL || out->market == NULL) {
    snprintf(reason, reason_size, "out of memory");
    rc = -1;
  }
done:
  json_decref(obj);
  if (rc < 0) {
    jsonl_item_clear(out);
    return JSONL_INVALID;
  }
  return JSONL_ITEM;
}
