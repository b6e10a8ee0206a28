# The sandbox of local runners (agent/sandbox.c): its unit test; the end-to-end attack matrix
# is tests/e2e/sandbox_matrix.sh (picked up by cmake/tests.cmake).
add_executable(test_sandbox tests/unit/test_sandbox.c agent/sandbox.c)
target_link_libraries(test_sandbox PRIVATE rw_common PkgConfig::JANSSON)
add_test(NAME unit.test_sandbox COMMAND test_sandbox)

# The pty child (agent/pty_proc.c): "exec CMD" for simple commands, the program's own status
# after a SIGHUP.
add_executable(test_pty_proc tests/unit/test_pty_proc.c agent/pty_proc.c agent/sandbox.c)
target_link_libraries(test_pty_proc PRIVATE rw_common PkgConfig::JANSSON util)
add_test(NAME unit.test_pty_proc COMMAND test_pty_proc)
