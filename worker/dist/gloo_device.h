// Which network interface Gloo's connections use. Separate from the process
// group so the choice (and the socket code it needs) can be read and tested
// on its own.
#ifndef VMAE_WORKER_DIST_GLOO_DEVICE_H_
#define VMAE_WORKER_DIST_GLOO_DEVICE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmae::dist {

// How to create the Gloo transport devices of one rank.
struct GlooDeviceChoice {
  enum class Kind {
    kInterfaces,  // createDeviceForInterface for each name
    kHostname,    // createDeviceForHostname(address)
    kDefault,     // createDefaultDevice: the machine's hostname, else loopback
  };
  Kind kind = Kind::kDefault;
  std::vector<std::string> interfaces;  // kInterfaces
  std::string address;                  // kHostname
};

// GLOO_SOCKET_IFNAME (comma-separated, as PyTorch reads it) wins. Otherwise
// rank 0 binds to the address its store listens on (the default device when
// that is a wildcard such as 0.0.0.0), and every other rank to its local
// address on the route to the store host, which is the interface its peers
// can reach it on. `gloo_socket_ifname` is the variable's value (nullptr when
// unset). Fails (Unavailable) when the store host does not resolve.
absl::StatusOr<GlooDeviceChoice> ChooseGlooDevice(int rank, const std::string& store_host,
                                                  int store_port, const char* gloo_socket_ifname);

// The local address the kernel would use to reach host:port (a connected UDP
// socket sends nothing). Unavailable when host does not resolve or has no
// route.
absl::StatusOr<std::string> LocalAddressToward(const std::string& host, int port);

}  // namespace vmae::dist

#endif  // VMAE_WORKER_DIST_GLOO_DEVICE_H_
