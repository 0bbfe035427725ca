# Identity and roles (issue 15, items 1-5; docs/SECURITY.md).
# access: the role table against docs/SECURITY.md, and access_check's rules.
add_executable(access_test ${CMAKE_CURRENT_SOURCE_DIR}/access_test.c)
target_link_libraries(access_test PRIVATE tally_common)
add_test(NAME access COMMAND access_test ${CMAKE_SOURCE_DIR}/docs/SECURITY.md)
set_tests_properties(access PROPERTIES TIMEOUT 30 LABELS "common;unit")

# security_integration: no key, rogue workers, impersonation, the full role
# matrix, the blind for every request, the per-person lease cap.
add_executable(security_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/security_integration_test.c)
target_link_libraries(security_integration_test PRIVATE tally_test_harness tally_client)
add_dependencies(security_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME security_integration COMMAND security_integration_test)
set_tests_properties(security_integration PROPERTIES TIMEOUT 240 LABELS "integration")

# peer_rate: per-connection token buckets, bounded memory.
add_executable(peer_rate_test ${CMAKE_CURRENT_SOURCE_DIR}/peer_rate_test.c)
target_link_libraries(peer_rate_test PRIVATE tally_common)
add_test(NAME peer_rate COMMAND peer_rate_test)
set_tests_properties(peer_rate PROPERTIES TIMEOUT 30 LABELS "common;unit")
