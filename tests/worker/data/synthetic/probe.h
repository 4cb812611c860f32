// Independent views of video files for the tests: the ffprobe and ffmpeg
// command-line tools, not vmae's own code.
#ifndef VMAE_TESTS_WORKER_DATA_SYNTHETIC_PROBE_H_
#define VMAE_TESTS_WORKER_DATA_SYNTHETIC_PROBE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vmae::synthetic::probe {

// ffprobe's "key=value" lines for the first video stream: codec_name, width,
// height, pix_fmt, r_frame_rate, nb_read_packets (counted by reading every
// packet). Empty when ffprobe fails.
std::map<std::string, std::string> ProbeVideoStream(const std::string& path);

// Indices (presentation order) of the frames ffprobe reports as key frames.
std::vector<int> KeyFrameIndices(const std::string& path);

// The display rotation ffprobe reads from the stream side data, or "" if none.
std::string Rotation(const std::string& path);

// Every frame decoded by ffmpeg to 8-bit gray, width * height bytes each.
std::vector<std::vector<uint8_t>> DecodeGray(const std::string& path, const std::string& tmp_dir);

// Mean of each frame's bytes.
std::vector<double> FrameMeans(const std::vector<std::vector<uint8_t>>& frames);

// Runs `sh -c command`; returns the exit code, output (stdout+stderr) in *out.
int Shell(const std::string& command, std::string* out);

// Every file under `dir` left half-written: names ending in ".partial"
// (VideoWriter's) or ".tmp" (checkpoint::WriteFileAtomically's).
std::vector<std::string> UnfinishedFiles(const std::string& dir);

std::string ReadFile(const std::string& path);

// The non-empty lines of a text file (none when it cannot be read).
std::vector<std::string> Lines(const std::string& path);

}  // namespace vmae::synthetic::probe

#endif  // VMAE_TESTS_WORKER_DATA_SYNTHETIC_PROBE_H_
