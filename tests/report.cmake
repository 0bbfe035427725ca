# The report engine (common/report.c): published vectors, rows split and
# shuffled across "workers", grouping keys, undefined cases, malformed rows.
add_executable(report_test ${CMAKE_CURRENT_SOURCE_DIR}/report_test.c)
target_link_libraries(report_test PRIVATE tally_common)
add_test(NAME report
  COMMAND report_test ${CMAKE_CURRENT_SOURCE_DIR}/data/agreement-vectors.json)
set_tests_properties(report PROPERTIES TIMEOUT 60 LABELS "unit")
