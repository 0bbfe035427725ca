# tally_fuzz_tests(BIN_DIR): registers the short run of every fuzz harness
# found in BIN_DIR as a ctest test fuzz_<name>: its seeds in
# tests/fuzz/corpus/<harness>/ first (so every regression seed runs), then
# mutation for TALLY_FUZZ_SECONDS (default 5) seconds. Used by the fuzz
# configuration itself (tests/fuzz/CMakeLists.txt) and by the normal one
# when it is given -DTALLY_FUZZ_DIR=<fuzz build dir> (tests/fuzz.cmake), so
# one ctest run of the normal build also runs the fuzz tests.
set(TALLY_FUZZ_SECONDS 5 CACHE STRING "Seconds of mutation per harness in the fuzz_* tests")
set(TALLY_FUZZ_HARNESS_NAMES
  fuzz_wire fuzz_coordinator_request fuzz_worker_request fuzz_jsonl
  fuzz_coordinator_options fuzz_worker_options)

function(tally_fuzz_tests bin_dir)
  foreach(harness ${TALLY_FUZZ_HARNESS_NAMES})
    add_test(NAME ${harness}
      COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run-short ${bin_dir}/${harness}
              ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${harness} ${TALLY_FUZZ_SECONDS})
    set_tests_properties(${harness} PROPERTIES TIMEOUT 120 LABELS fuzz)
  endforeach()
endfunction()
