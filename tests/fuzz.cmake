# The short fuzz runs (tests/fuzz), registered in the normal build when it
# is configured with -DTALLY_FUZZ_DIR=<dir of the fuzz configuration>, as
# scripts/test does after building that configuration (TALLY_FUZZ=1
# scripts/build), so that one ctest run reports every test.
set(TALLY_FUZZ_DIR "" CACHE PATH "Build directory of the fuzz configuration whose harnesses ctest runs")
if(TALLY_FUZZ_DIR)
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_tests.cmake)
  tally_fuzz_tests(${TALLY_FUZZ_DIR}/bin)
endif()
