#include "worker/dist/process_group.h"

#include <torch/torch.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if VMAE_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "worker/dist/gloo_device.h"

namespace vmae::dist {
namespace {

// Counted by every rank once it reached rank 0's store; rank 0 waits for
// the count to reach the world size, so a missing rank is reported as such
// rather than as a Gloo connection error.
constexpr char kJoinedKey[] = "vmae_dist/joined";

bool LooksLikeTimeout(const std::string& message) {
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return absl::StrContains(lower, "timed out") || absl::StrContains(lower, "timeout") ||
         absl::StrContains(lower, "deadline");
}

// A failed collective as a status. c10d's messages carry a source path and
// sometimes a stack trace; keep the first line.
absl::Status CollectiveError(const std::exception& e, const char* what, const GroupOptions& o) {
  std::string message = e.what();
  message = message.substr(0, message.find('\n'));
  if (LooksLikeTimeout(message)) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, " on rank ", o.rank, " of ", o.world_size, " did not complete within ",
        o.timeout.count(), " ms (", message,
        "); a peer is stuck, lost or never called it: stop this rank and restart the group "
        "from the last checkpoint"));
  }
  return absl::UnavailableError(
      absl::StrCat(what, " on rank ", o.rank, " of ", o.world_size, " failed (", message,
                   "); usually a peer left the group: stop this rank and restart the group from "
                   "the last checkpoint"));
}

class Done : public ProcessGroup::Pending {
 public:
  explicit Done(absl::Status status) : status_(std::move(status)) {}
  absl::Status Wait() override { return status_; }

 private:
  absl::Status status_;
};

class InFlight : public ProcessGroup::Pending {
 public:
  InFlight(c10::intrusive_ptr<c10d::Work> work, std::vector<at::Tensor> tensors, const char* what,
           const GroupOptions* options)
      : work_(std::move(work)), tensors_(std::move(tensors)), what_(what), options_(options) {}

  absl::Status Wait() override {
    if (!work_) {
      return status_;
    }
    try {
      // The explicit bound also covers backends whose own time-out is per
      // transfer rather than per collective.
      work_->wait(options_->timeout);
      status_ = absl::OkStatus();
    } catch (const std::exception& e) {
      status_ = CollectiveError(e, what_, *options_);
    }
    // A timed-out Gloo work still runs until Gloo gives up; keep it (and
    // the tensors it writes) referenced by the group's queue, not by us.
    work_.reset();
    tensors_.clear();
    return status_;
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::vector<at::Tensor> tensors_;
  const char* what_;
  const GroupOptions* options_;
  absl::Status status_;
};

std::string HostPort(const GroupOptions& o, int port) {
  return absl::StrCat(o.store_host, ":", port);
}

// Every rank adds itself to kJoinedKey; then all wait until the count is the
// world size. Polling keeps the deadline ours (TCPStore::wait has no way to
// wait for a count).
absl::Status JoinRendezvous(c10d::Store& store, const GroupOptions& o, int port) {
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  int64_t joined = 0;
  try {
    joined = store.add(kJoinedKey, 1);
    while (joined < o.world_size) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "rank ", o.rank, ": only ", joined, " of ", o.world_size,
            " ranks reached the rendezvous store at ", HostPort(o, port), " within ",
            o.timeout.count(),
            " ms; check that every rank was started with this store address and can reach "
            "it, or raise the timeout"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      joined = store.add(kJoinedKey, 0);
    }
  } catch (const std::exception& e) {
    std::string message = e.what();
    return absl::UnavailableError(absl::StrCat(
        "rank ", o.rank, ": lost the rendezvous store at ", HostPort(o, port), " (",
        message.substr(0, message.find('\n')), "); rank 0 probably exited: restart the group"));
  }
  return absl::OkStatus();
}

// Rank 0 starts the store server; other ranks connect to it. c10d 1.13's
// client works in steps of a fixed 1 s retry delay and throws a "time-out"
// at once when less than that is left (even rank 0's connection to its own
// server, with a short time-out), so give each attempt one delay more than
// what is left, retry with backoff until our deadline, then set the store's
// time-out for its operations. Rank 0 does not retry failing to listen (a
// port in use stays in use).
absl::StatusOr<c10::intrusive_ptr<c10d::TCPStore>> OpenStore(const GroupOptions& o) {
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  auto backoff = std::chrono::milliseconds(50);
  while (true) {
    std::string message;
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<uint16_t>(o.store_port);
      so.isServer = o.rank == 0;
      // Report the port before anyone waits; JoinRendezvous does the waiting.
      so.waitWorkers = false;
      so.timeout = std::chrono::milliseconds(1000) +
                   std::max(std::chrono::milliseconds(0),
                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                deadline - std::chrono::steady_clock::now()));
      auto store = c10::make_intrusive<c10d::TCPStore>(o.store_host, so);
      store->setTimeout(o.timeout);
      return store;
    } catch (const std::exception& e) {
      message = e.what();
      message = message.substr(0, message.find('\n'));
    }
    const std::string where = HostPort(o, o.store_port);
    const bool connect_failed =
        LooksLikeTimeout(message) || absl::StrContains(message, "onnection refused");
    if (o.rank == 0 && !connect_failed) {
      return absl::UnavailableError(
          absl::StrCat("rank 0 cannot start the rendezvous store on ", where, " (", message,
                       "); pick a free port (0 = any) and an address of this machine"));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "rank ", o.rank, " cannot reach ", o.rank == 0 ? "its own" : "rank 0's",
          " rendezvous store at ", where, " within ", o.timeout.count(), " ms (last error: ",
          message, "); check that rank 0 is running and that this address and port reach it"));
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> MakeGloo(
    const c10::intrusive_ptr<c10d::Store>& store, const GroupOptions& o, int port) {
  absl::StatusOr<GlooDeviceChoice> choice =
      ChooseGlooDevice(o.rank, o.store_host, port, std::getenv("GLOO_SOCKET_IFNAME"));
  if (!choice.ok()) {
    return choice.status();
  }
  auto gloo_options = c10d::ProcessGroupGloo::Options::create(o.timeout);
  std::string where;
  try {
    switch (choice->kind) {
      case GlooDeviceChoice::Kind::kInterfaces:
        where = absl::StrCat("GLOO_SOCKET_IFNAME=", std::getenv("GLOO_SOCKET_IFNAME"));
        for (const std::string& name : choice->interfaces) {
          gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
        }
        break;
      case GlooDeviceChoice::Kind::kHostname:
        where = choice->address;
        gloo_options->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForHostname(choice->address));
        break;
      case GlooDeviceChoice::Kind::kDefault:
        where = "this machine's hostname";
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        break;
    }
  } catch (const std::exception& e) {
    std::string message = e.what();
    return absl::UnavailableError(
        absl::StrCat("rank ", o.rank, ": cannot open a Gloo device on ", where, " (",
                     message.substr(0, message.find('\n')),
                     "); set GLOO_SOCKET_IFNAME to the interface the ranks reach each other on"));
  }
  try {
    return c10::intrusive_ptr<c10d::ProcessGroup>(
        c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, gloo_options));
  } catch (const std::exception& e) {
    std::string message = e.what();
    message = message.substr(0, message.find('\n'));
    const std::string text = absl::StrCat(
        "rank ", o.rank, " of ", o.world_size, ": Gloo could not connect the ranks (bound to ",
        where, ", store ", HostPort(o, port), "): ", message,
        "; check that the ranks' machines reach each other on all TCP ports (set "
        "GLOO_SOCKET_IFNAME to the right interface)");
    return LooksLikeTimeout(message) ? absl::DeadlineExceededError(text)
                                     : absl::UnavailableError(text);
  }
}

#if VMAE_WITH_NCCL
// Not exercised on the CPU build machine; kept to the documented c10d calls.
absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> MakeNccl(
    const c10::intrusive_ptr<c10d::Store>& store, const GroupOptions& o) {
  // Without blocking wait, Work::wait() only orders CUDA streams and a hung
  // peer is never reported; with it, wait() throws after the timeout.
  setenv("NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
  try {
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(o.cuda_device));
    auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
    nccl_options->timeout = o.timeout;
    return c10::intrusive_ptr<c10d::ProcessGroup>(
        c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.world_size, nccl_options));
  } catch (const std::exception& e) {
    std::string message = e.what();
    return absl::UnavailableError(absl::StrCat(
        "rank ", o.rank, ": cannot create the NCCL group on cuda:", o.cuda_device, " (",
        message.substr(0, message.find('\n')), "); check the GPU and NCCL_SOCKET_IFNAME"));
  }
}
#endif

}  // namespace

bool NcclCompiledIn() { return VMAE_WITH_NCCL != 0; }

struct ProcessGroup::Impl {
  GroupOptions options;
  int port = 0;
  // Declared before the backend, so destroyed after it.
  c10::intrusive_ptr<c10d::Store> store;
  // Null for world size 1: every collective is then the identity.
  c10::intrusive_ptr<c10d::ProcessGroup> backend;

  template <typename Launch>
  std::unique_ptr<Pending> Start(const char* what, std::vector<at::Tensor> keep, Launch&& launch) {
    try {
      return std::make_unique<InFlight>(launch(), std::move(keep), what, &options);
    } catch (const std::exception& e) {
      return std::make_unique<Done>(CollectiveError(e, what, options));
    }
  }

  std::unique_ptr<Pending> StartAllReduce(at::Tensor t, c10d::ReduceOp op) {
    std::vector<at::Tensor> one{std::move(t)};
    return Start("all-reduce", one, [&] {
      c10d::AllreduceOptions opts;
      opts.reduceOp = op;
      opts.timeout = options.timeout;
      return backend->allreduce(one, opts);
    });
  }

  std::unique_ptr<Pending> StartBroadcast(at::Tensor t, int root) {
    std::vector<at::Tensor> one{std::move(t)};
    return Start("broadcast", one, [&] {
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = options.timeout;
      return backend->broadcast(one, opts);
    });
  }

  // c10d's vector arguments mean "one tensor per local device", not a list
  // of tensors: issue one collective per tensor (contiguous, as Gloo and
  // NCCL need), start them all, then wait for all.
  template <typename StartOne>
  absl::Status ForEach(std::vector<at::Tensor>& tensors, StartOne&& start_one) {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> work(tensors.size());
    std::vector<std::unique_ptr<Pending>> pending;
    for (size_t i = 0; i < tensors.size(); ++i) {
      work[i] = tensors[i].contiguous();
      pending.push_back(start_one(work[i]));
    }
    absl::Status first = absl::OkStatus();
    for (auto& p : pending) {
      absl::Status s = p->Wait();
      if (first.ok()) {
        first = s;
      }
    }
    if (!first.ok()) {
      return first;
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!work[i].is_same(tensors[i])) {
        tensors[i].copy_(work[i]);
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> AllReduceDoubles(const std::vector<double>& values,
                                                       c10d::ReduceOp op) {
    if (!backend || values.empty()) {
      return values;
    }
    at::Tensor t = torch::tensor(values, torch::kFloat64);
    if (options.cuda) {
      t = t.to(at::Device(at::kCUDA, options.cuda_device));
    }
    absl::Status s = StartAllReduce(t, op)->Wait();
    if (!s.ok()) {
      return s;
    }
    t = t.cpu().contiguous();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return impl_->options.rank; }
int ProcessGroup::world_size() const { return impl_->options.world_size; }
int ProcessGroup::store_port() const { return impl_->port; }

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Create(
    const GroupOptions& o, const std::function<void(int port)>& on_listening) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", o.rank, " is not in a world of ",
                                                   o.world_size,
                                                   " ranks; pass 0 <= rank < world size"));
  }
  if (o.store_port < 0 || o.store_port > 65535 || (o.rank != 0 && o.store_port == 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", o.rank, ": store port ", o.store_port,
                     " is not usable; ranks > 0 need rank 0's store port (1-65535)"));
  }
  if (o.timeout.count() <= 0) {
    return absl::InvalidArgumentError("the process group timeout must be positive");
  }
  if (o.cuda && !NcclCompiledIn()) {
    return absl::FailedPreconditionError(
        "a CUDA process group was asked for, but this build has no NCCL backend (CPU "
        "LibTorch); run the job on CPU or use a build against a CUDA LibTorch");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  if (o.world_size == 1) {
    // Nothing to talk to: no store, no sockets.
    return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
  }

  absl::StatusOr<c10::intrusive_ptr<c10d::TCPStore>> store = OpenStore(o);
  if (!store.ok()) {
    return store.status();
  }
  impl->port = (*store)->getPort();
  impl->store = *store;
  if (o.rank == 0 && on_listening) {
    on_listening(impl->port);
  }

  if (absl::Status s = JoinRendezvous(**store, o, impl->port); !s.ok()) {
    return s;
  }

  absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> backend;
#if VMAE_WITH_NCCL
  backend = o.cuda ? MakeNccl(impl->store, o) : MakeGloo(impl->store, o, impl->port);
#else
  backend = MakeGloo(impl->store, o, impl->port);
#endif
  if (!backend.ok()) {
    return backend.status();
  }
  impl->backend = *std::move(backend);
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

absl::Status ProcessGroup::Broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (root < 0 || root >= world_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("broadcast root ", root, " is not a rank of a world of ", world_size()));
  }
  if (!impl_->backend) {
    return absl::OkStatus();
  }
  return impl_->ForEach(tensors,
                        [&](const at::Tensor& t) { return impl_->StartBroadcast(t, root); });
}

absl::Status ProcessGroup::AllReduceSum(std::vector<at::Tensor>& tensors) {
  if (!impl_->backend) {
    return absl::OkStatus();
  }
  return impl_->ForEach(
      tensors, [&](const at::Tensor& t) { return impl_->StartAllReduce(t, c10d::ReduceOp::SUM); });
}

absl::StatusOr<std::vector<double>> ProcessGroup::AllReduceSum(const std::vector<double>& values) {
  return impl_->AllReduceDoubles(values, c10d::ReduceOp::SUM);
}

absl::StatusOr<std::vector<double>> ProcessGroup::AllReduceMax(const std::vector<double>& values) {
  return impl_->AllReduceDoubles(values, c10d::ReduceOp::MAX);
}

absl::Status ProcessGroup::Barrier() {
  if (!impl_->backend) {
    return absl::OkStatus();
  }
  return impl_
      ->Start("barrier", {},
              [&] {
                c10d::BarrierOptions opts;
                opts.timeout = impl_->options.timeout;
                return impl_->backend->barrier(opts);
              })
      ->Wait();
}

std::unique_ptr<ProcessGroup::Pending> ProcessGroup::StartAllReduceSum(at::Tensor flat) {
  if (!impl_->backend) {
    return std::make_unique<Done>(absl::OkStatus());
  }
  if (!flat.is_contiguous()) {
    return std::make_unique<Done>(absl::InvalidArgumentError(
        "StartAllReduceSum needs a contiguous tensor (the reducer's flat buckets are)"));
  }
  return impl_->StartAllReduce(std::move(flat), c10d::ReduceOp::SUM);
}

}  // namespace vmae::dist
