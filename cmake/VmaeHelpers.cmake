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

# vmae_prefer_openmp_openblas(target)
# LibTorch runs its own work on an OpenMP thread pool. Debian's default
# OpenBLAS threads with pthreads and spins its threads beside OpenMP's, which
# on 2 cores makes a ViT-S pre-training step 1.5x slower (docs/benchmarks.md).
# Where Debian's OpenMP build of OpenBLAS is installed (libopenblas0-openmp),
# the executable loads it instead: DT_RPATH, unlike RUNPATH, also applies to
# libtorch_cpu's own libblas.so.3 dependency. Without it, the system's
# libblas.so.3 is loaded as before.
function(vmae_prefer_openmp_openblas target)
  set(dir /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp)
  if(CMAKE_LIBRARY_ARCHITECTURE AND EXISTS ${dir}/libblas.so.3)
    target_link_options(${target} PRIVATE -Wl,--disable-new-dtags "-Wl,-rpath,${dir}")
  endif()
endfunction()
