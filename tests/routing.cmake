# Leasing across the cluster: the lease order from the backlog hints (with
# fallback and emergency items first), requests for a DOWN worker's slots
# (UNAVAILABLE naming slot and worker, also through the CLI) and its return,
# end to end with three real workers (tests/harness.h). The lease order
# itself is unit-tested in client_routing (tests/client.cmake).
add_executable(lease_routing_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/lease_routing_integration_test.c)
target_link_libraries(lease_routing_integration_test PRIVATE tally_test_harness tally_client PkgConfig::JANSSON)
add_dependencies(lease_routing_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME lease_routing_integration COMMAND lease_routing_integration_test)
set_tests_properties(lease_routing_integration PROPERTIES TIMEOUT 240 LABELS "routing;integration")

# The emergency lane across markets: three workers, each with emergency
# items of its own markets; every lease of a person brings an emergency
# item while one of their markets has one waiting anywhere.
add_executable(emergency_lane_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/emergency_lane_integration_test.c)
target_link_libraries(emergency_lane_integration_test PRIVATE tally_test_harness tally_client)
add_dependencies(emergency_lane_integration_test tally-coordinator tally-worker)
add_test(NAME emergency_lane_integration COMMAND emergency_lane_integration_test)
set_tests_properties(emergency_lane_integration PROPERTIES TIMEOUT 120 LABELS "routing;integration")

# Ramp-up across the cluster: three workers, a new joiner's audits spread
# so that no worker alone holds enough; the coordinator's summed decision
# takes them out of ramp-up on every worker within the bound, and
# `tally labeler show` says where each person stands.
add_executable(ramp_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/ramp_integration_test.c)
target_link_libraries(ramp_integration_test PRIVATE tally_test_harness tally_client)
add_dependencies(ramp_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME ramp_integration COMMAND ramp_integration_test)
set_tests_properties(ramp_integration PROPERTIES TIMEOUT 120 LABELS "quality;integration")

# Gold mix-in: gold items served at the project's gold rate per person,
# spread over their work, never twice to one person (also across a worker
# SIGKILL), indistinguishable from production tasks, counted only in the
# gold figures (`report gold`).
add_executable(gold_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/gold_integration_test.c)
target_link_libraries(gold_integration_test PRIVATE tally_test_harness tally_client m)
add_dependencies(gold_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME gold_integration COMMAND gold_integration_test)
set_tests_properties(gold_integration PROPERTIES TIMEOUT 400 LABELS "quality;integration")
