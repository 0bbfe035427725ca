# The web gateway: its unit tests, and the integration test that drives the
# HTTP API of a real gateway on a real cluster with Python's urllib.
add_executable(gateway_unit_test ${CMAKE_CURRENT_SOURCE_DIR}/gateway_unit_test.c)
target_link_libraries(gateway_unit_test PRIVATE tally_gateway_core)
add_test(NAME gateway_unit COMMAND gateway_unit_test)
set_tests_properties(gateway_unit PROPERTIES TIMEOUT 60 LABELS "unit")

add_executable(gateway_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/gateway_integration_test.c)
target_link_libraries(gateway_integration_test PRIVATE tally_test_harness tally_client)
add_dependencies(gateway_integration_test tally-coordinator tally-worker tally-gateway tally_cli)
add_test(NAME gateway_integration COMMAND gateway_integration_test ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(gateway_integration PROPERTIES TIMEOUT 420 LABELS "integration")

add_test(NAME gateway_openapi COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/gateway_openapi_test.py
         ${CMAKE_SOURCE_DIR})
set_tests_properties(gateway_openapi PROPERTIES TIMEOUT 60 LABELS "unit")

# --help answers (exit 0, and documents --metrics-listen) and bad usage exits 2.
add_test(NAME gateway_usage COMMAND sh -c
  "$0 --help | grep -q '^Usage: tally-gateway' && { $0 --bogus 2>/dev/null; test $? -eq 2; } && { $0 --session-hours 0 --insecure 2>/dev/null; test $? -eq 2; } && { $0 --metrics-listen localhost:9102 --insecure 2>/dev/null; test $? -eq 2; } && $0 --help | grep -q -- --metrics-listen"
  $<TARGET_FILE:tally-gateway>)
set_tests_properties(gateway_usage PROPERTIES TIMEOUT 30 LABELS "unit")
