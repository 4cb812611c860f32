// Checkpoint files on the coordinator's disk (under --state-dir):
//   uploads/<upload_id>/<file>              while an upload is in progress
//   checkpoints/<job_id>/<checkpoint_id>/<file>   once verified
// An upload becomes a checkpoint by one rename of its folder, after every
// file's size and SHA-256 matched and was fsynced, so a reader never sees a
// partial checkpoint. Not thread-safe for the same upload id: the caller
// serialises uploads by id.
#ifndef VMAE_SERVER_CHECKPOINTS_CHECKPOINT_FILES_H_
#define VMAE_SERVER_CHECKPOINTS_CHECKPOINT_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "vmae/v1/types.pb.h"

namespace vmae::server {

// True for plain file names: [A-Za-z0-9._-], not starting with '.', at most
// 128 characters. Everything that names a file on disk passes this first.
bool IsSafeFileName(absl::string_view name);

class CheckpointFiles {
 public:
  explicit CheckpointFiles(std::string state_dir) : root_(std::move(state_dir)) {}

  // Creates the folders.
  absl::Status Init();

  // Bytes already held for one file of an upload (0 when none).
  int64_t HeldBytes(const std::string& upload_id, const std::string& file) const;

  // Appends `data` at `offset`, which must equal HeldBytes (else
  // FAILED_PRECONDITION naming both numbers, so the agent restarts from the
  // right place). Refuses to grow a file beyond `declared_size`.
  absl::Status Append(const std::string& upload_id, const std::string& file, int64_t offset,
                      absl::string_view data, int64_t declared_size);

  // Verifies every file (size and SHA-256), fsyncs it, then renames the
  // upload folder to its final place. DATA_LOSS on a mismatch, after which
  // the bad file is deleted so the upload can be resent.
  absl::Status Commit(const std::string& upload_id, const std::string& job_id,
                      const std::string& checkpoint_id,
                      const std::vector<vmae::v1::CheckpointFile>& files);

  // Deletes a checkpoint's folder; OK when it is already gone (idempotent).
  absl::Status Remove(const std::string& job_id, const std::string& checkpoint_id);
  absl::Status RemoveUpload(const std::string& upload_id);

  std::string PathOf(const std::string& job_id, const std::string& checkpoint_id,
                     const std::string& file) const;
  bool Exists(const std::string& job_id, const std::string& checkpoint_id) const;

 private:
  std::string UploadDir(const std::string& upload_id) const;
  std::string CheckpointDir(const std::string& job_id, const std::string& checkpoint_id) const;

  std::string root_;
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_CHECKPOINTS_CHECKPOINT_FILES_H_
