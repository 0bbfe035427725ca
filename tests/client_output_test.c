/* client_output_test: CSV quoting (RFC 4180), CSV injection (OWASP),
 * aligned tables with escaped control characters, and the small formatting
 * helpers of client/cli/output.c. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "output.h"

/* Runs fn on a memory stream and returns what it wrote (caller frees). */
static char *capture_csv_field(const char *field) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  output_csv_field(f, field);
  fclose(f);
  return buf;
}

static void expect_field(const char *in, const char *want) {
  char *got = capture_csv_field(in);
  CHECK(strcmp(got, want) == 0);
  if (strcmp(got, want) != 0) fprintf(stderr, "  csv(%s) = [%s], want [%s]\n", in, got, want);
  free(got);
}

static void test_csv_quoting(void) {
  expect_field("plain", "plain");
  expect_field("", "");
  expect_field(NULL, "");
  expect_field("with space", "with space");
  expect_field("a,b", "\"a,b\"");
  expect_field("say \"hi\"", "\"say \"\"hi\"\"\"");
  expect_field("\"", "\"\"\"\"");
  expect_field("two\nlines", "\"two\nlines\"");
  expect_field("cr\rhere", "\"cr\rhere\"");
  expect_field("日本語", "日本語");
}

static void test_csv_table(void) {
  static const char *const headers[] = {"id", "labels", "note"};
  output_table_t *t = output_table_new(3, headers);
  output_table_cell(t, "1");
  output_table_cell(t, "ok,spam");
  output_table_cell(t, "he said \"no\"");
  output_table_cellf(t, "%d", 2);
  output_table_cell(t, "abuse");
  output_table_cell(t, NULL);
  CHECK(output_table_rows(t) == 2);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(output_table_print(t, OUTPUT_CSV, f) == 0);
  fclose(f);
  const char *want = "id,labels,note\r\n1,\"ok,spam\",\"he said \"\"no\"\"\"\r\n2,abuse,\r\n";
  CHECK(strcmp(buf, want) == 0);
  if (strcmp(buf, want) != 0) fprintf(stderr, "  got [%s]\n", buf);
  free(buf);
  output_table_free(&t);
  output_table_free(&t); /* safe twice */
  CHECK(t == NULL);
}

static void test_text_table(void) {
  static const char *const headers[] = {"NAME", "MARKET", "N"};
  output_table_t *t = output_table_new(3, headers);
  output_table_cell(t, "ana");
  output_table_cell(t, "es");
  output_table_cell(t, "10");
  output_table_cell(t, "jōsé");
  output_table_cell(t, "ja");
  output_table_cell(t, "7");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(output_table_print(t, OUTPUT_TABLE, f) == 0);
  fclose(f);
  /* Columns padded by display width (code points), two spaces apart; the
   * last column is not padded. */
  const char *want =
      "NAME  MARKET  N\n"
      "ana   es      10\n"
      "jōsé  ja      7\n";
  CHECK(strcmp(buf, want) == 0);
  if (strcmp(buf, want) != 0) fprintf(stderr, "  got [%s]\n", buf);
  free(buf);
  output_table_free(&t);
  /* An empty table prints its header. */
  t = output_table_new(3, headers);
  f = open_memstream(&buf, &len);
  output_table_print(t, OUTPUT_CSV, f);
  fclose(f);
  CHECK(strcmp(buf, "NAME,MARKET,N\r\n") == 0);
  free(buf);
  output_table_free(&t);
}


/* OWASP CSV injection: cells starting with = + - @ tab CR become quoted
 * text with a leading single quote; whole numbers stay numbers. */
static void test_csv_injection(void) {
  expect_field("=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\"");
  expect_field("=1+2", "\"'=1+2\"");
  expect_field("+1+1", "\"'+1+1\"");
  expect_field("-1+1", "\"'-1+1\"");
  expect_field("@SUM(A1:A2)", "\"'@SUM(A1:A2)\"");
  expect_field("\tx", "\"'\tx\"");
  expect_field("\rx", "\"'\rx\"");
  expect_field("=HYPERLINK(\"http://x\",\"a\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"a\"\")\"");
  expect_field("-", "\"'-\"");
  expect_field("-inf", "\"'-inf\"");
  /* Numbers the program prints are left alone. */
  expect_field("-0.25", "-0.25");
  expect_field("+3", "+3");
  expect_field("-1e-05", "-1e-05");
  expect_field("-.5", "-.5");
  expect_field("0.75", "0.75");
  /* Not at the start: nothing to neutralise. */
  expect_field("a=b", "a=b");
  CHECK(output_csv_is_number("-12.5E+3"));
  CHECK(!output_csv_is_number("-12.5E"));
  CHECK(!output_csv_is_number("-."));
  CHECK(!output_csv_is_number("1-2"));
  CHECK(!output_csv_is_number(""));
  /* A table's cells get the same rule. */
  static const char *const headers[] = {"item", "kappa"};
  output_table_t *t = output_table_new(2, headers);
  output_table_cell(t, "=2+5");
  output_table_cell(t, "-0.25");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(output_table_print(t, OUTPUT_CSV, f) == 0);
  fclose(f);
  CHECK(strcmp(buf, "item,kappa\r\n\"'=2+5\",-0.25\r\n") == 0);
  free(buf);
  output_table_free(&t);
}

/* A table for a terminal never carries raw control characters or invalid
 * UTF-8 from its cells, and widths follow what is shown. */
static void test_text_table_escapes(void) {
  static const char *const headers[] = {"ID", "N"};
  output_table_t *t = output_table_new(2, headers);
  output_table_cell(t, "a\x1b[2Jb");
  output_table_cell(t, "1");
  output_table_cell(t, "x\xff\ny");
  output_table_cell(t, "2");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(output_table_print(t, OUTPUT_TABLE, f) == 0);
  fclose(f);
  const char *want =
      "ID         N\n"
      "a\\x1b[2Jb  1\n"
      "x\xEF\xBF\xBD\\x0ay    2\n";
  CHECK(strcmp(buf, want) == 0);
  if (strcmp(buf, want) != 0) fprintf(stderr, "  got [%s]\n", buf);
  CHECK(strchr(buf, '\x1b') == NULL);
  free(buf);
  output_table_free(&t);
  /* output_field too (an item's content). */
  f = open_memstream(&buf, &len);
  output_field(f, "content:", "%s", "bell\a and \x1b]0;title\a");
  fclose(f);
  CHECK(strchr(buf, '\a') == NULL && strchr(buf, '\x1b') == NULL);
  CHECK(strstr(buf, "bell\\x07") != NULL);
  free(buf);
  char safe[16];
  /* A lone 0x9b (8-bit CSI) is invalid UTF-8: replaced; U+009B is escaped. */
  CHECK(strcmp(output_safe("\x9b" "31m", safe, sizeof safe), "\xEF\xBF\xBD" "31m") == 0);
  CHECK(strstr(output_safe("\xc2\x9b", safe, sizeof safe), "\\x9b") != NULL);
}

static void test_helpers(void) {
  output_format_t fmt;
  CHECK(output_format_parse("json", &fmt) == 0 && fmt == OUTPUT_JSON);
  CHECK(output_format_parse("csv", &fmt) == 0 && fmt == OUTPUT_CSV);
  CHECK(output_format_parse("table", &fmt) == 0 && fmt == OUTPUT_TABLE);
  CHECK(output_format_parse("yaml", &fmt) == -1);
  const char *v[] = {"a", "b", "c"};
  char *joined = output_join(v, 3, ", ");
  CHECK(strcmp(joined, "a, b, c") == 0);
  free(joined);
  joined = output_join(v, 0, ",");
  CHECK(strcmp(joined, "") == 0);
  free(joined);
  char buf[64];
  output_time(0, buf, sizeof buf);
  CHECK(strcmp(buf, "-") == 0);
  output_time(1700000000123ull, buf, sizeof buf);
  CHECK(strcmp(buf, "2023-11-14T22:13:20Z") == 0);
  output_duration(850, buf, sizeof buf);
  CHECK(strcmp(buf, "850ms") == 0);
  output_duration(12345, buf, sizeof buf);
  CHECK(strcmp(buf, "12.3s") == 0);
  output_duration(303000, buf, sizeof buf);
  CHECK(strcmp(buf, "5m03s") == 0);
  output_duration(7500000, buf, sizeof buf);
  CHECK(strcmp(buf, "2h05m") == 0);
  /* One JSON document, newline-terminated. */
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  CHECK(output_json(json_pack("{s:o}", "task", json_null()), f) == 0);
  fclose(f);
  json_t *back = json_loads(out, 0, NULL);
  CHECK(back && json_is_null(json_object_get(back, "task")) && out[len - 1] == '\n');
  json_decref(back);
  free(out);
}

int main(void) {
  check_deadline(30, NULL);
  test_csv_quoting();
  test_csv_table();
  test_text_table();
  test_csv_injection();
  test_text_table_escapes();
  test_helpers();
  return check_summary();
}
