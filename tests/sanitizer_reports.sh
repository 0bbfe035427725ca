#!/usr/bin/env bash
# sanitizer_reports.sh: the reports of a sanitizer build's test run.
#
#   sanitizer_reports.sh DIR            fails when ASan, LSan or UBSan left a
#                                       report in DIR during the run, and
#                                       prints each one
#   sanitizer_reports.sh collect FILE...  copies each FILE (a daemon's log)
#                                       that holds a report into
#                                       $TALLY_SANITIZER_REPORTS; does nothing
#                                       when that is unset (normal builds)
#
# tests/CMakeLists.txt sets every test's ASAN_OPTIONS / UBSAN_OPTIONS
# log_path and TALLY_SANITIZER_REPORTS to DIR in sanitizer builds.
set -uo pipefail
shopt -s nullglob

if [[ "${1:-}" == collect ]]; then
  shift
  [[ -n "${TALLY_SANITIZER_REPORTS:-}" ]] || exit 0
  for file in "$@"; do
    grep -qE 'runtime error: |ERROR: [A-Za-z]*Sanitizer' "$file" 2>/dev/null &&
      cp "$file" "$TALLY_SANITIZER_REPORTS/log-$$-${file##*/}"
  done
  exit 0
fi

dir=${1:?usage: sanitizer_reports.sh DIR | collect FILE...}
reports=("$dir"/*)
if [[ ${#reports[@]} -eq 0 ]]; then
  echo "no sanitizer report"
  exit 0
fi
for report in "${reports[@]}"; do
  echo "==== $report"
  head -c 20000 "$report"
done
echo "${#reports[@]} sanitizer report(s) in $dir"
exit 1
