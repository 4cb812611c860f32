#include "worker/data/synthetic/prepare_dataset.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/checkpoint/atomic_file.h"
#include "common/status_macros.h"
#include "worker/data/manifest/manifest.h"

namespace vmae::synthetic {
namespace {

namespace fs = std::filesystem;

// The root as the manifest resolves it (absolute, normalised), without a
// trailing separator, so that lexically_relative gives the listed path back.
fs::path AbsoluteRoot(const std::string& root) {
  fs::path abs = fs::absolute(root).lexically_normal();
  return abs.has_filename() || !abs.has_relative_path() ? abs : abs.parent_path();
}

// True when `out` exists and was modified no earlier than `in`.
bool UpToDate(const std::string& in, const std::string& out) {
  std::error_code ec_in, ec_out;
  const auto in_time = fs::last_write_time(in, ec_in);
  const auto out_time = fs::last_write_time(out, ec_out);
  return !ec_in && !ec_out && out_time >= in_time;
}

// The list of the videos that succeeded, (listed path, label) each, in a
// format the manifest reads back to the same paths and labels: the authors'
// "path label" lines, or CSV with quoted paths when a path holds a space or
// a tab, which the space-separated format cannot carry.
std::string ListText(const std::vector<std::pair<std::string, int64_t>>& kept) {
  const bool csv = std::any_of(kept.begin(), kept.end(), [](const auto& entry) {
    return entry.first.find_first_of(" \t") != std::string::npos;
  });
  std::string text = csv ? "path,label\n" : "";
  for (const auto& [path, label] : kept) {
    if (csv) {
      absl::StrAppend(&text, "\"", absl::StrReplaceAll(path, {{"\"", "\"\""}}), "\",", label, "\n");
    } else {
      absl::StrAppend(&text, path, " ", label, "\n");
    }
  }
  return text;
}

enum class Outcome { kReencoded, kUpToDate, kFailed };

}  // namespace

absl::StatusOr<PrepareSummary> PrepareDataset(const std::string& in_list,
                                              const std::string& in_root,
                                              const std::string& out_dir,
                                              const ReencodeOptions& options, int threads,
                                              const ProgressFn& progress) {
  // An absolute list path, so that ReadManifest does not look for it under
  // the root.
  std::vector<data::ManifestEntry> entries;
  VMAE_ASSIGN_OR_RETURN(entries, data::ReadManifest(in_root, fs::absolute(in_list).string()));
  // Each entry's path as listed (relative, normalised), for the output
  // folder, the written list and the messages.
  const fs::path abs_root = AbsoluteRoot(in_root);
  std::vector<std::string> listed(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    listed[i] = fs::path(entries[i].path).lexically_relative(abs_root).string();
  }
  std::error_code ec;
  if (fs::weakly_canonical(in_root, ec) == fs::weakly_canonical(out_dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the output folder ", out_dir, " is the input root; choose another folder for the output"));
  }
  fs::create_directories(out_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create folder ", out_dir, ": ",
                                                    ec.message(), "; check that it is writable"));
  }

  // A path listed twice is written once (two writers of one file would
  // collide); the repeats share the first one's outcome.
  std::vector<size_t> first_of(entries.size());
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    first_of[i] = seen.emplace(entries[i].path, i).first->second;
  }
  std::vector<Outcome> outcomes(entries.size(), Outcome::kFailed);
  std::vector<absl::Status> errors(entries.size());
  RunParallel(
      static_cast<int>(entries.size()), threads,
      [&](int i) {
        if (first_of[i] != static_cast<size_t>(i)) return;
        const std::string& in = entries[i].path;
        const std::string out = (fs::path(out_dir) / listed[i]).string();
        if (UpToDate(in, out)) {
          outcomes[i] = Outcome::kUpToDate;
          return;
        }
        errors[i] = ReencodeVideo(in, out, options).status();
        if (errors[i].ok()) outcomes[i] = Outcome::kReencoded;
      },
      progress);
  for (size_t i = 0; i < entries.size(); ++i) {
    outcomes[i] = outcomes[first_of[i]];
    errors[i] = errors[first_of[i]];
  }

  PrepareSummary summary;
  summary.listed = static_cast<int>(entries.size());
  std::vector<std::pair<std::string, int64_t>> kept;
  absl::Status first_error;
  for (size_t i = 0; i < entries.size(); ++i) {
    switch (outcomes[i]) {
      case Outcome::kReencoded:
        ++summary.reencoded;
        break;
      case Outcome::kUpToDate:
        ++summary.up_to_date;
        break;
      case Outcome::kFailed:
        ++summary.failed;
        summary.failures.push_back(absl::StrCat(listed[i], ": ", errors[i].message()));
        if (first_error.ok()) first_error = errors[i];
        continue;
    }
    kept.emplace_back(listed[i], entries[i].label);
  }
  if (summary.failed == summary.listed) {
    return absl::Status(first_error.code(),
                        absl::StrCat("none of the ", summary.listed, " videos in ", in_list,
                                     " could be prepared; the first: ", summary.failures[0]));
  }
  summary.out_list = (fs::path(out_dir) / fs::path(in_list).filename()).string();
  const absl::Status written = checkpoint::WriteFileAtomically(summary.out_list, ListText(kept));
  if (!written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat("cannot write the list: ", written.message(), "; check that ",
                                     out_dir, " is writable and has free space"));
  }
  return summary;
}

}  // namespace vmae::synthetic
