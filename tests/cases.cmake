# Labeler allocation (labeler_update, effective from the next lease) and the
# case database, end to end on the real daemons.
add_executable(cases_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/cases_integration_test.c)
target_link_libraries(cases_integration_test PRIVATE tally_test_harness tally_client m)
add_dependencies(cases_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME cases_integration COMMAND cases_integration_test)
set_tests_properties(cases_integration PROPERTIES TIMEOUT 180 LABELS "integration")
