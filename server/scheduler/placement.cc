#include "server/scheduler/placement.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace vmae::server::scheduler_internal {
namespace {

// A group of candidate slots (a node, or an agent within a node).
struct Bin {
  std::string key;
  int capacity = 0;
};

// Chooses bins to hold `n` items on as few bins as possible (see PackRanks).
// Returns (bin index, items taken) in the order the items are assigned.
std::vector<std::pair<size_t, int>> ChooseBins(const std::vector<Bin>& bins, int n) {
  std::vector<bool> used(bins.size(), false);
  std::vector<std::pair<size_t, int>> chosen;
  int remaining = n;
  while (remaining > 0) {
    std::optional<size_t> best_fit;
    std::optional<size_t> largest;
    for (size_t i = 0; i < bins.size(); ++i) {
      if (used[i] || bins[i].capacity <= 0) {
        continue;
      }
      const Bin& bin = bins[i];
      if (bin.capacity >= remaining &&
          (!best_fit || std::tie(bin.capacity, bin.key) <
                            std::tie(bins[*best_fit].capacity, bins[*best_fit].key))) {
        best_fit = i;
      }
      if (!largest || bin.capacity > bins[*largest].capacity ||
          (bin.capacity == bins[*largest].capacity && bin.key < bins[*largest].key)) {
        largest = i;
      }
    }
    if (best_fit) {
      chosen.emplace_back(*best_fit, remaining);
      break;
    }
    if (!largest) {
      break;  // Fewer candidates than ranks.
    }
    used[*largest] = true;
    chosen.emplace_back(*largest, bins[*largest].capacity);
    remaining -= bins[*largest].capacity;
  }
  return chosen;
}

}  // namespace

std::vector<RankPlacement> PackRanks(std::vector<CandidateSlot> candidates, int n) {
  // node -> agent_id -> slots ascending. std::map keeps every tie-break by name.
  std::map<std::string, std::map<std::string, std::vector<int>>> nodes;
  std::sort(candidates.begin(), candidates.end(),
            [](const CandidateSlot& a, const CandidateSlot& b) {
              return std::tie(a.node, a.agent_id, a.slot) < std::tie(b.node, b.agent_id, b.slot);
            });
  for (size_t i = 0; i < candidates.size(); ++i) {
    const CandidateSlot& c = candidates[i];
    if (i > 0 && c.node == candidates[i - 1].node && c.agent_id == candidates[i - 1].agent_id &&
        c.slot == candidates[i - 1].slot) {
      continue;
    }
    nodes[c.node][c.agent_id].push_back(c.slot);
  }

  std::vector<Bin> node_bins;
  std::vector<const std::pair<const std::string, std::map<std::string, std::vector<int>>>*>
      node_entries;
  for (const auto& entry : nodes) {
    int capacity = 0;
    for (const auto& [agent_id, slots] : entry.second) {
      capacity += static_cast<int>(slots.size());
    }
    node_bins.push_back(Bin{entry.first, capacity});
    node_entries.push_back(&entry);
  }

  std::vector<RankPlacement> placement;
  for (const auto& [node_index, node_take] : ChooseBins(node_bins, n)) {
    const auto& [node, agents] = *node_entries[node_index];
    std::vector<Bin> agent_bins;
    std::vector<const std::pair<const std::string, std::vector<int>>*> agent_entries;
    for (const auto& entry : agents) {
      agent_bins.push_back(Bin{entry.first, static_cast<int>(entry.second.size())});
      agent_entries.push_back(&entry);
    }
    for (const auto& [agent_index, agent_take] : ChooseBins(agent_bins, node_take)) {
      const auto& [agent_id, slots] = *agent_entries[agent_index];
      for (int i = 0; i < agent_take; ++i) {
        placement.push_back(RankPlacement{static_cast<int>(placement.size()), agent_id, node,
                                          slots[static_cast<size_t>(i)]});
      }
    }
  }
  return placement;
}

}  // namespace vmae::server::scheduler_internal
