/* output: tables, CSV and JSON for the `tally` command. See output.h. */
#include "output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ident.h"

struct output_table {
  size_t columns;
  const char *const *headers;
  char **cells;
  size_t count, cap;
  int failed;
};

int output_format_parse(const char *name, output_format_t *out) {
  static const char *const names[] = {"table", "json", "csv"};
  for (int i = 0; i < 3; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = (output_format_t)i;
      return 0;
    }
  }
  return -1;
}

output_table_t *output_table_new(size_t columns, const char *const *headers) {
  output_table_t *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->columns = columns;
  t->headers = headers;
  return t;
}

void output_table_free(output_table_t **tp) {
  if (tp == NULL || *tp == NULL) return;
  output_table_t *t = *tp;
  for (size_t i = 0; i < t->count; i++) free(t->cells[i]);
  free(t->cells);
  free(t);
  *tp = NULL;
}

int output_table_cell(output_table_t *t, const char *text) {
  if (t->failed) return -1;
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    char **cells = realloc(t->cells, cap * sizeof *cells);
    if (cells == NULL) {
      t->failed = 1;
      return -1;
    }
    t->cells = cells;
    t->cap = cap;
  }
  char *copy = strdup(text ? text : "");
  if (copy == NULL) {
    t->failed = 1;
    return -1;
  }
  t->cells[t->count++] = copy;
  return 0;
}

int output_table_cellf(output_table_t *t, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return output_table_cell(t, buf);
}

size_t output_table_rows(const output_table_t *t) { return (t->count + t->columns - 1) / t->columns; }

/* Display width: UTF-8 code points (not bytes). */
static size_t text_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++;
  return w;
}

static const char *table_at(const output_table_t *t, size_t row, size_t col) {
  size_t i = row * t->columns + col;
  return i < t->count ? t->cells[i] : "";
}

static void print_text_cells(const output_table_t *t, FILE *f);

/* The cells as shown on a terminal: every cell passed through
 * ident_sanitize_dup() (malloc'ed array of malloc'ed strings). NULL when out
 * of memory. */
static char **safe_cells(const output_table_t *t) {
  char **safe = calloc(t->count ? t->count : 1, sizeof *safe);
  if (safe == NULL) return NULL;
  for (size_t i = 0; i < t->count; i++) {
    safe[i] = ident_sanitize_dup(t->cells[i], strlen(t->cells[i]));
    if (safe[i] == NULL) {
      for (size_t k = 0; k < i; k++) free(safe[k]);
      free(safe);
      return NULL;
    }
  }
  return safe;
}

static int print_text(const output_table_t *t, FILE *f) {
  char **safe = safe_cells(t);
  if (safe == NULL) return -1;
  output_table_t shown = *t;
  shown.cells = safe;
  print_text_cells(&shown, f);
  for (size_t i = 0; i < t->count; i++) free(safe[i]);
  free(safe);
  return 0;
}

static void print_text_cells(const output_table_t *t, FILE *f) {
  size_t rows = output_table_rows(t);
  size_t *width = calloc(t->columns, sizeof *width);
  if (width == NULL) return;
  for (size_t c = 0; c < t->columns; c++) {
    width[c] = text_width(t->headers[c]);
    for (size_t r = 0; r < rows; r++) {
      size_t w = text_width(table_at(t, r, c));
      if (w > width[c]) width[c] = w;
    }
  }
  for (size_t r = 0; r <= rows; r++) {
    for (size_t c = 0; c < t->columns; c++) {
      const char *cell = r == 0 ? t->headers[c] : table_at(t, r - 1, c);
      fputs(cell, f);
      if (c + 1 < t->columns) fprintf(f, "%*s", (int)(width[c] - text_width(cell) + 2), "");
    }
    fputc('\n', f);
  }
  free(width);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int output_csv_is_number(const char *s) {
  if (*s == '+' || *s == '-') s++;
  size_t before = 0, after = 0;
  while (is_digit(*s)) s++, before++;
  if (*s == '.') {
    s++;
    while (is_digit(*s)) s++, after++;
  }
  if (before + after == 0) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!is_digit(*s)) return 0;
    while (is_digit(*s)) s++;
  }
  return *s == '\0';
}

/* A cell a spreadsheet would run as a formula (see output.h). */
static int csv_is_formula(const char *s) {
  return s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL && !output_csv_is_number(s);
}

void output_csv_field(FILE *f, const char *s) {
  if (s == NULL) s = "";
  int formula = csv_is_formula(s);
  if (!formula && strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  if (formula) fputc('\'', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

void output_csv_end(FILE *f) { fputs("\r\n", f); }

static void print_csv(const output_table_t *t, FILE *f) {
  size_t rows = output_table_rows(t);
  for (size_t r = 0; r <= rows; r++) {
    for (size_t c = 0; c < t->columns; c++) {
      if (c) fputc(',', f);
      output_csv_field(f, r == 0 ? t->headers[c] : table_at(t, r - 1, c));
    }
    output_csv_end(f);
  }
}

int output_table_print(const output_table_t *t, output_format_t format, FILE *f) {
  if (t->failed) return -1;
  if (format == OUTPUT_CSV)
    print_csv(t, f);
  else if (print_text(t, f) < 0)
    return -1;
  return ferror(f) ? -1 : 0;
}

int output_json(json_t *doc, FILE *f) {
  if (doc == NULL) return -1;
  int rc = json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
  json_decref(doc);
  fputc('\n', f);
  return rc < 0 || ferror(f) ? -1 : 0;
}

void output_field(FILE *f, const char *key, const char *fmt, ...) {
  fprintf(f, "%-16s", key);
  va_list ap;
  va_start(ap, fmt);
  char *value = NULL;
  int len = vasprintf(&value, fmt, ap);
  va_end(ap);
  char *safe = len >= 0 ? ident_sanitize_dup(value, (size_t)len) : NULL;
  fputs(safe ? safe : "(out of memory)", f);
  free(safe);
  free(value);
  fputc('\n', f);
}

const char *output_safe(const char *s, char *buf, size_t size) {
  ident_sanitize(s, 0, buf, size);
  return buf;
}

json_t *output_json_strings(const char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++) json_array_append_new(a, json_string(v[i]));
  return a;
}

char *output_join(const char *const *v, size_t n, const char *sep) {
  size_t len = 1;
  for (size_t i = 0; i < n; i++) len += strlen(v[i]) + strlen(sep);
  char *out = malloc(len);
  if (out == NULL) return NULL;
  out[0] = '\0';
  char *p = out;
  for (size_t i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? sep : "", v[i]);
  return out;
}

void output_time(uint64_t unix_ms, char *buf, size_t size) {
  if (unix_ms == 0) {
    snprintf(buf, size, "-");
    return;
  }
  time_t secs = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void output_duration(uint64_t ms, char *buf, size_t size) {
  if (ms < 1000)
    snprintf(buf, size, "%llums", (unsigned long long)ms);
  else if (ms < 60000)
    snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
  else if (ms < 3600000)
    snprintf(buf, size, "%llum%02llus", (unsigned long long)(ms / 60000), (unsigned long long)(ms / 1000 % 60));
  else
    snprintf(buf, size, "%lluh%02llum", (unsigned long long)(ms / 3600000),
             (unsigned long long)(ms / 60000 % 60));
}
