/* client_token_test: lease tokens ("SLOT.LEASE_ID") and the names of
 * stages, priorities and roles (client/lib/names.c). */
#include <string.h>

#include "check.h"
#include "tally.h"

static void test_token_format(void) {
  char buf[TALLY_LEASE_TOKEN_MAX];
  CHECK(tally_lease_token_format(17, 4398046511105ull, buf, sizeof buf) == 0);
  CHECK(strcmp(buf, "17.4398046511105") == 0);
  CHECK(tally_lease_token_format(1023, UINT64_MAX, buf, sizeof buf) == 0);
  CHECK(strcmp(buf, "1023.18446744073709551615") == 0);
  CHECK(tally_lease_token_format(0, 0, buf, sizeof buf) == 0 && strcmp(buf, "0.0") == 0);
  char small[5];
  CHECK(tally_lease_token_format(17, 4398046511105ull, small, sizeof small) == TALLY_E_INVALID_ARGUMENT);
}

static void test_token_parse(void) {
  uint32_t slot = 0;
  uint64_t id = 0;
  CHECK(tally_lease_token_parse("17.4398046511105", &slot, &id) == 0);
  CHECK(slot == 17 && id == 4398046511105ull);
  CHECK(tally_lease_token_parse("1023.18446744073709551615", &slot, &id) == 0);
  CHECK(slot == 1023 && id == UINT64_MAX);
  CHECK(tally_lease_token_parse("0.0", &slot, &id) == 0 && slot == 0 && id == 0);
  /* Round trip. */
  char buf[TALLY_LEASE_TOKEN_MAX];
  for (uint32_t s = 0; s < 1024; s += 97) {
    uint64_t lease = 0x9E3779B97F4A7C15ull * (s + 1);
    tally_lease_token_format(s, lease, buf, sizeof buf);
    CHECK(tally_lease_token_parse(buf, &slot, &id) == 0 && slot == s && id == lease);
  }
  /* Bad tokens leave the outputs alone. */
  static const char *const bad[] = {"",       "17",     "17.",       ".5",        "1024.1",
                                    "17.x",   "17.5x",  "-1.5",      "+1.5",      " 1.5",
                                    "1.5 ",   "1..5",   "1.-5",      "abc",       "17.18446744073709551616",
                                    "99999999999.1", "1,5", "0x1.5", "1.5.6"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    slot = 7;
    id = 7;
    int rc = tally_lease_token_parse(bad[i], &slot, &id);
    CHECK(rc == TALLY_E_INVALID_ARGUMENT && slot == 7 && id == 7);
    if (rc == 0) fprintf(stderr, "  accepted bad token '%s'\n", bad[i]);
  }
}

static void test_names(void) {
  tally_stage_t stage;
  CHECK(tally_stage_parse("audit", &stage) == 0 && stage == TALLY_STAGE_AUDIT);
  CHECK(tally_stage_parse("Adjudicate", &stage) == 0 && stage == TALLY_STAGE_ADJUDICATE);
  CHECK(tally_stage_parse("review", &stage) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(tally_stage_name(TALLY_STAGE_LABEL), "label") == 0);
  CHECK(strcmp(tally_stage_name(9), "unknown") == 0);
  uint32_t p = 9;
  CHECK(tally_priority_parse("emergency", &p) == 0 && p == TALLY_PRIORITY_EMERGENCY);
  CHECK(tally_priority_parse("LOW", &p) == 0 && p == TALLY_PRIORITY_LOW);
  CHECK(tally_priority_parse("2", &p) == 0 && p == 2);
  CHECK(tally_priority_parse("4", &p) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_priority_parse("urgent", &p) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_priority_parse("", &p) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(tally_priority_name(1), "normal") == 0);
  uint32_t roles = 0;
  CHECK(tally_roles_parse("labeler,auditor", &roles) == 0 && roles == (TALLY_ROLE_LABELER | TALLY_ROLE_AUDITOR));
  CHECK(tally_roles_parse(" lead , manager", &roles) == 0 && roles == (TALLY_ROLE_LEAD | TALLY_ROLE_MANAGER));
  CHECK(tally_roles_parse("labeler,,auditor", &roles) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_roles_parse("boss", &roles) == TALLY_E_INVALID_ARGUMENT);
  char buf[64];
  CHECK(tally_roles_format(TALLY_ROLE_LABELER | TALLY_ROLE_MANAGER, buf, sizeof buf) == 15);
  CHECK(strcmp(buf, "labeler,manager") == 0);
  char tiny[4];
  CHECK(tally_roles_format(TALLY_ROLE_AUDITOR, tiny, sizeof tiny) == 7 && strcmp(tiny, "aud") == 0);
  CHECK(strcmp(tally_worker_state_name(TALLY_WORKER_DRAINING), "draining") == 0);
}

int main(void) {
  check_deadline(30, NULL);
  test_token_format();
  test_token_parse();
  test_names();
  return check_summary();
}
