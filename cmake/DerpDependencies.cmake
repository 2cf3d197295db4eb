# Finds every third-party library the ordinary way and fails with the Debian package to install.
# derp_deps is an INTERFACE target carrying what the library links.

find_package(PkgConfig QUIET)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found. On Debian: apt-get install pkg-config")
endif()

function(derp_require_pkg prefix module debian_package)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "${module} not found through pkg-config. On Debian: apt-get install ${debian_package}")
  endif()
  message(STATUS "Found ${module} ${${prefix}_VERSION}")
endfunction()

# libsodium: X25519 keys and the NaCl box (crypto_box) that seals ClientInfo/ServerInfo.
derp_require_pkg(SODIUM libsodium libsodium-dev)
# libuv: the bundled event-loop driver (lib/uv).
derp_require_pkg(LIBUV libuv libuv1-dev)
# wslay: WebSocket framing for DERP over WebSocket (lib/http/websocket_stream). Debian's libwslay-dev ships a CMake
# package (target "wslay") but no libwslay.pc, so derp_require_pkg cannot find it: ask CMake instead.
find_package(wslay CONFIG QUIET)
if(NOT wslay_FOUND)
  message(FATAL_ERROR "wslay not found. On Debian: apt-get install libwslay-dev")
endif()
message(STATUS "Found wslay (${wslay_DIR})")

# mbedTLS 2.28: HMAC-SHA1/MD5 for STUN MESSAGE-INTEGRITY now, TLS for the drivers later. Debian ships no
# pkg-config or CMake files for it, so find its libraries and check the version header.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/version.h)
find_library(MBEDTLS_LIBRARY mbedtls)
find_library(MBEDX509_LIBRARY mbedx509)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIBRARY OR NOT MBEDX509_LIBRARY OR NOT MBEDCRYPTO_LIBRARY)
  message(FATAL_ERROR "mbedTLS not found. On Debian: apt-get install libmbedtls-dev")
endif()
file(STRINGS ${MBEDTLS_INCLUDE_DIR}/mbedtls/version.h _mbedtls_version_line
     REGEX "^#define MBEDTLS_VERSION_STRING +\"[0-9.]+\"")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" MBEDTLS_VERSION "${_mbedtls_version_line}")
if(MBEDTLS_VERSION VERSION_LESS 2.28 OR MBEDTLS_VERSION VERSION_GREATER_EQUAL 3.0)
  message(FATAL_ERROR "mbedTLS 2.28.x required, found ${MBEDTLS_VERSION}. On Debian 12: apt-get install libmbedtls-dev")
endif()
message(STATUS "Found mbedTLS ${MBEDTLS_VERSION}")

# nlohmann_json: encodes and decodes the JSON inside the ClientInfo/ServerInfo boxes (and, later, DERPMaps).
find_package(nlohmann_json 3 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann_json not found. On Debian: apt-get install nlohmann-json3-dev")
endif()

# One INTERFACE target per dependency, named as lib/CMakeLists.txt names them when a module declares what it uses
# (derp_dep_<name>), and for each the headers a module that does not declare it must not reach (the module
# boundary, cmake/DerpModules.cmake).
add_library(derp_dep_sodium INTERFACE)
target_link_libraries(derp_dep_sodium INTERFACE PkgConfig::SODIUM)
add_library(derp_dep_uv INTERFACE)
target_link_libraries(derp_dep_uv INTERFACE PkgConfig::LIBUV)
add_library(derp_dep_wslay INTERFACE)
target_link_libraries(derp_dep_wslay INTERFACE wslay)
add_library(derp_dep_json INTERFACE)
target_link_libraries(derp_dep_json INTERFACE nlohmann_json::nlohmann_json)
add_library(derp_dep_mbedtls INTERFACE)
target_include_directories(derp_dep_mbedtls INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(derp_dep_mbedtls INTERFACE ${MBEDTLS_LIBRARY} ${MBEDX509_LIBRARY} ${MBEDCRYPTO_LIBRARY})

function(derp_dep_header_dir out header)
  get_target_property(dirs ${ARGN} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT dirs)
    set(dirs "")
  endif()
  find_path(_derp_hdr_${header} ${header} HINTS ${dirs} NO_CACHE)
  if(NOT _derp_hdr_${header})
    message(FATAL_ERROR "cannot find ${header} to fence it off from the modules that do not use it")
  endif()
  set(${out} ${_derp_hdr_${header}} PARENT_SCOPE)
endfunction()
derp_dep_header_dir(_sodium_dir sodium.h PkgConfig::SODIUM)
derp_dep_header_dir(_uv_dir uv.h PkgConfig::LIBUV)
derp_dep_header_dir(_wslay_dir wslay/wslay.h wslay)
derp_dep_header_dir(_json_dir nlohmann/json.hpp nlohmann_json::nlohmann_json)
# Globs relative to each include directory: the headers a program names in #include <...>.
set(DERP_DEP_HEADERS_sodium "${_sodium_dir}" "sodium.h;sodium/*.h")
set(DERP_DEP_HEADERS_uv "${_uv_dir}" "uv.h;uv/*.h")
set(DERP_DEP_HEADERS_wslay "${_wslay_dir}" "wslay/*.h")
set(DERP_DEP_HEADERS_json "${_json_dir}" "nlohmann/*.hpp")
set(DERP_DEP_HEADERS_mbedtls "${MBEDTLS_INCLUDE_DIR}" "mbedtls/*.h;psa/*.h")
set(DERP_DEPS sodium uv wslay json mbedtls)

# Everything the library links, for the shared and static libraries and for internal programs (tests, benches).
add_library(derp_deps INTERFACE)
foreach(dep ${DERP_DEPS})
  target_link_libraries(derp_deps INTERFACE derp_dep_${dep})
endforeach()

if(DERP_BUILD_TESTS)
  # Catch2 v2: unit and integration tests.
  find_package(Catch2 2 QUIET)
  if(NOT Catch2_FOUND)
    message(FATAL_ERROR "Catch2 v2 not found. On Debian: apt-get install catch2")
  endif()
endif()

# What a program linking the static libderp.a must link besides it, kept here beside the finds above. The pkg-config
# modules go into derp.pc's Requires.private; the plain linker names into its Libs.private and into the installed
# CMake target derp::derp_static (an installed package cannot refer to derp_deps or to the PkgConfig:: targets of
# this build tree). The C++ runtime comes last, for C programs whose compiler driver does not add it.
set(DERP_STATIC_PC_REQUIRES libsodium libuv)
set(DERP_STATIC_PC_LIBS wslay mbedtls mbedx509 mbedcrypto)
set(DERP_STATIC_CXX_RUNTIME stdc++ m)
set(DERP_STATIC_LINK_NAMES ${SODIUM_LIBRARIES} ${LIBUV_LIBRARIES} ${DERP_STATIC_PC_LIBS} ${DERP_STATIC_CXX_RUNTIME})
