/* output: how the `tally` command prints — aligned tables for people,
 * RFC 4180 CSV for spreadsheets, one JSON document (jansson) for programs.
 *
 * A command builds an output_table_t of text cells for the table and CSV
 * forms and a json_t for the JSON form, then prints the one asked for.
 */
#ifndef TALLY_CLIENT_OUTPUT_H
#define TALLY_CLIENT_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { OUTPUT_TABLE = 0, OUTPUT_JSON = 1, OUTPUT_CSV = 2 } output_format_t;

/* Parses "table", "json" or "csv". Returns 0 or -1. */
int output_format_parse(const char *name, output_format_t *out);

typedef struct output_table output_table_t;

/* A table with `columns` columns named by headers[] (borrowed; they must
 * outlive the table). NULL when out of memory. */
output_table_t *output_table_new(size_t columns, const char *const *headers);

/* Frees the table; safe on NULL and twice. */
void output_table_free(output_table_t **t);

/* Appends the next cell (copied; NULL prints as empty), filling rows left to
 * right. Returns 0 or -1 (out of memory; the table remembers and prints
 * nothing). */
int output_table_cell(output_table_t *t, const char *text);
int output_table_cellf(output_table_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number of complete or started rows. */
size_t output_table_rows(const output_table_t *t);

/* Prints as aligned text columns (header in the first row, two spaces
 * between columns; control characters and invalid UTF-8 in cells shown
 * escaped as ident_sanitize() does, so server data never drives the
 * terminal) or, with OUTPUT_CSV, as CSV with a header row. Returns 0
 * or -1 (output error or earlier out of memory). */
int output_table_print(const output_table_t *t, output_format_t format, FILE *f);

/* Writes one CSV field, quoted when it contains a comma, a double quote, CR
 * or LF (embedded quotes doubled), as RFC 4180 asks.
 *
 * CSV injection (OWASP): a cell that starts with '=', '+', '-', '@', tab or
 * CR would be taken for a formula by a spreadsheet, so it is written as a
 * quoted text cell with a single quote in front ("'=1+2"). The rule applies
 * to every cell, whatever its origin, except a cell that is wholly a
 * decimal number ("-0.25", "+3", "-1e-05"): numbers the program prints
 * (a kappa of -0.25) stay numbers, and no formula is a plain number. */
void output_csv_field(FILE *f, const char *s);

/* True when `s` is wholly a decimal number as output_csv_field() leaves it
 * alone: [+-]digits[.digits][(e|E)[+-]digits], or with digits only after
 * the point. */
int output_csv_is_number(const char *s);

/* `s` made safe for a terminal (common/ident.h: no control characters, no
 * invalid UTF-8), in buf[size] (cut with "..." when longer). Returns buf. */
const char *output_safe(const char *s, char *buf, size_t size);

/* Ends a CSV record (CRLF, as RFC 4180 asks). */
void output_csv_end(FILE *f);

/* Prints `doc` as one indented JSON document and a newline, then releases
 * the reference. Returns 0 or -1 (NULL doc: out of memory, or a write
 * error). */
int output_json(json_t *doc, FILE *f);

/* Prints "key:" padded to a fixed width, then the formatted value, made
 * safe for a terminal as output_safe() does (the value may be server data,
 * e.g. an item's content). */
void output_field(FILE *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A JSON array of strings (new reference). */
json_t *output_json_strings(const char *const *v, size_t n);

/* v joined with sep, malloc'ed (caller frees); NULL when out of memory. */
char *output_join(const char *const *v, size_t n, const char *sep);

/* Unix ms as "2024-05-01T12:00:00Z" (UTC) into buf; "-" for 0. */
void output_time(uint64_t unix_ms, char *buf, size_t size);

/* A duration in ms as "850ms", "12.3s", "5m03s", "2h05m". */
void output_duration(uint64_t ms, char *buf, size_t size);

#endif
