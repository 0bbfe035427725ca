/* cmd_item: `tally item show PROJECT ITEM_ID` — one item's stored state. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char show_help[] =
    "Usage: tally item show PROJECT ITEM_ID\n\n"
    "Shows what the cluster stored for one item: market, priority, content,\n"
    "overlap, the labels received (who, what, when), live leases, when it was\n"
    "ingested and done (JSON: ingested_ms, done_ms, unix ms; done_ms null while\n"
    "not done).\n"
    "CSV has one row per stored label (item columns repeated).\n";

static json_t *item_json(const tally_item_state_t *it) {
  json_t *labels = json_array();
  for (size_t i = 0; i < it->label_count; i++)
    json_array_append_new(labels, json_pack("{s:s, s:s, s:I, s:I}", "labeler", it->labels[i].labeler, "label",
                                            it->labels[i].label, "at_ms", (json_int_t)it->labels[i].at_ms,
                                            "policy_version", (json_int_t)it->labels[i].policy_version));
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:o, s:I, s:o}", "project", it->project, "item_id",
                   it->item_id, "market", it->market, "priority", tally_priority_name(it->priority), "content",
                   it->content, "overlap", (json_int_t)it->overlap, "done", it->done, "live_leases",
                   (json_int_t)it->live_leases, "labels", labels, "ingested_ms", (json_int_t)it->ingested_ms,
                   "done_ms", it->done ? json_integer((json_int_t)it->done_ms) : json_null());
}

static int item_csv(cli_t *cli, const tally_item_state_t *it) {
  static const char *const headers[] = {"project",     "item_id", "market",  "priority", "overlap", "done",
                                        "live_leases", "labeler", "label",   "at_ms",    "content"};
  output_table_t *t = output_table_new(11, headers);
  if (t == NULL) return -1;
  size_t rows = it->label_count ? it->label_count : 1;
  for (size_t i = 0; i < rows; i++) {
    const tally_stored_label_t *l = it->label_count ? &it->labels[i] : NULL;
    output_table_cell(t, it->project);
    output_table_cell(t, it->item_id);
    output_table_cell(t, it->market);
    output_table_cell(t, tally_priority_name(it->priority));
    output_table_cellf(t, "%u", it->overlap);
    output_table_cell(t, it->done ? "true" : "false");
    output_table_cellf(t, "%u", it->live_leases);
    output_table_cell(t, l ? l->labeler : "");
    output_table_cell(t, l ? l->label : "");
    if (l)
      output_table_cellf(t, "%llu", (unsigned long long)l->at_ms);
    else
      output_table_cell(t, "");
    output_table_cell(t, it->content);
  }
  int rc = output_table_print(t, OUTPUT_CSV, cli->out);
  output_table_free(&t);
  return rc;
}

static int item_text(cli_t *cli, const tally_item_state_t *it) {
  FILE *f = cli->out;
  output_field(f, "project:", "%s", it->project);
  output_field(f, "item:", "%s", it->item_id);
  output_field(f, "market:", "%s", it->market);
  output_field(f, "priority:", "%s", tally_priority_name(it->priority));
  output_field(f, "labels:", "%zu of %u", it->label_count, it->overlap);
  char when[32];
  output_time(it->ingested_ms, when, sizeof when);
  output_field(f, "ingested:", "%s", when);
  if (it->done) output_time(it->done_ms, when, sizeof when);
  output_field(f, "done:", "%s%s", it->done ? "yes, " : "no", it->done ? when : "");
  output_field(f, "live leases:", "%u", it->live_leases);
  output_field(f, "content:", "%s", it->content);
  if (it->label_count == 0) return 0;
  static const char *const headers[] = {"LABELER", "LABEL", "AT", "POLICY_VERSION"};
  output_table_t *t = output_table_new(4, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < it->label_count; i++) {
    char at[32];
    output_time(it->labels[i].at_ms, at, sizeof at);
    output_table_cell(t, it->labels[i].labeler);
    output_table_cell(t, it->labels[i].label);
    output_table_cell(t, at);
    output_table_cellf(t, "%u", it->labels[i].policy_version);
  }
  fputc('\n', f);
  int rc = output_table_print(t, OUTPUT_TABLE, f);
  output_table_free(&t);
  return rc;
}

static int item_show(cli_t *cli, int argc, char **argv) {
  const char *args[2] = {NULL, NULL};
  int rc = cli_parse_positionals(cli, "item show", show_help, argc, argv, 2, "PROJECT and ITEM_ID", args);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_item_state_t *it = NULL;
  rc = tally_item_get(cli->client, args[0], args[1], &it);
  if (rc < 0) return cli_fail(cli, "item show", rc);
  if (cli->format == OUTPUT_JSON)
    rc = output_json(item_json(it), cli->out);
  else if (cli->format == OUTPUT_CSV)
    rc = item_csv(cli, it);
  else
    rc = item_text(cli, it);
  tally_free(it);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_item(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {{"show", "show an item's stored state", item_show}};
  return cli_group(cli, "item", subs, sizeof subs / sizeof subs[0], argc, argv);
}
