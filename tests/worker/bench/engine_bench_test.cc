#include "worker/bench/engine_bench.h"

#include <ATen/Parallel.h>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "worker/model/options.h"

namespace vmae::bench {
namespace {

TEST(EngineBenchTest, BlockMacsCountsLinearsAndAttention) {
  // n = 10 tokens, d = 8, hidden 32: 10 * (3*64 + 64 + 2*8*32) + 2*100*8.
  EXPECT_DOUBLE_EQ(BlockMacs(10, 8, 4.0, 1), 7680.0 + 1600.0);
  EXPECT_DOUBLE_EQ(BlockMacs(10, 8, 4.0, 3), 3 * 9280.0);
}

TEST(EngineBenchTest, PretrainFlopsMatchThePublishedVitBaseCount) {
  // videomae-reference.md: ViT-B pre-training per 16x224 clip, 160 visible
  // tokens: encoder ~15.9 GMACs, decoder ~19.5 GMACs (forward).
  const double flops = StepFlops(model::VitBase(), BenchMode::kPretrain, 1, 160, 1408);
  EXPECT_NEAR(flops / 6.0 / 1e9, 15.9 + 19.5, 0.2);
  // Linear in the batch.
  EXPECT_DOUBLE_EQ(StepFlops(model::VitBase(), BenchMode::kPretrain, 4, 160, 1408), 4 * flops);
}

TEST(EngineBenchTest, FinetuneFlopsMatchThePublishedPerViewCounts) {
  // videomae-reference.md: compute per 16x224 view, S 57G and B 180G MACs.
  EXPECT_NEAR(StepFlops(model::VitSmall(), BenchMode::kFinetune, 1, 0, 0) / 6.0 / 1e9, 57.0, 0.5);
  EXPECT_NEAR(StepFlops(model::VitBase(), BenchMode::kFinetune, 1, 0, 0) / 6.0 / 1e9, 180.0, 1.0);
}

EngineBenchOptions TinyOptions() {
  EngineBenchOptions o;
  o.arch = "custom";
  o.custom = model::ModelOptions().embed_dim(32).depth(1).num_heads(2).decoder_embed_dim(16)
                 .decoder_num_heads(2);
  o.frames = 4;
  o.image_size = 32;  // 2 x 2 x 2 = 8 tokens
  o.batch = 2;
  o.threads = 1;
  o.warmup_steps = 1;
  o.steps = 3;
  o.mask_ratio = 0.75;  // int(0.75 * 4) = 3 of 4 per slice
  o.decoder_depth = 1;
  o.num_classes = 5;
  return o;
}

TEST(EngineBenchTest, RunsATinyPretrainingBenchOnTheCpu) {
  auto r = RunEngineBench(TinyOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->visible_tokens, 2);
  EXPECT_EQ(r->decoded_tokens, 6);
  EXPECT_EQ(r->step_seconds.size(), 3u);
  EXPECT_GT(r->clips_per_s, 0.0);
  EXPECT_LE(r->min_step_s, r->median_step_s);
  EXPECT_GE(r->max_step_s, r->median_step_s);
  EXPECT_DOUBLE_EQ(r->clips_per_s, 2.0 / r->median_step_s);
  EXPECT_EQ(r->precision, "fp32");
  EXPECT_EQ(r->threads, 1);
  EXPECT_GT(r->tflops, 0.0);
}

TEST(EngineBenchTest, RunsATinyFinetuningBenchOnTheCpu) {
  EngineBenchOptions o = TinyOptions();
  o.mode = BenchMode::kFinetune;
  auto r = RunEngineBench(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->visible_tokens, 8);
  EXPECT_GT(r->clips_per_s, 0.0);
}

TEST(EngineBenchTest, RejectsBadOptions) {
  EngineBenchOptions o = TinyOptions();
  o.batch = 0;
  EXPECT_EQ(RunEngineBench(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TinyOptions();
  o.arch = "vit_tiny";
  EXPECT_EQ(RunEngineBench(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TinyOptions();
  o.device = "tpu";
  EXPECT_EQ(RunEngineBench(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TinyOptions();
  o.image_size = 30;
  EXPECT_EQ(RunEngineBench(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseBenchMode("train").ok());
}

}  // namespace
}  // namespace vmae::bench
