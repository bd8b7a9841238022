# Test helpers. Every test carries one of the labels unit, interop, e2e, fuzz.
#
#   pkie_unit_test(NAME n SOURCES a.c ... LIBS pkie_x ... [INCLUDES dir ...])
#   pkie_interop_test(NAME n COMMAND prog args...)   runs in a private network
#                                                    namespace (loopback only)
#   pkie_e2e_test(NAME n COMMAND prog args...)
#   pkie_fuzz_target(NAME n SOURCES f.c LIBS pkie_x CORPUS dir [FUZZ_ARGS libFuzzer flags...])
#
# Tests find their data through the environment: PKIE_SRC_DIR, PKIE_BUILD_DIR,
# PKIE_TEST_DATA (tests/data) and PKIE_BIN (the pkie CLI).

set(PKIE_NETNS_RUN ${CMAKE_SOURCE_DIR}/tests/netns-run)
set(PKIE_FUZZ_BURST_SECONDS 15 CACHE STRING "Length of each fuzz target's burst in make check")
set(PKIE_TEST_ENV
  PKIE_SRC_DIR=${CMAKE_SOURCE_DIR}
  PKIE_BUILD_DIR=${CMAKE_BINARY_DIR}
  PKIE_TEST_DATA=${CMAKE_SOURCE_DIR}/tests/data
  PKIE_BIN=${CMAKE_BINARY_DIR}/pkie
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

function(pkie_unit_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;INCLUDES" ${ARGN})
  if(PKIE_FUZZ)
    return()
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_include_directories(${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit ${T_INCLUDES})
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS unit TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "${PKIE_TEST_ENV}")
endfunction()

# A test run through tests/netns-run (private network namespace, loopback only).
function(pkie_netns_test label default_timeout)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND" ${ARGN})
  if(PKIE_FUZZ)
    return()
  endif()
  add_test(NAME ${T_NAME} COMMAND ${PKIE_NETNS_RUN} ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${default_timeout})
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${label} TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "${PKIE_TEST_ENV}")
endfunction()

function(pkie_interop_test)
  pkie_netns_test(interop 300 ${ARGN})
endfunction()

function(pkie_e2e_test)
  pkie_netns_test(e2e 600 ${ARGN})
endfunction()

# A fuzz target is one LLVMFuzzerTestOneInput. In the fuzz build (clang) it is a
# libFuzzer binary whose test runs a burst seeded from the committed corpus; in
# every other build it is linked with a replay driver and its test replays the
# corpus, so the normal and sanitizer builds check every committed input too.
function(pkie_fuzz_target)
  cmake_parse_arguments(T "" "NAME;CORPUS" "SOURCES;LIBS;FUZZ_ARGS" ${ARGN})
  set(exe fuzz_${T_NAME})
  if(PKIE_FUZZ)
    add_executable(${exe} ${T_SOURCES})
    target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
    set(work ${CMAKE_BINARY_DIR}/fuzz-work/${T_NAME})
    file(MAKE_DIRECTORY ${work})
    add_test(NAME ${exe} COMMAND ${exe} -max_total_time=${PKIE_FUZZ_BURST_SECONDS}
             -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 ${T_FUZZ_ARGS} ${work} ${T_CORPUS})
  else()
    add_executable(${exe} ${T_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
    add_test(NAME ${exe} COMMAND ${exe} ${T_CORPUS})
  endif()
  target_link_libraries(${exe} PRIVATE ${T_LIBS})
  set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  set_tests_properties(${exe} PROPERTIES LABELS fuzz TIMEOUT 600 ENVIRONMENT "${PKIE_TEST_ENV}")
endfunction()

# PostgreSQL variants: the same test with PKIE_TEST_PG_DIR naming the throwaway
# cluster that the fixture "pg" starts (tests/pg); labels LABEL and pg.
#   pkie_pg_test(NAME n LABEL unit|interop|e2e [TIMEOUT s] COMMAND prog args...)
set(PKIE_PG_DIR ${CMAKE_BINARY_DIR}/pg)
set(PKIE_PG_ENV PKIE_TEST_PG_DIR=${PKIE_PG_DIR}
                PKIE_TEST_PG_SCRIPT=${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.sh)
function(pkie_pg_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "COMMAND" ${ARGN})
  if(PKIE_FUZZ)
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  if(T_LABEL STREQUAL "unit")
    add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  else()
    add_test(NAME ${T_NAME} COMMAND ${PKIE_NETNS_RUN} ${T_COMMAND})
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABEL};pg" TIMEOUT ${T_TIMEOUT}
                       FIXTURES_REQUIRED pg ENVIRONMENT "${PKIE_TEST_ENV};${PKIE_PG_ENV}")
endfunction()
