# The web console (issue 17, items 3-7; gateway/console/).
# console_static: i18n completeness, no markup/code from data, nothing
# loaded from another origin; no browser needed.
add_test(NAME console_static
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/console_python.sh
          ${CMAKE_CURRENT_SOURCE_DIR}/console_static_test.py ${CMAKE_SOURCE_DIR}/gateway/console)
set_tests_properties(console_static PROPERTIES TIMEOUT 30 LABELS "console;unit")

# console_browser: headless Chromium against a real cluster and gateway
# (tests/console_browser_test.py says what it checks). Skips (77) only when
# chromium or chromedriver is not installed; CI installs both
# (scripts/install-deps), so there it runs.
add_test(NAME console_browser
  COMMAND timeout --kill-after=15 460 sh ${CMAKE_CURRENT_SOURCE_DIR}/console_python.sh
          ${CMAKE_CURRENT_SOURCE_DIR}/console_browser_test.py
          --bin ${CMAKE_BINARY_DIR}/bin --source ${CMAKE_SOURCE_DIR})
set_tests_properties(console_browser PROPERTIES TIMEOUT 480 SKIP_RETURN_CODE 77 LABELS "console;integration")
