#include "worker/dist/gloo_device.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmae::dist {
namespace {

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*";
}

}  // namespace

absl::StatusOr<std::string> LocalAddressToward(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve the store host '", host,
                                               "': ", gai_strerror(rc),
                                               "; pass an address or a resolvable name"));
  }
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  std::string last_error = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    absl::Cleanup close_fd = [fd] { close(fd); };
    // connect() on a UDP socket only picks the route and source address.
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw =
        local.ss_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
    if (inet_ntop(local.ss_family, raw, text, sizeof(text)) == nullptr) {
      last_error = std::strerror(errno);
      continue;
    }
    return std::string(text);
  }
  return absl::UnavailableError(absl::StrCat("no route from this machine to the store host ", host,
                                             ":", port, " (", last_error,
                                             "); check the address and the network"));
}

absl::StatusOr<GlooDeviceChoice> ChooseGlooDevice(int rank, const std::string& store_host,
                                                  int store_port, const char* gloo_socket_ifname) {
  GlooDeviceChoice choice;
  if (gloo_socket_ifname != nullptr && *gloo_socket_ifname != '\0') {
    choice.kind = GlooDeviceChoice::Kind::kInterfaces;
    choice.interfaces = absl::StrSplit(gloo_socket_ifname, ',', absl::SkipEmpty());
    return choice;
  }
  if (IsWildcard(store_host)) {
    choice.kind = GlooDeviceChoice::Kind::kDefault;
    return choice;
  }
  choice.kind = GlooDeviceChoice::Kind::kHostname;
  if (rank == 0) {
    choice.address = store_host;
    return choice;
  }
  absl::StatusOr<std::string> local = LocalAddressToward(store_host, store_port);
  if (!local.ok()) {
    return local.status();
  }
  choice.address = *local;
  return choice;
}

}  // namespace vmae::dist
