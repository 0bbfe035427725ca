/* cmd_feedback: `tally feedback` — a labeler's closed audits, newest first:
 * what they said, what the final label was. Pending audits never show (the
 * workers do not list them), so feedback cannot tell a labeler which of
 * their items are being audited. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char feedback_help[] =
    "Usage: tally feedback --as LABELER [--project P] [--limit N] [--standing]\n\n"
    "Shows LABELER's closed audits, newest first: when the audit closed, the\n"
    "project and item, your label, the final label, and whether you were right:\n"
    "your label is the final label (an audit the lead attributed to an unclear\n"
    "policy judges nobody: \"not counted\"). The same rule makes the accuracy\n"
    "of `tally report quality`, so both always agree.\n"
    "Audits still in progress are never listed. Every worker is asked; when\n"
    "some do not answer, a warning says the list may be incomplete.\n\n"
    "Below the list, where you stand per project: your closed audits, those\n"
    "judged, your accuracy with its 95% Wilson interval, and whether you are\n"
    "still ramping up (sampled more often until you have the project's\n"
    "number of judged audits at its target accuracy; \"-\" when the project has\n"
    "no ramp-up). It counts every closed audit, not only the N listed, and\n"
    "nothing still in progress. JSON has it as \"standing\".\n\n"
    "Options:\n"
    "  --as LABELER   whose feedback (required): yourself; a lead, manager or\n"
    "                 gateway may name a labeler\n"
    "  --project P    only this project (default: all)\n"
    "  --limit N      at most N entries, 1..10000 (default 100)\n"
    "  --standing     only the standing, one row per project (table, csv, json)\n";

#define FEEDBACK_DEFAULT_LIMIT 100u
#define FEEDBACK_MAX_LIMIT 10000u

enum { OPT_AS = CLI_OPT_COMMAND, OPT_PROJECT, OPT_LIMIT, OPT_STANDING };

int feedback_parse(cli_t *cli, int argc, char **argv, feedback_opts_t *o) {
  static const struct option options[] = {{"as", required_argument, NULL, OPT_AS},
                                          {"project", required_argument, NULL, OPT_PROJECT},
                                          {"limit", required_argument, NULL, OPT_LIMIT},
                                          {"standing", no_argument, NULL, OPT_STANDING},
                                          CLI_GLOBAL_OPTIONS};
  memset(o, 0, sizeof *o);
  o->limit = FEEDBACK_DEFAULT_LIMIT;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_AS: o->labeler = optarg[0] ? optarg : NULL; break;
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_LIMIT:
        if (cli_parse_u64(optarg, 1, FEEDBACK_MAX_LIMIT, &n) < 0)
          rc = cli_usage_error(cli, "feedback", "bad --limit '%s' (1..%u)", optarg, FEEDBACK_MAX_LIMIT);
        o->limit = (uint32_t)n;
        break;
      case OPT_STANDING: o->standing = 1; break;
      default: rc = cli_common_option(cli, "feedback", feedback_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, "feedback", "unexpected argument '%s'", argv[optind]);
  if (o->labeler == NULL) return cli_usage_error(cli, "feedback", "missing --as LABELER");
  return CLI_PARSED;
}

static json_t *entry_json(const tally_feedback_entry_t *e) {
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I}", "project", e->project, "item_id", e->item_id,
                   "your_label", e->your_label, "final_label", e->final_label, "correct", e->correct,
                   "policy_unclear", e->policy_unclear, "closed_ms", (json_int_t)e->closed_ms);
}

static const char *ramp_text(const tally_standing_t *s) {
  return !s->has_ramp ? "-" : s->ramping ? "ramping" : "done";
}

json_t *feedback_standing_json(const tally_standing_t *s) {
  return json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:s, s:I, s:f}", "project", s->project, "closed",
                   (json_int_t)s->closed, "judged", (json_int_t)s->judged, "correct", (json_int_t)s->correct,
                   "accuracy", s->accuracy_defined ? json_real(s->accuracy) : json_null(), "wilson_low",
                   s->accuracy_defined ? json_real(s->wilson_low) : json_null(), "wilson_high",
                   s->accuracy_defined ? json_real(s->wilson_high) : json_null(), "ramp", ramp_text(s),
                   "ramp_audits", (json_int_t)s->ramp_audits, "ramp_target", s->ramp_target);
}

/* The standing table (table or CSV): one row per project. */
static int standing_print(cli_t *cli, const tally_feedback_t *fb) {
  static const char *const headers[] = {"PROJECT", "CLOSED", "JUDGED", "CORRECT", "ACCURACY", "LOW", "HIGH", "RAMP", "TO_LEAVE"};
  static const char *const csv_headers[] = {"project",  "closed",     "judged",      "correct",     "accuracy",
                                            "wilson_low", "wilson_high", "ramp", "ramp_audits", "ramp_target"};
  int csv = cli->format == OUTPUT_CSV;
  output_table_t *t = output_table_new(csv ? 10 : 9, csv ? csv_headers : headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < fb->standing_count; i++) {
    const tally_standing_t *s = &fb->standing[i];
    output_table_cell(t, s->project);
    output_table_cellf(t, "%llu", (unsigned long long)s->closed);
    output_table_cellf(t, "%llu", (unsigned long long)s->judged);
    output_table_cellf(t, "%llu", (unsigned long long)s->correct);
    if (s->accuracy_defined) {
      output_table_cellf(t, "%.4f", s->accuracy);
      output_table_cellf(t, "%.4f", s->wilson_low);
      output_table_cellf(t, "%.4f", s->wilson_high);
    } else {
      /* Undefined: an empty cell in CSV, "undefined" in a table. */
      for (int k = 0; k < 3; k++) output_table_cell(t, csv ? "" : "undefined");
    }
    output_table_cell(t, ramp_text(s));
    if (csv) {
      output_table_cellf(t, "%u", s->ramp_audits);
      output_table_cellf(t, "%g", s->ramp_target);
    } else if (s->has_ramp) {
      output_table_cellf(t, "%u judged at %.2f", s->ramp_audits, s->ramp_target);
    } else {
      output_table_cell(t, "-");
    }
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

int feedback_print(cli_t *cli, const feedback_opts_t *o, const tally_feedback_t *fb) {
  if (fb->workers_failed)
    fprintf(cli->err, "tally: warning: %zu worker%s did not answer; feedback may be incomplete\n", fb->workers_failed,
            fb->workers_failed == 1 ? "" : "s");
  if (cli->format == OUTPUT_JSON) {
    json_t *entries = json_array();
    for (size_t i = 0; i < fb->count && !o->standing; i++) json_array_append_new(entries, entry_json(&fb->entries[i]));
    json_t *standing = json_array();
    for (size_t i = 0; i < fb->standing_count; i++) json_array_append_new(standing, feedback_standing_json(&fb->standing[i]));
    return output_json(json_pack("{s:s, s:o, s:o, s:o, s:I}", "labeler", o->labeler, "project",
                                 o->project ? json_string(o->project) : json_null(), "entries", entries, "standing",
                                 standing, "workers_failed", (json_int_t)fb->workers_failed),
                       cli->out);
  }
  if (o->standing) {
    if (cli->format != OUTPUT_CSV && fb->standing_count == 0) {
      fprintf(cli->out, "no closed audits and no ramp-up for %s%s%s\n", o->labeler, o->project ? " in " : "",
              o->project ? o->project : "");
      return 0;
    }
    return standing_print(cli, fb);
  }
  static const char *const headers[] = {"CLOSED", "PROJECT", "ITEM", "YOUR_LABEL", "FINAL_LABEL", "RESULT"};
  static const char *const csv_headers[] = {"closed_ms",   "project", "item_id",       "your_label",
                                            "final_label", "correct", "policy_unclear"};
  int csv = cli->format == OUTPUT_CSV;
  if (!csv && fb->count == 0) {
    fprintf(cli->out, "no closed audits for %s%s%s\n", o->labeler, o->project ? " in " : "",
            o->project ? o->project : "");
    if (fb->standing_count == 0) return 0;
    fputc('\n', cli->out);
    return standing_print(cli, fb);
  }
  output_table_t *t = output_table_new(csv ? 7 : 6, csv ? csv_headers : headers);
  if (t == NULL) return -1;
  size_t correct = 0, judged = 0;
  for (size_t i = 0; i < fb->count; i++) {
    const tally_feedback_entry_t *e = &fb->entries[i];
    char closed[32];
    output_time(e->closed_ms, closed, sizeof closed);
    if (csv)
      output_table_cellf(t, "%llu", (unsigned long long)e->closed_ms);
    else
      output_table_cell(t, closed);
    output_table_cell(t, e->project);
    output_table_cell(t, e->item_id);
    output_table_cell(t, e->your_label);
    output_table_cell(t, e->final_label);
    if (csv) {
      output_table_cell(t, e->correct ? "true" : "false");
      output_table_cell(t, e->policy_unclear ? "true" : "false");
    } else {
      output_table_cell(t, e->policy_unclear ? "not counted (policy unclear)" : e->correct ? "correct" : "wrong");
    }
    judged += !e->policy_unclear;
    correct += !e->policy_unclear && e->correct;
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  if (!csv && rc == 0 && judged > 0)
    fprintf(cli->out, "\n%zu of %zu judged correct (%.1f%%)\n", correct, judged, 100.0 * (double)correct / (double)judged);
  if (!csv && rc == 0 && fb->standing_count > 0) {
    fputc('\n', cli->out);
    rc = standing_print(cli, fb);
  }
  return rc;
}

int cmd_feedback(cli_t *cli, int argc, char **argv) {
  feedback_opts_t o;
  int rc = feedback_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_feedback_t *fb = NULL;
  rc = tally_feedback(cli->client, o.labeler, o.project, o.limit, &fb);
  if (rc < 0) return cli_fail(cli, "feedback", rc);
  rc = feedback_print(cli, &o, fb);
  tally_free(fb);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
