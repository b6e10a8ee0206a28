# Firebase ID token verification: the rw_firebase library (linked by runwire-control), its unit
# test, the verify tool and the end-to-end test against the real Firebase Auth emulator.
find_package(Threads REQUIRED)

add_library(rw_firebase STATIC
  control/firebase_auth.c
  control/google_certs.c
)
target_link_libraries(rw_firebase PUBLIC rw_common PkgConfig::CURL PkgConfig::OPENSSL
                      PkgConfig::JANSSON PkgConfig::SODIUM Threads::Threads)

# Tokens minted with keys made at run time, certificates served from a loopback thread.
add_executable(test_firebase_auth tests/unit/test_firebase_auth.c)
target_link_libraries(test_firebase_auth PRIVATE rw_firebase PkgConfig::JWT)
add_test(NAME firebase.unit COMMAND test_firebase_auth)
set_tests_properties(firebase.unit PROPERTIES TIMEOUT 120)

# Reads a token on stdin, prints the uid or the reason (tests/e2e-firebase, and by hand).
add_executable(firebase_verify_tool tests/tools/firebase_verify_tool.c)
target_link_libraries(firebase_verify_tool PRIVATE rw_firebase)

# The Firebase Auth emulator (npm firebase-tools, scripts/setup.d/firebase-emulator.sh) on
# loopback ports chosen at run time; skipped (exit 77) when firebase-tools is not installed.
file(GLOB RW_FIREBASE_E2E ${CMAKE_SOURCE_DIR}/tests/e2e-firebase/*.sh)
foreach(script ${RW_FIREBASE_E2E})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME firebase.e2e.${name} COMMAND bash ${script})
  set_tests_properties(firebase.e2e.${name} PROPERTIES
    ENVIRONMENT "RW_BIN=${CMAKE_BINARY_DIR}/bin;RW_SRC=${CMAKE_SOURCE_DIR};RW_SANITIZE=${RW_SANITIZE}"
    SKIP_RETURN_CODE 77
    TIMEOUT 180)
endforeach()
