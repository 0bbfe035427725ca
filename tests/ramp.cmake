# ramp: who leaves ramp-up, from by-labeler sums (common/ramp.h). The
# cluster-wide behaviour is ramp_integration (tests/routing.cmake).
add_executable(ramp_test ${CMAKE_CURRENT_SOURCE_DIR}/ramp_test.c)
target_link_libraries(ramp_test PRIVATE tally_common)
add_test(NAME ramp COMMAND ramp_test)
set_tests_properties(ramp PROPERTIES TIMEOUT 30 LABELS "common;unit")
