#include "worker/trainer/evaluation.h"

#include <torch/torch.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/loader/batch_tensor.h"
#include "worker/eval/multi_view.h"

namespace vmae::trainer {
namespace {

// The largest divisor of n that is at most `limit`: batches that use up the
// rank's share exactly (the loader drops a partial last batch).
int64_t EvenBatch(int64_t n, int64_t limit) {
  for (int64_t b = std::min(n, limit); b > 1; --b) {
    if (n % b == 0) return b;
  }
  return 1;
}

}  // namespace

absl::StatusOr<EvalResult> Evaluate(model::VisionTransformer& model,
                                    const std::vector<data::ManifestEntry>& entries,
                                    const EvalOptions& options, dist::ProcessGroup& group) {
  std::vector<data::ManifestEntry> mine;
  for (size_t i = static_cast<size_t>(group.rank()); i < entries.size();
       i += static_cast<size_t>(group.world_size())) {
    mine.push_back(entries[i]);
  }
  const int views = options.loader.recipe.views();
  double correct1 = 0, correct5 = 0, videos = 0, loss_sum = 0, clips = 0, bad = 0;
  absl::Status local = absl::OkStatus();
  if (!mine.empty()) {
    data::LoaderOptions lo = options.loader;
    lo.shuffle = false;
    lo.slice = data::RankSlice{EvenBatch(static_cast<int64_t>(mine.size()), options.batch_videos),
                               1, 0};
    absl::StatusOr<std::unique_ptr<data::ClipLoader>> loader =
        data::ClipLoader::Create(mine, lo);
    absl::StatusOr<eval::MultiViewAggregator> agg =
        eval::MultiViewAggregator::Create(options.num_classes, views);
    if (!loader.ok()) {
      local = loader.status();
    } else if (!agg.ok()) {
      local = agg.status();
    } else {
      const bool was_training = model->is_training();
      model->eval();
      torch::NoGradGuard no_grad;
      (*loader)->StartEpoch(0, 0);
      while (local.ok()) {
        absl::StatusOr<std::optional<data::HostBatch>> next = (*loader)->Next();
        if (!next.ok()) {
          local = next.status();
          break;
        }
        if (!next->has_value()) break;
        std::vector<std::string> ids;
        for (int64_t s : (*next)->samples) ids.push_back(absl::StrCat(s));
        data::BatchTensors t = data::ToTensors(std::move(**next), lo.recipe);
        if (t.clips.size(0) == 0) continue;
        const at::Tensor logits = model->forward(t.clips.to(options.device)).to(at::kFloat).cpu();
        loss_sum += torch::nn::functional::cross_entropy(
                        logits, t.labels, torch::nn::functional::CrossEntropyFuncOptions()
                                              .reduction(torch::kSum))
                        .item<double>();
        clips += static_cast<double>(t.clips.size(0));
        local = agg->AddBatch(ids, t.labels, t.views.to(at::kLong), logits);
      }
      if (was_training) model->train();
      if (local.ok()) {
        absl::StatusOr<eval::MultiViewSummary> summary = agg->Summary();
        if (!summary.ok()) {
          local = summary.status();
        } else {
          videos = static_cast<double>(summary->num_videos);
          correct1 = summary->top1 / 100.0 * videos;
          correct5 = summary->top5 / 100.0 * videos;
        }
        bad = static_cast<double>((*loader)->errors().distinct_samples);
      }
    }
  }
  // Every rank takes part in the sum, failed or not, so none waits for a
  // peer that gave up; a failure is then reported by all.
  std::vector<double> totals;
  VMAE_ASSIGN_OR_RETURN(totals, group.AllReduceSum({correct1, correct5, videos, loss_sum, clips,
                                                    bad, local.ok() ? 0.0 : 1.0}));
  if (!local.ok()) {
    return local;
  }
  if (totals[6] > 0) {
    return absl::FailedPreconditionError(
        "evaluation failed on another rank; see that rank's log for the reason");
  }
  EvalResult r;
  r.videos = static_cast<int64_t>(totals[2] + 0.5);
  if (r.videos == 0) {
    return absl::InvalidArgumentError(
        "evaluation found no good video in the validation list; check data.val");
  }
  r.top1 = 100.0 * totals[0] / totals[2];
  r.top5 = 100.0 * totals[1] / totals[2];
  r.loss = totals[4] > 0 ? totals[3] / totals[4] : 0.0;
  r.bad_videos = static_cast<int64_t>(totals[5] + 0.5);
  return r;
}

}  // namespace vmae::trainer
