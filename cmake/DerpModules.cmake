# One object library per module (a folder under lib/, and capi/), each with only the dependencies it declares. The
# boundary is enforced at compile time, both ways a module could cross it:
#   - other modules: a module's include path is a folder of links to itself and the modules it declares (and
#     theirs), never lib/ as a whole, so #include "uv/uv_server.hpp" from lib/server finds no file;
#   - third-party headers: they sit in /usr/include, which every compiler searches anyway, so for each dependency a
#     module does not declare, its include path starts with a "fence" folder holding one header of the same name
#     per header of that dependency, each an #error. #include <uv.h> in lib/server then stops the build with a
#     message naming the rule.
# The objects of every module together make libderp.so and libderp.a (CMakeLists.txt); the modules' own targets
# are never linked on their own.

set(DERP_MODULE_VIEWS ${CMAKE_BINARY_DIR}/derp-modules)
set(DERP_FENCES ${CMAKE_BINARY_DIR}/derp-fences)

# A fence folder per dependency: for every header the dependency installs, a header of the same relative path
# that fails the compile. Regenerated at each configure (the dependency may have been upgraded).
function(derp_make_fence dep)
  list(GET DERP_DEP_HEADERS_${dep} 0 root)
  list(SUBLIST DERP_DEP_HEADERS_${dep} 1 -1 globs)
  set(fence ${DERP_FENCES}/${dep})
  file(REMOVE_RECURSE ${fence})
  set(count 0)
  foreach(g ${globs})
    file(GLOB headers RELATIVE ${root} ${root}/${g})
    foreach(h ${headers})
      file(WRITE ${fence}/${h}
           "#error \"module boundary: <${h}> belongs to ${dep}, which this module does not declare "
           "(lib/CMakeLists.txt lists what each module may use)\"\n")
      math(EXPR count "${count} + 1")
    endforeach()
  endforeach()
  if(count EQUAL 0)
    message(FATAL_ERROR "no headers of ${dep} found under ${root} to fence off")
  endif()
endfunction()
foreach(dep ${DERP_DEPS})
  derp_make_fence(${dep})
endforeach()

# derp_module(NAME <folder> [DIR <source folder>] [MODULES <modules it includes>...] [DEPS <third-party>...])
# Modules must be declared after the modules they use. Sources: every .cpp in the folder (a glob, so new files
# join their module without editing this).
function(derp_module)
  cmake_parse_arguments(M "" "NAME;DIR" "MODULES;DEPS" ${ARGN})
  if(NOT M_DIR)
    set(M_DIR ${PROJECT_SOURCE_DIR}/lib/${M_NAME})
  endif()
  # The modules it may include: itself, what it declares, and what those may include (a header of a module it
  # uses includes that module's own dependencies).
  set(reach ${M_NAME})
  foreach(m ${M_MODULES})
    get_property(known GLOBAL PROPERTY DERP_MODULE_REACH_${m} SET)
    if(NOT known)
      message(FATAL_ERROR "module ${M_NAME} uses ${m}, which is not declared before it")
    endif()
    get_property(r GLOBAL PROPERTY DERP_MODULE_REACH_${m})
    list(APPEND reach ${r})
  endforeach()
  list(REMOVE_DUPLICATES reach)
  set_property(GLOBAL PROPERTY DERP_MODULE_REACH_${M_NAME} ${reach})
  set_property(GLOBAL PROPERTY DERP_MODULE_DIR_${M_NAME} ${M_DIR})
  set_property(GLOBAL APPEND PROPERTY DERP_MODULES ${M_NAME})

  set(view ${DERP_MODULE_VIEWS}/${M_NAME})
  file(REMOVE_RECURSE ${view})
  file(MAKE_DIRECTORY ${view})
  foreach(m ${reach})
    get_property(dir GLOBAL PROPERTY DERP_MODULE_DIR_${m})
    file(CREATE_LINK ${dir} ${view}/${m} SYMBOLIC)
  endforeach()

  foreach(dep ${M_DEPS})
    if(NOT dep IN_LIST DERP_DEPS)
      message(FATAL_ERROR "module ${M_NAME}: unknown dependency ${dep} (known: ${DERP_DEPS})")
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY DERP_MODULE_DEPS_${M_NAME} ${M_DEPS})

  set(target derp_mod_${M_NAME})
  file(GLOB sources CONFIGURE_DEPENDS ${M_DIR}/*.cpp)
  add_library(${target} OBJECT ${sources})
  derp_module_rules(${target} ${M_NAME})
endfunction()

# What a module's own sources are compiled with: its view of the modules, the fences of the dependencies it does
# not declare, the ones it does. Also used by tests/boundary to compile a probe exactly as a module would be.
function(derp_module_rules target module)
  get_property(deps GLOBAL PROPERTY DERP_MODULE_DEPS_${module})
  set(fences "")
  foreach(dep ${DERP_DEPS})
    if(NOT dep IN_LIST deps)
      list(APPEND fences ${DERP_FENCES}/${dep})
    endif()
  endforeach()
  # BEFORE and -I (not -isystem): fences are searched ahead of every system directory.
  if(fences)
    target_include_directories(${target} BEFORE PRIVATE ${fences})
  endif()
  target_include_directories(${target} PRIVATE ${DERP_MODULE_VIEWS}/${module} ${PROJECT_SOURCE_DIR}/include)
  foreach(dep ${deps})
    target_link_libraries(${target} PRIVATE derp_dep_${dep})
  endforeach()
  target_compile_definitions(${target} PRIVATE DERP_BUILDING_LIBRARY)
  derp_warnings(${target})
endfunction()
