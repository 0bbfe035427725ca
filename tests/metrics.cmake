# Metrics: the registry's rendering (common/metrics.c) byte for byte, and
# both daemons' /metrics endpoints end to end (checked with promtool).
add_executable(metrics_test ${CMAKE_CURRENT_SOURCE_DIR}/metrics_test.c)
target_link_libraries(metrics_test PRIVATE tally_common m)
add_test(NAME metrics COMMAND metrics_test)
set_tests_properties(metrics PROPERTIES TIMEOUT 60 LABELS "unit")
