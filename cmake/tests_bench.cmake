# The stream benchmark's client (bench/run.sh, `make bench`; docs/benchmarks.md): a viewer that
# speaks WebSocket itself and measures throughput, echo round trip, session start and holds
# many viewers open. The stream tests use it too, as a viewer that is never the bottleneck.
add_executable(rwbench bench/rwbench.c)
target_link_libraries(rwbench PRIVATE rw_common PkgConfig::CURL m)

# A quick smoke run of `make bench` at tiny sizes: every step starts and yields numbers.
add_test(NAME bench.smoke COMMAND bash ${CMAKE_SOURCE_DIR}/bench/run.sh --smoke)
set_tests_properties(bench.smoke PROPERTIES
  ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE}"
  TIMEOUT 300)

# The replicas' benchmark (bench/replicas.sh: two controls on one redis-server) at tiny
# sizes, a few seconds: every step starts and yields numbers.
add_test(NAME bench.replicas_smoke COMMAND bash ${CMAKE_SOURCE_DIR}/bench/replicas.sh --smoke)
set_tests_properties(bench.replicas_smoke PROPERTIES
  ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};BENCH_OUT=${CMAKE_BINARY_DIR}/bench-smoke"
  TIMEOUT 120)
