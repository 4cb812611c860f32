// A server interceptor that counts every RPC by method and status code and
// times unary calls (vmae_grpc_requests_total, vmae_grpc_request_duration_seconds).
#ifndef VMAE_SERVER_RPC_METRICS_H_
#define VMAE_SERVER_RPC_METRICS_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "server/metrics.h"

namespace vmae::server {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    CoordinatorMetrics* metrics);

}  // namespace vmae::server

#endif  // VMAE_SERVER_RPC_METRICS_H_
