/* ident_test: the identifier rule (UTF-8, control characters, length) and
 * the sanitizer used for error messages, log lines and terminals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ident.h"
#include "tally_error.h"

static int ok(const char *value, size_t max) { return ident_check("item id", value, max, NULL, 0) == 0; }

static void test_check(void) {
  char why[512];
  CHECK(ok("item-1", 256));
  CHECK(ok("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 256)); /* é € 😀 */
  CHECK(!ok("", 256));
  /* Length in bytes: 256 is fine, 257 is not. */
  char long_id[300];
  memset(long_id, 'a', 257);
  long_id[257] = '\0';
  CHECK(!ok(long_id, 256));
  long_id[256] = '\0';
  CHECK(ok(long_id, 256));
  CHECK(!ok("abcdef", 5));
  /* Control characters: C0, DEL, C1 (U+0085 is C2 85). */
  CHECK(!ok("a\tb", 256));
  CHECK(!ok("a\nb", 256));
  CHECK(!ok("\x1b[31mred", 256));
  CHECK(!ok("a\x7f", 256));
  CHECK(!ok("a\xC2\x85", 256));
  CHECK(!ok("a\xC2\x9F", 256));
  CHECK(ok("a\xC2\xA0", 256)); /* U+00A0 is not a control character */
  /* Invalid UTF-8: stray continuation, overlong, surrogate, above U+10FFFF,
   * truncated, a byte never valid. */
  CHECK(!ok("a\x80", 256));
  CHECK(!ok("\xC0\xAF", 256));
  CHECK(!ok("\xED\xA0\x80", 256));
  CHECK(!ok("\xF4\x90\x80\x80", 256));
  CHECK(!ok("ab\xE2\x82", 256));
  CHECK(!ok("\xFF", 256));
  /* The reason names the field and never carries the bad bytes. */
  CHECK(ident_check("item id", "x\xFF\x1b", 256, why, sizeof why) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "item id") != NULL && strstr(why, "UTF-8") != NULL);
  CHECK(strchr(why, '\x1b') == NULL && strchr(why, '\xFF') == NULL);
  CHECK(ident_check("market", "a\x1b", 64, why, sizeof why) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "control character") != NULL && strstr(why, "\\x1b") != NULL);
}

/* True when s is valid UTF-8 without control characters. */
static int clean(const char *s) { return ident_check("text", s, strlen(s) + 1, NULL, 0) == 0 || s[0] == '\0'; }

static void test_sanitize(void) {
  char out[64];
  ident_sanitize("plain text", 0, out, sizeof out);
  CHECK(strcmp(out, "plain text") == 0);
  ident_sanitize("a\x1b[2Jb", 0, out, sizeof out);
  CHECK(strcmp(out, "a\\x1b[2Jb") == 0);
  ident_sanitize("bad\xFFhere", 0, out, sizeof out);
  CHECK(strcmp(out, "bad\xEF\xBF\xBDhere") == 0);
  ident_sanitize("c1\xC2\x9B", 0, out, sizeof out);
  CHECK(strcmp(out, "c1\\x9b") == 0);
  ident_sanitize("caf\xC3\xA9", 0, out, sizeof out);
  CHECK(strcmp(out, "caf\xC3\xA9") == 0);
  /* A cut by max_bytes is marked. */
  ident_sanitize("abcdefgh", 4, out, sizeof out);
  CHECK(strcmp(out, "abcd...") == 0);
  /* A cut by the output size never splits a character, and is marked. */
  char small[8];
  ident_sanitize("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 0, small, sizeof small);
  CHECK(strcmp(small, "\xE2\x82\xAC...") == 0);
  CHECK(clean(small));
  ident_sanitize("abcdefg", 0, small, sizeof small); /* fits exactly */
  CHECK(strcmp(small, "abcdefg") == 0);
  /* A sequence cut in the middle (as "%.64s" may do) is replaced. */
  ident_sanitize("x\xE2\x82", 0, out, sizeof out);
  CHECK(strcmp(out, "x\xEF\xBF\xBD\xEF\xBF\xBD") == 0);
  /* Every byte string comes out clean: all 2-byte inputs. */
  int all_clean = 1;
  for (int a = 1; a < 256; a++)
    for (int b = 1; b < 256; b++) {
      char in[3] = {(char)a, (char)b, 0};
      ident_sanitize(in, 0, out, sizeof out);
      if (!clean(out)) all_clean = 0;
    }
  CHECK(all_clean);
  /* The dup form keeps NULs visible and never cuts. */
  char *dup = ident_sanitize_dup("a\0b\n", 4);
  CHECK(dup != NULL && strcmp(dup, "a\\x00b\\x0a") == 0);
  free(dup);
}

int main(void) {
  check_deadline(30, NULL);
  test_check();
  test_sanitize();
  return check_summary();
}
