# Tests of the bundle pipeline (issue 4): unit tests of rw_bundle, and end-to-end scripts that
# drive bundle_tool against loopback servers (HTTPS with a test CA, s3rver). See docs/bundles.md.

# The test driver: a small CLI over bundle_prepare() with the flags of `runwire-agent run`.
add_executable(bundle_tool tests/tools/bundle_tool.c)
target_link_libraries(bundle_tool PRIVATE rw_bundle)

# Unit tests: one module each, linked against rw_bundle.
function(rw_bundle_unit_test name)
  add_executable(test_bundle_${name} tests/unit/test_bundle_${name}.c)
  target_link_libraries(test_bundle_${name} PRIVATE rw_bundle)
  add_test(NAME bundle.unit.${name} COMMAND test_bundle_${name} ${ARGN})
  set_tests_properties(bundle.unit.${name} PROPERTIES TIMEOUT 300)
endfunction()

rw_bundle_unit_test(unpack ${CMAKE_SOURCE_DIR}/tests/data/make_hostile_archives.py)
rw_bundle_unit_test(fetch)
rw_bundle_unit_test(prepare)

# minisign keys and signatures (agent/minisign.c), hostile .minisig files included.
add_executable(test_minisign tests/unit/test_minisign.c)
target_link_libraries(test_minisign PRIVATE rw_bundle)
add_test(NAME bundle.unit.minisign COMMAND test_minisign)

# End-to-end: each script starts its own servers on loopback ports chosen at run time.
file(GLOB RW_BUNDLE_E2E ${CMAKE_SOURCE_DIR}/tests/e2e-bundle/*.sh)
list(FILTER RW_BUNDLE_E2E EXCLUDE REGEX "/lib\\.sh$")
foreach(script ${RW_BUNDLE_E2E})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME bundle.e2e.${name} COMMAND bash ${script})
  set_tests_properties(bundle.e2e.${name} PROPERTIES
    ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE}"
    TIMEOUT 300)
endforeach()
