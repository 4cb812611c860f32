# Warning flags applied to every vmae target (not to generated code).
function(vmae_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(VMAE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
endfunction()

# vmae_cc_test(NAME name SRCS a.cc b.cc DEPS lib... [SERIAL])
# One GoogleTest binary; SERIAL marks tests that start processes so CTest
# runs them one at a time (RUN_SERIAL) on the 2-core machine.
function(vmae_cc_test)
  cmake_parse_arguments(T "SERIAL" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gmock GTest::gtest_main)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  vmae_warnings(${T_NAME})
  target_compile_definitions(${T_NAME} PRIVATE
    VMAE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    VMAE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(T_SERIAL)
    gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
      PROPERTIES RUN_SERIAL TRUE TIMEOUT 120 LABELS integration)
  else()
    gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
  endif()
endfunction()
