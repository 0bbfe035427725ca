# Coordinator tests: one unit test per module of coordinator/ (linked with
# tally_coordinator_core, the daemon's own code) and an integration test that
# runs the real build/bin/tally-coordinator. Each prints "N passed, M failed".
foreach(module slot_map rebalance validate membership meta_store options core calibration replica_set)
  add_executable(coordinator_${module}_test ${CMAKE_CURRENT_SOURCE_DIR}/coordinator_${module}_test.c)
  target_link_libraries(coordinator_${module}_test PRIVATE tally_coordinator_core)
  add_test(NAME coordinator_${module} COMMAND coordinator_${module}_test)
  set_tests_properties(coordinator_${module} PROPERTIES TIMEOUT 60 LABELS "coordinator;unit")
endforeach()

add_executable(coordinator_integration_test
  ${CMAKE_CURRENT_SOURCE_DIR}/coordinator_integration_test.c)
target_link_libraries(coordinator_integration_test PRIVATE tally_common)
target_compile_definitions(coordinator_integration_test PRIVATE
  TALLY_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
add_dependencies(coordinator_integration_test tally-coordinator)
add_test(NAME coordinator_integration COMMAND coordinator_integration_test)
set_tests_properties(coordinator_integration PROPERTIES TIMEOUT 120
  LABELS "coordinator;integration")

# Audit policies and quality reports end to end: the real coordinator (from
# tests/harness.h), fake workers played by the test, and one real worker.
add_executable(coordinator_report_integration_test
  ${CMAKE_CURRENT_SOURCE_DIR}/coordinator_report_integration_test.c)
target_link_libraries(coordinator_report_integration_test PRIVATE tally_test_harness)
add_dependencies(coordinator_report_integration_test tally-coordinator tally-worker)
add_test(NAME coordinator_report_integration COMMAND coordinator_report_integration_test)
set_tests_properties(coordinator_report_integration PROPERTIES TIMEOUT 180
  LABELS "coordinator;integration")

# Replicated coordinators (Raft, libraft): three real coordinators and two
# workers; a leader killed with SIGKILL, a new one elected, writes go on,
# the killed one catches up (tests/raft_integration_test.c).
add_executable(raft_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/raft_integration_test.c)
target_link_libraries(raft_integration_test PRIVATE tally_test_harness tally_client
  tally_coordinator_core)
add_dependencies(raft_integration_test tally-coordinator tally-worker)
add_test(NAME raft_integration COMMAND raft_integration_test)
set_tests_properties(raft_integration PROPERTIES TIMEOUT 300
  LABELS "coordinator;integration")
