/* api: the route table of the gateway (docs/openapi.yaml describes it).
 * Roles here are the gateway's own check; the cluster checks again, as the
 * signed-in person, on every request the gateway sends for them. Metrics
 * name routes by their pattern here (gateway_metrics.h); they are served on
 * their own --metrics-listen address, never from this table. */
#include "api.h"
#include "gateway.h"

#define LABELER TALLY_ROLE_LABELER
#define AUDITOR TALLY_ROLE_AUDITOR
#define LEAD TALLY_ROLE_LEAD
#define MANAGER TALLY_ROLE_MANAGER
#define OPERATOR TALLY_ROLE_OPERATOR
#define WORKS (LABELER | AUDITOR | LEAD)

static const route_t routes[] = {
    {"GET", "/healthz", ROUTE_OPEN, 0, api_healthz},
    {"POST", "/api/v1/auth/login", ROUTE_OPEN, 0, api_login},
    {"POST", "/api/v1/auth/logout", ROUTE_SIGNED_IN, 0, api_logout},
    {"GET", "/api/v1/me", ROUTE_SIGNED_IN, 0, api_me},
    {"PUT", "/api/v1/me/language", ROUTE_SIGNED_IN, 0, api_me_language},
    {"POST", "/api/v1/auth/tokens", ROUTE_SIGNED_IN, 0, api_token_create},
    {"POST", "/api/v1/auth/password", ROUTE_SIGNED_IN, 0, api_password_change},
    /* work */
    {"GET", "/api/v1/projects", ROUTE_SIGNED_IN, 0, api_projects},
    {"POST", "/api/v1/lease", ROUTE_SIGNED_IN, WORKS, api_lease},
    {"POST", "/api/v1/submit", ROUTE_SIGNED_IN, WORKS, api_submit},
    {"POST", "/api/v1/skip", ROUTE_SIGNED_IN, WORKS, api_skip},
    {"POST", "/api/v1/release", ROUTE_SIGNED_IN, WORKS, api_release},
    {"GET", "/api/v1/feedback", ROUTE_SIGNED_IN, WORKS | MANAGER, api_feedback},
    {"GET", "/api/v1/wellbeing", ROUTE_SIGNED_IN, WORKS | MANAGER, api_wellbeing},
    /* leads and managers */
    {"GET", "/api/v1/cases", ROUTE_SIGNED_IN, LEAD | MANAGER, api_cases},
    {"GET", "/api/v1/cases/", ROUTE_SIGNED_IN, LEAD | MANAGER, api_case},
    {"GET", "/api/v1/reports/quality", ROUTE_SIGNED_IN, LEAD | MANAGER, api_report_quality},
    {"GET", "/api/v1/reports/confusion", ROUTE_SIGNED_IN, LEAD | MANAGER, api_report_confusion},
    {"GET", "/api/v1/reports/policy-gaps", ROUTE_SIGNED_IN, LEAD | MANAGER, api_report_policy_gaps},
    {"GET", "/api/v1/reports/ops", ROUTE_SIGNED_IN, LEAD | MANAGER | OPERATOR, api_report_ops},
    {"GET", "/api/v1/status", ROUTE_SIGNED_IN, LEAD | MANAGER | OPERATOR, api_status},
    {"GET", "/api/v1/labelers", ROUTE_SIGNED_IN, LEAD | MANAGER | OPERATOR, api_labelers},
    {"PUT", "/api/v1/labelers/", ROUTE_SIGNED_IN, MANAGER | OPERATOR, api_labeler_update},
    {"PUT", "/api/v1/projects/", ROUTE_SIGNED_IN, MANAGER, api_project_settings},
    {"POST", "/api/v1/ingest", ROUTE_SIGNED_IN, MANAGER | OPERATOR, api_ingest},
    {"GET", "/api/v1/export", ROUTE_SIGNED_IN, LEAD | MANAGER, api_export},
};

const route_t *api_routes(size_t *count) {
  *count = sizeof routes / sizeof routes[0];
  return routes;
}
