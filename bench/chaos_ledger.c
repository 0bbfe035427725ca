/* chaos_ledger: append-and-sync ledger files and their reader (see the
 * header for the line format). */
#include "chaos_ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct chaos_ledger {
  int fd;
};

uint64_t chaos_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int chaos_ledger_open(chaos_ledger_t **out, const char *dir, const char *name) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s.ledger", dir, name) >= (int)sizeof path) return -ENAMETOOLONG;
  chaos_ledger_t *l = calloc(1, sizeof *l);
  if (l == NULL) return -ENOMEM;
  l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (l->fd < 0) {
    int e = errno;
    free(l);
    return -e;
  }
  *out = l;
  return 0;
}

void chaos_ledger_destroy(chaos_ledger_t **l) {
  if (l == NULL || *l == NULL) return;
  close((*l)->fd);
  free(*l);
  *l = NULL;
}

static int format_record(const chaos_record_t *r, char *buf, size_t size) {
  switch (r->kind) {
    case 'P': return snprintf(buf, size, "P %" PRIu64 " %s\n", r->at_ms, r->item);
    case 'I': return snprintf(buf, size, "I %" PRIu64 " %" PRIu64 " %s\n", r->send_ms, r->at_ms, r->item);
    case 'i':
      return snprintf(buf, size, "i %" PRIu64 " %" PRIu64 " %s %d\n", r->send_ms, r->at_ms, r->item, r->code);
    case 'G':
      return snprintf(buf, size, "G %" PRIu64 " %" PRIu64 " %d %s %s %u %" PRIu64 " %" PRIu64 "\n", r->send_ms,
                      r->at_ms, r->stage, r->person, r->item, r->slot, r->lease_id, r->deadline_ms);
    case 'S':
      return snprintf(buf, size, "S %" PRIu64 " %" PRIu64 " %d %s %s %u %" PRIu64 " %s\n", r->send_ms, r->at_ms,
                      r->stage, r->person, r->item, r->slot, r->lease_id, r->label);
    case 'U':
    case 'X':
      return snprintf(buf, size, "%c %" PRIu64 " %" PRIu64 " %d %s %s %u %" PRIu64 " %s %d\n", r->kind,
                      r->send_ms, r->at_ms, r->stage, r->person, r->item, r->slot, r->lease_id, r->label,
                      r->code);
    default: return -1;
  }
}

int chaos_ledger_append(chaos_ledger_t *l, const chaos_record_t *r) {
  char line[512];
  int n = format_record(r, line, sizeof line);
  if (n < 0 || n >= (int)sizeof line) return -EINVAL;
  const char *p = line;
  while (n > 0) {
    ssize_t w = write(l->fd, p, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    n -= (int)w;
  }
  return 0;
}

int chaos_ledger_sync(chaos_ledger_t *l) {
  while (fdatasync(l->fd) != 0)
    if (errno != EINTR) return -errno;
  return 0;
}

/* Parses one line (without its newline) into r; 0 or -1. */
static int parse_line(const char *line, chaos_record_t *r) {
  memset(r, 0, sizeof *r);
  char kind = line[0];
  if (kind == '\0' || line[1] != ' ') return -1;
  const char *s = line + 2;
  int n = 0, got = 0;
  r->kind = kind;
  switch (kind) {
    case 'P':
      got = sscanf(s, "%" SCNu64 " %63s%n", &r->at_ms, r->item, &n);
      return got == 2 && s[n] == '\0' ? 0 : -1;
    case 'I':
      got = sscanf(s, "%" SCNu64 " %" SCNu64 " %63s%n", &r->send_ms, &r->at_ms, r->item, &n);
      return got == 3 && s[n] == '\0' ? 0 : -1;
    case 'i':
      got = sscanf(s, "%" SCNu64 " %" SCNu64 " %63s %d%n", &r->send_ms, &r->at_ms, r->item, &r->code, &n);
      return got == 4 && s[n] == '\0' ? 0 : -1;
    case 'G':
      got = sscanf(s, "%" SCNu64 " %" SCNu64 " %d %63s %63s %u %" SCNu64 " %" SCNu64 "%n", &r->send_ms, &r->at_ms,
                   &r->stage, r->person, r->item, &r->slot, &r->lease_id, &r->deadline_ms, &n);
      return got == 8 && s[n] == '\0' ? 0 : -1;
    case 'S':
      got = sscanf(s, "%" SCNu64 " %" SCNu64 " %d %63s %63s %u %" SCNu64 " %63s%n", &r->send_ms, &r->at_ms,
                   &r->stage, r->person, r->item, &r->slot, &r->lease_id, r->label, &n);
      return got == 8 && s[n] == '\0' ? 0 : -1;
    case 'U':
    case 'X':
      got = sscanf(s, "%" SCNu64 " %" SCNu64 " %d %63s %63s %u %" SCNu64 " %63s %d%n", &r->send_ms, &r->at_ms,
                   &r->stage, r->person, r->item, &r->slot, &r->lease_id, r->label, &r->code, &n);
      return got == 9 && s[n] == '\0' ? 0 : -1;
    default: return -1;
  }
}

static int read_file(const char *path, chaos_record_t **recs, size_t *count, size_t *cap, size_t *bad) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -errno;
  char *line = NULL;
  size_t len = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&line, &len, f)) > 0) {
    if (line[n - 1] != '\n') break; /* torn last line: its writer is in the middle */
    line[n - 1] = '\0';
    if (*count == *cap) {
      size_t ncap = *cap ? *cap * 2 : 4096;
      chaos_record_t *grown = realloc(*recs, ncap * sizeof **recs);
      if (grown == NULL) {
        rc = -ENOMEM;
        break;
      }
      *recs = grown;
      *cap = ncap;
    }
    if (parse_line(line, &(*recs)[*count]) == 0)
      (*count)++;
    else
      (*bad)++;
  }
  free(line);
  fclose(f);
  return rc;
}

int chaos_ledger_read_dir(const char *dir, chaos_record_t **out, size_t *count, size_t *bad) {
  *out = NULL;
  *count = 0;
  *bad = 0;
  DIR *d = opendir(dir);
  if (d == NULL) return -errno;
  size_t cap = 0;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 8 || strcmp(e->d_name + len - 7, ".ledger") != 0) continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    rc = read_file(path, out, count, &cap, bad);
  }
  closedir(d);
  if (rc != 0) {
    free(*out);
    *out = NULL;
    *count = 0;
  }
  return rc;
}
