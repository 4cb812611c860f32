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
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace vmae::server::testing {

using ::vmae::testing::IsOk;
using ::vmae::testing::StatusIs;
using ::vmae::testing::StatusOf;
using ::vmae::testing::TempDir;

inline const absl::Status& ToStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

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
