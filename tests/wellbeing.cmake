# Wellbeing exposure budget: concurrency, discovery, restart, validation,
# end to end with real daemons.
add_executable(wellbeing_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/wellbeing_integration_test.c)
target_link_libraries(wellbeing_integration_test PRIVATE tally_test_harness tally_client m)
add_dependencies(wellbeing_integration_test tally-coordinator tally-worker)
add_test(NAME wellbeing_integration COMMAND wellbeing_integration_test)
set_tests_properties(wellbeing_integration PROPERTIES TIMEOUT 240 LABELS "integration")

add_executable(wellbeing_cluster_test ${CMAKE_CURRENT_SOURCE_DIR}/wellbeing_cluster_test.c)
target_link_libraries(wellbeing_cluster_test PRIVATE tally_test_harness tally_client)
add_test(NAME wellbeing_cluster COMMAND wellbeing_cluster_test)
set_tests_properties(wellbeing_cluster PROPERTIES TIMEOUT 240)
