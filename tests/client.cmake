# Client unit tests: libtally and the `tally` command without a real cluster.
# client_routing stands up a fake coordinator and fake workers (ZeroMQ ROUTER
# sockets in a thread) to check routing, MOVED handling, retries, batching
# and the asynchronous interface. Each test prints "N passed, M failed".
foreach(name token jsonl output options routing)
  add_executable(client_${name}_test ${CMAKE_CURRENT_SOURCE_DIR}/client_${name}_test.c)
  target_link_libraries(client_${name}_test PRIVATE tally_cli_core)
  add_test(NAME client_${name} COMMAND client_${name}_test)
  set_tests_properties(client_${name} PROPERTIES TIMEOUT 60 LABELS "client;unit")
endforeach()
