# The stream's own unit tests (the end-to-end ones are tests/e2e/stream_*.sh).
rw_unit_test(test_sha256)
