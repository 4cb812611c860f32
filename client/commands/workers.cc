// vmaectl workers: ListWorkers as a table.
#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {
namespace {

// "8x NVIDIA H100 80GB HBM3", "4x cpu", "2x cpu, 1x NVIDIA A10".
std::string Devices(const v1::WorkerInfo& w) {
  std::vector<std::pair<std::string, int>> groups;
  for (const v1::Device& d : w.devices()) {
    std::string name = d.name().empty() ? d.kind() : d.name();
    if (name.empty()) {
      name = "?";
    }
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&name](const auto& g) { return g.first == name; });
    if (it == groups.end()) {
      groups.emplace_back(name, 1);
    } else {
      ++it->second;
    }
  }
  if (groups.empty()) {
    return "-";
  }
  std::vector<std::string> parts;
  for (const auto& [name, count] : groups) {
    parts.push_back(absl::StrCat(count, "x ", name));
  }
  return absl::StrJoin(parts, ", ");
}

std::string Labels(const v1::WorkerInfo& w) {
  std::map<std::string, std::string> sorted(w.labels().begin(), w.labels().end());
  if (sorted.empty()) {
    return "-";
  }
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

}  // namespace

int RunWorkers(Context& ctx) {
  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::ListWorkersResponse> response = (*client)->ListWorkers();
  if (!response.ok()) {
    return ctx.Fail(ctx.Explain(response.status()));
  }
  if (ctx.format() != OutputFormat::kTable) {
    std::vector<const google::protobuf::Message*> items;
    for (const v1::WorkerInfo& w : response->workers()) {
      items.push_back(&w);
    }
    absl::StatusOr<std::string> text = FormatMessageList(items, ctx.format());
    if (!text.ok()) {
      return ctx.Fail(text.status());
    }
    ctx.out() << *text;
    return kExitOk;
  }
  if (response->workers().empty()) {
    ctx.err() << "No agents registered; start vmae-worker on a node, or the coordinator "
                 "with --local-workers N.\n";
    return kExitOk;
  }
  Table table({"AGENT", "NODE", "STATE", "SLOTS", "DEVICES", "LABELS", "JOBS", "LAST HEARTBEAT"});
  const absl::Time now = absl::Now();
  for (const v1::WorkerInfo& w : response->workers()) {
    table.AddRow({w.agent_id(), w.node().empty() ? "-" : w.node(), WorkerStateName(w.state()),
                  absl::StrCat(w.free_slots(), "/", w.devices_size()), Devices(w), Labels(w),
                  w.job_ids().empty() ? "-" : absl::StrJoin(w.job_ids(), ","),
                  IsSet(w.last_heartbeat())
                      ? absl::StrCat(FormatTimestampAge(w.last_heartbeat(), now), " ago")
                      : "-"});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace vmae::client
