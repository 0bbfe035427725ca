/* keys: key encoding. See keys.h for the layout. */
#include "keys.h"

#include <assert.h>
#include <string.h>

#include "tally_error.h"

void keys_put_u16(uint8_t *o, uint16_t v) {
  o[0] = (uint8_t)(v >> 8);
  o[1] = (uint8_t)v;
}

void keys_put_u32(uint8_t *o, uint32_t v) {
  for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (24 - 8 * i));
}

void keys_put_u64(uint8_t *o, uint64_t v) {
  for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint16_t keys_get_u16(const uint8_t *in) { return (uint16_t)((in[0] << 8) | in[1]); }

uint32_t keys_get_u32(const uint8_t *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | in[i];
  return v;
}

uint64_t keys_get_u64(const uint8_t *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | in[i];
  return v;
}

size_t keys_item(uint8_t *out, uint32_t slot, uint32_t project_id, const char *item_id,
                 size_t item_len) {
  assert(item_len <= KEYS_ITEM_ID_MAX);
  keys_put_u16(out, (uint16_t)slot);
  keys_put_u32(out + 2, project_id);
  memcpy(out + 6, item_id, item_len);
  return 6 + item_len;
}

size_t keys_queue_prefix(uint8_t *out, uint32_t slot, uint32_t project_id, uint32_t stage,
                         const char *market) {
  size_t market_len = strlen(market);
  assert(market_len <= KEYS_MARKET_MAX && stage <= 255);
  keys_put_u16(out, (uint16_t)slot);
  keys_put_u32(out + 2, project_id);
  out[6] = (uint8_t)stage;
  out[7] = (uint8_t)market_len;
  memcpy(out + 8, market, market_len);
  return 8 + market_len;
}

size_t keys_queue_entry(uint8_t *out, uint32_t slot, uint32_t project_id, uint32_t stage,
                        const char *market, uint32_t priority, uint64_t seq) {
  assert(priority <= 255);
  size_t n = keys_queue_prefix(out, slot, project_id, stage, market);
  out[n] = (uint8_t)(255 - priority);
  keys_put_u64(out + n + 1, seq);
  return n + 9;
}

size_t keys_lease(uint8_t *out, uint32_t slot, uint64_t lease_id) {
  keys_put_u16(out, (uint16_t)slot);
  keys_put_u64(out + 2, lease_id);
  return 10;
}

size_t keys_prefix_end(uint8_t *out, const uint8_t *prefix, size_t prefix_len) {
  size_t n = prefix_len;
  memcpy(out, prefix, n);
  while (n > 0 && out[n - 1] == 0xff) n--;
  if (n == 0) return 0;
  out[n - 1]++;
  return n;
}

int keys_parse_queue_entry(const uint8_t *key, size_t len, keys_queue_entry_t *out) {
  if (len < 8) return TALLY_E_BAD_REQUEST;
  size_t market_len = key[7];
  if (market_len > KEYS_MARKET_MAX || len != 8 + market_len + 9) return TALLY_E_BAD_REQUEST;
  out->slot = keys_get_u16(key);
  out->project_id = keys_get_u32(key + 2);
  out->stage = key[6];
  out->market = (const char *)key + 8;
  out->market_len = market_len;
  out->prefix_len = 8 + market_len;
  out->priority = 255u - key[8 + market_len];
  out->seq = keys_get_u64(key + 9 + market_len);
  return 0;
}

size_t keys_feedback_prefix(uint8_t *out, uint32_t slot, uint32_t project_id, const char *labeler) {
  size_t labeler_len = strlen(labeler);
  assert(labeler_len <= KEYS_LABELER_MAX);
  keys_put_u16(out, (uint16_t)slot);
  keys_put_u32(out + 2, project_id);
  out[6] = (uint8_t)labeler_len;
  memcpy(out + 7, labeler, labeler_len);
  return 7 + labeler_len;
}

size_t keys_feedback(uint8_t *out, uint32_t slot, uint32_t project_id, const char *labeler,
                     uint64_t closed_ms, const char *item_id, size_t item_len) {
  assert(item_len <= KEYS_ITEM_ID_MAX);
  size_t n = keys_feedback_prefix(out, slot, project_id, labeler);
  keys_put_u64(out + n, UINT64_MAX - closed_ms); /* newest first */
  memcpy(out + n + 8, item_id, item_len);
  return n + 8 + item_len;
}

size_t keys_case(uint8_t *out, uint32_t slot, uint32_t project_id, uint64_t closed_ms,
                 const char *item_id, size_t item_len) {
  assert(item_len <= KEYS_ITEM_ID_MAX);
  keys_put_u16(out, (uint16_t)slot);
  keys_put_u32(out + 2, project_id);
  keys_put_u64(out + 6, UINT64_MAX - closed_ms); /* newest first */
  memcpy(out + 14, item_id, item_len);
  return 14 + item_len;
}

int keys_parse_feedback(const uint8_t *key, size_t len, size_t prefix_len, keys_feedback_t *out) {
  if (len < prefix_len + 8) return TALLY_E_BAD_REQUEST;
  out->closed_ms = UINT64_MAX - keys_get_u64(key + prefix_len);
  out->item_id = (const char *)key + prefix_len + 8;
  out->item_len = len - prefix_len - 8;
  return 0;
}

size_t keys_stats(uint8_t *out, uint32_t project_id, uint32_t day, uint32_t policy_version,
                  const char *market, const char *labeler) {
  size_t market_len = strlen(market), labeler_len = strlen(labeler);
  assert(market_len <= KEYS_MARKET_MAX && labeler_len <= KEYS_LABELER_MAX);
  keys_put_u32(out, project_id);
  keys_put_u32(out + 4, day);
  keys_put_u32(out + 8, policy_version);
  out[12] = (uint8_t)market_len;
  memcpy(out + 13, market, market_len);
  memcpy(out + 13 + market_len, labeler, labeler_len);
  return 13 + market_len + labeler_len;
}

int keys_parse_stats(const uint8_t *key, size_t len, keys_stats_t *out) {
  if (len < 13 || len < 13u + key[12]) return TALLY_E_BAD_REQUEST;
  out->project_id = keys_get_u32(key);
  out->day = keys_get_u32(key + 4);
  out->policy_version = keys_get_u32(key + 8);
  out->market_len = key[12];
  out->market = (const char *)key + 13;
  out->labeler = (const char *)key + 13 + out->market_len;
  out->labeler_len = len - 13 - out->market_len;
  return out->labeler_len <= KEYS_LABELER_MAX ? 0 : TALLY_E_BAD_REQUEST;
}

size_t keys_ops(uint8_t *out, uint32_t project_id, uint32_t day, const char *market,
                uint32_t stage) {
  size_t market_len = strlen(market);
  assert(market_len <= KEYS_MARKET_MAX && stage <= 255);
  keys_put_u32(out, project_id);
  keys_put_u32(out + 4, day);
  out[8] = (uint8_t)market_len;
  memcpy(out + 9, market, market_len);
  out[9 + market_len] = (uint8_t)stage;
  return 10 + market_len;
}

int keys_parse_ops(const uint8_t *key, size_t len, keys_ops_t *out) {
  if (len < 10 || len != 10u + key[8] || key[8] > KEYS_MARKET_MAX) return TALLY_E_BAD_REQUEST;
  out->project_id = keys_get_u32(key);
  out->day = keys_get_u32(key + 4);
  out->market_len = key[8];
  out->market = (const char *)key + 9;
  out->stage = key[9 + out->market_len];
  return 0;
}

size_t keys_day_range(uint32_t project_id, uint32_t from_day, uint32_t to_day, uint8_t *from,
                      uint8_t *upper) {
  keys_put_u32(from, project_id);
  keys_put_u32(from + 4, from_day);
  keys_put_u32(upper, project_id);
  if (to_day != 0 && to_day != UINT32_MAX) {
    keys_put_u32(upper + 4, to_day + 1);
    return 8;
  }
  return keys_prefix_end(upper, from, 4);
}
