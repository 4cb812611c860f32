// A small valid CPU pre-training job for tests and benchmarks that need a
// job the validator accepts but that nobody trains.
#ifndef VMAE_TESTS_TESTING_JOB_YAML_H_
#define VMAE_TESTS_TESTING_JOB_YAML_H_

#include <string>

#include "absl/strings/str_cat.h"

namespace vmae::testing {

struct SmallJob {
  std::string name = "small";
  int workers = 1;
  int min_workers = -1;  // -1: same as workers
  int keep_last = 3;
  int epochs = 2;
};

// Model: 64 wide, depth 2, 2 heads; decoder 32 wide, depth 1; 4 frames of
// 32x32. Data paths under /tmp (never read: no trainer runs in these tests).
inline std::string SmallJobYaml(const SmallJob& job) {
  return absl::StrCat(R"(kind: pretrain
name: )", job.name, R"(
model:
  arch: custom
  embed_dim: 64
  depth: 2
  num_heads: 2
  decoder_embed_dim: 32
  decoder_depth: 1
  decoder_num_heads: 1
  num_frames: 4
  image_size: 32
data:
  root: /tmp
  train: train.txt
optimizer:
  epochs: )", job.epochs, R"(
  warmup_epochs: )", job.epochs > 1 ? 1 : 0, R"(
  batch_size: 2
checkpoint:
  every_steps: 5
  keep_last: )", job.keep_last, R"(
resources:
  device: cpu
  workers: )", job.workers, R"(
  min_workers: )", job.min_workers < 0 ? job.workers : job.min_workers, "\n");
}

}  // namespace vmae::testing

#endif  // VMAE_TESTS_TESTING_JOB_YAML_H_
