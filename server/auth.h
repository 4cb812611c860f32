// Bearer-token authentication for both services.
//
// Clients send "authorization: Bearer <token>" metadata. User tokens come
// from the --auth-tokens file (one "token user role" per line, role admin or
// user, '#' comments); agents present the --worker-join-token. With no
// tokens file (allowed on loopback only) every client is the local admin
// "local"; with no join token (loopback only) any agent may join.
//
// Thread-safe after Load (immutable).
#ifndef VMAE_SERVER_AUTH_H_
#define VMAE_SERVER_AUTH_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"

namespace vmae::server {

enum class Role { kUser, kAdmin, kAgent };

struct Principal {
  std::string user;
  Role role = Role::kUser;
  bool IsAdmin() const { return role == Role::kAdmin; }
};

class Authenticator {
 public:
  // Reads the tokens file (empty path: no user tokens). Errors name the file
  // and line.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Load(const std::string& tokens_file,
                                                             const std::string& join_token);

  // For JobService: a user or admin. UNAUTHENTICATED when the token is
  // missing or unknown; PERMISSION_DENIED for the agents' join token.
  absl::StatusOr<Principal> AuthenticateUser(const grpc::ServerContextBase& ctx) const;
  // For WorkerService: only the join token. PERMISSION_DENIED for a user token.
  absl::StatusOr<Principal> AuthenticateAgent(const grpc::ServerContextBase& ctx) const;

  bool HasUserTokens() const { return !users_.empty(); }
  bool HasJoinToken() const { return !join_token_.empty(); }

  // Parses "token user role" lines; exposed for tests.
  static absl::StatusOr<std::map<std::string, Principal>> ParseTokens(const std::string& text,
                                                                      const std::string& source);

 private:
  Authenticator(std::map<std::string, Principal> users, std::string join_token)
      : users_(std::move(users)), join_token_(std::move(join_token)) {}
  const Principal* FindUser(const std::string& token) const;

  std::map<std::string, Principal> users_;
  std::string join_token_;
};

// Only the job's owner or an admin may change it.
absl::Status CheckOwner(const Principal& who, const std::string& owner, const std::string& job_id);

}  // namespace vmae::server

#endif  // VMAE_SERVER_AUTH_H_
