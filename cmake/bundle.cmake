# rw_bundle: fetch, verify, unpack and cache CLI bundles (linked by runwire-agent).
# agent/bundle.h is the entry point; docs/bundles.md is the guide for authors and operators.
add_library(rw_bundle STATIC
  agent/bundle.c
  agent/bundle_fetch.c
  agent/bundle_unpack.c
  agent/bundle_cache.c
  agent/minisign.c
)
find_package(Threads REQUIRED)
target_link_libraries(rw_bundle PUBLIC rw_common PkgConfig::CURL PkgConfig::ARCHIVE
                      PkgConfig::SODIUM PkgConfig::JANSSON Threads::Threads)

