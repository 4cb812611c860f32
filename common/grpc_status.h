// Conversions between absl::Status and grpc::Status. Abseil's codes are
// gRPC's codes, so this is one cast each way.
#ifndef VMAE_COMMON_GRPC_STATUS_H_
#define VMAE_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace vmae {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace vmae

#endif  // VMAE_COMMON_GRPC_STATUS_H_
