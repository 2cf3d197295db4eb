# Install rules: the public headers, libderp.so (SONAME libderp.so.${DERP_ABI_MAJOR}) and libderp.a, a pkg-config
# file derp.pc, and a CMake package so that find_package(derp) gives derp::derp (shared) and derp::derp_static.
# tests/install/run-install-test.sh installs a build into a temporary prefix and builds a C program all four ways.

include(CMakePackageConfigHelpers)

install(TARGETS derp derp_static EXPORT derpTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/derp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

# derp.pc: `pkg-config --cflags --libs derp` for libderp.so, `pkg-config --static ...` adds what libderp.a needs.
# The paths are relative to ${pcfiledir}, so an installed tree can be moved.
set(DERP_PC_REQUIRES_PRIVATE "")
list(JOIN DERP_STATIC_PC_REQUIRES " " DERP_PC_REQUIRES_PRIVATE)
set(DERP_PC_LIBS_PRIVATE "")
foreach(lib ${DERP_STATIC_PC_LIBS} ${DERP_STATIC_CXX_RUNTIME})
  string(APPEND DERP_PC_LIBS_PRIVATE " -l${lib}")
endforeach()
string(STRIP "${DERP_PC_LIBS_PRIVATE}" DERP_PC_LIBS_PRIVATE)
# `cmake --install --prefix P` may choose another prefix than the configured one: derp.pc finds the prefix from
# its own place (pkg-config's ${pcfiledir}), so an installed tree stays usable wherever it was put.
file(RELATIVE_PATH DERP_PC_PREFIX_FROM_PCDIR ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" DERP_PC_PREFIX_FROM_PCDIR "${DERP_PC_PREFIX_FROM_PCDIR}")
file(RELATIVE_PATH DERP_PC_LIBDIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_LIBDIR})
file(RELATIVE_PATH DERP_PC_INCLUDEDIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_INCLUDEDIR})
configure_file(${PROJECT_SOURCE_DIR}/cmake/derp.pc.in ${PROJECT_BINARY_DIR}/derp.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/derp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The CMake package: derpTargets.cmake (generated from the export set), derpConfig.cmake, derpConfigVersion.cmake.
# Same major version, same ABI: SameMajorVersion compatibility.
set(DERP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/derp)
install(EXPORT derpTargets NAMESPACE derp:: DESTINATION ${DERP_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/derpConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/derpConfig.cmake
                              INSTALL_DESTINATION ${DERP_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/derpConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/derpConfig.cmake ${PROJECT_BINARY_DIR}/derpConfigVersion.cmake
        DESTINATION ${DERP_CMAKE_DIR})
