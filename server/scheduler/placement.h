// Rank packing for the gang scheduler (rule 3 in scheduler.h). Internal to
// vmae::scheduler; exposed in a header so Schedule() and tests share it.
#ifndef VMAE_SERVER_SCHEDULER_PLACEMENT_H_
#define VMAE_SERVER_SCHEDULER_PLACEMENT_H_

#include <string>
#include <vector>

#include "server/scheduler/scheduler.h"

namespace vmae::server::scheduler_internal {

// A slot a job may use, with the node its agent runs on.
struct CandidateSlot {
  std::string agent_id;
  std::string node;
  int slot = 0;
};

// Places `n` ranks on `candidates` so they span as few nodes as possible:
// while the remaining ranks do not fit on one node, the node with the most
// candidate slots is filled; the remaining ranks then go to the node with the
// fewest candidate slots that still holds them all (best fit). The same rule
// picks agents within a node. Ranks are contiguous per node and per agent,
// slots ascending; ties go to the smaller node name, then agent_id.
// Duplicate candidates are ignored. Returns ranks 0..n-1, or fewer if there
// are fewer than `n` distinct candidates (a caller bug).
std::vector<RankPlacement> PackRanks(std::vector<CandidateSlot> candidates, int n);

}  // namespace vmae::server::scheduler_internal

#endif  // VMAE_SERVER_SCHEDULER_PLACEMENT_H_
