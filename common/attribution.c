/* attribution: who was wrong, from the labels (see attribution.h). */
#include "attribution.h"

#include <string.h>

static int differs(const char *given, const char *final_label) {
  return strcmp(given ? given : "", final_label ? final_label : "") != 0;
}

int attribution_derive(const char *labeler_label, const char *auditor_label, const char *final_label,
                       int policy_unclear) {
  if (policy_unclear) return ATTRIBUTION_POLICY_UNCLEAR;
  int labeler_wrong = differs(labeler_label, final_label);
  int auditor_wrong = differs(auditor_label, final_label);
  if (labeler_wrong && auditor_wrong) return ATTRIBUTION_BOTH;
  if (labeler_wrong) return ATTRIBUTION_LABELER;
  if (auditor_wrong) return ATTRIBUTION_AUDITOR;
  return ATTRIBUTION_NONE;
}

int attribution_request_is_valid(unsigned requested) { return requested <= ATTRIBUTION_POLICY_UNCLEAR; }
