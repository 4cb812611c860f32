#include "worker/agent/health_file.h"

#include <stdio.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vmae::worker {

absl::Status WriteHealthFile(const std::string& path, int64_t unix_seconds) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << unix_seconds << "\n";
    out.flush();
    if (!out) {
      return absl::UnavailableError(
          absl::StrCat("cannot write health file ", tmp, "; check that its folder exists and is writable"));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status CheckHealthFile(const std::string& path, int64_t max_age_s, int64_t now_unix) {
  std::ifstream in(path);
  if (!in) {
    return absl::UnavailableError(absl::StrCat(
        "health file ", path,
        " does not exist: the agent has not completed a heartbeat yet (or --health-file differs)"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  int64_t t = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ss.str()), &t)) {
    return absl::DataLossError(
        absl::StrCat("health file ", path, " does not hold a unix time: '", ss.str(), "'"));
  }
  int64_t age = now_unix - t;
  if (age > max_age_s) {
    return absl::UnavailableError(absl::StrCat("last successful heartbeat was ", age,
                                               " s ago (limit ", max_age_s,
                                               " s): the agent cannot reach the coordinator"));
  }
  return absl::OkStatus();
}

}  // namespace vmae::worker
