/* api: the handlers of the JSON API (docs/openapi.yaml), by area:
 * api_auth.c (sign-in, the person's own settings), api_work.c (the
 * labeling cycle, on the asynchronous link), api_manage.c (leads'
 * and managers' views, blocking calls in the thread pool). api.c holds the
 * route table. Every handler finishes its call (call.h). */
#ifndef TALLY_GATEWAY_API_H
#define TALLY_GATEWAY_API_H

#include "call.h"

/* api_auth.c */
void api_login(gw_call_t *c);
void api_logout(gw_call_t *c);
void api_me(gw_call_t *c);
void api_me_language(gw_call_t *c);
void api_token_create(gw_call_t *c);
void api_password_change(gw_call_t *c);

/* api_work.c */
void api_projects(gw_call_t *c);
void api_lease(gw_call_t *c);
void api_submit(gw_call_t *c);
void api_skip(gw_call_t *c);
void api_release(gw_call_t *c);
void api_feedback(gw_call_t *c);
void api_wellbeing(gw_call_t *c);
void api_healthz(gw_call_t *c);

/* api_manage.c */
void api_cases(gw_call_t *c);
void api_case(gw_call_t *c);
void api_report_quality(gw_call_t *c);
void api_report_confusion(gw_call_t *c);
void api_report_policy_gaps(gw_call_t *c);
void api_report_ops(gw_call_t *c);
void api_status(gw_call_t *c);
void api_labelers(gw_call_t *c);
void api_labeler_update(gw_call_t *c);
void api_project_settings(gw_call_t *c);
void api_ingest(gw_call_t *c);
void api_export(gw_call_t *c);

/* Splits a principal's '\t'-joined markets into a JSON array. */
json_t *api_markets_json(const char *markets);

#endif
