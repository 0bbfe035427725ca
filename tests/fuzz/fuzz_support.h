/* fuzz_support: what the libFuzzer harnesses of tests/fuzz share.
 *
 * Scratch files and directories live under $TALLY_FUZZ_TMPDIR, else
 * /dev/shm when it is writable (RocksDB's synced writes cost nothing on
 * tmpfs, which matters at thousands of executions a second), else $TMPDIR,
 * else /tmp. fuzz_check() aborts with a message when a contract of the code
 * under test does not hold, so libFuzzer reports it like a crash.
 */
#ifndef TALLY_FUZZ_SUPPORT_H
#define TALLY_FUZZ_SUPPORT_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define fuzz_check(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                     \
    }                                                                              \
  } while (0)

/* The directory scratch files go to (borrowed, static). */
static inline const char *fuzz_scratch_base(void) {
  const char *base = getenv("TALLY_FUZZ_TMPDIR");
  if (base && base[0]) return base;
  if (access("/dev/shm", W_OK) == 0) return "/dev/shm";
  base = getenv("TMPDIR");
  return base && base[0] ? base : "/tmp";
}

/* A new empty directory named after `name`; the caller frees the string.
 * Aborts when none can be made (the harness cannot run without it). */
static inline char *fuzz_temp_dir(const char *name) {
  const char *base = fuzz_scratch_base();
  size_t size = strlen(base) + strlen(name) + 16;
  char *path = malloc(size);
  if (path == NULL) abort();
  snprintf(path, size, "%s/%s.XXXXXX", base, name);
  if (mkdtemp(path) == NULL) {
    perror("fuzz: mkdtemp");
    abort();
  }
  return path;
}

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path);
}

/* Removes `path` and everything below it; safe on NULL. */
static inline void fuzz_remove_tree(const char *path) {
  if (path) nftw(path, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes `size` bytes to `path` (replacing it). Aborts on failure. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror("fuzz: writing a scratch file");
    abort();
  }
}

/* Splits data[size] at NUL bytes into at most `max` malloc'ed strings that
 * follow argv[first] (argv has room for first + max + 1 entries, the last
 * NULL). Returns the argc. fuzz_free_args() frees what this made. */
static inline int fuzz_split_args(const uint8_t *data, size_t size, char **argv, int first,
                                  int max) {
  int argc = first;
  size_t start = 0;
  for (size_t i = 0; i <= size && argc < first + max; i++) {
    if (i < size && data[i] != '\0') continue;
    if (i > start || i < size) {
      char *arg = strndup((const char *)data + start, i - start);
      if (arg == NULL) abort();
      argv[argc++] = arg;
    }
    start = i + 1;
  }
  argv[argc] = NULL;
  return argc;
}

static inline void fuzz_free_args(char **argv, int first, int argc) {
  for (int i = first; i < argc; i++) free(argv[i]);
}

#endif
