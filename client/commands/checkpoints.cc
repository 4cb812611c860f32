// vmaectl checkpoints ID: ListCheckpoints as a table.
#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {
namespace {

// The weights file's digest identifies a checkpoint best; else the first file's.
std::string ShortSha(const v1::CheckpointInfo& c) {
  const v1::CheckpointFile* pick = nullptr;
  for (const v1::CheckpointFile& f : c.files()) {
    if (pick == nullptr || f.name() == "model.safetensors") {
      pick = &f;
    }
  }
  if (pick == nullptr || pick->sha256().empty()) {
    return "-";
  }
  return pick->sha256().substr(0, 12);
}

}  // namespace

int RunCheckpoints(Context& ctx) {
  const std::string& id = ctx.cmd().args[0];
  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::ListCheckpointsResponse> response = (*client)->ListCheckpoints(id);
  if (!response.ok()) {
    return ctx.Fail(ctx.Explain(response.status(), id));
  }
  if (ctx.format() != OutputFormat::kTable) {
    std::vector<const google::protobuf::Message*> items;
    for (const v1::CheckpointInfo& c : response->checkpoints()) {
      items.push_back(&c);
    }
    absl::StatusOr<std::string> text = FormatMessageList(items, ctx.format());
    if (!text.ok()) {
      return ctx.Fail(text.status());
    }
    ctx.out() << *text;
    return kExitOk;
  }
  if (response->checkpoints().empty()) {
    ctx.err() << "Job " << id << " has no checkpoints yet.\n";
    return kExitOk;
  }
  Table table({"ID", "STEP", "SIZE", "BEST", "PINNED", "CREATED", "SHA256"});
  const absl::Time now = absl::Now();
  for (const v1::CheckpointInfo& c : response->checkpoints()) {
    table.AddRow({c.id(), absl::StrCat(c.step()), FormatBytes(c.size_bytes()),
                  c.best() ? "yes" : "", c.pinned() ? "yes" : "",
                  FormatTimestampAge(c.create_time(), now), ShortSha(c)});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace vmae::client
