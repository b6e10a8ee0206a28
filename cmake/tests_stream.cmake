# The stream's own unit tests (the end-to-end ones are tests/e2e/stream_*.sh).
rw_unit_test(test_sha256)
# control's session stream: log, cache, events and their caps
rw_unit_test(test_stream control/stream.c)
target_link_libraries(test_stream PRIVATE PkgConfig::LWS)
# the store's one suite, run against both backends (memory, and a redis-server the test
# starts); the memory backend's cap on one-time ids built small so one past it is cheap
rw_unit_test(test_store control/store.c control/store_memory.c control/store_redis.c
             control/ratelimit.c)
target_compile_definitions(test_store PRIVATE STORE_MAX_ONCE=64)
target_link_libraries(test_store PRIVATE PkgConfig::LWS PkgConfig::HIREDIS)
set_tests_properties(unit.test_store PROPERTIES TIMEOUT 120)
