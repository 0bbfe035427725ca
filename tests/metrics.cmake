# Metrics: the registry's rendering (common/metrics.c) byte for byte, and
# both daemons' /metrics endpoints end to end (checked with promtool).
add_executable(metrics_test ${CMAKE_CURRENT_SOURCE_DIR}/metrics_test.c)
target_link_libraries(metrics_test PRIVATE tally_common m)
add_test(NAME metrics COMMAND metrics_test)
set_tests_properties(metrics PROPERTIES TIMEOUT 60 LABELS "unit")

add_executable(metrics_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/metrics_integration_test.c)
target_link_libraries(metrics_integration_test PRIVATE tally_test_harness tally_client m)
target_compile_definitions(metrics_integration_test PRIVATE TALLY_VERSION="${PROJECT_VERSION}")
add_test(NAME metrics_integration COMMAND metrics_integration_test)
set_tests_properties(metrics_integration PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77)

# The Grafana dashboard's queries parse and name only registered, documented metrics.
add_test(NAME grafana_dashboard
  COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/grafana_dashboard_test.py ${PROJECT_SOURCE_DIR})
set_tests_properties(grafana_dashboard PROPERTIES TIMEOUT 60 LABELS "unit" SKIP_RETURN_CODE 77)
