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
