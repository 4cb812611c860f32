#include "worker/tool/checkpoint_weights.h"

#include <string>

#include "common/status_macros.h"
#include "worker/checkpoint/checkpoint_loader.h"

namespace vmae::tool {

absl::StatusOr<CheckpointWeights> ReadCheckpointWeights(const std::string& path) {
  checkpoint::LoadedCheckpoint loaded;
  VMAE_ASSIGN_OR_RETURN(loaded, checkpoint::LoadCheckpoint(path));
  CheckpointWeights out;
  out.tensors = std::move(loaded.state_dict);
  out.pretrain = loaded.kind == checkpoint::ModelKind::kPretrain;
  out.format = std::string(checkpoint::CheckpointFormatName(loaded.format));
  return out;
}

}  // namespace vmae::tool
