# The stream's own unit tests (the end-to-end ones are tests/e2e/stream_*.sh).
rw_unit_test(test_sha256)
# control's session stream: log, cache, events and their caps
rw_unit_test(test_stream control/stream.c)
target_link_libraries(test_stream PRIVATE PkgConfig::LWS)
# the store's one suite, run against both backends (memory, and a redis-server the test
# starts); its caps built small so one past each is cheap to reach
rw_unit_test(test_store control/store.c control/store_memory.c control/store_redis.c control/store_redis_input.c
             control/store_redis_stream.c control/store_redis_session.c
             control/ratelimit.c)
target_compile_definitions(test_store PRIVATE STORE_MAX_ONCE=64 STORE_MAX_LIST=5
                           STORE_MAX_INBOX=120 STORE_MAX_SESSIONS=32 STORE_MAX_REPLICAS=4
                           STORE_STREAM_MAX_ENTRIES=8
                           STORE_STREAM_MAX_BYTES=262144)
target_link_libraries(test_store PRIVATE PkgConfig::LWS PkgConfig::HIREDIS)
set_tests_properties(unit.test_store PROPERTIES TIMEOUT 120)
# the same file's stream suite with the stream caps as control has them (4096 entries,
# 16 MiB): the caps one past their real edges
rw_unit_test(test_store_caps control/store.c control/store_memory.c control/store_redis.c
             control/store_redis_input.c control/store_redis_stream.c control/store_redis_session.c control/ratelimit.c)
target_link_libraries(test_store_caps PRIVATE PkgConfig::LWS PkgConfig::HIREDIS)
set_tests_properties(unit.test_store_caps PROPERTIES TIMEOUT 120)
