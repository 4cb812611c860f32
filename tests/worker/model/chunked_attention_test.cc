#include "worker/model/chunked_attention.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "worker/model/attention.h"

namespace vmae::model {
namespace {

// softmax(q * scale @ k^T) @ v with plain loops in double, per slice.
at::Tensor LoopAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         double scale) {
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  auto qa = qd.accessor<double, 3>();
  auto ka = kd.accessor<double, 3>();
  auto va = vd.accessor<double, 3>();
  const int64_t slices = q.size(0), n = q.size(1), d = q.size(2);
  at::Tensor out = at::zeros({slices, n, d}, at::kDouble);
  auto oa = out.accessor<double, 3>();
  for (int64_t s = 0; s < slices; ++s) {
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> p(static_cast<size_t>(n));
      double top = -1e300;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0.0;
        for (int64_t c = 0; c < d; ++c) dot += qa[s][i][c] * scale * ka[s][j][c];
        p[j] = dot;
        top = std::max(top, dot);
      }
      double total = 0.0;
      for (double& x : p) total += (x = std::exp(x - top));
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t c = 0; c < d; ++c) oa[s][i][c] += p[j] / total * va[s][j][c];
      }
    }
  }
  return out;
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST(ChunkedAttentionTest, ForwardMatchesPlainLoopsForEveryBlockSize) {
  torch::manual_seed(1);
  // 50 rows: blocks of 16 leave a last block of 2; 64 is one block; 1 is per row.
  const at::Tensor q = torch::randn({3, 50, 8}), k = torch::randn({3, 50, 8}),
                   v = torch::randn({3, 50, 8});
  const at::Tensor expected = LoopAttention(q, k, v, 0.35);
  for (int64_t rows : {1, 7, 16, 50, 64}) {
    EXPECT_LT(MaxAbsDiff(ChunkedAttention(q, k, v, 0.35, rows), expected), 2e-6) << rows;
  }
}

// Gradients against central finite differences of the double-precision
// function itself: d/dx sum(out * g) for every element of q, k and v.
TEST(ChunkedAttentionTest, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  at::Tensor q = torch::randn({2, 7, 3}, opts).requires_grad_();
  at::Tensor k = torch::randn({2, 7, 3}, opts).requires_grad_();
  at::Tensor v = torch::randn({2, 7, 3}, opts).requires_grad_();
  const at::Tensor g = torch::randn({2, 7, 3}, opts);
  const double scale = 0.6;
  const int64_t rows = 3;  // blocks of 3, 3, 1 rows
  (ChunkedAttention(q, k, v, scale, rows) * g).sum().backward();
  const std::vector<at::Tensor> inputs = {q, k, v};
  for (size_t which = 0; which < inputs.size(); ++which) {
    at::Tensor numeric = torch::zeros_like(inputs[which]);
    for (int64_t i = 0; i < numeric.numel(); ++i) {
      auto value_at = [&](double delta) {
        torch::NoGradGuard no_grad;
        std::vector<at::Tensor> x = {q.detach().clone(), k.detach().clone(), v.detach().clone()};
        x[which].view(-1)[i] += delta;
        return (LoopAttention(x[0], x[1], x[2], scale) * g).sum().item<double>();
      };
      constexpr double kH = 1e-6;
      numeric.view(-1)[i] = (value_at(kH) - value_at(-kH)) / (2 * kH);
    }
    EXPECT_LT(MaxAbsDiff(inputs[which].grad(), numeric), 1e-6) << "input " << which;
  }
}

TEST(ChunkedAttentionTest, FloatGradientsMatchTheExplicitFormula) {
  torch::manual_seed(3);
  at::Tensor q = torch::randn({4, 45, 16}).requires_grad_();
  at::Tensor k = torch::randn({4, 45, 16}).requires_grad_();
  at::Tensor v = torch::randn({4, 45, 16}).requires_grad_();
  const at::Tensor g = torch::randn({4, 45, 16});
  (ChunkedAttention(q, k, v, 0.25, 8) * g).sum().backward();
  // The same function in double through LibTorch's own autograd.
  at::Tensor qd = q.detach().to(at::kDouble).requires_grad_();
  at::Tensor kd = k.detach().to(at::kDouble).requires_grad_();
  at::Tensor vd = v.detach().to(at::kDouble).requires_grad_();
  (at::bmm(at::bmm(qd * 0.25, kd.transpose(1, 2)).softmax(-1), vd) * g.to(at::kDouble))
      .sum()
      .backward();
  EXPECT_LT(MaxAbsDiff(q.grad(), qd.grad()), 1e-5);
  EXPECT_LT(MaxAbsDiff(k.grad(), kd.grad()), 1e-5);
  EXPECT_LT(MaxAbsDiff(v.grad(), vd.grad()), 1e-5);
}

// Blocks and slices are spread over threads; each thread writes only its
// own rows (forward) or slices (backward).
TEST(ChunkedAttentionTest, TwoThreadsGiveTheFormulasResults) {
  torch::manual_seed(5);
  const int previous = at::get_num_threads();
  at::set_num_threads(2);
  at::Tensor q = torch::randn({3, 70, 8}).requires_grad_();
  at::Tensor k = torch::randn({3, 70, 8}).requires_grad_();
  at::Tensor v = torch::randn({3, 70, 8}).requires_grad_();
  const at::Tensor out = ChunkedAttention(q, k, v, 0.5, 32);
  out.sum().backward();
  at::set_num_threads(previous);
  EXPECT_LT(MaxAbsDiff(out, LoopAttention(q, k, v, 0.5)), 2e-6);
  at::Tensor qd = q.detach().to(at::kDouble).requires_grad_();
  at::Tensor kd = k.detach().to(at::kDouble).requires_grad_();
  at::Tensor vd = v.detach().to(at::kDouble).requires_grad_();
  at::bmm(at::bmm(qd * 0.5, kd.transpose(1, 2)).softmax(-1), vd).sum().backward();
  EXPECT_LT(MaxAbsDiff(q.grad(), qd.grad()), 1e-5);
  EXPECT_LT(MaxAbsDiff(k.grad(), kd.grad()), 1e-5);
  EXPECT_LT(MaxAbsDiff(v.grad(), vd.grad()), 1e-5);
}

TEST(ChunkedAttentionTest, RowsPerBlockKeepsAboutOneMebibyteOfScores) {
  EXPECT_EQ(AttentionRowsPerBlock(1568), 160);  // 262144 / 1568 = 167.2, down to 32s
  EXPECT_EQ(AttentionRowsPerBlock(4096), 64);
  EXPECT_EQ(AttentionRowsPerBlock(100000), 32);  // never below one register tile
}

// Long sequences through the model's one attention function take the
// blocked path (600 > 416 rows per block); the result is still the formula.
TEST(ChunkedAttentionTest, ModelAttentionOnLongSequencesMatchesPlainLoops) {
  torch::manual_seed(4);
  const at::Tensor q = torch::randn({1, 2, 600, 8}), k = torch::randn({1, 2, 600, 8}),
                   v = torch::randn({1, 2, 600, 8});
  ASSERT_LT(AttentionRowsPerBlock(600), 600);
  const at::Tensor out = ScaledDotProductAttention(q, k, v, 0.0, /*training=*/true);
  const at::Tensor expected =
      LoopAttention(q.view({2, 600, 8}), k.view({2, 600, 8}), v.view({2, 600, 8}),
                    1.0 / std::sqrt(8.0))
          .view({1, 2, 600, 8});
  EXPECT_LT(MaxAbsDiff(out, expected), 2e-6);
}

}  // namespace
}  // namespace vmae::model
