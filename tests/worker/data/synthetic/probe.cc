#include "tests/worker/data/synthetic/probe.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/coordinator_process.h"

extern "C" {
#include <libavutil/log.h>
}

namespace vmae::synthetic::probe {
namespace {

// Keeps the encoders' banners and statistics out of the test log; errors
// still show.
const bool kQuietLog = (av_log_set_level(AV_LOG_ERROR), true);

}  // namespace

int Shell(const std::string& command, std::string* out) {
  return vmae::testing::RunCommand({"/bin/sh", "-c", command}, out, {}, 60);
}

std::map<std::string, std::string> ProbeVideoStream(const std::string& path) {
  std::string out;
  if (Shell(absl::StrCat("ffprobe -v error -select_streams v:0 -count_packets -show_entries "
                         "stream=codec_name,width,height,pix_fmt,r_frame_rate,nb_read_packets "
                         "-of default=noprint_wrappers=1 '",
                         path, "'"),
            &out) != 0) {
    return {};
  }
  std::map<std::string, std::string> fields;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    fields[kv.first] = kv.second;
  }
  return fields;
}

std::vector<int> KeyFrameIndices(const std::string& path) {
  std::string out;
  Shell(absl::StrCat("ffprobe -v error -select_streams v:0 -show_entries frame=key_frame "
                     "-of csv=p=0 '",
                     path, "'"),
        &out);
  std::vector<int> keys;
  int index = 0;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    // Lines may carry trailing side-data columns ("1,side_data,").
    if (absl::StartsWith(line, "1")) keys.push_back(index);
    ++index;
  }
  return keys;
}

std::string Rotation(const std::string& path) {
  std::string out;
  Shell(absl::StrCat("ffprobe -v error -select_streams v:0 -show_entries "
                     "stream_side_data=rotation -of default=noprint_wrappers=1:nokey=1 '",
                     path, "'"),
        &out);
  return std::string(absl::StripAsciiWhitespace(out));
}

std::vector<std::vector<uint8_t>> DecodeGray(const std::string& path, const std::string& tmp_dir) {
  const std::map<std::string, std::string> s = ProbeVideoStream(path);
  int width = 0, height = 0;
  if (s.count("width") == 0 || !absl::SimpleAtoi(s.at("width"), &width) ||
      !absl::SimpleAtoi(s.at("height"), &height)) {
    return {};
  }
  const std::string raw = tmp_dir + "/decoded.gray";
  std::string out;
  if (Shell(
          absl::StrCat("ffmpeg -v error -y -i '", path, "' -f rawvideo -pix_fmt gray '", raw, "'"),
          &out) != 0) {
    return {};
  }
  const std::string bytes = ReadFile(raw);
  std::filesystem::remove(raw);
  const size_t frame_size = static_cast<size_t>(width) * height;
  std::vector<std::vector<uint8_t>> frames;
  for (size_t at = 0; at + frame_size <= bytes.size(); at += frame_size) {
    frames.emplace_back(bytes.begin() + at, bytes.begin() + at + frame_size);
  }
  return frames;
}

std::vector<double> FrameMeans(const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<double> means;
  for (const auto& f : frames) {
    double sum = 0;
    for (uint8_t v : f) sum += v;
    means.push_back(f.empty() ? 0 : sum / f.size());
  }
  return means;
}

std::vector<std::string> UnfinishedFiles(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (absl::EndsWith(name, ".partial") || absl::EndsWith(name, ".tmp")) {
      found.push_back(it->path().string());
    }
  }
  return found;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> Lines(const std::string& path) {
  return absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
}

}  // namespace vmae::synthetic::probe
