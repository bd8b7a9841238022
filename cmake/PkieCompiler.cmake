# Compiler flags shared by every target of the project.
add_compile_definitions(_GNU_SOURCE OPENSSL_API_COMPAT=30000 OPENSSL_NO_DEPRECATED)
add_compile_options(
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wpointer-arith -Wcast-qual -Wundef -Wvla -Wimplicit-fallthrough
  -fno-common -fstack-protector-strong)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wlogical-op -Wduplicated-cond)
endif()
if(PKIE_WERROR)
  add_compile_options(-Werror)
endif()
if(CMAKE_BUILD_TYPE MATCHES "Rel")
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
if(PKIE_SANITIZE OR PKIE_FUZZ)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(PKIE_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "PKIE_FUZZ needs clang (CC=clang)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_compile_definitions(PKIE_FUZZING=1)
endif()
