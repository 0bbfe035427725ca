# Agreement statistics (common/agreement.c) against the published vectors,
# kept in the repository so the test is self-contained.
add_executable(agreement_test ${CMAKE_CURRENT_SOURCE_DIR}/agreement_test.c)
target_link_libraries(agreement_test PRIVATE tally_common)
add_test(NAME agreement
  COMMAND agreement_test ${CMAKE_CURRENT_SOURCE_DIR}/data/agreement-vectors.json)
set_tests_properties(agreement PROPERTIES TIMEOUT 60)
