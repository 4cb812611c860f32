#include "worker/trainer/checkpoints.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace vmae::trainer {
namespace fs = std::filesystem;

absl::StatusOr<std::string> WriteCheckpoint(const std::string& root, const TrainingModel& model,
                                            const train::GroupedAdamW& optimizer,
                                            const checkpoint::NativeManifest& manifest) {
  const fs::path final_dir =
      fs::absolute(fs::path(root) / absl::StrFormat("step-%08d", manifest.step));
  const fs::path partial = final_dir.string() + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  VMAE_RETURN_IF_ERROR(checkpoint::SaveNative(partial.string(), model.module(), &optimizer,
                                              manifest));
  fs::remove_all(final_dir, ec);  // a stale one from an earlier attempt
  fs::rename(partial, final_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename checkpoint ", partial.string(),
                                            " to ", final_dir.string(), ": ", ec.message(),
                                            "; check the work dir's disk"));
  }
  return final_dir.string();
}

void PruneCheckpoints(const std::string& root, int keep) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    int64_t step = 0;
    if (entry.is_directory() && absl::StartsWith(name, "step-") &&
        absl::SimpleAtoi(name.substr(5), &step)) {
      found.emplace_back(step, entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) {
    fs::remove_all(found[i].second, ec);
  }
}

}  // namespace vmae::trainer
