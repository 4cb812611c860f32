// A scriptable in-process JobService for the client tests: serves one job
// ("j-1"), drops WatchJob/StreamLogs streams on demand, serves checkpoint
// files (optionally corrupted), and records what the client sent.
#ifndef VMAE_TESTS_CLIENT_FAKE_JOB_SERVICE_H_
#define VMAE_TESTS_CLIENT_FAKE_JOB_SERVICE_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/sha256.h"
#include "grpcpp/grpcpp.h"
#include "vmae/v1/job_service.grpc.pb.h"

namespace vmae::client::testing {

struct FakeFile {
  std::string name;
  std::string content;
  // Flip a byte of this chunk (0-based) on the wire; -1: none.
  int corrupt_chunk = -1;
};

// Configure before the first call; recorded fields are read under mu.
class FakeJobService final : public v1::JobService::Service {
 public:
  FakeJobService() {
    job.set_id("j-1");
    job.set_name("tiny");
    job.set_owner("alice");
    job.set_state(v1::JOB_STATE_RUNNING);
    job.set_total_steps(3);
    job.mutable_spec()->set_kind(v1::JOB_KIND_PRETRAIN);
  }

  // ---- configuration ----
  std::string required_token;  // empty: any caller.
  v1::Job job;
  std::vector<v1::JobEvent> events;  // WatchJob history, seq 1..n.
  int watch_drop_after = -1;         // first WatchJob stream: drop after this many events.
  bool drop_with_ok = false;         // drop by ending the stream OK, not UNAVAILABLE.
  bool resend_last_seen = false;     // on reconnect, send event after_seq again.
  int submit_failures = 0;           // first SubmitJob calls answer UNAVAILABLE.
  std::vector<v1::LogLine> log_lines;
  int logs_drop_after = -1;
  std::vector<FakeFile> files;
  size_t chunk_size = 1024;
  std::vector<v1::Job> list_jobs;
  int list_page_size = 2;

  // ---- what the client sent ----
  absl::Mutex mu;
  std::vector<int64_t> watch_after_seqs ABSL_GUARDED_BY(mu);
  std::vector<int64_t> logs_after_seqs ABSL_GUARDED_BY(mu);
  std::vector<std::string> submit_keys ABSL_GUARDED_BY(mu);
  std::vector<v1::SubmitJobRequest> submit_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::ListJobsRequest> list_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::JobRef> job_refs ABSL_GUARDED_BY(mu);
  int calls ABSL_GUARDED_BY(mu) = 0;

  static v1::JobEvent StateEvent(int64_t seq, v1::JobState from, v1::JobState to,
                                 const std::string& reason = "") {
    v1::JobEvent e;
    e.set_seq(seq);
    e.set_job_id("j-1");
    e.mutable_time()->set_seconds(1'700'000'000 + seq);
    e.mutable_state()->set_from(from);
    e.mutable_state()->set_to(to);
    e.mutable_state()->set_reason(reason);
    e.mutable_state()->set_attempt(1);
    return e;
  }
  static v1::JobEvent LossEvent(int64_t seq, int64_t step, double loss) {
    v1::JobEvent e;
    e.set_seq(seq);
    e.set_job_id("j-1");
    e.mutable_time()->set_seconds(1'700'000'000 + seq);
    e.mutable_metric()->set_name("loss");
    e.mutable_metric()->set_step(step);
    e.mutable_metric()->set_value(loss);
    return e;
  }
  static v1::JobEvent CheckpointEvent(int64_t seq, int64_t step) {
    v1::JobEvent e;
    e.set_seq(seq);
    e.set_job_id("j-1");
    e.mutable_checkpoint()->set_id(absl::StrCat("j-1-s", step));
    e.mutable_checkpoint()->set_step(step);
    e.mutable_checkpoint()->set_size_bytes(2048);
    return e;
  }

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override {
    if (auto s = Enter(context); !s.ok()) {
      return s;
    }
    absl::MutexLock lock(&mu);
    submit_keys.push_back(request->idempotency_key());
    submit_requests.push_back(*request);
    if (static_cast<int>(submit_keys.size()) <= submit_failures) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator restarting");
    }
    *response = job;
    response->set_state(v1::JOB_STATE_QUEUED);
    return grpc::Status::OK;
  }

  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    *response->mutable_job() = job;
    if (request->include_history()) {
      *response->add_history() =
          StateEvent(1, v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, "gang of 1 placed");
    }
    return grpc::Status::OK;
  }

  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override {
    if (auto s = Enter(context); !s.ok()) {
      return s;
    }
    {
      absl::MutexLock lock(&mu);
      list_requests.push_back(*request);
    }
    size_t start = request->page_token().empty() ? 0 : std::stoul(request->page_token());
    size_t end = std::min(list_jobs.size(), start + static_cast<size_t>(list_page_size));
    for (size_t i = start; i < end; ++i) {
      *response->add_jobs() = list_jobs[i];
    }
    if (end < list_jobs.size()) {
      response->set_next_page_token(std::to_string(end));
    }
    return grpc::Status::OK;
  }

  grpc::Status CancelJob(grpc::ServerContext* context, const v1::JobRef* request,
                         v1::Job* response) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    {
      absl::MutexLock lock(&mu);
      job_refs.push_back(*request);
    }
    *response = job;
    response->set_state(v1::JOB_STATE_CANCELLING);
    return grpc::Status::OK;
  }

  grpc::Status PauseJob(grpc::ServerContext* context, const v1::JobRef* request,
                        v1::Job* response) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "job j-1 is QUEUED; only a RUNNING job can be paused");
  }

  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    size_t call = 0;
    {
      absl::MutexLock lock(&mu);
      watch_after_seqs.push_back(request->after_seq());
      call = watch_after_seqs.size();
    }
    v1::JobEvent snapshot;
    snapshot.set_seq(99);  // a snapshot's seq must not move the client's resume point.
    snapshot.set_job_id(job.id());
    *snapshot.mutable_snapshot() = job;
    writer->Write(snapshot);
    int sent = 0;
    for (const v1::JobEvent& e : events) {
      bool resend = resend_last_seen && call > 1 && e.seq() == request->after_seq();
      if (e.seq() <= request->after_seq() && !resend) {
        continue;
      }
      if (call == 1 && sent == watch_drop_after) {
        return drop_with_ok ? grpc::Status::OK
                            : grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset");
      }
      if (!writer->Write(e)) {
        return grpc::Status::OK;
      }
      ++sent;
    }
    return grpc::Status::OK;
  }

  grpc::Status StreamLogs(grpc::ServerContext* context, const v1::StreamLogsRequest* request,
                          grpc::ServerWriter<v1::LogLine>* writer) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    size_t call = 0;
    {
      absl::MutexLock lock(&mu);
      logs_after_seqs.push_back(request->after_seq());
      call = logs_after_seqs.size();
    }
    int sent = 0;
    for (const v1::LogLine& line : log_lines) {
      if (line.seq() <= request->after_seq()) {
        continue;
      }
      if (request->rank() >= 0 && line.rank() != request->rank()) {
        continue;
      }
      if (call == 1 && sent == logs_drop_after) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset");
      }
      writer->Write(line);
      ++sent;
    }
    return grpc::Status::OK;
  }

  grpc::Status DownloadCheckpoint(grpc::ServerContext* context,
                                  const v1::DownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::DownloadChunk>* writer) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    if (!request->checkpoint().empty() && request->checkpoint() != "latest" &&
        request->checkpoint() != "j-1-s3") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("checkpoint ", request->checkpoint(), " not found"));
    }
    for (const FakeFile& f : files) {
      v1::DownloadChunk header;
      header.mutable_file()->set_name(f.name);
      header.mutable_file()->set_size(static_cast<int64_t>(f.content.size()));
      header.mutable_file()->set_sha256(Sha256Hex(f.content));
      writer->Write(header);
      int index = 0;
      for (size_t off = 0; off < f.content.size(); off += chunk_size, ++index) {
        v1::DownloadChunk chunk;
        std::string data = f.content.substr(off, chunk_size);
        if (index == f.corrupt_chunk) {
          data[0] = static_cast<char>(data[0] ^ 0x5a);
        }
        chunk.set_data(data);
        writer->Write(chunk);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ListCheckpoints(grpc::ServerContext* context, const v1::JobRef* request,
                               v1::ListCheckpointsResponse* response) override {
    if (auto s = Enter(context, request->job_id()); !s.ok()) {
      return s;
    }
    v1::CheckpointInfo* c = response->add_checkpoints();
    c->set_id("j-1-s3");
    c->set_step(3);
    c->set_size_bytes(3 * 1024 * 1024);
    c->set_best(true);
    c->mutable_create_time()->set_seconds(1'700'000'000);
    v1::CheckpointFile* f = c->add_files();
    f->set_name("model.safetensors");
    f->set_sha256("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    return grpc::Status::OK;
  }

  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse* response) override {
    if (auto s = Enter(context); !s.ok()) {
      return s;
    }
    v1::WorkerInfo* w = response->add_workers();
    w->set_agent_id("agent-a");
    w->set_node("node-1");
    w->set_state(v1::WORKER_STATE_BUSY);
    w->set_free_slots(1);
    (*w->mutable_labels())["gpu"] = "h100";
    (*w->mutable_labels())["zone"] = "b";
    for (int i = 0; i < 2; ++i) {
      v1::Device* d = w->add_devices();
      d->set_kind("cuda");
      d->set_index(i);
      d->set_name("NVIDIA H100 80GB HBM3");
    }
    w->add_job_ids("j-1");
    return grpc::Status::OK;
  }

 private:
  grpc::Status Enter(grpc::ServerContext* context, const std::string& job_id = "j-1") {
    {
      absl::MutexLock lock(&mu);
      ++calls;
    }
    if (!required_token.empty()) {
      auto it = context->client_metadata().find("authorization");
      if (it == context->client_metadata().end() ||
          std::string(it->second.data(), it->second.size()) !=
              absl::StrCat("Bearer ", required_token)) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
      }
    }
    if (job_id != job.id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("job ", job_id, " not found"));
    }
    return grpc::Status::OK;
  }
};

// Serves a FakeJobService on 127.0.0.1 at a port the kernel picks.
class FakeCoordinator {
 public:
  FakeCoordinator() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeCoordinator() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  FakeJobService& service() { return service_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  bool started() const { return server_ != nullptr && port_ > 0; }

 private:
  FakeJobService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace vmae::client::testing

#endif  // VMAE_TESTS_CLIENT_FAKE_JOB_SERVICE_H_
