/* client_jsonl_test: validation of ingest lines (client/cli/jsonl.c). */
#include <string.h>

#include "check.h"
#include "jsonl.h"
#include "tally.h"

static int parse(const char *line, jsonl_item_t *item, char *reason) {
  return jsonl_parse_item(line, strlen(line), item, reason, 256);
}

static void test_good_lines(void) {
  jsonl_item_t it;
  char reason[256];
  CHECK(parse("{\"id\": \"a1\", \"market\": \"es\", \"content\": \"hola\"}\n", &it, reason) == JSONL_ITEM);
  CHECK(it.id && strcmp(it.id, "a1") == 0 && strcmp(it.market, "es") == 0);
  CHECK(it.priority == TALLY_PRIORITY_NORMAL && strcmp(it.content, "hola") == 0 && it.gold_label == NULL);
  jsonl_item_clear(&it);

  CHECK(parse("{\"id\":\"a2\",\"market\":\"ja\",\"priority\":3,\"gold_label\":\"spam\"}\r\n", &it, reason) ==
        JSONL_ITEM);
  CHECK(it.priority == 3 && strcmp(it.gold_label, "spam") == 0 && strcmp(it.content, "") == 0);
  jsonl_item_clear(&it);

  CHECK(parse("{\"id\":\"a3\",\"market\":\"ko\",\"priority\":\"emergency\",\"content\":{\"sim_truth\":\"ok\","
              "\"n\":[1,2]},\"extra\":true}",
              &it, reason) == JSONL_ITEM);
  CHECK(it.priority == TALLY_PRIORITY_EMERGENCY);
  CHECK(strcmp(it.content, "{\"sim_truth\":\"ok\",\"n\":[1,2]}") == 0);
  jsonl_item_clear(&it);

  CHECK(parse("{\"id\":\"a4\",\"market\":\"es\",\"content\":42,\"priority\":null,\"gold_label\":null}", &it,
              reason) == JSONL_ITEM);
  CHECK(strcmp(it.content, "42") == 0 && it.priority == TALLY_PRIORITY_NORMAL && it.gold_label == NULL);
  jsonl_item_clear(&it);

  CHECK(parse("{\"id\":\"ñ-5\",\"market\":\"es\",\"priority\":\"Low\",\"content\":\"日本語\"}", &it, reason) ==
        JSONL_ITEM);
  CHECK(it.priority == TALLY_PRIORITY_LOW && strcmp(it.content, "日本語") == 0 && strcmp(it.id, "ñ-5") == 0);
  jsonl_item_clear(&it);
  jsonl_item_clear(&it); /* safe twice */
}

static void test_blank_lines(void) {
  jsonl_item_t it;
  char reason[256];
  CHECK(parse("", &it, reason) == JSONL_BLANK);
  CHECK(parse("\n", &it, reason) == JSONL_BLANK);
  CHECK(parse("  \t \r\n", &it, reason) == JSONL_BLANK);
}

static void expect_invalid(const char *line, const char *reason_part) {
  jsonl_item_t it;
  char reason[256];
  int rc = parse(line, &it, reason);
  CHECK(rc == JSONL_INVALID);
  CHECK(it.id == NULL && it.market == NULL && it.content == NULL);
  CHECK(strstr(reason, reason_part) != NULL);
  if (rc != JSONL_INVALID || strstr(reason, reason_part) == NULL)
    fprintf(stderr, "  line %s: got %d '%s', wanted '%s'\n", line, rc, reason, reason_part);
}

static void test_bad_lines(void) {
  expect_invalid("not json", "malformed JSON");
  expect_invalid("{\"id\": \"a\", \"market\": ", "malformed JSON");
  expect_invalid("{\"id\":\"a\",\"market\":\"es\"} trailing", "malformed JSON");
  expect_invalid("{\"id\":\"a\",\"id\":\"b\",\"market\":\"es\"}", "malformed JSON");
  expect_invalid("[1, 2]", "not a JSON object");
  expect_invalid("\"just a string\"", "not a JSON object");
  expect_invalid("{\"market\":\"es\"}", "missing \"id\"");
  expect_invalid("{\"id\":\"a\"}", "missing \"market\"");
  expect_invalid("{\"id\":null,\"market\":\"es\"}", "missing \"id\"");
  expect_invalid("{\"id\":7,\"market\":\"es\"}", "\"id\" must be a string");
  expect_invalid("{\"id\":\"\",\"market\":\"es\"}", "\"id\" is empty");
  expect_invalid("{\"id\":\"a\",\"market\":[\"es\"]}", "\"market\" must be a string");
  expect_invalid("{\"id\":\"a\",\"market\":\"es\",\"priority\":4}", "bad \"priority\"");
  expect_invalid("{\"id\":\"a\",\"market\":\"es\",\"priority\":-1}", "bad \"priority\"");
  expect_invalid("{\"id\":\"a\",\"market\":\"es\",\"priority\":\"urgent\"}", "bad \"priority\"");
  expect_invalid("{\"id\":\"a\",\"market\":\"es\",\"priority\":1.5}", "bad \"priority\"");
  expect_invalid("{\"id\":\"a\",\"market\":\"es\",\"gold_label\":3}", "\"gold_label\" must be a string");
}

static void test_length_not_nul(void) {
  /* Only `len` bytes count: the rest of the buffer is not part of the line. */
  const char *buf = "{\"id\":\"a\",\"market\":\"es\"}GARBAGE";
  jsonl_item_t it;
  char reason[64];
  CHECK(jsonl_parse_item(buf, 24, &it, reason, sizeof reason) == JSONL_ITEM);
  jsonl_item_clear(&it);
  /* A tiny reason buffer truncates, never overflows. */
  char tiny[8];
  CHECK(jsonl_parse_item("nope", 4, &it, tiny, sizeof tiny) == JSONL_INVALID && strlen(tiny) == 7);
}

int main(void) {
  check_deadline(30, NULL);
  test_good_lines();
  test_blank_lines();
  test_bad_lines();
  test_length_not_nul();
  return check_summary();
}
