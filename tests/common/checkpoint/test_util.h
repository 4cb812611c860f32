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

namespace vmae::checkpoint::testing {

#define VMAE_CKPT_EXPECT_OK_IMPL_(check, expr)                           \
  do {                                                                   \
    const auto& vmae_ckpt_result_ = (expr);                              \
    check(::vmae::checkpoint::testing::StatusOf(vmae_ckpt_result_).ok()) \
        << ::vmae::checkpoint::testing::StatusOf(vmae_ckpt_result_);     \
  } while (0)
#define EXPECT_OK(expr) VMAE_CKPT_EXPECT_OK_IMPL_(EXPECT_TRUE, expr)
#define ASSERT_OK(expr) VMAE_CKPT_EXPECT_OK_IMPL_(ASSERT_TRUE, expr)

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches a Status or StatusOr with `code` whose message contains `text`.
MATCHER_P2(StatusIs, code, text, "") {
  const absl::Status status = StatusOf(arg);
  *result_listener << "status is " << status;
  return status.code() == code && status.message().find(std::string(text)) != std::string::npos;
}

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/vmae_ckpt_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

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
