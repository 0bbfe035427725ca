/* Unit test of coordinator/validate: good and bad names and records. */
#include <math.h>

#include "coordinator_test.h"
#include "tally_error.h"
#include "validate.h"

static char why[512];

#define GOOD(call) CHECK_EQ((call), 0)
#define BAD(call) CHECK_EQ((call), TALLY_E_INVALID_ARGUMENT)

/* A string of n copies of c (static buffer, n < 200). */
static const char *repeat(char c, size_t n) {
  static char buf[200];
  memset(buf, c, n);
  buf[n] = '\0';
  return buf;
}

static void test_names(void) {
  GOOD(validate_project_name("trust-safety.es_LIVE-2", why, sizeof why));
  GOOD(validate_project_name(repeat('p', 64), why, sizeof why));
  BAD(validate_project_name("", why, sizeof why));
  CHECK(strcmp(why, "project name is empty") == 0);
  BAD(validate_project_name(repeat('p', 65), why, sizeof why));
  CHECK(strstr(why, "longer than 64") != NULL);
  BAD(validate_project_name("a b", why, sizeof why));
  CHECK(strstr(why, "'a b'") != NULL);
  BAD(validate_project_name("a/b", why, sizeof why));
  BAD(validate_project_name("caf\xc3\xa9", why, sizeof why));
  CHECK(strstr(why, "caf\\xc3\\xa9") != NULL); /* quoted safely */

  GOOD(validate_market("es-LIVE_1", why, sizeof why));
  GOOD(validate_market(repeat('m', 32), why, sizeof why));
  BAD(validate_market(repeat('m', 33), why, sizeof why));
  BAD(validate_market("es.live", why, sizeof why));
  BAD(validate_market("", why, sizeof why));

  GOOD(validate_labeler_id("ana.garcia@example-1_x", why, sizeof why));
  GOOD(validate_labeler_id(repeat('l', 64), why, sizeof why));
  BAD(validate_labeler_id(repeat('l', 65), why, sizeof why));
  BAD(validate_labeler_id("ana garcia", why, sizeof why));
  BAD(validate_labeler_id("ana+1", why, sizeof why));
  BAD(validate_labeler_id("", why, sizeof why));

  GOOD(validate_endpoint("tcp://127.0.0.1:7401", why, sizeof why));
  BAD(validate_endpoint("", why, sizeof why));
  BAD(validate_endpoint("127.0.0.1:7401", why, sizeof why));
  BAD(validate_endpoint("tcp://host name:1", why, sizeof why));
}

static void test_labels(void) {
  GOOD(validate_label("spam", why, sizeof why));
  GOOD(validate_label("not spam", why, sizeof why));
  GOOD(validate_label("\xe3\x82\xb9\xe3\x83\x91\xe3\x83\xa0", why, sizeof why)); /* スパム */
  /* 64 three-byte characters are 64 characters, not 192. */
  char japanese[64 * 3 + 4] = "";
  for (int i = 0; i < 64; i++) strcat(japanese, "\xe3\x82\xb9");
  GOOD(validate_label(japanese, why, sizeof why));
  strcat(japanese, "\xe3\x82\xb9");
  BAD(validate_label(japanese, why, sizeof why));
  GOOD(validate_label(repeat('x', 64), why, sizeof why));
  BAD(validate_label(repeat('x', 65), why, sizeof why));
  BAD(validate_label("", why, sizeof why));
  BAD(validate_label("tab\there", why, sizeof why));
  CHECK(strstr(why, "control character") != NULL);
  BAD(validate_label("\xc2\x85", why, sizeof why));  /* C1 control NEL */
  BAD(validate_label("\xff", why, sizeof why));      /* not UTF-8 */
  BAD(validate_label("\xc0\xaf", why, sizeof why));  /* overlong */
  BAD(validate_label("\xed\xa0\x80", why, sizeof why)); /* surrogate */
  BAD(validate_label("\xe3\x82", why, sizeof why));  /* truncated */
  BAD(validate_label(" spam", why, sizeof why));
  BAD(validate_label("spam ", why, sizeof why));
}

static void test_project(void) {
  char *labels[] = {"spam", "ok", "hate"};
  char *markets[] = {"es", "jp"};
  Tally__Project p = TALLY__PROJECT__INIT;
  p.name = "moderation";
  p.n_labels = 3, p.labels = labels;
  p.n_markets = 2, p.markets = markets;
  GOOD(validate_project(&p, why, sizeof why));
  CHECK_EQ(p.lease_seconds, 300);
  CHECK_EQ(p.overlap, 1);
  CHECK_EQ(p.sla_seconds, 86400);

  p.lease_seconds = 86400, p.overlap = 16, p.sla_seconds = 60, p.audit_rate = 1.0;
  GOOD(validate_project(&p, why, sizeof why));
  CHECK_EQ(p.lease_seconds, 86400);
  CHECK_EQ(p.overlap, 16);
  CHECK_EQ(p.sla_seconds, 60);

  p.lease_seconds = 86401;
  BAD(validate_project(&p, why, sizeof why));
  p.lease_seconds = 60;
  p.overlap = 17;
  BAD(validate_project(&p, why, sizeof why));
  p.overlap = 2;
  p.audit_rate = 1.5;
  BAD(validate_project(&p, why, sizeof why));
  p.audit_rate = -0.1;
  BAD(validate_project(&p, why, sizeof why));
  p.audit_rate = NAN;
  BAD(validate_project(&p, why, sizeof why));
  p.audit_rate = 0.1;
  GOOD(validate_project(&p, why, sizeof why));

  p.n_labels = 0;
  BAD(validate_project(&p, why, sizeof why));
  CHECK(strcmp(why, "label list is empty") == 0);
  char *dup_labels[] = {"spam", "ok", "spam"};
  p.n_labels = 3, p.labels = dup_labels;
  BAD(validate_project(&p, why, sizeof why));
  CHECK(strcmp(why, "duplicate label 'spam'") == 0);
  p.labels = labels;

  char *many[65];
  char names[65][8];
  for (int i = 0; i < 65; i++) {
    snprintf(names[i], sizeof names[i], "m%d", i);
    many[i] = names[i];
  }
  p.n_markets = 64, p.markets = many;
  GOOD(validate_project(&p, why, sizeof why));
  p.n_markets = 65;
  BAD(validate_project(&p, why, sizeof why));
  CHECK(strstr(why, "too many markets") != NULL);
  p.n_markets = 0;
  BAD(validate_project(&p, why, sizeof why));
  CHECK(strcmp(why, "market list is empty") == 0);
  char *dup_markets[] = {"es", "es"};
  p.n_markets = 2, p.markets = dup_markets;
  BAD(validate_project(&p, why, sizeof why));
  CHECK(strcmp(why, "duplicate market 'es'") == 0);
  char *bad_markets[] = {"es", "j p"};
  p.markets = bad_markets;
  BAD(validate_project(&p, why, sizeof why));
  p.markets = markets;
  p.name = "bad name";
  BAD(validate_project(&p, why, sizeof why));
}

static void test_labeler(void) {
  char *markets[] = {"es", "jp"};
  Tally__Labeler l = TALLY__LABELER__INIT;
  l.id = "ana@example";
  l.roles = TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_AUDITOR;
  l.n_markets = 2, l.markets = markets;
  GOOD(validate_labeler(&l, why, sizeof why));
  l.roles = 15;
  GOOD(validate_labeler(&l, why, sizeof why));
  l.roles = 0;
  BAD(validate_labeler(&l, why, sizeof why));
  l.roles = TALLY__ROLE__ROLE_WORKER; /* a daemon's role, never a person's */
  BAD(validate_labeler(&l, why, sizeof why));
  l.roles = TALLY__ROLE__ROLE_OPERATOR; /* operators need no market */
  l.n_markets = 0;
  GOOD(validate_labeler(&l, why, sizeof why));
  l.public_key = "not a key";
  BAD(validate_labeler(&l, why, sizeof why));
  l.public_key = "";
  l.n_markets = 2;
  l.roles = TALLY__ROLE__ROLE_LABELER;
  l.n_markets = 0;
  BAD(validate_labeler(&l, why, sizeof why));
  CHECK(strstr(why, "no markets") != NULL);
  l.roles = TALLY__ROLE__ROLE_MANAGER;
  GOOD(validate_labeler(&l, why, sizeof why));
  char *dup[] = {"jp", "jp"};
  l.n_markets = 2, l.markets = dup;
  BAD(validate_labeler(&l, why, sizeof why));
  CHECK(strcmp(why, "duplicate market 'jp'") == 0);
  l.markets = markets;
  l.id = "";
  BAD(validate_labeler(&l, why, sizeof why));
}

static void test_audit_policy(void) {
  char why[512];
  char *markets[] = {"es", "jp"};
  Tally__AuditPolicy p = TALLY__AUDIT_POLICY__INIT;
  Tally__MarketRate es = TALLY__MARKET_RATE__INIT, jp = TALLY__MARKET_RATE__INIT;
  Tally__MarketRate *rates[] = {&es, &jp};
  es.market = "es", es.rate = 0.5;
  jp.market = "jp", jp.rate = 1;
  GOOD(validate_audit_policy(&p, markets, 2, why, sizeof why)); /* all zero */
  p.rate = 1, p.ramp_rate = 1, p.ramp_target = 1, p.ramp_audits = AUDIT_MAX_RAMP_AUDITS;
  p.n_market_rates = 2, p.market_rates = rates;
  GOOD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  p.ramp_audits++;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strstr(why, "audit.ramp_audits") != NULL);
  p.ramp_audits = 0, p.rate = NAN;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strstr(why, "audit.rate") != NULL);
  p.rate = 0.1, p.ramp_rate = -0.5;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strstr(why, "audit.ramp_rate") != NULL);
  p.ramp_rate = 0, p.ramp_target = 1.5;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strstr(why, "audit.ramp_target") != NULL);
  p.ramp_target = 0, p.gold_rate = AUDIT_MAX_GOLD_RATE;
  GOOD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  p.gold_rate = 0.51;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strstr(why, "audit.gold_rate") != NULL);
  p.gold_rate = NAN;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  p.gold_rate = -0.01;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  p.gold_rate = 0, jp.rate = 1.0001;
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strstr(why, "market 'jp'") != NULL);
  jp.rate = 0;
  CHECK_EQ(validate_audit_policy(&p, markets, 1, why, sizeof why), TALLY_E_UNKNOWN_MARKET);
  CHECK(strcmp(why, "audit.market_rates: 'jp' is not a market of the project") == 0);
  jp.market = "es";
  BAD(validate_audit_policy(&p, markets, 2, why, sizeof why));
  CHECK(strcmp(why, "audit.market_rates: duplicate market 'es'") == 0);
}

/* labeler_update: the merged result, and every refusal. */
static void test_labeler_update(void) {
  char *current_markets[] = {"es", "ja"};
  Tally__Labeler current = TALLY__LABELER__INIT;
  current.id = "ana";
  current.roles = TALLY__ROLE__ROLE_LABELER;
  current.n_markets = 2, current.markets = current_markets;
  char *markets[VALIDATE_MAX_LIST];
  Tally__Labeler out;
  Tally__LabelerUpdate u = TALLY__LABELER_UPDATE__INIT;

  /* Nothing asked: unchanged. */
  GOOD(validate_labeler_update(&current, &u, markets, &out, why, sizeof why));
  CHECK_EQ(out.roles, TALLY__ROLE__ROLE_LABELER);
  CHECK_EQ(out.n_markets, 2);

  /* Add ko and ja (present: no-op), remove es; roles replaced. */
  char *add[] = {"ko", "ja"}, *remove[] = {"es"};
  u.n_add_markets = 2, u.add_markets = add;
  u.n_remove_markets = 1, u.remove_markets = remove;
  u.set_roles = TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_AUDITOR;
  GOOD(validate_labeler_update(&current, &u, markets, &out, why, sizeof why));
  CHECK_EQ(out.roles, 3);
  CHECK_EQ(out.n_markets, 2);
  CHECK(strcmp(out.markets[0], "ja") == 0 && strcmp(out.markets[1], "ko") == 0);
  CHECK(strcmp(out.id, "ana") == 0);

  /* A market both added and removed. */
  char *both[] = {"ko"};
  Tally__LabelerUpdate clash = TALLY__LABELER_UPDATE__INIT;
  clash.n_add_markets = 1, clash.add_markets = both;
  clash.n_remove_markets = 1, clash.remove_markets = both;
  BAD(validate_labeler_update(&current, &clash, markets, &out, why, sizeof why));
  CHECK(strstr(why, "both added and removed") != NULL);

  /* A non-manager left without markets; a manager may be. */
  Tally__LabelerUpdate none = TALLY__LABELER_UPDATE__INIT;
  none.n_remove_markets = 2, none.remove_markets = current_markets;
  BAD(validate_labeler_update(&current, &none, markets, &out, why, sizeof why));
  CHECK(strstr(why, "no markets") != NULL);
  none.set_roles = TALLY__ROLE__ROLE_MANAGER;
  GOOD(validate_labeler_update(&current, &none, markets, &out, why, sizeof why));
  CHECK_EQ(out.n_markets, 0);

  /* Bad roles, bad or duplicate market names. */
  Tally__LabelerUpdate bad = TALLY__LABELER_UPDATE__INIT;
  bad.set_roles = TALLY__ROLE__ROLE_COORDINATOR;
  BAD(validate_labeler_update(&current, &bad, markets, &out, why, sizeof why));
  bad.set_roles = 0;
  char *dotted[] = {"es.live"}, *twice[] = {"ko", "ko"};
  bad.n_add_markets = 1, bad.add_markets = dotted;
  BAD(validate_labeler_update(&current, &bad, markets, &out, why, sizeof why));
  bad.n_add_markets = 2, bad.add_markets = twice;
  BAD(validate_labeler_update(&current, &bad, markets, &out, why, sizeof why));
  CHECK(strstr(why, "duplicate") != NULL);
  bad.n_add_markets = 0;
  bad.n_remove_markets = 1, bad.remove_markets = dotted;
  BAD(validate_labeler_update(&current, &bad, markets, &out, why, sizeof why));

  /* At most VALIDATE_MAX_LIST markets. */
  static char names[VALIDATE_MAX_LIST][8];
  char *many[VALIDATE_MAX_LIST];
  for (size_t i = 0; i < VALIDATE_MAX_LIST; i++) {
    snprintf(names[i], sizeof names[i], "m%zu", i);
    many[i] = names[i];
  }
  Tally__LabelerUpdate full = TALLY__LABELER_UPDATE__INIT;
  full.n_add_markets = VALIDATE_MAX_LIST - 2, full.add_markets = many;
  GOOD(validate_labeler_update(&current, &full, markets, &out, why, sizeof why));
  CHECK_EQ(out.n_markets, VALIDATE_MAX_LIST);
  full.n_add_markets = VALIDATE_MAX_LIST - 1;
  BAD(validate_labeler_update(&current, &full, markets, &out, why, sizeof why));
  CHECK(strstr(why, "too many markets") != NULL);
}

static void test_quote(void) {
  char out[300];
  validate_quote("plain", out, sizeof out);
  CHECK(strcmp(out, "plain") == 0);
  validate_quote("a\nb\x01", out, sizeof out);
  CHECK(strcmp(out, "a\\x0ab\\x01") == 0);
  validate_quote(repeat('q', 100), out, sizeof out);
  CHECK_EQ(strlen(out), 64 + 3);
  CHECK(strcmp(out + 64, "...") == 0);
  validate_quote(repeat('q', 100), out, 10);
  CHECK(strlen(out) < 10);
}

int main(void) {
  test_deadline(20);
  test_names();
  test_labels();
  test_project();
  test_labeler();
  test_audit_policy();
  test_labeler_update();
  test_quote();
  return test_report();
}
