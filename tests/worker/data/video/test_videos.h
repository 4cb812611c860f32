// Small test videos made once per test binary with the ffmpeg command line,
// plus helpers that ask ffmpeg/ffprobe for reference answers.
#ifndef VMAE_TESTS_WORKER_DATA_VIDEO_TEST_VIDEOS_H_
#define VMAE_TESTS_WORKER_DATA_VIDEO_TEST_VIDEOS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace vmae::video::testing {

struct TestVideo {
  std::string name;  // short label for messages
  std::string path;  // empty when the encoder is unavailable
  std::string skip_reason;
};

// Lazily encodes (once per process) and returns the video called `name`:
//  "h264"      160x120, 90 frames, libx264 with B-frames, default GOP (250)
//  "h264_g16"  160x120, 120 frames, libx264 -g 16 -bf 3
//  "mpeg4"     160x120, 60 frames, mpeg4 -bf 2 -g 24
//  "vp9"       160x120, 48 frames, libvpx-vp9 realtime -g 20
//  "av1"       128x96, 20 frames, libaom-av1 -cpu-used 8 (libsvtav1 fallback)
//  "odd"       161x121 (testsrc2 scaled: it only makes even sizes), 40 frames,
//              libvpx-vp9 (H.264 in 4:2:0 needs even sizes; VP9 does not)
//  "rot90" / "rot270" / "rot180"  the first 40 frames of h264 with rotate metadata
//  "vfr"       160x120, 60 frames, libx264, timestamps with uneven steps
//  "dup_pts"   like "vfr" but encoded in a 1/25 time base: some timestamps repeat
//  "h264_moov_end"  like "h264" but without +faststart (moov after mdat)
// Videos other than "h264_moov_end" are written with +faststart.
const TestVideo& Video(const std::string& name);

// A scratch directory that lives as long as the process.
std::string ScratchDir();

// Runs a command (argv[0] looked up in PATH); returns its exit code, output
// (stdout and stderr together) in *out.
int RunCommandLine(const std::vector<std::string>& argv, std::string* out);
// Runs a command and returns only its stdout (stderr discarded), or "" and
// sets *ok=false on failure.
std::string RunStdout(const std::vector<std::string>& argv, bool* ok);

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

}  // namespace vmae::video::testing

#endif  // VMAE_TESTS_WORKER_DATA_VIDEO_TEST_VIDEOS_H_
