# Client unit tests: libtally and the `tally` command without a real cluster.
# client_routing and client_quality stand up a fake coordinator and fake
# workers (ZeroMQ ROUTER sockets in a thread, tests/client_fake.c) to check
# routing, MOVED handling, retries, batching, the asynchronous interface, and
# the audit calls (policy, reports, feedback merging, export paging);
# client_report checks how the audit commands print; client_retry_policy the
# one retry policy of the blocking and asynchronous calls; client_cluster_status
# `tally cluster status` of a replicated cluster (a fake coordinator's
# replicas, lags and coordinators) and its fall-back to the map alone for an
# older coordinator. Each test prints
# "N passed, M failed".
foreach(name token jsonl output options routing quality report daily retry_policy cluster_status)
  add_executable(client_${name}_test ${CMAKE_CURRENT_SOURCE_DIR}/client_${name}_test.c)
  target_link_libraries(client_${name}_test PRIVATE tally_cli_core)
  add_test(NAME client_${name} COMMAND client_${name}_test)
  set_tests_properties(client_${name} PROPERTIES TIMEOUT 60 LABELS "client;unit")
endforeach()
foreach(name routing quality cluster_status)
  target_sources(client_${name}_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/client_fake.c)
endforeach()

# The audit cycle end to end through the `tally` command: the real daemons
# (tests/harness.h) and the CLI, cross-checking simulate, report, export and
# feedback.
add_executable(client_audit_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/client_audit_integration_test.c)
target_link_libraries(client_audit_integration_test PRIVATE tally_test_harness PkgConfig::JANSSON)
add_dependencies(client_audit_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME client_audit_integration COMMAND client_audit_integration_test)
set_tests_properties(client_audit_integration PROPERTIES TIMEOUT 180 LABELS "client;integration")
