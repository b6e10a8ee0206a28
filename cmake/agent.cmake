# runwire-agent: uplink to control, pty runner (and, from cmake/bundle.cmake, the bundle pipeline).
include(cmake/bundle.cmake)
add_executable(runwire-agent
  agent/main.c
  agent/uplink.c
  agent/runner.c
  agent/pty_proc.c
)
target_link_libraries(runwire-agent PRIVATE rw_common rw_bundle PkgConfig::LWS ${UTIL_LIB})
