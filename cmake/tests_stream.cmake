# The stream's own unit tests (the end-to-end ones are tests/e2e/stream_*.sh).
rw_unit_test(test_sha256)
# control's session stream: log, cache, events and their caps
rw_unit_test(test_stream control/stream.c)
target_link_libraries(test_stream PRIVATE PkgConfig::LWS)
# the cap on remembered one-time token ids, built small so that one past it is cheap to reach
rw_unit_test(test_token_used control/session_token.c control/kms_signer.c)
target_compile_definitions(test_token_used PRIVATE TOKEN_MAX_USED=64)
target_link_libraries(test_token_used PRIVATE PkgConfig::JWT PkgConfig::LWS rw_firebase)
