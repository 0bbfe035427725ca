/* attribution: who was wrong in an adjudicated disagreement, derived from
 * the labels (issue 16, "Leads are asked to attribute blind").
 *
 * A lead settles a disagreement between two labels A and B without knowing
 * which is the labeler's and which the auditor's, by giving the final
 * label. Whoever gave a label different from the final label was wrong:
 * the labeler, the auditor, or both (the lead chose a third label C). The
 * lead adds only what the labels cannot say: that the policy was unclear,
 * in which case nobody is judged. Values are the wire enum Attribution
 * (proto/tally.proto): 1 LABELER, 2 AUDITOR, 3 BOTH, 4 POLICY_UNCLEAR.
 */
#ifndef TALLY_ATTRIBUTION_H
#define TALLY_ATTRIBUTION_H

#define ATTRIBUTION_NONE 0
#define ATTRIBUTION_LABELER 1
#define ATTRIBUTION_AUDITOR 2
#define ATTRIBUTION_BOTH 3
#define ATTRIBUTION_POLICY_UNCLEAR 4

/* The attribution of a verdict `final_label` on a disagreement between
 * `labeler_label` and `auditor_label` (NUL-terminated; NULL reads as "",
 * a label nobody gave). policy_unclear != 0: ATTRIBUTION_POLICY_UNCLEAR
 * whatever the labels. Otherwise BOTH when neither label is the final one,
 * LABELER or AUDITOR when only that one differs from it, and NONE when
 * neither differs (labeler and auditor agreed: no disagreement). Pure. */
int attribution_derive(const char *labeler_label, const char *auditor_label, const char *final_label,
                       int policy_unclear);

/* True when a verdict request may carry `requested`: NONE (derive it) or
 * POLICY_UNCLEAR; LABELER, AUDITOR and BOTH are accepted from older clients
 * and ignored (the labels decide). False for anything else. */
int attribution_request_is_valid(unsigned requested);

#endif
