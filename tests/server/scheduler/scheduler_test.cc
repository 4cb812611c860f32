#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr int64_t kNow = 1'000'000;
constexpr int64_t kMinute = 60'000;

AgentView Agent(std::string id, std::string node, int total, std::vector<int> free,
                std::string device = "cpu", std::map<std::string, std::string> labels = {}) {
  AgentView agent;
  agent.agent_id = std::move(id);
  agent.node = std::move(node);
  agent.total_slots = total;
  agent.free_slots = std::move(free);
  agent.device_kind = std::move(device);
  agent.labels = std::move(labels);
  return agent;
}

JobView Job(std::string id, int priority, int64_t submit_order, int workers, int min_workers = 0,
            std::string device = "cpu") {
  JobView job;
  job.job_id = std::move(id);
  job.priority = priority;
  job.submit_order = submit_order;
  job.workers = workers;
  job.min_workers = min_workers > 0 ? min_workers : workers;
  job.device = std::move(device);
  return job;
}

// A running job holding `slots` ("agent:slot" pairs), ranks in order.
JobView Running(std::string id, int priority, int64_t submit_order,
                std::vector<std::pair<std::string, int>> slots, int64_t expected_end_ms = -1) {
  JobView job = Job(std::move(id), priority, submit_order, static_cast<int>(slots.size()));
  for (const auto& [agent, slot] : slots) {
    job.placement.push_back(
        RankPlacement{static_cast<int>(job.placement.size()), agent, "node-of-" + agent, slot});
  }
  job.expected_end_ms = expected_end_ms;
  return job;
}

// "agent:slot" per rank, ranks in order; fails the test if ranks are not 0..n-1.
std::string Layout(const std::vector<RankPlacement>& placement) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < placement.size(); ++i) {
    EXPECT_EQ(placement[i].rank, static_cast<int>(i));
    parts.push_back(absl::StrCat(placement[i].agent_id, ":", placement[i].slot));
  }
  return absl::StrJoin(parts, " ");
}

std::vector<std::string> Started(const Decision& d) {
  std::vector<std::string> ids;
  for (const auto& [id, placement] : d.starts) {
    ids.push_back(id);
  }
  return ids;
}

// Layout of the job's start, or "" when it did not start.
std::string StartOf(const Decision& d, const std::string& id) {
  for (const auto& [job_id, placement] : d.starts) {
    if (job_id == id) {
      return Layout(placement);
    }
  }
  return "";
}

std::string Reserved(const Decision& d) {
  std::vector<std::string> parts;
  for (const SlotRef& slot : d.reserved) {
    parts.push_back(absl::StrCat(slot.agent_id, ":", slot.slot));
  }
  return absl::StrJoin(parts, " ");
}

std::string Describe(const Decision& d) {
  std::string out;
  for (const auto& [id, placement] : d.starts) {
    for (const RankPlacement& r : placement) {
      absl::StrAppend(&out, "start ", id, " ", r.rank, " ", r.agent_id, " ", r.node, " ", r.slot,
                      "\n");
    }
  }
  absl::StrAppend(&out, "preempt ", absl::StrJoin(d.preempt, ","), "\n");
  for (const auto& [id, reason] : d.queue_reasons) {
    absl::StrAppend(&out, "reason ", id, " ", reason, "\n");
  }
  absl::StrAppend(&out, "reserved ", d.reserved_for, " ", Reserved(d), "\n");
  return out;
}

// --- Queue order --------------------------------------------------------------------------

TEST(SchedulerTest, PriorityBeatsAge) {
  std::vector<AgentView> agents = {Agent("a", "n1", 1, {0})};
  std::vector<JobView> queued = {Job("j-old", 0, 1, 1), Job("j-urgent", 5, 9, 1)};
  Decision d = Schedule(queued, {}, agents, kNow);
  EXPECT_THAT(Started(d), ElementsAre("j-urgent"));
  EXPECT_THAT(d.queue_reasons, ElementsAre(::testing::Key("j-old")));
}

TEST(SchedulerTest, AgeBreaksTiesWithinAPriority) {
  std::vector<AgentView> agents = {Agent("a", "n1", 1, {0})};
  std::vector<JobView> queued = {Job("j-young", 3, 7, 1), Job("j-old", 3, 2, 1)};
  Decision d = Schedule(queued, {}, agents, kNow);
  EXPECT_THAT(Started(d), ElementsAre("j-old"));
  EXPECT_EQ(d.queue_reasons.count("j-young"), 1u);
}

TEST(SchedulerTest, JobIdBreaksTiesWhenPriorityAndAgeAreEqual) {
  std::vector<AgentView> agents = {Agent("a", "n1", 1, {0})};
  std::vector<JobView> queued = {Job("j-b", 0, 4, 1), Job("j-a", 0, 4, 1)};
  Decision d = Schedule(queued, {}, agents, kNow);
  EXPECT_THAT(Started(d), ElementsAre("j-a"));
}

TEST(SchedulerTest, QueueOrderSortsByPriorityThenSubmitOrderThenJobId) {
  std::vector<JobView> queued = {Job("j-c", 0, 1, 1), Job("j-b", 2, 5, 1), Job("j-a", 0, 1, 1),
                                 Job("j-d", 2, 3, 1), Job("j-e", -1, 0, 1)};
  EXPECT_THAT(QueueOrder(queued), ElementsAre("j-d", "j-b", "j-a", "j-c", "j-e"));
}

// --- Gang -----------------------------------------------------------------------------------

TEST(SchedulerTest, GangNeverStartsPartially) {
  std::vector<AgentView> agents = {Agent("a", "n1", 4, {1, 2, 3})};
  std::vector<JobView> running = {Running("j-run", 0, 1, {{"a", 0}})};
  Decision d = Schedule({Job("j-gang", 0, 2, 4)}, running, agents, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  EXPECT_EQ(d.queue_reasons.at("j-gang"),
            "waiting for 4 matching workers: 3 free of 4 matching (held by j-run)");
}

TEST(SchedulerTest, ElasticJobStartsWithWhatIsFreeAboveMinWorkers) {
  std::vector<AgentView> agents = {Agent("a", "n1", 4, {0, 1, 2})};
  Decision d =
      Schedule({Job("j-elastic", 0, 1, /*workers=*/4, /*min_workers=*/2)}, {}, agents, kNow);
  EXPECT_EQ(StartOf(d, "j-elastic"), "a:0 a:1 a:2");
  EXPECT_THAT(d.queue_reasons, IsEmpty());
}

TEST(SchedulerTest, ElasticJobTakesNoMoreThanWorkers) {
  std::vector<AgentView> agents = {Agent("a", "n1", 6, {0, 1, 2, 3, 4, 5})};
  Decision d = Schedule({Job("j-elastic", 0, 1, 2, 1)}, {}, agents, kNow);
  EXPECT_EQ(StartOf(d, "j-elastic"), "a:0 a:1");
}

TEST(SchedulerTest, ElasticJobBelowMinWorkersWaitsWithRangeInReason) {
  std::vector<AgentView> agents = {Agent("a", "n1", 4, {0})};
  std::vector<JobView> running = {Running("j-run", 0, 1, {{"a", 1}, {"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-elastic", 0, 2, 4, 2)}, running, agents, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  EXPECT_EQ(d.queue_reasons.at("j-elastic"),
            "waiting for at least 2 matching workers (up to 4): 1 free of 4 matching (held by "
            "j-run)");
}

TEST(SchedulerTest, SlotsGivenEarlierInThePassAreNotGivenAgain) {
  std::vector<AgentView> agents = {Agent("a", "n1", 3, {0, 1, 2})};
  Decision d = Schedule({Job("j-first", 0, 1, 2), Job("j-second", 0, 2, 2)}, {}, agents, kNow);
  EXPECT_EQ(StartOf(d, "j-first"), "a:0 a:1");
  EXPECT_EQ(StartOf(d, "j-second"), "");
  EXPECT_EQ(d.queue_reasons.at("j-second"),
            "waiting for 2 matching workers: 1 free of 3 matching (held by j-first)");
}

// --- Packing --------------------------------------------------------------------------------

TEST(SchedulerTest, PacksOntoTheBestFittingSingleNode) {
  std::vector<AgentView> agents = {Agent("a", "n-a", 4, {0, 1, 2, 3}), Agent("b", "n-b", 4, {1, 3}),
                                   Agent("c", "n-c", 4, {0, 1, 2})};
  // 2 ranks: b (2 free) is the tightest fit; 3 ranks: c; 4 ranks: only a holds them.
  EXPECT_EQ(StartOf(Schedule({Job("j2", 0, 1, 2)}, {}, agents, kNow), "j2"), "b:1 b:3");
  EXPECT_EQ(StartOf(Schedule({Job("j3", 0, 1, 3)}, {}, agents, kNow), "j3"), "c:0 c:1 c:2");
  EXPECT_EQ(StartOf(Schedule({Job("j4", 0, 1, 4)}, {}, agents, kNow), "j4"), "a:0 a:1 a:2 a:3");
}

TEST(SchedulerTest, SpreadsOverTheFullestNodesWhenNoneHoldsAllRanks) {
  std::vector<AgentView> agents = {Agent("d", "n-d", 2, {1}), Agent("c", "n-c", 2, {1, 0}),
                                   Agent("b", "n-b", 2, {0, 1}), Agent("a", "n-a", 4, {3, 0, 2})};
  // 6 ranks: a (3) first, then b (2; ties with c, b sorts first), then the last
  // rank on the best fit for 1, d, which keeps c's 2-slot hole.
  Decision d = Schedule({Job("j6", 0, 1, 6)}, {}, agents, kNow);
  EXPECT_EQ(StartOf(d, "j6"), "a:0 a:2 a:3 b:0 b:1 d:1");
  std::vector<int> ranks_on_a;
  for (const RankPlacement& r : d.starts.at(0).second) {
    if (r.node == "n-a") {
      ranks_on_a.push_back(r.rank);
    }
  }
  EXPECT_THAT(ranks_on_a, ElementsAre(0, 1, 2));  // Contiguous per node.
}

TEST(SchedulerTest, PackingTiesGoToTheSmallerNodeName) {
  std::vector<AgentView> agents = {Agent("z-agent", "n2", 2, {0, 1}),
                                   Agent("y-agent", "n1", 2, {0, 1})};
  Decision d = Schedule({Job("j", 0, 1, 2)}, {}, agents, kNow);
  EXPECT_EQ(StartOf(d, "j"), "y-agent:0 y-agent:1");
  EXPECT_EQ(d.starts.at(0).second.at(0).node, "n1");
}

TEST(SchedulerTest, AgentsOnOneNodeCountAsOneNode) {
  // Two agents on node n1 (2 + 1 free) hold 3 ranks together; n2 has 2.
  std::vector<AgentView> agents = {Agent("a1", "n1", 2, {0, 1}), Agent("a2", "n1", 2, {1}),
                                   Agent("b", "n2", 2, {0, 1})};
  Decision d = Schedule({Job("j", 0, 1, 3)}, {}, agents, kNow);
  EXPECT_EQ(StartOf(d, "j"), "a1:0 a1:1 a2:1");
}

// --- Matching -------------------------------------------------------------------------------

TEST(SchedulerTest, SelectorMismatchWaitsWithReason) {
  std::vector<AgentView> agents = {
      Agent("g1", "n1", 8, {0, 1, 2, 3, 4, 5, 6, 7}, "cuda", {{"gpu", "a100"}})};
  JobView job = Job("j-h100", 0, 1, 8, 8, "cuda");
  job.selector = {{"gpu", "h100"}};
  Decision d = Schedule({job}, {}, agents, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  EXPECT_EQ(d.queue_reasons.at("j-h100"),
            "no agent matches device=cuda selector {gpu=h100}; add an agent with these labels or "
            "change resources.selector");
}

TEST(SchedulerTest, DeviceMismatchWaitsWithReason) {
  std::vector<AgentView> agents = {Agent("c1", "n1", 4, {0, 1, 2, 3}, "cpu")};
  Decision d = Schedule({Job("j-gpu", 0, 1, 1, 1, "cuda")}, {}, agents, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  EXPECT_EQ(d.queue_reasons.at("j-gpu"),
            "no agent offers device=cuda; add a cuda agent or change resources.device");
}

TEST(SchedulerTest, SelectorNeedsOnlyItsOwnLabelsToMatch) {
  std::vector<AgentView> agents = {
      Agent("g1", "n1", 2, {0, 1}, "cuda", {{"gpu", "h100"}, {"zone", "a"}}),
      Agent("g2", "n2", 2, {0, 1}, "cuda", {{"gpu", "h100"}, {"zone", "b"}})};
  JobView job = Job("j", 0, 1, 2, 2, "cuda");
  job.selector = {{"zone", "b"}};
  EXPECT_EQ(StartOf(Schedule({job}, {}, agents, kNow), "j"), "g2:0 g2:1");
  EXPECT_TRUE(AgentMatches(agents[1], job));
  EXPECT_FALSE(AgentMatches(agents[0], job));
}

TEST(SchedulerTest, DrainingAgentIsNotUsedAndIsNamedInTheReason) {
  AgentView draining = Agent("g-drain", "n1", 4, {0, 1, 2, 3}, "cuda");
  draining.schedulable = false;
  Decision d = Schedule({Job("j", 0, 1, 2, 2, "cuda")}, {}, {draining}, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  EXPECT_EQ(d.queue_reasons.at("j"),
            "no schedulable agent matches device=cuda: g-drain is draining or lost; wait for it "
            "or add an agent");
}

TEST(SchedulerTest, JobLargerThanTheClusterWaitsWithoutBlockingOthers) {
  std::vector<AgentView> agents = {Agent("a", "n1", 4, {0, 1, 2, 3}), Agent("b", "n2", 2, {0, 1})};
  std::vector<JobView> queued = {Job("j-huge", 9, 1, 8), Job("j-small", 0, 2, 2)};
  Decision d = Schedule(queued, {}, agents, kNow);
  EXPECT_EQ(d.queue_reasons.at("j-huge"),
            "needs 8 workers (at least 8) but only 6 matching slots exist in the cluster; lower "
            "resources.min_workers or add agents");
  EXPECT_EQ(StartOf(d, "j-small"), "b:0 b:1");
  EXPECT_EQ(d.reserved_for, "");  // A job that can never start reserves nothing.
}

// --- Reservation and backfill ----------------------------------------------------------------

// Node a: 4 slots, j-run holds 0-2 until kNow + 12 min, slot 3 free.
// Node b: 2 slots, j-other holds slot 0 (end unknown); slot 1 free unless `b_full`.
struct BackfillCluster {
  std::vector<AgentView> agents;
  std::vector<JobView> running;
};

BackfillCluster MakeBackfillCluster(bool b_full) {
  BackfillCluster c;
  c.agents = {Agent("a", "n-a", 4, {3}),
              Agent("b", "n-b", 2, b_full ? std::vector<int>{} : std::vector<int>{1})};
  c.running = {Running("j-run", 1, 1, {{"a", 0}, {"a", 1}, {"a", 2}}, kNow + 12 * kMinute),
               Running("j-other", 1, 2, {{"b", 0}})};
  if (b_full) {
    c.running.push_back(Running("j-third", 1, 3, {{"b", 1}}));
  }
  return c;
}

TEST(SchedulerTest, HeadReservesTheSlotsOfTheEarliestEndingJobs) {
  BackfillCluster c = MakeBackfillCluster(/*b_full=*/false);
  Decision d = Schedule({Job("j-head", 1, 10, 4)}, c.running, c.agents, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  // Free a:3 and b:1 plus j-run's a:0-2 make 5; the 4 ranks fit on node a.
  EXPECT_EQ(d.reserved_for, "j-head");
  EXPECT_EQ(Reserved(d), "a:0 a:1 a:2 a:3");
  EXPECT_EQ(d.queue_reasons.at("j-head"),
            "waiting for 4 matching workers: 2 free of 6 matching (held by j-run, j-other); "
            "expected to start in about 12m");
}

TEST(SchedulerTest, BackfillStartsOutsideTheReservation) {
  BackfillCluster c = MakeBackfillCluster(/*b_full=*/false);
  std::vector<JobView> queued = {Job("j-head", 1, 10, 4), Job("j-small", 0, 11, 1)};
  Decision d = Schedule(queued, c.running, c.agents, kNow);
  EXPECT_THAT(Started(d), ElementsAre("j-small"));
  EXPECT_EQ(StartOf(d, "j-small"), "b:1");  // Not a:3, which the head needs.
  EXPECT_EQ(d.queue_reasons.count("j-small"), 0u);
}

TEST(SchedulerTest, BackfillIsRefusedInsideTheReservation) {
  // The only free slot is a:3. A 1-slot job there would hold it past the
  // moment j-run ends and so delay the head.
  BackfillCluster c = MakeBackfillCluster(/*b_full=*/true);
  std::vector<JobView> queued = {Job("j-head", 1, 10, 4), Job("j-small", 0, 11, 1)};
  Decision d = Schedule(queued, c.running, c.agents, kNow);
  EXPECT_THAT(d.starts, IsEmpty());
  EXPECT_EQ(Reserved(d), "a:0 a:1 a:2 a:3");
  EXPECT_EQ(d.queue_reasons.at("j-small"),
            "behind j-head (priority 1), which holds a reservation on the slots it needs (needs "
            "1 worker; 0 of 1 free matching slots are outside the reservation)");
}

TEST(SchedulerTest, ReservationOnlyCoversTheHeadsMatchingSlots) {
  BackfillCluster c = MakeBackfillCluster(/*b_full=*/true);
  c.agents.push_back(Agent("g", "n-g", 1, {0}, "cuda"));
  std::vector<JobView> queued = {Job("j-head", 1, 10, 4), Job("j-gpu", 0, 11, 1, 1, "cuda")};
  Decision d = Schedule(queued, c.running, c.agents, kNow);
  EXPECT_EQ(StartOf(d, "j-gpu"), "g:0");
}

TEST(SchedulerTest, UnknownEndTimesAreReservedLast) {
  std::vector<AgentView> agents = {Agent("a", "n-a", 2, {}), Agent("b", "n-b", 2, {}),
                                   Agent("c", "n-c", 2, {})};
  std::vector<JobView> running = {Running("j-unknown", 0, 1, {{"a", 0}, {"a", 1}}),
                                  Running("j-late", 0, 2, {{"b", 0}, {"b", 1}}, kNow + 50'000),
                                  Running("j-soon", 0, 3, {{"c", 0}, {"c", 1}}, kNow + 10'000)};
  Decision d = Schedule({Job("j-head", 0, 9, 2)}, running, agents, kNow);
  EXPECT_EQ(Reserved(d), "c:0 c:1");
  EXPECT_EQ(d.queue_reasons.at("j-head"),
            "waiting for 2 matching workers: 0 free of 6 matching (held by j-soon, j-late, "
            "j-unknown); expected to start in about 10s");

  running.pop_back();  // Without j-soon, j-late's known end comes before j-unknown.
  EXPECT_EQ(Reserved(Schedule({Job("j-head", 0, 9, 2)}, running, agents, kNow)), "b:0 b:1");
}

TEST(SchedulerTest, OnlyTheFirstBlockedJobGetsAReservation) {
  BackfillCluster c = MakeBackfillCluster(/*b_full=*/false);
  c.agents.push_back(Agent("e", "n-e", 1, {0}));
  // j-second is blocked too but reserves nothing, so j-small may take a free
  // slot that j-second could have used.
  std::vector<JobView> queued = {Job("j-head", 1, 10, 4), Job("j-second", 1, 11, 3),
                                 Job("j-small", 0, 12, 1)};
  Decision d = Schedule(queued, c.running, c.agents, kNow);
  EXPECT_EQ(d.reserved_for, "j-head");
  EXPECT_EQ(Reserved(d), "a:0 a:1 a:2 a:3");
  EXPECT_THAT(Started(d), ElementsAre("j-small"));
  EXPECT_EQ(StartOf(d, "j-small"), "b:1");  // n-b and n-e both fit exactly; n-b sorts first.
  EXPECT_EQ(d.queue_reasons.at("j-second"),
            "behind j-head (priority 1), which holds a reservation on the slots it needs (needs "
            "3 workers; 2 of 3 free matching slots are outside the reservation)");
}

// --- Preemption -----------------------------------------------------------------------------

// One agent "a" with `total` slots; the running jobs hold the rest.
std::vector<AgentView> OneAgent(int total, std::vector<int> free) {
  return {Agent("a", "n-a", total, std::move(free))};
}

TEST(SchedulerTest, PreemptsTheLowestPriorityJobFirst) {
  std::vector<JobView> running = {Running("j-p1", 1, 1, {{"a", 0}, {"a", 1}}),
                                  Running("j-p0", 0, 2, {{"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 2)}, running, OneAgent(4, {}), kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-p0"));
  EXPECT_THAT(d.starts, IsEmpty());  // Starts on a later pass, once j-p0 has paused.
  EXPECT_EQ(d.queue_reasons.at("j-urgent"), "waiting for j-p0 to pause (preempted for this job)");
  EXPECT_EQ(Reserved(d), "a:2 a:3");
}

TEST(SchedulerTest, PreemptsTheYoungestAmongEqualPriorities) {
  std::vector<JobView> running = {Running("j-young", 1, 9, {{"a", 0}, {"a", 1}}),
                                  Running("j-old", 1, 2, {{"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-urgent", 5, 10, 2)}, running, OneAgent(4, {}), kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-young"));
}

TEST(SchedulerTest, PreemptsOnlyAsManyJobsAsNeeded) {
  // 1 free + two 1-slot jobs make the 3 needed; j-c (the oldest) keeps running.
  std::vector<JobView> running = {Running("j-c", 0, 1, {{"a", 1}}),
                                  Running("j-b", 0, 5, {{"a", 2}}),
                                  Running("j-a", 0, 9, {{"a", 3}})};
  Decision d = Schedule({Job("j-urgent", 5, 10, 3)}, running, OneAgent(4, {0}), kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-a", "j-b"));
  EXPECT_EQ(d.queue_reasons.at("j-urgent"),
            "waiting for j-a, j-b to pause (preempted for this job)");
}

TEST(SchedulerTest, PreemptionDropsJobsThatTurnOutNotToBeNeeded) {
  // Lowest first takes j-tiny (1 slot) then j-big (4); j-big alone is enough.
  std::vector<JobView> running = {Running("j-tiny", 0, 1, {{"a", 0}}),
                                  Running("j-big", 1, 2, {{"a", 1}, {"a", 2}, {"a", 3}, {"a", 4}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 4)}, running, OneAgent(5, {}), kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-big"));
}

TEST(SchedulerTest, NeverPreemptsEqualOrHigherPriority) {
  std::vector<JobView> running = {Running("j-equal", 5, 1, {{"a", 0}, {"a", 1}}),
                                  Running("j-higher", 7, 2, {{"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-head", 5, 3, 2)}, running, OneAgent(4, {}), kNow);
  EXPECT_THAT(d.preempt, IsEmpty());
  EXPECT_EQ(d.queue_reasons.at("j-head"),
            "waiting for 2 matching workers: 0 free of 4 matching (held by j-equal, j-higher)");
}

TEST(SchedulerTest, NeverPreemptsANonPreemptibleJob) {
  JobView pinned = Running("j-pinned", 0, 1, {{"a", 0}, {"a", 1}});
  pinned.preemptible = false;
  std::vector<JobView> running = {pinned, Running("j-low", 1, 2, {{"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 2)}, running, OneAgent(4, {}), kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-low"));
}

TEST(SchedulerTest, DoesNotPreemptWhenTooFewSlotsCouldBeFreed) {
  std::vector<JobView> running = {Running("j-low", 0, 1, {{"a", 0}, {"a", 1}}),
                                  Running("j-equal", 5, 2, {{"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 4)}, running, OneAgent(4, {}), kNow);
  EXPECT_THAT(d.preempt, IsEmpty());
  EXPECT_THAT(d.queue_reasons.at("j-urgent"), HasSubstr("waiting for 4 matching workers"));
}

TEST(SchedulerTest, PreemptionCountsOnlyMatchingSlots) {
  std::vector<AgentView> agents = {Agent("c", "n-c", 2, {}, "cpu"),
                                   Agent("g", "n-g", 2, {}, "cuda")};
  // j-cpu is the lowest priority but frees no cuda slot.
  std::vector<JobView> running = {Running("j-cpu", 0, 1, {{"c", 0}, {"c", 1}}),
                                  Running("j-gpu", 1, 2, {{"g", 0}, {"g", 1}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 2, 2, "cuda")}, running, agents, kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-gpu"));
}

TEST(SchedulerTest, BackfillDoesNotTakeSlotsReservedForAPreemptingHead) {
  // The head needs 3: free a:3 plus j-low's a:0-1. j-small may not take a:3;
  // it may take b:0, which the head does not need.
  std::vector<AgentView> agents = {Agent("a", "n-a", 4, {3}), Agent("b", "n-b", 1, {0})};
  std::vector<JobView> running = {Running("j-low", 0, 1, {{"a", 0}, {"a", 1}}),
                                  Running("j-mid", 3, 2, {{"a", 2}})};
  std::vector<JobView> queued = {Job("j-urgent", 5, 3, 3), Job("j-small", 0, 4, 1),
                                 Job("j-small2", 0, 5, 1)};
  Decision d = Schedule(queued, running, agents, kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-low"));
  EXPECT_EQ(Reserved(d), "a:0 a:1 a:3");
  EXPECT_THAT(Started(d), ElementsAre("j-small"));
  EXPECT_EQ(StartOf(d, "j-small"), "b:0");
  EXPECT_THAT(d.queue_reasons.at("j-small2"), HasSubstr("behind j-urgent (priority 5)"));
}

TEST(SchedulerTest, AlreadyPausingJobIsNotPreemptedAgain) {
  JobView pausing = Running("j-low", 0, 1, {{"a", 0}, {"a", 1}});
  pausing.pausing = true;
  std::vector<JobView> running = {pausing, Running("j-low2", 0, 2, {{"a", 2}, {"a", 3}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 2)}, running, OneAgent(4, {}), kNow);
  EXPECT_THAT(d.preempt, IsEmpty());
  EXPECT_EQ(Reserved(d), "a:0 a:1");
  EXPECT_EQ(d.queue_reasons.at("j-urgent"),
            "waiting for j-low to finish pausing; the slots it will release are reserved for "
            "this job");
}

TEST(SchedulerTest, PausingJobsCountTowardsAPreemption) {
  JobView pausing = Running("j-pausing", 0, 1, {{"a", 0}});
  pausing.pausing = true;
  std::vector<JobView> running = {pausing, Running("j-low", 0, 2, {{"a", 1}}),
                                  Running("j-low-old", 0, 0, {{"a", 2}})};
  Decision d = Schedule({Job("j-urgent", 5, 3, 2)}, running, OneAgent(3, {}), kNow);
  EXPECT_THAT(d.preempt, ElementsAre("j-low"));
  EXPECT_EQ(d.queue_reasons.at("j-urgent"),
            "waiting for j-pausing, j-low to pause (preempted for this job)");
}

// --- Reasons and determinism ----------------------------------------------------------------

TEST(SchedulerTest, EveryQueuedJobThatDoesNotStartHasAReason) {
  BackfillCluster c = MakeBackfillCluster(/*b_full=*/false);
  JobView nowhere = Job("j-nowhere", 0, 20, 1);
  nowhere.selector = {{"zone", "mars"}};
  std::vector<JobView> queued = {Job("j-head", 1, 10, 4), Job("j-small", 0, 11, 1),
                                 Job("j-also", 0, 12, 1), Job("j-huge", 0, 13, 50), nowhere};
  Decision d = Schedule(queued, c.running, c.agents, kNow);
  EXPECT_THAT(Started(d), ElementsAre("j-small"));
  std::vector<std::string> with_reason;
  for (const auto& [id, reason] : d.queue_reasons) {
    EXPECT_FALSE(reason.empty()) << id;
    with_reason.push_back(id);
  }
  EXPECT_THAT(with_reason, UnorderedElementsAre("j-head", "j-also", "j-huge", "j-nowhere"));
  EXPECT_EQ(d.queue_reasons.at("j-also"),
            "behind j-head (priority 1), which holds a reservation on the slots it needs (needs "
            "1 worker; 0 of 1 free matching slots are outside the reservation)");
  EXPECT_EQ(d.queue_reasons.at("j-nowhere"),
            "no agent matches device=cpu selector {zone=mars}; add an agent with these labels or "
            "change resources.selector");
}

TEST(SchedulerTest, WaitingReasonNamesCountsAndHolders) {
  std::vector<AgentView> agents = {Agent("a", "n-a", 3, {0}), Agent("b", "n-b", 3, {2})};
  std::vector<JobView> running = {Running("j-bbb", 0, 2, {{"b", 0}, {"b", 1}}),
                                  Running("j-aaa", 0, 1, {{"a", 1}, {"a", 2}})};
  Decision d = Schedule({Job("j-wait", 0, 3, 4)}, running, agents, kNow);
  EXPECT_EQ(d.queue_reasons.at("j-wait"),
            "waiting for 4 matching workers: 2 free of 6 matching (held by j-aaa, j-bbb)");
}

TEST(SchedulerTest, SameInputInAnyOrderGivesTheSameDecision) {
  std::vector<AgentView> agents = {Agent("a", "n-a", 4, {3}), Agent("b", "n-b", 2, {1}),
                                   Agent("c", "n-c", 2, {0, 1}), Agent("d", "n-c", 1, {0})};
  std::vector<JobView> running = {Running("j-run", 1, 1, {{"a", 0}, {"a", 1}, {"a", 2}}, kNow),
                                  Running("j-other", 0, 2, {{"b", 0}}), Running("j-low", 0, 3, {})};
  std::vector<JobView> queued = {Job("j-head", 1, 10, 6), Job("j-x", 0, 11, 1),
                                 Job("j-y", 0, 11, 2), Job("j-z", 2, 12, 8)};
  const std::string first = Describe(Schedule(queued, running, agents, kNow));
  EXPECT_EQ(Describe(Schedule(queued, running, agents, kNow)), first);
  std::reverse(agents.begin(), agents.end());
  std::reverse(running.begin(), running.end());
  std::reverse(queued.begin(), queued.end());
  EXPECT_EQ(Describe(Schedule(queued, running, agents, kNow)), first);
  std::rotate(queued.begin(), queued.begin() + 1, queued.end());
  std::rotate(agents.begin(), agents.begin() + 2, agents.end());
  EXPECT_EQ(Describe(Schedule(queued, running, agents, kNow)), first);
}

}  // namespace
}  // namespace vmae::server
