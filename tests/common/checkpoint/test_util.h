// Helpers shared by the checkpoint tests.
#ifndef VMAE_TESTS_COMMON_CHECKPOINT_TEST_UTIL_H_
#define VMAE_TESTS_COMMON_CHECKPOINT_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace vmae::checkpoint::testing {

using ::vmae::testing::IsOk;
using ::vmae::testing::StatusIs;
using ::vmae::testing::StatusOf;
using ::vmae::testing::TempDir;

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Little-endian bytes of an unsigned value, independent of the host order.
inline std::string LittleEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
  return out;
}

// IEEE-754 binary32 little-endian bytes of `values`.
inline std::string F32Bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    out += LittleEndian(bits, 4);
  }
  return out;
}

// A safetensors file: 8-byte length, the header as given, the data.
inline std::string SafetensorsBytes(const std::string& header, const std::string& data) {
  return LittleEndian(header.size(), 8) + header + data;
}

}  // namespace vmae::checkpoint::testing

#endif  // VMAE_TESTS_COMMON_CHECKPOINT_TEST_UTIL_H_
