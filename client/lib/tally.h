/* tally.h — libtally, the C client library of Tally.
 *
 * A tally_t is one client of one cluster: it talks to the coordinator for
 * control-plane requests (projects, labelers, the cluster map) and directly to
 * the workers for data-plane requests (ingest, lease, submit, status, items).
 * It caches the cluster map and routes every item request to the worker that
 * owns the item's slot (common/slot.h). When a worker answers MOVED the map is
 * refreshed and the request retried, invisibly to the caller; UNAVAILABLE and
 * TIMEOUT are retried a few times with backoff before they are reported (one
 * policy for every call, blocking or asynchronous: client/lib/retry_policy.h).
 * A blocking call (not an ingest) whose worker has not answered for 500 ms
 * follows the map while it waits (fetched every 250 ms): when the map
 * declares the worker DOWN (a failover promotes its followers in the same
 * map), the request goes to the new owner at once instead of after the
 * timeout (docs/REPLICATION.md, "Clients during a failover"). A TIMEOUT of
 * a slot request says what the map says of the slot: still listed with the
 * silent worker (a failover, if it died, comes after the coordinator's
 * heartbeat timeout: retry), or changed hands.
 *
 * Error model (common/tally_error.h): every function returns 0 (or a count)
 * on success and a negative TALLY_E_* code on failure; tally_strerror() and
 * tally_error_name() describe a code, and tally_last_error() gives the
 * detailed message (the server's, when the server refused) of the last
 * failure on a handle.
 *
 * Ownership: strings and arrays passed in are borrowed for the duration of
 * the call. Every result object a call returns through an `out` pointer
 * (tally_project_t *, tally_status_t *, ...) is one allocation owned by the
 * caller, including everything it points to; free it with tally_free().
 *
 * Threads: a tally_t and its tally_async_t objects belong to one thread at a
 * time (they wrap ZeroMQ sockets). Use one handle per thread.
 *
 * Two interfaces:
 *   - blocking calls (tally_project_create() ... tally_export_judgments()),
 *     one request at a time (or one per worker at once, for the calls that
 *     ask every worker), for tools and the `tally` command;
 *   - tally_async_t, many lease/submit/skip/release requests in flight over
 *     one connection per worker, matched to their replies by request id and
 *     reported with the caller's tag by tally_async_poll(); for gateways and
 *     load generators that carry many labeler sessions.
 */
#ifndef TALLY_H
#define TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "tally_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Coordinator endpoint used when none is given (the CLI also reads
 * $TALLY_COORDINATOR). */
#define TALLY_DEFAULT_COORDINATOR "tcp://127.0.0.1:7400"
/* Reply timeout used by tally_open() when timeout_ms <= 0. */
#define TALLY_DEFAULT_TIMEOUT_MS 5000
/* Longest long-poll a worker honours for a lease (wait_ms is capped to it). */
#define TALLY_MAX_WAIT_MS 30000
/* Buffer size that holds any lease token ("1023.18446744073709551615"). */
#define TALLY_LEASE_TOKEN_MAX 32

/* ------------------------------------------------------------ enumerations */

/* Work stages (proto Stage). */
typedef enum {
  TALLY_STAGE_LABEL = 0,
  TALLY_STAGE_AUDIT = 1,
  TALLY_STAGE_ADJUDICATE = 2
} tally_stage_t;

/* Item priorities (proto Priority): larger is served first. */
typedef enum {
  TALLY_PRIORITY_LOW = 0,
  TALLY_PRIORITY_NORMAL = 1,
  TALLY_PRIORITY_HIGH = 2,
  TALLY_PRIORITY_EMERGENCY = 3
} tally_priority_t;

/* Role bits of a labeler (proto Role). */
typedef enum {
  TALLY_ROLE_LABELER = 1,
  TALLY_ROLE_AUDITOR = 2,
  TALLY_ROLE_LEAD = 4,
  TALLY_ROLE_MANAGER = 8,
  TALLY_ROLE_OPERATOR = 16, /* runs the cluster: drains, admits workers, reads the admin log */
  TALLY_ROLE_GATEWAY = 32   /* a service acting for the people it signed in */
} tally_role_t;

/* Worker states in the cluster map (proto WorkerState). */
typedef enum {
  TALLY_WORKER_UNKNOWN = 0,
  TALLY_WORKER_UP = 1,
  TALLY_WORKER_DOWN = 2,
  TALLY_WORKER_DRAINING = 3
} tally_worker_state_t;

/* Who was wrong in a labeler/auditor disagreement (proto Attribution).
 * The worker derives it from the lead's final label (whoever gave another
 * label was wrong: labeler, auditor, or both when the lead chose a third
 * label); the lead adds only POLICY_UNCLEAR (nobody is judged). */
typedef enum {
  TALLY_ATTRIBUTION_NONE = 0,
  TALLY_ATTRIBUTION_LABELER = 1,
  TALLY_ATTRIBUTION_AUDITOR = 2,
  TALLY_ATTRIBUTION_BOTH = 3,
  TALLY_ATTRIBUTION_POLICY_UNCLEAR = 4
} tally_attribution_t;

/* How a quality report groups its rows (ReportRequest.by). */
typedef enum {
  TALLY_REPORT_BY_NONE = 0, /* one row: everything */
  TALLY_REPORT_BY_LABELER = 1,
  TALLY_REPORT_BY_MARKET = 2,
  TALLY_REPORT_BY_CATEGORY = 3, /* the labeler's label */
  TALLY_REPORT_BY_DAY = 4,
  TALLY_REPORT_BY_VERSION = 5 /* the project's policy version (tally_project_t) */
} tally_report_by_t;

/* "label", "audit", "adjudicate"; "unknown" for other values. */
const char *tally_stage_name(int stage);
/* Parses a stage name. Returns 0 or TALLY_E_INVALID_ARGUMENT. */
int tally_stage_parse(const char *name, tally_stage_t *out);

/* "low", "normal", "high", "emergency"; "unknown" for other values. */
const char *tally_priority_name(uint32_t priority);
/* Parses a priority name or a number 0..3. Returns 0 or
 * TALLY_E_INVALID_ARGUMENT. */
int tally_priority_parse(const char *text, uint32_t *out);

/* "labeler", "auditor", "lead", "manager"; NULL for anything else. */
const char *tally_role_name(tally_role_t role);
/* Parses a comma-separated role list ("labeler,auditor") into role bits.
 * Returns 0 or TALLY_E_INVALID_ARGUMENT (unknown or empty role). */
int tally_roles_parse(const char *list, uint32_t *out);
/* Writes the role bits as a comma-separated list into buf (always
 * NUL-terminated when size > 0). Returns the length it needed (like
 * snprintf). */
int tally_roles_format(uint32_t roles, char *buf, size_t size);

/* "up", "down", "draining", "unknown". */
const char *tally_worker_state_name(int state);

/* "none", "labeler", "auditor", "both", "policy-unclear"; "unknown" for
 * other values. */
const char *tally_attribution_name(int attribution);
/* Parses "labeler", "auditor", "both" or "policy-unclear" (also
 * "policy_unclear" or "policy"), case-insensitive. "none" is refused: an
 * adjudication always attributes. Returns 0 or TALLY_E_INVALID_ARGUMENT. */
int tally_attribution_parse(const char *name, tally_attribution_t *out);

/* "none", "labeler", "market", "category", "day", "version"; "unknown" otherwise. */
const char *tally_report_by_name(int by);
/* Parses a grouping name (as above; "" is "none"). Returns 0 or
 * TALLY_E_INVALID_ARGUMENT. */
int tally_report_by_parse(const char *name, tally_report_by_t *out);

/* Parses a UTC date "YYYY-MM-DD" (1970-01-01 .. 9999-12-31, a real
 * calendar day, nothing else) into days since 1970-01-01, the unit of report
 * day bounds. Returns 0 or TALLY_E_INVALID_ARGUMENT (*day untouched). */
int tally_day_parse(const char *text, uint32_t *day);
/* Writes day `day` (days since 1970-01-01) as "YYYY-MM-DD" into buf (11
 * bytes suffice). Returns 0 or TALLY_E_INVALID_ARGUMENT (buf too small, or
 * after 9999-12-31). */
int tally_day_format(uint32_t day, char *buf, size_t size);

/* ------------------------------------------------------------ lease tokens */

/* Writes the lease token "SLOT.LEASE_ID" (decimal) into buf. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT when buf is too small (TALLY_LEASE_TOKEN_MAX
 * always suffices). */
int tally_lease_token_format(uint32_t slot, uint64_t lease_id, char *buf, size_t size);

/* Parses a lease token: decimal slot below 1024, '.', decimal lease id that
 * fits 64 bits; nothing else (no sign, no spaces). Returns 0 or
 * TALLY_E_INVALID_ARGUMENT (then *slot and *lease_id are untouched). */
int tally_lease_token_parse(const char *token, uint32_t *slot, uint64_t *lease_id);

/* ------------------------------------------------------------ result types */

/* The audit rate of one market, overriding the project's base rate. */
typedef struct {
  const char *market;
  double rate; /* 0..1 */
} tally_market_rate_t;

/* How labels are sampled for blind audit (proto AuditPolicy). A labeler is
 * "ramping up" until they have at least ramp_audits audits at an audited
 * accuracy of at least ramp_target; meanwhile ramp_rate applies when it is
 * higher than their market's rate. */
typedef struct {
  double rate; /* base rate, 0..1 */
  const tally_market_rate_t *market_rates;
  size_t market_rate_count;
  double ramp_rate; /* 0..1; 0 = no ramp-up */
  uint32_t ramp_audits;
  double ramp_target; /* 0..1 */
  /* Share of each person's label tasks that are gold items, 0..0.5 (0 =
   * none): README, "Gold items". */
  double gold_rate;
} tally_audit_policy_t;

/* A project. As input to tally_project_create() `id`, `created_ms` and
 * `policy_version` are ignored, and so is `audit` unless it has market
 * rates or a ramp-up (its base rate is always `audit_rate`). */
typedef struct {
  uint32_t id;
  const char *name;
  const char **labels; /* the taxonomy, in order */
  size_t label_count;
  const char **markets;
  size_t market_count;
  uint32_t lease_seconds;
  double audit_rate; /* 0..1 */
  uint32_t overlap;  /* labels per item, >= 1 */
  uint32_t sla_seconds;
  int ordinal; /* taxonomy order is meaningful */
  uint64_t created_ms;
  tally_audit_policy_t audit; /* audit.rate == audit_rate */
  uint32_t policy_version;    /* taxonomy and guidelines; not changed by audit policies */
  /* Wellbeing: labels harmful to see, at most exposure_budget such items
   * per person per shift of shift_hours (0 = no limit; shift 0 = 8 h). */
  const char **high_severity;
  size_t high_severity_count;
  uint32_t exposure_budget;
  uint32_t shift_hours;
  /* Ramp-up across the cluster: the people who have left ramp-up, sorted,
   * as the coordinator decided from every worker's sums (never removed;
   * ignored by tally_project_create). */
  const char **ramped_up;
  size_t ramped_up_count;
  /* Guideline versions set with tally_guideline_set, oldest first; the
   * last is in effect (its version == policy_version). Ignored by
   * tally_project_create. */
  const struct tally_guideline *guidelines;
  size_t guideline_count;
} tally_project_t;

/* One version of a project's guidelines (proto GuidelineVersion). */
typedef struct tally_guideline {
  uint32_t version; /* the policy_version it set */
  const char *name;
  const char *url;  /* "" none */
  const char *text; /* "" none */
  uint64_t set_ms;
  const char *set_by;
} tally_guideline_t;

/* True when `person` is ramping up in `project`: the project has a ramp-up
 * (audit.ramp_rate > 0) and the coordinator has not yet listed the person
 * among those who left it. */
int tally_project_is_ramping(const tally_project_t *project, const char *person);

typedef struct {
  tally_project_t *projects;
  size_t count;
} tally_project_list_t;

/* A person: labeler, auditor, lead, manager, operator or a gateway. */
typedef struct {
  const char *id;
  uint32_t roles; /* TALLY_ROLE_* bits */
  const char **markets;
  size_t market_count;
  const char *public_key; /* CURVE public key (Z85): how daemons know them; NULL/"" none */
} tally_labeler_t;

typedef struct {
  tally_labeler_t *labelers;
  size_t count;
} tally_labeler_list_t;

/* Queue depth hint of one (project, market, stage) on one worker. */
typedef struct {
  uint32_t project_id;
  const char *market;
  tally_stage_t stage;
  uint64_t depth;
  uint32_t top_priority;
} tally_backlog_t;

typedef struct {
  uint32_t id;
  const char *endpoint;
  tally_worker_state_t state;
  uint64_t last_heartbeat_ms; /* unix ms, 0 = never */
  uint32_t slots_owned;
  uint64_t queued;
  uint64_t live_leases;
  uint64_t items;
  tally_backlog_t *backlog;
  size_t backlog_count;
  int draining;          /* handing its slots to the others (tally_worker_drain) */
  uint32_t slots_moving; /* slot moves out of it under way */
  int holds_sums;        /* it holds statistics, operations or exposure sums */
  int store_full;        /* its store refuses writes for lack of space (last heartbeat) */
} tally_worker_info_t;

/* The slot → worker map of the cluster. */
typedef struct {
  uint64_t epoch;
  uint32_t slot_count;
  uint64_t config_version;
  tally_worker_info_t *workers;
  size_t worker_count;
  uint32_t *slot_owner; /* slot_count entries: worker id, 0 = unassigned */
  uint32_t unassigned_slots;
} tally_map_t;

/* The copies of one slot (replication): followers hold a copy; every
 * acknowledged write waits for the in-sync ones. */
typedef struct {
  uint32_t slot;
  uint32_t primary;          /* the map's owner; 0 = unassigned */
  const uint32_t *followers; /* worker ids, primary excluded */
  size_t follower_count;
  const uint32_t *in_sync;   /* subset of followers */
  size_t in_sync_count;
  uint64_t slot_epoch;       /* raised whenever the slot's primary changes */
  int waiting;               /* primary down and no in-sync follower: nothing promoted */
} tally_slot_replicas_t;

/* One coordinator of a replicated control plane (Raft). */
typedef struct {
  uint64_t raft_id;
  const char *endpoint;     /* client endpoint */
  const char *raft_address;
  int leader;
} tally_coordinator_info_t;

/* How far a follower is behind its slot's primary, as the primary last
 * reported it. */
typedef struct {
  uint32_t slot;
  uint32_t follower_id;
  uint64_t sent_seq;
  uint64_t acked_seq;
  uint64_t lag_ms; /* age of the oldest unacknowledged append (0 = none) */
} tally_replica_lag_t;

/* The coordinator's view for `tally cluster status`. */
typedef struct {
  tally_map_t map;
  uint32_t replicas;                /* copies per slot as the coordinator gives it (0: not set) */
  tally_slot_replicas_t *slots;     /* one per slot in slot order, or NULL when not replicated */
  size_t slot_replica_count;
  tally_coordinator_info_t *coordinators; /* empty: one coordinator without Raft */
  size_t coordinator_count;
  uint64_t leader_id, raft_term, raft_commit_index;
  tally_replica_lag_t *lags;        /* from the primaries' last heartbeats */
  size_t lag_count;
} tally_cluster_status_t;

/* One item to ingest. content and gold_label may be NULL (empty). */
typedef struct {
  const char *id;
  const char *market;
  uint32_t priority; /* tally_priority_t */
  const char *content;
  const char *gold_label;
  const char *category_hint; /* expected label (e.g. from a classifier) or NULL */
} tally_item_t;

/* What became of one ingested item: code 0 = stored (newly, or already
 * present with the same fields — the protocol reports duplicates only as a
 * count), else the negative TALLY_E_* code it was rejected with and the
 * reason (TALLY_E_ALREADY_EXISTS: the id is present with other content, a
 * conflict; the stored item is unchanged). */
typedef struct {
  int code;
  const char *message; /* NULL when code == 0 */
} tally_item_result_t;

typedef struct {
  size_t count;        /* number of items given */
  uint32_t accepted;   /* newly stored */
  uint32_t duplicates; /* already present with the same fields */
  uint32_t rejected;
  uint32_t conflicts;  /* of `rejected`: id present with other fields (ALREADY_EXISTS) */
  tally_item_result_t *items; /* count entries, in input order */
} tally_ingest_result_t;

/* A leased task. The lease is identified by (slot, lease_id). */
typedef struct {
  uint32_t slot;
  uint64_t lease_id;
  const char *project;
  const char *item_id;
  const char *market;
  const char *content;
  const char **labels; /* taxonomy to choose from */
  size_t label_count;
  uint64_t deadline_ms; /* unix ms */
  tally_stage_t stage;
  uint32_t priority;
  /* Adjudication tasks only: the two disputed labels, A and B, in an order
   * that does not say who gave which; NULL/0 otherwise. */
  const char **candidates;
  size_t candidate_count;
  /* The item's category hint is a high-severity label of the project
   * (wellbeing): show the content blurred until the person asks. Never
   * derived from a person's label, so it keeps the blind. */
  int severity_hint;
} tally_task_t;

/* Depth of one (project, market, stage) queue. */
typedef struct {
  const char *project;
  const char *market;
  tally_stage_t stage;
  uint64_t depth;
  uint32_t top_priority;
} tally_queue_status_t;

/* Counters of one worker, or of the whole cluster (sums). */
typedef struct {
  uint32_t worker_id;   /* 0 in the cluster total */
  const char *endpoint; /* NULL in the cluster total */
  int code;             /* 0, or why this worker gave no counts */
  const char *error;    /* message when code != 0 */
  uint64_t items;
  uint64_t labels;
  uint64_t live_leases;
  uint64_t queued;
  uint64_t done;
  uint64_t expired_leases;
  uint64_t skips;
  uint64_t epoch;
  tally_queue_status_t *queues;
  size_t queue_count;
} tally_worker_status_t;

typedef struct {
  tally_worker_status_t total; /* sums over the workers that answered */
  tally_worker_status_t *workers;
  size_t worker_count;
  size_t workers_failed; /* workers that are down or did not answer */
} tally_status_t;

typedef struct {
  const char *labeler;
  const char *label;
  uint64_t at_ms;
  uint32_t handling_ms;
  uint32_t policy_version; /* in effect when submitted (1 for records older than versions) */
} tally_stored_label_t;

/* The stored state of one item. */
typedef struct {
  const char *project;
  const char *item_id;
  const char *market;
  uint32_t priority;
  const char *content;
  uint32_t overlap;
  tally_stored_label_t *labels;
  size_t label_count;
  uint32_t live_leases;
  int done;
  uint64_t ingested_ms; /* unix ms */
  uint64_t done_ms;     /* unix ms of the final decision; 0 while not done */
} tally_item_state_t;

/* One agreement coefficient of a report row. An undefined coefficient (no
 * data, or expected agreement 1) has defined == 0 and value 0: show it as
 * undefined, never as a number. */
typedef struct {
  const char *name; /* "percent_agreement", "cohen_kappa", "scott_pi", ... */
  int defined;
  double value;
} tally_coefficient_t;

/* A share judged right against the final label (README, "Accuracy"), with
 * its 95% Wilson interval; defined == 0 (and the doubles 0) when nothing
 * was judged. */
typedef struct {
  uint64_t judged;  /* closed audits that judged this person */
  uint64_t correct; /* ... where their label was the final label */
  int defined;
  double value; /* correct / judged */
  double wilson_low, wilson_high;
} tally_accuracy_t;

/* Quality figures of one group (labeler, market, category, day) or of all. */
typedef struct {
  const char *key; /* the group; "all" when ungrouped */
  uint64_t labels;
  uint64_t audits;       /* audited labels */
  uint64_t audit_agreed; /* ... that agreed with the auditor */
  int accuracy_defined;  /* 0 without audits: accuracy and interval undefined */
  double accuracy;       /* audit_agreed / audits: agreement with the auditor */
  double wilson_low, wilson_high; /* Wilson interval of that agreement */
  tally_accuracy_t labeler_final; /* the group's labelers against the final label */
  tally_accuracy_t auditor_final; /* the group's auditors against the final label */
  tally_coefficient_t *coefficients; /* in the coordinator's order */
  size_t coefficient_count;
  uint64_t gold_total, gold_hits;
  uint64_t adjudications;
  uint64_t attributed_labeler, attributed_auditor, attributed_both, attributed_policy;
  uint64_t handling_p50_ms, handling_p90_ms;
} tally_report_row_t;

/* What a quality report covers. Zero-initialised means everything. */
typedef struct {
  const char *market; /* NULL or "": every market */
  uint32_t from_day;  /* inclusive, days since 1970-01-01 UTC; 0 = no bound */
  uint32_t to_day;    /* inclusive; 0 = no bound */
  tally_report_by_t by;
} tally_report_query_t;

/* A quality report, summed over the workers by the coordinator. */
typedef struct {
  const char *project;
  const char **labels; /* the taxonomy: index order of the matrices */
  size_t label_count;  /* K */
  tally_report_row_t *rows; /* one per group, in the coordinator's order */
  size_t row_count;
  tally_report_row_t total;
  /* K*K counts, row-major: [labeler's label * K + auditor's label]; all
   * zero when there are no audits. policy_unclear: the same, restricted to
   * disagreements a lead attributed to an unclear policy. */
  uint64_t *confusion;
  uint64_t *policy_unclear;
  uint32_t workers_answered;
  uint32_t workers_failed; /* > 0: the figures miss their data */
} tally_report_t;

/* A labeler's closed audit, as feedback to them. */
typedef struct {
  const char *project;
  const char *item_id;
  const char *your_label;
  const char *final_label;
  int correct; /* your_label == final_label */
  uint64_t closed_ms; /* unix ms */
  int policy_unclear; /* verdict "policy unclear": not judged, counts neither way */
} tally_feedback_entry_t;

/* Where the person stands in one project, from their closed audits summed
 * over every worker (the audits feedback lists: nothing about pending
 * ones) and the project's ramp-up rule (README, "Your own standing"). */
typedef struct {
  const char *project;
  uint64_t closed;  /* closed audits */
  uint64_t judged;  /* ... not attributed to an unclear policy */
  uint64_t correct; /* ... your label was the final label */
  int accuracy_defined; /* judged > 0 */
  double accuracy, wilson_low, wilson_high; /* correct / judged, 95% Wilson */
  int has_ramp;     /* the project has a ramp-up */
  int ramping;      /* ... and you are still in it */
  uint32_t ramp_audits; /* leaving it takes this many judged audits */
  double ramp_target;   /* ... at this accuracy or better */
} tally_standing_t;

typedef struct {
  tally_feedback_entry_t *entries; /* newest first */
  size_t count;
  size_t workers_failed; /* workers down or not answering: entries may be missing */
  tally_standing_t *standing; /* one per project with closed audits or a ramp-up, by name */
  size_t standing_count;
} tally_feedback_t;

/* A closed audit with its outcome (tally_export_judgments). audit.labeler
 * is "" when the item had no audit label. */
typedef struct {
  const char *project;
  const char *item_id;
  const char *market;
  const tally_stored_label_t *labels; /* the labelers' labels */
  size_t label_count;
  tally_stored_label_t audit;
  const char *final_label;
  tally_attribution_t attribution; /* NONE when labeler and auditor agreed */
  const char *adjudicator;         /* "" without adjudication */
  const char *note;
  uint64_t closed_ms;
  const char *content;
  const char **audited_labelers;
  size_t audited_labeler_count;
  uint32_t policy_version; /* in effect when the audit closed (1 for records older than versions) */
} tally_judgment_t;

/* Frees any result object returned by a tally_* call, with everything it
 * points to. Safe on NULL. */
void tally_free(void *result);

/* ------------------------------------------------------------ the handle */

typedef struct tally tally_t;

/* Creates a client of the cluster whose coordinator listens at
 * `coordinator_endpoint` (NULL: TALLY_DEFAULT_COORDINATOR), or, for
 * replicated coordinators, a comma-separated list of all of them
 * ("tcp://a:7400,tcp://b:7400,tcp://c:7400"): the handle finds the leader,
 * following NOT_LEADER's leader endpoint or trying the next after a pause,
 * and fails a call with UNAVAILABLE ("no leader coordinator answered
 * within N ms") when none answers within 15 s. Nothing is sent
 * yet: connections are made lazily and the map is fetched on first use, so
 * an unreachable coordinator shows up as TIMEOUT on the first call.
 * timeout_ms is how long one attempt waits for a reply (<= 0: default).
 * Returns 0 with *out (the caller's, see tally_close), or NOMEM / TRANSPORT /
 * INVALID_ARGUMENT (an endpoint too long or empty, more than 7). */
int tally_open(tally_t **out, const char *coordinator_endpoint, int timeout_ms);
/* (tally_open uses tally_credentials_from_env: CURVE when TALLY_KEY is set,
 * else plain TCP; a bad TALLY_KEY gives its error.) */

/* A person's (or service's) CURVE identity: their key pair and the
 * coordinator's public key, each 40 Z85 characters (common/curve.h). */
typedef struct {
  char public_key[41];
  char secret_key[41];
  char coordinator_key[41];
} tally_credentials_t;

/* Reads a key file (`tally keys generate`: "public Z85" and "secret Z85"
 * lines) and the coordinator's public key (40 Z85 characters, or a .pub or
 * .key file holding them). Returns 0, TALLY_E_IO (cannot read key_file) or
 * TALLY_E_INVALID_ARGUMENT (not a key). */
int tally_credentials_load(tally_credentials_t *out, const char *key_file,
                           const char *coordinator_key);

/* The credentials named by the environment: TALLY_KEY (a key file) and
 * TALLY_COORDINATOR_KEY (the coordinator's key or .pub file). Returns 1
 * with *out filled, 0 when TALLY_KEY is unset (no credentials), or the
 * error of tally_credentials_load (also INVALID_ARGUMENT when TALLY_KEY is
 * set without TALLY_COORDINATOR_KEY). */
int tally_credentials_from_env(tally_credentials_t *out);

/* Opens a handle that authenticates and encrypts every connection with
 * CURVE as `credentials` (NULL: plain TCP, for --insecure clusters only; a
 * secure daemon never answers a plain client, so its calls time out).
 * Workers are authenticated by the keys the coordinator's map gives. Who
 * the caller is, for every daemon, follows from the key alone. Same
 * results as tally_open. */
int tally_open_with(tally_t **out, const char *coordinator_endpoint, int timeout_ms,
                    const tally_credentials_t *credentials);

/* Opens another handle on `sibling`'s cluster (same coordinator endpoint and
 * timeout) that shares its ZeroMQ context, so one I/O thread serves every
 * handle of the family instead of one thread per handle: for a program that
 * runs several connections from several threads (one context per process is
 * ZeroMQ's own advice). The handles are otherwise independent, each used by
 * one thread at a time, and may be closed in any order; the context ends
 * with the last. Returns 0 with *out (the caller's, see tally_close), or
 * INVALID_ARGUMENT (NULL sibling) / NOMEM / TRANSPORT. */
int tally_open_sibling(tally_t **out, tally_t *sibling);

/* Closes every connection and frees the handle; safe on NULL and twice; sets
 * *t to NULL. Every tally_async_t made from it must be destroyed first. */
void tally_close(tally_t **t);

/* Makes every later request of `t` act for `person` (NULL or "": stop):
 * the envelope's acting_for, which only a handle with a gateway's key may
 * set for someone else; the daemons then check each request against that
 * person's roles (docs/SECURITY.md). For a gateway that serves signed-in
 * people; set it before each call when one handle serves several people.
 * Returns 0 or INVALID_ARGUMENT (id too long). */
int tally_act_for(tally_t *t, const char *person);

/* Message of the last failed call on `t` (the server's words when a server
 * refused, else a local description); "" if nothing failed yet. Borrowed,
 * valid until the next call on `t`. */
const char *tally_last_error(const tally_t *t);

/* Code of the last failed call on `t` (0 if none). */
int tally_last_error_code(const tally_t *t);

/* ------------------------------------------------------------ control plane */

/* Creates a project from `spec`. On success, *out (if out is not NULL)
 * receives the project as stored (with its id). Errors: ALREADY_EXISTS,
 * INVALID_ARGUMENT, TIMEOUT, ... */
int tally_project_create(tally_t *t, const tally_project_t *spec, tally_project_t **out);

/* Sets a new guideline version of `project` (lead or manager): `name` and a
 * `url` or a `text` (either may be NULL, not both). The coordinator bumps
 * the project's policy_version, which every label, audit and verdict
 * records from the moment the workers run the new configuration (the call
 * returns then, or after at most 3 s). *out (if not NULL) is the project.
 * Errors: UNKNOWN_PROJECT, INVALID_ARGUMENT, ALREADY_EXISTS (the name is
 * taken), PERMISSION_DENIED. */
int tally_guideline_set(tally_t *t, const char *project, const char *name, const char *url,
                        const char *text, tally_project_t **out);

/* Lists all projects. *out is the caller's (tally_free). */
int tally_project_list(tally_t *t, tally_project_list_t **out);

/* One project by name. Errors: UNKNOWN_PROJECT / NOT_FOUND, TIMEOUT. */
int tally_project_show(tally_t *t, const char *name, tally_project_t **out);

/* Replaces the audit policy of `project` with `policy` (all of it: read
 * the current one with tally_project_show() to change one field). The
 * project's policy_version stays (it tracks the taxonomy and guidelines,
 * not sampling; statistics are kept per version). On success *out (if not NULL) receives the project as stored.
 * Rates must be within 0..1 and markets named, distinct: else
 * INVALID_ARGUMENT before anything is sent. Errors from the coordinator:
 * UNKNOWN_PROJECT, UNKNOWN_MARKET, INVALID_ARGUMENT, TIMEOUT, ... */
int tally_audit_policy_set(tally_t *t, const char *project, const tally_audit_policy_t *policy,
                           tally_project_t **out);

/* Replaces the wellbeing settings of `project` (all three). The reply
 * comes once every worker runs them. *out (if not NULL) receives the
 * project as stored. Errors: UNKNOWN_PROJECT, LABEL_NOT_IN_TAXONOMY,
 * INVALID_ARGUMENT (budget over 100000, shift_hours not dividing 24). */
int tally_wellbeing_set(tally_t *t, const char *project, const char **high_severity,
                        size_t high_severity_count, uint32_t exposure_budget,
                        uint32_t shift_hours, tally_project_t **out);

/* High-severity exposure of one person in one shift, summed over workers. */
typedef struct {
  const char *labeler;
  uint64_t shift; /* unix_ms / (shift_hours * 3600000) */
  uint64_t count;
} tally_exposure_row_t;

typedef struct {
  tally_exposure_row_t *rows; /* by labeler, then shift */
  size_t count;
  uint32_t workers_answered;
  uint32_t workers_failed;
} tally_exposure_t;

/* Exposure counts of `project` in shifts [from_shift, to_shift]: asks every
 * worker and adds. *out is the caller's (tally_free). Errors:
 * UNKNOWN_PROJECT, INVALID_ARGUMENT, and the first worker's error when none
 * answered. */
int tally_exposure(tally_t *t, const char *project, uint64_t from_shift, uint64_t to_shift,
                   tally_exposure_t **out);

/* Quality report of `project` (query NULL: everything, ungrouped): the
 * coordinator gathers the workers' statistics and computes every figure
 * once. The reply is checked (matrices of K*K cells) before it is handed
 * out in *out (tally_free). Workers that did not answer are counted in
 * (*out)->workers_failed; the call still succeeds. Errors: UNKNOWN_PROJECT,
 * UNKNOWN_MARKET, INVALID_ARGUMENT (bad grouping, from_day > to_day),
 * INTERNAL (malformed reply), TIMEOUT (after three times the handle's
 * timeout: a report waits for the workers). */
int tally_report_quality(tally_t *t, const char *project, const tally_report_query_t *query,
                         tally_report_t **out);

/* ------------------------------------------------------------ operations reports */

/* A computed figure: `defined` 0 means undefined (a division by zero) and
 * `value` is then 0 and meaningless; never read it as a number. */
typedef struct {
  int defined;
  double value;
} tally_figure_t;

/* Time to first action of one priority in a group (kind "ttfa"): ingest
 * to the first label, and ingest to the final decision. p50/p95 are
 * bucket-resolution estimates (within -21%/+26% from 1 s up, within 1 s
 * below); max_ms is exact; a figure of a count of 0 is undefined. */
typedef struct {
  uint32_t priority; /* 0 low, 1 normal, 2 high, 3 emergency */
  uint64_t first_label_count, first_label_max_ms;
  tally_figure_t first_label_p50_ms, first_label_p95_ms, first_label_mean_ms;
  uint64_t decision_count, decision_max_ms;
  tally_figure_t decision_p50_ms, decision_p95_ms, decision_mean_ms;
} tally_ttfa_t;

/* One group of an operations report (formulas: proto/tally.proto,
 * OpsReportRow, and README.md). */
typedef struct {
  const char *key; /* "all", a market, a stage (label/audit/adjudicate) or YYYY-MM-DD */
  uint64_t ingested, leases, completed, items_done, expired, skips, releases;
  uint64_t handling_ms_sum, sla_breaches, backlog;
  uint32_t top_priority;
  double labeler_hours;
  tally_figure_t handling_p50_ms, handling_p90_ms, completed_per_day;
  tally_figure_t abandonment_rate, skip_rate, breach_rate;
  tally_figure_t turnaround_p50_hours, turnaround_p90_hours, oldest_age_ms;
  tally_figure_t arrival_per_day, throughput_per_labeler_hour, time_to_clear_days;
  tally_figure_t labelers_needed;
  tally_ttfa_t *ttfa; /* per priority with data, ascending */
  size_t ttfa_count;
} tally_ops_row_t;

/* What an operations report covers. Zero-initialised: everything, one row. */
typedef struct {
  const char *market; /* NULL or "": every market */
  uint32_t from_day;  /* inclusive, days since 1970-01-01 UTC; 0 = first day with data */
  uint32_t to_day;    /* inclusive; 0 = today */
  const char *by;     /* NULL/"", "market", "stage", "day" (not for backlog, capacity) */
  double shift_hours; /* hours per labeler shift for capacity; 0 = 8 */
} tally_ops_query_t;

typedef struct {
  const char *project, *kind, *by;
  uint32_t from_day, to_day, days; /* the resolved range; days = D of the formulas */
  uint32_t sla_seconds;
  double shift_hours;
  uint64_t generated_ms;     /* unix ms at which ages were measured */
  tally_ops_row_t *rows;     /* ordered by key */
  size_t row_count;
  tally_ops_row_t total;
  uint32_t workers_answered;
  uint32_t workers_failed;   /* > 0: the figures miss their data */
} tally_ops_report_t;

/* Operations report of `project`: kind "throughput", "backlog", "sla",
 * "capacity" or "ttfa" (time to first action; by "" groups by market). The coordinator gathers every worker's counters and queues
 * and computes each figure once. *out is the caller's (tally_free).
 * Errors: INVALID_ARGUMENT (bad kind or grouping, from_day > to_day,
 * shift_hours outside 0..24; checked before sending), UNKNOWN_PROJECT,
 * UNKNOWN_MARKET, TIMEOUT (after three times the handle's timeout). */
int tally_report_ops(tally_t *t, const char *project, const char *kind,
                     const tally_ops_query_t *query, tally_ops_report_t **out);

/* Adds a labeler. *out (if not NULL) receives it as stored. Errors:
 * ALREADY_EXISTS, INVALID_ARGUMENT, UNKNOWN_MARKET, TIMEOUT. */
int tally_labeler_add(tally_t *t, const tally_labeler_t *spec, tally_labeler_t **out);

/* Lists all labelers. */
int tally_labeler_list(tally_t *t, tally_labeler_list_t **out);

/* A change of a person's allocation (tally_labeler_update). */
typedef struct {
  const char *id;
  uint32_t set_roles; /* TALLY_ROLE_* bits; 0 = unchanged */
  const char **add_markets;
  size_t add_count;
  const char **remove_markets;
  size_t remove_count;
  const char *set_public_key; /* NULL or "": unchanged; else the person's new CURVE key */
} tally_labeler_update_t;

/* One entry of the coordinator's append-only administrative log. */
typedef struct {
  uint64_t seq;
  uint64_t at_ms;          /* unix ms */
  const char *actor;       /* who made the change ("gateway/person" when acting for someone) */
  const char *action;      /* project_create, labeler_update, cluster_admit, worker_drain, ... */
  const char *target;
  const char *old_value;   /* JSON, "" when there was none */
  const char *new_value;   /* JSON, "" when removed */
} tally_admin_entry_t;

typedef struct {
  tally_admin_entry_t *entries; /* newest first */
  size_t count;
} tally_admin_log_t;

/* The newest `limit` (0: 100, at most 10000) entries before sequence
 * `before_seq` (0: the newest). Operators only. Errors: PERMISSION_DENIED,
 * TIMEOUT. */
int tally_admin_log(tally_t *t, uint32_t limit, uint64_t before_seq, tally_admin_log_t **out);

/* Admits (revoke 0) or withdraws (1) a worker's CURVE public key; a worker
 * holding the secret half may then register. Operators only. Errors:
 * INVALID_ARGUMENT (not a key), ALREADY_EXISTS (a person's key),
 * PERMISSION_DENIED, TIMEOUT. */
int tally_cluster_admit(tally_t *t, const char *public_key, int revoke);

/* Who the coordinator takes this handle for. */
typedef struct {
  const char *id;          /* person id, "worker N", or "anonymous" (insecure cluster) */
  uint32_t roles;          /* TALLY_ROLE_* bits (daemon roles: 64 worker, 128 coordinator) */
  const char *public_key;  /* the key it authenticated ("" insecure) */
  int secure;
} tally_whoami_t;

int tally_whoami(tally_t *t, tally_whoami_t **out);

/* Changes a person's roles and markets. Returns once every live worker runs
 * the change (or after the coordinator's bound of 3 s), so it holds from
 * their next lease. *out (if not NULL) receives the labeler as stored.
 * Errors: UNKNOWN_LABELER, INVALID_ARGUMENT (bad roles or market, a market
 * both added and removed, a non-manager left without markets), TIMEOUT. */
int tally_labeler_update(tally_t *t, const tally_labeler_update_t *update, tally_labeler_t **out);

/* One adjudicated case of the case database. label_a and label_b are the
 * two disputed labels in the order the lead saw them. */
typedef struct {
  const char *project;
  const char *item_id;
  const char *market;
  const char *final_label;
  tally_attribution_t attribution;
  const char *lead;
  const char *note;
  const char *label_a;
  const char *label_b;
  uint64_t closed_ms; /* unix ms */
  const char *content; /* tally_case_get only; "" in lists */
  uint32_t policy_version; /* in effect at the verdict (1 for cases older than versions) */
} tally_case_t;

typedef struct {
  tally_case_t *cases; /* newest first */
  size_t count;
  size_t workers_failed; /* workers down or not answering: cases may be missing */
} tally_case_list_t;

/* Filters of tally_cases_list; NULL or "" / 0 = any. */
typedef struct {
  const char *category; /* final label */
  const char *market;
  uint32_t since_day;   /* closed on or after (days since 1970-01-01) */
  uint32_t limit;       /* 0 = 100, at most 1000 */
  /* Search (`tally cases search`): */
  const char *text;          /* substring of the content or note, ASCII case ignored */
  tally_attribution_t attribution; /* NONE = any */
  const char *labeler;       /* an audited labeler of the item */
  const char *labeler_label; /* an audited labeler's label (labeler's, if given) */
  const char *auditor_label; /* the auditor's label */
  uint32_t policy_version;   /* the verdict's guideline version; 0 = any */
} tally_cases_query_t;

/* The newest adjudicated cases of `project` (asks every worker, merges).
 * Errors: UNKNOWN_PROJECT, INVALID_ARGUMENT, and the first worker's error
 * when none answered. */
int tally_cases_list(tally_t *t, const char *project, const tally_cases_query_t *query,
                     tally_case_list_t **out);

/* One case by item. Errors: NOT_FOUND (no such item, or not adjudicated),
 * UNKNOWN_PROJECT, INVALID_ARGUMENT. */
int tally_case_get(tally_t *t, const char *project, const char *item_id, tally_case_t **out);

/* Fetches the current cluster map from the coordinator (this also refreshes
 * the handle's routing). */
int tally_cluster_map(tally_t *t, tally_map_t **out);

/* The coordinator's view of the cluster: the map, replication (copies per slot, followers, in-sync sets,
 * lags) and the coordinators. Leads, managers and operators. Errors:
 * PERMISSION_DENIED, UNAVAILABLE, TIMEOUT, and UNKNOWN_TYPE or BAD_REQUEST
 * from a coordinator older than cluster_status (tally_cluster_map still
 * works there). */
int tally_cluster_status(tally_t *t, tally_cluster_status_t **out);

/* Drains worker `worker_id` (undrain 0): the coordinator moves its slots,
 * one at a time and live, to the other UP workers, and then has it hand
 * its statistics, operations and exposure sums to one of them; it can be
 * stopped once it owns no slot and holds no sums. With undrain 1 the worker
 * takes part in the balance again (slots move back to it). Returns 0 with
 * the map after the change in *out (may be NULL when not wanted), or
 * NOT_FOUND (no such worker), INVALID_ARGUMENT (no other UP worker could
 * take the slots), UNAVAILABLE, TIMEOUT. */
int tally_worker_drain(tally_t *t, uint32_t worker_id, int undrain, tally_map_t **out);

/* ------------------------------------------------------------ sign-in */

/* Credentials of the web console (tally-gateway, docs/GATEWAY.md), kept by
 * the coordinator so that any gateway can sign anyone in. Secrets never
 * leave this process: a password is hashed here with argon2id, an API
 * token with BLAKE2b-256. Setting needs a manager, operator or gateway key
 * (only an operator for an operator's or gateway's credentials). */
#define TALLY_PASSWORD_MIN 8
#define TALLY_PASSWORD_MAX 1024
#define TALLY_TOKEN_MAX 64        /* buffer that holds any API token ("tly_" + 43) */
#define TALLY_TOKEN_HASH_HEX 65   /* 64 hex digits and the terminator */

/* Sets `person`'s console password. Errors: INVALID_ARGUMENT (length out
 * of TALLY_PASSWORD_MIN..MAX), UNKNOWN_LABELER, PERMISSION_DENIED, ... */
int tally_password_set(tally_t *t, const char *person, const char *password);

/* Sets `person`'s console language (en, es, ja, ko). */
int tally_language_set(tally_t *t, const char *person, const char *language);

/* Makes an API token named `name` for `person` (revoke_others: drop their
 * other tokens first) and writes it into token (size >= TALLY_TOKEN_MAX).
 * Only its hash is stored: show it once. */
int tally_token_create(tally_t *t, const char *person, const char *name, int revoke_others,
                       char *token, size_t size);

/* Drops every API token of `person`. */
int tally_tokens_revoke(tally_t *t, const char *person);

/* Writes the hex BLAKE2b-256 hash under which a token is stored. */
int tally_token_hash(const char *token, char hex[TALLY_TOKEN_HASH_HEX]);

/* What a gateway needs to sign a person in (gateway keys only). */
typedef struct {
  const char *person;
  uint32_t roles;
  const char **markets;
  size_t market_count;
  const char *password_hash; /* argon2id string; "" when none is set */
  const char *language;      /* "" when never chosen */
  const char *token_name;    /* by token: its name */
  int has_session_key;
  unsigned char session_key[32]; /* the cluster's key for session cookies */
} tally_credential_t;

/* Looks a person up by id, or by API token (at most one of the two);
 * session_key != 0 also fetches the cluster's session key (alone when
 * neither person nor token is given: then only the key is set). Errors:
 * NOT_FOUND (no such person or token), PERMISSION_DENIED, TIMEOUT. */
int tally_credential_get(tally_t *t, const char *person, const char *token, int session_key,
                         tally_credential_t **out);

/* ------------------------------------------------------------ data plane */

/* Ingests `count` items into `project`. The items are grouped by the worker
 * owning their slot and sent in batches of at most 1000 items (and well under
 * the message size limit), all batches in flight at once; items a worker
 * refuses with MOVED are re-sent after a map refresh.
 *
 * Sets *out (except on NOMEM and INVALID_ARGUMENT, an empty project name)
 * to a result with one entry per item in input order. Returns 0 when every
 * batch was answered — individual items may still be rejected
 * (UNKNOWN_MARKET, INVALID_ARGUMENT for a missing id or market, TOO_LARGE,
 * ...), see (*out)->items. Returns a negative code when a whole batch failed
 * (UNKNOWN_PROJECT, UNAVAILABLE or TIMEOUT after retries, no map because the
 * coordinator is unreachable, ...): the items of that batch then carry that
 * code too, and tally_last_error() says why. Re-sending the same items is
 * safe: they count as duplicates (the same id with other fields is a
 * conflict: ALREADY_EXISTS, counted in conflicts). A worker whose disk is
 * full answers NO_SPACE for the whole batch. */
int tally_ingest(tally_t *t, const char *project, const tally_item_t *items, size_t count,
                 tally_ingest_result_t **out);

/* Leases the next task for `labeler` in `project` (NULL or "": any project)
 * at `stage`. Asks the workers that are not down in the order of the
 * backlog hints of the map (refreshed alongside lease calls once it is
 * older than about a second): first those with work waiting for the stage
 * (and project), highest priority first, so emergency items anywhere in the
 * cluster come first; ties drawn at random weighted by queue depth; then the
 * others. A worker with nothing this person may take (markets, a stale hint)
 * is passed over. With wait_ms > 0 keeps asking (long-polling on the
 * best-hinted worker, or on all in turn without hints; capped at
 * TALLY_MAX_WAIT_MS) until a task comes or wait_ms passed. Returns 0 with
 * *out = the task (tally_free), or 0 with *out = NULL when no task is
 * available. Errors: UNKNOWN_LABELER, NOT_QUALIFIED, UNKNOWN_PROJECT,
 * UNAVAILABLE (no worker reachable), TIMEOUT. */
int tally_lease(tally_t *t, const char *labeler, const char *project, tally_stage_t stage,
                int wait_ms, tally_task_t **out);

/* Submits `label` for the lease (slot, lease_id) held by `labeler`;
 * handling_ms is the time the person spent. A lease this handle took
 * lately is sent with its task's project, item and stage, so a worker that
 * lost the lease (it restarted; leases live in memory) still takes the
 * label when it is valid, and a repeat of a stored submit answers 0 as the
 * first did. Errors: STALE_LEASE, LEASE_LOST (the lease was lost with a
 * worker restart and the label can no longer be taken: the task was
 * offered again), NOT_LEASE_OWNER, LABEL_NOT_IN_TAXONOMY, TIMEOUT,
 * UNAVAILABLE (the slot's owner is DOWN, as for tally_item_get), ... */
int tally_submit(tally_t *t, const char *labeler, uint32_t slot, uint64_t lease_id,
                 const char *label, uint32_t handling_ms);

/* Submits a lead's verdict on an adjudication task: the final `label`
 * (any label of the taxonomy), `attribution` NONE (the worker derives who
 * was wrong from the final label) or POLICY_UNCLEAR (nobody is judged), and
 * an optional `note` (NULL: none) for the case database. LABELER, AUDITOR
 * and BOTH are accepted for older callers and ignored: the labels decide.
 * A plain tally_submit of an adjudication task is a verdict without note.
 * Errors as tally_submit; INVALID_ARGUMENT for a value outside the enum. */
int tally_submit_adjudication(tally_t *t, const char *lead, uint32_t slot, uint64_t lease_id,
                              const char *label, tally_attribution_t attribution, const char *note,
                              uint32_t handling_ms);

/* Gives the task back without a label (it counts as a skip). Errors as
 * tally_submit. */
int tally_skip(tally_t *t, const char *labeler, uint32_t slot, uint64_t lease_id);

/* Gives the task back untouched (e.g. the person logs off). */
int tally_release(tally_t *t, const char *labeler, uint32_t slot, uint64_t lease_id);

/* Asks every worker of the cluster (after a map refresh) for its counters,
 * restricted to `project` unless NULL or "". out->total sums the workers
 * that answered, queues merged by (project, market, stage). Workers that are
 * down or do not answer are listed with their code and error. Returns 0 if
 * at least one worker answered (or the cluster has no workers), else the
 * first worker's error. */
int tally_status(tally_t *t, const char *project, tally_status_t **out);

/* Stored state of one item. Errors: NOT_FOUND, UNKNOWN_PROJECT, TIMEOUT,
 * UNAVAILABLE (after a few retries: the item's slot has no owner, or its
 * owner is DOWN; the message names the slot and the worker — retry later). */
int tally_item_get(tally_t *t, const char *project, const char *item_id,
                   tally_item_state_t **out);

/* The closed audits of `labeler` (in `project`, or all when NULL or ""),
 * newest first, at most `limit` (0: 100). Asks every worker (after a map
 * refresh) and merges; pending audits are never listed. Returns 0 if at
 * least one worker answered — (*out)->workers_failed says how many did not
 * — else the first worker's error (UNKNOWN_LABELER, UNAVAILABLE, TIMEOUT,
 * ...). */
int tally_feedback(tally_t *t, const char *labeler, const char *project, uint32_t limit,
                   tally_feedback_t **out);

/* Called once per exported judgment. `j` and everything it points to are
 * borrowed for the call only. Return 0 to go on; any other value stops the
 * export, which then returns that value. */
typedef int (*tally_judgment_fn)(void *arg, const tally_judgment_t *j);

/* What an export went through (tally_export_judgments). */
typedef struct {
  uint64_t judgments;      /* handed to the callback */
  size_t workers_answered; /* exported completely */
  size_t workers_failed;   /* down or failed mid-way: their judgments may be missing */
} tally_export_summary_t;

/* Streams every closed audit of `project` to fn, worker by worker, page by
 * page (page_size judgments per request, 0: the worker's default of 1000),
 * holding one page in memory at a time. Within a worker, judgments come in
 * the worker's order; workers in map order. A worker that fails (after
 * retries) does not stop the others: the export goes on and then returns
 * the first failure (tally_last_error() names the worker); judgments
 * already delivered stay delivered. Returns 0 when every worker was
 * exported completely, fn's non-zero value if it stopped the export, or a
 * negative error (UNKNOWN_PROJECT, UNAVAILABLE, TIMEOUT, ...). summary (if
 * not NULL) is filled in every case. The map is read once at the start: a
 * slot that moves during the export may have its judgments delivered twice
 * or not at all (export again once the move is done). */
int tally_export_judgments(tally_t *t, const char *project, uint32_t page_size, tally_judgment_fn fn,
                           void *arg, tally_export_summary_t *summary);

/* ------------------------------------------------------------ calibration */

/* Calibration sessions (README, "Calibration sessions"): the same items
 * given to a group outside production, each member labeling each item once,
 * blind, before a deadline; results against an answer key. Leads and
 * managers create, assign, close, key and read results; members (labelers,
 * auditors, named people) fetch and submit. */

/* One item of a session. `key` is the answer key (NULL/"" = none yet);
 * content and media_url may be NULL, not both. */
typedef struct {
  const char *id;
  const char *market; /* a market of the project, or NULL/"" */
  const char *content;
  const char *media_url;
  const char *key;
} tally_calibration_item_t;

/* A session as the caller may see it. Members see name, project, times,
 * state, items and your_done; the rest is 0/empty for them. */
typedef struct {
  const char *name;
  const char *project;
  uint64_t created_ms, deadline_ms, closed_ms; /* unix ms; closed 0 = open */
  const char *state;                           /* "open", "past deadline", "closed" */
  uint32_t items;
  uint32_t keyed_items;
  const char **markets; /* the group: people of these markets who label or audit */
  size_t market_count;
  const char **people;  /* ... and these people */
  size_t people_count;
  uint32_t members;     /* people in the group now */
  uint64_t labels;      /* labels given so far */
  uint32_t your_done;   /* the caller's own labels in it */
  const char *created_by;
  uint32_t policy_version; /* the project's at creation */
} tally_calibration_t;

typedef struct {
  tally_calibration_t *sessions; /* by name */
  size_t count;
} tally_calibration_list_t;

/* What tally_calibration_create needs. */
typedef struct {
  const char *name; /* 1-64 bytes, unique */
  const char *project;
  uint64_t deadline_ms; /* unix ms, in the future, at most a year ahead */
  const tally_calibration_item_t *items; /* at most 1000 (more with items_add) */
  size_t item_count;
  const char **markets; /* optional: the group at once */
  size_t market_count;
  const char **people;
  size_t people_count;
} tally_calibration_spec_t;

/* The next item a member has not labeled: has_task 0 when every item is
 * labeled. Never carries the key or another person's label. */
typedef struct {
  int has_task;
  const char *session;
  const char *project;
  const char *item_id;
  const char *market;
  const char *content;
  const char *media_url;
  const char **labels; /* the taxonomy */
  size_t label_count;
  uint64_t deadline_ms;
  uint32_t done, total; /* the member's labels, items in the session */
} tally_calibration_task_t;

/* A stored calibration label (a repeat answers with the first one). */
typedef struct {
  const char *session;
  const char *item_id;
  const char *label;
  uint64_t at_ms;
  uint32_t done, total;
} tally_calibration_ack_t;

/* A key for one item (tally_calibration_key). */
typedef struct {
  const char *item_id;
  const char *label;
} tally_calibration_key_t;

typedef struct {
  const char *person;
  uint32_t labeled;
  tally_accuracy_t accuracy; /* against the key, over labeled items that have one */
} tally_calibration_person_t;

typedef struct {
  const char *item_id;
  const char *market;
  const char *key;                 /* "" = not keyed */
  uint32_t labels;                 /* members who labeled it */
  const uint64_t *distribution;    /* per taxonomy label, in results.labels order */
  int disagreement_defined;        /* 0 with fewer than 2 labels */
  double disagreement;             /* 1 - share of agreeing pairs of its labels */
  const char *top_label;           /* most given ("" with no label) */
} tally_calibration_item_result_t;

typedef struct {
  tally_calibration_t session;
  int live; /* still open: figures may move */
  const char **labels; /* taxonomy */
  size_t label_count;
  tally_calibration_person_t *people; /* by person */
  size_t people_count;
  tally_accuracy_t group; /* every keyed label of the session */
  tally_coefficient_t *coefficients; /* fleiss_kappa, krippendorff_alpha_nominal, [_ordinal], percent_agreement */
  size_t coefficient_count;
  tally_calibration_item_result_t *items; /* most disagreement first */
  size_t item_count;
} tally_calibration_results_t;

typedef struct {
  const char *person;
  const char *session;
  uint64_t created_ms, closed_ms;
  tally_accuracy_t accuracy;
} tally_calibration_trend_point_t;

typedef struct {
  tally_calibration_trend_point_t *points; /* by person, then session date */
  size_t count;
} tally_calibration_trend_t;

/* Lead or manager. *out (if not NULL) is the new session. Errors:
 * ALREADY_EXISTS, UNKNOWN_PROJECT, UNKNOWN_MARKET, UNKNOWN_LABELER,
 * LABEL_NOT_IN_TAXONOMY (a key), INVALID_ARGUMENT, TOO_LARGE,
 * PERMISSION_DENIED. */
int tally_calibration_create(tally_t *t, const tally_calibration_spec_t *spec,
                             tally_calibration_t **out);
/* Lead or manager: more items while the session is open (CLOSED after). */
int tally_calibration_items_add(tally_t *t, const char *session,
                                const tally_calibration_item_t *items, size_t count,
                                tally_calibration_t **out);
/* Lead or manager: markets and/or people join the group. */
int tally_calibration_assign(tally_t *t, const char *session, const char **markets,
                             size_t market_count, const char **people, size_t people_count,
                             tally_calibration_t **out);
/* The sessions of `project` (NULL/"" = all) the caller may see. */
int tally_calibration_list(tally_t *t, const char *project, tally_calibration_list_t **out);
/* A member's next item (person NULL = the caller; another person only with
 * a gateway's key). Errors: NOT_FOUND (no such session of theirs), CLOSED. */
int tally_calibration_next(tally_t *t, const char *session, const char *person,
                           tally_calibration_task_t **out);
/* A member's label of one item. Errors: CLOSED (past the deadline or
 * closed), ALREADY_EXISTS (labeled before with another label),
 * LABEL_NOT_IN_TAXONOMY, NOT_FOUND. */
int tally_calibration_submit(tally_t *t, const char *session, const char *person,
                             const char *item_id, const char *label, uint32_t handling_ms,
                             tally_calibration_ack_t **out);
/* Lead or manager: no more labels are taken. Closing twice is harmless. */
int tally_calibration_close(tally_t *t, const char *session, tally_calibration_t **out);
/* Lead or manager, after close: the key of some items (the lead's verdict). */
int tally_calibration_key(tally_t *t, const char *session, const tally_calibration_key_t *keys,
                          size_t count, tally_calibration_t **out);
/* Lead or manager: a session's results (live while it is open). */
int tally_calibration_results(tally_t *t, const char *session,
                              tally_calibration_results_t **out);
/* Lead or manager: accuracy per closed session of `project`, per person
 * (person NULL/"" = everyone), in session date order. */
int tally_calibration_trend(tally_t *t, const char *project, const char *person,
                            tally_calibration_trend_t **out);

/* ------------------------------------------------------------ asynchronous */

/* Many requests in flight at once over one DEALER per worker. Calls queue a
 * request and return at once; tally_async_poll() reports each answer as a
 * completion carrying the caller's tag. A call that returns an error never
 * produces a completion; a call that returns 0 always produces exactly one
 * (a reply, or TALLY_E_TIMEOUT after the handle's timeout plus any wait_ms).
 *
 * MOVED is not retried here: the completion has status TALLY_E_MOVED (which
 * tally_error_is_retryable() accepts), routing for that slot is updated at
 * once from the worker's hint, and the map is refreshed on the next poll; the
 * caller re-issues the request. */
typedef struct tally_async tally_async_t;

typedef enum {
  TALLY_OP_LEASE = 1,
  TALLY_OP_SUBMIT = 2, /* also tally_async_submit_adjudication() */
  TALLY_OP_SKIP = 3,
  TALLY_OP_RELEASE = 4
} tally_op_t;

typedef struct {
  void *tag;         /* as given to the call */
  tally_op_t op;     /* which call */
  int status;        /* 0 or a negative TALLY_E_* code */
  const char *error; /* message when status != 0 */
  int has_task;      /* TALLY_OP_LEASE with status 0: 1 if `task` is set */
  tally_task_t task;
} tally_completion_t;

/* Creates an asynchronous interface on `t` (which must outlive it). Fetches
 * the cluster map if `t` has none yet. Returns 0 with *out, or NOMEM /
 * TIMEOUT / UNAVAILABLE (map). */
int tally_async_new(tally_async_t **out, tally_t *t);

/* Closes the connections, dropping requests in flight (no completions);
 * safe on NULL and twice; sets *a to NULL. */
void tally_async_destroy(tally_async_t **a);

/* Queues a lease request (see tally_lease()) to one worker, chosen along
 * the order of the backlog hints as tally_lease() does: the first lease of
 * a (labeler, project, stage) goes to the best-hinted worker, each further
 * one (also while earlier ones are in flight) to the next worker of that
 * order, round and round, until one brings a task or a fresher map comes;
 * without hints the order is a per-key random one, so leases spread over
 * the workers. One worker only, so a completion without a task means "none
 * there right now": re-issue to try the next. wait_ms as in tally_lease.
 * Returns 0, or UNAVAILABLE (no worker), NOMEM, TOO_LARGE, TRANSPORT. */
int tally_async_lease(tally_async_t *a, const char *labeler, const char *project,
                      tally_stage_t stage, int wait_ms, void *tag);

/* Queues a submit, routed to the owner of `slot`. A MOVED or UNAVAILABLE
 * answer (the slot moved, or is being moved right now) is not reported:
 * the request is re-sent to the slot's owner as libtally's one retry policy
 * says (MOVED: at once to the owner the error names, then after 50 ms,
 * doubled, at most 5 times; UNAVAILABLE: after 50 ms, doubled, at most 5
 * times; client/lib/retry_policy.h), so a live slot migration goes unnoticed; the
 * same holds for adjudications, skips and releases. Returns as
 * tally_async_lease (UNAVAILABLE: the slot has no owner or it is down). */
int tally_async_submit(tally_async_t *a, const char *labeler, uint32_t slot, uint64_t lease_id,
                       const char *label, uint32_t handling_ms, void *tag);

/* Queues a lead's verdict (see tally_submit_adjudication()), routed by
 * slot; its completion has op TALLY_OP_SUBMIT. Returns as
 * tally_async_submit, and INVALID_ARGUMENT for a value outside the enum. */
int tally_async_submit_adjudication(tally_async_t *a, const char *lead, uint32_t slot, uint64_t lease_id,
                                    const char *label, tally_attribution_t attribution, const char *note,
                                    uint32_t handling_ms, void *tag);

/* Queues a skip / a release, routed by slot. */
int tally_async_skip(tally_async_t *a, const char *labeler, uint32_t slot, uint64_t lease_id,
                     void *tag);
int tally_async_release(tally_async_t *a, const char *labeler, uint32_t slot, uint64_t lease_id,
                        void *tag);

/* Waits up to timeout_ms (0: don't wait, -1: until something completes)
 * for completions and stores at most `max` of them in out[]. Returns the
 * number stored (0 when the wait ended with none) or TRANSPORT. Strings and
 * arrays in the completions (task fields, error) are owned by `a` and stay
 * valid until the next tally_async_poll() or tally_async_destroy(). Returns
 * 0 at once when nothing is in flight. */
int tally_async_poll(tally_async_t *a, int timeout_ms, tally_completion_t *out, int max);

/* Number of requests in flight (queued calls not yet reported). */
size_t tally_async_in_flight(const tally_async_t *a);

/* With on != 0, every later request of `a` acts for the person it names
 * (the labeler / lead argument) through the envelope's acting_for: for a
 * gateway's key, so the daemons check the person's own roles. */
void tally_async_act_for_labeler(tally_async_t *a, int on);

/* The file descriptors (ZeroMQ's ZMQ_FD of each connection) that become
 * readable when replies may have arrived, for an event loop (libuv's
 * uv_poll) that calls tally_async_poll(a, 0, ...) when one wakes up, after
 * each call that queues a request (a send may take the wake-up), and at
 * least every 20 ms while requests are in flight (deadlines, re-sends).
 * Stores at most max of them and returns how many there are; the set only
 * grows (a connection is made on first use). */
int tally_async_fds(const tally_async_t *a, int *fds, int max);

#ifdef __cplusplus
}
#endif

#endif
