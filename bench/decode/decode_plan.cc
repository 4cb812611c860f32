#include "bench/decode/decode_plan.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vmae::bench {
namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": ", what, "; write a new plan with `vmae_decode_bench plan`"));
}

absl::Status CheckClip(const Plan& plan, size_t c, const std::string& source) {
  const PlanClip& clip = plan.clips[c];
  const std::string where = absl::StrCat("clips[", c, "]");
  if (clip.file < 0 || clip.file >= static_cast<int>(plan.files.size())) {
    return Invalid(source, absl::StrCat(where, ".file ", clip.file, " is not a file of the plan"));
  }
  const int64_t count = plan.files[clip.file].frame_count;
  if (clip.frames.empty() || !std::is_sorted(clip.frames.begin(), clip.frames.end()) ||
      std::adjacent_find(clip.frames.begin(), clip.frames.end()) != clip.frames.end()) {
    return Invalid(source, absl::StrCat(where, ".frames must be distinct and ascending"));
  }
  if (clip.frames.front() < 0 || clip.frames.back() >= count) {
    return Invalid(source, absl::StrCat(where, ".frames leave [0, ", count, ")"));
  }
  const std::set<int64_t> frames(clip.frames.begin(), clip.frames.end());
  for (const auto& [frame, crop] : clip.targets) {
    if (frames.count(frame) == 0 || crop < 0 || crop >= static_cast<int>(clip.crops.size())) {
      return Invalid(source, absl::StrCat(where, ".targets has (", frame, ", ", crop,
                                          "): not in .frames or no such crop"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string PlanToJson(const Plan& plan) {
  json files = json::array();
  for (const PlanFile& f : plan.files) {
    files.push_back({{"path", f.path},
                     {"frame_count", f.frame_count},
                     {"width", f.width},
                     {"height", f.height}});
  }
  json clips = json::array();
  for (const PlanClip& clip : plan.clips) {
    json crops = json::array();
    for (const video::CropResize& c : clip.crops) {
      crops.push_back({c.x, c.y, c.width, c.height});
    }
    json targets = json::array();
    for (const auto& [frame, crop] : clip.targets) {
      targets.push_back({frame, crop});
    }
    clips.push_back(
        {{"file", clip.file}, {"frames", clip.frames}, {"crops", crops}, {"targets", targets}});
  }
  const json out = {{"workload", plan.workload},
                    {"out_width", plan.out_width},
                    {"out_height", plan.out_height},
                    {"files", files},
                    {"clips", clips}};
  return out.dump();
}

absl::StatusOr<Plan> PlanFromJson(const std::string& text, const std::string& source) {
  Plan plan;
  // nlohmann reports missing fields and wrong types by throwing; keep the
  // exception inside this function.
  try {
    const json in = json::parse(text);
    plan.workload = in.at("workload").get<std::string>();
    plan.out_width = in.at("out_width").get<int>();
    plan.out_height = in.at("out_height").get<int>();
    for (const json& f : in.at("files")) {
      plan.files.push_back(PlanFile{f.at("path").get<std::string>(),
                                    f.at("frame_count").get<int64_t>(), f.at("width").get<int>(),
                                    f.at("height").get<int>()});
    }
    for (const json& c : in.at("clips")) {
      PlanClip clip;
      clip.file = c.at("file").get<int>();
      clip.frames = c.at("frames").get<std::vector<int64_t>>();
      for (const json& r : c.at("crops")) {
        clip.crops.push_back(video::CropResize{r.at(0).get<int>(), r.at(1).get<int>(),
                                               r.at(2).get<int>(), r.at(3).get<int>(),
                                               plan.out_width, plan.out_height});
      }
      for (const json& t : c.at("targets")) {
        clip.targets.emplace_back(t.at(0).get<int64_t>(), t.at(1).get<int>());
      }
      plan.clips.push_back(std::move(clip));
    }
  } catch (const json::exception& e) {
    return Invalid(source, absl::StrCat("not a decode plan (", e.what(), ")"));
  }
  if (plan.out_width <= 0 || plan.out_height <= 0) {
    return Invalid(source, "out_width and out_height must be positive");
  }
  for (size_t c = 0; c < plan.clips.size(); ++c) {
    if (absl::Status s = CheckClip(plan, c, source); !s.ok()) {
      return s;
    }
  }
  return plan;
}

}  // namespace vmae::bench
