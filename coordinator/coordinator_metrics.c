/* coordinator_metrics: the coordinator's metrics. See coordinator_metrics.h. */
#include "coordinator_metrics.h"

#include <stdlib.h>
#include <uv.h>

#include "tally_error.h"
#include "wire.h"

/* Report gathers ask every worker and wait for the slowest (deadline
 * REPORT_GATHER_DEFAULT_DEADLINE_MS): 1 ms .. 60 s. */
static const double GATHER_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30, 60};

struct coordinator_metrics {
  coordinator_t *coordinator;
  metrics_t *registry;
  metric_family_t *requests, *received, *gather, *workers, *unassigned, *epoch, *config_version,
      *moves, *projects, *labelers;
};

static void set_gauge(metric_family_t *f, double value) {
  metric_series_set(metric_family_series(f, NULL), value);
}

static void collect(void *user) {
  coordinator_metrics_t *m = user;
  coordinator_figures_t fig;
  if (m->coordinator == NULL) return; /* a replicated coordinator that is not the leader */
  coordinator_figures(m->coordinator, &fig);
  static const char *const states[] = {"unknown", "up", "down", "draining"};
  for (size_t i = 0; i < 4; i++) {
    const char *values[] = {states[i]};
    metric_series_t *s = metric_family_series(m->workers, values);
    if (s != NULL) metric_series_set(s, fig.workers_by_state[i]);
  }
  set_gauge(m->unassigned, fig.slots_unassigned);
  set_gauge(m->epoch, (double)fig.epoch);
  set_gauge(m->config_version, (double)fig.config_version);
  set_gauge(m->moves, fig.slot_moves);
  set_gauge(m->projects, fig.projects);
  set_gauge(m->labelers, fig.labelers);
}

static int add_families(coordinator_metrics_t *m) {
  const metric_family_spec_t specs[] = {
      {METRIC_COUNTER, "tally_coordinator_requests_total",
       "Requests answered, by request type and result code (OK or the error's name).",
       "type,code", NULL, 0, &m->requests},
      {METRIC_COUNTER, "tally_coordinator_received_bytes_total",
       "Bytes of request envelopes received and handled.", NULL, NULL, 0, &m->received},
      {METRIC_HISTOGRAM, "tally_coordinator_report_gather_seconds",
       "Time from asking every worker for a report's figures to having them all (or the "
       "deadline), by kind: quality (report), ops (ops report), ramp (ramp-up sums).",
       "kind", GATHER_BUCKETS, sizeof GATHER_BUCKETS / sizeof GATHER_BUCKETS[0], &m->gather},
      {METRIC_GAUGE, "tally_coordinator_workers", "Workers known, by state.", "state", NULL, 0,
       &m->workers},
      {METRIC_GAUGE, "tally_coordinator_slots_unassigned", "Slots that no worker owns.", NULL,
       NULL, 0, &m->unassigned},
      {METRIC_GAUGE, "tally_coordinator_map_epoch", "Epoch of the slot map.", NULL, NULL, 0,
       &m->epoch},
      {METRIC_GAUGE, "tally_coordinator_config_version",
       "Version of the cluster configuration (projects, labelers, policies).", NULL, NULL, 0,
       &m->config_version},
      {METRIC_GAUGE, "tally_coordinator_slot_moves", "Slot moves under way.", NULL, NULL, 0,
       &m->moves},
      {METRIC_GAUGE, "tally_coordinator_projects", "Projects configured.", NULL, NULL, 0,
       &m->projects},
      {METRIC_GAUGE, "tally_coordinator_labelers", "People registered (every role).", NULL,
       NULL, 0, &m->labelers},
  };
  return metrics_add_families(m->registry, specs, sizeof specs / sizeof specs[0]);
}

int coordinator_metrics_new(coordinator_metrics_t **out, coordinator_t *coordinator) {
  *out = NULL;
  coordinator_metrics_t *m = calloc(1, sizeof *m);
  if (m == NULL) return TALLY_E_NOMEM;
  m->coordinator = coordinator;
  int rc = metrics_new(&m->registry);
  if (rc == 0) rc = metrics_add_process(m->registry, "tally-coordinator");
  if (rc == 0) rc = add_families(m);
  if (rc == 0) rc = metrics_add_collector(m->registry, collect, m);
  if (rc < 0) {
    coordinator_metrics_destroy(&m);
    return rc;
  }
  *out = m;
  return 0;
}

void coordinator_metrics_destroy(coordinator_metrics_t **m) {
  if (m == NULL || *m == NULL) return;
  metrics_destroy(&(*m)->registry);
  free(*m);
  *m = NULL;
}

metrics_t *coordinator_metrics_registry(coordinator_metrics_t *m) { return m->registry; }

void coordinator_metrics_received(coordinator_metrics_t *m, size_t bytes) {
  if (m == NULL) return;
  metric_series_add(metric_family_series(m->received, NULL), bytes);
}

void coordinator_metrics_answered(coordinator_metrics_t *m, uint32_t body_case, int code) {
  if (m == NULL) return;
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  env.body_case = (Tally__Envelope__BodyCase)body_case;
  const char *values[] = {wire_body_name(&env), tally_error_name(code)};
  metric_series_t *s = metric_family_series(m->requests, values);
  if (s != NULL) metric_series_add(s, 1);
}

void coordinator_metrics_gathered(coordinator_metrics_t *m, coordinator_gather_kind_t kind,
                                  uint64_t started_ns) {
  if (m == NULL) return;
  static const char *const kinds[] = {"quality", "ops", "ramp"};
  const char *values[] = {kinds[kind]};
  metric_series_t *s = metric_family_series(m->gather, values);
  if (s != NULL) metric_series_observe(s, (double)(uv_hrtime() - started_ns) / 1e9);
}

void coordinator_metrics_set_coordinator(coordinator_metrics_t *m, coordinator_t *coordinator) {
  if (m != NULL) m->coordinator = coordinator;
}
