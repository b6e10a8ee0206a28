# deploy.images (tests/images/images.sh, docs/images.md): builds images/control and
# images/runner with buildah on an mmdebstrap root (no daemon, no registry), unpacks them with
# umoci and runs a session through them under bwrap. The images compile from source, so the
# sanitizer build does not run it again.
if(NOT RW_SANITIZE)
  add_test(NAME deploy.images COMMAND bash ${CMAKE_SOURCE_DIR}/tests/images/images.sh)
  set_tests_properties(deploy.images PROPERTIES
    ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE}"
    TIMEOUT 900 PROCESSORS 2 LABELS deploy)
endif()
