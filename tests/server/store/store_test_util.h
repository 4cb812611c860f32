// Helpers for the store tests: status assertions (Abseil 20220623 ships no
// status matchers), hermetic temp dirs and raw file access.
#ifndef VMAE_TESTS_SERVER_STORE_STORE_TEST_UTIL_H_
#define VMAE_TESTS_SERVER_STORE_STORE_TEST_UTIL_H_

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::server::testing {

inline const absl::Status& ToStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

#define VMAE_STORE_EXPECT_OK_IMPL_(check, expr)                          \
  do {                                                                   \
    const auto& vmae_test_result_ = (expr);                              \
    check(::vmae::server::testing::ToStatus(vmae_test_result_).ok())     \
        << ::vmae::server::testing::ToStatus(vmae_test_result_);         \
  } while (0)
#define EXPECT_OK(expr) VMAE_STORE_EXPECT_OK_IMPL_(EXPECT_TRUE, expr)
#define ASSERT_OK(expr) VMAE_STORE_EXPECT_OK_IMPL_(ASSERT_TRUE, expr)

// Matches a Status or StatusOr whose code is `code`.
MATCHER_P(StatusIs, code, "") {
  const absl::Status& status = ::vmae::server::testing::ToStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

// A fresh directory under ::testing::TempDir(), removed (with its files)
// when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "vmae_store_XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs SQL on `path` through a separate raw connection (another program, or
// a second process, as far as the code under test can tell).
inline void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  ASSERT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db);
  char* error = nullptr;
  rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message << " in " << sql;
}

}  // namespace vmae::server::testing

#endif  // VMAE_TESTS_SERVER_STORE_STORE_TEST_UTIL_H_
