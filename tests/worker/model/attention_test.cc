#include "worker/model/attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/worker/model/test_util.h"

namespace vmae::model {
namespace {

using ::vmae::model::testing::MaxAbsDiff;

// Plain loops over a [1, N, D] input: qkv = x W^T + (q_bias, 0, v_bias),
// per-head softmax(q.k / sqrt(hd)) v, then proj.
torch::Tensor ReferenceAttention(const torch::Tensor& x, const torch::Tensor& w_qkv,
                                 const torch::Tensor& q_bias, const torch::Tensor& v_bias,
                                 const torch::Tensor& w_proj, const torch::Tensor& b_proj,
                                 int64_t heads) {
  const int64_t n = x.size(1);
  const int64_t d = x.size(2);
  const int64_t hd = d / heads;
  auto xa = x.accessor<float, 3>();
  auto wa = w_qkv.accessor<float, 2>();
  std::vector<double> qkv(static_cast<size_t>(n * 3 * d));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t o = 0; o < 3 * d; ++o) {
      double s = 0.0;
      for (int64_t k = 0; k < d; ++k) {
        s += static_cast<double>(xa[0][i][k]) * wa[o][k];
      }
      if (o < d) {
        s += q_bias[o].item<float>();
      } else if (o >= 2 * d) {
        s += v_bias[o - 2 * d].item<float>();
      }  // the key bias is zero
      qkv[i * 3 * d + o] = s;
    }
  }
  std::vector<double> attn_out(static_cast<size_t>(n * d), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> scores(static_cast<size_t>(n));
      double max_score = -1e300;
      for (int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (int64_t c = 0; c < hd; ++c) {
          s += qkv[i * 3 * d + h * hd + c] * qkv[j * 3 * d + d + h * hd + c];
        }
        scores[j] = s * scale;
        max_score = std::max(max_score, scores[j]);
      }
      double total = 0.0;
      for (double& s : scores) {
        s = std::exp(s - max_score);
        total += s;
      }
      for (int64_t c = 0; c < hd; ++c) {
        double v = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          v += scores[j] / total * qkv[j * 3 * d + 2 * d + h * hd + c];
        }
        attn_out[i * d + h * hd + c] = v;
      }
    }
  }
  torch::Tensor out = torch::zeros({1, n, d}, torch::kFloat64);
  auto pa = w_proj.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t o = 0; o < d; ++o) {
      double s = b_proj[o].item<float>();
      for (int64_t k = 0; k < d; ++k) {
        s += attn_out[i * d + k] * pa[o][k];
      }
      out[0][i][o] = s;
    }
  }
  return out;
}

class AttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    attn_ = Attention(AttentionOptions(8, 2));
    attn_->eval();
    torch::NoGradGuard no_grad;
    attn_->q_bias.copy_(torch::randn({8}));
    attn_->v_bias.copy_(torch::randn({8}));
    x_ = torch::randn({1, 5, 8});
  }

  torch::Tensor Reference() const {
    return ReferenceAttention(x_, attn_->qkv->weight, attn_->q_bias, attn_->v_bias,
                              attn_->proj->weight, attn_->proj->bias, 2);
  }

  Attention attn_ = nullptr;
  torch::Tensor x_;
};

TEST_F(AttentionTest, MatchesHandWrittenReference) {
  torch::NoGradGuard no_grad;
  const torch::Tensor out = attn_(x_);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({1, 5, 8}));
  EXPECT_LT(MaxAbsDiff(out, Reference()), 1e-5);
}

TEST_F(AttentionTest, QBiasAndVBiasChangeTheOutput) {
  torch::NoGradGuard no_grad;
  const torch::Tensor with_bias = attn_(x_);
  attn_->q_bias.zero_();
  const torch::Tensor without_q = attn_(x_);
  EXPECT_GT(MaxAbsDiff(with_bias, without_q), 1e-4);
  attn_->v_bias.zero_();
  const torch::Tensor without_qv = attn_(x_);
  EXPECT_GT(MaxAbsDiff(without_q, without_qv), 1e-4);
  EXPECT_LT(MaxAbsDiff(without_qv, Reference()), 1e-5);
}

TEST_F(AttentionTest, KeyBiasIsAlwaysZero) {
  // Adding a constant vector to every key shifts each row of scores by a
  // constant, which softmax ignores: the output cannot depend on a key bias.
  // So check the parameters directly: no key bias exists to learn.
  EXPECT_FALSE(attn_->qkv->bias.defined());
  const auto params = attn_->named_parameters();
  EXPECT_EQ(params.size(), 5u);  // q_bias, v_bias, qkv.weight, proj.weight, proj.bias
  torch::Tensor loss = attn_(x_).sum();
  loss.backward();
  EXPECT_TRUE(attn_->q_bias.grad().defined());
  EXPECT_TRUE(attn_->v_bias.grad().defined());
}

TEST(ScaledDotProductAttentionTest, EqualsSoftmaxFormulaWithoutDropout) {
  torch::manual_seed(3);
  const torch::Tensor q = torch::randn({2, 3, 4, 16});
  const torch::Tensor k = torch::randn({2, 3, 4, 16});
  const torch::Tensor v = torch::randn({2, 3, 4, 16});
  const torch::Tensor expected = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / 4.0, -1)
                                     .matmul(v);
  // Dropout is ignored outside training.
  const torch::Tensor out = ScaledDotProductAttention(q, k, v, 0.5, /*training=*/false);
  EXPECT_LT(MaxAbsDiff(out, expected), 1e-5);
}

TEST(ScaledDotProductAttentionTest, RejectsMismatchedShapes) {
  const torch::Tensor q = torch::randn({1, 2, 4, 8});
  const torch::Tensor k = torch::randn({1, 2, 4, 6});
  EXPECT_THROW(ScaledDotProductAttention(q, k, k, 0.0, false), c10::Error);
}

}  // namespace
}  // namespace vmae::model
