/* attribution_test: who was wrong follows from the final label
 * (common/attribution.h), on every shape of verdict, and the values a
 * verdict request may carry. The enum values must be the wire's. */
#include <stddef.h>

#include "attribution.h"
#include "check.h"
#include "tally.pb-c.h"

static void test_derive(void) {
  /* labeler spam, auditor ok */
  CHECK(attribution_derive("spam", "ok", "ok", 0) == ATTRIBUTION_LABELER);
  CHECK(attribution_derive("spam", "ok", "spam", 0) == ATTRIBUTION_AUDITOR);
  CHECK(attribution_derive("spam", "ok", "hate", 0) == ATTRIBUTION_BOTH);
  /* Policy unclear is the lead's to say, whatever the labels. */
  CHECK(attribution_derive("spam", "ok", "ok", 1) == ATTRIBUTION_POLICY_UNCLEAR);
  CHECK(attribution_derive("spam", "ok", "hate", 1) == ATTRIBUTION_POLICY_UNCLEAR);
  /* No disagreement: nobody was wrong. */
  CHECK(attribution_derive("ok", "ok", "ok", 0) == ATTRIBUTION_NONE);
  /* A missing label is one nobody gave: never the final one. */
  CHECK(attribution_derive(NULL, "ok", "ok", 0) == ATTRIBUTION_LABELER);
  CHECK(attribution_derive("ok", NULL, "ok", 0) == ATTRIBUTION_AUDITOR);
  /* Labels are compared exactly (the taxonomy's spelling). */
  CHECK(attribution_derive("Spam", "ok", "spam", 0) == ATTRIBUTION_BOTH);
}

static void test_request(void) {
  CHECK(attribution_request_is_valid(TALLY__ATTRIBUTION__ATTRIBUTION_NONE));
  CHECK(attribution_request_is_valid(TALLY__ATTRIBUTION__ATTRIBUTION_LABELER));
  CHECK(attribution_request_is_valid(TALLY__ATTRIBUTION__ATTRIBUTION_BOTH));
  CHECK(attribution_request_is_valid(TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR));
  CHECK(!attribution_request_is_valid(5));
  CHECK(!attribution_request_is_valid((unsigned)-1));
  CHECK(ATTRIBUTION_LABELER == TALLY__ATTRIBUTION__ATTRIBUTION_LABELER &&
        ATTRIBUTION_AUDITOR == TALLY__ATTRIBUTION__ATTRIBUTION_AUDITOR &&
        ATTRIBUTION_BOTH == TALLY__ATTRIBUTION__ATTRIBUTION_BOTH &&
        ATTRIBUTION_POLICY_UNCLEAR == TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR);
}

int main(void) {
  test_derive();
  test_request();
  return check_summary();
}
