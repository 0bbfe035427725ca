# Operations reports: the engine (common/ops_report.c) on hand-computed
# data, and throughput/backlog/sla/capacity end to end with real daemons.
add_executable(ops_report_test ${CMAKE_CURRENT_SOURCE_DIR}/ops_report_test.c)
target_link_libraries(ops_report_test PRIVATE tally_common m)
add_test(NAME ops_report COMMAND ops_report_test)
set_tests_properties(ops_report PROPERTIES TIMEOUT 60 LABELS "unit")

add_executable(ops_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/ops_integration_test.c)
target_link_libraries(ops_integration_test PRIVATE tally_test_harness tally_client m)
add_test(NAME ops_integration COMMAND ops_integration_test)
set_tests_properties(ops_integration PROPERTIES TIMEOUT 150)

# Time to first action (report ttfa): two markets, two priorities, two
# workers, controlled waits; figures against the durations stored on items.
add_executable(ttfa_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/ttfa_integration_test.c)
target_link_libraries(ttfa_integration_test PRIVATE tally_test_harness tally_client m)
add_test(NAME ttfa_integration COMMAND ttfa_integration_test)
set_tests_properties(ttfa_integration PROPERTIES TIMEOUT 180)
