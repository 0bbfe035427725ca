/* item_cache: write-through, direct-mapped, bounded. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "item_cache.h"

static uint8_t *dup_bytes(const char *s) {
  uint8_t *b = malloc(strlen(s) + 1);
  memcpy(b, s, strlen(s) + 1);
  return b;
}

static int has(item_cache_t *c, const char *key, const char *want) {
  const uint8_t *v;
  size_t len;
  if (!item_cache_get(c, (const uint8_t *)key, strlen(key), &v, &len)) return want == NULL;
  return want != NULL && len == strlen(want) + 1 && memcmp(v, want, len) == 0;
}

int main(void) {
  check_deadline(30, NULL);
  item_cache_t *c = item_cache_new(4); /* 16 places */
  CHECK(c != NULL);
  CHECK(has(c, "k1", NULL));
  item_cache_put(c, (const uint8_t *)"k1", 2, dup_bytes("v1"), 3);
  CHECK(has(c, "k1", "v1"));
  /* The latest put of a key wins. */
  item_cache_put(c, (const uint8_t *)"k1", 2, dup_bytes("v1b"), 4);
  CHECK(has(c, "k1", "v1b"));
  /* A prefix or extension of a key is another key. */
  CHECK(has(c, "k", NULL));
  CHECK(has(c, "k10", NULL));
  /* Bounded: 200 keys in 16 places; whatever is found is the latest value
   * of that key, and some keys were displaced. */
  char key[16], val[16];
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(val, sizeof val, "val-%d", i);
    item_cache_put(c, (const uint8_t *)key, strlen(key), dup_bytes(val), strlen(val) + 1);
  }
  int found = 0, wrong = 0;
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(val, sizeof val, "val-%d", i);
    const uint8_t *v;
    size_t len;
    if (item_cache_get(c, (const uint8_t *)key, strlen(key), &v, &len)) {
      found++;
      wrong += len != strlen(val) + 1 || memcmp(v, val, len) != 0;
    }
  }
  CHECK(found > 0 && found <= 16);
  CHECK(wrong == 0);
  /* Too long a key is not cached (and its value not leaked: ASan). */
  uint8_t long_key[600];
  memset(long_key, 'x', sizeof long_key);
  item_cache_put(c, long_key, sizeof long_key, dup_bytes("big"), 4);
  const uint8_t *v;
  size_t len;
  CHECK(!item_cache_get(c, long_key, sizeof long_key, &v, &len));
  /* Forget drops that key only: another key in the same place, or a key
   * never cached, stays as it is. */
  item_cache_clear(c);
  int kept_place = -1;
  for (int i = 0; i < 200 && kept_place < 0; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    item_cache_put(c, (const uint8_t *)"k1", 2, dup_bytes("v1"), 3);
    item_cache_put(c, (const uint8_t *)key, strlen(key), dup_bytes("other"), 6);
    if (has(c, "k1", "v1")) kept_place = i; /* a key in another place than k1 */
  }
  CHECK(kept_place >= 0);
  snprintf(key, sizeof key, "key-%d", kept_place);
  item_cache_forget(c, (const uint8_t *)"k1", 2);
  CHECK(has(c, "k1", NULL));
  CHECK(has(c, key, "other"));
  item_cache_forget(c, (const uint8_t *)"absent", 6);
  CHECK(has(c, key, "other"));
  /* A key that shares k1's place replaced it: forgetting k1 keeps it. */
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    item_cache_put(c, (const uint8_t *)"k1", 2, dup_bytes("v1"), 3);
    item_cache_put(c, (const uint8_t *)key, strlen(key), dup_bytes("same"), 5);
    if (has(c, "k1", NULL)) break; /* displaced: same place */
  }
  CHECK(has(c, key, "same"));
  item_cache_forget(c, (const uint8_t *)"k1", 2);
  CHECK(has(c, key, "same"));
  /* Clear forgets everything. */
  item_cache_put(c, (const uint8_t *)"k1", 2, dup_bytes("v1c"), 4);
  CHECK(has(c, "k1", "v1c"));
  item_cache_clear(c);
  CHECK(has(c, "k1", NULL));
  item_cache_destroy(&c);
  item_cache_destroy(&c);
  return check_summary();
}
