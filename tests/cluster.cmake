# A three-worker cluster under a crowd of labeler threads: the spread of
# 100,000 ingested items over the workers, a worker killed with SIGKILL and
# restarted, the coordinator killed with SIGKILL and restarted; every
# acknowledged label is checked afterwards.
add_executable(cluster_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/cluster_integration_test.c)
target_link_libraries(cluster_integration_test PRIVATE tally_test_harness tally_client Threads::Threads)
add_dependencies(cluster_integration_test tally-coordinator tally-worker)
add_test(NAME cluster_integration COMMAND cluster_integration_test)
set_tests_properties(cluster_integration PROPERTIES TIMEOUT 200 LABELS "integration")

# `tally cluster status` through the real CLI on two workers: the table, CSV
# (--rows workers, slots, coordinators) and JSON forms checked against the
# coordinator's cluster_status read through libtally.
add_executable(cluster_status_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/cluster_status_integration_test.c)
target_link_libraries(cluster_status_integration_test PRIVATE tally_test_harness tally_client PkgConfig::JANSSON)
add_dependencies(cluster_status_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME cluster_status_integration COMMAND cluster_status_integration_test)
set_tests_properties(cluster_status_integration PROPERTIES TIMEOUT 180 LABELS "integration")
