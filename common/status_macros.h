// Tiny status propagation macros. Abseil 20220623 (Debian 12) has none;
// move to ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN once it does.
#ifndef VMAE_COMMON_STATUS_MACROS_H_
#define VMAE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VMAE_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::absl::Status vmae_status_ = (expr);           \
    if (!vmae_status_.ok()) return vmae_status_;    \
  } while (0)

#define VMAE_STATUS_CONCAT_INNER_(a, b) a##b
#define VMAE_STATUS_CONCAT_(a, b) VMAE_STATUS_CONCAT_INNER_(a, b)

#define VMAE_ASSIGN_OR_RETURN(lhs, expr) \
  VMAE_ASSIGN_OR_RETURN_IMPL_(VMAE_STATUS_CONCAT_(vmae_statusor_, __LINE__), lhs, expr)

#define VMAE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(statusor).value()

#endif  // VMAE_COMMON_STATUS_MACROS_H_
