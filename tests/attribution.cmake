# attribution: who was wrong in a verdict follows from the final label
# (common/attribution.h; issue 16, "Leads are asked to attribute blind").
add_executable(attribution_test ${CMAKE_CURRENT_SOURCE_DIR}/attribution_test.c)
target_link_libraries(attribution_test PRIVATE tally_common)
add_test(NAME attribution COMMAND attribution_test)
set_tests_properties(attribution PROPERTIES TIMEOUT 30 LABELS "common;unit")
