/* test_store_caps.c: test_store's stream suite again, built with the stream caps control
 * is built with (STORE_STREAM_MAX_ENTRIES 4096, STORE_STREAM_MAX_BYTES 16 MiB) rather than
 * test_store's small ones: 4097 entries keep the newest 4096, 257 entries of 64 KiB the
 * newest within 16 MiB, on the memory backend and on a redis-server it starts. */
#define TEST_STORE_STREAM_CAPS 1
#include "tests/unit/test_store.c"
