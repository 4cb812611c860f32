// Graceful shutdown of the long-running processes (coordinator, agent):
// SIGTERM and SIGINT are blocked in every thread from the start of main(),
// so none of gRPC's threads takes them, and the main thread waits for them
// with sigwait. SIGPIPE is ignored (a peer closing a socket is an error
// return, not a death).
#ifndef VMAE_COMMON_SHUTDOWN_SIGNALS_H_
#define VMAE_COMMON_SHUTDOWN_SIGNALS_H_

#include <pthread.h>
#include <signal.h>

namespace vmae {

inline sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// First thing in main(), before any thread starts.
inline void BlockShutdownSignals() {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Blocks until SIGTERM or SIGINT; returns which.
inline int WaitForShutdownSignal() {
  const sigset_t set = ShutdownSignals();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace vmae

#endif  // VMAE_COMMON_SHUTDOWN_SIGNALS_H_
