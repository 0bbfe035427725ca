/* cmd_ingest: `tally ingest PROJECT FILE` — JSON Lines in, items out to the
 * workers that own them. Lines are validated here (jsonl.c) so one bad line
 * costs one rejection, not the run; valid items go out in chunks through
 * tally_ingest(), which splits them by owner. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "jsonl.h"

/* Items handed to tally_ingest() at once (it batches ≤ 1000 per worker message). */
#define INGEST_CHUNK 4000u
#define INGEST_PROGRESS_MS 200u

static const char ingest_help[] =
    "Usage: tally ingest PROJECT FILE\n\n"
    "Loads items into PROJECT from FILE (JSON Lines; - reads stdin). One JSON\n"
    "object per line:\n"
    "  {\"id\": \"...\", \"market\": \"es\", \"priority\": 0-3 or \"low|normal|high|emergency\",\n"
    "   \"content\": \"...\" or any JSON value, \"gold_label\": \"...\",\n"
    "   \"category_hint\": \"...\" (expected label; steers the wellbeing budget)}\n"
    "id and market are required; priority defaults to normal; content that is not\n"
    "a string is stored as its compact JSON text; blank lines are skipped.\n"
    "An item with a gold_label is a gold item: kept out of the production queues\n"
    "and counts, and served to each person at most once at the project's gold\n"
    "rate (`tally audit-policy set --gold-rate`; README, \"Gold items\").\n\n"
    "Bad lines (malformed JSON, missing id or market, bad priority) and items the\n"
    "cluster refuses (e.g. unknown market) are rejected with their line number\n"
    "and reason; the rest is still loaded. An id is 1-256 bytes of UTF-8 without\n"
    "control characters. Re-ingesting the same item is harmless (it counts as a\n"
    "duplicate); an id already stored with other content, market, priority, gold\n"
    "label or hint is a conflict: rejected (ALREADY_EXISTS), counted under\n"
    "conflicts, the stored item left as it was. On a terminal, progress is shown\n"
    "on stderr.\n\n"
    "Prints accepted, duplicates, rejected, conflicts and one `line N: reason`\n"
    "per rejected\n"
    "line (csv: one row per rejected line; the counts go to stderr).\n\n"
    "Exit status: 0 if no line was rejected, 1 if any was (or the cluster\n"
    "failed), 2 on usage errors.\n";

typedef struct {
  size_t line;
  int code;   /* negative TALLY_E_* code */
  int server; /* refused by the cluster (else by local validation) */
  char *reason;
} rejection_t;

typedef struct {
  cli_t *cli;
  const char *project;
  jsonl_item_t *items; /* INGEST_CHUNK */
  size_t *lines;
  size_t count;
  uint64_t lines_read, items_read, accepted, duplicates, conflicts, rejected, not_sent;
  rejection_t *rejections;
  size_t rejection_count, rejection_cap;
  int fatal; /* a batch failed as a whole: stop */
  int progress;
  uint64_t start_ms, progress_ms;
} ingest_t;

int ingest_parse(cli_t *cli, int argc, char **argv, ingest_opts_t *o) {
  const char *args[2] = {NULL, NULL};
  memset(o, 0, sizeof *o);
  int rc = cli_parse_positionals(cli, "ingest", ingest_help, argc, argv, 2, "PROJECT and FILE", args);
  if (rc != CLI_PARSED) return rc;
  o->project = args[0];
  o->file = args[1];
  return CLI_PARSED;
}

static int reject(ingest_t *in, size_t line, int code, int server, const char *reason) {
  if (in->rejection_count == in->rejection_cap) {
    size_t cap = in->rejection_cap ? in->rejection_cap * 2 : 64;
    rejection_t *r = realloc(in->rejections, cap * sizeof *r);
    if (r == NULL) return -1;
    in->rejections = r;
    in->rejection_cap = cap;
  }
  char *copy = strdup(reason);
  if (copy == NULL) return -1;
  in->rejections[in->rejection_count++] = (rejection_t){line, code, server, copy};
  in->rejected++;
  return 0;
}

static void progress(ingest_t *in, int final) {
  if (!in->progress) return;
  uint64_t now = clock_monotonic_ms();
  if (!final && now < in->progress_ms + INGEST_PROGRESS_MS) return;
  in->progress_ms = now;
  if (final) {
    fputs("\r\033[K", in->cli->err);
    return;
  }
  double secs = (double)(now - in->start_ms) / 1000.0;
  fprintf(in->cli->err, "\r\033[K%llu lines read, %llu accepted, %llu rejected, %.0f lines/s",
          (unsigned long long)in->lines_read, (unsigned long long)in->accepted, (unsigned long long)in->rejected,
          secs > 0 ? (double)in->lines_read / secs : 0.0);
  fflush(in->cli->err);
}

/* Sends the collected items; returns 0, or -1 when the run must stop. */
static int flush(ingest_t *in) {
  if (in->count == 0) return 0;
  tally_item_t *items = malloc(in->count * sizeof *items);
  if (items == NULL) return -1;
  for (size_t i = 0; i < in->count; i++) {
    const jsonl_item_t *j = &in->items[i];
    items[i] = (tally_item_t){j->id, j->market, j->priority, j->content, j->gold_label, j->category_hint};
  }
  tally_ingest_result_t *res = NULL;
  int rc = tally_ingest(in->cli->client, in->project, items, in->count, &res);
  free(items);
  if (res) {
    in->accepted += res->accepted;
    in->duplicates += res->duplicates;
    in->conflicts += res->conflicts;
    for (size_t i = 0; i < res->count; i++) {
      const tally_item_result_t *r = &res->items[i];
      if (r->code == 0) continue;
      if (rc < 0 && r->code == rc) {
        in->not_sent++; /* reported once, as the run's error */
        continue;
      }
      if (reject(in, in->lines[i], r->code, 1, r->message ? r->message : tally_strerror(r->code)) < 0) rc = TALLY_E_NOMEM;
    }
  }
  tally_free(res);
  for (size_t i = 0; i < in->count; i++) jsonl_item_clear(&in->items[i]);
  in->count = 0;
  if (rc < 0) {
    in->fatal = rc;
    return -1;
  }
  return 0;
}

static int read_input(ingest_t *in, FILE *f) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  char reason[256];
  int rc = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    in->lines_read++;
    char *text = line;
    if (in->lines_read == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3, len -= 3;
    jsonl_item_t *item = &in->items[in->count];
    int kind = jsonl_parse_item(text, (size_t)len, item, reason, sizeof reason);
    if (kind == JSONL_ITEM) {
      in->items_read++;
      in->lines[in->count++] = in->lines_read;
      if (in->count == INGEST_CHUNK && (rc = flush(in)) < 0) break;
    } else if (kind == JSONL_INVALID) {
      in->items_read++;
      if ((rc = reject(in, in->lines_read, TALLY_E_INVALID_ARGUMENT, 0, reason)) < 0) break;
    }
    progress(in, 0);
  }
  free(line);
  if (rc == 0 && ferror(f)) {
    fprintf(in->cli->err, "tally: ingest: read error: %s\n", strerror(errno));
    rc = -1;
  }
  if (rc == 0) rc = flush(in);
  progress(in, 1);
  return rc;
}

static int by_line(const void *a, const void *b) {
  const rejection_t *x = a, *y = b;
  return (x->line > y->line) - (x->line < y->line);
}

static int print_summary(ingest_t *in) {
  cli_t *cli = in->cli;
  if (in->rejection_count > 1) qsort(in->rejections, in->rejection_count, sizeof *in->rejections, by_line);
  if (cli->format == OUTPUT_JSON) {
    json_t *list = json_array();
    for (size_t i = 0; i < in->rejection_count; i++) {
      const rejection_t *r = &in->rejections[i];
      json_array_append_new(list, json_pack("{s:I, s:s, s:s}", "line", (json_int_t)r->line, "code",
                                            tally_error_name(r->code), "reason", r->reason));
    }
    return output_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "project", in->project, "lines",
                                 (json_int_t)in->lines_read, "items", (json_int_t)in->items_read, "accepted",
                                 (json_int_t)in->accepted, "duplicates", (json_int_t)in->duplicates, "conflicts",
                                 (json_int_t)in->conflicts, "rejected", (json_int_t)in->rejected, "rejections",
                                 list),
                       cli->out);
  }
  if (cli->format == OUTPUT_CSV) {
    static const char *const headers[] = {"line", "code", "reason"};
    output_table_t *t = output_table_new(3, headers);
    if (t == NULL) return -1;
    for (size_t i = 0; i < in->rejection_count; i++) {
      output_table_cellf(t, "%zu", in->rejections[i].line);
      output_table_cell(t, tally_error_name(in->rejections[i].code));
      output_table_cell(t, in->rejections[i].reason);
    }
    int rc = output_table_print(t, OUTPUT_CSV, cli->out);
    output_table_free(&t);
    fprintf(cli->err, "accepted %llu, duplicates %llu, rejected %llu (conflicts %llu)\n",
            (unsigned long long)in->accepted, (unsigned long long)in->duplicates, (unsigned long long)in->rejected,
            (unsigned long long)in->conflicts);
    return rc;
  }
  output_field(cli->out, "accepted:", "%llu", (unsigned long long)in->accepted);
  output_field(cli->out, "duplicates:", "%llu", (unsigned long long)in->duplicates);
  output_field(cli->out, "rejected:", "%llu", (unsigned long long)in->rejected);
  output_field(cli->out, "conflicts:", "%llu", (unsigned long long)in->conflicts);
  char safe[1024];
  for (size_t i = 0; i < in->rejection_count; i++) {
    const rejection_t *r = &in->rejections[i];
    if (r->server)
      fprintf(cli->out, "line %zu: %s (%s)\n", r->line, output_safe(r->reason, safe, sizeof safe),
              tally_error_name(r->code));
    else
      fprintf(cli->out, "line %zu: %s\n", r->line, output_safe(r->reason, safe, sizeof safe));
  }
  return 0;
}

int cmd_ingest(cli_t *cli, int argc, char **argv) {
  ingest_opts_t o;
  int rc = ingest_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  int from_stdin = strcmp(o.file, "-") == 0;
  FILE *f = from_stdin ? stdin : fopen(o.file, "r");
  if (f == NULL) {
    fprintf(cli->err, "tally: ingest: cannot open %s: %s (IO)\n", o.file, strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  ingest_t in = {.cli = cli, .project = o.project};
  in.items = calloc(INGEST_CHUNK, sizeof *in.items);
  in.lines = calloc(INGEST_CHUNK, sizeof *in.lines);
  int exit_code = CLI_EXIT_FAILURE;
  if (in.items == NULL || in.lines == NULL) {
    fputs("tally: ingest: out of memory (NOMEM)\n", cli->err);
    goto done;
  }
  if ((rc = cli_connect(cli)) != 0) goto done;
  tally_project_t *project = NULL;
  rc = tally_project_show(cli->client, o.project, &project);
  tally_free(project);
  if (rc < 0) {
    cli_fail(cli, "ingest", rc);
    goto done;
  }
  in.progress = isatty(fileno(cli->err));
  in.start_ms = clock_monotonic_ms();
  rc = read_input(&in, f);
  if (print_summary(&in) < 0) rc = -1;
  if (in.fatal) {
    if (in.not_sent)
      fprintf(cli->err, "tally: ingest: stopped; %llu items of the failed batch were not stored\n",
              (unsigned long long)in.not_sent);
    cli_fail(cli, "ingest", in.fatal);
  }
  exit_code = rc == 0 && in.rejected == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
done:
  for (size_t i = 0; in.items && i < in.count; i++) jsonl_item_clear(&in.items[i]);
  for (size_t i = 0; i < in.rejection_count; i++) free(in.rejections[i].reason);
  free(in.rejections);
  free(in.items);
  free(in.lines);
  if (!from_stdin) fclose(f);
  return exit_code;
}
