/* lease_memo: an open-addressing table of recent leases. See lease_memo.h. */
#include "lease_memo.h"

#include <stdlib.h>
#include <string.h>

#define MEMO_PROJECT_MAX 64
#define MEMO_ITEM_MAX 256

#define MEMO_PROBE 16 /* entries looked at from an id's home position */

typedef struct {
  uint64_t lease_id; /* 0: empty */
  uint64_t put;      /* when it was put (memo->puts), to replace the oldest */
  uint32_t stage;
  char project[MEMO_PROJECT_MAX + 1];
  char item_id[MEMO_ITEM_MAX + 1];
} memo_entry_t;

struct lease_memo {
  memo_entry_t entries[LEASE_MEMO_SIZE];
  uint64_t puts;
};

lease_memo_t *lease_memo_new(void) { return calloc(1, sizeof(lease_memo_t)); }

void lease_memo_destroy(lease_memo_t **memo) {
  if (memo == NULL) return;
  free(*memo);
  *memo = NULL;
}

static size_t memo_index(uint64_t lease_id) {
  uint64_t h = lease_id * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) % LEASE_MEMO_SIZE;
}

void lease_memo_put(lease_memo_t *memo, uint64_t lease_id, const char *project,
                    const char *item_id, uint32_t stage) {
  if (memo == NULL || lease_id == 0 || project == NULL || item_id == NULL) return;
  size_t project_len = strlen(project), item_len = strlen(item_id);
  if (project_len > MEMO_PROJECT_MAX || item_len > MEMO_ITEM_MAX) return;
  /* The id's own entry, else an empty one, else the oldest in reach. */
  size_t home = memo_index(lease_id);
  memo_entry_t *e = NULL;
  for (size_t i = 0; i < MEMO_PROBE; i++) {
    memo_entry_t *c = &memo->entries[(home + i) % LEASE_MEMO_SIZE];
    if (c->lease_id == lease_id || c->lease_id == 0) {
      e = c;
      break;
    }
    if (e == NULL || c->put < e->put) e = c;
  }
  e->lease_id = lease_id;
  e->put = ++memo->puts;
  e->stage = stage;
  memcpy(e->project, project, project_len + 1);
  memcpy(e->item_id, item_id, item_len + 1);
}

int lease_memo_get(const lease_memo_t *memo, uint64_t lease_id, const char **project,
                   const char **item_id, uint32_t *stage) {
  if (memo == NULL || lease_id == 0) return 0;
  size_t home = memo_index(lease_id);
  const memo_entry_t *e = NULL;
  for (size_t i = 0; i < MEMO_PROBE && e == NULL; i++) {
    const memo_entry_t *c = &memo->entries[(home + i) % LEASE_MEMO_SIZE];
    if (c->lease_id == lease_id) e = c;
  }
  if (e == NULL) return 0;
  *project = e->project;
  *item_id = e->item_id;
  *stage = e->stage;
  return 1;
}
