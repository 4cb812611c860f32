#include "worker/data/loader/rank_stream.h"

#include <algorithm>

namespace vmae::data {

RankStream MakeRankStream(const std::vector<int64_t>& permutation, int64_t cursor,
                          const RankSlice& slice) {
  RankStream stream;
  const int64_t n = static_cast<int64_t>(permutation.size());
  const int64_t global = slice.batch * slice.world;
  cursor = std::clamp<int64_t>(cursor, 0, n);
  stream.steps = global > 0 ? (n - cursor) / global : 0;
  stream.samples.reserve(static_cast<size_t>(stream.steps * slice.batch + slice.batch));
  for (int64_t step = 0; step < stream.steps; ++step) {
    const int64_t first = cursor + step * global + slice.rank * slice.batch;
    for (int64_t i = 0; i < slice.batch; ++i) stream.samples.push_back(permutation[first + i]);
  }
  stream.own = static_cast<int64_t>(stream.samples.size());
  for (int64_t pos = cursor + stream.steps * global + slice.rank; pos < n; pos += slice.world) {
    stream.samples.push_back(permutation[pos]);
  }
  return stream;
}

}  // namespace vmae::data
