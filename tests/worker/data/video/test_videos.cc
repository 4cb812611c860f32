#include "tests/worker/data/video/test_videos.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"

namespace vmae::video::testing {
namespace {

vmae::testing::TempDir& Dir() {
  static vmae::testing::TempDir* dir = [] {
    static vmae::testing::TempDir d;
    return &d;
  }();
  return *dir;
}

std::vector<std::string> Encode(const std::string& source, const std::vector<std::string>& codec,
                                const std::string& out) {
  std::vector<std::string> argv = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                                   "-f",     "lavfi",        "-i",        source};
  argv.insert(argv.end(), codec.begin(), codec.end());
  argv.push_back(out);
  return argv;
}

bool EncoderAvailable(const std::string& encoder) {
  bool ok = false;
  std::string list = RunStdout({"ffmpeg", "-hide_banner", "-encoders"}, &ok);
  return ok && list.find(" " + encoder + " ") != std::string::npos;
}

TestVideo Make(const std::string& name) {
  TestVideo v;
  v.name = name;
  std::string dir = Dir().path();
  const std::string src160 = "testsrc2=s=160x120:r=25";
  std::vector<std::string> argv;
  std::string out;
  if (name == "h264" || name == "h264_moov_end") {
    out = dir + "/" + name + ".mp4";
    argv = Encode(src160,
                  {"-frames:v", "90", "-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p",
                   "-movflags", name == "h264" ? "+faststart" : "-faststart"},
                  out);
  } else if (name == "h264_g16") {
    out = dir + "/h264_g16.mp4";
    argv = Encode(src160,
                  {"-frames:v", "120", "-c:v", "libx264", "-g", "16", "-bf", "3", "-pix_fmt",
                   "yuv420p", "-movflags", "+faststart"},
                  out);
  } else if (name == "mpeg4") {
    out = dir + "/mpeg4.mp4";
    argv = Encode(src160,
                  {"-frames:v", "60", "-c:v", "mpeg4", "-bf", "2", "-g", "24", "-q:v", "4",
                   "-movflags", "+faststart"},
                  out);
  } else if (name == "vp9" || name == "odd") {
    if (!EncoderAvailable("libvpx-vp9")) {
      v.skip_reason = "libvpx-vp9 encoder not in this ffmpeg";
      return v;
    }
    out = dir + "/" + name + ".webm";
    argv = Encode(name == "vp9" ? src160 : "testsrc2=s=160x120:r=25,scale=161:121",
                  {"-frames:v", name == "vp9" ? "48" : "40", "-c:v", "libvpx-vp9", "-deadline",
                   "realtime", "-cpu-used", "8", "-g", "20", "-b:v", "300k", "-pix_fmt", "yuv420p"},
                  out);
  } else if (name == "av1") {
    out = dir + "/av1.mkv";
    if (EncoderAvailable("libaom-av1")) {
      argv = Encode("testsrc2=s=128x96:r=25",
                    {"-frames:v", "20", "-c:v", "libaom-av1", "-cpu-used", "8", "-row-mt", "1",
                     "-g", "10", "-b:v", "200k", "-pix_fmt", "yuv420p"},
                    out);
    } else if (EncoderAvailable("libsvtav1")) {
      argv = Encode("testsrc2=s=128x96:r=25",
                    {"-frames:v", "20", "-c:v", "libsvtav1", "-preset", "12", "-g", "10",
                     "-pix_fmt", "yuv420p"},
                    out);
    } else {
      v.skip_reason = "no AV1 encoder (libaom-av1, libsvtav1) in this ffmpeg";
      return v;
    }
  } else if (name == "rot90" || name == "rot180" || name == "rot270") {
    // Rotation is container metadata: copy the H.264 stream and tag it.
    const TestVideo& base = Video("h264");
    out = dir + "/" + name + ".mp4";
    argv = {"ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            base.path,
            "-frames:v",
            "40",
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=" + name.substr(3),
            "-movflags",
            "+faststart",
            out};
  } else if (name == "vfr") {
    // Uneven steps: every third frame arrives 15 ms late, so no constant
    // frame rate describes the file. The encoder's time base defaults to
    // 1/frame rate, which would round the steps away: hence -enc_time_base.
    out = dir + "/vfr.mp4";
    argv = Encode(
        src160,
        {"-frames:v", "60", "-vf", "settb=1/1000,setpts='(N*40+if(eq(mod(N,3),2),15,0))/1000/TB'",
         "-fps_mode", "passthrough", "-enc_time_base", "1/1000", "-video_track_timescale", "1000",
         "-c:v", "libx264", "-bf", "2", "-pix_fmt", "yuv420p", "-movflags", "+faststart"},
        out);
  } else if (name == "dup_pts") {
    // The same uneven steps without -enc_time_base: the encoder rounds them
    // to its 1/25 time base, and a few frames end up sharing a timestamp
    // (a real defect of files in the wild).
    out = dir + "/dup_pts.mp4";
    argv = Encode(src160,
                  {"-frames:v", "60", "-vf", "setpts='(N*40+if(eq(mod(N,3),2),15,0))/1000/TB'",
                   "-fps_mode", "passthrough", "-video_track_timescale", "1000", "-c:v", "libx264",
                   "-bf", "2", "-pix_fmt", "yuv420p", "-movflags", "+faststart"},
                  out);
  } else {
    v.skip_reason = "unknown test video " + name;
    return v;
  }
  std::string log;
  if (RunCommandLine(argv, &log) != 0) {
    v.skip_reason = absl::StrCat("encoding ", name, " failed: ", log);
    return v;
  }
  v.path = out;
  return v;
}

}  // namespace

const TestVideo& Video(const std::string& name) {
  // Recursive: the rotated videos are made from Video("h264").
  static std::recursive_mutex mu;
  static auto* videos = new std::map<std::string, std::unique_ptr<TestVideo>>();
  std::lock_guard<std::recursive_mutex> lock(mu);
  auto& slot = (*videos)[name];
  if (slot == nullptr) {
    slot = std::make_unique<TestVideo>(Make(name));
  }
  return *slot;
}

std::string ScratchDir() { return Dir().path(); }

int RunCommandLine(const std::vector<std::string>& argv, std::string* out) {
  return vmae::testing::RunCommand(argv, out, {}, 60);
}

std::string RunStdout(const std::vector<std::string>& argv, bool* ok) {
  // RunCommand merges stderr into stdout; binary and parsed output needs
  // stdout alone, so write it to a file.
  static std::atomic<int> counter{0};
  std::string path = absl::StrCat(Dir().path(), "/stdout-", counter++, ".bin");
  std::vector<std::string> sh = {"/bin/sh", "-c", "\"$0\" \"$@\" >\"$VMAE_OUT\" 2>/dev/null"};
  sh.insert(sh.end(), argv.begin(), argv.end());
  std::string log;
  int rc = vmae::testing::RunCommand(sh, &log, {"VMAE_OUT=" + path}, 60);
  *ok = rc == 0;
  std::string result = *ok ? ReadFile(path) : "";
  std::remove(path.c_str());
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

}  // namespace vmae::video::testing
