/* cmd_export: `tally export judgments` — every closed audit of a project
 * with its labels, audit, final label and attribution, streamed as JSON
 * Lines or CSV while the workers are paged through (nothing is held beyond
 * one page). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char judgments_help[] =
    "Usage: tally export judgments --project P [--format jsonl|csv]\n\n"
    "Writes every closed audit of project P to stdout as it arrives from the\n"
    "workers: project, item, market, the labelers' labels, the audit label, the\n"
    "final label, the attribution (none when labeler and auditor agreed), the\n"
    "adjudicator and their note, when it closed, the content, and the labelers\n"
    "the audit measured, and the guideline (policy) version in effect when each\n"
    "label and the audit were submitted and when the audit closed.\n"
    "  jsonl (default; json means the same): one JSON object per line.\n"
    "  csv: a header, then one record per judgment; labels flattened as\n"
    "       \"labeler:label;labeler:label\" and audited labelers as \"a;b\", with\n"
    "       '\\', ':' and ';' inside names escaped by a backslash.\n"
    "If a worker fails, the others are still exported; the command then\n"
    "reports the failure and exits 1 (the output misses that worker's part).\n\n"
    "Options:\n"
    "  --project P              the project (required)\n"
    "  --format jsonl|json|csv  output format (default jsonl)\n";

enum { OPT_PROJECT = CLI_OPT_COMMAND };

int export_parse(cli_t *cli, int argc, char **argv, export_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT}, CLI_GLOBAL_OPTIONS};
  static const char *cmd = "export judgments";
  memset(o, 0, sizeof *o);
  /* A global --format (before the command) has already been read. */
  o->format = cli->format == OUTPUT_CSV ? EXPORT_CSV : EXPORT_JSONL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case CLI_OPT_FORMAT: /* its own formats, not the global ones */
        if (strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "json") == 0)
          o->format = EXPORT_JSONL;
        else if (strcmp(optarg, "csv") == 0)
          o->format = EXPORT_CSV;
        else
          rc = cli_usage_error(cli, cmd, "unknown format '%s' (jsonl or csv)", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, judgments_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  return CLI_PARSED;
}

/* ------------------------------------------------------------ records */

static json_t *stored_label_json(const tally_stored_label_t *l) {
  return json_pack("{s:s, s:s, s:I, s:I, s:I}", "labeler", l->labeler, "label", l->label, "at_ms",
                   (json_int_t)l->at_ms, "handling_ms", (json_int_t)l->handling_ms, "policy_version",
                   (json_int_t)(l->policy_version ? l->policy_version : 1));
}

int export_judgment_jsonl(FILE *f, const tally_judgment_t *j) {
  json_t *labels = json_array();
  for (size_t i = 0; i < j->label_count; i++) json_array_append_new(labels, stored_label_json(&j->labels[i]));
  json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:I}", "project", j->project,
                          "item_id", j->item_id, "market", j->market, "labels", labels, "audit",
                          j->audit.labeler[0] ? stored_label_json(&j->audit) : json_null(), "final_label",
                          j->final_label, "attribution", tally_attribution_name(j->attribution), "adjudicator",
                          j->adjudicator, "note", j->note, "closed_ms", (json_int_t)j->closed_ms, "content",
                          j->content, "audited_labelers",
                          output_json_strings(j->audited_labelers, j->audited_labeler_count),
                          "policy_version", (json_int_t)(j->policy_version ? j->policy_version : 1));
  if (doc == NULL) return -1;
  int rc = json_dumpf(doc, f, JSON_COMPACT);
  json_decref(doc);
  fputc('\n', f);
  return rc < 0 || ferror(f) ? -1 : 0;
}

/* Writes `s` to `f` with the flattening separators escaped. */
static void put_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '\\' || *s == ':' || *s == ';') fputc('\\', f);
    fputc(*s, f);
  }
}

/* "labeler:label;labeler:label" (malloc'ed; NULL when out of memory). */
static char *flatten_labels(const tally_stored_label_t *labels, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(';', f);
    put_escaped(f, labels[i].labeler);
    fputc(':', f);
    put_escaped(f, labels[i].label);
  }
  return fclose(f) == 0 ? buf : (free(buf), NULL);
}

/* "labeler:version;labeler:version" (malloc'ed; NULL when out of memory). */
static char *flatten_versions(const tally_stored_label_t *labels, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(';', f);
    put_escaped(f, labels[i].labeler);
    fprintf(f, ":%u", labels[i].policy_version ? labels[i].policy_version : 1);
  }
  return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static char *flatten_names(const char *const *names, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(';', f);
    put_escaped(f, names[i]);
  }
  return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static const char *const export_csv_headers[] = {
    "project",     "item_id",     "market",      "labels",      "audit_labeler", "audit_label",
    "audit_at_ms", "audit_handling_ms", "final_label", "attribution", "adjudicator", "note",
    "closed_ms",   "content",     "audited_labelers", "policy_version", "audit_policy_version",
    "label_policy_versions"};

void export_csv_header(FILE *f) {
  size_t n = sizeof export_csv_headers / sizeof export_csv_headers[0];
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', f);
    output_csv_field(f, export_csv_headers[i]);
  }
  output_csv_end(f);
}

static void csv_u64(FILE *f, uint64_t v) { fprintf(f, "%llu", (unsigned long long)v); }

int export_judgment_csv(FILE *f, const tally_judgment_t *j) {
  char *labels = flatten_labels(j->labels, j->label_count);
  char *audited = flatten_names(j->audited_labelers, j->audited_labeler_count);
  char *versions = flatten_versions(j->labels, j->label_count);
  if (labels == NULL || audited == NULL || versions == NULL) {
    free(labels);
    free(audited);
    free(versions);
    return -1;
  }
  int audited_item = j->audit.labeler[0] != '\0';
  const char *fields[] = {j->project, j->item_id, j->market, labels, j->audit.labeler, j->audit.label};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (i) fputc(',', f);
    output_csv_field(f, fields[i]);
  }
  fputc(',', f);
  if (audited_item) csv_u64(f, j->audit.at_ms);
  fputc(',', f);
  if (audited_item) csv_u64(f, j->audit.handling_ms);
  const char *more[] = {j->final_label, tally_attribution_name(j->attribution), j->adjudicator, j->note};
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
    fputc(',', f);
    output_csv_field(f, more[i]);
  }
  fputc(',', f);
  csv_u64(f, j->closed_ms);
  fputc(',', f);
  output_csv_field(f, j->content);
  fputc(',', f);
  output_csv_field(f, audited);
  fputc(',', f);
  csv_u64(f, j->policy_version ? j->policy_version : 1);
  fputc(',', f);
  if (audited_item) csv_u64(f, j->audit.policy_version ? j->audit.policy_version : 1);
  fputc(',', f);
  output_csv_field(f, versions);
  output_csv_end(f);
  free(labels);
  free(audited);
  free(versions);
  return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------ command */

typedef struct {
  FILE *out;
  export_format_t format;
} export_sink_t;

/* Stops the export (returns 1) when the output fails, e.g. a closed pipe. */
static int export_one(void *arg, const tally_judgment_t *j) {
  export_sink_t *sink = arg;
  int rc = sink->format == EXPORT_CSV ? export_judgment_csv(sink->out, j) : export_judgment_jsonl(sink->out, j);
  return rc < 0 ? 1 : 0;
}

static int export_judgments(cli_t *cli, int argc, char **argv) {
  export_opts_t o;
  int rc = export_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  if (o.format == EXPORT_CSV) export_csv_header(cli->out);
  export_sink_t sink = {cli->out, o.format};
  tally_export_summary_t summary;
  rc = tally_export_judgments(cli->client, o.project, 0, export_one, &sink, &summary);
  if (fflush(cli->out) != 0 || rc > 0) {
    fprintf(cli->err, "tally: export judgments: cannot write the output (IO)\n");
    return CLI_EXIT_FAILURE;
  }
  if (rc < 0) {
    cli_fail(cli, "export judgments", rc);
    fprintf(cli->err, "tally: export judgments: %llu judgments written from %zu workers; %zu failed\n",
            (unsigned long long)summary.judgments, summary.workers_answered, summary.workers_failed);
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

int cmd_export(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {{"judgments", "closed audits with their outcome (jsonl, csv)", export_judgments}};
  return cli_group(cli, "export", subs, sizeof subs / sizeof subs[0], argc, argv);
}
