// Which samples one rank reads in one epoch, and in what order.
//
// The design's data plan: epoch e walks the permutation EpochPermutation(n,
// seed, e) through one global cursor; each step takes the next global_batch =
// batch x world entries and rank r takes its slice [r x batch, (r+1) x batch).
// The last partial global batch is dropped from the plan, but its entries are
// dealt out to the ranks (rank r gets tail positions r, r + world, ...) as
// spares: when a sample is bad the rank takes the next entry of its own
// stream, so every good sample of its slices is still seen once, and the
// spares keep the last steps full.
//
// A restart passes the cursor it resumes from (a step boundary recorded in
// the checkpoint); the remaining entries are dealt out again over the new
// world size, so none is repeated or skipped.
#ifndef VMAE_WORKER_DATA_LOADER_RANK_STREAM_H_
#define VMAE_WORKER_DATA_LOADER_RANK_STREAM_H_

#include <cstdint>
#include <vector>

namespace vmae::data {

struct RankSlice {
  int64_t batch = 1;  // videos per rank per step
  int world = 1;
  int rank = 0;
};

struct RankStream {
  // Sample indices (into the data list) in the order this rank reads them.
  std::vector<int64_t> samples;
  // Full steps left in the epoch: (n - cursor) / (batch x world).
  int64_t steps = 0;
  // Positions of the first `steps x batch` stream entries are the rank's own
  // slices; the rest are spares from the dropped tail.
  int64_t own = 0;
};

// `permutation` is the epoch's order of all n samples; `cursor` counts the
// entries already consumed by all ranks (a step boundary: the global batch
// stays constant across restarts, so it is a multiple of it).
RankStream MakeRankStream(const std::vector<int64_t>& permutation, int64_t cursor,
                          const RankSlice& slice);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_RANK_STREAM_H_
