// Helpers shared by the worker checkpoint tests: the Python-written fixtures
// (make_fixtures.py, run once per test binary into a temp dir), raw
// expectations and status matchers.
#ifndef VMAE_TESTS_WORKER_CHECKPOINT_TEST_UTIL_H_
#define VMAE_TESTS_WORKER_CHECKPOINT_TEST_UTIL_H_

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace vmae::checkpoint::pth_testing {

using ::vmae::testing::IsOk;
using ::vmae::testing::StatusIs;
using ::vmae::testing::StatusOf;
using ::vmae::testing::TempDir;

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteBytes(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Debian's Python torch; the `python3` first on PATH may not have it.
inline constexpr char kPython[] = "/usr/bin/python3";

// The fixtures: make_fixtures.py writes them into the build tree once per
// version of the script and later processes reuse them (ctest runs every test
// in its own process, and the script takes seconds). A fresh directory is
// filled and then renamed into place, so concurrent test processes never see
// a partial set.
struct Fixtures {
  bool have_python_torch = false;
  std::string error;  // Non-empty if the script failed.
  std::string dir;

  static std::string FinalDir() { return VMAE_BINARY_DIR "/tests/worker/checkpoint/pth_fixtures"; }

  Fixtures() {
    const std::string script = VMAE_SOURCE_DIR "/tests/worker/checkpoint/make_fixtures.py";
    const std::string stamp = std::to_string(std::hash<std::string>{}(ReadBytes(script)));
    const std::string final_dir = FinalDir();
    const auto ready = [&] { return ReadBytes(final_dir + "/STAMP") == stamp; };
    if (ready()) {
      have_python_torch = true;
      dir = final_dir;
      return;
    }
    const std::string probe = std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1";
    have_python_torch = std::system(probe.c_str()) == 0;
    if (!have_python_torch) {
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(final_dir).parent_path(), ec);
    std::string tmp = final_dir + ".XXXXXX";
    if (mkdtemp(tmp.data()) == nullptr) {
      error = "cannot create " + tmp;
      return;
    }
    const std::string log = tmp + "/make_fixtures.log";
    // The marker a hostile fixture would create if it were ever executed
    // names the final directory.
    const std::string cmd = std::string(kPython) + " " + script + " '" + tmp + "' '" + final_dir +
                            "' >'" + log + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      error = "make_fixtures.py failed:\n" + ReadBytes(log);
      std::filesystem::remove_all(tmp, ec);
      return;
    }
    std::ofstream(tmp + "/STAMP", std::ios::binary) << stamp;
    if (std::filesystem::exists(final_dir, ec) && !ready()) {
      std::filesystem::remove_all(final_dir, ec);  // From an older script.
    }
    std::filesystem::rename(tmp, final_dir, ec);
    if (ec && !ready()) {
      dir = tmp;  // Lost a race to an older script's run: use our own copy.
      return;
    }
    if (ec) {
      std::filesystem::remove_all(tmp, ec);  // Lost a race to an identical run.
    }
    dir = final_dir;
  }
};

inline const Fixtures& GetFixtures() {
  static const Fixtures fixtures;
  return fixtures;
}

// Skips the test without Python torch, fails it if the fixtures broke.
#define VMAE_REQUIRE_FIXTURES()                                                          \
  do {                                                                                   \
    const auto& vmae_fx_ = ::vmae::checkpoint::pth_testing::GetFixtures();               \
    if (!vmae_fx_.have_python_torch) {                                                   \
      GTEST_SKIP() << ::vmae::checkpoint::pth_testing::kPython << " has no torch/numpy"; \
    }                                                                                    \
    ASSERT_TRUE(vmae_fx_.error.empty()) << vmae_fx_.error;                               \
  } while (0)

inline std::string Fixture(const std::string& name) { return GetFixtures().dir + "/" + name; }

// Raw little-endian values the script wrote with numpy's tofile.
template <typename T>
std::vector<T> ReadRaw(const std::string& name) {
  const std::string bytes = ReadBytes(Fixture(name));
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}
inline std::vector<float> RawF32(const std::string& name) { return ReadRaw<float>(name + ".f32"); }
inline std::vector<int64_t> RawI64(const std::string& name) {
  return ReadRaw<int64_t>(name + ".i64");
}

// The tensor's values in logical (row-major) order.
inline std::vector<float> Floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
inline std::vector<int64_t> Longs(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Sets one LibTorch thread for the whole binary (the build machine has 2).
class OneThreadEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};

}  // namespace vmae::checkpoint::pth_testing

#endif  // VMAE_TESTS_WORKER_CHECKPOINT_TEST_UTIL_H_
