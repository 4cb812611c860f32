#include "server/auth.h"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmae::server {
namespace {

// Reads the bearer token from metadata; empty when absent or malformed.
std::string BearerToken(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(value));
}

// Constant-time comparison so a token cannot be guessed byte by byte.
bool SameToken(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

absl::StatusOr<std::map<std::string, Principal>> Authenticator::ParseTokens(
    const std::string& text, const std::string& source) {
  std::map<std::string, Principal> users;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_no, ": expected 'token user role' (3 fields), got ", parts.size(),
          "; fix the line or remove it"));
    }
    Principal p;
    p.user = parts[1];
    if (parts[2] == "admin") {
      p.role = Role::kAdmin;
    } else if (parts[2] == "user") {
      p.role = Role::kUser;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": role '", parts[2],
                                                     "' is not admin or user"));
    }
    if (parts[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_no, ": token for user '", p.user,
          "' is shorter than 16 characters; generate one with 'openssl rand -hex 24'"));
    }
    if (!users.emplace(parts[0], p).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_no, ": duplicate token (also used earlier in the file)"));
    }
  }
  return users;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Load(const std::string& tokens_file,
                                                                   const std::string& join_token) {
  std::map<std::string, Principal> users;
  if (!tokens_file.empty()) {
    std::ifstream in(tokens_file);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read --auth-tokens file ", tokens_file));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = ParseTokens(ss.str(), tokens_file);
    if (!parsed.ok()) return parsed.status();
    users = std::move(*parsed);
    if (users.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth-tokens file ", tokens_file, " holds no token"));
    }
  }
  if (!join_token.empty() && join_token.size() < 16) {
    return absl::InvalidArgumentError("--worker-join-token must be at least 16 characters");
  }
  for (const auto& [token, p] : users) {
    if (SameToken(token, join_token)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the worker join token is also the token of user '", p.user, "'; use distinct tokens"));
    }
  }
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(users), join_token));
}

const Principal* Authenticator::FindUser(const std::string& token) const {
  for (const auto& [t, p] : users_) {
    if (SameToken(t, token)) return &p;
  }
  return nullptr;
}

absl::StatusOr<Principal> Authenticator::AuthenticateUser(const grpc::ServerContextBase& ctx) const {
  std::string token = BearerToken(ctx);
  if (!join_token_.empty() && !token.empty() && SameToken(token, join_token_)) {
    return absl::PermissionDeniedError(
        "the worker join token cannot call JobService; use a user token");
  }
  if (users_.empty()) return Principal{"local", Role::kAdmin};
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "missing bearer token; pass --token or set VMAE_TOKEN");
  }
  const Principal* p = FindUser(token);
  if (p == nullptr) {
    return absl::UnauthenticatedError("unknown token; use a token from the coordinator's --auth-tokens file");
  }
  return *p;
}

absl::StatusOr<Principal> Authenticator::AuthenticateAgent(const grpc::ServerContextBase& ctx) const {
  std::string token = BearerToken(ctx);
  if (join_token_.empty()) return Principal{"agent", Role::kAgent};
  if (!token.empty() && SameToken(token, join_token_)) return Principal{"agent", Role::kAgent};
  if (!token.empty() && FindUser(token) != nullptr) {
    return absl::PermissionDeniedError("a user token cannot call WorkerService; agents use the join token");
  }
  return absl::UnauthenticatedError("missing or wrong worker join token; pass --join-token");
}

absl::Status CheckOwner(const Principal& who, const std::string& owner, const std::string& job_id) {
  if (who.IsAdmin() || who.user == owner) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("job ", job_id, " belongs to user '", owner,
                                                  "'; only its owner or an admin may change it"));
}

}  // namespace vmae::server
