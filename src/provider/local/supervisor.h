// The local provider's process supervisor: keeps a set of named processes (one per component
// replica: "etcd-0", "kube-apiserver-1", ...) running, ready and logged, and survives its own
// death.
//
// - Start and restart: a process that exits is started again after an exponential backoff
//   (initial, doubling, capped), reset once a run has lasted `stable_after`.
// - Readiness: the same HTTP(S) probe its pod would have (certificates not verified, as the
//   kubelet does); `failure_threshold` failures in a row make it unready, one success ready.
//   A liveness probe that fails `failure_threshold` times in a row restarts the process.
// - Logs: stdout and stderr go straight to one file per process (O_APPEND, so the process
//   keeps writing while herd is gone); past `max_bytes` the supervisor rotates it with copy
//   and truncate, keeping `keep` old files (name.log.1 newest).
// - Adoption: each process's pid and kernel start time are recorded in its pid file. When
//   herd starts again, add() adopts the recorded process if that pid is alive with the same
//   start time and the same command line (a reused pid is never mistaken for it), else any
//   process running exactly the spec's command line (one started just before herd was killed,
//   before its pid file was written); only when there is none does it start one. So herd never
//   runs two etcd members on one data directory and leaves no orphan.
// - Stop: SIGTERM to the process group, then SIGKILL after the grace period.
//
// One monitor thread; every public method is thread-safe. The destructor stops every
// process (herd's clean exit); a herd killed outright leaves them running for adoption.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::provider::local {

struct HttpProbe {
  bool https = true;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
  std::chrono::milliseconds period{std::chrono::seconds(1)};
  std::chrono::milliseconds timeout{std::chrono::seconds(1)};
  int failure_threshold = 3;
};

struct ProcessSpec {
  std::string name;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=VALUE, added to herd's environment
  std::string log_path;
  std::string pid_path;
  std::string cwd;
  std::optional<HttpProbe> readiness;
  std::optional<HttpProbe> liveness;
  // 10 MiB per file, 3 kept: a day of a chatty apiserver at -v=2 without filling a laptop.
  uint64_t log_max_bytes = 10 * 1024 * 1024;
  int log_keep = 3;
};

struct ProcessStatus {
  std::string name;
  pid_t pid = 0;  // 0 while waiting to be restarted
  bool ready = false;
  bool adopted = false;  // found running when herd started, not started by this supervisor
  int restarts = 0;
  std::string last_exit;  // "exit code 1", "signal 9", "gone" (an adopted process vanished)
};

struct SupervisorOptions {
  std::chrono::milliseconds backoff_initial{std::chrono::seconds(1)};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(60)};
  std::chrono::milliseconds stable_after{std::chrono::seconds(60)};
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  std::chrono::milliseconds poll{std::chrono::milliseconds(100)};
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options = {});
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Supervises `spec`: adopts its running process (see above) or starts it. A name already
  // supervised is an error; change a process by remove() then add().
  Status add(ProcessSpec spec);
  // The environment the process gets when it is next started; the running one keeps its own.
  Status setEnv(const std::string& name, std::vector<std::string> env);
  // Stops the process (SIGTERM, grace, SIGKILL), removes its pid file and forgets it.
  Status remove(const std::string& name);
  std::optional<ProcessStatus> status(const std::string& name) const;
  std::vector<ProcessStatus> statuses() const;
  // Stops every process, in the reverse order they were added.
  void stopAll();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Stops the process that `pid_path` records (SIGTERM to its group, SIGKILL after `grace`) if
// that pid is still the recorded process (same start time), and removes the file. For a
// process no supervisor holds: one a killed herd left, whose spec has changed since.
Status stopRecorded(const std::string& pid_path, std::chrono::milliseconds grace);
// Whether the process `pid_path` records is still running (the same pid, the same start time).
bool recordedProcessRunning(const std::string& pid_path);

// The kernel's start time of a process (clock ticks since boot), from /proc/<pid>/stat;
// nullopt when there is no such process.
std::optional<uint64_t> processStartTime(pid_t pid);
// The command line of a process, from /proc/<pid>/cmdline; empty when there is none.
std::vector<std::string> processCommandLine(pid_t pid);

}  // namespace herd::provider::local
