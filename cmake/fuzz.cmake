# herd_add_clang_fuzzer(NAME <target> TEST <ctest name> SOURCES <files...> DEPENDS <files...>
#                       CORPUS <dir> [COMPILE_FLAGS <flags...>] [FUZZ_ARGS <args...>])
#
# libFuzzer needs clang while the rest of herd may build with gcc, so a fuzz target is compiled
# by clang directly from standalone sources. Under CTest it fuzzes for a bounded 20 s from the
# committed corpus; new inputs go to a scratch directory, the corpus is only read.
# Sets HERD_CLANGXX; does nothing without clang (callers may then replay the corpus instead).
find_program(HERD_CLANGXX NAMES clang++ clang++-16 clang++-15 clang++-14)

function(herd_add_clang_fuzzer)
  cmake_parse_arguments(F "" "NAME;TEST;CORPUS" "SOURCES;DEPENDS;COMPILE_FLAGS;FUZZ_ARGS" ${ARGN})
  if(NOT HERD_CLANGXX)
    return()
  endif()
  set(binary ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME})
  add_custom_command(
    OUTPUT ${binary}
    COMMAND ${HERD_CLANGXX} -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined ${F_COMPILE_FLAGS}
            -I${CMAKE_SOURCE_DIR}/src ${F_SOURCES} -o ${binary}
    DEPENDS ${F_SOURCES} ${F_DEPENDS}
    COMMENT "Building ${F_NAME} with clang")
  add_custom_target(${F_NAME}_build ALL DEPENDS ${binary})
  string(JOIN " " fuzz_args ${F_FUZZ_ARGS})
  add_test(NAME ${F_TEST}
           COMMAND sh -c "rm -rf fuzz-new && mkdir fuzz-new && exec '${binary}' -max_total_time=20 ${fuzz_args} -rss_limit_mb=1024 -timeout=5 fuzz-new '${F_CORPUS}'"
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${F_TEST} PROPERTIES TIMEOUT 120)
endfunction()
