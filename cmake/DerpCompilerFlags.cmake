# Warnings, sanitizers and fuzzing flags, applied the same way to every target of ours.

function(derp_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
      # gcc 12's -Wrestrict misfires on `"literal" + std::string` inside libstdc++ at -O3 (GCC bug 105329);
      # every such report here is in the standard library's own code, none in ours.
      target_compile_options(${target} PRIVATE -Wno-restrict)
    endif()
    if(DERP_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

if(DERP_SANITIZE OR DERP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "DERP_SANITIZE needs gcc or clang")
  endif()
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(DERP_SANITIZE_THREAD)
  # TSan and ASan cannot share a process (each owns the shadow memory), so the two builds stay separate.
  if(DERP_SANITIZE OR DERP_FUZZ)
    message(FATAL_ERROR "DERP_SANITIZE_THREAD cannot be combined with DERP_SANITIZE or DERP_FUZZ (ASan)")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "DERP_SANITIZE_THREAD needs gcc or clang")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

if(DERP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DERP_FUZZ needs clang (e.g. -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14) "
                        "and libFuzzer (apt-get install clang-14 libfuzzer-14-dev libclang-rt-14-dev)")
  endif()
  # Coverage instrumentation everywhere; only the fuzz executables link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
