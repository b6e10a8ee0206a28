# Unit tests (one module each) and end-to-end tests (real binaries on loopback ports).
function(rw_unit_test name)
  add_executable(${name} tests/unit/${name}.c ${ARGN})
  target_link_libraries(${name} PRIVATE rw_common)
  add_test(NAME unit.${name} COMMAND ${name})
endfunction()

rw_unit_test(test_proto)
rw_unit_test(test_bytering)
rw_unit_test(test_recording control/recording.c)

# End-to-end: each script starts its own servers on ports chosen at run time.
file(GLOB RW_E2E_TESTS ${CMAKE_SOURCE_DIR}/tests/e2e/*.sh)
list(FILTER RW_E2E_TESTS EXCLUDE REGEX "/lib\\.sh$")
foreach(script ${RW_E2E_TESTS})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME e2e.${name} COMMAND bash ${script})
  set_tests_properties(e2e.${name} PROPERTIES
    ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE}"
    TIMEOUT 300)
endforeach()

# Each part registers its own tests in cmake/tests_<part>.cmake.
file(GLOB RW_TEST_PARTS ${CMAKE_SOURCE_DIR}/cmake/tests_*.cmake)
foreach(part ${RW_TEST_PARTS})
  include(${part})
endforeach()
