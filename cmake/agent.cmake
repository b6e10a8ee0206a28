# runwire-agent: uplink to control, pty runner, the bundle worker (prepare.c over rw_bundle from
# cmake/bundle.cmake) and `runwire-agent run`, the standalone mode for bundle authors.
include(cmake/bundle.cmake)
add_executable(runwire-agent
  agent/main.c
  agent/uplink.c
  agent/runner.c
  agent/prepare.c
  agent/standalone.c
  agent/pty_proc.c
  agent/sandbox.c
)
target_link_libraries(runwire-agent PRIVATE rw_common rw_bundle PkgConfig::LWS ${UTIL_LIB})
