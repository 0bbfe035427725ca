/* access_test: the role table and the identity rules of common/access.c.
 *
 * 1. docs/SECURITY.md's table of which role may send which request agrees
 *    with access_roles_for(), row for row, and every request body of the
 *    envelope is in it (a new request without a table entry fails here).
 * 2. access_check(): role refusals, acting_for (gateway only), person
 *    fields filled with the caller, refused when naming someone else except
 *    for a gateway, and for feedback a lead or manager; replies refused as
 *    UNKNOWN_TYPE; the insecure anonymous caller.
 *
 * Usage: access_test SECURITY_MD
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "check.h"
#include "tally_error.h"

/* Reads the table rows "| `name` | roles |" of the file into a lookup. */
typedef struct {
  char name[64];
  uint32_t roles;
} doc_row_t;

static size_t read_doc_table(const char *path, doc_row_t *rows, size_t max) {
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (f == NULL) return 0;
  char line[512];
  size_t n = 0;
  int in_table = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strstr(line, "| request | roles that may send it |") != NULL) {
      in_table = 1;
      continue;
    }
    if (!in_table) continue;
    if (strncmp(line, "| ---", 5) == 0) continue;
    if (strncmp(line, "| `", 3) != 0) break; /* end of the table */
    char name[64], roles[256];
    if (sscanf(line, "| `%63[^`]` | %255[^ |] |", name, roles) != 2) {
      fprintf(stderr, "FAIL: cannot read table row: %s", line);
      check_failed++;
      continue;
    }
    CHECK(n < max);
    if (n >= max) break;
    snprintf(rows[n].name, sizeof rows[n].name, "%s", name);
    CHECK(access_roles_parse(roles, &rows[n].roles) == 0);
    n++;
  }
  fclose(f);
  return n;
}

static void test_table(const char *path) {
  doc_row_t rows[128];
  size_t n = read_doc_table(path, rows, 128);
  CHECK(n >= 30);
  const ProtobufCMessageDescriptor *d = &tally__envelope__descriptor;
  size_t requests = 0;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
    uint32_t roles = access_roles_for((Tally__Envelope__BodyCase)f->id);
    size_t at = 0;
    while (at < n && strcmp(rows[at].name, f->name) != 0) at++;
    if (roles == 0) {
      /* Not a request: must be a reply or a message nobody sends. */
      if (at != n) fprintf(stderr, "FAIL: %s is in the table but not a request\n", f->name);
      CHECK(at == n);
      continue;
    }
    requests++;
    if (at == n) fprintf(stderr, "FAIL: request %s is missing from docs/SECURITY.md\n", f->name);
    CHECK(at < n);
    if (at < n && rows[at].roles != roles) {
      char a[128], b[128];
      fprintf(stderr, "FAIL: %s: docs say %s, the code %s\n", f->name,
              access_roles_text(rows[at].roles, a, sizeof a), access_roles_text(roles, b, sizeof b));
      check_failed++;
    }
  }
  CHECK(requests == n);
  /* Spot checks of what the blind depends on. */
  CHECK(!(access_roles_for(TALLY__ENVELOPE__BODY_STATUS) & TALLY__ROLE__ROLE_LABELER));
  CHECK(!(access_roles_for(TALLY__ENVELOPE__BODY_ITEM_GET) & TALLY__ROLE__ROLE_AUDITOR));
  CHECK(!(access_roles_for(TALLY__ENVELOPE__BODY_ITEM_GET) & TALLY__ROLE__ROLE_LEAD));
  CHECK(!(access_roles_for(TALLY__ENVELOPE__BODY_EXPORT_REQUEST) & TALLY__ROLE__ROLE_AUDITOR));
  CHECK(!(access_roles_for(TALLY__ENVELOPE__BODY_REPORT_REQUEST) & TALLY__ROLE__ROLE_LABELER));
  CHECK(access_roles_for(TALLY__ENVELOPE__BODY_WORKER_REGISTER) == TALLY__ROLE__ROLE_WORKER);
  CHECK(access_roles_for(TALLY__ENVELOPE__BODY_ACK) == 0);
}

/* ------------------------------------------------------------ access_check */

static const identity_t people[] = {
    {"ana", TALLY__ROLE__ROLE_LABELER, 1},
    {"aud", TALLY__ROLE__ROLE_AUDITOR, 1},
    {"lea", TALLY__ROLE__ROLE_LEAD, 1},
    {"max", TALLY__ROLE__ROLE_MANAGER, 1},
    {"ops", TALLY__ROLE__ROLE_OPERATOR, 1},
    {"web", TALLY__ROLE__ROLE_GATEWAY, 1},
};

static int find(void *user, const char *id, identity_t *out) {
  (void)user;
  for (size_t i = 0; i < sizeof people / sizeof people[0]; i++)
    if (strcmp(people[i].id, id) == 0) {
      *out = people[i];
      return 1;
    }
  return 0;
}

static const identity_t *person(const char *id) {
  for (size_t i = 0; i < sizeof people / sizeof people[0]; i++)
    if (strcmp(people[i].id, id) == 0) return &people[i];
  return NULL;
}

/* An envelope of body `body` whose person field (if any) is `labeler`,
 * heap-allocated the way protobuf-c frees it. */
typedef struct {
  Tally__Envelope env;
  Tally__LeaseRequest lease;
  Tally__FeedbackRequest feedback;
  Tally__StatusRequest status;
  Tally__Ack ack;
} request_t;

static void request_init(request_t *r, Tally__Envelope__BodyCase body, const char *labeler,
                         const char *acting_for) {
  memset(r, 0, sizeof *r);
  tally__envelope__init(&r->env);
  tally__lease_request__init(&r->lease);
  tally__feedback_request__init(&r->feedback);
  tally__status_request__init(&r->status);
  tally__ack__init(&r->ack);
  r->env.body_case = body;
  r->env.acting_for = (char *)(acting_for ? acting_for : "");
  r->lease.labeler = labeler ? strdup(labeler) : (char *)protobuf_c_empty_string;
  r->feedback.labeler = labeler ? strdup(labeler) : (char *)protobuf_c_empty_string;
  if (body == TALLY__ENVELOPE__BODY_LEASE) r->env.lease = &r->lease;
  if (body == TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST) r->env.feedback_request = &r->feedback;
  if (body == TALLY__ENVELOPE__BODY_STATUS) r->env.status = &r->status;
  if (body == TALLY__ENVELOPE__BODY_ACK) r->env.ack = &r->ack;
}

static void request_clear(request_t *r) {
  if (r->lease.labeler != protobuf_c_empty_string) free(r->lease.labeler);
  if (r->feedback.labeler != protobuf_c_empty_string) free(r->feedback.labeler);
}

static int check_as(const char *who, Tally__Envelope__BodyCase body, const char *labeler,
                    const char *acting_for, identity_t *effective, char *filled, size_t size) {
  request_t r;
  request_init(&r, body, labeler, acting_for);
  char why[512];
  int rc = access_check(person(who), &r.env, find, NULL, effective, why, sizeof why);
  if (filled) snprintf(filled, size, "%s", body == TALLY__ENVELOPE__BODY_LEASE ? r.lease.labeler : r.feedback.labeler);
  request_clear(&r);
  return rc;
}

static void test_check(void) {
  identity_t eff;
  char filled[128];
  /* A labeler leases as themselves: field filled. */
  CHECK(check_as("ana", TALLY__ENVELOPE__BODY_LEASE, NULL, NULL, &eff, filled, sizeof filled) == 0);
  CHECK(strcmp(filled, "ana") == 0 && strcmp(eff.id, "ana") == 0);
  CHECK(check_as("ana", TALLY__ENVELOPE__BODY_LEASE, "ana", NULL, &eff, NULL, 0) == 0);
  /* Impersonation: a labeler naming someone else. */
  CHECK(check_as("ana", TALLY__ENVELOPE__BODY_LEASE, "aud", NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  CHECK(check_as("ana", TALLY__ENVELOPE__BODY_LEASE, NULL, "aud", &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  /* A manager cannot lease at all, nor act for someone. */
  CHECK(check_as("max", TALLY__ENVELOPE__BODY_LEASE, NULL, NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  CHECK(check_as("max", TALLY__ENVELOPE__BODY_LEASE, "ana", NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  /* A gateway acts for people: by acting_for (checked as them) or by field. */
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_LEASE, "ana", "ana", &eff, NULL, 0) == 0);
  CHECK(strcmp(eff.id, "ana") == 0 && eff.roles == TALLY__ROLE__ROLE_LABELER);
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_LEASE, "ana", NULL, &eff, NULL, 0) == 0);
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_STATUS, NULL, "max", &eff, NULL, 0) == 0);
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_STATUS, NULL, "ana", &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED); /* as ana, status is not allowed */
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_STATUS, NULL, "nobody", &eff, NULL, 0) ==
        TALLY_E_UNKNOWN_LABELER);
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_STATUS, NULL, NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED); /* the gateway itself is no manager */
  /* Acting for someone while naming a third person in the field. */
  CHECK(check_as("web", TALLY__ENVELOPE__BODY_LEASE, "aud", "ana", &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  /* Status: labelers and auditors are refused (queue depths). */
  CHECK(check_as("ana", TALLY__ENVELOPE__BODY_STATUS, NULL, NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  CHECK(check_as("aud", TALLY__ENVELOPE__BODY_STATUS, NULL, NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  CHECK(check_as("lea", TALLY__ENVELOPE__BODY_STATUS, NULL, NULL, &eff, NULL, 0) == 0);
  /* Feedback: one's own; a lead or manager may read a labeler's. */
  CHECK(check_as("ana", TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST, NULL, NULL, &eff, filled,
                 sizeof filled) == 0);
  CHECK(strcmp(filled, "ana") == 0);
  CHECK(check_as("aud", TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST, "ana", NULL, &eff, NULL, 0) ==
        TALLY_E_PERMISSION_DENIED);
  CHECK(check_as("lea", TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST, "ana", NULL, &eff, NULL, 0) == 0);
  CHECK(check_as("max", TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST, "ana", NULL, &eff, NULL, 0) == 0);
  /* A reply type is not a request. */
  CHECK(check_as("ops", TALLY__ENVELOPE__BODY_ACK, NULL, NULL, &eff, NULL, 0) ==
        TALLY_E_UNKNOWN_TYPE);
  /* The insecure anonymous caller may do anything, but must name people. */
  identity_t anon;
  access_anonymous(&anon);
  request_t r;
  char why[256];
  request_init(&r, TALLY__ENVELOPE__BODY_LEASE, NULL, NULL);
  CHECK(access_check(&anon, &r.env, find, NULL, &eff, why, sizeof why) == TALLY_E_INVALID_ARGUMENT);
  request_clear(&r);
  request_init(&r, TALLY__ENVELOPE__BODY_LEASE, "ana", NULL);
  CHECK(access_check(&anon, &r.env, find, NULL, &eff, why, sizeof why) == 0);
  request_clear(&r);
  /* Roles text and parse round trip. */
  uint32_t roles = 0;
  char text[128];
  CHECK(access_roles_parse("labeler,gateway", &roles) == 0);
  CHECK(roles == (TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_GATEWAY));
  CHECK(strcmp(access_roles_text(roles, text, sizeof text), "labeler,gateway") == 0);
  CHECK(access_roles_parse("labeler,root", &roles) == -1);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: access_test SECURITY_MD\n");
    return 2;
  }
  test_table(argv[1]);
  test_check();
  return check_summary();
}
