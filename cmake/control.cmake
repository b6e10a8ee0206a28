# runwire-control: HTTP API, auth, session store, relay, dispatcher.
add_executable(runwire-control
  control/main.c
  control/config.c
  control/server.c
  control/listener.c
  control/httphead.c
  control/conn_guard.c
  control/http_api.c
  control/scrape.c
  control/session.c
  control/relay.c
  control/relay_remote.c
  control/agent_link.c
  control/dispatcher.c
  control/session_token.c
  control/kms_signer.c
  control/web.c
  control/recording.c
  control/stream.c
  control/retention.c
  control/templates.c
  control/ratelimit.c
  control/store.c
  control/store_memory.c
  control/store_redis.c
  control/store_redis_input.c
  control/store_redis_stream.c
  control/store_redis_session.c
  control/fleet.c
  control/fleet_takeover.c
  control/agent_redirect.c
  control/runner_auth.c
)
target_link_libraries(runwire-control PRIVATE rw_common PkgConfig::LWS PkgConfig::JWT
                      PkgConfig::OPENSSL PkgConfig::CURL PkgConfig::HIREDIS rw_firebase)
