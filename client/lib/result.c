/* result: arena allocation of returned objects. See result.h. */
#include "result.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct result_block {
  struct result_block *next;
  size_t used;
  size_t size;
} result_block_t;

struct result {
  result_block_t *blocks; /* newest first; the first block holds this struct */
  int failed;
};

#define RESULT_ALIGN alignof(max_align_t)
#define RESULT_BLOCK_MIN 8192u

static size_t align_up(size_t n) { return (n + RESULT_ALIGN - 1) & ~(size_t)(RESULT_ALIGN - 1); }

static unsigned char *block_data(result_block_t *b) {
  return (unsigned char *)b + align_up(sizeof *b);
}

void *result_new(size_t root_size, result_t **out) {
  size_t head = align_up(sizeof(result_t));
  size_t need = head + align_up(root_size);
  size_t size = need > RESULT_BLOCK_MIN ? need : RESULT_BLOCK_MIN;
  result_block_t *b = malloc(align_up(sizeof *b) + size);
  if (b == NULL) return NULL;
  b->next = NULL;
  b->size = size;
  b->used = need;
  result_t *r = (result_t *)block_data(b);
  r->blocks = b;
  r->failed = 0;
  void *root = block_data(b) + head;
  memset(root, 0, root_size);
  *out = r;
  return root;
}

void *result_alloc(result_t *r, size_t size) {
  size = align_up(size ? size : 1);
  result_block_t *b = r->blocks;
  if (b->size - b->used < size) {
    size_t cap = size > RESULT_BLOCK_MIN ? size : RESULT_BLOCK_MIN;
    result_block_t *nb = malloc(align_up(sizeof *nb) + cap);
    if (nb == NULL) {
      r->failed = 1;
      return NULL;
    }
    nb->next = b;
    nb->used = 0;
    nb->size = cap;
    r->blocks = b = nb;
  }
  void *p = block_data(b) + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

char *result_strdup(result_t *r, const char *s) {
  if (s == NULL) s = "";
  size_t n = strlen(s) + 1;
  char *p = result_alloc(r, n);
  if (p) memcpy(p, s, n);
  return p;
}

const char **result_strv(result_t *r, char *const *v, size_t n) {
  if (n == 0) return NULL;
  const char **out = result_alloc(r, n * sizeof *out);
  if (out == NULL) return NULL;
  for (size_t i = 0; i < n; i++) out[i] = result_strdup(r, v[i]);
  return out;
}

int result_failed(const result_t *r) { return r->failed; }

void result_free(void *root) {
  if (root == NULL) return;
  result_t *r = (result_t *)((unsigned char *)root - align_up(sizeof(result_t)));
  result_block_t *b = r->blocks;
  while (b) {
    result_block_t *next = b->next;
    free(b);
    b = next;
  }
}
