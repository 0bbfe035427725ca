# Worker unit tests and the multi-daemon integration tests.
add_executable(worker_unit_test ${CMAKE_CURRENT_SOURCE_DIR}/worker_unit_test.c)
target_link_libraries(worker_unit_test PRIVATE tally_worker_core)
add_test(NAME worker_unit COMMAND worker_unit_test)
set_tests_properties(worker_unit PROPERTIES TIMEOUT 60)

# The harness starts the real daemons from the build's bin directory.
add_library(tally_test_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/harness.c)
target_include_directories(tally_test_harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(tally_test_harness PUBLIC TALLY_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
target_link_libraries(tally_test_harness PUBLIC tally_common)

add_executable(labeling_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/labeling_integration_test.c)
target_link_libraries(labeling_integration_test PRIVATE tally_test_harness tally_client)
add_test(NAME labeling_integration COMMAND labeling_integration_test)
set_tests_properties(labeling_integration PROPERTIES TIMEOUT 300)

add_executable(durability_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/durability_integration_test.c)
target_link_libraries(durability_integration_test PRIVATE tally_test_harness tally_client)
add_test(NAME durability_integration COMMAND durability_integration_test)
set_tests_properties(durability_integration PROPERTIES TIMEOUT 300)

add_executable(audit_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/audit_integration_test.c)
target_link_libraries(audit_integration_test PRIVATE tally_test_harness tally_client m)
add_test(NAME audit_integration COMMAND audit_integration_test)
set_tests_properties(audit_integration PROPERTIES TIMEOUT 300)

# The CLI and deploy/local-cluster end to end, as a new user would run them.
add_test(NAME cli_cluster
  COMMAND timeout --kill-after=10 280 bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_cluster_test.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(cli_cluster PROPERTIES TIMEOUT 300)

add_executable(quality_report_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/quality_report_integration_test.c)
target_link_libraries(quality_report_integration_test PRIVATE tally_test_harness tally_client m)
add_test(NAME quality_report_integration COMMAND quality_report_integration_test)
set_tests_properties(quality_report_integration PROPERTIES TIMEOUT 300)

# Accuracy against the final label on hand-computed cases: agreement,
# verdicts attributed to labeler, auditor, both and policy unclear, pending
# audits, --by category, and feedback that counts what the report counts.
add_executable(accuracy_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/accuracy_integration_test.c)
target_link_libraries(accuracy_integration_test PRIVATE tally_test_harness tally_client m)
add_test(NAME accuracy_integration COMMAND accuracy_integration_test)
set_tests_properties(accuracy_integration PROPERTIES TIMEOUT 120)

# Replies wait for the WAL sync: the worker runs with a slowed-down fsync.
add_library(slow_sync MODULE ${CMAKE_CURRENT_SOURCE_DIR}/slow_sync.c)
target_link_libraries(slow_sync PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(slow_sync PROPERTIES PREFIX "")
add_executable(group_commit_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/group_commit_integration_test.c)
target_link_libraries(group_commit_integration_test PRIVATE tally_test_harness tally_client Threads::Threads)
target_compile_definitions(group_commit_integration_test PRIVATE SLOW_SYNC_PATH="$<TARGET_FILE:slow_sync>")
add_dependencies(group_commit_integration_test slow_sync)
add_test(NAME group_commit_integration COMMAND group_commit_integration_test)
set_tests_properties(group_commit_integration PROPERTIES TIMEOUT 120 LABELS "integration")

# Asynchronous config refresh: requests naming an unknown project wait for a
# fetch from the coordinator (stopped with SIGSTOP, so the wait is the full
# deadline) while lease/submit cycles on a known project go on.
add_executable(worker_config_refresh_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/config_refresh_integration_test.c)
target_link_libraries(worker_config_refresh_integration_test PRIVATE tally_test_harness tally_client Threads::Threads)
add_test(NAME worker_config_refresh_integration COMMAND worker_config_refresh_integration_test)
set_tests_properties(worker_config_refresh_integration PROPERTIES TIMEOUT 180 LABELS "integration")

add_executable(refresh_wait_test ${CMAKE_CURRENT_SOURCE_DIR}/refresh_wait_test.c)
target_link_libraries(refresh_wait_test PRIVATE tally_worker_core)
add_test(NAME worker_refresh_wait COMMAND refresh_wait_test)
set_tests_properties(worker_refresh_wait PROPERTIES TIMEOUT 30 LABELS "unit")

# quality built from a store, a row cache and a configuration, no worker.
add_executable(quality_object_test ${CMAKE_CURRENT_SOURCE_DIR}/quality_object_test.c)
target_link_libraries(quality_object_test PRIVATE tally_worker_core m)
add_test(NAME worker_quality_object COMMAND quality_object_test)
set_tests_properties(worker_quality_object PROPERTIES TIMEOUT 60 LABELS "unit")

# ops built from a store, its row cache, a configuration and a queue index, no worker.
add_executable(ops_object_test ${CMAKE_CURRENT_SOURCE_DIR}/ops_object_test.c)
target_link_libraries(ops_object_test PRIVATE tally_worker_core)
add_test(NAME worker_ops_object COMMAND ops_object_test)
set_tests_properties(worker_ops_object PROPERTIES TIMEOUT 60 LABELS "unit")

add_executable(row_cache_test ${CMAKE_CURRENT_SOURCE_DIR}/row_cache_test.c)
target_link_libraries(row_cache_test PRIVATE tally_worker_core)
add_test(NAME row_cache COMMAND row_cache_test)
set_tests_properties(row_cache PROPERTIES TIMEOUT 60 LABELS "unit")

add_executable(item_cache_test ${CMAKE_CURRENT_SOURCE_DIR}/item_cache_test.c)
target_link_libraries(item_cache_test PRIVATE tally_worker_core)
add_test(NAME item_cache COMMAND item_cache_test)
set_tests_properties(item_cache PROPERTIES TIMEOUT 30 LABELS "unit")

add_executable(store_test ${CMAKE_CURRENT_SOURCE_DIR}/store_test.c)
target_link_libraries(store_test PRIVATE tally_worker_core Threads::Threads)
add_test(NAME store COMMAND store_test)
set_tests_properties(store PROPERTIES TIMEOUT 60 LABELS "unit")

# Drill-downs: `tally report items` lists the closed audits behind a quality
# or confusion cell, and its counts equal the report's (labeler, attribution,
# label pair, market, day); audits in adjudication are not listed.
add_executable(drilldown_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/drilldown_integration_test.c)
target_link_libraries(drilldown_integration_test PRIVATE tally_test_harness tally_client PkgConfig::JANSSON)
add_test(NAME drilldown_integration COMMAND drilldown_integration_test)
set_tests_properties(drilldown_integration PROPERTIES TIMEOUT 240)

# Leases held in memory: kill -9 with leases out, lost-lease submits,
# repeated submits, a slot move carrying live leases.
add_executable(lease_memory_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/lease_memory_integration_test.c)
target_link_libraries(lease_memory_integration_test PRIVATE tally_test_harness tally_client)
add_dependencies(lease_memory_integration_test tally-coordinator tally-worker)
add_test(NAME lease_memory_integration COMMAND lease_memory_integration_test)
set_tests_properties(lease_memory_integration PROPERTIES TIMEOUT 300 LABELS "integration")

# Calibration sessions end to end through the CLI (coordinator/calibration.c):
# hand-computed accuracies, agreement equal to common/agreement's, ranking,
# blindness, deadline and close, a session keyed after close, trends, a
# coordinator SIGKILL, and nothing of it in production.
add_executable(calibration_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/calibration_integration_test.c)
target_link_libraries(calibration_integration_test PRIVATE tally_test_harness tally_client PkgConfig::JANSSON m)
add_test(NAME calibration_integration COMMAND calibration_integration_test)
set_tests_properties(calibration_integration PROPERTIES TIMEOUT 420)

# Guideline versions: labels before and after `project guideline set` land
# in different `report quality --by version` rows; exports, drill-downs and
# cases carry and filter by the version.
add_executable(guideline_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/guideline_integration_test.c)
target_link_libraries(guideline_integration_test PRIVATE tally_test_harness tally_client PkgConfig::JANSSON)
add_test(NAME guideline_integration COMMAND guideline_integration_test)
set_tests_properties(guideline_integration PROPERTIES TIMEOUT 240)

add_executable(gold_mix_test ${CMAKE_CURRENT_SOURCE_DIR}/gold_mix_test.c)
target_link_libraries(gold_mix_test PRIVATE tally_worker_core m)
add_test(NAME gold_mix COMMAND gold_mix_test)
set_tests_properties(gold_mix PROPERTIES TIMEOUT 30 LABELS "unit")

# Replication and failover: three workers with --replicas 2, a primary
# killed under a crowd, the old primary fenced and back in sync, a follower
# killed (docs/REPLICATION.md).
add_executable(replication_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/replication_integration_test.c)
target_link_libraries(replication_integration_test PRIVATE tally_test_harness tally_client)
add_test(NAME replication_integration COMMAND replication_integration_test)
set_tests_properties(replication_integration PROPERTIES TIMEOUT 300 LABELS "integration")

# replica_faults: with --replicas 2, a follower whose data directory is
# deleted or whose store is damaged rejoins by a full copy (a damaged store
# refuses to start until moved aside); a follower whose disk is full (a
# file size limit set with prlimit) leaves the in-sync set and the primary
# goes on; a primary killed with no follower in sync leaves its slots
# waiting; a primary started again at once on an empty directory is written
# DOWN first and its slots fail over (docs/REPLICATION.md).
add_executable(replica_faults_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/replica_faults_integration_test.c)
target_link_libraries(replica_faults_integration_test PRIVATE tally_test_harness tally_client)
add_test(NAME replica_faults_integration COMMAND replica_faults_integration_test)
set_tests_properties(replica_faults_integration PROPERTIES TIMEOUT 240 LABELS "integration")
