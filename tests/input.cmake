# Bad input and storage faults (issue 15, items 6 and 7).
# ident: the identifier rule and the sanitizer (common/ident.h).
add_executable(ident_test ${CMAKE_CURRENT_SOURCE_DIR}/ident_test.c)
target_link_libraries(ident_test PRIVATE tally_common)
add_test(NAME ident COMMAND ident_test)
set_tests_properties(ident PROPERTIES TIMEOUT 30 LABELS "common;unit")
