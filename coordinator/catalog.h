/* catalog: the projects and the people (labelers) of the cluster, the
 * configuration every worker runs.
 *
 * In memory: c->projects (ascending name) and c->labelers (ascending id),
 * each record owned; c->config_version counts the configurations. Loaded
 * from META_PROJECTS and META_LABELERS at open (catalog_load).
 *
 * Apply points (each ONE synced meta_batch, then installed, then replied;
 * on a store error the reply is STORAGE and nothing changed):
 *  - project_create: the project (next id, created_ms, policy_version 1,
 *    default audit policy when none was sent), next_project_id + 1,
 *    config_version + 1, admin log "project_create".
 *  - audit_policy_set, wellbeing_set, guideline_set, and ramp-up
 *    (catalog_project_commit, called by report_jobs.c): the whole project
 *    record replaced, config_version + 1, admin log entry of the action.
 *    audit_policy_set keeps audit_rate == audit.rate and never bumps
 *    policy_version; guideline_set appends a GuidelineVersion and bumps
 *    policy_version (its only change).
 *  - labeler_add, labeler_update, and the operator of --operator-key
 *    (catalog_labeler_persist, called by admission.c): the labeler record,
 *    config_version + 1, admin log entry; keys_version + 1 in memory.
 * Replies to configuration changes wait until the UP workers run the new
 * version (replier->defer_until_config) except labeler_add of a person
 * without a key.
 */
#ifndef TALLY_COORDINATOR_CATALOG_H
#define TALLY_COORDINATOR_CATALOG_H

#include <stddef.h>

#include "admin_log.h"
#include "coordinator.h"
#include "tally.pb-c.h"

/* Loads every stored project and labeler into c (at open). Returns 0,
 * TALLY_E_STORAGE or TALLY_E_NOMEM. */
int catalog_load(coordinator_t *c);

/* The project named `name` / the labeler `id`, or NULL. Borrowed: valid
 * until the record changes. */
Tally__Project *catalog_project_find(const coordinator_t *c, const char *name);
Tally__Labeler *catalog_labeler_find(const coordinator_t *c, const char *id);

/* Position of project `name` / labeler `id` in its list, or where it would
 * be inserted; *found says which. */
size_t catalog_project_at(const coordinator_t *c, const char *name, int *found);
size_t catalog_labeler_at(const coordinator_t *c, const char *id, int *found);

/* Installs `labeler` (ownership taken on success; its id must be new) at
 * its sorted place. Returns 0 or TALLY_E_NOMEM (list unchanged). */
int catalog_labeler_insert(coordinator_t *c, Tally__Labeler *labeler);

/* Writes `project` (borrowed) in place of project `at`, with the next
 * config version and an admin log entry for `action`, then installs it.
 * Returns the stored project, or NULL with *code (the store's error;
 * nothing changed). `what` names the change if installing fails. */
const Tally__Project *catalog_project_commit(coordinator_t *c, size_t at,
                                             const Tally__Project *project, const char *what,
                                             const char *action, int *code);

/* Writes `labeler`, a new config version and the log entry of `change` in
 * one synced batch (not installed: the caller does, then bumps
 * config_version). Returns 0, or the storage error after replying it when
 * r->send_error is set (nothing changed then). */
int catalog_labeler_persist(coordinator_t *c, const Tally__Labeler *labeler,
                            const coordinator_replier_t *r, const admin_change_t *change);

/* The requests (access_check passed); each answers through r exactly once. */
void catalog_handle_project_create(coordinator_t *c, const Tally__Envelope *request,
                                   const coordinator_replier_t *r);
void catalog_handle_project_show(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r);
void catalog_handle_project_list(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r);
void catalog_handle_audit_policy_set(coordinator_t *c, const Tally__Envelope *request,
                                     const coordinator_replier_t *r);
void catalog_handle_wellbeing_set(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r);
void catalog_handle_guideline_set(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r);
void catalog_handle_labeler_add(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r);
void catalog_handle_labeler_update(coordinator_t *c, const Tally__Envelope *request,
                                   const coordinator_replier_t *r);
void catalog_handle_labeler_list(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r);

#endif
