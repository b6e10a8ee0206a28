# sample-cli (the stage-wise Node demo bundle): its node:test suites, one CTest each, and the
# bundle's reproducibility check. Node and the npm dependencies come from scripts/setup.sh
# (scripts/setup.d/sample-cli.sh); without node the tests fail and say so, never skip.
find_program(RW_NODE node)
set(RW_SAMPLE_CLI_DIR ${CMAKE_SOURCE_DIR}/sample-cli)
file(GLOB RW_SAMPLE_CLI_SUITES ${RW_SAMPLE_CLI_DIR}/test/*.test.js)

foreach(suite ${RW_SAMPLE_CLI_SUITES})
  get_filename_component(name ${suite} NAME_WE)
  string(REGEX REPLACE "\\.test$" "" name ${name})
  if(RW_NODE)
    add_test(NAME sample_cli.${name} COMMAND ${RW_NODE} --test ${suite}
             WORKING_DIRECTORY ${RW_SAMPLE_CLI_DIR})
  else()
    add_test(NAME sample_cli.${name}
             COMMAND sh -c "echo 'node not found: run scripts/setup.sh' >&2; exit 1")
  endif()
  set_tests_properties(sample_cli.${name} PROPERTIES TIMEOUT 300)
endforeach()

# Builds the bundle twice into temporary directories (not build/bundles): same SHA-256.
add_test(NAME sample_cli.bundle_reproducible
         COMMAND bash ${RW_SAMPLE_CLI_DIR}/test/bundle-reproducible.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(sample_cli.bundle_reproducible PROPERTIES TIMEOUT 600)
