# The browser page's tests (docs/browser.md): unit tests of its pure modules under node, and
# the page itself in Debian's headless Chromium driven by playwright-core, each test file
# against its own runwire-control on a loopback port (tests/browser/run.sh). Screenshots of
# each step: ${CMAKE_BINARY_DIR}/browser-artifacts/. Chromium comes from tests/deps.txt and
# playwright-core from scripts/setup.d/browser-tests.sh; without them the tests fail and say
# so.
find_program(RW_BROWSER_NODE node)
if(RW_BROWSER_NODE)
  add_test(NAME browser.unit
           COMMAND ${RW_BROWSER_NODE} --test --test-reporter=spec
                   ${CMAKE_SOURCE_DIR}/control/web/test/
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/control/web)
else()
  add_test(NAME browser.unit COMMAND sh -c "echo 'node not found: run scripts/setup.sh' >&2; exit 1")
endif()
set_tests_properties(browser.unit PROPERTIES TIMEOUT 120)

file(GLOB RW_BROWSER_TESTS ${CMAKE_SOURCE_DIR}/tests/browser/*.test.mjs)
foreach(file ${RW_BROWSER_TESTS})
  get_filename_component(name ${file} NAME)
  string(REGEX REPLACE "\\.test\\.mjs$" "" name ${name})
  add_test(NAME browser.${name} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/browser/run.sh ${file})
  set_tests_properties(browser.${name} PROPERTIES
    ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE};RW_WEB_DIR=${CMAKE_BINARY_DIR}/web;RW_ARTIFACTS=${CMAKE_BINARY_DIR}/browser-artifacts"
    TIMEOUT 300
    RUN_SERIAL TRUE)
endforeach()

# control serving the built page: content types, CSP, nothing outside its directory.
add_test(NAME browser.static COMMAND bash ${CMAKE_SOURCE_DIR}/tests/browser/static.sh)
set_tests_properties(browser.static PROPERTIES
  ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE};RW_WEB_DIR=${CMAKE_BINARY_DIR}/web"
  TIMEOUT 60)
