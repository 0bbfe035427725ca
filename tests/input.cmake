# Bad input and storage faults (issue 15, items 6 and 7).
# ident: the identifier rule and the sanitizer (common/ident.h).
add_executable(ident_test ${CMAKE_CURRENT_SOURCE_DIR}/ident_test.c)
target_link_libraries(ident_test PRIVATE tally_common)
add_test(NAME ident COMMAND ident_test)
set_tests_properties(ident PROPERTIES TIMEOUT 30 LABELS "common;unit")

# endpoint_list: comma-separated coordinator endpoints (common/endpoint_list.h).
add_executable(endpoint_list_test ${CMAKE_CURRENT_SOURCE_DIR}/endpoint_list_test.c)
target_link_libraries(endpoint_list_test PRIVATE tally_common)
add_test(NAME endpoint_list COMMAND endpoint_list_test)
set_tests_properties(endpoint_list PROPERTIES TIMEOUT 30 LABELS "common;unit")

# disk_full: a worker on a small tmpfs fills it, refuses writes with
# NO_SPACE while reads answer, recovers without a restart once space is
# freed; a start on a read-only or full file system exits 1 with a readable
# message. Needs root to mount; exits 77 (skipped) where it cannot.
add_executable(disk_full_integration_test ${CMAKE_CURRENT_SOURCE_DIR}/disk_full_integration_test.c)
target_link_libraries(disk_full_integration_test PRIVATE tally_test_harness tally_client)
add_dependencies(disk_full_integration_test tally-coordinator tally-worker)
add_test(NAME disk_full_integration COMMAND disk_full_integration_test)
set_tests_properties(disk_full_integration PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
  LABELS "worker;integration")

add_executable(fatal_test ${CMAKE_CURRENT_SOURCE_DIR}/fatal_test.c)
target_link_libraries(fatal_test PRIVATE tally_common)
add_test(NAME fatal COMMAND fatal_test)
set_tests_properties(fatal PROPERTIES TIMEOUT 30 LABELS "unit")

# slot_list: the slot lists of replication's summary log lines (common/slot.h).
add_executable(slot_list_test ${CMAKE_CURRENT_SOURCE_DIR}/slot_list_test.c)
target_link_libraries(slot_list_test PRIVATE tally_common)
add_test(NAME slot_list COMMAND slot_list_test)
set_tests_properties(slot_list PROPERTIES TIMEOUT 30 LABELS "common;unit")
