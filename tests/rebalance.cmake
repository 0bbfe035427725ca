# Live slot migration: a 4th worker joins and a worker is drained while a
# crowd of labeler threads works; every acknowledged label is checked.
add_executable(rebalance_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/rebalance_integration_test.c)
target_link_libraries(rebalance_integration_test PRIVATE tally_test_harness tally_client Threads::Threads)
add_dependencies(rebalance_integration_test tally-coordinator tally-worker)
add_test(NAME rebalance_integration COMMAND rebalance_integration_test)
set_tests_properties(rebalance_integration PROPERTIES TIMEOUT 300 LABELS "integration")

# A worker whose store is full (RLIMIT_FSIZE) is no target of slot moves or new followers
# until it reports room again; `tally cluster status` shows it.
add_executable(rebalance_full_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/rebalance_full_integration_test.c)
target_link_libraries(rebalance_full_integration_test PRIVATE tally_test_harness tally_client tally_proto)
add_dependencies(rebalance_full_integration_test tally-coordinator tally-worker tally_cli)
add_test(NAME rebalance_full_integration COMMAND rebalance_full_integration_test)
set_tests_properties(rebalance_full_integration PROPERTIES TIMEOUT 240 LABELS "integration")
