// SHA-256 over OpenSSL's EVP interface: streaming for uploads, one-shot for
// files. Hex output is lowercase.
#ifndef VMAE_COMMON_SHA256_H_
#define VMAE_COMMON_SHA256_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae {

// Incremental hasher. Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view data);
  // Lowercase hex digest; the hasher is reset afterwards.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string Sha256Hex(absl::string_view data);

// Digest of a whole file, read in 1 MiB blocks.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace vmae

#endif  // VMAE_COMMON_SHA256_H_
