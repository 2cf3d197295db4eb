# `cmake --build <dir> --target docs`: the HTML API reference of the public C headers (include/derp/*.h) in
# <dir>/docs/html, when doxygen is installed (Debian: doxygen). Not part of `all`. With DERP_PACKAGE_TESTS the
# test api_docs builds it and lists doxygen's warnings (it fails only when doxygen fails or writes no index).

find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(DERP_DOCS_DIR ${PROJECT_BINARY_DIR}/docs)
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${DERP_DOCS_DIR}/Doxyfile @ONLY)
  add_custom_target(docs
    COMMAND ${DOXYGEN_EXECUTABLE} ${DERP_DOCS_DIR}/Doxyfile
    WORKING_DIRECTORY ${DERP_DOCS_DIR}
    COMMENT "API reference: ${DERP_DOCS_DIR}/html/index.html"
    VERBATIM)
else()
  message(STATUS "doxygen not found: no docs target (On Debian: apt-get install doxygen)")
endif()
