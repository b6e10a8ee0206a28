# Test tools and the stream benchmark's baseline (both standalone: libc only).
#   faultproxy: fault-injecting loopback TCP proxy for the stream tests (cut, pause, throttle).
#   ptyraw:     runs a command under a pty and discards its output; raw pty throughput.
add_executable(faultproxy tests/tools/faultproxy.c)
add_executable(ptyraw bench/ptyraw.c)
target_link_libraries(ptyraw PRIVATE ${UTIL_LIB})

# The proxy itself, against a python3 echo/sink server on ports chosen at run time.
add_test(NAME tools.faultproxy
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tools/test_faultproxy.sh)
set_tests_properties(tools.faultproxy PROPERTIES
  ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR}"
  TIMEOUT 120)
