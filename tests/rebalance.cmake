# Live slot migration: a 4th worker joins and a worker is drained while a
# crowd of labeler threads works; every acknowledged label is checked.
add_executable(rebalance_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/rebalance_integration_test.c)
target_link_libraries(rebalance_integration_test PRIVATE tally_test_harness tally_client Threads::Threads)
add_dependencies(rebalance_integration_test tally-coordinator tally-worker)
add_test(NAME rebalance_integration COMMAND rebalance_integration_test)
set_tests_properties(rebalance_integration PROPERTIES TIMEOUT 300 LABELS "integration")
