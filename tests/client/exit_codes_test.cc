#include "client/exit_codes.h"

#include "absl/status/status.h"
#include "common/grpc_status.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"

namespace vmae::client {
namespace {

TEST(ExitCodesTest, EachGrpcCodeMapsToItsDocumentedExitCode) {
  struct Case {
    grpc::StatusCode code;
    int exit_code;
  };
  const Case cases[] = {
      {grpc::StatusCode::OK, 0},
      {grpc::StatusCode::CANCELLED, 1},
      {grpc::StatusCode::UNKNOWN, 1},
      {grpc::StatusCode::INVALID_ARGUMENT, 2},
      {grpc::StatusCode::DEADLINE_EXCEEDED, 3},
      {grpc::StatusCode::NOT_FOUND, 5},
      {grpc::StatusCode::ALREADY_EXISTS, 1},
      {grpc::StatusCode::PERMISSION_DENIED, 4},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, 1},
      {grpc::StatusCode::FAILED_PRECONDITION, 6},
      {grpc::StatusCode::ABORTED, 1},
      {grpc::StatusCode::OUT_OF_RANGE, 1},
      {grpc::StatusCode::UNIMPLEMENTED, 1},
      {grpc::StatusCode::INTERNAL, 1},
      {grpc::StatusCode::UNAVAILABLE, 3},
      {grpc::StatusCode::DATA_LOSS, 1},
      {grpc::StatusCode::UNAUTHENTICATED, 4},
  };
  for (const Case& c : cases) {
    grpc::Status status(c.code, c.code == grpc::StatusCode::OK ? "" : "x");
    EXPECT_EQ(ExitCodeForStatus(FromGrpcStatus(status)), c.exit_code) << c.code;
  }
}

TEST(ExitCodesTest, HelpTextListsEveryExitCode) {
  std::string help = kExitCodeHelp;
  for (const char* line : {"  0  ", "  1  ", "  2  ", "  3  ", "  4  ", "  5  ", "  6  "}) {
    EXPECT_NE(help.find(line), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace vmae::client
