/* calibration: calibration sessions. See calibration.h. */
#include "calibration.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agreement.h"
#include "ident.h"
#include "log.h"
#include "tally_error.h"
#include "validate.h"
#include "wire.h"

#define MESSAGE_SIZE 512
#define QUOTE_SIZE 300

/* One member's label; item is the index into the session's items. */
typedef struct {
  char *person;
  uint32_t item;
  char *label;
  uint64_t at_ms;
  uint32_t handling_ms;
  uint32_t policy_version;
} cal_label_t;

typedef struct {
  Tally__CalibrationSession *s; /* owned (free_unpacked) */
  cal_label_t *labels;          /* sorted by (person, item) */
  size_t n_labels, cap_labels;
} session_t;

struct calibration {
  session_t **sessions; /* sorted by name; each owned */
  size_t count, capacity;
};

/* ---------------------------------------------------------------- helpers */

static ProtobufCMessage *message_clone(const ProtobufCMessage *message) {
  size_t size = protobuf_c_message_get_packed_size(message);
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL) return NULL;
  size_t len = protobuf_c_message_pack(message, buf);
  ProtobufCMessage *copy = protobuf_c_message_unpack(message->descriptor, NULL, len, buf);
  free(buf);
  return copy;
}

__attribute__((format(printf, 3, 4))) static void reply_error(const coordinator_replier_t *r,
                                                              int code, const char *fmt, ...) {
  char message[MESSAGE_SIZE], safe[MESSAGE_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  ident_sanitize(message, 0, safe, sizeof safe);
  r->send_error(r->ctx, code, safe);
}

static void reply_storage(const coordinator_replier_t *r, int rc, const char *what) {
  if (rc == TALLY_E_NOMEM)
    reply_error(r, TALLY_E_INTERNAL, "out of memory while saving %s; nothing was changed", what);
  else
    reply_error(r, TALLY_E_STORAGE, "could not save %s durably; nothing was changed", what);
}

/* Formats a refusal's reason into why[why_size] (cut when long). */
__attribute__((format(printf, 3, 4))) static void set_why(char *why, size_t why_size,
                                                          const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_size, fmt, ap);
  va_end(ap);
}

/* After a durable write the change must be installed in memory; when that
 * fails (out of memory), a restart reloads what was written. */
static void must_install(int ok, const char *what) {
  if (ok) return;
  log_error("out of memory installing %s after it was persisted; exiting so that a restart "
            "reloads the stored state",
            what);
  abort();
}

static size_t session_position(const calibration_t *cal, const char *name, int *found) {
  size_t lo = 0, hi = cal->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(cal->sessions[mid]->s->name, name) < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = lo < cal->count && strcmp(cal->sessions[lo]->s->name, name) == 0;
  return lo;
}

static session_t *session_find(const calibration_t *cal, const char *name) {
  int found;
  size_t at = session_position(cal, name, &found);
  return found ? cal->sessions[at] : NULL;
}

static int session_insert(calibration_t *cal, session_t *session) {
  int found;
  size_t at = session_position(cal, session->s->name, &found);
  if (cal->count == cal->capacity) {
    size_t cap = cal->capacity ? 2 * cal->capacity : 16;
    session_t **grown = realloc(cal->sessions, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    cal->sessions = grown;
    cal->capacity = cap;
  }
  memmove(cal->sessions + at + 1, cal->sessions + at, (cal->count - at) * sizeof *cal->sessions);
  cal->sessions[at] = session;
  cal->count++;
  return 0;
}

static void session_free(session_t *session) {
  if (session == NULL) return;
  for (size_t i = 0; i < session->n_labels; i++) {
    free(session->labels[i].person);
    free(session->labels[i].label);
  }
  free(session->labels);
  if (session->s) tally__calibration_session__free_unpacked(session->s, NULL);
  free(session);
}

static int label_compare(const char *person_a, uint32_t item_a, const char *person_b,
                         uint32_t item_b) {
  int c = strcmp(person_a, person_b);
  if (c != 0) return c;
  return item_a < item_b ? -1 : item_a > item_b;
}

static size_t label_position(const session_t *session, const char *person, uint32_t item,
                             int *found) {
  size_t lo = 0, hi = session->n_labels;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const cal_label_t *l = &session->labels[mid];
    if (label_compare(l->person, l->item, person, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = lo < session->n_labels && label_compare(session->labels[lo].person,
                                                   session->labels[lo].item, person, item) == 0;
  return lo;
}

static const cal_label_t *label_find(const session_t *session, const char *person, uint32_t item) {
  int found;
  size_t at = label_position(session, person, item, &found);
  return found ? &session->labels[at] : NULL;
}

/* Puts a label (strings copied) at `at` of the session's array. Returns 0
 * or TALLY_E_NOMEM. */
static int label_put(session_t *session, size_t at, const char *person, uint32_t item,
                     const char *label, uint64_t at_ms, uint32_t handling_ms,
                     uint32_t policy_version) {
  if (session->n_labels == session->cap_labels) {
    size_t cap = session->cap_labels ? 2 * session->cap_labels : 32;
    cal_label_t *grown = realloc(session->labels, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    session->labels = grown;
    session->cap_labels = cap;
  }
  cal_label_t l = {strdup(person), item, strdup(label), at_ms, handling_ms, policy_version};
  if (l.person == NULL || l.label == NULL) {
    free(l.person);
    free(l.label);
    return TALLY_E_NOMEM;
  }
  memmove(session->labels + at + 1, session->labels + at,
          (session->n_labels - at) * sizeof *session->labels);
  session->labels[at] = l;
  session->n_labels++;
  return 0;
}

/* Inserts a label at its sorted place (strings copied); an existing
 * (person, item) is left as it is. Returns 0 or TALLY_E_NOMEM. */
static int label_insert(session_t *session, const char *person, uint32_t item, const char *label,
                        uint64_t at_ms, uint32_t handling_ms, uint32_t policy_version) {
  int found;
  size_t at = label_position(session, person, item, &found);
  if (found) return 0;
  return label_put(session, at, person, item, label, at_ms, handling_ms, policy_version);
}

static int label_order(const void *a, const void *b) {
  const cal_label_t *x = a, *y = b;
  return label_compare(x->person, x->item, y->person, y->item);
}

/* Index of item `id` in the session, or -1. */
static long item_index(const Tally__CalibrationSession *s, const char *id) {
  for (size_t i = 0; i < s->n_items; i++)
    if (strcmp(s->items[i]->id, id) == 0) return (long)i;
  return -1;
}

/* How many items `person` labeled. */
static uint32_t person_done(const session_t *session, const char *person) {
  int found;
  size_t at = label_position(session, person, 0, &found);
  uint32_t n = 0;
  while (at < session->n_labels && strcmp(session->labels[at].person, person) == 0) at++, n++;
  return n;
}

static int list_contains(char *const *list, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i], s) == 0) return 1;
  return 0;
}

/* Is `person` (their record, may be NULL) a member of the session's group? */
static int is_member(const Tally__CalibrationSession *s, const char *person,
                     const Tally__Labeler *record) {
  if (list_contains(s->people, s->n_people, person)) return 1;
  if (record == NULL) return 0;
  if (!(record->roles & (TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_AUDITOR))) return 0;
  for (size_t i = 0; i < record->n_markets; i++)
    if (list_contains(s->markets, s->n_markets, record->markets[i])) return 1;
  return 0;
}

static const Tally__Labeler *person_record(const calibration_env_t *env, const char *id) {
  size_t lo = 0, hi = env->n_people;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(env->people[mid]->id, id);
    if (c == 0) return env->people[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

static int caller_is_lead(const calibration_env_t *env) {
  return (env->caller->roles & (TALLY__ROLE__ROLE_LEAD | TALLY__ROLE__ROLE_MANAGER)) != 0;
}

static const char *session_state(const Tally__CalibrationSession *s, uint64_t now_ms) {
  if (s->closed_ms != 0) return "closed";
  return now_ms >= s->deadline_ms ? "past deadline" : "open";
}

static int session_is_open(const Tally__CalibrationSession *s, uint64_t now_ms) {
  return s->closed_ms == 0 && now_ms < s->deadline_ms;
}

/* Members now: named people and everyone of the markets who labels or audits. */
static uint32_t member_count(const calibration_env_t *env, const Tally__CalibrationSession *s) {
  uint32_t n = 0;
  for (size_t i = 0; i < env->n_people; i++) n += is_member(s, env->people[i]->id, env->people[i]);
  for (size_t i = 0; i < s->n_people; i++) n += person_record(env, s->people[i]) == NULL;
  return n;
}

/* Fills `out` (borrowing from the session) as `env`'s caller may see it. */
static void summary_view(const calibration_env_t *env, const session_t *session,
                         Tally__CalibrationSummary *out) {
  const Tally__CalibrationSession *s = session->s;
  tally__calibration_summary__init(out);
  out->name = s->name;
  out->project = s->project;
  out->created_ms = s->created_ms;
  out->deadline_ms = s->deadline_ms;
  out->closed_ms = s->closed_ms;
  out->state = (char *)session_state(s, env->now_ms);
  out->items = (uint32_t)s->n_items;
  out->your_done = person_done(session, env->caller->id);
  out->policy_version = s->policy_version;
  out->created_by = s->created_by;
  if (!caller_is_lead(env)) return;
  for (size_t i = 0; i < s->n_items; i++) out->keyed_items += s->items[i]->key[0] != '\0';
  out->n_markets = s->n_markets, out->markets = s->markets;
  out->n_people = s->n_people, out->people = s->people;
  out->members = member_count(env, s);
  out->labels = session->n_labels;
}

static void send_summary(const calibration_env_t *env, const Tally__Envelope *request,
                         const coordinator_replier_t *r, const session_t *session) {
  Tally__Envelope env_out;
  Tally__CalibrationReply body = TALLY__CALIBRATION_REPLY__INIT;
  Tally__CalibrationSummary summary;
  summary_view(env, session, &summary);
  wire_envelope_init(&env_out, request->request_id);
  body.session = &summary;
  env_out.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_REPLY;
  env_out.calibration_reply = &body;
  r->send(r->ctx, &env_out);
}

static int label_in_taxonomy(const Tally__Project *p, const char *label) {
  for (size_t i = 0; i < p->n_labels; i++)
    if (strcmp(p->labels[i], label) == 0) return (int)i;
  return -1;
}

static int project_has_market(const Tally__Project *p, const char *market) {
  for (size_t i = 0; i < p->n_markets; i++)
    if (strcmp(p->markets[i], market) == 0) return 1;
  return 0;
}

/* Checks new items against the project and the items already there.
 * Returns 0 or an error code with why. */
static int validate_items(const Tally__Project *p, const Tally__CalibrationSession *s,
                          Tally__CalibrationItem *const *items, size_t n, char *why,
                          size_t why_size) {
  char quoted[QUOTE_SIZE];
  if (s->n_items + n > CALIBRATION_ITEMS_MAX) {
    set_why(why, why_size, "a calibration session holds at most %u items (%zu there, %zu sent)",
             CALIBRATION_ITEMS_MAX, s->n_items, n);
    return TALLY_E_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < n; i++) {
    const Tally__CalibrationItem *item = items[i];
    char what[64];
    snprintf(what, sizeof what, "item %zu: item id", i + 1);
    if (ident_check(what, item->id, IDENT_ITEM_ID_MAX, why, why_size) < 0)
      return TALLY_E_INVALID_ARGUMENT;
    validate_quote(item->id, quoted, sizeof quoted);
    if (item_index(s, item->id) >= 0) {
      set_why(why, why_size, "item '%s' is already in the session", quoted);
      return TALLY_E_ALREADY_EXISTS;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(items[j]->id, item->id) == 0) {
        set_why(why, why_size, "item '%s' is given twice", quoted);
        return TALLY_E_INVALID_ARGUMENT;
      }
    if (item->market[0] != '\0' && !project_has_market(p, item->market)) {
      char m[QUOTE_SIZE];
      validate_quote(item->market, m, sizeof m);
      set_why(why, why_size, "item '%s': '%s' is not a market of project '%s'", quoted, m, p->name);
      return TALLY_E_UNKNOWN_MARKET;
    }
    if (strlen(item->content) > CALIBRATION_CONTENT_MAX ||
        strlen(item->media_url) > CALIBRATION_URL_MAX) {
      set_why(why, why_size, "item '%s': content is at most %u bytes, media_url %u", quoted,
               CALIBRATION_CONTENT_MAX, CALIBRATION_URL_MAX);
      return TALLY_E_INVALID_ARGUMENT;
    }
    if (!ident_utf8_is_valid(item->content, strlen(item->content)) ||
        (item->media_url[0] != '\0' &&
         ident_check("media_url", item->media_url, CALIBRATION_URL_MAX, NULL, 0) < 0)) {
      set_why(why, why_size, "item '%s': content must be UTF-8, media_url UTF-8 without control characters",
              quoted);
      return TALLY_E_INVALID_ARGUMENT;
    }
    if (item->content[0] == '\0' && item->media_url[0] == '\0') {
      set_why(why, why_size, "item '%s' has neither content nor media_url", quoted);
      return TALLY_E_INVALID_ARGUMENT;
    }
    if (item->key[0] != '\0' && label_in_taxonomy(p, item->key) < 0) {
      char k[QUOTE_SIZE];
      validate_quote(item->key, k, sizeof k);
      set_why(why, why_size, "item '%s': key '%s' is not a label of project '%s'", quoted, k,
               p->name);
      return TALLY_E_LABEL_NOT_IN_TAXONOMY;
    }
  }
  return 0;
}

/* Checks a group addition (markets of the project, known people). */
static int validate_group(const calibration_env_t *env, const Tally__Project *p,
                          char *const *markets, size_t n_markets, char *const *people,
                          size_t n_people, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  if (n_markets > VALIDATE_MAX_LIST || n_people > CALIBRATION_PEOPLE_MAX) {
    set_why(why, why_size, "at most %u markets and %u people per request", VALIDATE_MAX_LIST,
             CALIBRATION_PEOPLE_MAX);
    return TALLY_E_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < n_markets; i++)
    if (!project_has_market(p, markets[i])) {
      validate_quote(markets[i], quoted, sizeof quoted);
      set_why(why, why_size, "'%s' is not a market of project '%s'", quoted, p->name);
      return TALLY_E_UNKNOWN_MARKET;
    }
  for (size_t i = 0; i < n_people; i++)
    if (person_record(env, people[i]) == NULL) {
      validate_quote(people[i], quoted, sizeof quoted);
      set_why(why, why_size, "unknown person '%s'", quoted);
      return TALLY_E_UNKNOWN_LABELER;
    }
  return 0;
}

/* A list of borrowed strings: `old` followed by those of `add` not in it. */
static char **list_union(char *const *old, size_t n_old, char *const *add, size_t n_add,
                         size_t *n_out) {
  char **out = malloc((n_old + n_add + 1) * sizeof *out);
  if (out == NULL) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < n_old; i++) out[n++] = old[i];
  for (size_t i = 0; i < n_add; i++)
    if (!list_contains(out, n, add[i])) out[n++] = add[i];
  *n_out = n;
  return out;
}

/* Writes `next` (borrowed) as the session's record with an admin log entry
 * and installs a copy in place of session->s. Replies the error and
 * returns -1 when it fails (nothing changed). */
static int session_commit(const calibration_env_t *env, session_t *session,
                          const Tally__CalibrationSession *next, const char *action,
                          const coordinator_replier_t *r) {
  if (protobuf_c_message_get_packed_size(&next->base) > CALIBRATION_RECORD_MAX) {
    reply_error(r, TALLY_E_TOO_LARGE,
                "a calibration session's record is at most %u bytes (its items' content and "
                "media URLs)",
                CALIBRATION_RECORD_MAX);
    return -1;
  }
  /* The log holds summaries: items' content stays out of it. */
  session_t before = *session, after = *session;
  after.s = (Tally__CalibrationSession *)next;
  Tally__CalibrationSummary old_summary, new_summary;
  if (session->s != NULL) summary_view(env, &before, &old_summary);
  summary_view(env, &after, &new_summary);
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(env->store, &batch);
  if (rc == 0) {
    meta_batch_put_calibration_session(batch, next);
    rc = env->commit_logged(env->ctx, &batch, action, next->name,
                            session->s ? &old_summary.base : NULL, &new_summary.base);
  }
  meta_batch_destroy(&batch);
  if (rc < 0) {
    reply_storage(r, rc, "the calibration session");
    return -1;
  }
  Tally__CalibrationSession *copy = (Tally__CalibrationSession *)message_clone(&next->base);
  must_install(copy != NULL, "a calibration session");
  if (session->s) tally__calibration_session__free_unpacked(session->s, NULL);
  session->s = copy;
  return 0;
}

/* The session named in a lead's request, or NULL after replying NOT_FOUND. */
static session_t *session_named(calibration_t *cal, const char *name,
                                const coordinator_replier_t *r) {
  session_t *session = session_find(cal, name);
  if (session == NULL) {
    char quoted[QUOTE_SIZE];
    validate_quote(name, quoted, sizeof quoted);
    reply_error(r, TALLY_E_NOT_FOUND, "no calibration session '%s'", quoted);
  }
  return session;
}

/* ---------------------------------------------------------------- lead requests */

static void handle_create(calibration_t *cal, const calibration_env_t *env,
                          const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationCreate *body = request->calibration_create;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  if (ident_check("session name", body->name, IDENT_NAME_MAX, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  validate_quote(body->name, quoted, sizeof quoted);
  if (session_find(cal, body->name) != NULL) {
    reply_error(r, TALLY_E_ALREADY_EXISTS, "calibration session '%s' already exists", quoted);
    return;
  }
  if (cal->count >= CALIBRATION_SESSIONS_MAX) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "at most %u calibration sessions",
                CALIBRATION_SESSIONS_MAX);
    return;
  }
  const Tally__Project *p = env->project(env->ctx, body->project);
  if (p == NULL) {
    validate_quote(body->project, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
    return;
  }
  if (body->deadline_ms <= env->now_ms || body->deadline_ms - env->now_ms > CALIBRATION_DEADLINE_MAX_MS) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "the deadline must be in the future and at most a year ahead");
    return;
  }
  Tally__CalibrationSession next = TALLY__CALIBRATION_SESSION__INIT;
  next.name = body->name;
  next.project = body->project;
  next.created_ms = env->now_ms;
  next.deadline_ms = body->deadline_ms;
  next.created_by = (char *)env->caller->id;
  next.policy_version = p->policy_version ? p->policy_version : 1;
  int rc = validate_items(p, &next, body->items, body->n_items, why, sizeof why);
  if (rc == 0)
    rc = validate_group(env, p, body->markets, body->n_markets, body->people, body->n_people, why,
                        sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  char **markets = list_union(NULL, 0, body->markets, body->n_markets, &next.n_markets);
  char **people = list_union(NULL, 0, body->people, body->n_people, &next.n_people);
  session_t *session = calloc(1, sizeof *session);
  if (markets == NULL || people == NULL || session == NULL) {
    free(markets), free(people), free(session);
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  next.markets = markets;
  next.people = people;
  next.n_items = body->n_items;
  next.items = body->items;
  rc = session_commit(env, session, &next, "calibration_create", r);
  free(markets);
  free(people);
  if (rc < 0) {
    free(session);
    return;
  }
  must_install(session_insert(cal, session) == 0, "a calibration session");
  log_info("calibration '%s' created on '%s': %zu items, deadline %" PRIu64, quoted,
           session->s->project, session->s->n_items, session->s->deadline_ms);
  send_summary(env, request, r, session);
}

static void handle_items_add(calibration_t *cal, const calibration_env_t *env,
                             const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationItemsAdd *body = request->calibration_items_add;
  char why[MESSAGE_SIZE];
  session_t *session = session_named(cal, body->session, r);
  if (session == NULL) return;
  if (!session_is_open(session->s, env->now_ms)) {
    reply_error(r, TALLY_E_CLOSED, "the session is %s: no items can be added",
                session_state(session->s, env->now_ms));
    return;
  }
  const Tally__Project *p = env->project(env->ctx, session->s->project);
  if (p == NULL) {
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "the session's project is gone");
    return;
  }
  int rc = validate_items(p, session->s, body->items, body->n_items, why, sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  Tally__CalibrationSession next = *session->s;
  Tally__CalibrationItem **items = malloc((next.n_items + body->n_items + 1) * sizeof *items);
  if (items == NULL) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  if (next.n_items > 0) memcpy(items, next.items, next.n_items * sizeof *items);
  if (body->n_items > 0) memcpy(items + next.n_items, body->items, body->n_items * sizeof *items);
  next.items = items;
  next.n_items += body->n_items;
  rc = session_commit(env, session, &next, "calibration_items_add", r);
  free(items);
  if (rc == 0) send_summary(env, request, r, session);
}

static void handle_assign(calibration_t *cal, const calibration_env_t *env,
                          const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationAssign *body = request->calibration_assign;
  char why[MESSAGE_SIZE];
  session_t *session = session_named(cal, body->session, r);
  if (session == NULL) return;
  if (session->s->closed_ms != 0) {
    reply_error(r, TALLY_E_CLOSED, "the session is closed");
    return;
  }
  const Tally__Project *p = env->project(env->ctx, session->s->project);
  if (p == NULL) {
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "the session's project is gone");
    return;
  }
  if (body->n_markets == 0 && body->n_people == 0) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "assign needs markets or people");
    return;
  }
  int rc = validate_group(env, p, body->markets, body->n_markets, body->people, body->n_people,
                          why, sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  Tally__CalibrationSession next = *session->s;
  char **markets = list_union(next.markets, next.n_markets, body->markets, body->n_markets,
                              &next.n_markets);
  char **people = list_union(next.people, next.n_people, body->people, body->n_people,
                             &next.n_people);
  if (markets == NULL || people == NULL || next.n_people > CALIBRATION_PEOPLE_MAX ||
      next.n_markets > VALIDATE_MAX_LIST) {
    free(markets), free(people);
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "at most %u named people and %u markets",
                CALIBRATION_PEOPLE_MAX, VALIDATE_MAX_LIST);
    return;
  }
  next.markets = markets;
  next.people = people;
  rc = session_commit(env, session, &next, "calibration_assign", r);
  free(markets);
  free(people);
  if (rc == 0) send_summary(env, request, r, session);
}

static void handle_close(calibration_t *cal, const calibration_env_t *env,
                         const Tally__Envelope *request, const coordinator_replier_t *r) {
  session_t *session = session_named(cal, request->calibration_close->session, r);
  if (session == NULL) return;
  if (session->s->closed_ms != 0) { /* already closed: answer as the first close did */
    send_summary(env, request, r, session);
    return;
  }
  Tally__CalibrationSession next = *session->s;
  next.closed_ms = env->now_ms;
  next.closed_by = (char *)env->caller->id;
  if (session_commit(env, session, &next, "calibration_close", r) == 0)
    send_summary(env, request, r, session);
}

static void handle_key(calibration_t *cal, const calibration_env_t *env,
                       const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationKey *body = request->calibration_key;
  char quoted[QUOTE_SIZE];
  session_t *session = session_named(cal, body->session, r);
  if (session == NULL) return;
  if (session->s->closed_ms == 0) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT,
                "close the session first: a key given while members label could reach them");
    return;
  }
  const Tally__Project *p = env->project(env->ctx, session->s->project);
  if (p == NULL) {
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "the session's project is gone");
    return;
  }
  if (body->n_keys == 0 || body->n_keys > CALIBRATION_ITEMS_MAX) {
    reply_error(r, TALLY_E_INVALID_ARGUMENT, "give 1 to %u keys", CALIBRATION_ITEMS_MAX);
    return;
  }
  Tally__CalibrationSession next = *session->s;
  Tally__CalibrationItem *copies = calloc(next.n_items ? next.n_items : 1, sizeof *copies);
  Tally__CalibrationItem **items = calloc(next.n_items ? next.n_items : 1, sizeof *items);
  if (copies == NULL || items == NULL) {
    free(copies), free(items);
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  for (size_t i = 0; i < next.n_items; i++) {
    copies[i] = *next.items[i];
    items[i] = &copies[i];
  }
  for (size_t k = 0; k < body->n_keys; k++) {
    const Tally__CalibrationKeyEntry *e = body->keys[k];
    long at = item_index(&next, e->item_id);
    const char *bad = NULL;
    int code = 0;
    if (at < 0) bad = "is not an item of the session", code = TALLY_E_NOT_FOUND;
    else if (label_in_taxonomy(p, e->label) < 0)
      bad = "has a key that is not a label of the project", code = TALLY_E_LABEL_NOT_IN_TAXONOMY;
    if (bad != NULL) {
      validate_quote(e->item_id, quoted, sizeof quoted);
      reply_error(r, code, "item '%s' %s", quoted, bad);
      free(copies), free(items);
      return;
    }
    copies[at].key = e->label;
  }
  next.items = items;
  int rc = session_commit(env, session, &next, "calibration_key", r);
  free(copies);
  free(items);
  if (rc == 0) send_summary(env, request, r, session);
}

static void handle_list(calibration_t *cal, const calibration_env_t *env,
                        const Tally__Envelope *request, const coordinator_replier_t *r) {
  const char *project = request->calibration_list->project;
  Tally__CalibrationSummary *views = calloc(cal->count ? cal->count : 1, sizeof *views);
  Tally__CalibrationSummary **ptrs = calloc(cal->count ? cal->count : 1, sizeof *ptrs);
  if (views == NULL || ptrs == NULL) {
    free(views), free(ptrs);
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  int lead = caller_is_lead(env);
  const Tally__Labeler *me = person_record(env, env->caller->id);
  size_t n = 0;
  for (size_t i = 0; i < cal->count; i++) {
    const session_t *session = cal->sessions[i];
    if (project[0] != '\0' && strcmp(session->s->project, project) != 0) continue;
    if (!lead && !is_member(session->s, env->caller->id, me)) continue;
    summary_view(env, session, &views[n]);
    ptrs[n] = &views[n];
    n++;
  }
  Tally__Envelope out;
  Tally__CalibrationListReply body = TALLY__CALIBRATION_LIST_REPLY__INIT;
  wire_envelope_init(&out, request->request_id);
  body.n_sessions = n;
  body.sessions = ptrs;
  out.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_LIST_REPLY;
  out.calibration_list_reply = &body;
  r->send(r->ctx, &out);
  free(views);
  free(ptrs);
}

/* ---------------------------------------------------------------- member requests */

/* The session a member asks about, when they may work on it; else NULL
 * after replying. Every refusal names only the session and the caller. */
static session_t *member_session(calibration_t *cal, const calibration_env_t *env,
                                 const char *name, const char *person,
                                 const coordinator_replier_t *r) {
  char quoted[QUOTE_SIZE];
  validate_quote(name, quoted, sizeof quoted);
  session_t *session = session_find(cal, name);
  if (session == NULL || !is_member(session->s, person, person_record(env, person))) {
    /* The same answer for "no such session" and "not yours": a person
     * learns nothing about sessions they are not in. */
    reply_error(r, TALLY_E_NOT_FOUND, "'%s' is not a calibration session of yours", quoted);
    return NULL;
  }
  return session;
}

static void handle_next(calibration_t *cal, const calibration_env_t *env,
                        const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationNext *body = request->calibration_next;
  session_t *session = member_session(cal, env, body->session, body->labeler, r);
  if (session == NULL) return;
  const Tally__CalibrationSession *s = session->s;
  if (!session_is_open(s, env->now_ms)) {
    reply_error(r, TALLY_E_CLOSED, "calibration session is %s", session_state(s, env->now_ms));
    return;
  }
  const Tally__Project *p = env->project(env->ctx, s->project);
  Tally__Envelope out;
  Tally__CalibrationTask task = TALLY__CALIBRATION_TASK__INIT;
  task.session = s->name;
  task.project = s->project;
  task.deadline_ms = s->deadline_ms;
  task.total = (uint32_t)s->n_items;
  task.done = person_done(session, body->labeler);
  for (size_t i = 0; i < s->n_items; i++) {
    if (label_find(session, body->labeler, (uint32_t)i) != NULL) continue;
    const Tally__CalibrationItem *item = s->items[i];
    task.has_task = 1;
    task.item_id = item->id;
    task.market = item->market;
    task.content = item->content;
    task.media_url = item->media_url;
    if (p != NULL) task.n_labels = p->n_labels, task.labels = p->labels;
    break;
  }
  wire_envelope_init(&out, request->request_id);
  out.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_TASK;
  out.calibration_task = &task;
  r->send(r->ctx, &out);
}

static void send_submit_reply(const Tally__Envelope *request, const coordinator_replier_t *r,
                              const session_t *session, const cal_label_t *l) {
  Tally__Envelope out;
  Tally__CalibrationSubmitReply body = TALLY__CALIBRATION_SUBMIT_REPLY__INIT;
  body.session = session->s->name;
  body.item_id = session->s->items[l->item]->id;
  body.label = l->label;
  body.at_ms = l->at_ms;
  body.done = person_done(session, l->person);
  body.total = (uint32_t)session->s->n_items;
  wire_envelope_init(&out, request->request_id);
  out.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT_REPLY;
  out.calibration_submit_reply = &body;
  r->send(r->ctx, &out);
}

static void handle_submit(calibration_t *cal, const calibration_env_t *env,
                          const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationSubmit *body = request->calibration_submit;
  char quoted[QUOTE_SIZE];
  session_t *session = member_session(cal, env, body->session, body->labeler, r);
  if (session == NULL) return;
  const Tally__CalibrationSession *s = session->s;
  long at = item_index(s, body->item_id);
  if (at < 0) {
    validate_quote(body->item_id, quoted, sizeof quoted);
    reply_error(r, TALLY_E_NOT_FOUND, "item '%s' is not in calibration session '%s'", quoted,
                s->name);
    return;
  }
  const cal_label_t *before = label_find(session, body->labeler, (uint32_t)at);
  if (before != NULL) {
    if (strcmp(before->label, body->label) == 0) { /* a repeat: as the first answer */
      send_submit_reply(request, r, session, before);
      return;
    }
    validate_quote(before->label, quoted, sizeof quoted);
    reply_error(r, TALLY_E_ALREADY_EXISTS,
                "you labeled this item already ('%s'); each item is labeled once", quoted);
    return;
  }
  if (!session_is_open(s, env->now_ms)) {
    reply_error(r, TALLY_E_CLOSED, "calibration session is %s: no more labels are taken",
                session_state(s, env->now_ms));
    return;
  }
  const Tally__Project *p = env->project(env->ctx, s->project);
  if (p == NULL || label_in_taxonomy(p, body->label) < 0) {
    validate_quote(body->label, quoted, sizeof quoted);
    reply_error(r, TALLY_E_LABEL_NOT_IN_TAXONOMY, "'%s' is not a label of the project", quoted);
    return;
  }
  Tally__CalibrationLabel record = TALLY__CALIBRATION_LABEL__INIT;
  record.session = s->name;
  record.person = body->labeler;
  record.item_id = body->item_id;
  record.label = body->label;
  record.at_ms = env->now_ms;
  record.handling_ms = body->handling_ms;
  record.policy_version = p->policy_version ? p->policy_version : 1;
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(env->store, &batch);
  if (rc == 0) {
    meta_batch_put_calibration_label(batch, &record);
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc < 0) {
    reply_storage(r, rc, "the label");
    return;
  }
  must_install(label_insert(session, record.person, (uint32_t)at, record.label, record.at_ms,
                            record.handling_ms, record.policy_version) == 0,
               "a calibration label");
  send_submit_reply(request, r, session, label_find(session, body->labeler, (uint32_t)at));
}

/* ---------------------------------------------------------------- results */

/* Fills an Accuracy (borrowed nothing) from counts. */
static void accuracy_of(uint64_t correct, uint64_t judged, Tally__Accuracy *out) {
  tally__accuracy__init(out);
  out->judged = judged;
  out->correct = correct;
  if (judged == 0) return;
  out->defined = 1;
  out->value = (double)correct / (double)judged;
  agreement_wilson(correct, judged, AGREEMENT_Z95, &out->wilson_low, &out->wilson_high);
}

/* Sorted distinct persons who labeled in the session (borrowed), into
 * *out (malloc'ed). */
static size_t session_persons(const session_t *session, const char ***out) {
  *out = malloc((session->n_labels + 1) * sizeof **out);
  if (*out == NULL) return 0;
  size_t n = 0;
  for (size_t i = 0; i < session->n_labels; i++)
    if (n == 0 || strcmp((*out)[n - 1], session->labels[i].person) != 0)
      (*out)[n++] = session->labels[i].person;
  return n;
}

/* One person's labeled count and accuracy against the key in a session. */
static void person_accuracy(const session_t *session, const char *person, uint32_t *labeled,
                            uint64_t *correct, uint64_t *judged) {
  int found;
  size_t at = label_position(session, person, 0, &found);
  *labeled = 0, *correct = 0, *judged = 0;
  for (; at < session->n_labels && strcmp(session->labels[at].person, person) == 0; at++) {
    const cal_label_t *l = &session->labels[at];
    const char *key = session->s->items[l->item]->key;
    (*labeled)++;
    if (key[0] == '\0') continue;
    (*judged)++;
    *correct += strcmp(key, l->label) == 0;
  }
}

typedef struct {
  Tally__CalibrationItemResult result;
  uint64_t *distribution;
} item_view_t;

static int item_view_order(const void *a, const void *b) {
  const Tally__CalibrationItemResult *x = &((const item_view_t *)a)->result;
  const Tally__CalibrationItemResult *y = &((const item_view_t *)b)->result;
  if (x->disagreement_defined != y->disagreement_defined) return x->disagreement_defined ? -1 : 1;
  if (x->disagreement != y->disagreement) return x->disagreement > y->disagreement ? -1 : 1;
  if (x->labels != y->labels) return x->labels > y->labels ? -1 : 1;
  return strcmp(x->item_id, y->item_id);
}

static void coefficient(Tally__Coefficient *c, const char *name, int rc, double value) {
  tally__coefficient__init(c);
  c->name = (char *)name;
  c->defined = rc == 0;
  c->value = rc == 0 ? value : 0.0;
}

static void handle_results(calibration_t *cal, const calibration_env_t *env,
                           const Tally__Envelope *request, const coordinator_replier_t *r) {
  session_t *session = session_named(cal, request->calibration_results_request->session, r);
  if (session == NULL) return;
  const Tally__CalibrationSession *s = session->s;
  const Tally__Project *p = env->project(env->ctx, s->project);
  if (p == NULL || p->n_labels == 0 || p->n_labels > AGREEMENT_MAX_CATEGORIES) {
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "the session's project is gone");
    return;
  }
  uint32_t k = (uint32_t)p->n_labels;
  const char **persons = NULL;
  size_t n_persons = session_persons(session, &persons);
  Tally__CalibrationPersonResult *people = calloc(n_persons + 1, sizeof *people);
  Tally__CalibrationPersonResult **people_ptrs = calloc(n_persons + 1, sizeof *people_ptrs);
  Tally__Accuracy *accuracies = calloc(n_persons + 1, sizeof *accuracies);
  item_view_t *views = calloc(s->n_items + 1, sizeof *views);
  Tally__CalibrationItemResult **item_ptrs = calloc(s->n_items + 1, sizeof *item_ptrs);
  uint64_t *counts = calloc((s->n_items + 1) * k, sizeof *counts);
  uint32_t *values = malloc((n_persons + 1) * sizeof *values);
  agreement_fleiss_t *fleiss = malloc(sizeof *fleiss);
  agreement_coincidence_t *coincidence = malloc(sizeof *coincidence);
  if (persons == NULL || people == NULL || people_ptrs == NULL || accuracies == NULL ||
      views == NULL || item_ptrs == NULL || counts == NULL || values == NULL || fleiss == NULL ||
      coincidence == NULL) {
    reply_error(r, TALLY_E_INTERNAL, "out of memory computing the results");
    goto done;
  }
  /* Each person against the key, and the group. */
  uint64_t group_correct = 0, group_judged = 0;
  for (size_t i = 0; i < n_persons; i++) {
    uint32_t labeled;
    uint64_t correct, judged;
    person_accuracy(session, persons[i], &labeled, &correct, &judged);
    tally__calibration_person_result__init(&people[i]);
    people[i].person = (char *)persons[i];
    people[i].labeled = labeled;
    accuracy_of(correct, judged, &accuracies[i]);
    people[i].accuracy = &accuracies[i];
    people_ptrs[i] = &people[i];
    group_correct += correct, group_judged += judged;
  }
  Tally__Accuracy group;
  accuracy_of(group_correct, group_judged, &group);
  /* Label distribution per item. */
  for (size_t i = 0; i < session->n_labels; i++) {
    int index = label_in_taxonomy(p, session->labels[i].label);
    if (index >= 0) counts[(size_t)session->labels[i].item * k + (size_t)index]++;
  }
  agreement_fleiss_init(fleiss, k);
  agreement_coincidence_init(coincidence, k);
  for (size_t i = 0; i < s->n_items; i++) {
    uint64_t *dist = &counts[i * k];
    size_t m = 0, top = 0;
    uint64_t pairs_agreeing = 0;
    for (uint32_t j = 0; j < k; j++) {
      for (uint64_t c = 0; c < dist[j] && m < n_persons; c++) values[m++] = j;
      pairs_agreeing += dist[j] * (dist[j] ? dist[j] - 1 : 0);
      if (dist[j] > dist[top]) top = j;
    }
    agreement_fleiss_add_unit(fleiss, values, m);
    agreement_coincidence_add_unit(coincidence, values, m);
    Tally__CalibrationItemResult *res = &views[i].result;
    tally__calibration_item_result__init(res);
    res->item_id = s->items[i]->id;
    res->market = s->items[i]->market;
    res->key = s->items[i]->key;
    res->labels = (uint32_t)m;
    res->n_distribution = k;
    res->distribution = dist;
    res->top_label = m ? p->labels[top] : (char *)"";
    if (m >= 2) {
      res->disagreement_defined = 1;
      res->disagreement = 1.0 - (double)pairs_agreeing / ((double)m * (double)(m - 1));
    }
  }
  qsort(views, s->n_items, sizeof *views, item_view_order);
  for (size_t i = 0; i < s->n_items; i++) item_ptrs[i] = &views[i].result;
  /* The group's agreement, computed once over every item (agreement.h). */
  Tally__Coefficient coefficients[4];
  Tally__Coefficient *coefficient_ptrs[4];
  size_t n_coefficients = 0;
  double value = 0.0;
  int rc = agreement_fleiss_kappa(fleiss, &value);
  coefficient(&coefficients[n_coefficients++], "fleiss_kappa", rc, value);
  rc = agreement_coincidence_alpha_nominal(coincidence, &value);
  coefficient(&coefficients[n_coefficients++], "krippendorff_alpha_nominal", rc, value);
  if (p->ordinal) {
    rc = agreement_coincidence_alpha_ordinal(coincidence, &value);
    coefficient(&coefficients[n_coefficients++], "krippendorff_alpha_ordinal", rc, value);
  }
  rc = agreement_coincidence_percent(coincidence, &value);
  coefficient(&coefficients[n_coefficients++], "percent_agreement", rc, value);
  for (size_t i = 0; i < n_coefficients; i++) coefficient_ptrs[i] = &coefficients[i];

  Tally__CalibrationSummary summary;
  summary_view(env, session, &summary);
  Tally__CalibrationResults body = TALLY__CALIBRATION_RESULTS__INIT;
  body.session = &summary;
  body.live = s->closed_ms == 0;
  body.n_labels = p->n_labels, body.labels = p->labels;
  body.n_people = n_persons, body.people = people_ptrs;
  body.group = &group;
  body.n_coefficients = n_coefficients, body.coefficients = coefficient_ptrs;
  body.n_items = s->n_items, body.items = item_ptrs;
  Tally__Envelope out;
  wire_envelope_init(&out, request->request_id);
  out.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS;
  out.calibration_results = &body;
  r->send(r->ctx, &out);
done:
  free(persons), free(people), free(people_ptrs), free(accuracies), free(views);
  free(item_ptrs), free(counts), free(values), free(fleiss), free(coincidence);
}

typedef struct {
  Tally__CalibrationTrendPoint point;
  Tally__Accuracy accuracy;
} trend_view_t;

static int trend_order(const void *a, const void *b) {
  const Tally__CalibrationTrendPoint *x = &((const trend_view_t *)a)->point;
  const Tally__CalibrationTrendPoint *y = &((const trend_view_t *)b)->point;
  int c = strcmp(x->person, y->person);
  if (c != 0) return c;
  if (x->created_ms != y->created_ms) return x->created_ms < y->created_ms ? -1 : 1;
  return strcmp(x->session, y->session);
}

static void handle_trend(calibration_t *cal, const calibration_env_t *env,
                         const Tally__Envelope *request, const coordinator_replier_t *r) {
  const Tally__CalibrationTrendRequest *body = request->calibration_trend_request;
  char quoted[QUOTE_SIZE];
  if (env->project(env->ctx, body->project) == NULL) {
    validate_quote(body->project, quoted, sizeof quoted);
    reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
    return;
  }
  size_t total = 0;
  for (size_t i = 0; i < cal->count; i++)
    if (cal->sessions[i]->s->closed_ms && strcmp(cal->sessions[i]->s->project, body->project) == 0)
      total += cal->sessions[i]->n_labels; /* an upper bound of its persons */
  trend_view_t *views = calloc(total + 1, sizeof *views);
  Tally__CalibrationTrendPoint **ptrs = calloc(total + 1, sizeof *ptrs);
  if (views == NULL || ptrs == NULL) {
    free(views), free(ptrs);
    reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < cal->count; i++) {
    const session_t *session = cal->sessions[i];
    if (!session->s->closed_ms || strcmp(session->s->project, body->project) != 0) continue;
    const char **persons = NULL;
    size_t n_persons = session_persons(session, &persons);
    for (size_t j = 0; j < n_persons; j++) {
      if (body->person[0] != '\0' && strcmp(body->person, persons[j]) != 0) continue;
      uint32_t labeled;
      uint64_t correct, judged;
      person_accuracy(session, persons[j], &labeled, &correct, &judged);
      trend_view_t *v = &views[n++];
      tally__calibration_trend_point__init(&v->point);
      v->point.person = (char *)persons[j];
      v->point.session = session->s->name;
      v->point.created_ms = session->s->created_ms;
      v->point.closed_ms = session->s->closed_ms;
      accuracy_of(correct, judged, &v->accuracy);
    }
    free(persons);
  }
  qsort(views, n, sizeof *views, trend_order);
  for (size_t i = 0; i < n; i++) {
    views[i].point.accuracy = &views[i].accuracy;
    ptrs[i] = &views[i].point;
  }
  Tally__CalibrationTrendReply reply = TALLY__CALIBRATION_TREND_REPLY__INIT;
  reply.n_points = n;
  reply.points = ptrs;
  Tally__Envelope out;
  wire_envelope_init(&out, request->request_id);
  out.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_TREND_REPLY;
  out.calibration_trend_reply = &reply;
  r->send(r->ctx, &out);
  free(views);
  free(ptrs);
}

/* ---------------------------------------------------------------- life cycle */

int calibration_new(calibration_t **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : TALLY_E_NOMEM;
}

void calibration_destroy(calibration_t **cal) {
  if (cal == NULL || *cal == NULL) return;
  for (size_t i = 0; i < (*cal)->count; i++) session_free((*cal)->sessions[i]);
  free((*cal)->sessions);
  free(*cal);
  *cal = NULL;
}

size_t calibration_count(const calibration_t *cal) { return cal->count; }

static int load_session(void *user, ProtobufCMessage *record) {
  calibration_t *cal = user;
  session_t *session = calloc(1, sizeof *session);
  if (session == NULL) {
    protobuf_c_message_free_unpacked(record, NULL);
    return TALLY_E_NOMEM;
  }
  session->s = (Tally__CalibrationSession *)record;
  if (session_insert(cal, session) < 0) {
    session_free(session);
    return TALLY_E_NOMEM;
  }
  return 0;
}

static int load_label(void *user, ProtobufCMessage *record) {
  calibration_t *cal = user;
  const Tally__CalibrationLabel *l = (const Tally__CalibrationLabel *)record;
  session_t *session = session_find(cal, l->session);
  long at = session ? item_index(session->s, l->item_id) : -1;
  int rc = 0;
  /* Appended in key order (by item id); calibration_load sorts once. */
  if (at < 0) log_warn("calibration label of a session or item that is not stored: skipped");
  else rc = label_put(session, session->n_labels, l->person, (uint32_t)at, l->label, l->at_ms,
                      l->handling_ms, l->policy_version);
  protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

int calibration_load(calibration_t *cal, meta_store_t *store) {
  int rc = meta_store_load_calibration(store, load_session, load_label, cal);
  for (size_t i = 0; rc == 0 && i < cal->count; i++)
    if (cal->sessions[i]->n_labels > 1)
      qsort(cal->sessions[i]->labels, cal->sessions[i]->n_labels, sizeof *cal->sessions[i]->labels,
          label_order);
  return rc;
}

int calibration_handles(Tally__Envelope__BodyCase body) {
  switch (body) {
    case TALLY__ENVELOPE__BODY_CALIBRATION_CREATE:
    case TALLY__ENVELOPE__BODY_CALIBRATION_ITEMS_ADD:
    case TALLY__ENVELOPE__BODY_CALIBRATION_ASSIGN:
    case TALLY__ENVELOPE__BODY_CALIBRATION_LIST:
    case TALLY__ENVELOPE__BODY_CALIBRATION_NEXT:
    case TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT:
    case TALLY__ENVELOPE__BODY_CALIBRATION_CLOSE:
    case TALLY__ENVELOPE__BODY_CALIBRATION_KEY:
    case TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS_REQUEST:
    case TALLY__ENVELOPE__BODY_CALIBRATION_TREND_REQUEST:
      return 1;
    default:
      return 0;
  }
}

void calibration_handle(calibration_t *cal, const calibration_env_t *env,
                        const Tally__Envelope *request, const coordinator_replier_t *r) {
  switch (request->body_case) {
    case TALLY__ENVELOPE__BODY_CALIBRATION_CREATE: handle_create(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_ITEMS_ADD: handle_items_add(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_ASSIGN: handle_assign(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_LIST: handle_list(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_NEXT: handle_next(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT: handle_submit(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_CLOSE: handle_close(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_KEY: handle_key(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS_REQUEST: handle_results(cal, env, request, r); break;
    case TALLY__ENVELOPE__BODY_CALIBRATION_TREND_REQUEST: handle_trend(cal, env, request, r); break;
    default: reply_error(r, TALLY_E_UNKNOWN_TYPE, "not a calibration request"); break;
  }
}
