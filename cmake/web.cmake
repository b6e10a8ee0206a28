# The browser page (control/web/, docs/browser.md): its npm packages installed from the
# committed lockfile only when node_modules is missing or older than it
# (scripts/setup.d/web.sh), then bundled by esbuild (control/web/build.mjs) into
# ${CMAKE_BINARY_DIR}/web, where runwire-control finds it (../web from its bin/ directory).
# Part of ALL. Without node the page is not built and control serves the API alone.
find_program(RW_WEB_NODE node)
find_program(RW_WEB_NPM npm)
set(RW_WEB_SRC ${CMAKE_SOURCE_DIR}/control/web)
set(RW_WEB_DIR ${CMAKE_BINARY_DIR}/web)

if(NOT RW_WEB_NODE OR NOT RW_WEB_NPM)
  message(WARNING "node/npm not found: the browser page is not built (run scripts/setup.sh)")
else()
  file(GLOB RW_WEB_SOURCES CONFIGURE_DEPENDS ${RW_WEB_SRC}/src/*)
  # npm ci only when the lockfile is newer than the last install (no network otherwise).
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/web-npm.stamp
    COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/setup.d/web.sh
    COMMAND ${CMAKE_COMMAND} -E touch ${CMAKE_BINARY_DIR}/web-npm.stamp
    DEPENDS ${RW_WEB_SRC}/package.json ${RW_WEB_SRC}/package-lock.json
    COMMENT "web: npm packages of the page (only when the lockfile changed)"
    VERBATIM)
  add_custom_command(
    OUTPUT ${RW_WEB_DIR}/index.html ${RW_WEB_DIR}/app.js ${RW_WEB_DIR}/app.css
    COMMAND ${RW_WEB_NODE} build.mjs --outdir ${RW_WEB_DIR}
    DEPENDS ${RW_WEB_SOURCES} ${RW_WEB_SRC}/build.mjs ${CMAKE_BINARY_DIR}/web-npm.stamp
    WORKING_DIRECTORY ${RW_WEB_SRC}
    COMMENT "web: building the page into ${RW_WEB_DIR}"
    VERBATIM)
  add_custom_target(runwire-web ALL
    DEPENDS ${RW_WEB_DIR}/index.html ${RW_WEB_DIR}/app.js ${RW_WEB_DIR}/app.css)
endif()
