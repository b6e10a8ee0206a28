# runwire: the terminal client.
add_executable(runwire
  client/main.c
  client/api.c
  client/attach.c
  client/replay.c
)
target_link_libraries(runwire PRIVATE rw_common PkgConfig::LWS PkgConfig::CURL)
