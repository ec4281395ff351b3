// Child processes: spawn, signal, wait, and run-to-completion with captured output.
//
// A Process owns its child: destroying it stops the child and its process group (SIGTERM,
// then SIGKILL after a grace period) and reaps it, so a failing test or an error path never
// leaks etcd or sshd. (A parent killed with SIGKILL cannot clean up; supervisors that must
// survive that keep their children in a cgroup or a pod.) Movable, not copyable; one thread
// at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace herd {

struct ProcessOptions {
  // Extra NAME=VALUE entries added to (or replacing in) the parent's environment.
  std::vector<std::string> env;
  // Files that receive the child's output (appended); empty means /dev/null.
  std::string stdout_path;
  std::string stderr_path;
  std::string cwd;
};

class Process {
 public:
  static Result<Process> spawn(const std::vector<std::string>& argv,
                               const ProcessOptions& options = {});
  // Takes ownership of a child this process forked by other means.
  static Process adopt(pid_t pid) { return Process(pid); }

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  // True while the child has not exited (reaps it without blocking when it has).
  bool running();
  Status signal(int sig);
  // Blocks until the child exits; its exit code, or 128+signal when a signal ended it.
  int wait();
  // Like wait(), giving up after `timeout`.
  std::optional<int> waitFor(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv to completion, feeding `input` on standard input and capturing both outputs.
// Fails (DeadlineExceeded) and kills the child when it outlives `timeout`.
Result<CommandResult> runCommand(const std::vector<std::string>& argv, std::string_view input = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                 const ProcessOptions& options = {});

// User + system CPU seconds a process (all its threads) has used so far, from /proc; 0 when
// there is no such process.
double cpuSeconds(pid_t pid);

// The full path of an executable found in $PATH, /usr/sbin or /sbin.
Result<std::string> findExecutable(std::string_view name);

}  // namespace herd
